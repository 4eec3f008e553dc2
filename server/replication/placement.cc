#include "server/replication/placement.h"

#include <algorithm>

namespace rumor::server {

Placement PlaceKey(const ClusterView& view, uint64_t position, size_t n,
                   const std::function<bool(const std::string&)>& reachable,
                   bool fallbacks) {
  Placement p;
  auto healthy = [&](NodeId id) {
    if (id == view.self) return true;
    const ClusterView::Node* node = view.Find(id);
    return node != nullptr && node->status == MemberStatus::kAlive &&
           reachable(node->address);
  };
  auto add_joining = [&] {
    std::vector<NodeId> full = view.full_ring->PreferenceList(position, n);
    p.full_n = std::max(p.n, full.size());
    for (NodeId id : full) {
      if (id == view.self ||
          std::find(p.preference.begin(), p.preference.end(), id) !=
              p.preference.end() ||
          !healthy(id)) {
        continue;
      }
      p.joining.push_back(Target{id, view.Find(id)->address, kNoNode});
    }
    // A joiner that would replicate the key if it served before the other
    // joiners gets the write too (it pulls those ranges as well).
    for (const auto& [joiner, ring] : view.joiner_rings) {
      if (joiner == view.self ||
          std::find(p.preference.begin(), p.preference.end(), joiner) !=
              p.preference.end() ||
          std::any_of(p.joining.begin(), p.joining.end(),
                      [j = joiner](const Target& t) { return t.node == j; }) ||
          !healthy(joiner)) {
        continue;
      }
      std::vector<NodeId> pref = ring->PreferenceList(position, n);
      if (std::find(pref.begin(), pref.end(), joiner) != pref.end()) {
        p.joining.push_back(Target{joiner, view.Find(joiner)->address, kNoNode});
      }
    }
  };
  if (view.ring->empty()) {
    p.preference = {view.self};
    p.self_is_replica = true;
    add_joining();
    return p;
  }
  std::vector<NodeId> walk = view.ring->Walk(position);
  p.n = std::min(n, walk.size());
  p.preference.assign(walk.begin(), walk.begin() + p.n);
  size_t next_fallback = p.n;
  for (NodeId id : p.preference) {
    if (id == view.self) {
      p.self_is_replica = true;
      continue;
    }
    if (healthy(id)) {
      p.targets.push_back(Target{id, view.Find(id)->address, kNoNode});
      continue;
    }
    // The next healthy node past the preference list stands in for it;
    // this node itself holds no hints for keys it does not replicate.
    bool found = false;
    while (fallbacks && next_fallback < walk.size()) {
      NodeId f = walk[next_fallback++];
      if (f != view.self && healthy(f)) {
        p.targets.push_back(Target{f, view.Find(f)->address, id});
        found = true;
        break;
      }
    }
    if (!found) p.missing.push_back(id);
  }
  add_joining();
  return p;
}

}  // namespace rumor::server
