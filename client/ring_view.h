// RingView: the client's copy of the ring, answering "which nodes hold this
// key" exactly as the server's Ring (server/ring/ring.h) does, without
// depending on server code:
//
//   - every node with at least one token is on the ring (a node listed
//     twice contributes the union of its tokens; the address and status of
//     its first listing with tokens win);
//   - tokens are ordered by (token, node id); a duplicate (token, node)
//     pair counts once;
//   - a key at position p belongs to the first token >= p, wrapping to the
//     first token; its preference list is the first N distinct nodes met
//     walking clockwise from there, and the nodes after those are its
//     fallbacks.
//
// Immutable once built; thread-safe to share.
#ifndef RUMOR_CLIENT_RING_VIEW_H_
#define RUMOR_CLIENT_RING_VIEW_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "client/client.h"

namespace rumor::client {

class RingView {
 public:
  // An empty ring: every lookup returns no node.
  RingView() = default;
  explicit RingView(client::RingLayout layout);

  uint64_t version() const { return layout_.version; }
  // N, as the layout said.
  uint32_t replicas() const { return layout_.replicas; }
  // True when no node has a token (nothing can be routed).
  bool empty() const { return tokens_.empty(); }
  // Distinct nodes on the ring.
  size_t num_nodes() const { return ring_nodes_.size(); }
  const client::RingLayout& layout() const { return layout_; }

  // The first `n` distinct node ids clockwise from `position` (fewer when
  // the ring has fewer nodes). Equal to server::Ring::PreferenceList for
  // the same members.
  std::vector<uint64_t> PreferenceList(uint64_t position, size_t n) const;
  // The preference list of a key: PreferenceList(RingPosition(key), N).
  std::vector<uint64_t> PreferenceListOf(std::string_view key) const;

  // Calls `visit(node, rank)` for every distinct node in clockwise order
  // from `position` (rank 0 is the owner; ranks below N are the preference
  // list, the rest its fallbacks) until `visit` returns false. Allocates
  // nothing on rings of up to 64 nodes.
  void Walk(uint64_t position,
            absl::FunctionRef<bool(const RingNode& node, size_t rank)> visit)
      const;

  // The node with `id`, or nullptr when it has no token on the ring.
  const RingNode* Find(uint64_t id) const;

 private:
  struct Token {
    uint64_t token;
    uint64_t id;
    uint32_t node;  // index into ring_nodes_
  };

  client::RingLayout layout_;
  // Index into layout_.nodes of each distinct node with tokens.
  std::vector<uint32_t> ring_nodes_;
  // (id, index into ring_nodes_), by id.
  std::vector<std::pair<uint64_t, uint32_t>> by_id_;
  std::vector<Token> tokens_;  // by (token, id)
};

}  // namespace rumor::client

#endif  // RUMOR_CLIENT_RING_VIEW_H_
