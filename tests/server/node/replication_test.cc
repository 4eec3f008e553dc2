// Quorum replication across in-process nodes (real gRPC and RocksDB): any
// node answers for any key, non-replicas forward, read repair, sloppy
// quorum with hints that survive restarts, and ownership changes (join,
// leave, remove) that keep every key on exactly its N replicas.
#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/hash.h"
#include "gtest/gtest.h"
#include "storage/rocksdb_engine.h"
#include "tests/server/node/cluster_harness.h"

namespace rumor::server {
namespace {

using testing::Cluster;
using testing::Ids;
using testing::WaitFor;
using testing::WriteKeys;

int IndexOf(Cluster& c, NodeId id) {
  for (int i = 0; i < c.size(); ++i) {
    if (c.id(i) == id) return i;
  }
  return -1;
}

// Keys not held by exactly their N owners (per `ring`) with value "v" +
// suffix, among `keys`; `lost` counts keys no running node holds.
struct Placement {
  int misplaced = 0;
  int lost = 0;
  std::string example;
};
Placement CheckPlacement(Cluster& c, const Ring& ring,
                         const std::vector<std::string>& keys,
                         const std::vector<int>& nodes) {
  std::map<int, std::vector<std::optional<storage::DvvSet>>> copies;
  for (int i : nodes) copies[i] = c.FetchMany(i, keys);
  Placement p;
  for (size_t k = 0; k < keys.size(); ++k) {
    std::vector<NodeId> owners = ring.PreferenceList(RingPosition(keys[k]), 3);
    std::set<NodeId> want(owners.begin(), owners.end()), have;
    bool any = false;
    for (int i : nodes) {
      const auto& copy = copies[i][k];
      if (!copy.has_value()) {
        ++p.misplaced;  // could not ask: not settled
        continue;
      }
      if (copy->empty()) continue;
      std::vector<std::string> values = copy->LiveValues();
      if (values == std::vector<std::string>{"value-" + keys[k]}) {
        any = true;
        have.insert(c.id(i));
      }
    }
    if (!any) ++p.lost;
    if (have != want) {
      ++p.misplaced;
      if (p.example.empty()) {
        p.example = absl::StrCat(keys[k], " held by ", have.size(),
                                 " nodes, owners ", want.size());
      }
    }
  }
  return p;
}

TEST(ReplicationTest, AnyNodeAnswersForAnyKeyAndEveryReplicaHoldsIt) {
  Cluster c;
  c.StartAll(3);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  for (int k = 0; k < 30; ++k) {
    std::string key = "k" + std::to_string(k);
    ASSERT_TRUE(c.client(k % 3).Put(key, "v" + key, "").ok());
    for (int i = 0; i < 3; ++i) {
      auto got = c.client(i).Get(key);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->values, std::vector<std::string>{"v" + key})
          << key << " via node " << i;
    }
  }
  // W=2 answers after two copies; the third follows in the background.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WaitFor([&] {
      auto copy = c.Fetch(i, "k7");
      return copy && copy->LiveValues() == std::vector<std::string>{"vk7"};
    })) << "node " << i << " never got its replica";
  }
  // Deletes replicate as tombstones.
  auto got = c.client(1).Get("k7");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(c.client(2).Delete("k7", got->context).ok());
  auto after = c.client(0).Get("k7");
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->found);
}

