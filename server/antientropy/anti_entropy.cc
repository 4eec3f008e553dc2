#include "server/antientropy/anti_entropy.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "server/replication/placement.h"
#include "storage/dvv.h"

namespace rumor::server {

namespace {
// How often deleted keys are looked at: a quarter of their grace, within
// 100 ms..1 min.
absl::Duration ReapInterval(absl::Duration grace) {
  return std::clamp(grace / 4, absl::Milliseconds(100), absl::Minutes(1));
}

constexpr uint64_t kMaxPosition = std::numeric_limits<uint64_t>::max();

bool Holds(const std::vector<NodeId>& pref, NodeId id) {
  return std::find(pref.begin(), pref.end(), id) != pref.end();
}

absl::Time SteadyNow() { return SteadyClock::Get()->Now(); }

absl::Status PausedError() {
  return absl::FailedPreconditionError(
      "anti-entropy is paused on this node (kvcli aae --resume)");
}

// Keys checked (and removed) per reap request, and at most per pass.
constexpr size_t kReapBatch = 256;
constexpr size_t kReapPerPass = 16 * kReapBatch;
// A listed key costs the two nodes about a quarter of what a repaired key
// does (a scan step and a hash each, against a fetch, a merge and a write).
constexpr size_t kListedKeysPerRepairedKey = 4;
// Pieces of the tree check per step between two loop turns.
constexpr uint64_t kVerifyPiecesPerStep = 16;

// The index of the range of `ranges` (sorted, disjoint) holding `position`,
// or ranges.size().
size_t RangeOf(const std::vector<RangeReport>& ranges, uint64_t position) {
  auto it = std::upper_bound(
      ranges.begin(), ranges.end(), position,
      [](uint64_t p, const RangeReport& r) { return p < r.range.from; });
  if (it == ranges.begin()) return ranges.size();
  --it;
  return position <= it->range.to ? static_cast<size_t>(it - ranges.begin())
                                   : ranges.size();
}
}  // namespace

std::vector<PositionRange> SharedRanges(const Ring& ring, NodeId a, NodeId b,
                                        size_t n) {
  const auto& tokens = ring.tokens();
  std::vector<PositionRange> out;
  if (tokens.empty() || a == b) return out;
  auto add = [&out](uint64_t from, uint64_t to) {
    if (!out.empty() && out.back().to != kMaxPosition &&
        out.back().to + 1 == from) {
      out.back().to = to;
    } else {
      out.push_back({from, to});
    }
  };
  bool wrap = false;  // the arc past the last token is shared
  for (size_t i = 0; i < tokens.size(); ++i) {
    uint64_t t = tokens[i].first;
    // Positions (previous token, t] share t's preference list.
    std::vector<NodeId> pref = ring.PreferenceList(t, n);
    if (!Holds(pref, a) || !Holds(pref, b)) continue;
    if (i == 0) {
      add(0, t);
      wrap = tokens.back().first != kMaxPosition;
    } else if (tokens[i - 1].first != t) {
      add(tokens[i - 1].first + 1, t);
    }
  }
  if (wrap) add(tokens.back().first + 1, kMaxPosition);
  return out;
}

AntiEntropy::AntiEntropy(storage::ObjectStore* store,
                         ReplicaTransport* transport,
                         Executor* storage_executor, ClusterViewSource view,
                         AntiEntropyOptions options)
    : store_(store),
      transport_(transport),
      storage_executor_(storage_executor),
      view_(std::move(view)),
      options_(options),
      tree_(options.segment_bits),
      governor_(options.governor) {
  {
    absl::MutexLock lock(&mu_);
    pacing_.on = options_.foreground && options_.max_keys_per_second > 0;
  }
  store_->SetObserver(this);
}

AntiEntropy::~AntiEntropy() {
  Stop();
  store_->SetObserver(nullptr);
}

void AntiEntropy::Start() {
  absl::MutexLock lock(&thread_mu_);
  if (thread_.joinable() || stopping()) return;
  thread_ = std::thread([this] { Loop(); });
}

void AntiEntropy::Stop() {
  std::deque<Request> cancelled;
  {
    absl::MutexLock lock(&mu_);
    stop_.store(true, std::memory_order_release);
    stopped_ = true;
    cancelled.swap(queue_);
  }
  for (Request& r : cancelled) {
    std::move(r.done)(absl::CancelledError("anti-entropy stopped"));
  }
  absl::MutexLock lock(&thread_mu_);
  if (thread_.joinable()) thread_.join();
}

void AntiEntropy::RunNow(NodeId peer, RunDone done) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (!build_error_.ok()) {
      refused = build_error_;
    } else if (stopped_) {
      refused = absl::CancelledError("anti-entropy stopped");
    } else if (paused_) {
      refused = PausedError();
    } else {
      queue_.push_back({peer, std::move(done)});
      return;
    }
  }
  std::move(done)(refused);
}

AntiEntropy::State AntiEntropy::GetState() const {
  State s;
  s.ready = tree_.ready();
  s.tree_bytes = tree_.MemoryBytes();
  s.interval = options_.interval;
  absl::MutexLock lock(&mu_);
  s.build_progress = build_progress_;
  s.build_keys = build_keys_;
  s.build_took = build_took_;
  s.build_error = build_error_;
  s.counters = counters_;
  for (const auto& [id, report] : last_) s.last.push_back(report);
  s.reaping = reaping_;
  s.reaping.grace = options_.tombstone_grace;
  s.verify = verify_;
  s.verify.interval = options_.verify_interval;
  s.pacing = pacing_;
  s.paused = paused_;
  absl::MutexLock reap_lock(&reap_mu_);
  s.reaping.pending = deleted_.size();
  s.reaping.forgotten = forgotten_;
  return s;
}

