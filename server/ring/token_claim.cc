#include "server/ring/token_claim.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/hash.h"

namespace rumor::server {

std::vector<uint64_t> RandomTokens(NodeId self, size_t count) {
  std::set<uint64_t> out;
  for (uint64_t i = 0; out.size() < count; ++i) {
    out.insert(Mix64(self ^ Mix64(i + 1)));
  }
  return std::vector<uint64_t>(out.begin(), out.end());
}

namespace {

// Claim tuning, chosen by measurement (docs/design.md, "Ring and token
// claims"): replica balance weighs 4x primary balance, which already comes
// out within a few percent; each range is tried split at 1/4, 1/2, 3/4;
// three refinement rounds (a fourth gains nothing measurable).
constexpr long double kReplicaWeight = 4;
constexpr long double kFractions[] = {0.25L, 0.5L, 0.75L};
constexpr int kRefineRounds = 3;
// Only the largest ranges are candidates beyond this: bounds the work in
// big rings.
constexpr size_t kMaxCandidates = 4096;
// Refinement stops once this many candidate positions have been scored
// (a few hundred ms here): in big rings the greedy placement stands mostly
// as it is.
constexpr uint64_t kScoreBudget = 1'000'000;
// More tokens per node than this are taken at random (see ClaimTokens).
constexpr size_t kMaxClaimedTokens = 128;

// Greedy, replica-aware token placement for a joining node. Tokens are
// added one at a time; each goes where it most reduces the squared
// relative deviation of every node's share from an even one, counting
// both primary ownership and replica ownership (the share of keys a node
// stores with `n_val` replicas). Each candidate is scored incrementally:
// a new token changes the primary owner of part of one range and the
// replica sets of only the few ranges whose clockwise walk passes it.
class Claimer {
 public:
  Claimer(const Ring& ring, NodeId self, size_t n_val)
      : n_(n_val), self_id_(self) {
    std::set<NodeId> others;
    for (const auto& [t, id] : ring.tokens()) {
      if (id == self) continue;  // (a claim starts from no tokens of ours)
      pos_.push_back(t);
      own_.push_back(Index(id));
      others.insert(id);
    }
    self_ = Index(self);
    const size_t m = ids_.size();
    // With fewer other nodes than replicas, every node stores every key
    // once we join, whatever we choose. Balance for as many replicas as
    // there are other nodes instead: it shapes the ring for the next
    // joiners.
    n_ = std::min(n_, others.size());
    replicas_ = n_ > 1;
    target_p_ = 1.0L / m;
    target_r_ = static_cast<long double>(n_) / m;
    Rebuild();
  }

  long double score() const { return score_; }
  uint64_t scored() const { return scored_; }

  // Our tokens, in ring order.
  std::vector<uint64_t> Mine() const {
    std::vector<uint64_t> out;
    for (size_t j = 0; j < pos_.size(); ++j) {
      if (own_[j] == self_) out.push_back(pos_[j]);
    }
    return out;
  }

  void Remove(uint64_t token) {
    auto it = std::lower_bound(pos_.begin(), pos_.end(), token);
    size_t j = it - pos_.begin();
    pos_.erase(it);
    own_.erase(own_.begin() + j);
    Rebuild();
  }

  // Places one more token and returns it.
  uint64_t Step() {
    const size_t t = pos_.size();
    std::vector<size_t> candidates(t);
    for (size_t i = 0; i < t; ++i) candidates[i] = i;
    if (t > kMaxCandidates) {
      std::nth_element(candidates.begin(), candidates.begin() + kMaxCandidates,
                       candidates.end(), [&](size_t a, size_t b) {
                         return arc_[a] != arc_[b] ? arc_[a] > arc_[b] : a < b;
                       });
      candidates.resize(kMaxCandidates);
      std::sort(candidates.begin(), candidates.end());
    }
    // (Some range always has room: 64-bit positions, far fewer tokens.)
    long double best = INFINITY;
    uint64_t best_token = 0;
    for (size_t i : candidates) {
      if (arc_[i] * kRingSize < 8) continue;  // no room for a new token
      Prepare(i);
      scored_ += std::size(kFractions);
      // Where inside the range is nudged by our id: two nodes that claim
      // from the same ring at once (neither saw the other's claim yet)
      // must not pick the same positions, or one would own nothing.
      uint64_t prev = pos_[(i + t - 1) % t];
      long double nudge =
          (static_cast<long double>(Mix64(self_id_ ^ Mix64(prev))) / kRingSize -
           0.5L) * 0.04L;
      for (long double f0 : kFractions) {
        long double f = f0 + nudge;
        uint64_t token = prev + static_cast<uint64_t>(arc_[i] * f * kRingSize);
        long double score = ScoreFor(arc_[i] * f);
        if (score < best) {
          best = score;
          best_token = token;
        }
      }
    }
    // (Sorted position: for range 0 the token may sit at either end.)
    size_t at = std::lower_bound(pos_.begin(), pos_.end(), best_token) - pos_.begin();
    pos_.insert(pos_.begin() + at, best_token);
    own_.insert(own_.begin() + at, self_);
    Rebuild();
    return best_token;
  }

