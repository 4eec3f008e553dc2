// Replication with the real binaries under failure: a write load through
// every node while one node is SIGKILLed and restarted, or SIGSTOPped for
// longer than its suspicion timeout and resumed. Every acknowledged write
// must then be readable with R=2 through every node, and, once hints are
// delivered, held by every replica on its own (each checked directly).
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "server/replication/replica_ops.h"
#include "server/rpc/replica_client.h"
#include "storage/dvv.h"
#include "tests/support/kvd_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace rumor {
namespace {

using namespace std::chrono_literals;
using testing::KvdProcess;
using testing::WaitUntil;

class ReplicationTiming : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ReplicaClientOptions o;
    o.self = 0x7e57;
    o.self_address = "127.0.0.1:1";
    fetcher_ = std::make_unique<server::ReplicaClient>(o);
  }
  void TearDown() override {
    // A failed assertion may leave the load running: end it, so its
    // threads are joined and the failure is reported (not an abort).
    StopLoad();
    fetcher_->Shutdown();
  }

  KvdProcess* Start(int i, int port = 0) {
    std::vector<std::string> flags = {"--probe-interval=200ms",
                                      "--handoff-interval=200ms",
                                      "--handoff-settle=1s"};
    if (i > 0) flags.push_back("--seeds=" + nodes_[0]->address());
    std::string error;
    auto kvd = KvdProcess::Start(KVD_BIN, dir_.Sub("node" + std::to_string(i)),
                                 dir_.Sub("node" + std::to_string(i) + ".log"),
                                 flags, port, &error);
    EXPECT_NE(kvd, nullptr) << error;
    if (static_cast<int>(nodes_.size()) <= i) nodes_.resize(i + 1);
    nodes_[i] = std::move(kvd);
    return nodes_[i].get();
  }

  std::unique_ptr<client::Client> ClientFor(int i) {
    client::ClientOptions o;
    o.server = nodes_[i]->address();
    o.routing = client::ClientOptions::Routing::kAny;  // node i coordinates
    o.timeout = absl::Seconds(5);
    return std::move(*client::Client::Connect(o));
  }

  bool ThreeInRing() {
    for (auto& n : nodes_) {
      auto ring = n->client().Ring();
      if (!ring.ok() || ring->owners.size() != 3) return false;
    }
    return true;
  }

  bool AllAlive() {
    for (auto& n : nodes_) {
      auto members = n->client().Members();
      if (!members.ok()) return false;
      int alive = 0;
      for (const auto& m : *members) alive += m.status == "alive";
      if (alive != 3) return false;
    }
    return true;
  }

  // Writes unique keys through all three nodes until `stop`; records the
  // acknowledged ones.
  void Load() {
    std::atomic<bool>* stop = &stop_;
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; ++t) {
      writers.emplace_back([this, t, stop] {
        auto c = ClientFor(t);
        for (int i = 0; i < 5000 && !stop->load(); ++i) {
          std::string key = absl::StrCat("w", t, "-", i);
          client::CallOptions o;
          o.timeout = absl::Seconds(3);
          if (c->Put(key, "v" + key, "", o).ok()) {
            absl::MutexLock lock(&mu_);
            acked_.push_back(key);
          }
          std::this_thread::sleep_for(2ms);  // a steady load, not a flood
        }
      });
    }
    loaders_ = std::move(writers);
  }
  // A counter from node i's status, or -1.
  int64_t Counter(int i, const std::string& name) {
    auto st = nodes_[i]->client().Status();
    if (!st.ok()) {
      last_error_ = st.status().ToString();
      return -1;
    }
    for (const auto& [n, v] : st->counters) {
      if (n == name) return static_cast<int64_t>(v);
    }
    return -1;
  }

  size_t Acked() {
    absl::MutexLock lock(&mu_);
    return acked_.size();
  }
  // Lets the load make progress in the current state of the cluster: waits
  // for `more` writes acknowledged from now on.
  bool AcksGrowBy(size_t more) {
    size_t target = Acked() + more;
    return WaitUntil([&] { return Acked() >= target; }, 30s, 10ms);
  }
  void StopLoad() {
    stop_ = true;
    for (auto& t : loaders_) t.join();
    loaders_.clear();
  }

  // Keys in `keys` that node i does not hold itself (or could not say).
  std::vector<std::string> MissingOn(int i, const std::vector<std::string>& keys) {
    absl::Mutex mu;
    std::vector<std::string> missing;
    size_t left = keys.size();
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (const std::string& key : keys) {
      server::ReplicaOp op;
      op.kind = server::ReplicaOp::Kind::kFetch;
      op.key = key;
      fetcher_->Call(nodes_[i]->address(), op, deadline,
                     [&, key](server::ReplicaReply r) {
                       bool ok = false;
                       if (r.status.ok() && r.found) {
                         auto d = storage::DvvSet::Decode(r.object);
                         ok = d.ok() && d->LiveValues() ==
                                            std::vector<std::string>{"v" + key};
                       }
                       absl::MutexLock lock(&mu);
                       if (!ok) missing.push_back(key);
                       --left;
                     });
    }
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](size_t* l) { return *l == 0; }, &left));
    return missing;
  }

  std::vector<std::string> AckedSoFar() {
    absl::MutexLock lock(&mu_);
    return acked_;
  }

  // Every key in `keys` reads back with R=2 through node i.
  void ExpectReadableVia(int i, const std::vector<std::string>& keys) {
    auto c = ClientFor(i);
    int wrong = 0;
    std::string example;
    for (const std::string& key : keys) {
      client::CallOptions r2;
      r2.r = 2;
      auto got = c->Get(key, r2);
      for (int retry = 0; retry < 20 && !got.ok(); ++retry) {
        std::this_thread::sleep_for(100ms);  // back-off, not a sync point
        got = c->Get(key, r2);
      }
      if (!got.ok() || got->values != std::vector<std::string>{"v" + key}) {
        if (example.empty()) {
          example = key + ": " +
                    (got.ok() ? std::to_string(got->values.size()) + " values"
                              : std::string(got.status().message()));
        }
        ++wrong;
      }
    }
    EXPECT_EQ(wrong, 0) << "of " << keys.size() << " acknowledged writes, "
                        << wrong << " not readable via node " << i
                        << ", e.g. " << example;
  }

  void CheckEveryAcknowledgedWrite() {
    std::vector<std::string> acked;
    {
      absl::MutexLock lock(&mu_);
      acked = acked_;
    }
    ASSERT_GT(acked.size(), 100u) << "the load barely ran";
    // Every replica holds every one itself once hints are delivered. This
    // comes first: the reads below repair what they find missing, which
    // would hide a handoff that never happened.
    for (int i = 0; i < 3; ++i) {
      std::vector<std::string> missing;
      bool ok = WaitUntil(
          [&] {
            missing = MissingOn(i, acked);
            return missing.empty();
          },
          60s, 500ms);
      EXPECT_TRUE(ok) << "node " << i << " still lacks " << missing.size()
                      << " of " << acked.size() << " writes, e.g. "
                      << (missing.empty() ? "" : missing[0]) << "\n"
                      << nodes_[i]->Log().substr(0, 4000);
    }
    // And readable with R=2 through every node.
    for (int i = 0; i < 3; ++i) ExpectReadableVia(i, acked);
    std::printf("%zu acknowledged writes checked on every node\n",
                acked.size());
  }

  testing::TempDir dir_;
  std::vector<std::unique_ptr<KvdProcess>> nodes_;
  std::unique_ptr<server::ReplicaClient> fetcher_;
  absl::Mutex mu_;
  std::vector<std::string> acked_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> loaders_;
  std::atomic<bool> stop_{false};
  std::string last_error_;  // of the last failed Counter
};

