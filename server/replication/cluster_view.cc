#include "server/replication/cluster_view.h"

#include <map>

namespace rumor::server {

std::shared_ptr<const ClusterView> MakeClusterView(
    NodeId self, std::shared_ptr<const Ring> ring, uint64_t ring_version,
    const std::vector<MemberState>& members, bool joined,
    std::shared_ptr<const Ring> full_ring) {
  auto view = std::make_shared<ClusterView>();
  view->self = self;
  view->joined = joined;
  view->ring = ring ? std::move(ring) : std::make_shared<const Ring>();
  view->full_ring = full_ring ? std::move(full_ring) : view->ring;
  view->ring_version = ring_version;
  if (view->full_ring != view->ring) {
    std::map<NodeId, std::vector<uint64_t>> serving, joining;
    for (const auto& [token, id] : view->ring->tokens()) {
      serving[id].push_back(token);
    }
    for (const auto& [token, id] : view->full_ring->tokens()) {
      if (!serving.contains(id)) joining[id].push_back(token);
    }
    for (auto& [joiner, tokens] : joining) {
      std::vector<RingMember> members;
      for (const auto& [id, t] : serving) members.push_back(RingMember{id, t});
      members.push_back(RingMember{joiner, std::move(tokens)});
      view->joiner_rings.emplace_back(joiner,
                                      std::make_shared<const Ring>(members));
    }
  }
  for (const MemberState& m : members) {
    view->nodes[m.id] =
        ClusterView::Node{m.address(), m.status, m.meta && m.meta->joining};
  }
  return view;
}

}  // namespace rumor::server