 private:
  int Index(NodeId id) {
    auto [it, inserted] = index_.try_emplace(id, static_cast<int>(ids_.size()));
    if (inserted) ids_.push_back(id);
    return it->second;
  }

  // Up to n_ distinct owners clockwise from token `start`; with gap >= 0, a
  // token of ours sits just before token `gap`. Sets *visited to the
  // number of ring tokens looked at.
  void Walk(size_t start, long gap, std::vector<int>* out,
            size_t* visited = nullptr) const {
    out->clear();
    auto add = [&](int x) {
      if (std::find(out->begin(), out->end(), x) == out->end()) out->push_back(x);
    };
    const size_t t = pos_.size();
    size_t step = 0;
    for (; step < t && out->size() < n_; ++step) {
      size_t k = (start + step) % t;
      if (gap >= 0 && k == static_cast<size_t>(gap)) {
        add(self_);
        if (out->size() == n_) break;
      }
      add(own_[k]);
    }
    if (visited) *visited = step;
  }

  void Rebuild() {
    const size_t t = pos_.size();
    const size_t m = ids_.size();
    arc_.assign(t, 0);
    p_.assign(m, 0);
    r_.assign(m, 0);
    lists_.assign(t, {});
    reach_.assign(t, 0);
    max_reach_ = 0;
    for (size_t j = 0; j < t; ++j) {
      uint64_t prev = pos_[(j + t - 1) % t];
      // (Two nodes may hold the same position: the second range is empty.)
      arc_[j] = t == 1 ? 1.0L
                : prev == pos_[j] ? 0.0L
                                  : Arc(prev, pos_[j]) / kRingSize;
      p_[own_[j]] += arc_[j];
      if (replicas_) {
        Walk(j, -1, &lists_[j], &reach_[j]);
        for (int x : lists_[j]) r_[x] += arc_[j];
        max_reach_ = std::max(max_reach_, reach_[j]);
      }
    }
    score_ = 0;
    for (size_t x = 0; x < m; ++x) score_ += Term(p_[x], r_[x]);
  }

  long double Term(long double p, long double r) const {
    long double dp = (p - target_p_) / target_p_;
    long double term = dp * dp;
    if (replicas_) {
      long double dr = (r - target_r_) / target_r_;
      term += kReplicaWeight * dr * dr;
    }
    return term;
  }

  // How adding a token of ours inside range i changes each touched node's
  // shares, as coefficients of `part` (the fraction of the ring the token
  // takes: the first part of range i) plus a fixed replica change from the
  // ranges before it. The walks do not depend on `part`, so every
  // candidate position inside one range shares them.
  void Prepare(size_t i) {
    delta_.clear();
    auto change = [&](int x) -> Delta& {
      for (Delta& d : delta_) {
        if (d.x == x) return d;
      }
      delta_.push_back({x, 0, 0, 0});
      return delta_.back();
    };
    change(own_[i]).kp -= 1;
    change(self_).kp += 1;
    if (!replicas_) return;
    const size_t t = pos_.size();
    // The part we take walks from our new token.
    Walk(i, static_cast<long>(i), &walk_);
    for (int x : lists_[i]) {
      if (std::find(walk_.begin(), walk_.end(), x) == walk_.end()) change(x).kr -= 1;
    }
    for (int x : walk_) {
      if (std::find(lists_[i].begin(), lists_[i].end(), x) == lists_[i].end()) {
        change(x).kr += 1;
      }
    }
    // Ranges before it whose walk reaches our token before completing.
    for (size_t d = 1; d < max_reach_ && d < t; ++d) {
      size_t j = (i + t - d) % t;
      if (reach_[j] <= d) continue;
      Walk(j, static_cast<long>(i), &walk_);
      const std::vector<int>& before = lists_[j];
      for (int x : before) {
        if (std::find(walk_.begin(), walk_.end(), x) == walk_.end()) {
          change(x).dr -= arc_[j];
        }
      }
      for (int x : walk_) {
        if (std::find(before.begin(), before.end(), x) == before.end()) {
          change(x).dr += arc_[j];
        }
      }
    }
  }

