// Multi-process membership tests: real kvd binaries on 127.0.0.1 with a
// 200 ms probe period. Timing-sensitive, hence the "Timing" suite names:
// every wait polls a condition against a deadline derived from the
// protocol's own timeouts.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/support/kvd_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace rumor {
namespace {

using namespace std::chrono_literals;
using testing::KvdProcess;
using testing::WaitUntil;

constexpr auto kPeriod = 200ms;
const std::vector<std::string> kFastProbes = {"--probe-interval=200ms"};

// Statuses of every member as `observer` sees them, by address.
std::map<std::string, std::string> View(KvdProcess& observer) {
  std::map<std::string, std::string> out;
  auto members = observer.client().Members();
  if (!members.ok()) return out;
  for (const auto& m : *members) out[m.address] = m.status;
  return out;
}

std::optional<client::Member> MemberAt(KvdProcess& observer,
                                       const std::string& address) {
  auto members = observer.client().Members();
  if (!members.ok()) return std::nullopt;
  for (const auto& m : *members) {
    if (m.address == address) return m;
  }
  return std::nullopt;
}

class ClusterTiming : public ::testing::Test {
 protected:
  // Starts node i (0-based); node 0 seeds the others.
  KvdProcess* StartNode(int i, std::vector<std::string> extra = {},
                        int port = 0) {
    std::vector<std::string> flags = kFastProbes;
    if (i > 0) flags.push_back("--seeds=" + nodes_[0]->address());
    flags.insert(flags.end(), extra.begin(), extra.end());
    std::string error;
    auto kvd = KvdProcess::Start(KVD_BIN, dir_.Sub("node" + std::to_string(i)),
                                 dir_.Sub("node" + std::to_string(i) + ".log"),
                                 flags, port, &error);
    EXPECT_NE(kvd, nullptr) << error;
    if (static_cast<int>(nodes_.size()) <= i) nodes_.resize(i + 1);
    nodes_[i] = std::move(kvd);
    return nodes_[i].get();
  }

  void StartCluster(int n) {
    for (int i = 0; i < n; ++i) ASSERT_NE(StartNode(i), nullptr);
  }

  // True when every live node in `observers` sees `address` as `status`.
  bool AllSee(const std::vector<int>& observers, const std::string& address,
              const std::string& status) {
    for (int i : observers) {
      auto v = View(*nodes_[i]);
      auto it = v.find(address);
      if (it == v.end() || it->second != status) return false;
    }
    return true;
  }

  std::vector<int> AllBut(int skip) {
    std::vector<int> out;
    for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
      if (i != skip) out.push_back(i);
    }
    return out;
  }

  bool AllAlive(int n) {
    for (int i = 0; i < n; ++i) {
      auto v = View(*nodes_[i]);
      if (v.size() != static_cast<size_t>(n)) return false;
      for (const auto& [addr, status] : v) {
        if (status != "alive") return false;
      }
    }
    return true;
  }

  // Ownership as node i sees it: id -> share.
  std::map<uint64_t, double> Ring(int i) {
    std::map<uint64_t, double> out;
    auto ring = nodes_[i]->client().Ring();
    if (ring.ok()) {
      for (const auto& o : ring->owners) out[o.id] = o.share;
    }
    return out;
  }

  // Each node's log, then what each live node believes about the others.
  std::string Logs() {
    std::string out;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i]) absl::StrAppend(&out, "--- node", i, "\n", nodes_[i]->Log());
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]) continue;
      auto members = nodes_[i]->client().Members();
      absl::StrAppend(&out, "--- node", i, " sees:");
      if (!members.ok()) {
        absl::StrAppend(&out, " ", members.status().ToString(), "\n");
        continue;
      }
      for (const auto& m : *members) {
        absl::StrAppend(&out, " ", m.address, "=", m.status, "/", m.incarnation,
                        "/", m.tokens, "t");
      }
      auto ring = nodes_[i]->client().Ring();
      if (ring.ok()) {
        absl::StrAppend(&out, "\n    ring of ", ring->owners.size(), ":");
        for (const auto& o : ring->owners) {
          absl::StrAppend(&out, " ", o.address, "=", o.share);
        }
      } else {
        absl::StrAppend(&out, "\n    ring: ", ring.status().ToString());
      }
      absl::StrAppend(&out, "\n");
    }
    return out;
  }

  testing::TempDir dir_;
  std::vector<std::unique_ptr<KvdProcess>> nodes_;
};