// A restarted node knows only itself until a peer answers; serving then
// would take every key for this node alone (R=W=1 in effect). It refuses
// instead, and rejoins through the ring members it remembers, even
// without a seed.
TEST(ReplicationTest, ARestartedNodeServesNothingUntilItFindsItsCluster) {
  Cluster c;
  c.StartAll(3);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  ASSERT_TRUE(c.client(2).Put("before", "v", "").ok());
  for (int i = 0; i < 3; ++i) c.Stop(i);
  // Node 2 alone: its seed (node 0) and its remembered peers are all down.
  ASSERT_NE(c.Start(2), nullptr);
  auto put = c.client(2).Put("alone", "v", "");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(put.status().message().find("not joined"), std::string::npos)
      << put.status();
  auto get = c.client(2).Get("before");
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(c.Value(2, "cluster_joined"), 0);
  EXPECT_FALSE(c.Fetch(2, "alone")->LiveValues().size() > 0)
      << "the refused write was applied";
  // Node 1 comes back without any seed: it finds node 2 through what it
  // remembers, and both serve again with the usual quorum.
  c.SetTweak([](NodeOptions* o) { o->seeds.clear(); });
  ASSERT_NE(c.Start(1), nullptr);
  ASSERT_TRUE(WaitFor([&] { return c.Value(2, "cluster_joined") == 1; }));
  ASSERT_TRUE(WaitFor([&] { return c.Value(1, "cluster_joined") == 1; }));
  ASSERT_TRUE(WaitFor([&] { return c.client(2).Put("back", "v", "").ok(); }));
  auto before = c.client(1).Get("before");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->values, std::vector<std::string>{"v"});
}

TEST(ReplicationTest, RAndWOutsideOneToNAreRefusedNamingTheBounds) {
  Cluster c;
  c.StartAll(1);
  client::CallOptions o;
  o.w = 4;
  auto put = c.client(0).Put("k", "v", "", o);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(put.status().message().find("between 1 and N=3"),
            std::string::npos)
      << put.status();
  client::CallOptions r;
  r.r = 9;
  auto get = c.client(0).Get("k", r);
  EXPECT_EQ(get.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(c.Fetch(0, "k")->HasLiveValue()) << "nothing was written";
}

TEST(ReplicationTest, ANodeOutsideThePreferenceListForwardsWrites) {
  Cluster c;
  c.StartAll(5);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2, 3, 4})); }));
  auto ring = c.RingAt(0);
  ASSERT_NE(ring, nullptr);
  // A key node 0 does not replicate.
  std::string key;
  for (int k = 0; key.empty(); ++k) {
    std::string candidate = "fwd" + std::to_string(k);
    auto pref = ring->PreferenceList(RingPosition(candidate), 3);
    if (std::find(pref.begin(), pref.end(), c.id(0)) == pref.end()) {
      key = candidate;
    }
  }
  int64_t before = c.Value(0, "requests_forwarded");
  ASSERT_TRUE(c.client(0).Put(key, "value-" + key, "").ok());
  EXPECT_EQ(c.Value(0, "requests_forwarded"), before + 1);
  auto got = c.client(0).Get(key);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->values, std::vector<std::string>{"value-" + key});
  EXPECT_TRUE(c.Fetch(0, key)->empty()) << "a non-replica keeps no copy";
  ASSERT_TRUE(WaitFor([&] {
    return CheckPlacement(c, *ring, {key}, {0, 1, 2, 3, 4}).misplaced == 0;
  }));
}

TEST(ReplicationTest, ReadRepairMakesAStaleReplicaCurrent) {
  Cluster c;
  c.SetTweak([](NodeOptions* o) { o->hinted_handoff = false; });
  c.StartAll(3);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  c.Stop(2);
  ASSERT_TRUE(WaitFor([&] {
    auto m = c.client(0).Members();
    if (!m.ok()) return false;
    for (const auto& mm : *m) {
      if (mm.id == c.id(2)) return mm.status != "alive";
    }
    return false;
  })) << "node 2 was never suspected";
  ASSERT_TRUE(c.client(0).Put("stale", "fresh", "").ok());
  ASSERT_NE(c.Start(2), nullptr);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  auto copy = c.Fetch(2, "stale");
  ASSERT_TRUE(copy.has_value());
  EXPECT_TRUE(copy->empty()) << "no hints: node 2 missed the write";
  int64_t repairs = c.Value(0, "read_repairs");
  client::CallOptions all;
  all.r = 3;
  ASSERT_TRUE(WaitFor([&] { return c.client(0).Get("stale", all).ok(); }));
  ASSERT_TRUE(WaitFor([&] {
    auto now = c.Fetch(2, "stale");
    return now && now->LiveValues() == std::vector<std::string>{"fresh"};
  })) << "read repair never reached the stale replica";
  EXPECT_GT(c.Value(0, "read_repairs"), repairs);
}

