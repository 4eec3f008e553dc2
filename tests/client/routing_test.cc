// rumor::client::Client's routing against three in-process fake nodes
// (tests/client/fake_node.h): which node each request reaches, when the
// ring is fetched again, what happens when a node is down or fails, and
// that Routing::kAny sends everything to the seed.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "common/hash.h"
#include "gtest/gtest.h"
#include "server/ring/ring.h"
#include "tests/client/fake_node.h"
#include "tests/support/wait.h"

namespace rumor::testing {
namespace {

using namespace std::chrono_literals;
using client::Client;
using client::ClientOptions;

constexpr int kKeys = 200;

std::string Key(int i) { return absl::StrCat("key-", i); }

// The preference list of `key` under `layout`, as addresses, computed by
// the server's own Ring (not the client's RingView).
std::vector<std::string> PreferenceAddresses(
    const v1::RingLayoutResponse& layout, const std::string& key) {
  std::vector<server::RingMember> members;
  std::map<uint64_t, std::string> address;
  for (const auto& n : layout.nodes()) {
    members.push_back({n.id(), {n.tokens().begin(), n.tokens().end()}});
    address[n.id()] = n.address();
  }
  server::Ring ring(members);
  std::vector<std::string> out;
  for (NodeId id : ring.PreferenceList(RingPosition(key), layout.replicas())) {
    out.push_back(address[id]);
  }
  return out;
}

class RoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t id : {0x1111u, 0x2222u, 0x3333u}) {
      nodes_.push_back(std::make_unique<FakeNode>(id, &cluster_));
    }
    SetLayout(/*replicas=*/2, /*version=*/1, /*seed=*/1);
  }

  std::vector<FakeNode*> nodes() {
    std::vector<FakeNode*> out;
    for (auto& n : nodes_) out.push_back(n.get());
    return out;
  }

  void SetLayout(uint32_t replicas, uint64_t version, uint64_t seed) {
    cluster_.SetLayout(MakeLayout(nodes(), /*tokens=*/16, replicas, version, seed));
  }

  std::unique_ptr<Client> Connect(
      ClientOptions::Routing routing = ClientOptions::Routing::kRing,
      absl::Duration timeout = absl::Seconds(5)) {
    ClientOptions o;
    o.server = nodes_[0]->address();  // the seed
    o.routing = routing;
    o.timeout = timeout;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  FakeNode* NodeAt(const std::string& address) {
    for (auto& n : nodes_) {
      if (n->address() == address) return n.get();
    }
    ADD_FAILURE() << "no fake node at " << address;
    return nodes_[0].get();
  }

  // How often each node received `op` for `key`, by address.
  std::map<std::string, int> Receivers(const std::string& op,
                                       const std::string& key) {
    std::map<std::string, int> out;
    for (auto& n : nodes_) {
      for (const std::string& k : n->keys(op)) {
        if (k == key) ++out[n->address()];
      }
    }
    return out;
  }

  int RingLayoutCalls() {
    int n = 0;
    for (auto& node : nodes_) n += node->ring_layout_calls();
    return n;
  }

  FakeCluster cluster_;
  std::vector<std::unique_ptr<FakeNode>> nodes_;
};

TEST_F(RoutingTest, EachRequestGoesToTheFirstNodeOfItsKeysPreferenceList) {
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->RingVersion(), std::nullopt);
  ASSERT_TRUE(client->RefreshRing().ok());
  EXPECT_EQ(client->RingVersion(), 1u);

  v1::RingLayoutResponse layout = cluster_.layout();
  std::map<std::string, int> expected_per_node;
  for (int i = 0; i < kKeys; ++i) {
    std::string key = Key(i);
    std::string owner = PreferenceAddresses(layout, key)[0];
    auto put = client->Put(key, "v", "", {}, /*return_body=*/true);
    ASSERT_TRUE(put.ok()) << put.status();
    ASSERT_EQ(put->values, std::vector<std::string>{owner}) << key;
    auto get = client->Get(key);
    ASSERT_TRUE(get.ok()) << get.status();
    ASSERT_EQ(get->values, std::vector<std::string>{owner}) << key;
    // ...and nowhere else.
    EXPECT_EQ(Receivers("put", key), (std::map<std::string, int>{{owner, 1}}));
    EXPECT_EQ(Receivers("get", key), (std::map<std::string, int>{{owner, 1}}));
    expected_per_node[owner] += 2;
  }
  // Every node owns some of the keys, so this was routing, not luck.
  EXPECT_EQ(expected_per_node.size(), 3u);
  auto by_address = client->RequestsByAddress();
  std::map<std::string, int> answered(by_address.begin(), by_address.end());
  EXPECT_EQ(answered, expected_per_node);
  // The version header always matched: the ring was fetched exactly once.
  EXPECT_EQ(RingLayoutCalls(), 1);
}

