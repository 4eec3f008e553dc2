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

// Chooses `count` tokens for a node joining a ring. An empty ring gets
// evenly spaced tokens at an offset derived from the node id; otherwise
// each token goes, greedily, where it best evens out both every node's
// primary share and its replica share (keys stored with `replicas`
// copies), so ownership and storage stay balanced as nodes join one at a
// time. Deterministic for a given ring and node id. Returns sorted tokens.
// Above 128 tokens per node (where claiming would take many seconds)
// returns RandomTokens, which are about as balanced at such counts.
std::vector<uint64_t> ClaimTokens(const Ring& ring, NodeId self, size_t count,
                                  size_t replicas = 3);

// `count` pseudo-random tokens derived from the node id (hash of id and
// index). The baseline that ClaimTokens improves on.
std::vector<uint64_t> RandomTokens(NodeId self, size_t count);

// max share / min share over the ring's nodes (1.0 = perfectly even), of
// primary ownership, and of what each node stores with n replicas.
double OwnershipImbalance(const Ring& ring);
double ReplicaImbalance(const Ring& ring, size_t n);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RING_RING_H_