// The key's preference list minus `down`, and the first node after the
// preference list (its fallback) in ring order.
struct KeyPlan {
  std::string key;
  std::vector<int> pref;
  int fallback = -1;
};
KeyPlan PlanFor(Cluster& c, const Ring& ring, const std::string& key) {
  KeyPlan p;
  p.key = key;
  std::vector<NodeId> walk = ring.Walk(RingPosition(key));
  for (size_t i = 0; i < walk.size(); ++i) {
    if (i < 3) {
      p.pref.push_back(IndexOf(c, walk[i]));
    } else if (p.fallback < 0) {
      p.fallback = IndexOf(c, walk[i]);
    }
  }
  return p;
}

void WaitDown(Cluster& c, int observer, int down) {
  ASSERT_TRUE(WaitFor([&] {
    auto m = c.client(observer).Members();
    if (!m.ok()) return false;
    for (const auto& mm : *m) {
      if (mm.id == c.id(down)) return mm.status == "suspect" || mm.status == "dead";
    }
    return false;
  })) << "node " << down << " was never seen down by " << observer;
}

// Stops node `victim`, waits until `via` declares it dead, and removes it
// from the ring through `via`.
void StopAndRemove(Cluster& c, int via, int victim) {
  c.Stop(victim);
  ASSERT_NO_FATAL_FAILURE(WaitDown(c, via, victim));
  ASSERT_TRUE(WaitFor([&] {
    auto m = c.client(via).Members();
    if (!m.ok()) return false;
    for (const auto& mm : *m) {
      if (mm.id == c.id(victim)) return mm.status == "dead";
    }
    return false;
  })) << "node " << victim << " never declared dead";
  ASSERT_TRUE(c.client(via).Remove(c.id(victim)).ok());
}

class HintTest : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(FallbackRestarts, HintTest, ::testing::Bool());

// A write with one replica down succeeds with W=2 and lands as a hint on
// the fallback, which hands it to the replica when it is back; with the
// parameter set, the fallback restarts first and its hints survive.
TEST_P(HintTest, AWriteToADownReplicaIsHintedAndHandedOffWhenItReturns) {
  const bool restart_fallback = GetParam();
  Cluster c;
  c.StartAll(5);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2, 3, 4})); }));
  auto ring = c.RingAt(0);
  KeyPlan plan = PlanFor(c, *ring, "hinted");
  int down = plan.pref[1];
  int via = plan.pref[0];
  c.Stop(down);
  WaitDown(c, via, down);
  client::CallOptions w2;
  w2.w = 2;
  ASSERT_TRUE(c.client(via).Put("hinted", "while-down", "", w2).ok());
  // The fallback holds it for the down replica, not as its own copy.
  ASSERT_TRUE(WaitFor([&] {
    auto hint = c.Fetch(plan.fallback, "hinted", c.id(down));
    return hint && hint->LiveValues() ==
                       std::vector<std::string>{"while-down"};
  })) << "no hint on the fallback";
  EXPECT_TRUE(c.Fetch(plan.fallback, "hinted")->empty());
  EXPECT_GE(c.Value(plan.fallback, "hints_held"), 1);
  if (restart_fallback) {
    int64_t epoch = c.Value(plan.fallback, "actor_epoch");
    c.Stop(plan.fallback);
    ASSERT_NE(c.Start(plan.fallback), nullptr);
    EXPECT_EQ(c.Value(plan.fallback, "actor_epoch"), epoch)
        << "a clean restart keeps the actor epoch";
    EXPECT_GE(c.Value(plan.fallback, "hints_held"), 1)
        << "hints did not survive the restart";
  }
  ASSERT_NE(c.Start(down), nullptr);
  ASSERT_TRUE(WaitFor([&] {
    auto copy = c.Fetch(down, "hinted");
    return copy && copy->LiveValues() == std::vector<std::string>{"while-down"};
  })) << "the hint never reached its owner";
  ASSERT_TRUE(WaitFor([&] { return c.Value(plan.fallback, "hints_held") == 0; }))
      << "the delivered hint was not deleted";
  // Delivered to its owner, not re-homed as if the owner were gone (range
  // handoff would then have brought the value some other way).
  EXPECT_GE(c.Value(plan.fallback, "hints_delivered"), 1);
  EXPECT_EQ(c.Value(plan.fallback, "hints_rehomed"), 0);
}