TEST_F(RoutingTest, FirstCallGoesToTheSeedAndStartsFetchingTheRing) {
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  // A key the seed does not own.
  v1::RingLayoutResponse layout = cluster_.layout();
  int i = 0;
  while (PreferenceAddresses(layout, Key(i))[0] == nodes_[0]->address()) ++i;
  ASSERT_TRUE(client->Put(Key(i), "v", "").ok());
  EXPECT_EQ(Receivers("put", Key(i)),
            (std::map<std::string, int>{{nodes_[0]->address(), 1}}));
  // The ring arrives in the background; from then on calls are routed.
  ASSERT_TRUE(WaitUntil([&] { return client->RingVersion() == 1u; }, 10s));
  ASSERT_TRUE(client->Put(Key(i), "v", "").ok());
  EXPECT_EQ(Receivers("put", Key(i)),
            (std::map<std::string, int>{
                {nodes_[0]->address(), 1},
                {PreferenceAddresses(layout, Key(i))[0], 1}}));
  EXPECT_EQ(nodes_[0]->ring_layout_calls(), 1);
}

TEST_F(RoutingTest, ANewRingVersionInAResponseMakesTheClientRefetchTheRing) {
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RefreshRing().ok());
  v1::RingLayoutResponse before = cluster_.layout();

  // Ownership changes everywhere (new tokens, N=1), and every node now
  // answers with version 2.
  SetLayout(/*replicas=*/1, /*version=*/2, /*seed=*/777);
  v1::RingLayoutResponse after = cluster_.layout();
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (PreferenceAddresses(before, Key(i))[0] !=
        PreferenceAddresses(after, Key(i))[0]) {
      ++moved;
    }
  }
  ASSERT_GT(moved, kKeys / 4) << "the new layout must move keys";

  // Any response now reports version 2; the refresh runs in the
  // background.
  ASSERT_TRUE(WaitUntil(
      [&] {
        EXPECT_TRUE(client->Get("probe").ok());
        return client->RingVersion() == 2u;
      },
      10s));
  for (int i = 0; i < kKeys; ++i) {
    std::string owner = PreferenceAddresses(after, Key(i))[0];
    auto put = client->Put(Key(i), "v", "", {}, /*return_body=*/true);
    ASSERT_TRUE(put.ok()) << put.status();
    EXPECT_EQ(put->values, std::vector<std::string>{owner}) << Key(i);
    EXPECT_EQ(Receivers("put", Key(i)), (std::map<std::string, int>{{owner, 1}}));
  }
  // Exactly the initial fetch and one refresh.
  EXPECT_EQ(RingLayoutCalls(), 2);
}

TEST_F(RoutingTest, KeysOfAStoppedNodeGoToTheNextReplicaAndPutsAreSentOnce) {
  SetLayout(/*replicas=*/3, /*version=*/1, /*seed=*/5);
  v1::RingLayoutResponse layout = cluster_.layout();
  FakeNode* down = nodes_[1].get();
  down->Stop();  // before the client ever connects to it: refused at once
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RefreshRing().ok());

  int of_stopped = 0;
  for (int i = 0; i < kKeys; ++i) {
    std::string key = Key(i);
    std::vector<std::string> pref = PreferenceAddresses(layout, key);
    std::string expected = pref[0] == down->address() ? pref[1] : pref[0];
    of_stopped += pref[0] == down->address();
    auto put = client->Put(key, "v", "", {}, /*return_body=*/true);
    ASSERT_TRUE(put.ok()) << key << ": " << put.status();
    EXPECT_EQ(put->values, std::vector<std::string>{expected}) << key;
    // Sent once: no live node saw the write twice, no other node saw it.
    EXPECT_EQ(Receivers("put", key), (std::map<std::string, int>{{expected, 1}}))
        << key;
    auto get = client->Get(key);
    ASSERT_TRUE(get.ok()) << key << ": " << get.status();
    EXPECT_EQ(get->values, std::vector<std::string>{expected}) << key;
  }
  EXPECT_GT(of_stopped, 10);
  for (const auto& [address, n] : client->RequestsByAddress()) {
    EXPECT_NE(address, down->address()) << n;
  }
}

