#include "server/replication/handoff.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
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
    const std::function<bool(NodeId)>& pulled) {
  std::vector<RangeTransfer> out;
  if (after.empty()) return out;
  std::vector<uint64_t> bounds = Boundaries(before, after);
  for (size_t i = 0; i < bounds.size(); ++i) {
    uint64_t to = bounds[i];
    uint64_t from = bounds[(i + bounds.size() - 1) % bounds.size()];
    std::vector<NodeId> now = after.PreferenceList(to, n);
    std::set<NodeId> targets;
    bool keeps = Contains(now, self);
    std::vector<NodeId> old;
    if (before != nullptr) {
      old = before->empty() ? std::vector<NodeId>{self}
                            : before->PreferenceList(to, n);
    }
    if (before != nullptr && Contains(old, self)) {
      // Every old replica sends the range to each node that newly
      // replicates it, unless that node pulled it itself while joining
      // and this one keeps a copy: one sender would do, but it may die
      // before it has sent (merges make the copies harmless).
      for (NodeId id : now) {
        if (Contains(old, id) || id == self) continue;
        if (!keeps || !pulled(id)) targets.insert(id);
      }
    }
    if (!keeps) {
      // Whatever this node holds of a range it no longer replicates goes to
      // its replicas, then is deleted here: to the ones that newly
      // replicate it when the change is known (the others held it already
      // as replicas), to all of them when it is not (just started).
      for (NodeId id : now) {
        if (before == nullptr || !Contains(old, id)) targets.insert(id);
      }
      if (targets.empty()) {
        // Nobody new replicates it (the replicas all held it already):
        // they get this copy anyway before it is deleted, to be safe.
        targets.insert(now.begin(), now.end());
      }
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

HandoffRunner::~HandoffRunner() { Shutdown(); }

void HandoffRunner::Start() {
  absl::MutexLock start_lock(&thread_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_ || thread_.joinable()) return;
    stopping_ = false;
  }
  interrupted_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void HandoffRunner::Stop() {
  absl::MutexLock start_lock(&thread_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  interrupted_ = true;  // the loop's waits end now
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  // A leave's handoff, run after Stop, must not be interrupted; after
  // Shutdown it must.
  interrupted_ = shut_down_;
}

void HandoffRunner::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
  }
  interrupted_ = true;
  Stop();
}

HandoffStats HandoffRunner::stats() const {
  HandoffStats s;
  s.hints_delivered = hints_delivered_;
  s.hints_rehomed = hints_rehomed_;
  s.keys_sent = keys_sent_;
  s.keys_dropped = keys_dropped_;
  s.transfers_pending = transfers_pending_;
  s.failures = failures_;
  s.keys_pulled = keys_pulled_;
  s.bootstrap_ranges_left = bootstrap_ranges_left_;
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

bool HandoffRunner::DeliverHints(const ClusterView& view, bool settled) {
  constexpr int kMaxBatchesPerOwner = 16;  // then let other work run
  bool more = false;
  auto healthy = [&](const ClusterView::Node* n) {
    return n != nullptr && n->status == MemberStatus::kAlive &&
           transport_->Reachable(n->address);
  };
  for (const auto& [owner, count] : hints_->Counts()) {
    const ClusterView::Node* node = view.Find(owner);
    // Gone: left, removed, or forgotten since. Only a settled view can say
    // so (a member may simply not have been heard of yet).
    bool gone = node == nullptr || node->status == MemberStatus::kLeft;
    if (gone ? !settled : !healthy(node)) continue;  // keep the hints
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
      // Each hint goes to its owner while the owner replicates the key;
      // otherwise (it left, or the ring moved the key elsewhere) to the
      // key's current replicas that are up, this node's store included.
      std::map<std::string, std::vector<size_t>> by_address;
      std::vector<int> needed(batch.size(), 0), got(batch.size(), 0);
      std::vector<bool> to_owner(batch.size(), false);
      std::vector<size_t> local;
      for (size_t i = 0; i < batch.size(); ++i) {
        uint64_t pos = RingPosition(batch[i].key);
        std::vector<NodeId> pref = view.ring->PreferenceList(pos, options_.n);
        std::vector<NodeId> full = view.full_ring->PreferenceList(pos, options_.n);
        if (!gone && (Contains(pref, owner) || Contains(full, owner))) {
          by_address[node->address].push_back(i);
          ++needed[i];
          to_owner[i] = true;
          continue;
        }
        for (NodeId id : pref) {
          if (id == view.self) {
            local.push_back(i);
            ++needed[i];
            continue;
          }
          const ClusterView::Node* r = view.Find(id);
          if (!healthy(r)) continue;
          by_address[r->address].push_back(i);
          ++needed[i];
        }
      }
      for (const auto& [address, indexes] : by_address) {
        std::vector<Sent> part;
        for (size_t i : indexes) part.push_back(batch[i]);
        std::vector<bool> acked =
            SendAndWait(address, part, ReplicaOp::Kind::kStore, kNoNode);
        for (size_t j = 0; j < indexes.size(); ++j) {
          if (acked[j]) ++got[indexes[j]];
        }
      }
      for (size_t i : local) {
        absl::StatusOr<storage::DvvSet> object =
            storage::DvvSet::Decode(batch[i].encoded);
        if (object.ok() && store_->Merge(batch[i].key, *object).ok()) ++got[i];
      }
      bool all = true;
      for (size_t i = 0; i < batch.size(); ++i) {
        if (needed[i] == 0 || got[i] != needed[i]) {
          all = false;
          continue;
        }
        absl::StatusOr<bool> deleted =
            hints_->DeleteIfUnchanged(owner, batch[i].key, batch[i].encoded);
        if (deleted.ok() && *deleted) {
          ++(to_owner[i] ? hints_delivered_ : hints_rehomed_);
        }
      }
      if (!all) {
        ++failures_;
        break;  // a destination went away again: retry next round
      }
      if (batch.size() < options_.batch_keys) break;
      if (b + 1 == kMaxBatchesPerOwner) more = true;
    }
  }
  return more;
}

std::optional<RangeTransfer> HandoffRunner::RunTransfer(
    const ClusterView& view, const RangeTransfer& t) {
  struct Dest {
    NodeId id;
    std::string address;
    bool all_acked = true;
  };
  std::vector<Dest> dests;
  for (NodeId id : t.targets) {
    if (id == view.self) continue;
    const ClusterView::Node* node = view.Find(id);
    bool up = node != nullptr && node->status == MemberStatus::kAlive &&
              transport_->Reachable(node->address);
    if (!up) {
      // Keys are deleted here only once every target has them: a drop
      // waits for all. Plain sends go to whoever is up now.
      if (t.drop_after) return t;
      continue;
    }
    dests.push_back(Dest{id, node->address});
  }
  if (dests.empty()) return t;  // every target down: later
  bool scanned = true;
  std::vector<std::pair<std::string, uint64_t>> to_drop;
  std::vector<Sent> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    std::vector<bool> all(batch.size(), true);
    for (Dest& d : dests) {
      std::vector<bool> acked =
          SendAndWait(d.address, batch, ReplicaOp::Kind::kStore, kNoNode);
      for (size_t i = 0; i < batch.size(); ++i) {
        if (acked[i]) {
          ++keys_sent_;
        } else {
          all[i] = false;
          d.all_acked = false;
        }
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (all[i] && t.drop_after) {
        to_drop.push_back(
            {batch[i].key, storage::ObjectStore::EncodingHash(batch[i].encoded)});
      }
    }
    batch.clear();
  };
  auto going = [&] {
    for (const Dest& d : dests) {
      if (d.all_acked) return true;
    }
    return false;
  };
  ForEachSpan(t.from, t.to, [&](uint64_t lo, uint64_t hi) {
    if (!going()) return;
    absl::Status s = store_->ScanPositions(
        lo, hi, [&](std::string_view key, std::string_view object) {
          batch.push_back(Sent{std::string(key), std::string(object)});
          if (batch.size() >= options_.batch_keys) flush();
          return going();
        });
    flush();
    if (!s.ok()) scanned = false;
  });
  if (!to_drop.empty() && view_()->ring_version != view.ring_version) {
    // The ring moved while the range was sent: this node may replicate
    // these keys again (the target left, say). Keep every copy; the next
    // plan, made from the new ring, decides again.
    to_drop.clear();
    scanned = false;
  }
  if (!to_drop.empty() && !dropped_this_round_ && options_.before_drop) {
    absl::Status s = options_.before_drop();
    if (!s.ok()) {
      RUMOR_LOG_EVERY_SECONDS(ERROR, 30)
          << "range handoff keeps its copies (they are deleted once the "
             "actor epoch can be moved on): " << s;
      to_drop.clear();
      scanned = false;
    } else {
      dropped_this_round_ = true;
    }
  }
  for (const auto& [key, hash] : to_drop) {
    absl::StatusOr<bool> deleted = store_->DeleteIfUnchangedHash(key, hash);
    if (deleted.ok() && *deleted) ++keys_dropped_;
  }
  // What is left: targets that were down or did not acknowledge every key
  // (all of them for a drop, which must be redone whole).
  RangeTransfer left = t;
  left.targets.clear();
  bool all_done = scanned;
  for (NodeId id : t.targets) {
    if (id == view.self) continue;
    auto d = std::find_if(dests.begin(), dests.end(),
                          [id](const Dest& x) { return x.id == id; });
    bool done = scanned && d != dests.end() && d->all_acked;
    if (!done) {
      left.targets.push_back(id);
      all_done = false;
    }
  }
  if (all_done) return std::nullopt;
  if (!scanned || !going() ||
      std::any_of(dests.begin(), dests.end(),
                  [](const Dest& d) { return !d.all_acked; })) {
    ++failures_;  // (a target that was down is not a failure)
  }
  if (t.drop_after) return t;
  return left;
}

bool HandoffRunner::RunOnce() {
  std::shared_ptr<const ClusterView> view = view_();
  // Until it has joined, this node's view is only itself: every hint's
  // owner would look gone and every range its own.
  if (!view->joined) return false;
  dropped_this_round_ = false;
  // The monotonic clock: a step of the wall clock must not hold handoff
  // back (or rush it) by the size of the step.
  absl::Time now = SteadyClock::Get()->Now();
  if (view->ring_version != last_ring_version_) {
    last_ring_version_ = view->ring_version;
    ring_seen_at_ = now;
    planned_ = false;
  }
  bool settled = now - ring_seen_at_ >= options_.settle;
  bool more = DeliverHints(*view, settled);
  const ClusterView::Node* me = view->Find(view->self);
  if (me != nullptr && me->joining) {
    // Pull this node's future ranges; nothing to hand off before it serves.
    if (settled) more |= RunBootstrap(*view);
    last_ring_ = view->ring;
    last_full_ring_ = view->full_ring;
    pending_.clear();
    transfers_pending_ = 0;
    return more;
  }
  if (!planned_ && settled && !view->ring->empty()) {
    // A node that was joining at the last plan pulled its ranges itself.
    std::set<NodeId> serving_before, joining_before;
    if (last_ring_) {
      for (const auto& [token, id] : last_ring_->tokens()) {
        serving_before.insert(id);
      }
    }
    if (last_full_ring_) {
      for (const auto& [token, id] : last_full_ring_->tokens()) {
        if (!serving_before.contains(id)) joining_before.insert(id);
      }
    }
    std::vector<RangeTransfer> plan = PlanTransfers(
        view->self, last_ring_.get(), *view->ring, options_.n,
        [&](NodeId id) { return joining_before.contains(id); });
    // Sends still owed from an earlier change stay, minus targets that are
    // no longer ring members; clean-up duties are recomputed from the
    // current ring.
    std::set<NodeId> members;
    for (const auto& [token, id] : view->full_ring->tokens()) members.insert(id);
    for (RangeTransfer t : pending_) {
      if (t.drop_after) continue;
      std::erase_if(t.targets, [&](NodeId id) { return !members.contains(id); });
      if (!t.targets.empty()) plan.push_back(std::move(t));
    }
    pending_ = std::move(plan);
    last_ring_ = view->ring;
    last_full_ring_ = view->full_ring;
    planned_ = true;
    if (!pending_.empty()) {
      RUMOR_LOG(INFO) << "ownership changed: " << pending_.size()
                      << " range(s) to hand off";
    }
  }
  if (!planned_) return more;
  std::vector<RangeTransfer> left;
  for (const RangeTransfer& t : pending_) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return false;
    }
    if (std::optional<RangeTransfer> rest = RunTransfer(*view, t)) {
      left.push_back(std::move(*rest));
    }
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

bool HandoffRunner::RunBootstrap(const ClusterView& view) {
  if (bootstrap_version_ != view.ring_version) {
    bootstrap_version_ = view.ring_version;
    bootstrapped_.clear();
  }
  std::vector<uint64_t> bounds = Boundaries(view.ring.get(), *view.full_ring);
  // The ring this node will serve in if it finishes first, while other
  // nodes are still joining: the serving ring plus this node. Its ranges
  // there are pulled too, or it would serve ranges it never pulled (a
  // replica there but not in the full ring, with the other joiners).
  std::shared_ptr<const Ring> first_to_serve = view.full_ring;
  for (const auto& [joiner, ring] : view.joiner_rings) {
    if (joiner == view.self) first_to_serve = ring;
  }
  bool complete = true;
  size_t ranges_left = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return false;
    }
    uint64_t to = bounds[i];
    uint64_t from = bounds[(i + bounds.size() - 1) % bounds.size()];
    if (bootstrapped_.contains(to)) continue;
    if (!Contains(view.full_ring->PreferenceList(to, options_.n), view.self) &&
        !Contains(first_to_serve->PreferenceList(to, options_.n), view.self)) {
      bootstrapped_.insert(to);
      continue;
    }
    // The serving replicas of the range: enough of them that every write
    // acknowledged by W of them is on one (N - W + 1), first in ring order.
    std::vector<NodeId> serving = view.ring->PreferenceList(to, options_.n);
    size_t need = std::min(options_.bootstrap_sources, serving.size());
    std::vector<std::string> sources;
    for (NodeId id : serving) {
      const ClusterView::Node* node = view.Find(id);
      if (id == view.self || node == nullptr ||
          node->status != MemberStatus::kAlive ||
          !transport_->Reachable(node->address)) {
        continue;
      }
      if (sources.size() < need) sources.push_back(node->address);
    }
    bool ok = sources.size() >= need;
    for (const std::string& address : sources) {
      if (ok) ok = PullRange(address, from, to);
    }
    if (ok) {
      bootstrapped_.insert(to);
    } else {
      complete = false;
      ++ranges_left;
    }
  }
  bootstrap_ranges_left_ = ranges_left;
  if (!complete) {
    ++failures_;
    RUMOR_LOG_EVERY_SECONDS(WARNING, 30)
        << "joining: " << ranges_left << " range(s) could not be pulled yet "
        << "(too few of their replicas reachable); retrying";
    return false;
  }
  // Serve only if the serving ring did not change meanwhile: a range may
  // have moved to a replica this pass did not ask.
  if (view_()->ring_version != bootstrap_version_) return true;
  absl::Status s = options_.on_bootstrapped ? options_.on_bootstrapped()
                                            : absl::OkStatus();
  if (!s.ok()) {
    RUMOR_LOG_EVERY_SECONDS(ERROR, 30)
        << "joining: ranges pulled, but cannot record it (retrying): " << s;
    return false;
  }
  RUMOR_LOG(INFO) << "joining: pulled every range (" << keys_pulled_.load()
                  << " objects); now serving them";
  return false;
}