TEST_F(ClusterTiming, FiveNodesJoinThroughOneSeedWithinFiveSeconds) {
  StartCluster(5);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(5); }, 5s))
      << "not all 5 alive everywhere within 5 s\n" << Logs();
  // Every node then claims its tokens, one after another, and all compute
  // the same balanced ring.
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (int i = 0; i < 5; ++i) {
          if (Ring(i).size() != 5) return false;
        }
        return true;
      },
      20s))
      << Logs();
  ASSERT_TRUE(WaitUntil([&] { return Ring(0) == Ring(4); }, 5s));
  auto ring = nodes_[2]->client().Ring();
  ASSERT_TRUE(ring.ok());
  EXPECT_LE(ring->imbalance, 1.5);
  (void)start;
}

TEST_F(ClusterTiming, SigkilledNodeIsDeclaredDeadEverywhereAndKeepsItsRange) {
  StartCluster(5);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(5); }, 5s)) << Logs();
  ASSERT_TRUE(WaitUntil([&] { return Ring(0).size() == 5; }, 20s)) << Logs();
  auto before = Ring(0);
  std::string victim = nodes_[3]->address();
  nodes_[3]->Signal(SIGKILL);
  ASSERT_TRUE(nodes_[3]->Wait(5s).has_value());
  // The slowest path: an unconfirmed suspicion runs its maximum, 6 x 4
  // periods (log10(5) < 1), after detection; plus a few periods to spread.
  auto deadline = 24 * kPeriod + 10 * kPeriod;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return AllSee({0, 1, 2, 4}, victim, "dead"); },
                        deadline))
      << "SIGKILLed node not dead everywhere in time\n" << Logs();
  auto took = std::chrono::steady_clock::now() - t0;
  std::printf("SIGKILL -> dead everywhere in %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(took)
                      .count()));
  EXPECT_EQ(Ring(0), before) << "a dead node keeps its ranges";
}

TEST_F(ClusterTiming, ADrainingNodeReportsNotServingUntilItExits) {
  // A write held in flight keeps node 0 draining after SIGTERM: its other
  // replica is stopped (SIGSTOP, so its connection stays up and the write
  // waits for the acknowledgement until the request timeout).
  StartCluster(2);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(2); }, 10s)) << Logs();
  ASSERT_TRUE(WaitUntil([&] { return Ring(0).size() == 2; }, 20s)) << Logs();
  auto health = nodes_[0]->client().Health("rumor.v1.KV");
  ASSERT_TRUE(health.ok()) << health.status();
  ASSERT_EQ(*health, client::ServingStatus::kServing);

  nodes_[1]->Signal(SIGSTOP);
  client::ClientOptions o;
  o.server = nodes_[0]->address();
  o.routing = client::ClientOptions::Routing::kAny;
  o.timeout = absl::Seconds(20);
  auto writer = client::Client::Connect(o);
  ASSERT_TRUE(writer.ok());
  std::thread put([&] {
    client::CallOptions w2;
    w2.w = 2;
    (void)(*writer)->Put("held", "v", "", w2);  // its outcome is not the point
  });
  // However the test ends (a failed ASSERT returns early): node 1 runs
  // again and the writer thread is joined.
  absl::Cleanup resume = [&] {
    nodes_[1]->Signal(SIGCONT);
    if (put.joinable()) put.join();
  };
  // Node 0 coordinates the put (and waits for node 1) before it is told
  // to stop.
  auto puts_begun = [&] {
    auto st = nodes_[0]->client().Status();
    if (!st.ok()) return false;
    for (const auto& [name, value] : st->counters) {
      if (name == "requests_put") return value >= 1;
    }
    return false;
  };
  ASSERT_TRUE(WaitUntil(puts_begun, 10s)) << Logs();
  nodes_[0]->Signal(SIGTERM);

  // Until node 0 exits, its health checks answer NOT_SERVING once the
  // drain began (the first may race the signal), and never SERVING again.
  std::vector<client::ServingStatus> answers;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!nodes_[0]->Wait(0ms).has_value()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << Logs();
    client::CallOptions quick;
    quick.timeout = absl::Milliseconds(500);
    for (const char* service : {"", "rumor.v1.KV"}) {
      auto h = nodes_[0]->client().Health(service, quick);
      if (h.ok()) answers.push_back(*h);  // else: no longer listening
    }
    std::this_thread::sleep_for(20ms);
  }
  std::move(resume).Invoke();
  auto first = std::find(answers.begin(), answers.end(),
                         client::ServingStatus::kNotServing);
  ASSERT_NE(first, answers.end())
      << "no health check saw the drain (" << answers.size() << " answers)\n"
      << Logs();
  EXPECT_EQ(std::count(first, answers.end(), client::ServingStatus::kServing),
            0);
  EXPECT_NE(nodes_[0]->Log().find("shutting down: draining requests"),
            std::string::npos);
}