TEST_F(RoutingTest, ANodeThatStopsAfterUseIsAvoidedAndNoWriteIsRepeated) {
  SetLayout(/*replicas=*/3, /*version=*/1, /*seed=*/9);
  v1::RingLayoutResponse layout = cluster_.layout();
  FakeNode* down = nodes_[2].get();
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RefreshRing().ok());
  std::vector<std::string> owned_by_down;
  for (int i = 0; i < kKeys; ++i) {
    if (PreferenceAddresses(layout, Key(i))[0] == down->address()) {
      owned_by_down.push_back(Key(i));
    }
  }
  ASSERT_GT(owned_by_down.size(), 10u);
  // The client is connected to it...
  ASSERT_TRUE(client->Put(owned_by_down[0], "v", "").ok());
  ASSERT_EQ(down->keys("put").size(), 1u);
  down->Stop();

  // ...reads may be retried after any UNAVAILABLE (even a connection that
  // broke mid-call), so they all succeed on the next replica.
  for (const std::string& key : owned_by_down) {
    auto get = client->Get(key);
    ASSERT_TRUE(get.ok()) << key << ": " << get.status();
    EXPECT_EQ(get->values,
              std::vector<std::string>{PreferenceAddresses(layout, key)[1]});
  }
  // Writes now either skip the failing channel or are refused a
  // connection, which is the one case a write is retried.
  for (const std::string& key : owned_by_down) {
    std::string next = PreferenceAddresses(layout, key)[1];
    auto put = client->Put(key, "v", "", {}, /*return_body=*/true);
    ASSERT_TRUE(put.ok()) << key << ": " << put.status();
    EXPECT_EQ(put->values, std::vector<std::string>{next});
    std::map<std::string, int> expected{{next, 1}};
    if (key == owned_by_down[0]) expected[down->address()] = 1;  // before Stop
    EXPECT_EQ(Receivers("put", key), expected) << key;
  }
}

TEST_F(RoutingTest, RingAddressesTheClientCannotReachEndAtTheSeed) {
  // As seen from outside a container network: the ring lists every node at
  // an address this client cannot connect to (a name private to that
  // network), and only the seed's address (a published port) works.
  v1::RingLayoutResponse layout =
      MakeLayout(nodes(), /*tokens=*/16, /*replicas=*/3, /*version=*/1, 17);
  std::vector<std::unique_ptr<FakeNode>> unreachable;
  for (int i = 0; i < layout.nodes_size(); ++i) {
    unreachable.push_back(std::make_unique<FakeNode>(0x9000 + i, &cluster_));
    unreachable.back()->Stop();  // connections to its port are refused
    layout.mutable_nodes(i)->set_address(unreachable.back()->address());
  }
  cluster_.SetLayout(layout);
  const std::string seed = nodes_[0]->address();

  // One client per call, as kvcli runs: each call tries every replica of
  // its key first (fresh channels), then reaches the seed. Nothing was
  // sent before, so the seed receives each write exactly once.
  auto routed_client = [&] {
    auto client = Connect();
    EXPECT_TRUE(client != nullptr && client->RefreshRing().ok());
    return client;
  };
  for (int i = 0; i < 5; ++i) {
    auto put = routed_client()->Put(Key(i), "v", "", {}, /*return_body=*/true);
    ASSERT_TRUE(put.ok()) << put.status();
    EXPECT_EQ(put->values, std::vector<std::string>{seed});
    EXPECT_EQ(Receivers("put", Key(i)), (std::map<std::string, int>{{seed, 1}}));
    auto get = routed_client()->Get(Key(i));
    ASSERT_TRUE(get.ok()) << get.status();
    EXPECT_EQ(get->values, std::vector<std::string>{seed});
    ASSERT_TRUE(routed_client()->Delete(Key(i), "").ok());
  }
  // A long-lived client: every call ends at the seed too.
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RefreshRing().ok());
  for (int i = 5; i < kKeys; ++i) {
    ASSERT_TRUE(client->Put(Key(i), "v", "").ok()) << Key(i);
    ASSERT_TRUE(client->Delete(Key(i), "").ok()) << Key(i);
    EXPECT_EQ(Receivers("put", Key(i)), (std::map<std::string, int>{{seed, 1}}));
  }
  EXPECT_TRUE(nodes_[1]->requests().empty());
  EXPECT_TRUE(nodes_[2]->requests().empty());
  for (auto& n : unreachable) EXPECT_TRUE(n->requests().empty());
}

