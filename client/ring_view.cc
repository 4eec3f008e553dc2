#include "client/ring_view.h"

#include <algorithm>
#include <utility>

#include "common/hash.h"

namespace rumor::client {

RingView::RingView(client::RingLayout layout) : layout_(std::move(layout)) {
  for (uint32_t i = 0; i < layout_.nodes.size(); ++i) {
    const RingNode& n = layout_.nodes[i];
    if (n.tokens.empty()) continue;
    auto it = std::lower_bound(
        by_id_.begin(), by_id_.end(), n.id,
        [](const std::pair<uint64_t, uint32_t>& e, uint64_t id) {
          return e.first < id;
        });
    uint32_t node;
    if (it != by_id_.end() && it->first == n.id) {
      node = it->second;  // listed twice: one node, the union of its tokens
    } else {
      node = static_cast<uint32_t>(ring_nodes_.size());
      ring_nodes_.push_back(i);
      by_id_.insert(it, {n.id, node});
    }
    for (uint64_t t : n.tokens) tokens_.push_back({t, n.id, node});
  }
  auto key = [](const Token& t) { return std::make_pair(t.token, t.id); };
  std::sort(tokens_.begin(), tokens_.end(),
            [&](const Token& a, const Token& b) { return key(a) < key(b); });
  tokens_.erase(std::unique(tokens_.begin(), tokens_.end(),
                            [&](const Token& a, const Token& b) {
                              return key(a) == key(b);
                            }),
                tokens_.end());
}

void RingView::Walk(
    uint64_t position,
    absl::FunctionRef<bool(const RingNode& node, size_t rank)> visit) const {
  if (tokens_.empty()) return;
  // The first token >= position; (position, id 0) sorts before every token
  // at that position, whatever its node.
  auto it = std::lower_bound(tokens_.begin(), tokens_.end(), position,
                             [](const Token& t, uint64_t p) {
                               return t.token < p;
                             });
  size_t start = static_cast<size_t>(it - tokens_.begin());
  size_t nodes = ring_nodes_.size();
  uint64_t seen_mask = 0;  // rings of up to 64 nodes
  std::vector<bool> seen_big;
  if (nodes > 64) seen_big.assign(nodes, false);
  size_t rank = 0;
  for (size_t i = 0; i < tokens_.size() && rank < nodes; ++i) {
    uint32_t node = tokens_[(start + i) % tokens_.size()].node;
    if (nodes > 64) {
      if (seen_big[node]) continue;
      seen_big[node] = true;
    } else {
      uint64_t bit = uint64_t{1} << node;
      if (seen_mask & bit) continue;
      seen_mask |= bit;
    }
    if (!visit(layout_.nodes[ring_nodes_[node]], rank++)) return;
  }
}

std::vector<uint64_t> RingView::PreferenceList(uint64_t position,
                                               size_t n) const {
  std::vector<uint64_t> out;
  if (n == 0) return out;
  Walk(position, [&](const RingNode& node, size_t) {
    out.push_back(node.id);
    return out.size() < n;
  });
  return out;
}

std::vector<uint64_t> RingView::PreferenceListOf(std::string_view key) const {
  return PreferenceList(RingPosition(key), layout_.replicas);
}

const RingNode* RingView::Find(uint64_t id) const {
  auto it = std::lower_bound(
      by_id_.begin(), by_id_.end(), id,
      [](const std::pair<uint64_t, uint32_t>& e, uint64_t v) {
        return e.first < v;
      });
  if (it == by_id_.end() || it->first != id) return nullptr;
  return &layout_.nodes[ring_nodes_[it->second]];
}

}  // namespace rumor::client