void AntiEntropy::ObjectChanged(uint64_t position, std::string_view key,
                                std::string_view before,
                                std::string_view after) {
  tree_.ObjectChanged(position, key, before, after);
  if (options_.tombstone_grace <= absl::ZeroDuration()) return;
  if (storage::DvvSet::EncodedOnlyTombstones(after)) {
    // A key deleted just now (not merely a tombstone changed) starts its
    // grace again, whatever a scan may have recorded before.
    Track(key, /*restart=*/!storage::DvvSet::EncodedOnlyTombstones(before));
  } else if (storage::DvvSet::EncodedOnlyTombstones(before)) {
    // Written again, or removed.
    absl::MutexLock lock(&reap_mu_);
    if (deleted_.erase(absl::string_view(key.data(), key.size())) > 0) {
      deleted_bytes_ -= key.size();
    }
  }
}

void AntiEntropy::Track(std::string_view key, bool restart) {
  absl::MutexLock lock(&reap_mu_);
  auto it = deleted_.find(absl::string_view(key.data(), key.size()));
  if (it != deleted_.end()) {
    if (restart) {
      absl::Time now = SteadyNow();
      it->second = Deleted{now, now + options_.tombstone_grace};
    }
    return;
  }
  if (deleted_.size() >= options_.max_reap_candidates ||
      deleted_bytes_ + key.size() > options_.max_reap_candidate_bytes) {
    ++forgotten_;
    return;
  }
  absl::Time now = SteadyNow();
  deleted_.emplace(std::string(key),
                   Deleted{now, now + options_.tombstone_grace});
  deleted_bytes_ += key.size();
}

void AntiEntropy::Retry(const std::string& key, absl::Duration wait) {
  absl::MutexLock lock(&reap_mu_);
  auto it = deleted_.find(key);
  if (it != deleted_.end()) it->second.next_try = SteadyNow() + wait;
}

void AntiEntropy::Scanned(std::string_view key, std::string_view object) {
  if (options_.tombstone_grace > absl::ZeroDuration() &&
      storage::DvvSet::EncodedOnlyTombstones(object)) {
    Track(key);
  }
}

void AntiEntropy::Loop() {
  absl::Time started = SteadyNow();
  RUMOR_LOG(INFO) << "anti-entropy: building the hash tree ("
                  << tree_.segments() << " segments, "
                  << tree_.MemoryBytes() / (1 << 20) << " MiB)";
  absl::Status built = tree_.Build(
      store_,
      [&](double fraction, uint64_t keys) {
        {
          absl::MutexLock lock(&mu_);
          build_progress_ = fraction;
          build_keys_ = keys;
        }
        // A line a quarter of the way, so a large build shows progress.
        int pct = static_cast<int>(fraction * 100 + 0.5);
        if (pct % 25 == 0 && pct < 100) {
          RUMOR_LOG(INFO) << "anti-entropy: hash tree " << pct << "% built ("
                          << keys << " keys)";
        }
      },
      &stop_,
      [this](std::string_view key, std::string_view object) {
        Scanned(key, object);
      });
  if (!built.ok()) {
    if (!stopping()) {
      RUMOR_LOG(ERROR) << "anti-entropy disabled until a restart: "
                       << built.message();
    }
    // Answer whatever was asked meanwhile, and refuse what comes later.
    std::deque<Request> waiting;
    {
      absl::MutexLock lock(&mu_);
      build_error_ = absl::Status(
          built.code(), absl::StrCat("anti-entropy is off until a restart: ",
                                     built.message()));
      waiting.swap(queue_);
    }
    for (Request& r : waiting) std::move(r.done)(built);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    build_took_ = SteadyNow() - started;
    RUMOR_LOG(INFO) << "anti-entropy: hash tree built from " << build_keys_
                    << " keys in " << absl::FormatDuration(build_took_);
  }

  absl::Time next = options_.interval > absl::ZeroDuration()
                        ? SteadyNow() + options_.interval
                        : absl::InfiniteFuture();
  if (options_.tombstone_grace > absl::ZeroDuration()) {
    next_reap_ = SteadyNow() + ReapInterval(options_.tombstone_grace);
  }
  if (options_.verify_interval > absl::ZeroDuration()) {
    next_verify_ = SteadyNow() + options_.verify_interval;
  }
  while (true) {
    std::optional<Request> asked;
    // Paused by an operator: no new work starts (requests queue up).
    WaitWhilePaused();
    // Between two stretches of work: client latency from here on is the
    // governor's baseline.
    if (options_.foreground) {
      governor_.Stopped(SteadyNow(), options_.foreground());
    }
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopped_ || !queue_.empty();
      };
      // A tree check in progress goes on between requests at its own pace.
      // Every schedule is on the monotonic clock, so a step of the wall
      // clock (NTP, an operator, a VM resumed) neither stalls nor rushes
      // it: wait for a duration, not until a wall-clock time.
      absl::Time wake = std::min({next, next_reap_, next_verify_});
      if (verify_.running) wake = SteadyNow();
      mu_.AwaitWithTimeout(absl::Condition(&ready),
                           std::max(wake - SteadyNow(), absl::ZeroDuration()));
      if (stopped_) return;
      if (!queue_.empty()) {
        asked.emplace(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!asked.has_value()) {
      if (SteadyNow() >= next_reap_) {
        next_reap_ = SteadyNow() + ReapInterval(options_.tombstone_grace);
        ReapPass();  // (may bring the next pass forward)
      }
      VerifyStep();
      if (SteadyNow() < next) continue;
    }
    std::shared_ptr<const ClusterView> view = view_();
    std::vector<NodeId> peers;
    if (view->joined) peers = PeersSharingRanges(*view);
    if (asked.has_value()) {
      if (!view->joined) {
        std::move(asked->done)(absl::UnavailableError(
            "this node has not joined its cluster yet"));
        continue;
      }
      bool serving = false;
      for (const auto& [t, id] : view->ring->tokens()) {
        serving = serving || id == options_.self;
      }
      if (!serving) {
        std::move(asked->done)(absl::UnavailableError(
            "this node serves no ring range yet (it is joining and pulls its "
            "ranges first: see kvcli members); retry when it serves"));
        continue;
      }
      std::vector<NodeId> targets;
      if (asked->peer == kNoNode) {
        targets = peers;
      } else if (Holds(peers, asked->peer)) {
        targets = {asked->peer};
      } else {
        std::move(asked->done)(absl::InvalidArgumentError(absl::StrCat(
            "node ", NodeIdToString(asked->peer),
            " shares no ring range with this node (or is not alive)")));
        continue;
      }
      std::vector<ExchangeReport> reports;
      for (NodeId p : targets) {
        if (stopping()) break;
        reports.push_back(RunExchange(*view, p));
      }
      std::move(asked->done)(std::move(reports));
      continue;
    }
    // The schedule: the next peer in turn.
    if (options_.interval <= absl::ZeroDuration()) {
      next = absl::InfiniteFuture();
      continue;
    }
    if (SteadyNow() < next) continue;
    next = SteadyNow() + options_.interval;
    if (peers.empty()) continue;
    NodeId peer;
    {
      absl::MutexLock lock(&mu_);
      peer = peers[next_peer_++ % peers.size()];
    }
    RunExchange(*view, peer);
  }
}