TEST_F(RoutingTest, AWriteWhoseOutcomeIsUnknownIsNotRetriedButAReadIs) {
  SetLayout(/*replicas=*/3, /*version=*/1, /*seed=*/11);
  v1::RingLayoutResponse layout = cluster_.layout();
  FakeNode* failing = nodes_[1].get();
  // The node received the request, then failed it as a transport would
  // (UNAVAILABLE): it may have applied it.
  failing->FailWith("put", grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        "simulated: socket closed"));
  failing->FailWith("delete", grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                           "simulated: socket closed"));
  failing->FailWith("get", grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        "simulated: socket closed"));
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RefreshRing().ok());
  int i = 0;
  while (PreferenceAddresses(layout, Key(i))[0] != failing->address()) ++i;
  std::string key = Key(i);
  std::vector<std::string> pref = PreferenceAddresses(layout, key);

  auto put = client->Put(key, "v", "");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(put.status().message(), failing->address()))
      << put.status();
  EXPECT_EQ(Receivers("put", key),
            (std::map<std::string, int>{{failing->address(), 1}}));

  absl::Status del = client->Delete(key, "");
  EXPECT_EQ(del.code(), absl::StatusCode::kUnavailable) << del;
  EXPECT_EQ(Receivers("delete", key),
            (std::map<std::string, int>{{failing->address(), 1}}));

  auto get = client->Get(key);
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->values, std::vector<std::string>{pref[1]});
  EXPECT_EQ(Receivers("get", key),
            (std::map<std::string, int>{{failing->address(), 1}, {pref[1], 1}}));
}

// kvd's own UNAVAILABLE for a write whose quorum fell short quotes its
// peers' errors, "failed to connect" and "Connection refused" among them.
// The call reached the node (its headers say so), so the write may have
// been applied: it is not retried, and not worded as unreachable.
TEST_F(RoutingTest, AQuorumFailureQuotingAPeersConnectErrorIsNotRetried) {
  SetLayout(/*replicas=*/3, /*version=*/1, /*seed=*/12);
  v1::RingLayoutResponse layout = cluster_.layout();
  FakeNode* failing = nodes_[1].get();
  const std::string quorum_failed =
      "only 1 of the 2 acknowledgements needed (W=2) arrived: 127.0.0.1:9: "
      "lost the connection to 127.0.0.1:9: failed to connect to all "
      "addresses; last error: UNKNOWN: ipv4:127.0.0.1:9: Connection refused; "
      "its outcome is unknown";
  failing->FailWith("put", grpc::Status(grpc::StatusCode::UNAVAILABLE, quorum_failed));
  failing->FailWith("delete", grpc::Status(grpc::StatusCode::UNAVAILABLE, quorum_failed));
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RefreshRing().ok());
  int i = 0;
  while (PreferenceAddresses(layout, Key(i))[0] != failing->address()) ++i;
  std::string key = Key(i);

  auto put = client->Put(key, "v", "");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(absl::StrContains(put.status().message(), "cannot reach"))
      << put.status();
  EXPECT_EQ(Receivers("put", key),
            (std::map<std::string, int>{{failing->address(), 1}}));

  absl::Status del = client->Delete(key, "");
  EXPECT_EQ(del.code(), absl::StatusCode::kUnavailable) << del;
  EXPECT_EQ(Receivers("delete", key),
            (std::map<std::string, int>{{failing->address(), 1}}));
}

// kvd's refusal while it shuts down comes before it does anything: the
// write goes on to the next replica, although the node answered.
TEST_F(RoutingTest, AWriteRefusedByANodeShuttingDownGoesToTheNextReplica) {
  SetLayout(/*replicas=*/3, /*version=*/1, /*seed=*/13);
  v1::RingLayoutResponse layout = cluster_.layout();
  FakeNode* failing = nodes_[1].get();
  failing->FailWith("put", grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        "node is shutting down; retry on another node"));
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RefreshRing().ok());
  int i = 0;
  while (PreferenceAddresses(layout, Key(i))[0] != failing->address()) ++i;
  std::string key = Key(i);
  std::vector<std::string> pref = PreferenceAddresses(layout, key);

  auto put = client->Put(key, "v", "");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(Receivers("put", key),
            (std::map<std::string, int>{{failing->address(), 1}, {pref[1], 1}}));
}

