// The queue of membership updates waiting to be piggybacked on outgoing
// messages (SWIM's dissemination component). One pending update per member:
// a newer update about a member replaces the older one. Updates go out least
// transmitted first and, among equals, good news (Alive) first: a
// refutation that arrives in time saves a node, a late suspicion costs
// nothing. Each update is sent a bounded number of times, then dropped.
//
// Not thread-safe: owned by the Membership core.
#ifndef RUMOR_SERVER_MEMBERSHIP_BROADCAST_QUEUE_H_
#define RUMOR_SERVER_MEMBERSHIP_BROADCAST_QUEUE_H_

#include <array>
#include <cstddef>
#include <list>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/types.h"
#include "server/membership/message.h"

namespace rumor::server {

class BroadcastQueue {
 public:
  BroadcastQueue() = default;
  BroadcastQueue(const BroadcastQueue&) = delete;
  BroadcastQueue& operator=(const BroadcastQueue&) = delete;

  // Queues `u` as never sent, replacing any pending update about u.node.
  void Enqueue(Update u);

  // The updates for one message: at most `max_updates`, within
  // `budget_bytes` (by ApproxSize). Each one taken counts as transmitted
  // once and leaves the queue after `retransmit_limit` transmissions. An
  // update larger than `max_update_bytes` can never ride along (it spreads
  // by push-pull): it is counted as sent without being returned, so it ages
  // out instead of blocking the queue.
  std::vector<Update> Take(size_t budget_bytes, size_t max_updates,
                           size_t max_update_bytes, int retransmit_limit);

  // An update about `node` is still waiting to be sent.
  bool Pending(NodeId node) const { return pending_.contains(node); }
  // Drops the pending update about `node`, if any.
  void Forget(NodeId node);
  size_t size() const { return pending_.size(); }

 private:
  struct Broadcast {
    Update update;
    size_t size = 0;     // ApproxSize(update), cached
    int transmits = 0;
    int lane = 0;        // 0: good news (Alive), 1: the rest
    std::list<Broadcast*>::iterator pos;  // in buckets_[transmits][lane]
  };

  // One pending update per subject (stable addresses: the lists point in).
  absl::flat_hash_map<NodeId, std::unique_ptr<Broadcast>> pending_;
  // buckets_[t][lane]: updates sent t times, newest first. Taking walks t
  // upward, lane 0 first; a sent update splices into t+1.
  std::vector<std::array<std::list<Broadcast*>, 2>> buckets_;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_MEMBERSHIP_BROADCAST_QUEUE_H_