std::vector<NodeId> AntiEntropy::PeersSharingRanges(
    const ClusterView& view) const {
  std::vector<NodeId> out;
  std::vector<NodeId> all;
  for (const auto& [t, id] : view.ring->tokens()) {
    if (id != options_.self && !Holds(all, id)) all.push_back(id);
  }
  std::sort(all.begin(), all.end());
  for (NodeId id : all) {
    const ClusterView::Node* n = view.Find(id);
    if (n == nullptr || n->status != MemberStatus::kAlive) continue;
    if (SharedRanges(*view.ring, options_.self, id, options_.replicas)
            .empty()) {
      continue;
    }
    out.push_back(id);
  }
  return out;
}

std::vector<ReplicaReply> AntiEntropy::CallAll(const std::string& address,
                                               std::vector<ReplicaOp> ops) {
  std::vector<std::pair<std::string, ReplicaOp>> calls;
  calls.reserve(ops.size());
  for (ReplicaOp& op : ops) calls.emplace_back(address, std::move(op));
  return CallMany(std::move(calls));
}

std::vector<ReplicaReply> AntiEntropy::CallMany(
    std::vector<std::pair<std::string, ReplicaOp>> calls) {
  struct Wait {
    absl::Mutex mu;
    size_t left ABSL_GUARDED_BY(mu);
    std::vector<ReplicaReply> replies ABSL_GUARDED_BY(mu);
  };
  auto wait = std::make_shared<Wait>();
  {
    absl::MutexLock lock(&wait->mu);
    wait->left = calls.size();
    wait->replies.resize(calls.size());
  }
  absl::Time deadline = absl::Now() + options_.request_timeout;
  for (size_t i = 0; i < calls.size(); ++i) {
    transport_->Call(calls[i].first, std::move(calls[i].second), deadline,
                     [wait, i](ReplicaReply reply) {
                       absl::MutexLock lock(&wait->mu);
                       wait->replies[i] = std::move(reply);
                       --wait->left;
                     });
  }
  absl::MutexLock lock(&wait->mu);
  // The transport answers every call by its deadline; the margin only
  // guards against a transport that breaks that promise.
  if (!wait->mu.AwaitWithDeadline(
          absl::Condition(+[](size_t* left) { return *left == 0; },
                          &wait->left),
          deadline + absl::Seconds(5))) {
    std::vector<ReplicaReply> out(wait->replies.size());
    for (auto& r : out) {
      r.status = absl::DeadlineExceededError("no answer from the peer");
    }
    return out;
  }
  return std::move(wait->replies);
}

