#include "server/antientropy/governor.h"

#include "gtest/gtest.h"

namespace rumor::server {
namespace {

// Simulated clients and clock: Run advances both, as if clients finished
// `per_second` requests a second, each taking `latency`.
class Sim {
 public:
  absl::Time now() const { return now_; }
  ForegroundSample sample() const { return sample_; }
  void Run(absl::Duration d, uint64_t per_second, absl::Duration latency) {
    uint64_t ops = static_cast<uint64_t>(absl::ToDoubleSeconds(d) * per_second);
    sample_.ops += ops;
    sample_.latency_us +=
        ops * static_cast<uint64_t>(absl::ToInt64Microseconds(latency));
    now_ += d;
  }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1000);
  ForegroundSample sample_;
};

GovernorOptions Options() {
  GovernorOptions o;
  o.tolerance = 0.1;
  o.min_share = 1.0 / 16;
  o.step = 1.0 / 8;
  o.window = absl::Milliseconds(500);
  o.min_ops = 50;
  o.probe_every = absl::Seconds(20);
  o.probe = absl::Seconds(1);
  return o;
}

// Works through `d` in steps of 100 ms with clients at `latency`, taking
// any probe the governor asks for (clients at `idle_latency` during it).
// Returns the probes taken.
int Work(RepairGovernor& g, Sim& sim, absl::Duration d, absl::Duration latency,
         absl::Duration idle_latency, uint64_t per_second = 1000) {
  int probes = 0;
  absl::Time end = sim.now() + d;
  while (sim.now() < end) {
    absl::Duration probe = g.Working(sim.now(), sim.sample());
    if (probe > absl::ZeroDuration()) {
      ++probes;
      sim.Run(probe, per_second, idle_latency);
      g.Probed(sim.now(), sim.sample());
      continue;
    }
    sim.Run(absl::Milliseconds(100), per_second, latency);
  }
  return probes;
}

TEST(RepairGovernorTest, BaselineFromTheIdleTimeBetweenStretchesOfWork) {
  RepairGovernor g(Options());
  Sim sim;
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Seconds(5), 1000, absl::Milliseconds(2));
  g.Started(sim.now(), sim.sample());
  EXPECT_EQ(g.baseline(), absl::Milliseconds(2));
  // Within the tolerance: no probe needed, the share stays whole.
  EXPECT_EQ(Work(g, sim, absl::Seconds(5), absl::Microseconds(2150),
                 absl::Milliseconds(2)),
            0);
  EXPECT_EQ(g.share(), 1.0);
  EXPECT_EQ(g.decreases(), 0u);
  EXPECT_EQ(g.recent(), absl::Microseconds(2150));
}

TEST(RepairGovernorTest, LatencyRiseHalvesTheShareDownToTheFloor) {
  RepairGovernor g(Options());
  Sim sim;
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Seconds(5), 1000, absl::Milliseconds(2));
  g.Started(sim.now(), sim.sample());
  Work(g, sim, absl::Seconds(10), absl::Milliseconds(3), absl::Milliseconds(2));
  EXPECT_EQ(g.share(), 1.0 / 16);  // never below the floor
  EXPECT_GE(g.decreases(), 4u);
  // Clients back at their baseline: the share grows back.
  Work(g, sim, absl::Seconds(5), absl::Milliseconds(2), absl::Milliseconds(2));
  EXPECT_EQ(g.share(), 1.0);
}

TEST(RepairGovernorTest, ShortPausesBetweenStepsAreOneStretchOfWork) {
  RepairGovernor g(Options());
  Sim sim;
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Seconds(5), 1000, absl::Milliseconds(2));
  // Steps of a tree check, in the runner's order: work starts, 100 ms of
  // it, the paced step, back to the loop for a moment. The windows still
  // close and the rise is still seen.
  for (int i = 0; i < 30; ++i) {
    g.Started(sim.now(), sim.sample());
    sim.Run(absl::Milliseconds(100), 1000, absl::Milliseconds(3));
    EXPECT_EQ(g.Working(sim.now(), sim.sample()), absl::ZeroDuration());
    g.Stopped(sim.now(), sim.sample());
    sim.Run(absl::Milliseconds(1), 1000, absl::Milliseconds(3));
  }
  EXPECT_EQ(g.baseline(), absl::Milliseconds(2));
  EXPECT_EQ(g.share(), 1.0 / 16);
  // A second Stopped while idle keeps the idle time's start.
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Seconds(1), 1000, absl::Milliseconds(5));
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Milliseconds(100), 1000, absl::Milliseconds(5));
  g.Started(sim.now(), sim.sample());
  EXPECT_NEAR(absl::ToDoubleMilliseconds(g.baseline()), 5, 0.5);
}

TEST(RepairGovernorTest, ALongIdleIsNoBaselineAProbeMeasuresIt) {
  RepairGovernor g(Options());
  Sim sim;
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Minutes(5), 1000, absl::Milliseconds(1));  // another load
  g.Started(sim.now(), sim.sample());
  EXPECT_EQ(g.baseline(), absl::ZeroDuration());
  absl::Duration probe = g.Working(sim.now(), sim.sample());
  EXPECT_EQ(probe, absl::Seconds(1));
  sim.Run(probe, 1000, absl::Milliseconds(3));
  g.Probed(sim.now(), sim.sample());
  EXPECT_EQ(g.baseline(), absl::Milliseconds(3));
}