TEST_F(ClusterTiming, StoppedNodeRefutesAfterContinueAndIsNeverRemoved) {
  StartCluster(5);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(5); }, 5s)) << Logs();
  ASSERT_TRUE(WaitUntil([&] { return Ring(0).size() == 5; }, 20s)) << Logs();
  auto ring_before = Ring(0);
  std::string addr = nodes_[2]->address();
  auto before = MemberAt(*nodes_[0], addr);
  ASSERT_TRUE(before.has_value());

  nodes_[2]->Signal(SIGSTOP);
  std::set<std::string> seen;  // statuses others report during the pause
  auto pause_end = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < pause_end) {
    for (int i : {0, 1, 3, 4}) {
      auto v = View(*nodes_[i]);
      if (v.count(addr)) seen.insert(v[addr]);
    }
    std::this_thread::sleep_for(50ms);
  }
  nodes_[2]->Signal(SIGCONT);
  EXPECT_TRUE(seen.count("suspect") || seen.count("dead"))
      << "a 3 s pause should have been noticed";
  EXPECT_FALSE(seen.count("left")) << "a paused node must never be removed";

  ASSERT_TRUE(WaitUntil([&] { return AllSee({0, 1, 2, 3, 4}, addr, "alive"); },
                        5s))
      << "the node did not refute\n" << Logs();
  auto after = MemberAt(*nodes_[4], addr);
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(after->incarnation, before->incarnation) << "refuted by a bump";
  EXPECT_EQ(Ring(0), ring_before) << "ownership never changed";
}

TEST_F(ClusterTiming, GracefulLeaveIsLeftEverywhereAndGivesUpItsRanges) {
  StartCluster(5);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(5); }, 5s)) << Logs();
  ASSERT_TRUE(WaitUntil([&] { return Ring(0).size() == 5; }, 20s)) << Logs();
  std::string addr = nodes_[4]->address();
  auto leaver = MemberAt(*nodes_[0], addr);
  ASSERT_TRUE(leaver.has_value());

  testing::RunResult r = testing::Run(
      {KVCLI_BIN, "--server=" + addr, "leave"}, dir_.path(), "", 30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("left the cluster"), std::string::npos) << r.out;
  auto code = nodes_[4]->Wait(15s);
  ASSERT_TRUE(code.has_value()) << "the node did not exit after leaving";
  EXPECT_EQ(*code, 0);

  ASSERT_TRUE(WaitUntil([&] { return AllSee({0, 1, 2, 3}, addr, "left"); }, 5s))
      << Logs();
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (int i : {0, 1, 2, 3}) {
          auto ring = Ring(i);
          if (ring.size() != 4 || ring.count(leaver->id)) return false;
        }
        return true;
      },
      5s))
      << "its tokens left the ring";
}