ExchangeReport AntiEntropy::RunExchange(const ClusterView& view, NodeId peer) {
  WorkStarts();
  ExchangeReport report;
  report.peer = peer;
  absl::Time started = SteadyNow();
  const ClusterView::Node* node = view.Find(peer);
  auto finish = [&](absl::Status status) {
    report.status = std::move(status);
    report.finished = absl::Now();  // shown to operators: wall clock
    report.took = SteadyNow() - started;
    absl::MutexLock lock(&mu_);
    ++counters_.exchanges;
    if (!report.status.ok()) ++counters_.exchange_failures;
    counters_.keys_compared += report.keys_compared;
    counters_.keys_repaired += report.repaired_here + report.repaired_peer;
    counters_.bytes += report.bytes;
    last_[peer] = report;
    return report;
  };
  if (node == nullptr) return finish(absl::NotFoundError("unknown peer"));
  report.address = node->address;
  std::vector<PositionRange> shared =
      SharedRanges(*view.ring, options_.self, peer, options_.replicas);
  report.ranges = shared.size();
  for (const PositionRange& r : shared) report.per_range.push_back({r});
  ExchangeOptions eo;
  eo.segment_bits = tree_.segment_bits();
  Exchange exchange(std::move(shared), eo);
  while (!exchange.done()) {
    YieldToClients();
    if (stopping()) return finish(absl::CancelledError("stopping"));
    std::optional<Exchange::Request> request = exchange.Next();
    if (!request.has_value()) {
      return finish(absl::InternalError("exchange stalled"));
    }
    const bool keys = request->kind == Exchange::Request::Kind::kKeys;
    ReplicaOp op;
    op.kind = ReplicaOp::Kind::kTree;
    op.list_keys = keys;
    op.segment_bits = static_cast<uint32_t>(tree_.segment_bits());
    for (const PositionRange& r : request->ranges) {
      op.ranges.emplace_back(r.from, r.to);
    }
    ++report.requests;
    std::vector<ReplicaOp> ops;
    ops.push_back(std::move(op));
    std::vector<ReplicaReply> replies = CallAll(report.address, std::move(ops));
    ReplicaReply& remote = replies[0];
    if (!remote.status.ok()) {
      return finish(absl::Status(
          remote.status.code(),
          absl::StrCat(report.address, ": ", remote.status.message())));
    }
    if (keys) {
      std::vector<KeyDigest> local, theirs;
      for (const PositionRange& r : request->ranges) {
        absl::Status s = ListKeys(store_, r, kMaxTreeKeys, &local);
        if (!s.ok()) return finish(s);
      }
      theirs.reserve(remote.keys.size());
      for (auto& [key, hash] : remote.keys) {
        theirs.push_back({std::move(key), hash});
      }
      // Distinct keys per shared range, for the report.
      absl::flat_hash_set<std::string_view> seen;
      for (const auto* side : {&local, &theirs}) {
        for (const KeyDigest& k : *side) {
          if (!seen.insert(k.key).second) continue;
          size_t i = RangeOf(report.per_range, RingPosition(k.key));
          if (i < report.per_range.size()) ++report.per_range[i].keys_compared;
        }
      }
      exchange.OnKeys(local, theirs);
      // Listing is paced too, at a quarter of a repaired key's share of
      // the key rate: when every segment differs (a wiped replica) the
      // listings of the whole ring come before the first repair and would
      // otherwise run flat out.
      Throttle((local.size() + theirs.size()) / kListedKeysPerRepairedKey,
               0);
    } else {
      std::vector<uint64_t> local;
      for (const PositionRange& r : request->ranges) {
        absl::StatusOr<uint64_t> h = RangeHash(tree_, store_, r);
        if (!h.ok()) return finish(h.status());
        local.push_back(*h);
      }
      exchange.OnHashes(local, remote.hashes);
    }
    if (exchange.failed()) {
      return finish(absl::InternalError(absl::StrCat(
          report.address, " answered a tree query with the wrong shape")));
    }
  }
  report.keys_compared = exchange.stats().keys_compared;
  report.bytes = exchange.stats().bytes;
  report.differing = exchange.differing().size();
  for (const std::string& key : exchange.differing()) {
    size_t i = RangeOf(report.per_range, RingPosition(key));
    if (i < report.per_range.size()) ++report.per_range[i].differing;
  }
  return finish(
      Repair(view, report.address, peer, exchange.differing(), &report));
}

absl::Status AntiEntropy::Repair(const ClusterView& view,
                                 const std::string& address, NodeId peer,
                                 const std::vector<std::string>& keys,
                                 ExchangeReport* report) {
  (void)view;
  // A key that cannot be repaired now (the peer refused it, an object that
  // does not decode) is counted and skipped, so one bad key cannot hold
  // back every key after it; the next exchange tries it again.
  uint64_t failed = 0;
  absl::Status first_failure;
  auto fail = [&](const absl::Status& s) {
    if (failed++ == 0) first_failure = s;
  };
  for (size_t at = 0; at < keys.size(); at += options_.repair_batch) {
    YieldToClients();
    if (stopping()) return absl::CancelledError("stopping");
    size_t end = std::min(keys.size(), at + options_.repair_batch);
    // Keys both still replicate, by the ring as it is now (it may have
    // moved since the exchange started).
    std::shared_ptr<const ClusterView> now = view_();
    std::vector<std::string> batch;
    for (size_t i = at; i < end; ++i) {
      std::vector<NodeId> pref =
          now->ring->PreferenceList(RingPosition(keys[i]), options_.replicas);
      if (Holds(pref, options_.self) && Holds(pref, peer)) {
        batch.push_back(keys[i]);
      }
    }
    std::vector<ReplicaOp> fetches;
    for (const std::string& key : batch) {
      ReplicaOp op;
      op.kind = ReplicaOp::Kind::kFetch;
      op.key = key;
      fetches.push_back(std::move(op));
    }
    std::vector<ReplicaReply> theirs = CallAll(address, std::move(fetches));
    std::vector<ReplicaOp> stores;
    uint64_t bytes = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!theirs[i].status.ok()) {
        fail(absl::Status(theirs[i].status.code(),
                          absl::StrCat(address, ": ", theirs[i].status.message())));
        continue;
      }
      storage::DvvSet remote;
      if (theirs[i].found) {
        absl::StatusOr<storage::DvvSet> decoded =
            storage::DvvSet::Decode(theirs[i].object);
        if (!decoded.ok()) {
          fail(absl::DataLossError(absl::StrCat(
              address, " sent an object that does not decode: ",
              decoded.status().message())));
          continue;
        }
        remote = std::move(*decoded);
      }
      bytes += theirs[i].object.size();
      absl::StatusOr<storage::DvvSet> before = store_->Get(batch[i]);
      if (!before.ok()) {
        fail(before.status());
        continue;
      }
      absl::StatusOr<storage::DvvSet> merged = store_->Merge(batch[i], remote);
      if (!merged.ok()) {
        fail(merged.status());
        continue;
      }
      size_t range = RangeOf(report->per_range, RingPosition(batch[i]));
      if (!(*merged == *before)) {
        ++report->repaired_here;
        if (range < report->per_range.size()) {
          ++report->per_range[range].repaired;
        }
      }
      if (!(*merged == remote) && !merged->empty()) {
        ReplicaOp op;
        op.kind = ReplicaOp::Kind::kStore;
        op.key = batch[i];
        op.object = merged->Encode();
        bytes += op.object.size();
        stores.push_back(std::move(op));
      }
    }
    if (!stores.empty()) {
      std::vector<size_t> ranges;
      for (const ReplicaOp& op : stores) {
        ranges.push_back(RangeOf(report->per_range, RingPosition(op.key)));
      }
      std::vector<ReplicaReply> acks = CallAll(address, std::move(stores));
      for (size_t j = 0; j < acks.size(); ++j) {
        const ReplicaReply& a = acks[j];
        if (a.status.ok()) {
          ++report->repaired_peer;
          if (ranges[j] < report->per_range.size()) {
            ++report->per_range[ranges[j]].repaired;
          }
        } else {
          fail(absl::Status(a.status.code(),
                            absl::StrCat(address, ": ", a.status.message())));
        }
      }
    }
    report->bytes += bytes;
    Throttle(batch.size(), bytes);
  }
  if (failed > 0) {
    return absl::Status(first_failure.code(),
                        absl::StrCat(failed, " of ", keys.size(),
                                     " differing keys could not be repaired "
                                     "(the next exchange retries them); the "
                                     "first: ", first_failure.message()));
  }
  return absl::OkStatus();
}