bool HandoffRunner::PullRange(const std::string& address, uint64_t from,
                              uint64_t to) {
  bool ok = true;
  ForEachSpan(from, to, [&](uint64_t lo, uint64_t hi) {
    std::string after;
    while (ok) {
      ReplicaOp op;
      op.kind = ReplicaOp::Kind::kScan;
      op.scan_first = lo;
      op.scan_last = hi;
      op.key = after;
      op.limit = static_cast<uint32_t>(
          std::clamp<size_t>(options_.batch_keys, 1, kMaxScanLimit));
      std::optional<ReplicaReply> reply = CallAndWait(address, std::move(op));
      if (!reply || !reply->status.ok()) {
        ok = false;
        break;
      }
      for (const auto& [key, encoded] : reply->entries) {
        absl::StatusOr<storage::DvvSet> object =
            storage::DvvSet::Decode(encoded);
        if (!object.ok() || !store_->Merge(key, *object).ok()) {
          ok = false;
          break;
        }
        ++keys_pulled_;
      }
      if (!ok || !reply->more || reply->entries.empty()) break;
      after = reply->entries.back().first;
    }
  });
  return ok;
}

std::optional<ReplicaReply> HandoffRunner::CallAndWait(
    const std::string& address, ReplicaOp op) {
  struct Wait {
    absl::Mutex mu;
    bool done = false;
    ReplicaReply reply;
  };
  auto w = std::make_shared<Wait>();
  transport_->Call(address, std::move(op),
                   absl::Now() + options_.call_timeout,
                   [w](ReplicaReply reply) {
                     absl::MutexLock lock(&w->mu);
                     w->reply = std::move(reply);
                     w->done = true;
                   });
  while (true) {
    {
      absl::MutexLock lock(&w->mu);
      if (w->mu.AwaitWithTimeout(absl::Condition(&w->done),
                                 absl::Milliseconds(50))) {
        return std::move(w->reply);
      }
    }
    if (interrupted_.load()) return std::nullopt;
  }
}