// Two nodes join a 3-node cluster holding 10,000 keys. Meanwhile every
// key stays readable with R=2 through every node: the joiners pull their
// ranges before they serve them, so a read never lands on two empty
// replicas. At the end every key is on exactly its N owners.
TEST(ReplicationTest, JoinOfTwoNodesLeavesEveryKeyOnExactlyItsOwners) {
  Cluster c;
  c.StartAll(3);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  std::vector<std::string> keys = WriteKeys(c, 0, 10000, "join");
  // Readers through nodes 0-2, from before the joins until they are over.
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, not_found{0}, wrong{0}, errors{0};
  absl::Mutex example_mu;
  std::string example;
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      client::ClientOptions o;
      o.server = c.address(t);
      o.routing = client::ClientOptions::Routing::kAny;
      o.timeout = absl::Seconds(10);
      auto reader = client::Client::Connect(o);
      ASSERT_TRUE(reader.ok());
      absl::Time end = absl::Now() + absl::Seconds(120);
      for (size_t i = t; !stop.load() && absl::Now() < end; i += 7) {
        const std::string& key = keys[(i * 7919) % keys.size()];
        client::CallOptions r2;
        r2.r = 2;
        auto got = (*reader)->Get(key, r2);
        ++reads;
        std::string what;
        if (!got.ok()) {
          ++errors;
          what = std::string(got.status().message());
        } else if (!got->found) {
          ++not_found;
          what = "not found";
        } else if (got->values != std::vector<std::string>{"value-" + key}) {
          ++wrong;
          what = absl::StrJoin(got->values, ",");
        }
        if (!what.empty()) {
          absl::MutexLock lock(&example_mu);
          if (example.empty()) example = key + " via node " +
                                         std::to_string(t) + ": " + what;
        }
      }
    });
  }
  ASSERT_NE(c.Start(3), nullptr);
  ASSERT_NE(c.Start(4), nullptr);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2, 3, 4})); },
                      absl::Seconds(60)));
  auto ring = c.RingAt(0);
  Placement p;
  bool placed = WaitFor(
      [&] {
        p = CheckPlacement(c, *ring, keys, {0, 1, 2, 3, 4});
        return p.misplaced == 0;
      },
      absl::Seconds(120));
  stop = true;
  for (auto& t : readers) t.join();
  ASSERT_TRUE(placed) << p.misplaced << " keys not on exactly their owners, e.g. "
                      << p.example;
  EXPECT_EQ(p.lost, 0);
  EXPECT_GT(reads.load(), 300) << "the readers barely ran";
  EXPECT_EQ(not_found.load(), 0) << "of " << reads.load() << " reads; " << example;
  EXPECT_EQ(wrong.load(), 0) << "of " << reads.load() << " reads; " << example;
  EXPECT_EQ(errors.load(), 0) << "of " << reads.load() << " reads; " << example;
  EXPECT_GT(c.Value(3, "join_keys_pulled"), 0) << "node 3 pulled nothing";
  EXPECT_GT(c.Value(4, "join_keys_pulled"), 0) << "node 4 pulled nothing";
}