TEST_F(ClusterTiming, RemoveTakesADeadNodeOutOfTheRingAndRefusesLiveOnes) {
  StartCluster(4);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(4); }, 5s)) << Logs();
  ASSERT_TRUE(WaitUntil([&] { return Ring(0).size() == 4; }, 20s)) << Logs();
  std::string live = nodes_[1]->address();
  testing::RunResult r = testing::Run(
      {KVCLI_BIN, "--server=" + nodes_[0]->address(), "remove", live},
      dir_.path());
  EXPECT_EQ(r.exit_code, 3) << "removing a live node is refused";
  EXPECT_NE(r.err.find("only a dead member can be removed"), std::string::npos)
      << r.err;

  std::string victim = nodes_[3]->address();
  auto id = MemberAt(*nodes_[0], victim)->id;
  nodes_[3]->Signal(SIGKILL);
  ASSERT_TRUE(WaitUntil([&] { return AllSee({0, 1, 2}, victim, "dead"); }, 10s))
      << Logs();
  r = testing::Run({KVCLI_BIN, "--server=" + nodes_[0]->address(), "remove", victim},
                   dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (int i : {0, 1, 2}) {
          if (Ring(i).count(id) || Ring(i).size() != 3) return false;
        }
        return AllSee({0, 1, 2}, victim, "left");
      },
      5s))
      << Logs();
}

TEST_F(ClusterTiming, RestartedNodeRejoinsWithHigherIncarnationAndSameTokens) {
  StartCluster(4);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(4); }, 5s)) << Logs();
  ASSERT_TRUE(WaitUntil([&] { return Ring(0).size() == 4; }, 20s)) << Logs();
  auto ring_before = Ring(0);
  std::string addr = nodes_[2]->address();
  int port = nodes_[2]->port();
  auto before = MemberAt(*nodes_[0], addr);
  nodes_[2]->Signal(SIGKILL);
  ASSERT_TRUE(nodes_[2]->Wait(5s).has_value());
  ASSERT_TRUE(WaitUntil([&] { return AllSee({0, 1, 3}, addr, "dead"); }, 10s))
      << Logs();

  ASSERT_NE(StartNode(2, {}, port), nullptr);
  ASSERT_TRUE(WaitUntil([&] { return AllSee({0, 1, 2, 3}, addr, "alive"); }, 5s))
      << Logs();
  auto after = MemberAt(*nodes_[1], addr);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->id, before->id);
  EXPECT_GT(after->incarnation, before->incarnation);
  EXPECT_EQ(after->tokens, before->tokens);
  EXPECT_EQ(Ring(3), ring_before) << "the same tokens, the same ring";
}

// --- bad input

// A node told to join a cluster it cannot reach stays up (the seed may
// come later) but serves no reads or writes: alone it would take every key
// for itself. It says why, in its log and to clients.
TEST_F(ClusterTiming, UnreachableSeedKeepsTheNodeUpButRefusingRequests) {
  std::string error;
  auto kvd = KvdProcess::Start(KVD_BIN, dir_.Sub("lonely"), dir_.Sub("lonely.log"),
                               {"--probe-interval=200ms", "--seeds=127.0.0.1:1"},
                               0, &error);
  ASSERT_NE(kvd, nullptr) << error;
  auto put = kvd->client().Put("k", "v", "");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(put.status().message().find("not joined its cluster"),
            std::string::npos)
      << put.status();
  auto members = kvd->client().Members();
  ASSERT_TRUE(members.ok()) << "admin calls are still served";
  EXPECT_EQ(members->size(), 1u);
  ASSERT_TRUE(WaitUntil([&] {
    return kvd->Log().find("no seed or remembered peer has answered") !=
           std::string::npos;
  }, 15s)) << kvd->Log();
}

