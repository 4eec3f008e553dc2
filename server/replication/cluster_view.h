// What the replication layer needs to know of the cluster when a request
// starts: the ring, where each member lives and whether it is up. An
// immutable snapshot: a request sticks to the view it started with.
#ifndef RUMOR_SERVER_REPLICATION_CLUSTER_VIEW_H_
#define RUMOR_SERVER_REPLICATION_CLUSTER_VIEW_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/types.h"
#include "server/membership/message.h"
#include "server/ring/ring.h"

namespace rumor::server {

struct ClusterView {
  struct Node {
    std::string address;
    MemberStatus status = MemberStatus::kAlive;
    bool joining = false;  // pulling its ranges: in full_ring only
  };

  NodeId self = kNoNode;
  // False until a seed or a remembered ring member has answered this node
  // (a node without either is joined at once). Until then the ring is
  // just this node's own view of itself, and acting on it would take every
  // key for this node alone: requests are refused and handoff waits.
  bool joined = true;
  // The serving ring: reads, quorums and fallbacks use it.
  std::shared_ptr<const Ring> ring;  // never null
  // The ring with joining members too: a write also goes to the joining
  // members of its key's preference list here, so that they miss nothing
  // written while they pull. Never null; the same as `ring` when nobody
  // is joining.
  std::shared_ptr<const Ring> full_ring;
  // For each joining member: the serving ring plus that member alone, the
  // ring it serves in if it finishes before the others. A write goes to a
  // joining member that replicates its key there too, so a joiner that
  // starts serving first misses nothing written while it pulled.
  std::vector<std::pair<NodeId, std::shared_ptr<const Ring>>> joiner_rings;
  uint64_t ring_version = 0;  // of both
  absl::flat_hash_map<NodeId, Node> nodes;  // every known member

  const Node* Find(NodeId id) const {
    auto it = nodes.find(id);
    return it == nodes.end() ? nullptr : &it->second;
  }
  // Alive in membership (Suspect, Dead and Left members are down).
  bool Alive(NodeId id) const {
    const Node* n = Find(id);
    return n != nullptr && n->status == MemberStatus::kAlive;
  }
};

// Thread-safe: returns the current view, never null.
using ClusterViewSource = std::function<std::shared_ptr<const ClusterView>()>;

// Builds a view from membership's member list and rings (a null
// full_ring: the same as ring).
std::shared_ptr<const ClusterView> MakeClusterView(
    NodeId self, std::shared_ptr<const Ring> ring, uint64_t ring_version,
    const std::vector<MemberState>& members, bool joined = true,
    std::shared_ptr<const Ring> full_ring = nullptr);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REPLICATION_CLUSTER_VIEW_H_
