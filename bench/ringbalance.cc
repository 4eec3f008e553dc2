// ringbalance: how evenly the token claim spreads ownership, against random
// tokens. For many random sets of node ids it joins nodes one at a time
// (as a cluster grows) and prints, per cluster size, the mean and worst
// max/min share of primary ownership and of what each node stores with N
// replicas, and how long a claim took. docs/design.md ("Ring and token
// claims") quotes its output.
//
//   ringbalance [--trials=30] [--max-nodes=12] [--replicas=3] [--tokens=64]
//   ringbalance --join=1024    # time one claim joining 1024 nodes (random
//                              # tokens, quick to build) and exit

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "CLI/CLI.hpp"
#include "server/ring/ring.h"
#include "server/ring/token_claim.h"

namespace {

using rumor::NodeId;
using rumor::server::ClaimTokens;
using rumor::server::OwnershipImbalance;
using rumor::server::RandomTokens;
using rumor::server::ReplicaImbalance;
using rumor::server::Ring;
using rumor::server::RingMember;

struct Stat {
  double sum = 0, worst = 0;
  int n = 0;
  void Add(double x) {
    sum += x;
    worst = std::max(worst, x);
    ++n;
  }
  double mean() const { return n ? sum / n : 0; }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringbalance: ownership balance of claimed vs random tokens"};
  int trials = 30, max_nodes = 12;
  size_t replicas = 3, tokens = 64;
  uint64_t seed = 11;
  int join = 0;
  app.add_option("--trials", trials, "random node-id sets")->check(CLI::Range(1, 100000));
  app.add_option("--max-nodes", max_nodes, "largest cluster")->check(CLI::Range(2, 4096));
  app.add_option("--replicas", replicas, "N, for stored shares")->check(CLI::Range(1, 16));
  app.add_option("--tokens", tokens, "tokens per node")->check(CLI::Range(1, 1024));
  app.add_option("--seed", seed, "random seed");
  app.add_option("--join", join, "only time one claim joining this many nodes")
      ->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);

  if (join > 0) {
    std::mt19937_64 rng(seed);
    std::vector<RingMember> members;
    for (int i = 0; i < join; ++i) {
      NodeId id = rng() | 1;
      members.push_back({id, RandomTokens(id, tokens)});
    }
    Ring ring(members);
    auto start = std::chrono::steady_clock::now();
    auto claimed = ClaimTokens(ring, rng() | 1, tokens, replicas);
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - start)
                    .count();
    std::printf("claim of %zu tokens joining %d nodes (%zu tokens): %.0f ms\n",
                claimed.size(), join, ring.num_tokens(), ms);
    return 0;
  }

  std::vector<Stat> primary(max_nodes + 1), stored(max_nodes + 1),
      random_primary(max_nodes + 1), random_stored(max_nodes + 1),
      claim_ms(max_nodes + 1);
  std::mt19937_64 rng(seed);
  for (int t = 0; t < trials; ++t) {
    std::vector<RingMember> claimed, random;
    for (int i = 1; i <= max_nodes; ++i) {
      NodeId id = rng() | 1;
      auto start = std::chrono::steady_clock::now();
      claimed.push_back({id, ClaimTokens(Ring(claimed), id, tokens, replicas)});
      claim_ms[i].Add(std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start)
                          .count());
      random.push_back({id, RandomTokens(id, tokens)});
      Ring c(claimed), r(random);
      primary[i].Add(OwnershipImbalance(c));
      stored[i].Add(ReplicaImbalance(c, replicas));
      random_primary[i].Add(OwnershipImbalance(r));
      random_stored[i].Add(ReplicaImbalance(r, replicas));
    }
    std::fprintf(stderr, "\rringbalance: %d/%d id sets", t + 1, trials);
  }
  std::fprintf(stderr, "\n");
  std::printf("max/min share over %d id sets (mean / worst), %zu tokens per node, N=%zu\n\n",
              trials, tokens, replicas);
  std::printf("| nodes | primary, claimed | stored, claimed | primary, random | stored, random | claim ms (mean) |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (int i = 2; i <= max_nodes; ++i) {
    std::printf("| %d | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.1f |\n", i,
                primary[i].mean(), primary[i].worst, stored[i].mean(), stored[i].worst,
                random_primary[i].mean(), random_primary[i].worst,
                random_stored[i].mean(), random_stored[i].worst, claim_ms[i].mean());
  }
  return 0;
}