TEST_F(ReplicationTiming, SigkilledAndRestartedNodeEndsWithEveryAcknowledgedWrite) {
  for (int i = 0; i < 3; ++i) ASSERT_NE(Start(i), nullptr);
  ASSERT_TRUE(WaitUntil([&] { return ThreeInRing(); }, 20s));
  Load();
  ASSERT_TRUE(AcksGrowBy(300)) << "no load before the kill";
  int64_t epoch = Counter(2, "actor_epoch");
  ASSERT_GE(epoch, 1);
  int port = nodes_[2]->port();
  nodes_[2]->Signal(SIGKILL);
  ASSERT_TRUE(nodes_[2]->Wait(10s).has_value());
  ASSERT_TRUE(AcksGrowBy(600)) << "writes stopped with one replica down";
  // Readable with R=2 while the replica is down (reads that involve only
  // the two survivors, so no repair reaches the dead node's copy).
  for (int i = 0; i < 2; ++i) ExpectReadableVia(i, AckedSoFar());
  ASSERT_NE(Start(2, port), nullptr);
  // Killed, it could not record a clean shutdown: it may have lost writes
  // it acknowledged (without --sync), so it mints under a new actor (kv679).
  int64_t restarted_epoch = -1;
  ASSERT_TRUE(WaitUntil([&] {
    return (restarted_epoch = Counter(2, "actor_epoch")) >= 0;
  }, 20s)) << last_error_ << "\n" << nodes_[2]->Log().substr(0, 6000);
  EXPECT_EQ(restarted_epoch, epoch + 1);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(); }, 20s));
  ASSERT_TRUE(AcksGrowBy(300)) << "no load after the restart";
  StopLoad();
  CheckEveryAcknowledgedWrite();
}

TEST_F(ReplicationTiming, NodeStoppedPastItsSuspicionTimeoutEndsWithEveryWrite) {
  for (int i = 0; i < 3; ++i) ASSERT_NE(Start(i), nullptr);
  ASSERT_TRUE(WaitUntil([&] { return ThreeInRing(); }, 20s));
  Load();
  ASSERT_TRUE(AcksGrowBy(300)) << "no load before the stop";
  nodes_[2]->Signal(SIGSTOP);
  // Declared dead by the others (suspicion timeout: at most 6 x 4 periods
  // of 200 ms here).
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto members = nodes_[0]->client().Members();
        if (!members.ok()) return false;
        for (const auto& m : *members) {
          if (m.address == nodes_[2]->address()) return m.status == "dead";
        }
        return false;
      },
      20s));
  ASSERT_TRUE(AcksGrowBy(300)) << "writes stopped with a replica dead";
  for (int i = 0; i < 2; ++i) ExpectReadableVia(i, AckedSoFar());
  nodes_[2]->Signal(SIGCONT);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(); }, 20s));
  ASSERT_TRUE(AcksGrowBy(300)) << "no load after SIGCONT";
  StopLoad();
  CheckEveryAcknowledgedWrite();
}

}  // namespace
}  // namespace rumor