void AntiEntropy::SetPaused(bool paused) {
  std::deque<Request> refused;
  {
    absl::MutexLock lock(&mu_);
    paused_ = paused;
    // Requests queued and not started would wait out the pause unseen.
    if (paused) refused.swap(queue_);
  }
  for (Request& r : refused) std::move(r.done)(PausedError());
}

void AntiEntropy::WorkStarts() {
  if (options_.foreground) {
    governor_.Started(SteadyNow(), options_.foreground());
  }
}

void AntiEntropy::WaitWhilePaused() {
  {
    absl::MutexLock lock(&mu_);
    if (!paused_ || stopped_) return;
    auto resumed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopped_ || !paused_;
    };
    mu_.Await(absl::Condition(&resumed));
  }
  // The time paused is neither repair's cost nor a baseline (a pause
  // mid-exchange is not the idle time between exchanges): the governor's
  // window starts again.
  if (options_.foreground) {
    governor_.Skip(SteadyNow(), options_.foreground());
  }
}

void AntiEntropy::YieldToClients() {
  WaitWhilePaused();
  if (!options_.foreground_busy) return;
  absl::Duration pause = absl::Milliseconds(50);
  while (options_.foreground_busy()) {
    {
      absl::MutexLock lock(&mu_);
      ++counters_.backoffs;
      auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopped_;
      };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped), pause)) return;
    }
    pause = std::min(pause * 2, absl::Seconds(1));
  }
}

void AntiEntropy::Throttle(uint64_t keys, uint64_t bytes) {
  WaitWhilePaused();
  double share = 1;
  if (options_.foreground && options_.max_keys_per_second > 0) {
    absl::Duration probe =
        governor_.Working(SteadyNow(), options_.foreground());
    if (probe > absl::ZeroDuration()) {
      Idle(probe);
      governor_.Probed(SteadyNow(), options_.foreground());
    }
    share = governor_.share();
    absl::MutexLock lock(&mu_);
    pacing_.on = true;
    pacing_.share = share;
    pacing_.baseline = governor_.baseline();
    pacing_.recent = governor_.recent();
    pacing_.slowdowns = governor_.decreases();
    pacing_.probes = governor_.probes();
  }
  absl::Duration pause = absl::ZeroDuration();
  if (options_.max_keys_per_second > 0) {
    pause = std::max(pause, absl::Seconds(static_cast<double>(keys) /
                                          options_.max_keys_per_second /
                                          share));
  }
  if (options_.max_bytes_per_second > 0) {
    pause = std::max(pause, absl::Seconds(static_cast<double>(bytes) /
                                          options_.max_bytes_per_second /
                                          share));
  }
  if (pause <= absl::ZeroDuration()) return;
  if (options_.foreground && options_.max_keys_per_second > 0) {
    absl::MutexLock lock(&mu_);
    pacing_.paced += pause;
  }
  Idle(pause);
}

void AntiEntropy::Idle(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopped_; };
  mu_.AwaitWithTimeout(absl::Condition(&stopped), d);
}