// The last two nodes of a cluster both told to leave at once: each may
// see the other still serving when it starts, but whichever finds nobody
// left to take its data must refuse to go, so no key ends up only on
// nodes that exit.
TEST(ReplicationTest, TwoNodesLeavingAtOnceNeverBothExitWithTheData) {
  Cluster c;
  c.StartAll(2);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1})); }));
  std::vector<std::string> keys = WriteKeys(c, 0, 200, "last");
  std::vector<absl::Status> result(2);
  std::vector<std::thread> leaving;
  for (int i = 0; i < 2; ++i) {
    leaving.emplace_back([&, i] {
      client::ClientOptions o;
      o.server = c.address(i);
      o.timeout = absl::Seconds(60);
      auto client = client::Client::Connect(o);
      if (!client.ok()) {
        result[i] = client.status();
        return;
      }
      result[i] = (*client)->Leave().status();
    });
  }
  for (auto& t : leaving) t.join();
  int exiting = 0;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(c.node(i)->StopRequested(), result[i].ok()) << i;
    exiting += c.node(i)->StopRequested();
  }
  ASSERT_LT(exiting, 2) << "both nodes left and would exit: every key lost ("
                        << result[0] << "; " << result[1] << ")";
  // Every key is still on a node that stays.
  for (int i = 0; i < 2; ++i) {
    if (c.node(i)->StopRequested()) continue;
    EXPECT_EQ(absl::StatusCode::kFailedPrecondition, result[i].code())
        << result[i];
    int held = 0;
    for (const auto& copy : c.FetchMany(i, keys)) {
      held += copy.has_value() && copy->HasLiveValue();
    }
    EXPECT_EQ(held, 200) << "node " << i << " stays but lost keys";
  }
}

TEST(ReplicationTest, LeaveAndRemoveKeepNCopiesOfEveryKey) {
  Cluster c;
  c.StartAll(5);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2, 3, 4})); }));
  std::vector<std::string> keys = WriteKeys(c, 1, 2000, "lr");
  // Node 4 leaves gracefully: it hands its ranges off before it goes.
  auto left = c.client(4).Leave();
  ASSERT_TRUE(left.ok()) << left.status();
  // Handoff rides the replication streams in batches, not a frame a key
  // (requests queued while a frame is written go out together: about 3.5
  // a frame here).
  int64_t calls = c.Value(4, "replica_calls");
  int64_t frames = c.Value(4, "replica_frames_sent");
  EXPECT_GT(calls, 2000);
  EXPECT_LT(frames * 2, calls) << frames << " frames for " << calls << " calls";
  c.Stop(4);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2, 3})); }));
  auto ring4 = c.RingAt(0);
  Placement p;
  ASSERT_TRUE(WaitFor(
      [&] {
        p = CheckPlacement(c, *ring4, keys, {0, 1, 2, 3});
        return p.misplaced == 0;
      },
      absl::Seconds(120)))
      << "after the leave: " << p.misplaced << " misplaced, e.g. " << p.example;
  EXPECT_EQ(p.lost, 0);
  // Node 3 dies and is removed: the survivors re-replicate its ranges.
  ASSERT_NO_FATAL_FAILURE(StopAndRemove(c, 0, 3));
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  auto ring3 = c.RingAt(0);
  ASSERT_TRUE(WaitFor(
      [&] {
        p = CheckPlacement(c, *ring3, keys, {0, 1, 2});
        return p.misplaced == 0;
      },
      absl::Seconds(120)))
      << "after the remove: " << p.misplaced << " misplaced, e.g. " << p.example;
  EXPECT_EQ(p.lost, 0);
}

// A fallback's hints can be one of the W copies of a write, so a node
// that leaves hands off the hints it keeps as well as its data: the down
// replica gets them (through another fallback) once it is back.
TEST(ReplicationTest, ALeavingFallbackHandsOffTheHintsItKeeps) {
  Cluster c;
  c.StartAll(5);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2, 3, 4})); }));
  const int down = 4;
  c.Stop(down);
  WaitDown(c, 0, down);
  std::vector<std::string> keys = WriteKeys(c, 0, 300, "lh");
  // The node keeping the most hints for the down one leaves.
  const std::string counter = "hints_for_" + NodeIdToString(c.id(down));
  int leaver = -1;
  int64_t most = 0;
  for (int i = 1; i < 4; ++i) {
    int64_t held = c.Value(i, counter);
    if (held > most) {
      most = held;
      leaver = i;
    }
  }
  ASSERT_GT(most, 0) << "no fallback holds hints for node " << down;
  auto left = c.client(leaver).Leave();
  ASSERT_TRUE(left.ok()) << left.status();
  c.Stop(leaver);
  ASSERT_NE(c.Start(down), nullptr);
  std::vector<int> rest;
  for (int i = 0; i < 5; ++i) {
    if (i != leaver) rest.push_back(i);
  }
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, rest)); }));
  auto ring = c.RingAt(0);
  Placement p;
  ASSERT_TRUE(WaitFor(
      [&] {
        p = CheckPlacement(c, *ring, keys, rest);
        return p.misplaced == 0;
      },
      absl::Seconds(60)))
      << p.misplaced << " keys not on exactly their owners after the leave, "
      << "e.g. " << p.example;
  EXPECT_EQ(p.lost, 0);
}

