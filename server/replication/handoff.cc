#include "server/replication/handoff.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/status.h"

namespace rumor::server {
namespace {

bool Contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

// Every token position of both rings, sorted and unique: the preference
// lists of both rings are constant on each (t[i-1], t[i]].
std::vector<uint64_t> Boundaries(const Ring* a, const Ring& b) {
  std::vector<uint64_t> out;
  for (const Ring* r : {a, &b}) {
    if (r == nullptr) continue;
    for (const auto& [token, node] : r->tokens()) out.push_back(token);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Calls fn(from, to) for the position ranges making up (from, to]:
// one, or two when it wraps past 2^64 - 1.
template <typename F>
void ForEachSpan(uint64_t from, uint64_t to, F fn) {
  if (from < to) {
    fn(from + 1, to);
    return;
  }
  if (from != ~uint64_t{0}) fn(from + 1, ~uint64_t{0});
  fn(0, to);
}

}  // namespace

std::vector<RangeTransfer> PlanTransfers(
    NodeId self, const Ring* before, const Ring& after, size_t n,
    const std::function<bool(NodeId)>& alive) {
  std::vector<RangeTransfer> out;
  if (after.empty()) return out;
  std::vector<uint64_t> bounds = Boundaries(before, after);
  auto up = [&](NodeId id) { return id == self || alive(id); };
  for (size_t i = 0; i < bounds.size(); ++i) {
    uint64_t to = bounds[i];
    uint64_t from = bounds[(i + bounds.size() - 1) % bounds.size()];
    std::vector<NodeId> now = after.PreferenceList(to, n);
    std::set<NodeId> targets;
    bool keeps = Contains(now, self);
    if (before != nullptr) {
      std::vector<NodeId> old = before->empty()
                                    ? std::vector<NodeId>{self}
                                    : before->PreferenceList(to, n);
      std::vector<NodeId> entered;
      for (NodeId id : now) {
        if (!Contains(old, id) && id != self) entered.push_back(id);
      }
      if (!entered.empty()) {
        // The sender: the first node that stops replicating the range and
        // is up; failing that, the first that keeps it and is up.
        NodeId sender = kNoNode;
        for (NodeId id : old) {
          if (!Contains(now, id) && up(id)) {
            sender = id;
            break;
          }
        }
        if (sender == kNoNode) {
          for (NodeId id : old) {
            if (Contains(now, id) && up(id)) {
              sender = id;
              break;
            }
          }
        }
        if (sender == self) targets.insert(entered.begin(), entered.end());
      }
    }
    if (!keeps) {
      // Whatever this node holds of a range it no longer replicates goes to
      // its replicas, then is deleted here: to the ones that newly
      // replicate it when the change is known (the others held it already
      // as replicas), to all of them when it is not (just started).
      if (before == nullptr) {
        targets.insert(now.begin(), now.end());
      } else {
        std::vector<NodeId> old = before->empty()
                                      ? std::vector<NodeId>{self}
                                      : before->PreferenceList(to, n);
        for (NodeId id : now) {
          if (!Contains(old, id)) targets.insert(id);
        }
      }
    }
    if (targets.empty() && !keeps) {
      // Nobody new replicates it (the replicas all held it already): they
      // get this copy anyway before it is deleted, to be safe.
      targets.insert(now.begin(), now.end());
    }
    if (targets.empty()) continue;
    RangeTransfer t{from, to, {targets.begin(), targets.end()}, !keeps};
    if (!out.empty() && out.back().to == from &&
        out.back().targets == t.targets &&
        out.back().drop_after == t.drop_after) {
      out.back().to = to;  // contiguous, same duty: one scan
    } else {
      out.push_back(std::move(t));
    }
  }
  return out;
}

HandoffRunner::HandoffRunner(HandoffOptions options,
                             storage::ObjectStore* store, HintStore* hints,
                             ClusterViewSource view,
                             ReplicaTransport* transport)
    : options_(options),
      store_(store),
      hints_(hints),
      view_(std::move(view)),
      transport_(transport) {}

HandoffRunner::~HandoffRunner() { Stop(); }

void HandoffRunner::Start() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  interrupted_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void HandoffRunner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  interrupted_ = true;  // the loop's waits end now
  if (thread_.joinable()) thread_.join();
  interrupted_ = false;  // a leave's handoff, run after Stop, must not be
}

HandoffStats HandoffRunner::stats() const {
  HandoffStats s;
  s.hints_delivered = hints_delivered_;
  s.hints_rehomed = hints_rehomed_;
  s.keys_sent = keys_sent_;
  s.keys_dropped = keys_dropped_;
  s.transfers_pending = transfers_pending_;
  s.failures = failures_;
  return s;
}

void HandoffRunner::Loop() {
  bool more = false;
  while (true) {
    {
      // Work left over from the last round (hints not all delivered)
      // continues at once; otherwise look again after the interval.
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                               more ? absl::ZeroDuration() : options_.interval)) {
        return;
      }
    }
    more = RunOnce();
  }
}