void AntiEntropy::Serve(ReplicaOp op, ReplyCallback done) {
  auto refuse = [](ReplyCallback done, absl::Status s) {
    ReplicaReply r;
    r.status = std::move(s);
    std::move(done)(std::move(r));
  };
  if (op.kind == ReplicaOp::Kind::kReap) {
    if (op.keys.empty() || op.keys.size() > kMaxReapKeys ||
        (op.reap_remove && op.expected.size() != op.keys.size())) {
      refuse(std::move(done), absl::InvalidArgumentError("malformed reap query"));
      return;
    }
    OnStorage(std::move(done), [this, op = std::move(op)] {
      ReplicaReply r;
      ServeReap(op, &r);
      return r;
    });
    return;
  }
  if (op.kind != ReplicaOp::Kind::kTree || op.ranges.empty() ||
      op.ranges.size() > kMaxTreeRanges) {
    refuse(std::move(done), absl::InvalidArgumentError("malformed tree query"));
    return;
  }
  if (op.segment_bits != static_cast<uint32_t>(tree_.segment_bits())) {
    refuse(std::move(done),
           absl::FailedPreconditionError(absl::StrCat(
               "hash trees differ: this node cuts the ring into 2^",
               tree_.segment_bits(), " segments, the asking node into 2^",
               op.segment_bits, " (the nodes run different versions?)")));
    return;
  }
  if (!tree_.ready()) {
    refuse(std::move(done),
           absl::UnavailableError("this node's hash tree is still being built"));
    return;
  }
  OnStorage(std::move(done), [this, op = std::move(op)] {
        ReplicaReply r;
        if (op.list_keys) {
          std::vector<KeyDigest> keys;
          for (const auto& [first, last] : op.ranges) {
            r.status = ListKeys(store_, {first, last}, kMaxTreeKeys, &keys);
            if (!r.status.ok()) break;
          }
          if (r.status.ok()) {
            r.keys.reserve(keys.size());
            for (KeyDigest& k : keys) r.keys.emplace_back(std::move(k.key), k.digest);
          }
        } else {
          for (const auto& [first, last] : op.ranges) {
            absl::StatusOr<uint64_t> h = RangeHash(tree_, store_, {first, last});
            if (!h.ok()) {
              r.status = h.status();
              r.hashes.clear();
              break;
            }
            r.hashes.push_back(*h);
          }
        }
        return r;
      });
}

void AntiEntropy::OnStorage(ReplyCallback done,
                            absl::AnyInvocable<ReplicaReply()> answer) {
  auto shared = std::make_shared<ReplyCallback>(std::move(done));
  storage_executor_->SubmitOrRefuse(
      [shared, answer = std::move(answer)](bool admitted) mutable {
        if (!admitted) {
          ReplicaReply r;
          r.status = absl::ResourceExhaustedError("storage queue full");
          std::move(*shared)(std::move(r));
          return;
        }
        std::move(*shared)(answer());
      });
}

namespace {
// A reap check's answer for a key that could not be read.
constexpr uint64_t kUnknownReapHash = ~uint64_t{0};
// The hash a reap check compares: the encoding's, never 0 for an object
// (0 stands for "absent") nor kUnknownReapHash.
uint64_t ReapHash(const storage::DvvSet& object) {
  if (object.empty()) return 0;
  uint64_t h = storage::ObjectStore::EncodingHash(object.Encode());
  if (h == kUnknownReapHash) return h - 1;
  return h == 0 ? 1 : h;
}
}  // namespace

void AntiEntropy::ServeReap(const ReplicaOp& op, ReplicaReply* r) {
  if (options_.tombstone_grace <= absl::ZeroDuration()) {
    // Agreeing would let the asking node remove what this node keeps for
    // good, and repair would bring it back after every pass.
    r->status = absl::FailedPreconditionError(
        "tombstone reaping is off on this node (--tombstone-grace=0)");
    return;
  }
  auto holds_hint = [this](std::string_view key) {
    return options_.holds_hint && options_.holds_hint(key);
  };
  // A removal is this node's decision too, not only the asker's: the key
  // must have been deleted here for the grace, and this node must see no
  // member that could hold an old copy (its view may differ). A check
  // says so up front, so the asker sends removals only when every holder
  // will take them.
  const bool may_remove = ReapBlocker(*view_()).empty();
  absl::Time now = SteadyNow();
  auto due_here = [&](const std::string& key) {
    if (!may_remove) return false;
    absl::MutexLock lock(&reap_mu_);
    auto it = deleted_.find(key);
    return it != deleted_.end() &&
           now - it->second.since >= options_.tombstone_grace;
  };
  for (size_t i = 0; i < op.keys.size(); ++i) {
    const std::string& key = op.keys[i];
    absl::StatusOr<storage::DvvSet> obj = store_->Get(key);
    if (!op.reap_remove) {
      // A key that cannot be read is "unknown": it keeps that key only.
      uint64_t hash = obj.ok() ? ReapHash(*obj) : kUnknownReapHash;
      r->hashes.push_back(hash);
      bool due = due_here(key);
      r->flags.push_back(holds_hint(key) || (hash != 0 && !due));
      // A tombstone this node does not track (its list was full): track it
      // now, so a later check can agree once its own grace has passed.
      if (obj.ok() && !obj->empty() && !obj->HasLiveValue()) {
        Track(key, /*restart=*/false);
      }
      continue;
    }
    bool due = due_here(key);
    // Only a deleted key, still as the asking node saw it everywhere:
    // never a live value, whatever a peer asks.
    bool removed = false;
    if (due && obj.ok() && !obj->empty() && !obj->HasLiveValue() &&
        !holds_hint(key) && ReapHash(*obj) == op.expected[i]) {
      absl::StatusOr<bool> d = store_->ReapIfUnchanged(
          key, storage::ObjectStore::EncodingHash(obj->Encode()),
          options_.actor ? options_.actor() : storage::ActorId{0});
      removed = d.ok() && *d;
    }
    r->flags.push_back(removed);
  }
}