// Riak's kv679: a coordinator that lost a write it had acknowledged (its
// data column wiped, its identity kept) must not mint that write's dot
// again for another value: the other replicas would take the new value
// for the one they hold and drop it. The epoch bumped at its restart
// gives it a fresh actor, so both writes survive as siblings.
TEST(ReplicationTest, ACoordinatorThatLostItsDataNeverReusesADot) {
  Cluster c;
  c.StartAll(3);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  int64_t epoch = c.Value(0, "actor_epoch");
  ASSERT_TRUE(c.client(0).Put("kv679", "first", "").ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WaitFor([&] {
      auto copy = c.Fetch(i, "kv679");
      return copy && copy->HasLiveValue();
    }));
  }
  // Node 0 loses its data column but keeps its id (its meta column).
  c.Stop(0);
  auto wiped = c.WipeData(0);
  ASSERT_TRUE(wiped.ok()) << wiped.status();
  ASSERT_GT(*wiped, 0u);
  ASSERT_NE(c.Start(0), nullptr);
  EXPECT_GT(c.Value(0, "actor_epoch"), epoch) << "data loss must bump the epoch";
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  EXPECT_TRUE(c.Fetch(0, "kv679")->empty());
  // A blind write coordinated by the node that forgot the first one.
  client::CallOptions w3;
  w3.w = 3;
  auto put = c.client(0).Put("kv679", "second", "", w3);
  ASSERT_TRUE(put.ok()) << put.status();
  client::CallOptions r3;
  r3.r = 3;
  // (Node 1 may hold node 0 unreachable for a back-off after its restart.)
  auto got = c.client(1).Get("kv679", r3);
  ASSERT_TRUE(WaitFor([&] {
    got = c.client(1).Get("kv679", r3);
    return got.ok();
  })) << got.status();
  std::vector<std::string> values = got->values;
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<std::string>{"first", "second"}))
      << "a write was silently dropped";
}