std::vector<bool> HandoffRunner::SendAndWait(const std::string& address,
                                             const std::vector<Sent>& objects,
                                             ReplicaOp::Kind kind,
                                             NodeId hint_for) {
  // Shared with the callbacks, which may outlive an interrupted wait.
  struct Wait {
    absl::Mutex mu;
    size_t remaining = 0;
    std::vector<bool> acked;
  };
  auto w = std::make_shared<Wait>();
  w->remaining = objects.size();
  w->acked.assign(objects.size(), false);
  absl::Time deadline = absl::Now() + options_.call_timeout;
  for (size_t i = 0; i < objects.size(); ++i) {
    ReplicaOp op;
    op.kind = kind;
    op.key = objects[i].key;
    op.object = objects[i].encoded;
    op.hint_for = hint_for;
    transport_->Call(address, std::move(op), deadline,
                     [w, i](ReplicaReply reply) {
                       absl::MutexLock lock(&w->mu);
                       w->acked[i] = reply.status.ok();
                       --w->remaining;
                     });
  }
  // Every call ends by its deadline; a stopping node does not wait for
  // that long (an interrupted batch counts as not acknowledged).
  while (true) {
    {
      absl::MutexLock lock(&w->mu);
      if (w->mu.AwaitWithTimeout(
              absl::Condition(+[](size_t* r) { return *r == 0; },
                              &w->remaining),
              absl::Milliseconds(50))) {
        return w->acked;
      }
    }
    if (interrupted_.load()) return std::vector<bool>(objects.size(), false);
  }
}