std::string AntiEntropy::ReapBlocker(const ClusterView& view) const {
  if (!view.joined) return "this node has not joined its cluster yet";
  std::vector<std::pair<NodeId, const ClusterView::Node*>> nodes;
  for (const auto& [id, n] : view.nodes) nodes.emplace_back(id, &n);
  std::sort(nodes.begin(), nodes.end());
  for (const auto& [id, n] : nodes) {
    if (id == options_.self) continue;
    if (n->status == MemberStatus::kSuspect ||
        n->status == MemberStatus::kDead) {
      return absl::StrCat(
          "node ", NodeIdToString(id), " (", n->address, ") is ",
          MemberStatusName(n->status),
          ": it may hold old copies or hints of deleted keys (kvcli remove "
          "it if it is gone for good)");
    }
    if (n->joining) {
      return absl::StrCat("node ", NodeIdToString(id), " (", n->address,
                          ") is joining");
    }
  }
  if (!view.joiner_rings.empty()) return "a node is joining";
  return "";
}

void AntiEntropy::ReapPass() {
  std::shared_ptr<const ClusterView> view = view_();
  std::string blocker = ReapBlocker(*view);
  {
    absl::MutexLock lock(&mu_);
    ++reaping_.passes;
    reaping_.paused = blocker;
  }
  if (!blocker.empty()) return;
  WorkStarts();
  // Deleted keys past their grace and due for a look: the first replica
  // of a key reaps it; the others only once it is still here after twice
  // the grace (the first may have restarted, which starts its clock
  // again). A key kept back is looked at again only after a while, so the
  // same keys cannot fill every pass.
  absl::Time now = SteadyNow();
  std::vector<std::pair<std::string, absl::Duration>> old;
  {
    absl::MutexLock lock(&reap_mu_);
    for (const auto& [key, d] : deleted_) {
      if (now < d.next_try || now - d.since < options_.tombstone_grace) {
        continue;
      }
      old.emplace_back(key, now - d.since);
      if (old.size() >= kReapPerPass) break;
    }
  }
  std::vector<std::string> due;
  for (auto& [key, age] : old) {
    std::vector<NodeId> pref =
        view->ring->PreferenceList(RingPosition(key), options_.replicas);
    bool first = pref.empty() || pref[0] == options_.self;
    if (first || age >= 2 * options_.tombstone_grace) {
      due.push_back(std::move(key));
    } else {
      Retry(key, 2 * options_.tombstone_grace - age);
    }
  }
  for (size_t at = 0; at < due.size(); at += kReapBatch) {
    YieldToClients();
    if (stopping()) return;
    size_t end = std::min(due.size(), at + kReapBatch);
    std::vector<std::string> batch(std::make_move_iterator(due.begin() + at),
                                   std::make_move_iterator(due.begin() + end));
    uint64_t bytes = 0;
    for (const std::string& k : batch) bytes += k.size();
    // The ring may have moved since the pass started.
    std::shared_ptr<const ClusterView> now_view = view_();
    if (!ReapBlocker(*now_view).empty()) return;
    bool answered = ReapBatch(*now_view, std::move(batch));
    Throttle(end - at, bytes);
    // A member that does not answer would hold every batch up for the
    // request timeout: the next pass tries again.
    if (!answered) return;
  }
  // A full pass: more may be due, so the next one comes at once (each
  // batch is throttled at the repair key rate).
  if (old.size() >= kReapPerPass) next_reap_ = SteadyNow();
}