// A tombstone written while a replica was down (and without hints to
// carry it) does not let the old value come back when the replica
// returns: reads through any node say not found, and read repair gives the
// returning replica the tombstone.
// kv679 through range handoff: a node drops the keys a join took from it;
// the joiner is removed and the node owns them again. A write without a
// context coordinated there before the ranges come back must not mint the
// dot it gave the old value (the other replicas would take the new value
// for one they hold and drop it): dropping keys moves the node to a new
// actor epoch, so both values survive as siblings.
TEST(ReplicationTest, ANodeThatDroppedKeysByHandoffNeverReusesADot) {
  Cluster c;
  c.SetTweak([](NodeOptions* o) {
    o->handoff_settle = absl::Seconds(2);
    o->aae_interval = absl::ZeroDuration();  // only handoff moves keys here
  });
  c.StartAll(3);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  std::vector<std::string> keys = WriteKeys(c, 0, 300, "drop");
  int64_t epoch = c.Value(0, "actor_epoch");
  ASSERT_NE(c.Start(3), nullptr);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2, 3})); },
                      absl::Seconds(60)));
  // Wait until node 0 has handed off and dropped what it no longer owns.
  std::vector<std::string> dropped;
  ASSERT_TRUE(WaitFor(
      [&] {
        if (c.Value(0, "handoff_keys_dropped") <= 0 ||
            c.Value(0, "handoff_ranges_pending") != 0) {
          return false;
        }
        dropped.clear();
        auto copies = c.FetchMany(0, keys);
        for (size_t k = 0; k < keys.size(); ++k) {
          if (copies[k] && copies[k]->empty()) dropped.push_back(keys[k]);
        }
        return !dropped.empty();
      },
      absl::Seconds(60)))
      << "node 0 never dropped a key";
  EXPECT_GT(c.Value(0, "actor_epoch"), epoch)
      << "dropping keys must move the actor epoch on";
  // The joiner dies and is removed: node 0 owns those keys again.
  ASSERT_NO_FATAL_FAILURE(StopAndRemove(c, 0, 3));
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  // Before the ranges come back (the handoff settle is 2 s), blind writes
  // coordinated by node 0, which holds nothing for these keys.
  // Only writes made while node 0 still held nothing for the key test the
  // epoch (once the range is back, the write would extend the old dots).
  dropped.resize(std::min<size_t>(dropped.size(), 10));
  std::vector<std::string> blind;
  for (const std::string& key : dropped) {
    auto copy = c.Fetch(0, key);
    ASSERT_TRUE(copy.has_value()) << key;
    if (!copy->empty()) continue;
    ASSERT_TRUE(c.client(0).Put(key, "new-" + key, "").ok()) << key;
    blind.push_back(key);
  }
  ASSERT_FALSE(blind.empty())
      << "the ranges came back to node 0 before any blind write: the test "
         "proves nothing this run";
  dropped = blind;
  // Every replica ends with both values.
  std::string wrong;
  bool ok = WaitFor([&] {
    for (int i = 0; i < 3; ++i) {
      auto copies = c.FetchMany(i, dropped);
      for (size_t k = 0; k < dropped.size(); ++k) {
        std::vector<std::string> want = {"new-" + dropped[k],
                                         "value-" + dropped[k]};
        std::vector<std::string> have;
        if (copies[k]) have = copies[k]->LiveValues();
        std::sort(want.begin(), want.end());
        std::sort(have.begin(), have.end());
        if (have != want) {
          wrong = absl::StrCat(dropped[k], " on node ", i, " holds [",
                               absl::StrJoin(have, ", "), "]");
          return false;
        }
      }
    }
    return true;
  });
  EXPECT_TRUE(ok) << wrong << ": a value was lost";
}

TEST(ReplicationTest, ADeleteMissedByADownReplicaStaysDeleted) {
  Cluster c;
  c.SetTweak([](NodeOptions* o) { o->hinted_handoff = false; });
  c.StartAll(3);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  client::CallOptions all;
  all.w = 3;
  ASSERT_TRUE(c.client(0).Put("gone", "old", "", all).ok());
  c.Stop(2);
  WaitDown(c, 0, 2);
  auto got = c.client(0).Get("gone");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(c.client(1).Delete("gone", got->context).ok());
  ASSERT_NE(c.Start(2), nullptr);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  EXPECT_EQ(c.Fetch(2, "gone")->LiveValues(), std::vector<std::string>{"old"})
      << "node 2 missed the delete";
  client::CallOptions r2, r3;
  r2.r = 2;
  r3.r = 3;
  for (int i = 0; i < 3; ++i) {
    for (const auto& opts : {r2, r3}) {
      auto read = c.client(i).Get("gone", opts);
      ASSERT_TRUE(WaitFor([&] {
        read = c.client(i).Get("gone", opts);
        return read.ok();
      }));
      EXPECT_FALSE(read->found) << "the old value came back via node " << i;
    }
  }
  ASSERT_TRUE(WaitFor([&] {
    auto copy = c.Fetch(2, "gone");
    return copy && !copy->empty() && !copy->HasLiveValue();
  })) << "read repair never gave node 2 the tombstone";
}

std::set<std::string> Union(const std::vector<std::string>& values) {
  std::set<std::string> items;
  for (const auto& v : values) {
    for (auto part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      items.insert(std::string(part));
    }
  }
  return items;
}

