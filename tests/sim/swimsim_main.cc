// swimsim: runs the real membership code for many nodes on a simulated
// clock and network and prints the numbers docs/membership.md reports.
//
//   swimsim [--sizes=16,64,256,1024] [--seed=1] [--periods=1000] [--trials=5]
//           [--csv=FILE] [--no-false-positives]
//
// Times are in probe periods (the simulated probe interval is 1 s).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "tests/sim/swim_sim.h"

namespace rumor::sim {
namespace {

struct FalsePositives {
  int healthy_declared_dead = 0;  // distinct nodes neither crashed nor slowed
  int slow_declared_dead = 0;     // distinct slowed nodes
  uint64_t suspicions = 0;        // suspicions raised by probing, all nodes
};

struct Row {
  int n = 0;
  double join_mean = 0, join_max = 0;            // join -> all know Alive
  double detect_mean = 0, detect_max = 0;        // crash -> first suspicion
  double dead_first_mean = 0;                    // crash -> first Dead
  double dead_spread_mean = 0, dead_spread_max = 0;  // first Dead -> all
  double dead_all_mean = 0;                      // crash -> all know Dead
  double msgs_per_node = 0, bytes_per_node = 0;  // per period, steady state
  double push_pull_share = 0;                    // of those bytes
  // False positives: healthy nodes ever declared Dead / suspicions raised,
  // for each (loss, lifeguard) combination.
  std::map<std::pair<int, bool>, FalsePositives> fp;
  double wall_seconds = 0;
};

double Periods(absl::Duration d) { return absl::ToDoubleSeconds(d); }

SimOptions BaseOptions(int n, uint64_t seed) {
  SimOptions o;
  o.nodes = n;
  o.seed = seed;
  o.tokens_per_node = 64;
  o.base.probe_interval = absl::Seconds(1);
  o.base.probe_timeout = absl::Milliseconds(400);
  return o;
}

void MeasureDissemination(int n, uint64_t seed, int trials, Row* row) {
  Simulation sim(BaseOptions(n, seed));
  sim.BootstrapConverged();
  sim.RunFor(absl::Seconds(5));  // settle
  // Steady-state traffic.
  uint64_t m0 = sim.messages_sent(), b0 = sim.bytes_sent(),
           p0 = sim.push_pull_bytes_sent();
  const int window = 20;
  sim.RunFor(absl::Seconds(window));
  row->msgs_per_node = double(sim.messages_sent() - m0) / n / window;
  row->bytes_per_node = double(sim.bytes_sent() - b0) / n / window;
  row->push_pull_share = double(sim.push_pull_bytes_sent() - p0) /
                         std::max<double>(1.0, sim.bytes_sent() - b0);

  std::mt19937_64 rng(seed * 7 + 1);
  std::vector<double> joins;
  for (int t = 0; t < trials; ++t) {
    int seed_node = static_cast<int>(rng() % sim.size());
    while (sim.crashed(seed_node)) seed_node = static_cast<int>(rng() % sim.size());
    absl::Time t0 = sim.now();
    int idx = sim.AddNode(seed_node);
    sim.Watch(idx);
    if (!sim.RunUntilTrue([&] { return sim.AllSee(idx, MemberStatus::kAlive); },
                          absl::Seconds(200))) {
      std::fprintf(stderr, "swimsim: N=%d join %d did not converge\n", n, t);
    }
    joins.push_back(Periods(sim.now() - t0));
    sim.RunFor(absl::Seconds(3));
  }

  std::vector<double> detect, first_dead, spread, all_dead;
  for (int t = 0; t < trials; ++t) {
    int victim = static_cast<int>(rng() % n);
    while (sim.crashed(victim)) victim = static_cast<int>(rng() % n);
    NodeId vid = sim.id(victim);
    absl::Time first_suspect = absl::InfiniteFuture();
    absl::Time first_dead_at = absl::InfiniteFuture();
    sim.SetObserver([&](int, NodeId subject, MemberStatus st, absl::Time at) {
      if (subject != vid) return;
      if (st == MemberStatus::kSuspect || st == MemberStatus::kDead) {
        first_suspect = std::min(first_suspect, at);
      }
      if (st == MemberStatus::kDead) first_dead_at = std::min(first_dead_at, at);
    });
    sim.Watch(victim);
    // Crash at a random point within a period.
    std::uniform_int_distribution<int64_t> off(0, 999999);
    sim.RunFor(absl::Microseconds(off(rng)));
    absl::Time t0 = sim.now();
    sim.Crash(victim);
    if (!sim.RunUntilTrue([&] { return sim.AllSee(victim, MemberStatus::kDead); },
                          absl::Seconds(600))) {
      std::fprintf(stderr, "swimsim: N=%d crash %d not known everywhere\n", n, t);
    }
    detect.push_back(Periods(first_suspect - t0));
    first_dead.push_back(Periods(first_dead_at - t0));
    spread.push_back(Periods(sim.now() - first_dead_at));
    all_dead.push_back(Periods(sim.now() - t0));
    sim.SetObserver(nullptr);
    // Bring it back so the cluster keeps its size for the next trial.
    int seed_node = (victim + 1) % n;
    while (sim.crashed(seed_node)) seed_node = (seed_node + 1) % n;
    sim.Restart(victim, seed_node);
    sim.RunUntilTrue([&] { return sim.AllSee(victim, MemberStatus::kAlive); },
                     absl::Seconds(120));
    sim.RunFor(absl::Seconds(3));
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / v.size();
  };
  auto max = [](const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, x);
    return m;
  };
  row->join_mean = mean(joins);
  row->join_max = max(joins);
  row->detect_mean = mean(detect);
  row->detect_max = max(detect);
  row->dead_first_mean = mean(first_dead);
  row->dead_spread_mean = mean(spread);
  row->dead_spread_max = max(spread);
  row->dead_all_mean = mean(all_dead);
}


// Over `periods` with message loss and 10% of the nodes slowed: which live
// nodes were ever declared Dead, and how many suspicions were raised.
FalsePositives MeasureFalsePositives(int n, uint64_t seed, double loss,
                                     bool lifeguard, int periods) {
  SimOptions o = BaseOptions(n, seed);
  o.loss = loss;
  o.slow_fraction = 0.10;
  o.base.lifeguard = lifeguard;
  o.base.refute_on_contact = lifeguard;  // the baseline is SWIM as published
  Simulation sim(o);
  sim.BootstrapConverged();
  std::set<NodeId> declared;
  sim.SetDeadHook([&](NodeId subject) { declared.insert(subject); });
  sim.RunFor(absl::Seconds(periods));
  FalsePositives fp;
  for (int i = 0; i < sim.size(); ++i) {
    fp.suspicions += sim.node(i).stats().suspicions_raised;
    if (declared.count(sim.id(i))) {
      ++(sim.slow(i) ? fp.slow_declared_dead : fp.healthy_declared_dead);
    }
  }
  return fp;
}

// Churn: every `every`, `fraction` of the cluster crashes and as many new
// nodes join; an operator removes each crashed node `remove_after` later
// (it owns ring tokens, so it is kept until removed). Departed members are
// forgotten `forget_after` after they left. Reports, per interval, the
// members each live node holds and the push-pull bytes per node per
// period: both must stay flat.
struct ChurnRow {
  double hour = 0;
  double members_mean = 0;
  size_t members_max = 0;
  double push_pull_bytes = 0;  // per live node per period, this interval
  double bytes = 0;            // all membership bytes, same unit
  uint64_t forgotten = 0;      // members forgotten, all nodes, cumulative
  // Per live node, mean: everything else the core keeps, and the links
  // its transport keeps.
  double ghosts = 0, pull_limits = 0, probe_order = 0, links = 0;
};

std::vector<ChurnRow> MeasureChurn(int n, uint64_t seed, int intervals,
                                   absl::Duration every, double fraction,
                                   absl::Duration remove_after,
                                   absl::Duration forget_after) {
  SimOptions o = BaseOptions(n, seed);
  o.base.forget_departed_after = forget_after;
  Simulation sim(o);
  sim.BootstrapConverged();
  std::mt19937_64 rng(seed * 31 + 7);
  std::vector<int> live;
  for (int i = 0; i < n; ++i) live.push_back(i);
  std::vector<std::pair<absl::Time, NodeId>> to_remove;
  std::vector<ChurnRow> rows;
  const int replace = std::max(1, static_cast<int>(n * fraction));
  for (int k = 0; k < intervals; ++k) {
    uint64_t pp0 = sim.push_pull_bytes_sent(), b0 = sim.bytes_sent();
    absl::Time start = sim.now();
    std::shuffle(live.begin(), live.end(), rng);
    for (int r = 0; r < replace; ++r) {
      int victim = live.back();
      live.pop_back();
      sim.Crash(victim);
      to_remove.push_back({sim.now() + remove_after, sim.id(victim)});
      int joined = sim.AddNode(live[rng() % live.size()]);
      live.push_back(joined);
    }
    // Run the interval in steps, removing crashed nodes when due.
    absl::Time end = start + every;
    while (sim.now() < end) {
      sim.RunFor(std::min(absl::Minutes(1), end - sim.now()));
      for (auto it = to_remove.begin(); it != to_remove.end();) {
        if (it->first > sim.now()) {
          ++it;
          continue;
        }
        // The operator asks any live node; only a Dead member can go.
        IgnoreError(sim.node(live[0]).Remove(it->second, sim.now()));
        it = to_remove.erase(it);
      }
    }
    ChurnRow row;
    row.hour = absl::ToDoubleHours(sim.now() - sim.start());
    uint64_t total = 0;
    for (int i : live) {
      size_t m = sim.node(i).NumMembers();
      total += m;
      row.members_max = std::max(row.members_max, m);
      Membership::Footprint f = sim.node(i).footprint();
      row.ghosts += f.ghosts;
      row.pull_limits += f.pull_limits;
      row.probe_order += f.probe_order;
      row.links += sim.Links(i);
    }
    row.ghosts /= live.size();
    row.pull_limits /= live.size();
    row.probe_order /= live.size();
    row.links /= live.size();
    for (int i = 0; i < sim.size(); ++i) {
      row.forgotten += sim.node(i).stats().members_forgotten;
    }
    row.members_mean = double(total) / live.size();
    double periods = absl::ToDoubleSeconds(every);
    row.push_pull_bytes = double(sim.push_pull_bytes_sent() - pp0) / n / periods;
    row.bytes = double(sim.bytes_sent() - b0) / n / periods;
    rows.push_back(row);
    std::fprintf(stderr, "swimsim: churn %.1f h: %.1f members per node\n",
                 row.hour, row.members_mean);
  }
  return rows;
}

}  // namespace
}  // namespace rumor::sim