bool AntiEntropy::ReapBatch(const ClusterView& view,
                            std::vector<std::string> keys) {
  // A key kept back is looked at again after a quarter of its grace.
  const absl::Duration later = ReapInterval(options_.tombstone_grace);
  uint64_t kept = 0, reaped = 0;
  bool answered = true;
  // This node's copies: still deleted, and no hint held here.
  std::vector<std::string> ask;
  std::vector<uint64_t> mine;
  std::vector<uint64_t> encoding;  // EncodingHash of the copy read here
  for (std::string& key : keys) {
    absl::StatusOr<storage::DvvSet> obj = store_->Get(key);
    if (!obj.ok() || (options_.holds_hint && options_.holds_hint(key))) {
      ++kept;
      Retry(key, later);
      continue;
    }
    // Written again (or removed) meanwhile: no longer a candidate (a scan
    // may have recorded it after the observer forgot it).
    if (obj->empty() || obj->HasLiveValue()) {
      absl::MutexLock lock(&reap_mu_);
      if (deleted_.erase(key) > 0) deleted_bytes_ -= key.size();
      continue;
    }
    mine.push_back(ReapHash(*obj));
    encoding.push_back(storage::ObjectStore::EncodingHash(obj->Encode()));
    ask.push_back(std::move(key));
  }
  if (!ask.empty()) {
    // Every other alive member: replicas must hold the same tombstone;
    // anyone else the same or nothing; nobody a hint.
    std::vector<std::pair<NodeId, std::string>> members;
    for (const auto& [id, n] : view.nodes) {
      if (id != options_.self && n.status == MemberStatus::kAlive) {
        members.emplace_back(id, n.address);
      }
    }
    std::vector<std::vector<NodeId>> replicas;
    std::vector<bool> agree(ask.size(), true);
    for (size_t i = 0; i < ask.size(); ++i) {
      replicas.push_back(
          view.ring->PreferenceList(RingPosition(ask[i]), options_.replicas));
      for (NodeId r : replicas.back()) {
        if (r != options_.self && !view.Alive(r)) agree[i] = false;
      }
    }
    std::vector<std::pair<std::string, ReplicaOp>> checks;
    for (const auto& [id, address] : members) {
      ReplicaOp op;
      op.kind = ReplicaOp::Kind::kReap;
      op.keys = ask;
      checks.emplace_back(address, std::move(op));
    }
    std::vector<ReplicaReply> answers = CallMany(std::move(checks));
    std::vector<std::vector<bool>> holds(members.size(),
                                         std::vector<bool>(ask.size()));
    for (size_t m = 0; m < members.size(); ++m) {
      const ReplicaReply& a = answers[m];
      if (!a.status.ok() || a.hashes.size() != ask.size() ||
          a.flags.size() != ask.size()) {
        agree.assign(ask.size(), false);
        answered = false;
        break;
      }
      for (size_t i = 0; i < ask.size(); ++i) {
        if (a.flags[i]) {
          // A hint there may carry an older value, or it would not remove
          // its copy yet (its own grace, its own view of the members).
          agree[i] = false;
        } else if (a.hashes[i] == mine[i]) {
          holds[m][i] = true;
        } else if (a.hashes[i] != 0 || Holds(replicas[i], members[m].first)) {
          // A different copy (or one that could not be read), or a
          // replica without the tombstone: repair must come first.
          agree[i] = false;
        }
      }
    }
    // Removed everywhere it is held, then here if every holder removed
    // it. A holder may refuse (its own grace has not passed, it sees a
    // member down); the tombstone it keeps is repaired back to those that
    // removed theirs, and a later pass tries again. Never a value.
    std::vector<std::pair<std::string, ReplicaOp>> removals;
    std::vector<std::vector<size_t>> asked;  // per removal: indexes in ask
    for (size_t m = 0; m < members.size(); ++m) {
      ReplicaOp op;
      op.kind = ReplicaOp::Kind::kReap;
      op.reap_remove = true;
      std::vector<size_t> which;
      for (size_t i = 0; i < ask.size(); ++i) {
        if (agree[i] && holds[m][i]) {
          op.keys.push_back(ask[i]);
          op.expected.push_back(mine[i]);
          which.push_back(i);
        }
      }
      if (!op.keys.empty()) {
        removals.emplace_back(members[m].second, std::move(op));
        asked.push_back(std::move(which));
      }
    }
    if (!removals.empty()) {
      std::vector<ReplicaReply> done = CallMany(std::move(removals));
      for (size_t r = 0; r < done.size(); ++r) {
        bool ok = done[r].status.ok() && done[r].flags.size() == asked[r].size();
        for (size_t j = 0; j < asked[r].size(); ++j) {
          if (!ok || !done[r].flags[j]) agree[asked[r][j]] = false;
        }
      }
    }
    const storage::ActorId actor =
        options_.actor ? options_.actor() : storage::ActorId{0};
    for (size_t i = 0; i < ask.size(); ++i) {
      bool removed = false;
      if (agree[i]) {
        // Still the tombstone read above (checked under the key's stripe).
        absl::StatusOr<bool> d =
            store_->ReapIfUnchanged(ask[i], encoding[i], actor);
        removed = d.ok() && *d;
      }
      if (removed) {
        ++reaped;
      } else {
        ++kept;
        Retry(ask[i], later);
      }
    }
  }
  absl::MutexLock lock(&mu_);
  reaping_.reaped += reaped;
  reaping_.kept += kept;
  return answered;
}

void AntiEntropy::VerifyStep() {
  bool running;
  {
    absl::MutexLock lock(&mu_);
    running = verify_.running;
  }
  if (!running) {
    if (SteadyNow() < next_verify_ || !tree_.ready()) return;
    RUMOR_LOG(INFO) << "anti-entropy: checking the hash tree against the data";
    WorkStarts();
    verify_piece_ = 0;
    verify_corrected_ = 0;
    absl::MutexLock lock(&mu_);
    verify_.running = true;
    verify_.progress = 0;
  }
  if (running) WorkStarts();  // (a no-op within one stretch)
  absl::StatusOr<HashTree::VerifyResult> step = tree_.Verify(
      store_, verify_piece_, kVerifyPiecesPerStep,
      [this](std::string_view key, std::string_view object) {
        Scanned(key, object);
      });
  if (!step.ok()) {
    RUMOR_LOG(WARNING) << "anti-entropy: the hash tree check failed (the "
                          "next one starts in "
                       << options_.verify_interval << "): " << step.status();
    next_verify_ = SteadyNow() + options_.verify_interval;
    absl::MutexLock lock(&mu_);
    verify_.running = false;
    return;
  }
  verify_piece_ += kVerifyPiecesPerStep;
  verify_corrected_ += step->differing;
  bool done = verify_piece_ >= tree_.VerifyPieces();
  {
    absl::MutexLock lock(&mu_);
    verify_.progress = std::min(
        1.0, static_cast<double>(verify_piece_) / tree_.VerifyPieces());
    if (done) {
      verify_.running = false;
      ++verify_.runs;
      verify_.segments_corrected += verify_corrected_;
      verify_.last_finished = absl::Now();
    }
  }
  if (done) {
    next_verify_ = SteadyNow() + options_.verify_interval;
    if (verify_corrected_ > 0) {
      RUMOR_LOG(WARNING) << "anti-entropy: the hash tree check corrected "
                         << verify_corrected_
                         << " segment(s) that had drifted from the data; "
                            "exchanges repair what that hid";
    } else {
      RUMOR_LOG(INFO) << "anti-entropy: the hash tree matches the data";
    }
  }
  Throttle(step->keys, 0);
}

}  // namespace rumor::server