absl::Status HandoffRunner::HandOffEverything(
    std::shared_ptr<const Ring> ring, absl::Time deadline,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  std::shared_ptr<const ClusterView> view = view_();
  if (ring->empty()) {
    return absl::FailedPreconditionError(
        "no other node holds ring ranges: nothing can take this node's data");
  }
  struct Dest {
    std::string address;
    ReplicaOp::Kind kind = ReplicaOp::Kind::kStore;
    NodeId hint_for = kNoNode;
    bool operator<(const Dest& o) const {
      return std::tie(address, kind, hint_for) <
             std::tie(o.address, o.kind, o.hint_for);
    }
  };
  auto healthy = [&](NodeId id) -> const ClusterView::Node* {
    const ClusterView::Node* n = view->Find(id);
    if (id == view->self || n == nullptr ||
        n->status != MemberStatus::kAlive ||
        !transport_->Reachable(n->address)) {
      return nullptr;
    }
    return n;
  };
  // Where a key at `pos` goes: each of its replicas without this node, or,
  // for one that is down, the next node up as a fallback that keeps it as
  // a hint (so the leave still leaves N copies).
  auto dests_for = [&](uint64_t pos, std::vector<Dest>* out) -> absl::Status {
    out->clear();
    std::vector<NodeId> pref = ring->PreferenceList(pos, options_.n);
    std::vector<NodeId> walk = ring->Walk(pos);
    size_t next = pref.size();
    for (NodeId r : pref) {
      if (const ClusterView::Node* n = healthy(r)) {
        out->push_back(Dest{n->address, ReplicaOp::Kind::kStore, kNoNode});
        continue;
      }
      bool found = false;
      while (!found && next < walk.size()) {
        if (const ClusterView::Node* f = healthy(walk[next++])) {
          out->push_back(Dest{f->address, ReplicaOp::Kind::kStoreHint, r});
          found = true;
        }
      }
      if (!found) {
        return absl::UnavailableError(absl::StrCat(
            "replica ", NodeIdToString(r),
            " is down and no other node can keep its copy; nothing was "
            "deleted"));
      }
    }
    return absl::OkStatus();
  };
  uint64_t scanned = 0, sent = 0;
  absl::Status result;
  auto send = [&](const Dest& d, const std::vector<Sent>& batch) {
    std::vector<bool> acked = SendAndWait(d.address, batch, d.kind, d.hint_for);
    for (bool a : acked) {
      if (a) {
        ++sent;
      } else if (result.ok()) {
        result = absl::UnavailableError(absl::StrCat(
            "handing off to ", d.address, " failed; nothing was deleted"));
      }
    }
  };
  auto after_batch = [&] {
    if (progress) progress(sent, scanned);
    if (result.ok() && absl::Now() > deadline) {
      result = absl::DeadlineExceededError(absl::StrCat(
          "handoff not finished by the deadline (", sent, " copies sent)"));
    }
  };
  // The data: range by range (one set of destinations per range).
  std::vector<uint64_t> bounds = Boundaries(nullptr, *ring);
  for (size_t i = 0; i < bounds.size() && result.ok(); ++i) {
    uint64_t to = bounds[i];
    uint64_t from = bounds[(i + bounds.size() - 1) % bounds.size()];
    std::vector<Dest> dests;
    result = dests_for(to, &dests);
    if (!result.ok()) break;
    std::vector<Sent> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      for (const Dest& d : dests) send(d, batch);
      batch.clear();
      after_batch();
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
  // The hints this node keeps for others: a fallback's hint may be one of
  // the W copies of a write, so they go where the key lives without this
  // node, like its data.
  for (const auto& [owner, count] : hints_->Counts()) {
    std::string after;
    while (result.ok()) {
      std::map<Dest, std::vector<Sent>> groups;
      std::vector<Dest> dests;
      size_t n = 0;
      absl::StatusOr<std::string> last = hints_->Scan(
          owner, after, options_.batch_keys,
          [&](std::string_view key, std::string_view object) {
            ++n;
            ++scanned;
            if (!result.ok()) return;
            result = dests_for(RingPosition(key), &dests);
            for (const Dest& d : dests) {
              groups[d].push_back(Sent{std::string(key), std::string(object)});
            }
          });
      if (!last.ok() && result.ok()) result = last.status();
      if (!result.ok() || n == 0) break;
      for (const auto& [d, batch] : groups) send(d, batch);
      after_batch();
      after = *last;
      if (n < options_.batch_keys) break;
    }
  }
  keys_sent_ += sent;
  if (progress) progress(sent, scanned);
  return result;
}

}  // namespace rumor::server
