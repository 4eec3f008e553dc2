#include "server/ring/ring.h"
#include "server/ring/ring_report.h"
#include "server/ring/token_claim.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "common/hash.h"
#include "gtest/gtest.h"

namespace rumor::server {
namespace {

TEST(RingTest, EmptyRingHasNoOwners) {
  Ring ring;
  EXPECT_TRUE(ring.PreferenceList(42, 3).empty());
  EXPECT_TRUE(ring.Ownership().empty());
}

TEST(RingTest, PreferenceListIsFirstDistinctNodesClockwise) {
  Ring ring({{1, {100, 400}}, {2, {200, 500}}, {3, {300}}});
  EXPECT_EQ(ring.PreferenceList(150, 2), (std::vector<NodeId>{2, 3}));
  EXPECT_EQ(ring.PreferenceList(200, 3), (std::vector<NodeId>{2, 3, 1}));
  // 450 -> token 500 (node 2), then wraps to 100 (node 1), then 300 (3).
  EXPECT_EQ(ring.PreferenceList(450, 3), (std::vector<NodeId>{2, 1, 3}));
  EXPECT_EQ(ring.PreferenceList(600, 5), (std::vector<NodeId>{1, 2, 3}))
      << "past the last token wraps; never more than the node count";
  EXPECT_EQ(ring.Walk(150), (std::vector<NodeId>{2, 3, 1}));
}

TEST(RingTest, SameMembersInAnyOrderGiveTheSameRing) {
  std::vector<RingMember> members;
  for (NodeId id = 1; id <= 5; ++id) members.push_back({id, RandomTokens(id, 64)});
  Ring a(members);
  std::mt19937_64 rng(3);
  std::shuffle(members.begin(), members.end(), rng);
  for (auto& m : members) std::shuffle(m.tokens.begin(), m.tokens.end(), rng);
  Ring b(members);
  EXPECT_EQ(a.tokens(), b.tokens());
  for (uint64_t k = 0; k < 1000; ++k) {
    uint64_t pos = RingPosition(std::to_string(k));
    ASSERT_EQ(a.PreferenceList(pos, 3), b.PreferenceList(pos, 3));
  }
}

TEST(RingTest, TokenTiesAreBrokenByNodeId) {
  Ring a({{7, {100}}, {3, {100}}, {5, {200}}});
  EXPECT_EQ(a.PreferenceList(50, 1), std::vector<NodeId>{3});
}

TEST(RingTest, OwnershipSumsToOneAndReplicasToN) {
  std::vector<RingMember> members;
  for (NodeId id = 1; id <= 5; ++id) members.push_back({id, RandomTokens(id, 64)});
  Ring ring(members);
  double total = 0;
  for (auto [id, s] : ring.Ownership()) total += s;
  EXPECT_NEAR(total, 1.0, 1e-9);
  double replicas = 0;
  for (auto [id, s] : ring.ReplicaOwnership(3)) replicas += s;
  EXPECT_NEAR(replicas, 3.0, 1e-9);
}

// Sequential joins with claimed tokens stay within 1.5x (max/min share) at
// 5 nodes x 64 tokens for every one of many random id sets, both in
// primary ownership and in what each node stores with 3 replicas; random
// tokens do not (which is why the claim exists).
// `kvcli ring` shows this report: every node's shares, the imbalance and,
// for a key, its preference list then the fallbacks in walk order.
TEST(RingTest, ReportListsSharesAndTheKeysPreferenceList) {
  Ring ring({{1, {100, 400}}, {2, {200, 500}}, {3, {300}}});
  RingReport plain = ReportRing(ring, 2);
  EXPECT_EQ(plain.replicas, 2u);
  ASSERT_EQ(plain.owners.size(), 3u);
  double primary = 0, replica = 0;
  for (size_t i = 0; i < plain.owners.size(); ++i) {
    EXPECT_EQ(plain.owners[i].id, static_cast<NodeId>(i + 1)) << "by id";
    EXPECT_GT(plain.owners[i].share, 0);
    EXPECT_GE(plain.owners[i].replica_share, plain.owners[i].share);
    primary += plain.owners[i].share;
    replica += plain.owners[i].replica_share;
  }
  EXPECT_NEAR(primary, 1.0, 1e-9);
  EXPECT_NEAR(replica, 2.0, 1e-9);
  EXPECT_DOUBLE_EQ(plain.imbalance, OwnershipImbalance(ring));
  EXPECT_FALSE(plain.position.has_value());
  EXPECT_TRUE(plain.preference_list.empty());
  EXPECT_TRUE(plain.fallbacks.empty());

  const std::string key = "user:42";
  RingReport keyed = ReportRing(ring, 2, key);
  ASSERT_TRUE(keyed.position.has_value());
  EXPECT_EQ(*keyed.position, RingPosition(key));
  std::vector<NodeId> walk = ring.Walk(*keyed.position);
  ASSERT_EQ(walk.size(), 3u);
  ASSERT_EQ(keyed.preference_list.size(), 2u);
  ASSERT_EQ(keyed.fallbacks.size(), 1u);
  EXPECT_EQ(keyed.preference_list[0].id, walk[0]);
  EXPECT_EQ(keyed.preference_list[1].id, walk[1]);
  EXPECT_EQ(keyed.fallbacks[0].id, walk[2]);
  EXPECT_EQ(keyed.preference_list[0].share,
            plain.owners[walk[0] - 1].share) << "shares filled in";

  RingReport wide = ReportRing(ring, 5, key);
  EXPECT_EQ(wide.preference_list.size(), 3u) << "never more than the nodes";
  EXPECT_TRUE(wide.fallbacks.empty());
}

TEST(RingTest, ClaimedTokensAreBalanced) {
  std::mt19937_64 rng(11);
  double worst_claimed = 1, worst_random = 1;
  double worst_claimed_replicas = 1, worst_random_replicas = 1;
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<RingMember> claimed, random;
    for (int i = 0; i < 5; ++i) {
      NodeId id = rng() | 1;
      claimed.push_back({id, ClaimTokens(Ring(claimed), id, 64)});
      ASSERT_EQ(claimed.back().tokens.size(), 64u);
      random.push_back({id, RandomTokens(id, 64)});
    }
    worst_claimed = std::max(worst_claimed, OwnershipImbalance(Ring(claimed)));
    worst_random = std::max(worst_random, OwnershipImbalance(Ring(random)));
    worst_claimed_replicas =
        std::max(worst_claimed_replicas, ReplicaImbalance(Ring(claimed), 3));
    worst_random_replicas =
        std::max(worst_random_replicas, ReplicaImbalance(Ring(random), 3));
  }
  EXPECT_LE(worst_claimed, 1.5);
  EXPECT_GT(worst_random, 1.5) << "random tokens were expected to miss";
  // Measured: claimed about 1.05 at worst, random about 1.3.
  EXPECT_LE(worst_claimed_replicas, 1.15);
  EXPECT_GT(worst_random_replicas, 1.15) << "random tokens were expected to miss";
}

TEST(RingTest, ClaimedTokensStayBalancedAsTheClusterGrows) {
  std::vector<RingMember> members;
  for (NodeId id = 1; id <= 12; ++id) {
    members.push_back({Mix64(id), ClaimTokens(Ring(members), Mix64(id), 64)});
    if (members.size() >= 2) {
      EXPECT_LE(OwnershipImbalance(Ring(members)), 1.5)
          << members.size() << " nodes";
    }
    if (members.size() >= 4) {
      EXPECT_LE(ReplicaImbalance(Ring(members), 3), 1.15)
          << members.size() << " nodes";
    }
  }
}

// The claim balances storage for the replica count it is given.
TEST(RingTest, ClaimBalancesForTheGivenReplicaCount) {
  std::vector<RingMember> members;
  for (NodeId id = 1; id <= 6; ++id) {
    members.push_back(
        {Mix64(id), ClaimTokens(Ring(members), Mix64(id), 64, /*replicas=*/2)});
  }
  EXPECT_LE(OwnershipImbalance(Ring(members)), 1.5);
  EXPECT_LE(ReplicaImbalance(Ring(members), 2), 1.15);
}

// Two nodes holding the same position, and tokens of the claimer already
// in the ring, do not confuse the claim: it returns `count` new tokens
// that collide with nobody's.
TEST(RingTest, ClaimToleratesSharedPositionsAndItsOwnTokens) {
  std::vector<RingMember> members = {{1, {10, 1ull << 63}}, {2, {10, 1ull << 62}},
                                     {3, {7, 99}}};
  auto tokens = ClaimTokens(Ring(members), 3, 64);
  ASSERT_EQ(tokens.size(), 64u);
  std::set<uint64_t> all = {10, 1ull << 63, 1ull << 62};
  for (uint64_t t : tokens) EXPECT_TRUE(all.insert(t).second) << "collides: " << t;
}

// Two nodes that claim from the same ring at once (each before hearing of
// the other's claim) get different tokens and both own a share.
TEST(RingTest, ConcurrentClaimsFromTheSameRingDoNotCollide) {
  std::vector<RingMember> members;
  for (NodeId id = 1; id <= 3; ++id) {
    members.push_back({Mix64(id), ClaimTokens(Ring(members), Mix64(id), 64)});
  }
  Ring before(members);
  NodeId a = Mix64(4), b = Mix64(5);
  members.push_back({a, ClaimTokens(before, a, 64)});
  members.push_back({b, ClaimTokens(before, b, 64)});
  std::set<uint64_t> all;
  for (const RingMember& m : members) {
    for (uint64_t t : m.tokens) EXPECT_TRUE(all.insert(t).second) << "shared: " << t;
  }
  auto own = Ring(members).Ownership();
  ASSERT_EQ(own.size(), 5u);
  for (auto [id, s] : own) EXPECT_GT(s, 0.1) << id;
  EXPECT_LE(OwnershipImbalance(Ring(members)), 2.0);
}

// Hundreds of tokens per node are taken at random by every node, the first
// included (random joiners next to evenly spaced tokens would be
// lopsided), and come out balanced by numbers alone.
TEST(RingTest, ManyTokensPerNodeAreRandomForEveryNode) {
  std::vector<RingMember> members;
  for (NodeId id = 1; id <= 5; ++id) {
    auto tokens = ClaimTokens(Ring(members), Mix64(id), 512);
    EXPECT_EQ(tokens, RandomTokens(Mix64(id), 512)) << id;
    members.push_back({Mix64(id), tokens});
  }
  EXPECT_LE(OwnershipImbalance(Ring(members)), 1.3);
  EXPECT_LE(ReplicaImbalance(Ring(members), 3), 1.2);
}

TEST(RingTest, ClaimIsDeterministicAndUnique) {
  std::vector<RingMember> members = {{1, RandomTokens(1, 64)}};
  auto a = ClaimTokens(Ring(members), 2, 64);
  auto b = ClaimTokens(Ring(members), 2, 64);
  EXPECT_EQ(a, b);
  std::set<uint64_t> all(members[0].tokens.begin(), members[0].tokens.end());
  for (uint64_t t : a) EXPECT_TRUE(all.insert(t).second) << "duplicate token";
}

}  // namespace
}  // namespace rumor::server