bool HandoffRunner::DeliverHints(const ClusterView& view) {
  constexpr int kMaxBatchesPerOwner = 16;  // then let other work run
  bool more = false;
  for (const auto& [owner, count] : hints_->Counts()) {
    const ClusterView::Node* node = view.Find(owner);
    bool gone = node == nullptr || node->status == MemberStatus::kLeft;
    if (!gone && (node->status != MemberStatus::kAlive ||
                  !transport_->Reachable(node->address))) {
      continue;  // still down: keep the hints
    }
    std::string after;
    for (int b = 0; b < kMaxBatchesPerOwner; ++b) {
      std::vector<Sent> batch;
      absl::StatusOr<std::string> last = hints_->Scan(
          owner, after, options_.batch_keys,
          [&](std::string_view key, std::string_view object) {
            batch.push_back(Sent{std::string(key), std::string(object)});
          });
      if (!last.ok() || batch.empty()) break;
      after = *last;
      std::vector<bool> delivered(batch.size(), false);
      if (!gone) {
        delivered = SendAndWait(node->address, batch, ReplicaOp::Kind::kStore,
                                kNoNode);
      } else {
        // The owner left or was removed: the key's current replicas take
        // what it missed. Delivered once every healthy one acknowledged.
        std::map<std::string, std::vector<size_t>> by_address;
        std::vector<int> needed(batch.size(), 0);
        for (size_t i = 0; i < batch.size(); ++i) {
          for (NodeId id :
               view.ring->PreferenceList(RingPosition(batch[i].key), options_.n)) {
            const ClusterView::Node* r = view.Find(id);
            if (id == view.self || r == nullptr ||
                r->status != MemberStatus::kAlive ||
                !transport_->Reachable(r->address)) {
              continue;
            }
            by_address[r->address].push_back(i);
            ++needed[i];
          }
        }
        std::vector<int> got(batch.size(), 0);
        for (const auto& [address, indexes] : by_address) {
          std::vector<Sent> part;
          for (size_t i : indexes) part.push_back(batch[i]);
          std::vector<bool> acked =
              SendAndWait(address, part, ReplicaOp::Kind::kStore, kNoNode);
          for (size_t j = 0; j < indexes.size(); ++j) {
            if (acked[j]) ++got[indexes[j]];
          }
        }
        // Keys this node replicates itself go into its own store too.
        for (size_t i = 0; i < batch.size(); ++i) {
          std::vector<NodeId> pref = view.ring->PreferenceList(
              RingPosition(batch[i].key), options_.n);
          bool self_replica = Contains(pref, view.self) || view.ring->empty();
          if (self_replica) {
            absl::StatusOr<storage::DvvSet> object =
                storage::DvvSet::Decode(batch[i].encoded);
            if (object.ok() && store_->Merge(batch[i].key, *object).ok()) {
              ++got[i];
              ++needed[i];
            }
          }
          delivered[i] = needed[i] > 0 && got[i] == needed[i];
        }
      }
      bool all = true;
      for (size_t i = 0; i < batch.size(); ++i) {
        if (!delivered[i]) {
          all = false;
          continue;
        }
        absl::StatusOr<bool> deleted =
            hints_->DeleteIfUnchanged(owner, batch[i].key, batch[i].encoded);
        if (deleted.ok() && *deleted) ++(gone ? hints_rehomed_ : hints_delivered_);
      }
      if (!all) {
        ++failures_;
        break;  // the owner went away again: retry next round
      }
      if (batch.size() < options_.batch_keys) break;
      if (b + 1 == kMaxBatchesPerOwner) more = true;
    }
  }
  return more;
}

bool HandoffRunner::RunTransfer(const ClusterView& view,
                                const RangeTransfer& t) {
  std::vector<std::string> addresses;
  for (NodeId id : t.targets) {
    const ClusterView::Node* node = view.Find(id);
    if (id == view.self) continue;
    if (node == nullptr || node->status != MemberStatus::kAlive ||
        !transport_->Reachable(node->address)) {
      return false;  // a target is down: retry later, keep everything
    }
    addresses.push_back(node->address);
  }
  if (addresses.empty()) return true;
  bool complete = true;
  std::vector<std::pair<std::string, uint64_t>> to_drop;
  std::vector<Sent> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    std::vector<bool> all(batch.size(), true);
    for (const std::string& address : addresses) {
      std::vector<bool> acked =
          SendAndWait(address, batch, ReplicaOp::Kind::kStore, kNoNode);
      for (size_t i = 0; i < batch.size(); ++i) {
        if (acked[i]) {
          ++keys_sent_;
        } else {
          all[i] = false;
        }
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!all[i]) {
        complete = false;
      } else if (t.drop_after) {
        to_drop.push_back(
            {batch[i].key, storage::ObjectStore::EncodingHash(batch[i].encoded)});
      }
    }
    batch.clear();
  };
  ForEachSpan(t.from, t.to, [&](uint64_t lo, uint64_t hi) {
    absl::Status s = store_->ScanPositions(
        lo, hi, [&](std::string_view key, std::string_view object) {
          batch.push_back(Sent{std::string(key), std::string(object)});
          if (batch.size() >= options_.batch_keys) flush();
          return complete;
        });
    flush();
    if (!s.ok()) complete = false;
  });
  if (!to_drop.empty() && !dropped_this_round_ && options_.before_drop) {
    absl::Status s = options_.before_drop();
    if (!s.ok()) {
      RUMOR_LOG_EVERY_SECONDS(ERROR, 30)
          << "range handoff keeps its copies (they are deleted once the "
             "actor epoch can be moved on): " << s;
      to_drop.clear();
      complete = false;
    } else {
      dropped_this_round_ = true;
    }
  }
  for (const auto& [key, hash] : to_drop) {
    absl::StatusOr<bool> deleted = store_->DeleteIfUnchangedHash(key, hash);
    if (deleted.ok() && *deleted) ++keys_dropped_;
  }
  if (!complete) ++failures_;
  return complete;
}