TEST_F(RoutingTest, DeadNodesAreNotSentAnything) {
  v1::RingLayoutResponse layout =
      MakeLayout(nodes(), /*tokens=*/16, /*replicas=*/3, /*version=*/1, 13);
  layout.mutable_nodes(2)->set_status("dead");
  cluster_.SetLayout(layout);
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RefreshRing().ok());
  int skipped = 0;
  for (int i = 0; i < kKeys; ++i) {
    std::vector<std::string> pref = PreferenceAddresses(layout, Key(i));
    std::string expected = pref[0] == nodes_[2]->address() ? pref[1] : pref[0];
    skipped += pref[0] == nodes_[2]->address();
    ASSERT_TRUE(client->Put(Key(i), "v", "").ok());
    EXPECT_EQ(Receivers("put", Key(i)),
              (std::map<std::string, int>{{expected, 1}}));
  }
  EXPECT_GT(skipped, 10);
  EXPECT_TRUE(nodes_[2]->requests().empty());
}

TEST_F(RoutingTest, AnyRoutingSendsEverythingToTheSeed) {
  auto client = Connect(ClientOptions::Routing::kAny);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->RefreshRing().ok());  // nothing to do
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(client->Put(Key(i), "v", "").ok());
    auto get = client->Get(Key(i));
    ASSERT_TRUE(get.ok()) << get.status();
    EXPECT_EQ(get->values, std::vector<std::string>{nodes_[0]->address()});
  }
  ASSERT_TRUE(client->Delete(Key(0), "").ok());
  EXPECT_EQ(nodes_[0]->keys("put").size(), static_cast<size_t>(kKeys));
  EXPECT_EQ(nodes_[0]->keys("get").size(), static_cast<size_t>(kKeys));
  EXPECT_EQ(nodes_[0]->keys("delete").size(), 1u);
  EXPECT_TRUE(nodes_[1]->requests().empty());
  EXPECT_TRUE(nodes_[2]->requests().empty());
  EXPECT_EQ(RingLayoutCalls(), 0);
  EXPECT_EQ(client->RingVersion(), std::nullopt);
  auto by_address = client->RequestsByAddress();
  ASSERT_EQ(by_address.size(), 1u);
  EXPECT_EQ(by_address[0].first, nodes_[0]->address());
  EXPECT_EQ(by_address[0].second, 2u * kKeys + 1);
}

TEST_F(RoutingTest, ANodeWithoutRingLayoutIsStillServedThroughTheSeed) {
  for (auto& n : nodes_) n->SetRingLayoutUnimplemented(true);
  cluster_.SetSendVersion(false);
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  absl::Status refresh = client->RefreshRing();
  EXPECT_EQ(refresh.code(), absl::StatusCode::kUnimplemented) << refresh;
  EXPECT_TRUE(absl::StrContains(refresh.message(), nodes_[0]->address()))
      << refresh;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(client->Put(Key(i), "v", "").ok());
  }
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  EXPECT_EQ(nodes_[0]->keys("put").size(), static_cast<size_t>(kKeys));
  EXPECT_EQ(client->RingVersion(), std::nullopt);
  // A failed fetch is retried at most once a second, not per request.
  EXPECT_LE(RingLayoutCalls(), 2 + static_cast<int>(seconds));
}

TEST_F(RoutingTest, DestroyingTheClientDoesNotWaitForAHungRingFetch) {
  nodes_[0]->SetHoldRingLayout(true);
  auto client = Connect(ClientOptions::Routing::kRing, absl::Seconds(60));
  ASSERT_NE(client, nullptr);
  // Goes to the seed (no ring yet) and starts the fetch, which hangs.
  ASSERT_TRUE(client->Put("k", "v", "").ok());
  ASSERT_TRUE(WaitUntil([&] { return nodes_[0]->ring_layout_calls() == 1; }, 10s));
  auto start = std::chrono::steady_clock::now();
  client.reset();  // cancels the fetch instead of waiting 60 s
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  nodes_[0]->ReleaseHeld();
}

}  // namespace
}  // namespace rumor::testing
