#include "server/replication/cluster_view.h"

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
  for (const MemberState& m : members) {
    view->nodes[m.id] =
        ClusterView::Node{m.address(), m.status, m.meta && m.meta->joining};
  }
  return view;
}

}  // namespace rumor::server