  // The score with the prepared token taking `part` of the ring.
  long double ScoreFor(long double part) const {
    long double score = score_;
    for (const Delta& d : delta_) {
      score += Term(p_[d.x] + d.kp * part, r_[d.x] + d.dr + d.kr * part) -
               Term(p_[d.x], r_[d.x]);
    }
    return score;
  }

  struct Delta {
    int x;
    long double kp, kr;  // primary and replica change per unit of part
    long double dr;      // fixed replica change
  };

  size_t n_;
  NodeId self_id_;
  bool replicas_ = false;
  int self_ = 0;
  std::map<NodeId, int> index_;
  std::vector<NodeId> ids_;
  std::vector<uint64_t> pos_;  // sorted ring tokens
  std::vector<int> own_;       // owner index of each token
  std::vector<long double> arc_;  // range ending at token j, ring fraction
  std::vector<long double> p_, r_;  // primary and replica share per node
  std::vector<std::vector<int>> lists_;  // replica set of each range
  std::vector<size_t> reach_;  // tokens each range's walk looks at
  size_t max_reach_ = 0;
  long double target_p_ = 0, target_r_ = 0, score_ = 0;
  uint64_t scored_ = 0;
  std::vector<Delta> delta_;
  std::vector<int> walk_;
};

}  // namespace

std::vector<uint64_t> ClaimTokens(const Ring& ring, NodeId self, size_t count,
                                  size_t replicas) {
  if (count == 0) return {};
  // Hundreds of tokens per node are balanced by chance alone (random
  // tokens: within about 1.1x at 1024 per node) and would take the greedy
  // claim minutes. The choice depends on the count only, so every node of
  // a cluster (same --tokens) makes the same one: random tokens next to
  // claimed or evenly spaced ones would be lopsided (a random joiner gets
  // about half of each gap it lands in, not a fair share).
  if (count > kMaxClaimedTokens) return RandomTokens(self, count);
  std::set<uint64_t> out;
  bool others = false;
  for (const auto& [t, id] : ring.tokens()) others = others || id != self;
  if (!others) {
    // Evenly spaced, at an offset of our own.
    uint64_t offset = Mix64(self);
    // (2^64 / 1 does not fit in 64 bits; one token needs no step.)
    uint64_t step = count == 1 ? 0 : static_cast<uint64_t>(kRingSize / count);
    for (size_t i = 0; i < count; ++i) out.insert(offset + step * i);
    return std::vector<uint64_t>(out.begin(), out.end());
  }
  Claimer claimer(ring, self, std::max<size_t>(replicas, 1));
  for (size_t i = 0; i < count; ++i) claimer.Step();
  // Greedy choices made early are revisited: each token in turn is taken
  // out and placed again where it now helps most, until a round changes
  // little.
  // A round can also make things worse (each move is greedy on its own):
  // keep the best placement seen.
  std::vector<uint64_t> best = claimer.Mine();
  long double best_score = claimer.score();
  for (int round = 0; round < kRefineRounds; ++round) {
    long double before = claimer.score();
    for (uint64_t token : claimer.Mine()) {
      if (claimer.scored() > kScoreBudget) break;
      claimer.Remove(token);
      claimer.Step();
    }
    if (claimer.score() < best_score) {
      best_score = claimer.score();
      best = claimer.Mine();
    }
    if (before - claimer.score() < 1e-6L * before) break;
  }
  for (uint64_t t : best) out.insert(t);
  return std::vector<uint64_t>(out.begin(), out.end());
}

}  // namespace rumor::server