int main(int argc, char** argv) {
  using namespace rumor::sim;
  std::string sizes_text = "16,64,256,1024";
  uint64_t seed = 1;
  int periods = 1000;
  int trials = 20;
  std::string csv;
  bool no_fp = false;
  bool churn = false;
  int churn_hours = 24;
  std::string forget_after_text = "2h";
  CLI::App app{"swimsim: the membership protocol at scale, simulated"};
  app.add_option("--sizes", sizes_text, "comma-separated cluster sizes")
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed (same seed, same run)")
      ->capture_default_str();
  app.add_option("--periods", periods,
                 "probe periods for the false-positive runs")
      ->capture_default_str();
  app.add_option("--trials", trials, "joins and crashes measured per size")
      ->capture_default_str();
  app.add_option("--csv", csv, "also write the table as CSV to this file");
  app.add_flag("--no-false-positives", no_fp, "skip the lossy runs");
  app.add_flag("--churn", churn,
               "instead: replace 10% of each size's nodes every hour and "
               "report members held and push-pull bytes per hour");
  app.add_option("--churn-hours", churn_hours, "simulated hours of churn")
      ->capture_default_str();
  app.add_option("--forget-after", forget_after_text,
                 "forget departed members after this long (churn runs)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<int> sizes;
  for (auto part : absl::StrSplit(sizes_text, ',', absl::SkipEmpty())) {
    int n;
    if (!absl::SimpleAtoi(part, &n) || n < 4) {
      std::fprintf(stderr, "swimsim: bad size '%s' (need >= 4)\n",
                   std::string(part).c_str());
      return 2;
    }
    sizes.push_back(n);
  }

  if (churn) {
    absl::Duration forget_after;
    if (!absl::ParseDuration(forget_after_text, &forget_after)) {
      std::fprintf(stderr, "swimsim: bad --forget-after '%s'\n",
                   forget_after_text.c_str());
      return 2;
    }
    for (int n : sizes) {
      absl::Time wall0 = absl::Now();
      std::vector<ChurnRow> rows =
          MeasureChurn(n, seed, churn_hours, absl::Hours(1), 0.10,
                       absl::Minutes(10), forget_after);
      std::printf(
          "\nN=%d, 10%% replaced every hour, removed 10 min after the crash, "
          "forgotten %s after leaving (seed %llu, %.0f s)\n\n"
          "| hour | members per node (mean / max) | ghosts | pull limits | "
          "probe list | transport links | push-pull bytes/node/period "
          "| all bytes/node/period | forgotten (all nodes) |\n"
          "|---|---|---|---|---|---|---|---|---|\n",
          n, forget_after_text.c_str(), (unsigned long long)seed,
          absl::ToDoubleSeconds(absl::Now() - wall0));
      for (const ChurnRow& r : rows) {
        std::printf("| %.0f | %.1f / %zu | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %llu |\n",
                    r.hour, r.members_mean, r.members_max, r.ghosts,
                    r.pull_limits, r.probe_order, r.links, r.push_pull_bytes,
                    r.bytes, (unsigned long long)r.forgotten);
      }
    }
    return 0;
  }

  std::vector<Row> rows;
  for (int n : sizes) {
    Row row;
    row.n = n;
    absl::Time wall0 = absl::Now();
    std::fprintf(stderr, "swimsim: N=%d dissemination and detection...\n", n);
    MeasureDissemination(n, seed, trials, &row);
    if (!no_fp) {
      for (int loss_pct : {5, 10}) {
        for (bool lg : {true, false}) {
          std::fprintf(stderr,
                       "swimsim: N=%d false positives, %d%% loss, lifeguard %s...\n",
                       n, loss_pct, lg ? "on" : "off");
          row.fp[{loss_pct, lg}] =
              MeasureFalsePositives(n, seed, loss_pct / 100.0, lg, periods);
        }
      }
    }
    row.wall_seconds = absl::ToDoubleSeconds(absl::Now() - wall0);
    rows.push_back(row);
  }

  std::printf(
      "| N | join: all know (periods, mean/max) | 3*log2(N) | crash: first "
      "detection (mean/max) | crash: first Dead | Dead: spread to all "
      "(mean/max) | crash: all know Dead | msgs/node/period | "
      "bytes/node/period (push-pull share) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    std::printf(
        "| %d | %.1f / %.1f | %.1f | %.2f / %.2f | %.1f | %.1f / %.1f | %.1f | "
        "%.2f | %.0f (%.0f%%) |\n",
        r.n, r.join_mean, r.join_max, 3 * std::log2(r.n), r.detect_mean,
        r.detect_max, r.dead_first_mean, r.dead_spread_mean, r.dead_spread_max,
        r.dead_all_mean, r.msgs_per_node, r.bytes_per_node,
        100 * r.push_pull_share);
  }
  if (!no_fp) {
    std::printf(
        "\nFalse positives over %d periods with 10%% of nodes slowed: healthy "
        "nodes declared Dead / slowed nodes declared Dead (suspicions "
        "raised)\n\n",
        periods);
    std::printf(
        "| N | 5%% loss, Lifeguard | 5%% loss, SWIM | 10%% loss, Lifeguard | "
        "10%% loss, SWIM |\n|---|---|---|---|---|\n");
    for (const Row& r : rows) {
      auto cell = [&](int loss, bool lg) {
        auto it = r.fp.find({loss, lg});
        return absl::StrFormat("%d / %d (%d)", it->second.healthy_declared_dead,
                               it->second.slow_declared_dead,
                               it->second.suspicions);
      };
      std::printf("| %d | %s | %s | %s | %s |\n", r.n, cell(5, true).c_str(),
                  cell(5, false).c_str(), cell(10, true).c_str(),
                  cell(10, false).c_str());
    }
  }
  std::printf("\nseed %llu; wall time per size:", (unsigned long long)seed);
  for (const Row& r : rows) std::printf(" N=%d %.0fs", r.n, r.wall_seconds);
  std::printf("\n");

  if (!csv.empty()) {
    std::ofstream out(csv);
    out << "n,join_mean,join_max,bound,detect_mean,detect_max,dead_first,"
           "spread_mean,spread_max,dead_all,msgs,bytes";
    if (!no_fp) out << ",fp5_lg,fp5_swim,fp10_lg,fp10_swim,sus5_lg,sus5_swim,sus10_lg,sus10_swim";
    out << "\n";
    for (const Row& r : rows) {
      out << r.n << "," << r.join_mean << "," << r.join_max << ","
          << 3 * std::log2(r.n) << "," << r.detect_mean << "," << r.detect_max
          << "," << r.dead_first_mean << "," << r.dead_spread_mean << ","
          << r.dead_spread_max << "," << r.dead_all_mean << ","
          << r.msgs_per_node << "," << r.bytes_per_node;
      if (!no_fp) {
        for (auto key : {std::pair{5, true}, {5, false}, {10, true}, {10, false}}) {
          out << "," << r.fp.at(key).healthy_declared_dead;
        }
        for (auto key : {std::pair{5, true}, {5, false}, {10, true}, {10, false}}) {
          out << "," << r.fp.at(key).suspicions;
        }
      }
      out << "\n";
    }
  }
  return 0;
}
