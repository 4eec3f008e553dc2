// The membership protocol's targets, checked in the deterministic
// simulator with fixed seeds (a failure reproduces exactly from its seed).
#include "tests/sim/swim_sim.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace rumor::sim {
namespace {

SimOptions Options(int n, uint64_t seed) {
  SimOptions o;
  o.nodes = n;
  o.seed = seed;
  o.tokens_per_node = 64;
  o.base.probe_interval = absl::Seconds(1);  // times below are in periods
  o.base.probe_timeout = absl::Milliseconds(400);
  return o;
}

double Periods(absl::Duration d) { return absl::ToDoubleSeconds(d); }

class SimSizes : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(N, SimSizes, ::testing::Values(16, 64, 256));

TEST_P(SimSizes, NewMemberReachesEveryNodeWithin3Log2NPeriods) {
  const int n = GetParam();
  Simulation sim(Options(n, 11));
  sim.BootstrapConverged();
  sim.RunFor(absl::Seconds(5));
  for (int trial = 0; trial < 3; ++trial) {
    absl::Time t0 = sim.now();
    int joiner = sim.AddNode(trial % n);
    sim.Watch(joiner);
    ASSERT_TRUE(sim.RunUntilTrue(
        [&] { return sim.AllSee(joiner, MemberStatus::kAlive); },
        absl::Seconds(100)));
    double took = Periods(sim.now() - t0);
    EXPECT_LE(took, 3 * std::log2(n)) << "join " << trial;
  }
}

TEST_P(SimSizes, CrashIsFirstDetectedWithinTwoPeriodsOnAverage) {
  const int n = GetParam();
  Simulation sim(Options(n, 12));
  sim.BootstrapConverged();
  sim.RunFor(absl::Seconds(5));
  const int trials = n <= 64 ? 12 : 8;
  double sum = 0;
  for (int t = 0; t < trials; ++t) {
    int victim = (t * 7919) % n;
    NodeId vid = sim.id(victim);
    absl::Time first = absl::InfiniteFuture();
    sim.SetObserver([&](int, NodeId subject, MemberStatus st, absl::Time at) {
      if (subject == vid && st != MemberStatus::kAlive) first = std::min(first, at);
    });
    sim.Watch(victim);
    sim.RunFor(absl::Milliseconds(137 * t % 1000));  // crash mid-period
    absl::Time t0 = sim.now();
    sim.Crash(victim);
    ASSERT_TRUE(sim.RunUntilTrue(
        [&] { return sim.AllSee(victim, MemberStatus::kDead); },
        absl::Seconds(300)))
        << "crash " << t << " never known everywhere";
    sum += Periods(first - t0);
    sim.SetObserver(nullptr);
  }
  EXPECT_LT(sum / trials, 2.0) << "mean first detection, in periods";
}

TEST(SimTest, MessagesPerNodePerPeriodAreFlatInN) {
  std::vector<double> rates;
  for (int n : {16, 64, 256}) {
    Simulation sim(Options(n, 13));
    sim.BootstrapConverged();
    sim.RunFor(absl::Seconds(5));
    uint64_t m0 = sim.messages_sent();
    sim.RunFor(absl::Seconds(60));
    rates.push_back(double(sim.messages_sent() - m0) / n / 60);
  }
  for (double r : rates) {
    EXPECT_NEAR(r, rates[0], 0.2 * rates[0]) << "messages/node/period";
    EXPECT_LT(r, 3.0);
  }
}

// Healthy (neither crashed nor slowed) nodes declared Dead over `periods`
// with `loss` and 10% of the nodes slowed.
int HealthyDeclaredDead(int n, bool lifeguard, int periods, uint64_t seed) {
  SimOptions o = Options(n, seed);
  o.loss = 0.10;
  o.slow_fraction = 0.10;
  o.base.lifeguard = lifeguard;
  o.base.refute_on_contact = lifeguard;
  Simulation sim(o);
  sim.BootstrapConverged();
  std::set<NodeId> declared;
  sim.SetDeadHook([&](NodeId id) { declared.insert(id); });
  sim.RunFor(absl::Seconds(periods));
  int healthy = 0;
  for (int i = 0; i < sim.size(); ++i) {
    if (!sim.slow(i) && declared.count(sim.id(i))) ++healthy;
  }
  return healthy;
}

TEST(SimTest, LifeguardDeclaresNoHealthyNodeDeadAt10PercentLoss) {
  EXPECT_EQ(HealthyDeclaredDead(16, true, 1000, 21), 0);
  EXPECT_EQ(HealthyDeclaredDead(64, true, 1000, 22), 0);
  EXPECT_EQ(HealthyDeclaredDead(256, true, 300, 23), 0);
}

TEST(SimTest, PlainSwimDoesDeclareHealthyNodesDeadUnderTheSameConditions) {
  // The comparison is the point: without Lifeguard the slowed nodes'
  // late view gets healthy ones killed.
  EXPECT_GT(HealthyDeclaredDead(16, false, 1000, 21), 0);
  EXPECT_GT(HealthyDeclaredDead(64, false, 1000, 22), 0);
}

TEST(SimTest, SameSeedSameRun) {
  auto run = [](uint64_t seed) {
    SimOptions o = Options(64, seed);
    o.loss = 0.05;
    Simulation sim(o);
    sim.BootstrapConverged();
    sim.Crash(3);
    sim.RunFor(absl::Seconds(100));
    std::vector<uint64_t> out = {sim.messages_sent(), sim.bytes_sent(),
                                 sim.messages_dropped()};
    for (int i = 0; i < sim.size(); ++i) {
      out.push_back(sim.node(i).incarnation());
      out.push_back(sim.node(i).stats().suspicions_raised);
    }
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(SimTest, PartitionedHalvesRejoinAfterHealing) {
  Simulation sim(Options(32, 31));
  sim.BootstrapConverged();
  std::set<int> a, b;
  for (int i = 0; i < 32; ++i) (i < 16 ? a : b).insert(i);
  sim.Partition(a, b);
  sim.Partition(b, a);
  sim.RunFor(absl::Seconds(120));  // long enough for both sides to give up
  ASSERT_TRUE(sim.Sees(0, 20, MemberStatus::kDead)) << "the sides split";
  ASSERT_TRUE(sim.Sees(20, 0, MemberStatus::kDead));
  sim.Heal();
  // Refutations and push-pull bring everyone back.
  ASSERT_TRUE(sim.RunUntilTrue(
      [&] {
        for (int i = 0; i < 32; ++i) {
          for (int j = 0; j < 32; ++j) {
            if (i != j && !sim.Sees(i, j, MemberStatus::kAlive)) return false;
          }
        }
        return true;
      },
      absl::Seconds(200)));
}

TEST(SimTest, AsymmetricPartitionDoesNotKillTheCutOffNode) {
  // Node 5 cannot reach node 9 (only that direction). Everyone else still
  // hears both; indirect probes route around the cut.
  Simulation sim(Options(16, 32));
  sim.BootstrapConverged();
  sim.Partition({5}, {9});
  std::set<NodeId> declared;
  sim.SetDeadHook([&](NodeId id) { declared.insert(id); });
  sim.RunFor(absl::Seconds(300));
  EXPECT_TRUE(declared.empty());
}

TEST(SimTest, PausedNodeRefutesAndRecovers) {
  Simulation sim(Options(16, 33));
  sim.BootstrapConverged();
  sim.RunFor(absl::Seconds(5));
  uint64_t before = sim.node(4).incarnation();
  sim.Watch(4);
  sim.Pause(4, absl::Seconds(8));
  sim.RunFor(absl::Seconds(8));
  ASSERT_TRUE(sim.RunUntilTrue(
      [&] { return sim.AllSee(4, MemberStatus::kAlive); }, absl::Seconds(30)));
  EXPECT_GT(sim.node(4).incarnation(), before) << "it refuted";
}

TEST(SimTest, RestartedNodeRejoinsWithHigherIncarnation) {
  Simulation sim(Options(16, 34));
  sim.BootstrapConverged();
  sim.Watch(6);
  sim.Crash(6);
  ASSERT_TRUE(sim.RunUntilTrue([&] { return sim.AllSee(6, MemberStatus::kDead); },
                               absl::Seconds(120)));
  sim.Restart(6, 0);
  ASSERT_TRUE(sim.RunUntilTrue([&] { return sim.AllSee(6, MemberStatus::kAlive); },
                               absl::Seconds(60)));
}

}  // namespace
}  // namespace rumor::sim

namespace rumor::sim {
namespace {

// Churn: 10% of a 64-node cluster is replaced every 20 minutes for 4
// simulated hours; an operator removes each crashed node 5 minutes later,
// and departed members are forgotten 30 minutes after they left. Members
// held and push-pull bytes must stay flat, and every replaced node is
// eventually forgotten everywhere (the transport link with it).
TEST(SimChurn, MembersAndPushPullBytesStayFlatUnderReplacement) {
  constexpr int kNodes = 64, kReplace = 6, kIntervals = 12;
  const absl::Duration every = absl::Minutes(20);
  SimOptions o = Options(kNodes, 21);
  o.base.forget_departed_after = absl::Minutes(30);
  Simulation sim(o);
  sim.BootstrapConverged();
  std::mt19937_64 rng(5);
  std::vector<int> live;
  for (int i = 0; i < kNodes; ++i) live.push_back(i);
  std::vector<std::pair<absl::Time, NodeId>> to_remove;
  std::vector<NodeId> first_batch;
  std::vector<size_t> max_members, max_links, max_other;
  std::vector<double> push_pull;
  for (int k = 0; k < kIntervals; ++k) {
    uint64_t pp0 = sim.push_pull_bytes_sent();
    std::shuffle(live.begin(), live.end(), rng);
    for (int r = 0; r < kReplace; ++r) {
      int victim = live.back();
      live.pop_back();
      sim.Crash(victim);
      if (k == 0) first_batch.push_back(sim.id(victim));
      to_remove.push_back({sim.now() + absl::Minutes(5), sim.id(victim)});
      live.push_back(sim.AddNode(live[rng() % live.size()]));
    }
    absl::Time end = sim.now() + every;
    while (sim.now() < end) {
      sim.RunFor(absl::Minutes(1));
      for (auto it = to_remove.begin(); it != to_remove.end();) {
        if (it->first > sim.now()) {
          ++it;
          continue;
        }
        ASSERT_TRUE(sim.node(live[0]).Remove(it->second, sim.now()).ok())
            << "the crashed node should be dead everywhere after 5 minutes";
        it = to_remove.erase(it);
      }
    }
    size_t most = 0, links = 0, other = 0;
    for (int i : live) {
      most = std::max(most, sim.node(i).NumMembers());
      links = std::max(links, sim.Links(i));
      Membership::Footprint f = sim.node(i).footprint();
      other = std::max(other, f.ghosts + f.pull_limits + f.awaiting +
                                  f.probe_order + f.broadcasts);
    }
    max_members.push_back(most);
    max_links.push_back(links);
    max_other.push_back(other);
    push_pull.push_back(double(sim.push_pull_bytes_sent() - pp0) / kNodes /
                        absl::ToDoubleSeconds(every));
  }
  // Departed members are held at most forget time + removal delay + one
  // interval: 64 live plus three batches.
  for (int k = 0; k < kIntervals; ++k) {
    EXPECT_LE(max_members[k], size_t{kNodes + 3 * kReplace}) << "interval " << k;
  }
  // Flat: the last hour holds no more than the second hour.
  for (int k = kIntervals - 3; k < kIntervals; ++k) {
    EXPECT_LE(max_members[k], max_members[3] + 1) << "interval " << k;
    EXPECT_LE(push_pull[k], 1.25 * push_pull[3]) << "interval " << k;
    // Links to forgotten members are dropped; ghost records, pull limits
    // and the rest expire too.
    EXPECT_LE(max_links[k], max_links[3] + 2) << "interval " << k;
    EXPECT_LE(max_other[k], max_other[3] + 2 * kReplace) << "interval " << k;
  }
  for (int i : live) {
    for (NodeId id : first_batch) {
      EXPECT_EQ(sim.node(i).Find(id), nullptr)
          << "node " << i << " still holds a member replaced hours ago";
    }
  }
}

}  // namespace
}  // namespace rumor::sim
