#include "server/ring/ring.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/hash.h"

namespace rumor::server {
long double Arc(uint64_t a, uint64_t b) {
  uint64_t d = b - a;  // wraps modulo 2^64
  return d == 0 ? kRingSize : static_cast<long double>(d);
}

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

double ReplicaImbalance(const Ring& ring, size_t n) {
  auto own = ring.ReplicaOwnership(n);
  if (own.empty()) return 1.0;
  double lo = 2.0, hi = 0.0;
  for (auto [id, s] : own) {
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  return lo > 0 ? hi / lo : INFINITY;
}

double OwnershipImbalance(const Ring& ring) { return ReplicaImbalance(ring, 1); }

}  // namespace rumor::server
