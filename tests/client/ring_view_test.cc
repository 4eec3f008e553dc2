// The client's RingView must place every key exactly where the server's
// Ring does: a client that computed another preference list would send
// requests to non-replicas (correct, but every one forwarded).
#include "client/ring_view.h"

#include <random>
#include <set>

#include "common/hash.h"
#include "gtest/gtest.h"
#include "server/ring/ring.h"

namespace rumor::client {
namespace {

struct RandomRing {
  RingLayout layout;
  std::vector<server::RingMember> members;
};

// 2..7 nodes with 1..64 tokens each (some with none, some listed twice),
// N in 1..5. With `narrow`, tokens (and ids) come from a small range so
// that equal tokens of different nodes, and of one node, are common.
RandomRing MakeRandomRing(std::mt19937_64& rng, bool narrow) {
  RandomRing out;
  int nodes = std::uniform_int_distribution<int>(2, 7)(rng);
  out.layout.version = rng();
  out.layout.replicas = std::uniform_int_distribution<uint32_t>(1, 5)(rng);
  std::set<uint64_t> ids;
  while (static_cast<int>(ids.size()) < nodes) {
    ids.insert(narrow ? std::uniform_int_distribution<uint64_t>(1, 20)(rng)
                      : rng() | 1);
  }
  for (uint64_t id : ids) {
    RingNode n;
    n.id = id;
    n.address = "10.0.0." + std::to_string(id % 250) + ":7379";
    n.status = "alive";
    int tokens = std::uniform_int_distribution<int>(1, 64)(rng);
    if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) tokens = 0;
    for (int i = 0; i < tokens; ++i) {
      n.tokens.push_back(narrow ? std::uniform_int_distribution<uint64_t>(0, 200)(rng)
                                : rng());
    }
    out.layout.nodes.push_back(n);
    out.members.push_back({n.id, n.tokens});
  }
  // Sometimes one node appears twice, with more tokens.
  if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) {
    RingNode again = out.layout.nodes[0];
    again.tokens = {rng(), narrow ? 7u : rng()};
    out.layout.nodes.push_back(again);
    out.members.push_back({again.id, again.tokens});
  }
  return out;
}

TEST(RingViewTest, PreferenceListsEqualTheServerRingsOnRandomRings) {
  std::mt19937_64 rng(20240611);
  int compared = 0;
  for (int ring_no = 0; ring_no < 400; ++ring_no) {
    bool narrow = ring_no % 2 == 1;
    RandomRing r = MakeRandomRing(rng, narrow);
    RingView view(r.layout);
    server::Ring ring(r.members);
    ASSERT_EQ(view.num_nodes(), ring.num_nodes()) << "ring " << ring_no;
    ASSERT_EQ(view.empty(), ring.empty());
    for (int k = 0; k < 3000; ++k) {
      uint64_t position;
      std::string key;
      if (k % 3 == 0) {
        key = "key" + std::to_string(rng());
        position = RingPosition(key);
      } else if (narrow || k % 3 == 1) {
        // Exactly on, just before and just after tokens, and the ends.
        const auto& tokens = ring.tokens();
        uint64_t t = tokens.empty() ? 0 : tokens[rng() % tokens.size()].first;
        position = t + static_cast<uint64_t>(static_cast<int>(rng() % 3) - 1);
        if (k % 97 == 0) position = 0;
        if (k % 89 == 0) position = ~uint64_t{0};
      } else {
        position = rng();
      }
      size_t n = r.layout.replicas;
      std::vector<uint64_t> expected = ring.PreferenceList(position, n);
      ASSERT_EQ(view.PreferenceList(position, n), expected)
          << "ring " << ring_no << " position " << position << " n " << n;
      if (!key.empty()) {
        ASSERT_EQ(view.PreferenceListOf(key), expected);
      }
      // The walk visits every node once, preference list first.
      std::vector<uint64_t> walk;
      view.Walk(position, [&](const RingNode& node, size_t rank) {
        EXPECT_EQ(rank, walk.size());
        walk.push_back(node.id);
        return true;
      });
      ASSERT_EQ(walk, ring.Walk(position));
      ++compared;
    }
  }
  EXPECT_EQ(compared, 400 * 3000);
}

TEST(RingViewTest, EmptyAndTokenlessRingsRouteNothing) {
  RingView empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_TRUE(empty.PreferenceList(42, 3).empty());
  RingLayout layout;
  layout.replicas = 3;
  layout.nodes.push_back({1, "a:1", "alive", {}});
  RingView tokenless(layout);
  EXPECT_TRUE(tokenless.empty());
  EXPECT_EQ(tokenless.num_nodes(), 0u);
  EXPECT_TRUE(tokenless.PreferenceListOf("k").empty());
  EXPECT_EQ(tokenless.Find(1), nullptr);
}

TEST(RingViewTest, TiesGoToTheLowerNodeIdAndTheRingWraps) {
  RingLayout layout;
  layout.replicas = 2;
  layout.nodes.push_back({9, "nine:1", "alive", {100, 300}});
  layout.nodes.push_back({4, "four:1", "dead", {100}});
  layout.nodes.push_back({7, "seven:1", "suspect", {200}});
  RingView view(layout);
  EXPECT_EQ(view.PreferenceList(100, 2), (std::vector<uint64_t>{4, 9}));
  EXPECT_EQ(view.PreferenceList(50, 3), (std::vector<uint64_t>{4, 9, 7}));
  EXPECT_EQ(view.PreferenceList(101, 2), (std::vector<uint64_t>{7, 9}));
  EXPECT_EQ(view.PreferenceList(301, 2), (std::vector<uint64_t>{4, 9}));
  EXPECT_EQ(view.PreferenceList(~uint64_t{0}, 1), (std::vector<uint64_t>{4}));
  ASSERT_NE(view.Find(4), nullptr);
  EXPECT_EQ(view.Find(4)->address, "four:1");
  EXPECT_EQ(view.Find(4)->status, "dead");
  EXPECT_EQ(view.Find(5), nullptr);
}

}  // namespace
}  // namespace rumor::client