TEST(RepairGovernorTest, SkippedTimeIsNeitherCostNorBaseline) {
  RepairGovernor g(Options());
  Sim sim;
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Seconds(5), 1000, absl::Milliseconds(2));
  g.Started(sim.now(), sim.sample());
  sim.Run(absl::Milliseconds(300), 1000, absl::Milliseconds(3));
  // Held by an operator for 5 s, clients fast meanwhile; then 3 ms again.
  sim.Run(absl::Seconds(5), 1000, absl::Milliseconds(1));
  g.Skip(sim.now(), sim.sample());
  sim.Run(absl::Milliseconds(600), 1000, absl::Milliseconds(3));
  EXPECT_EQ(g.Working(sim.now(), sim.sample()), absl::ZeroDuration());
  EXPECT_EQ(g.recent(), absl::Milliseconds(3));  // the skipped time is out
  EXPECT_EQ(g.decreases(), 1u);
  EXPECT_EQ(g.baseline(), absl::Milliseconds(2));
}

TEST(RepairGovernorTest, AProbeOfALightLoadIsNotRepeatedAtOnce) {
  GovernorOptions o = Options();
  RepairGovernor g(o);
  Sim sim;
  g.Started(sim.now(), sim.sample());
  // 30 requests a second: a 1 s probe sees 30 (< min_ops 50), but a
  // window stretched by long pacing pauses (2 s) sees 60.
  int probes = 0;
  for (int i = 0; i < 20; ++i) {
    absl::Duration probe = g.Working(sim.now(), sim.sample());
    if (probe > absl::ZeroDuration()) {
      ++probes;
      sim.Run(probe, 30, absl::Milliseconds(5));
      g.Probed(sim.now(), sim.sample());
    }
    sim.Run(absl::Seconds(2), 30, absl::Milliseconds(5));
  }
  // 40 s: the first probe at once, then at most one per 5 s (a quarter of
  // probe_every) rather than one per window.
  EXPECT_GE(probes, 2);
  EXPECT_LE(probes, 9);
}

TEST(RepairGovernorTest, NonsenseOptionsAreMadeSafe) {
  GovernorOptions o = Options();
  o.min_share = 0;
  o.window = absl::ZeroDuration();
  RepairGovernor g(o);
  Sim sim;
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Seconds(5), 1000, absl::Milliseconds(2));
  g.Started(sim.now(), sim.sample());
  for (int i = 0; i < 200; ++i) {
    sim.Run(absl::Milliseconds(10), 1000, absl::Milliseconds(3));
    g.Working(sim.now(), sim.sample());
  }
  EXPECT_GT(g.share(), 0);  // never zero: repair always moves
  EXPECT_GE(g.share(), 1.0 / 1024);
}

TEST(RepairGovernorTest, NoClientsNoBackOff) {
  RepairGovernor g(Options());
  Sim sim;
  g.Started(sim.now(), sim.sample());
  // Nothing to compare with at first: a probe, which finds no clients.
  EXPECT_EQ(Work(g, sim, absl::Seconds(10), absl::Milliseconds(50),
                 absl::Milliseconds(50), /*per_second=*/0),
            1);
  EXPECT_EQ(g.baseline(), absl::ZeroDuration());
  EXPECT_EQ(g.share(), 1.0);
  EXPECT_EQ(g.decreases(), 0u);
}

TEST(RepairGovernorTest, ProbesWithoutABaselineAndThenPeriodically) {
  RepairGovernor g(Options());
  Sim sim;
  // Repair starts at once (a node restarted onto a wiped disk): no idle
  // time to measure, so the first step is a probe.
  g.Started(sim.now(), sim.sample());
  absl::Duration probe = g.Working(sim.now(), sim.sample());
  EXPECT_EQ(probe, absl::Seconds(1));
  sim.Run(probe, 1000, absl::Milliseconds(4));
  g.Probed(sim.now(), sim.sample());
  EXPECT_EQ(g.baseline(), absl::Milliseconds(4));
  // A long stretch of work: one probe per probe_every.
  EXPECT_EQ(Work(g, sim, absl::Seconds(65), absl::Milliseconds(4),
                 absl::Milliseconds(4)),
            3);
  EXPECT_EQ(g.probes(), 4u);
}

TEST(RepairGovernorTest, AProbeFollowsTheClientsOwnLoad) {
  RepairGovernor g(Options());
  Sim sim;
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Seconds(5), 1000, absl::Milliseconds(2));
  g.Started(sim.now(), sim.sample());
  // The clients double their load during the repair: latency doubles
  // with or without it. The share drops, until the next probe measures
  // the new baseline; then it grows back.
  Work(g, sim, absl::Seconds(5), absl::Milliseconds(4), absl::Milliseconds(4));
  EXPECT_LT(g.share(), 0.5);
  Work(g, sim, absl::Seconds(25), absl::Milliseconds(4), absl::Milliseconds(4));
  EXPECT_EQ(g.baseline(), absl::Milliseconds(4));
  EXPECT_EQ(g.share(), 1.0);
}

TEST(RepairGovernorTest, FewRequestsOrCountersGoingBackAreNoSignal) {
  RepairGovernor g(Options());
  Sim sim;
  g.Stopped(sim.now(), sim.sample());
  sim.Run(absl::Seconds(5), 1000, absl::Milliseconds(2));
  g.Started(sim.now(), sim.sample());
  // 40 requests a second: 20 per window, under min_ops, however slow.
  Work(g, sim, absl::Seconds(5), absl::Milliseconds(40), absl::Milliseconds(2),
       /*per_second=*/40);
  EXPECT_EQ(g.share(), 1.0);
  EXPECT_EQ(g.decreases(), 0u);
  // A source that restarted from zero.
  g.Working(sim.now() + absl::Seconds(1), ForegroundSample{});
  EXPECT_EQ(g.share(), 1.0);
  EXPECT_EQ(g.decreases(), 0u);
}

}  // namespace
}  // namespace rumor::server
