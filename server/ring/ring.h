// Consistent hashing with virtual nodes. A key at ring position p belongs
// to the first token clockwise from p (the smallest token >= p, wrapping);
// its preference list is the first N distinct nodes met walking clockwise
// from there, and the nodes after those are its fallbacks (sloppy quorum).
//
// The ring holds every member that is not Left and has claimed tokens:
// merely dead or suspected nodes keep their ranges (only join, leave and
// remove change ownership). The same members give the same ring on every
// node: token ties are broken by node id.
//
// Immutable value type; thread-safe to share once built.
#ifndef RUMOR_SERVER_RING_RING_H_
#define RUMOR_SERVER_RING_RING_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "common/types.h"

namespace rumor::server {

struct RingMember {
  NodeId id = kNoNode;
  std::vector<uint64_t> tokens;
};

// The ring's size as a number of positions (2^64).
inline constexpr long double kRingSize = 18446744073709551616.0L;
// Clockwise distance from a to b (the size of the range (a, b]); a full
// circle when a == b.
long double Arc(uint64_t a, uint64_t b);

class Ring {
 public:
  Ring() = default;
  explicit Ring(const std::vector<RingMember>& members);

  bool empty() const { return tokens_.empty(); }
  size_t num_tokens() const { return tokens_.size(); }
  size_t num_nodes() const { return num_nodes_; }

  // The first `n` distinct nodes clockwise from `position` (fewer if the
  // ring has fewer nodes).
  std::vector<NodeId> PreferenceList(uint64_t position, size_t n) const;
  // Every distinct node, in clockwise order from `position`: the preference
  // list followed by the fallbacks.
  std::vector<NodeId> Walk(uint64_t position) const { return PreferenceList(position, num_nodes_); }

  // Fraction of the ring's key space each node owns as primary, by id.
  std::vector<std::pair<NodeId, double>> Ownership() const;
  // Fraction of keys each node holds a replica of with `n` replicas per key
  // (sums to min(n, nodes)).
  std::vector<std::pair<NodeId, double>> ReplicaOwnership(size_t n) const;

  // (token, node) in ring order.
  const std::vector<std::pair<uint64_t, NodeId>>& tokens() const { return tokens_; }

 private:
  std::vector<std::pair<uint64_t, NodeId>> tokens_;
  size_t num_nodes_ = 0;
};

// max share / min share over the ring's nodes (1.0 = perfectly even), of
// primary ownership, and of what each node stores with n replicas.
double OwnershipImbalance(const Ring& ring);
double ReplicaImbalance(const Ring& ring, size_t n);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RING_RING_H_
