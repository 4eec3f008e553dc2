#include "server/ring/ring_report.h"

#include <map>

#include "common/hash.h"

namespace rumor::server {

RingReport ReportRing(const Ring& ring, size_t replicas,
                      std::optional<std::string_view> key) {
  RingReport report;
  report.replicas = replicas;
  std::map<NodeId, OwnerShare> by_id;
  for (auto [id, s] : ring.Ownership()) by_id[id].share = s;
  for (auto [id, s] : ring.ReplicaOwnership(replicas)) {
    by_id[id].replica_share = s;
  }
  for (auto& [id, owner] : by_id) {
    owner.id = id;
    report.owners.push_back(owner);
  }
  report.imbalance = OwnershipImbalance(ring);
  if (key) {
    uint64_t pos = RingPosition(*key);
    report.position = pos;
    std::vector<NodeId> walk = ring.Walk(pos);
    for (size_t i = 0; i < walk.size(); ++i) {
      (i < replicas ? report.preference_list : report.fallbacks)
          .push_back(by_id[walk[i]]);
    }
  }
  return report;
}

}  // namespace rumor::server
