#include "server/membership/broadcast_queue.h"

namespace rumor::server {

void BroadcastQueue::Forget(NodeId node) {
  auto it = pending_.find(node);
  if (it == pending_.end()) return;
  Broadcast& old = *it->second;
  buckets_[old.transmits][old.lane].erase(old.pos);
  pending_.erase(it);
}

void BroadcastQueue::Enqueue(Update u) {
  NodeId node = u.node;
  Forget(node);
  if (buckets_.empty()) buckets_.resize(1);
  auto b = std::make_unique<Broadcast>();
  b->size = ApproxSize(u);
  b->lane = u.kind == MemberStatus::kAlive ? 0 : 1;
  b->update = std::move(u);
  auto& list = buckets_[0][b->lane];
  list.push_front(b.get());
  b->pos = list.begin();
  pending_.emplace(node, std::move(b));
}

std::vector<Update> BroadcastQueue::Take(size_t budget_bytes,
                                         size_t max_updates,
                                         size_t max_update_bytes,
                                         int retransmit_limit) {
  std::vector<Update> out;
  if (pending_.empty()) return out;
  constexpr size_t kSmallestUpdate = 32;
  std::vector<Broadcast*> taken;
  size_t used = 0;
  size_t examined = 0;
  const size_t max_examined = 2 * max_updates;
  for (size_t t = 0; t < buckets_.size(); ++t) {
    for (int lane = 0; lane < 2; ++lane) {
      for (Broadcast* b : buckets_[t][lane]) {
        if (out.size() >= max_updates || examined++ >= max_examined ||
            used + kSmallestUpdate > budget_bytes) {
          break;
        }
        if (b->size > max_update_bytes) {
          taken.push_back(b);
          continue;
        }
        if (used + b->size > budget_bytes) continue;
        used += b->size;
        out.push_back(b->update);
        taken.push_back(b);
      }
    }
  }
  // Reverse order keeps the newest-first order within each list.
  for (auto it = taken.rbegin(); it != taken.rend(); ++it) {
    Broadcast* b = *it;
    int t = b->transmits++;
    if (b->transmits >= retransmit_limit) {
      buckets_[t][b->lane].erase(b->pos);
      pending_.erase(b->update.node);  // frees b
      continue;
    }
    if (buckets_.size() <= static_cast<size_t>(b->transmits)) {
      buckets_.resize(b->transmits + 1);
    }
    auto& next = buckets_[b->transmits][b->lane];
    next.splice(next.begin(), buckets_[t][b->lane], b->pos);
  }
  return out;
}

}  // namespace rumor::server
