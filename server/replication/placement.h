// Where a key's replicas go right now: its preference list (the first N
// distinct ring nodes clockwise from the key), and, for each preference-
// list node that is down (not Alive, or unreachable now), the next healthy
// node on the ring as a fallback that holds the write as a hint for it
// (Dynamo's sloppy quorum). Pure functions; thread-safe.
#ifndef RUMOR_SERVER_REPLICATION_PLACEMENT_H_
#define RUMOR_SERVER_REPLICATION_PLACEMENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/types.h"
#include "server/replication/cluster_view.h"

namespace rumor::server {

struct Target {
  NodeId node = kNoNode;
  std::string address;
  // kNoNode: `node` is itself a preference-list replica. Otherwise `node`
  // is a fallback standing in for this preference-list node.
  NodeId hint_for = kNoNode;
};

struct Placement {
  // min(N, nodes in the serving ring); 1 for an empty ring (a node alone,
  // before its tokens are claimed, serves everything itself).
  size_t n = 1;
  // min(N, nodes in the full ring, joining members included), >= n.
  size_t full_n = 1;
  std::vector<NodeId> preference;  // n nodes (just self for an empty ring)
  bool self_is_replica = false;
  // Everyone to contact besides this node: healthy preference-list nodes,
  // and fallbacks for the others.
  std::vector<Target> targets;
  // Preference-list nodes that are down and have no fallback outside the
  // preference list (a cluster of N nodes has none): the coordinator keeps
  // a hint for each itself, so the node still gets the write when it is
  // back, but the hint does not count as a replica toward W.
  std::vector<NodeId> missing;
  // Healthy joining members of the key's preference list in the full ring
  // (not this node): a write goes to them as well, so they miss nothing
  // while they pull their ranges. Their acknowledgements count only for
  // what the serving replicas cannot give (W above n: a cluster still
  // forming).
  std::vector<Target> joining;
};

// Healthy: this node, or a member that is Alive and `reachable`. Without
// `fallbacks` (hinted handoff off), down nodes are simply missing.
Placement PlaceKey(const ClusterView& view, uint64_t position, size_t n,
                   const std::function<bool(const std::string&)>& reachable,
                   bool fallbacks = true);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REPLICATION_PLACEMENT_H_