bool HandoffRunner::RunOnce() {
  std::shared_ptr<const ClusterView> view = view_();
  // Until it has joined, this node's view is only itself: every hint's
  // owner would look gone and every range its own.
  if (!view->joined) return false;
  dropped_this_round_ = false;
  bool more = DeliverHints(*view);
  absl::Time now = absl::Now();
  if (view->ring_version != last_ring_version_ || !planned_) {
    if (view->ring_version != last_ring_version_) {
      last_ring_version_ = view->ring_version;
      ring_seen_at_ = now;
      planned_ = false;
    }
    if (now - ring_seen_at_ >= options_.settle && !view->ring->empty()) {
      auto alive = [&view](NodeId id) { return view->Alive(id); };
      std::vector<RangeTransfer> plan = PlanTransfers(
          view->self, last_ring_.get(), *view->ring, options_.n, alive);
      // Pushes to newcomers still owed from an earlier change stay; the
      // clean-up duties are recomputed from the current ring.
      for (const RangeTransfer& t : pending_) {
        if (!t.drop_after) plan.push_back(t);
      }
      pending_ = std::move(plan);
      last_ring_ = view->ring;
      planned_ = true;
      if (!pending_.empty()) {
        RUMOR_LOG(INFO) << "ownership changed: " << pending_.size()
                        << " range(s) to hand off";
      }
    }
  }
  if (!planned_) return more;
  std::vector<RangeTransfer> left;
  for (const RangeTransfer& t : pending_) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return false;
    }
    if (!RunTransfer(*view, t)) left.push_back(t);
  }
  if (pending_.size() != left.size() && left.empty()) {
    RUMOR_LOG(INFO) << "range handoff complete (" << keys_sent_.load()
                    << " keys sent, " << keys_dropped_.load()
                    << " dropped here since start)";
  }
  pending_ = std::move(left);
  transfers_pending_ = pending_.size();
  return more;
}

absl::Status HandoffRunner::HandOffEverything(
    std::shared_ptr<const Ring> ring, absl::Time deadline,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  std::shared_ptr<const ClusterView> view = view_();
  if (ring->empty()) {
    return absl::FailedPreconditionError(
        "no other node holds ring ranges: nothing can take this node's data");
  }
  uint64_t scanned = 0, sent = 0;
  absl::Status result;
  std::vector<uint64_t> bounds = Boundaries(nullptr, *ring);
  for (size_t i = 0; i < bounds.size() && result.ok(); ++i) {
    uint64_t to = bounds[i];
    uint64_t from = bounds[(i + bounds.size() - 1) % bounds.size()];
    std::vector<std::string> addresses;
    for (NodeId id : ring->PreferenceList(to, options_.n)) {
      const ClusterView::Node* node = view->Find(id);
      if (node == nullptr || id == view->self) continue;
      addresses.push_back(node->address);
    }
    std::vector<Sent> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      for (const std::string& address : addresses) {
        std::vector<bool> acked =
            SendAndWait(address, batch, ReplicaOp::Kind::kStore, kNoNode);
        for (bool a : acked) {
          if (!a && result.ok()) {
            result = absl::UnavailableError(absl::StrCat(
                "handing off to ", address, " failed; nothing was deleted"));
          }
          if (a) ++sent;
        }
      }
      batch.clear();
      if (progress) progress(sent, scanned);
      if (result.ok() && absl::Now() > deadline) {
        result = absl::DeadlineExceededError(absl::StrCat(
            "handoff not finished by the deadline (", sent, " keys sent)"));
      }
    };
    ForEachSpan(from, to, [&](uint64_t lo, uint64_t hi) {
      if (!result.ok()) return;
      absl::Status s = store_->ScanPositions(
          lo, hi, [&](std::string_view key, std::string_view object) {
            ++scanned;
            batch.push_back(Sent{std::string(key), std::string(object)});
            if (batch.size() >= options_.batch_keys) flush();
            return result.ok();
          });
      flush();
      if (!s.ok() && result.ok()) result = s;
    });
  }
  keys_sent_ += sent;
  if (progress) progress(sent, scanned);
  return result;
}

}  // namespace rumor::server