// Riak's sibling explosion: two clients write the same key through two
// coordinators, each with the context its own previous write returned
// (never re-reading). Per-node version vectors keep every old value as a
// sibling; dotted version vectors keep one per client at most, and never
// the other client's latest write.
TEST(ReplicationTest, TwoCoordinatorsNeverExplodeSiblings) {
  Cluster c;
  c.StartAll(3);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  std::string a_ctx, b_ctx;
  size_t max_siblings = 0;
  for (int i = 0; i < 50; ++i) {
    auto a = c.client(0).Put("cart", "a" + std::to_string(i), a_ctx, {},
                             /*return_body=*/true);
    ASSERT_TRUE(a.ok()) << a.status();
    a_ctx = a->context;
    auto b = c.client(1).Put("cart", "b" + std::to_string(i), b_ctx, {},
                             /*return_body=*/true);
    ASSERT_TRUE(b.ok()) << b.status();
    b_ctx = b->context;
    client::CallOptions r3;
    r3.r = 3;
    auto now = c.client(2).Get("cart", r3);
    ASSERT_TRUE(now.ok()) << now.status();
    max_siblings = std::max(max_siblings, now->values.size());
  }
  EXPECT_LE(max_siblings, 2u) << "siblings exploded";
  client::CallOptions r3;
  r3.r = 3;
  auto last = c.client(2).Get("cart", r3);
  ASSERT_TRUE(last.ok());
  std::vector<std::string> values = last->values;
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<std::string>{"a49", "b49"}))
      << "each client's last write survives, and only those";
}

// The set workload: clients add unique elements to a few keys by read-
// modify-write through different coordinators, merging siblings as a set
// union. Every acknowledged element is there at the end.
TEST(ReplicationTest, SetWorkloadThroughEveryCoordinatorLosesNothing) {
  Cluster c;
  c.StartAll(3);
  ASSERT_TRUE(WaitFor([&] { return c.RingIs(Ids(c, {0, 1, 2})); }));
  constexpr int kClients = 6, kOps = 60, kKeys = 3;
  absl::Mutex mu;
  std::map<std::string, std::set<std::string>> acked;
  int failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      client::ClientOptions o;
      o.server = c.address(t % 3);
      o.routing = client::ClientOptions::Routing::kAny;
      auto cl = client::Client::Connect(o);
      ASSERT_TRUE(cl.ok());
      for (int i = 0; i < kOps; ++i) {
        std::string key = "set" + std::to_string((t + i) % kKeys);
        std::string element = absl::StrCat("c", t, "-", i);
        auto obj = (*cl)->Get(key);
        if (!obj.ok()) {
          absl::MutexLock lock(&mu);
          ++failures;
          continue;
        }
        std::set<std::string> items = Union(obj->values);
        items.insert(element);
        absl::Status s =
            (*cl)->Put(key, absl::StrJoin(items, ","), obj->context).status();
        absl::MutexLock lock(&mu);
        if (s.ok()) {
          acked[key].insert(element);
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  client::CallOptions r3;
  r3.r = 3;
  int lost = 0, total = 0;
  for (const auto& [key, elements] : acked) {
    auto obj = c.client(0).Get(key, r3);
    ASSERT_TRUE(obj.ok()) << obj.status();
    std::set<std::string> present = Union(obj->values);
    for (const std::string& e : elements) {
      ++total;
      if (!present.count(e)) ++lost;
    }
  }
  EXPECT_EQ(lost, 0) << "of " << total << " acknowledged elements";
  EXPECT_GT(total, kClients * kOps / 2) << failures << " operations failed";
}

// Riak's sibling limits: a write that would leave more siblings than
// --max-siblings is refused, naming the cap and how to resolve it.
TEST(ReplicationTest, WritesBeyondTheSiblingCapAreRefusedWithAHint) {
  Cluster c;
  c.SetTweak([](NodeOptions* o) {
    o->max_siblings = 4;
    o->warn_siblings = 2;
  });
  c.StartAll(1);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(c.client(0).Put("busy", "v" + std::to_string(i), "").ok());
  }
  auto refused = c.client(0).Put("busy", "v4", "");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("limit is 4"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("merge its siblings"),
            std::string::npos);
  auto obj = c.client(0).Get("busy");
  ASSERT_TRUE(obj.ok());
  EXPECT_EQ(obj->values.size(), 4u) << "the refused write changed nothing";
  // Resolving with the context works.
  EXPECT_TRUE(c.client(0).Put("busy", "merged", obj->context).ok());
}

}  // namespace
}  // namespace rumor::server