TEST_F(ClusterTiming, GarbageSeedRefusesToStart) {
  testing::RunResult r = testing::Run(
      {KVD_BIN, "--listen=127.0.0.1:0", "--data-dir=" + dir_.Sub("g"),
       "--seeds=not-an-address"},
      dir_.path(), "", 20s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("seed 'not-an-address' is not host:port"),
            std::string::npos)
      << r.err;
}

TEST_F(ClusterTiming, SeedThatIsItselfIsIgnored) {
  // Find a free port, then give the node its own address as seed.
  std::string error;
  auto probe = KvdProcess::Start(KVD_BIN, dir_.Sub("probe"), dir_.Sub("probe.log"),
                                 {}, 0, &error);
  ASSERT_NE(probe, nullptr) << error;
  int port = probe->port();
  probe.reset();
  auto kvd = KvdProcess::Start(
      KVD_BIN, dir_.Sub("self"), dir_.Sub("self.log"),
      {"--probe-interval=200ms", "--seeds=127.0.0.1:" + std::to_string(port)},
      port, &error);
  ASSERT_NE(kvd, nullptr) << error;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ring = kvd->client().Ring();
        return ring.ok() && ring->owners.size() == 1;
      },
      10s))
      << "a node seeded by itself is a cluster of one\n" << kvd->Log();
}

TEST_F(ClusterTiming, NodesOfAnotherClusterAreRefused) {
  ASSERT_NE(StartNode(0), nullptr);
  std::string error;
  auto other = KvdProcess::Start(
      KVD_BIN, dir_.Sub("other"), dir_.Sub("other.log"),
      {"--probe-interval=200ms", "--cluster=elsewhere",
       "--seeds=" + nodes_[0]->address()},
      0, &error);
  ASSERT_NE(other, nullptr) << error;
  ASSERT_TRUE(WaitUntil([&] {
    return other->Log().find("cluster mismatch") != std::string::npos;
  }, 10s)) << other->Log();
  EXPECT_EQ(View(*nodes_[0]).size(), 1u) << "no foreign member was admitted";
  EXPECT_EQ(View(*other).size(), 1u);
}

TEST_F(ClusterTiming, CopiedDataDirIsRefusedAsIdCollision) {
  StartCluster(2);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(2); }, 5s)) << Logs();
  // Stop node 1 cleanly, copy its data dir, bring it back, then try to
  // start the copy.
  nodes_[1]->Signal(SIGTERM);
  ASSERT_TRUE(nodes_[1]->Wait(10s).has_value());
  std::filesystem::copy(dir_.Sub("node1"), dir_.Sub("copy"),
                        std::filesystem::copy_options::recursive);
  std::filesystem::remove(dir_.Sub("copy") + "/LOCK");
  ASSERT_NE(StartNode(1), nullptr);
  ASSERT_TRUE(WaitUntil([&] { return AllAlive(2); }, 5s)) << Logs();
  // Past the original's startup window (10 periods, at least 2 s), only the
  // copy is a newcomer: it is the one that must give up.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto st = nodes_[1]->client().Status();
        return st.ok() && st->uptime_seconds >= 3;
      },
      10s, 100ms));
  testing::RunResult r = testing::Run(
      {KVD_BIN, "--listen=127.0.0.1:0", "--data-dir=" + dir_.Sub("copy"),
       "--probe-interval=200ms", "--seeds=" + nodes_[0]->address()},
      dir_.path(), "", 30s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is already announced by " + nodes_[1]->address()),
            std::string::npos)
      << r.err;
  auto view_text = [&](int i) {
    std::string out;
    auto members = nodes_[i]->client().Members();
    if (!members.ok()) return std::string(members.status().message());
    for (const auto& m : *members) {
      absl::StrAppend(&out, m.address, "=", m.status, "/", m.incarnation, " ");
    }
    return out;
  };
  EXPECT_TRUE(AllAlive(2)) << "the original is unharmed; node0 sees "
                           << view_text(0) << "; node1 sees " << view_text(1)
                           << "\n" << Logs();
}

}  // namespace
}  // namespace rumor
