#include "server/ring.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/hash.h"

namespace rumor::server {
namespace {

constexpr long double kRingSize = 18446744073709551616.0L;  // 2^64

// Clockwise distance from a to b (the size of the range (a, b]); a full
// circle when a == b.
long double Arc(uint64_t a, uint64_t b) {
  uint64_t d = b - a;  // wraps modulo 2^64
  return d == 0 ? kRingSize : static_cast<long double>(d);
}

}  // namespace

Ring::Ring(const std::vector<RingMember>& members) {
  std::set<NodeId> nodes;
  for (const RingMember& m : members) {
    if (m.tokens.empty()) continue;
    nodes.insert(m.id);
    for (uint64_t t : m.tokens) tokens_.push_back({t, m.id});
  }
  std::sort(tokens_.begin(), tokens_.end());
  tokens_.erase(std::unique(tokens_.begin(), tokens_.end()), tokens_.end());
  num_nodes_ = nodes.size();
}

std::vector<NodeId> Ring::PreferenceList(uint64_t position, size_t n) const {
  std::vector<NodeId> out;
  if (tokens_.empty()) return out;
  n = std::min(n, num_nodes_);
  auto it = std::lower_bound(tokens_.begin(), tokens_.end(),
                             std::make_pair(position, NodeId{0}));
  size_t start = it - tokens_.begin();
  for (size_t i = 0; i < tokens_.size() && out.size() < n; ++i) {
    NodeId id = tokens_[(start + i) % tokens_.size()].second;
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

std::vector<std::pair<NodeId, double>> Ring::Ownership() const {
  return ReplicaOwnership(1);  // the primary is the first replica
}

std::vector<std::pair<NodeId, double>> Ring::ReplicaOwnership(size_t n) const {
  std::map<NodeId, long double> share;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    uint64_t prev = tokens_[(i + tokens_.size() - 1) % tokens_.size()].first;
    long double arc = tokens_.size() == 1 ? kRingSize
                                          : (prev == tokens_[i].first
                                                 ? 0.0L
                                                 : Arc(prev, tokens_[i].first));
    // Keys in (prev, token_i] walk clockwise from token_i.
    for (NodeId id : PreferenceList(tokens_[i].first, n)) {
      share[id] += arc / kRingSize;
    }
  }
  std::vector<std::pair<NodeId, double>> out;
  for (auto [id, s] : share) out.push_back({id, static_cast<double>(s)});
  return out;
}

double OwnershipImbalance(const Ring& ring) {
  auto own = ring.Ownership();
  if (own.empty()) return 1.0;
  double lo = 2.0, hi = 0.0;
  for (auto [id, s] : own) {
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  return lo > 0 ? hi / lo : INFINITY;
}

std::vector<uint64_t> RandomTokens(NodeId self, size_t count) {
  std::set<uint64_t> out;
  for (uint64_t i = 0; out.size() < count; ++i) {
    out.insert(Mix64(self ^ Mix64(i + 1)));
  }
  return std::vector<uint64_t>(out.begin(), out.end());
}

std::vector<uint64_t> ClaimTokens(const Ring& ring, NodeId self,
                                  size_t count) {
  std::set<uint64_t> taken;
  for (const auto& [t, id] : ring.tokens()) taken.insert(t);
  std::set<uint64_t> out;
  auto add = [&](uint64_t t) {
    while (taken.count(t) || out.count(t)) ++t;  // keep tokens unique
    out.insert(t);
  };
  if (count == 0) return {};

  if (ring.empty() || ring.num_tokens() < 2) {
    // Evenly spaced, at an offset of our own.
    uint64_t offset = Mix64(self);
    // (2^64 / 1 does not fit in 64 bits; one token needs no step.)
    uint64_t step = count == 1 ? 0 : static_cast<uint64_t>(kRingSize / count);
    for (size_t i = 0; i < count; ++i) add(offset + step * i);
    return std::vector<uint64_t>(out.begin(), out.end());
  }

  // Current ownership and each owner's ranges (start exclusive, length).
  struct Range {
    uint64_t start;
    long double length;
  };
  std::map<NodeId, std::vector<Range>> ranges;
  std::map<NodeId, long double> share;
  const auto& toks = ring.tokens();
  for (size_t i = 0; i < toks.size(); ++i) {
    uint64_t prev = toks[(i + toks.size() - 1) % toks.size()].first;
    if (prev == toks[i].first) continue;
    long double len = Arc(prev, toks[i].first);
    ranges[toks[i].second].push_back({prev, len});
    share[toks[i].second] += len / kRingSize;
  }

  // Steal from each owner what it holds beyond an even share.
  const long double target = 1.0L / (ring.num_nodes() + 1);
  std::vector<std::pair<NodeId, long double>> steal;  // (owner, fraction)
  long double total_steal = 0;
  for (auto [id, s] : share) {
    if (s > target) {
      steal.push_back({id, s - target});
      total_steal += s - target;
    }
  }
  // Share the tokens out in proportion to what each owner gives up
  // (largest remainder), at least one per owner that gives anything.
  std::vector<size_t> per(steal.size(), 0);
  size_t assigned = 0;
  std::vector<std::pair<long double, size_t>> remainders;
  for (size_t i = 0; i < steal.size(); ++i) {
    long double exact = steal[i].second / total_steal * count;
    per[i] = static_cast<size_t>(exact);
    assigned += per[i];
    remainders.push_back({exact - per[i], i});
  }
  std::sort(remainders.rbegin(), remainders.rend());
  for (size_t k = 0; assigned < count && k < remainders.size(); ++k) {
    ++per[remainders[k].second];
    ++assigned;
  }

  for (size_t i = 0; i < steal.size(); ++i) {
    if (per[i] == 0) continue;
    std::vector<Range>& rs = ranges[steal[i].first];
    std::sort(rs.begin(), rs.end(), [](const Range& a, const Range& b) {
      return a.length != b.length ? a.length > b.length : a.start < b.start;
    });
    size_t k = std::min(per[i], rs.size());
    long double chosen = 0;
    for (size_t j = 0; j < k; ++j) chosen += rs[j].length;
    long double amount = steal[i].second * kRingSize;
    for (size_t j = 0; j < k; ++j) {
      // Take the first part of the range, in proportion to its size; the
      // owner keeps the rest. Never more than 90% of one range.
      long double part = std::min(amount * rs[j].length / chosen,
                                  rs[j].length * 0.9L);
      add(rs[j].start + static_cast<uint64_t>(std::max<long double>(part, 1)));
    }
  }
  // Owners with fewer ranges than tokens assigned leave tokens over: put
  // them in the middle of the largest remaining ranges.
  if (out.size() < count) {
    std::vector<uint64_t> all(taken.begin(), taken.end());
    all.insert(all.end(), out.begin(), out.end());
    std::sort(all.begin(), all.end());
    std::vector<Range> gaps;
    for (size_t i = 0; i < all.size(); ++i) {
      uint64_t prev = all[(i + all.size() - 1) % all.size()];
      gaps.push_back({prev, Arc(prev, all[i])});
    }
    std::sort(gaps.begin(), gaps.end(), [](const Range& a, const Range& b) {
      return a.length != b.length ? a.length > b.length : a.start < b.start;
    });
    for (size_t j = 0; out.size() < count && j < gaps.size(); ++j) {
      add(gaps[j].start + static_cast<uint64_t>(gaps[j].length / 2));
    }
  }
  return std::vector<uint64_t>(out.begin(), out.end());
}

}  // namespace rumor::server
