#include "server/replication/coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/status.h"

namespace rumor::server {

using storage::DvvSet;
using storage::Sibling;
using storage::VersionVector;

namespace {

absl::Status StorageQueueFull() {
  return absl::ResourceExhaustedError(
      "the node's storage queue is full (the disk is not keeping up); "
      "nothing was written, retry shortly");
}

// A node as messages name it: its address, or its id when unknown.
std::string Name(const ClusterView& view, NodeId id) {
  const ClusterView::Node* n = view.Find(id);
  return n != nullptr ? n->address : NodeIdToString(id);
}

// R or W for a request: the requested value (1..N), or the node's default
// capped at the replicas the ring can offer.
absl::StatusOr<size_t> Quorum(uint32_t requested, size_t dflt, size_t n,
                              size_t ring_n, const char* name) {
  if (requested == 0) return std::max<size_t>(1, std::min(dflt, ring_n));
  if (requested > n) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, "=", requested, " is out of range: it must be "
                     "between 1 and N=", n, " (the node's --replicas)"));
  }
  return static_cast<size_t>(requested);
}

absl::Status NotJoined(const char* what) {
  return absl::UnavailableError(absl::StrCat(
      "this node has not joined its cluster yet (no seed or remembered ring "
      "member has answered), so it cannot tell where the key's replicas "
      "are; nothing was ", what, ": retry shortly or ask another node"));
}

std::string DownList(const Placement& p, const ClusterView& view) {
  std::vector<std::string> down;
  for (NodeId id : p.missing) down.push_back(Name(view, id));
  return down.empty() ? "" : absl::StrCat(" (down: ", absl::StrJoin(down, ", "), ")");
}

}  // namespace

ObjectView ViewOf(const DvvSet& object) {
  ObjectView view;
  view.values = object.LiveValues();
  view.found = !view.values.empty();
  view.context = object.Join().Encode();
  return view;
}

Coordinator::Coordinator(storage::ObjectStore* store, HintStore* hints,
                         storage::ActorId actor, ReplicationConfig config,
                         Executor* storage_executor, ClusterViewSource view,
                         ReplicaTransport* transport)
    : store_(store),
      hints_(hints),
      actor_(actor),
      config_(std::move(config)),
      storage_executor_(storage_executor),
      view_(std::move(view)),
      transport_(transport) {}

CoordinatorStats Coordinator::stats() const {
  CoordinatorStats s;
  s.gets = counters_.gets;
  s.puts = counters_.puts;
  s.deletes = counters_.deletes;
  s.forwarded = counters_.forwarded;
  s.unavailable = counters_.unavailable;
  s.timeouts = counters_.timeouts;
  s.read_repairs = counters_.read_repairs;
  s.hints_sent = counters_.hints_sent;
  s.replica_writes = counters_.replica_writes;
  s.hints_stored = counters_.hints_stored;
  return s;
}

absl::Time Coordinator::Deadline(const RequestOptions& options) const {
  absl::Duration t = config_.timeout;
  if (options.timeout > absl::ZeroDuration()) {
    t = std::min(options.timeout, absl::Minutes(5));
  }
  return absl::Now() + t;
}

bool Coordinator::Reachable(const std::string& address) {
  return transport_ != nullptr && transport_->Reachable(address);
}

void Coordinator::OnStorage(absl::AnyInvocable<void() &&> fn,
                            absl::AnyInvocable<void() &&> refused) {
  storage_executor_->SubmitOrRefuse(
      [fn = std::move(fn), refused = std::move(refused)](bool admitted) mutable {
        if (admitted) {
          std::move(fn)();
        } else {
          std::move(refused)();
        }
      });
}

// ---------------------------------------------------------------------------
// Reads

struct Coordinator::ReadState {
  std::string key;
  std::shared_ptr<const ClusterView> view;
  size_t r = 0;
  absl::Time deadline;

  struct Reply {
    NodeId node = kNoNode;
    NodeId hint_for = kNoNode;
    std::string encoded;  // empty when not found
    DvvSet object;
  };

  absl::Mutex mu;
  size_t pending ABSL_GUARDED_BY(mu) = 0;
  std::vector<Reply> replies ABSL_GUARDED_BY(mu);
  std::vector<std::string> failures ABSL_GUARDED_BY(mu);
  bool timed_out ABSL_GUARDED_BY(mu) = false;
  bool answered ABSL_GUARDED_BY(mu) = false;
  ViewCallback done ABSL_GUARDED_BY(mu);
};

void Coordinator::Get(std::string_view key, const RequestOptions& options,
                      ViewCallback done) {
  ++counters_.gets;
  if (absl::Status s = config_.limits.CheckKey(key); !s.ok()) {
    std::move(done)(s);
    return;
  }
  std::shared_ptr<const ClusterView> view = view_();
  if (!view->joined) {
    ++counters_.unavailable;
    std::move(done)(NotJoined("read"));
    return;
  }
  Placement p = PlaceKey(*view, RingPosition(key), config_.n,
                         [this](const std::string& a) { return Reachable(a); });
  absl::StatusOr<size_t> r =
      Quorum(options.r, config_.r, config_.n, p.n, "r");
  if (!r.ok()) {
    std::move(done)(r.status());
    return;
  }
  size_t available = (p.self_is_replica ? 1 : 0) + p.targets.size();
  if (available < *r) {
    ++counters_.unavailable;
    std::move(done)(absl::UnavailableError(absl::StrCat(
        "only ", available, " of the key's ", p.n,
        " replicas can be reached", DownList(p, *view), "; a read needs R=",
        *r)));
    return;
  }
  // Hints this node may keep itself for replicas that are down (it may
  // have been another coordinator's fallback): asked like a fallback. Not
  // on a replica: its hints are of writes it took itself, no second copy.
  std::vector<NodeId> own_hints;
  if (hints_ != nullptr && !p.self_is_replica) {
    for (const Target& t : p.targets) {
      if (t.hint_for != kNoNode) own_hints.push_back(t.hint_for);
    }
    own_hints.insert(own_hints.end(), p.missing.begin(), p.missing.end());
  }
  auto state = std::make_shared<ReadState>();
  state->key = std::string(key);
  state->view = view;
  state->r = *r;
  state->deadline = Deadline(options);
  {
    absl::MutexLock lock(&state->mu);
    state->pending = available + own_hints.size();
    state->done = std::move(done);
  }
  auto on_reply = [this, state](NodeId node, NodeId hint_for,
                                ReplicaReply reply) {
    ViewCallback answer;
    absl::StatusOr<ObjectView> result = absl::UnknownError("");
    bool finished = false;
    {
      absl::MutexLock lock(&state->mu);
      --state->pending;
      if (reply.status.ok()) {
        ReadState::Reply rep{node, hint_for, {}, {}};
        if (reply.found) {
          absl::StatusOr<DvvSet> decoded = DvvSet::Decode(reply.object);
          if (decoded.ok()) {
            rep.encoded = std::move(reply.object);
            rep.object = std::move(*decoded);
          } else {
            reply.status = absl::DataLossError(absl::StrCat(
                "node ", Name(*state->view, node), " sent a corrupt object"));
          }
        }
        // A fallback without a hint for the key is no copy of it: it does
        // not count toward R (it would turn a read that missed the
        // replicas holding the key into "not found").
        if (reply.status.ok() && (hint_for == kNoNode || reply.found)) {
          state->replies.push_back(std::move(rep));
        }
      }
      if (!reply.status.ok()) {
        if (absl::IsDeadlineExceeded(reply.status)) state->timed_out = true;
        state->failures.push_back(absl::StrCat(Name(*state->view, node), ": ",
                                               reply.status.message()));
      }
      if (!state->answered && state->replies.size() >= state->r) {
        state->answered = true;
        DvvSet merged;
        for (const auto& rep : state->replies) merged.Merge(rep.object);
        result = ViewOf(merged);
        answer = std::move(state->done);
      } else if (!state->answered &&
                 state->replies.size() + state->pending < state->r) {
        state->answered = true;
        std::string why = absl::StrCat(
            "only ", state->replies.size(), " of the ", state->r,
            " replies needed (R=", state->r, ") arrived: ",
            absl::StrJoin(state->failures, "; "));
        result = state->timed_out ? absl::DeadlineExceededError(why)
                                  : absl::UnavailableError(why);
        answer = std::move(state->done);
        ++(state->timed_out ? counters_.timeouts : counters_.unavailable);
      }
      finished = state->pending == 0;
    }
    if (answer) std::move(answer)(std::move(result));
    if (finished) FinishRead(state);
  };
  for (const Target& t : p.targets) {
    ReplicaOp op;
    op.kind = ReplicaOp::Kind::kFetch;
    op.key = state->key;
    op.hint_for = t.hint_for;
    transport_->Call(t.address, std::move(op), state->deadline,
                     [on_reply, t](ReplicaReply reply) mutable {
                       on_reply(t.node, t.hint_for, std::move(reply));
                     });
  }
  if (p.self_is_replica) {
    NodeId self = view->self;
    auto local = [on_reply, self](absl::StatusOr<DvvSet> object) mutable {
      ReplicaReply reply;
      reply.status = object.status();
      if (object.ok() && !object->empty()) {
        reply.found = true;
        reply.object = object->Encode();
      }
      on_reply(self, kNoNode, std::move(reply));
    };
    absl::StatusOr<DvvSet> now = store_->TryGetNow(state->key);
    if (!storage::IsWouldBlock(now.status())) {
      local(std::move(now));
    } else {
      OnStorage([this, state, local]() mutable { local(store_->Get(state->key)); },
                [local]() mutable { local(StorageQueueFull()); });
    }
  }
  for (NodeId owner : own_hints) {
    NodeId self = view->self;
    auto hint = [on_reply, self, owner](
                    absl::StatusOr<std::optional<DvvSet>> object) mutable {
      ReplicaReply reply;
      reply.status = object.status();
      if (object.ok() && object->has_value() && !(*object)->empty()) {
        reply.found = true;
        reply.object = (*object)->Encode();
      }
      on_reply(self, owner, std::move(reply));
    };
    OnStorage(
        [this, state, owner, hint]() mutable {
          hint(hints_->Get(owner, state->key));
        },
        [hint]() mutable { hint(StorageQueueFull()); });
  }
}

void Coordinator::FinishRead(std::shared_ptr<ReadState> state) {
  // Read repair: every replica whose copy differs from the merge of all
  // replies gets the merge. (Fallbacks' hints are left to hint delivery.)
  std::vector<ReadState::Reply> replies;
  {
    absl::MutexLock lock(&state->mu);
    replies = std::move(state->replies);
  }
  if (replies.size() < 2) return;
  DvvSet merged;
  for (const auto& rep : replies) merged.Merge(rep.object);
  if (merged.empty()) return;
  std::string encoded = merged.Encode();
  absl::Time deadline = absl::Now() + config_.timeout;
  for (const auto& rep : replies) {
    if (rep.hint_for != kNoNode || rep.encoded == encoded) continue;
    ++counters_.read_repairs;
    if (rep.node == state->view->self) {
      OnStorage(
          [this, state, merged] {
            // A failed repair is repaired by the next read.
            IgnoreError(store_->Merge(state->key, merged).status());
          },
          [] {});
      continue;
    }
    const ClusterView::Node* node = state->view->Find(rep.node);
    if (node == nullptr) continue;
    ReplicaOp op;
    op.kind = ReplicaOp::Kind::kStore;
    op.key = state->key;
    op.object = encoded;
    transport_->Call(node->address, std::move(op), deadline,
                     [](ReplicaReply) {});
  }
}

// ---------------------------------------------------------------------------
// Writes

struct Coordinator::WriteState {
  std::string key;
  std::shared_ptr<const ClusterView> view;
  Placement placement;
  size_t w = 0;
  absl::Time deadline;
  bool return_body = false;
  DvvSet object;  // after the local write

  // Acknowledgements joining members may contribute (W above the serving
  // replicas: a forming cluster).
  size_t joining_counts = 0;

  absl::Mutex mu;
  size_t acks ABSL_GUARDED_BY(mu) = 0;
  size_t pending ABSL_GUARDED_BY(mu) = 0;          // serving targets
  size_t pending_joining ABSL_GUARDED_BY(mu) = 0;  // joining targets
  size_t joining_acks ABSL_GUARDED_BY(mu) = 0;     // counted in acks
  std::vector<std::string> failures ABSL_GUARDED_BY(mu);
  bool timed_out ABSL_GUARDED_BY(mu) = false;
  bool answered ABSL_GUARDED_BY(mu) = false;
  ViewCallback done ABSL_GUARDED_BY(mu);
};

void Coordinator::Put(std::string_view key, std::string_view value,
                      std::string_view context, const RequestOptions& options,
                      bool return_body, ViewCallback done) {
  ++counters_.puts;
  if (absl::Status s = config_.limits.CheckValue(value); !s.ok()) {
    std::move(done)(s);
    return;
  }
  Write(std::string(key), Sibling::Value(std::string(value)),
        std::string(context), options, return_body, /*forwarded=*/false,
        std::move(done));
}

void Coordinator::Delete(std::string_view key, std::string_view context,
                         const RequestOptions& options, DoneCallback done) {
  ++counters_.deletes;
  Write(std::string(key), Sibling::Tombstone(), std::string(context), options,
        /*return_body=*/false, /*forwarded=*/false,
        [done = std::move(done)](absl::StatusOr<ObjectView> r) mutable {
          std::move(done)(r.status());
        });
}

void Coordinator::Write(std::string key, Sibling sibling, std::string context,
                        const RequestOptions& options, bool return_body,
                        bool forwarded, ViewCallback done) {
  absl::Status s = config_.limits.CheckKey(key);
  if (s.ok()) s = config_.limits.CheckContext(context);
  absl::StatusOr<VersionVector> ctx =
      s.ok() ? VersionVector::Decode(context) : absl::StatusOr<VersionVector>(s);
  if (!ctx.ok()) {
    std::move(done)(ctx.status());
    return;
  }
  std::shared_ptr<const ClusterView> view = view_();
  if (!view->joined) {
    ++counters_.unavailable;
    std::move(done)(NotJoined("written"));
    return;
  }
  Placement p = PlaceKey(*view, RingPosition(key), config_.n,
                         [this](const std::string& a) { return Reachable(a); },
                         config_.hinted_handoff);
  // The default W is capped at what the full ring offers: a cluster still
  // forming (one serving node, two joining) writes to two nodes, not one.
  absl::StatusOr<size_t> w =
      Quorum(options.w, config_.w, config_.n, p.full_n, "w");
  if (!w.ok()) {
    std::move(done)(w.status());
    return;
  }
  absl::Time deadline = Deadline(options);
  if (!p.self_is_replica && !forwarded) {
    // Dots are minted by replicas only, so a key's version vector names at
    // most its replicas (and their epochs).
    ReplicaOp op;
    op.kind = ReplicaOp::Kind::kForward;
    op.forwarded = sibling.tombstone ? ReplicaOp::Forwarded::kDelete
                                     : ReplicaOp::Forwarded::kPut;
    op.key = std::move(key);
    op.value = std::move(sibling.data);
    op.context = std::move(context);
    op.options = options;
    // The replica gets what is left of the budget, so its own quorum
    // answer (which says how many acknowledged) arrives before this
    // node's deadline does.
    op.options.timeout = std::max(deadline - absl::Now() - absl::Milliseconds(50),
                                  absl::Milliseconds(1));
    op.return_body = return_body;
    Forward(p, *view, std::move(op), deadline, std::move(done));
    return;
  }
  size_t from_joining =
      std::min(p.joining.size(), *w > p.n ? *w - p.n : size_t{0});
  size_t available =
      (p.self_is_replica ? 1 : 0) + p.targets.size() + from_joining;
  if (available < *w) {
    ++counters_.unavailable;
    std::move(done)(absl::UnavailableError(absl::StrCat(
        "only ", available, " of the key's ", std::max(p.n, p.full_n),
        " replicas can be reached", DownList(p, *view), "; a write needs W=",
        *w, "; nothing was written")));
    return;
  }
  auto state = std::make_shared<WriteState>();
  state->key = std::move(key);
  state->view = std::move(view);
  state->placement = std::move(p);
  state->w = *w;
  state->joining_counts = *w > state->placement.n ? *w - state->placement.n : 0;
  state->deadline = deadline;
  state->return_body = return_body;
  {
    absl::MutexLock lock(&state->mu);
    state->done = std::move(done);
  }
  // The local write mints the new dot (or, on a node that is not a replica
  // because ring views differ, just keeps a copy its ownership handoff
  // moves on later).
  auto applied = [this, state](absl::StatusOr<DvvSet> object) {
    if (!object.ok()) {
      ViewCallback done;
      {
        absl::MutexLock lock(&state->mu);
        state->answered = true;
        done = std::move(state->done);
      }
      std::move(done)(object.status());
      return;
    }
    state->object = std::move(*object);
    KeepLocalHints(*state);
    Replicate(state);
  };
  // The actor is read inside the key's critical section, not here: a
  // handoff that moves to a new epoch and then deletes this key (under the
  // same lock) must never be followed by a write minting the old actor's
  // dots on the emptied key (kv679).
  auto actor = [this] { return actor_.load(); };
  absl::StatusOr<DvvSet> now =
      store_->TryUpdateNow(state->key, *ctx, sibling, actor);
  if (!storage::IsWouldBlock(now.status())) {
    applied(std::move(now));
    return;
  }
  OnStorage(
      [this, state, ctx = std::move(*ctx), sibling = std::move(sibling),
       applied, actor]() mutable {
        applied(store_->Update(state->key, ctx, std::move(sibling), actor));
      },
      [applied]() mutable { applied(StorageQueueFull()); });
}

void Coordinator::KeepLocalHints(const WriteState& state) {
  for (NodeId owner : state.placement.missing) KeepLocalHint(state, owner);
}

void Coordinator::KeepLocalHint(const WriteState& state, NodeId owner) {
  if (hints_ == nullptr || !config_.hinted_handoff) return;
  OnStorage(
      [this, owner, key = state.key, object = state.object] {
        // Best effort: a hint that cannot be kept (a full hint queue, a
        // disk error) leaves the replica without the write until a read
        // repairs it. The store logs a full queue.
        absl::Status s = hints_->Store(owner, key, object);
        if (s.ok()) {
          ++counters_.hints_stored;
        } else if (!absl::IsResourceExhausted(s)) {
          RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
              << "cannot keep a hint for node " << NodeIdToString(owner)
              << ": " << s;
        }
      },
      [owner] {
        RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
            << "storage queue full: a hint for node " << NodeIdToString(owner)
            << " was not kept";
      });
}

void Coordinator::Replicate(std::shared_ptr<WriteState> state) {
  const Placement& p = state->placement;
  std::string encoded = state->object.Encode();
  ViewCallback early;
  absl::StatusOr<ObjectView> body = ObjectView{true, {}, {}};
  if (state->return_body) body = ViewOf(state->object);
  {
    absl::MutexLock lock(&state->mu);
    state->acks = p.self_is_replica ? 1 : 0;
    state->pending = p.targets.size();
    state->pending_joining = p.joining.size();
    if (state->acks >= state->w) {
      state->answered = true;
      early = std::move(state->done);
    }
  }
  if (early) std::move(early)(body);
  auto send = [&](const Target& t, bool joining) {
    ReplicaOp op;
    op.key = state->key;
    op.object = encoded;
    if (t.hint_for != kNoNode) {
      op.kind = ReplicaOp::Kind::kStoreHint;
      op.hint_for = t.hint_for;
      ++counters_.hints_sent;
    } else {
      op.kind = ReplicaOp::Kind::kStore;
    }
    transport_->Call(
        t.address, std::move(op), state->deadline,
        [this, state, t, body, joining](ReplicaReply reply) {
          ViewCallback answer;
          absl::StatusOr<ObjectView> result = body;
          {
            absl::MutexLock lock(&state->mu);
            --(joining ? state->pending_joining : state->pending);
            if (reply.status.ok()) {
              if (!joining) {
                ++state->acks;
              } else if (state->joining_acks < state->joining_counts) {
                ++state->joining_acks;
                ++state->acks;
              }
            } else {
              if (absl::IsDeadlineExceeded(reply.status)) {
                state->timed_out = true;
              }
              if (joining) {
                // A joining member that missed the write gets it from the
                // replica that hands the range over when it starts serving.
              } else if (t.hint_for != kNoNode) {
                // The fallback could not keep the hint: keep it here.
                KeepLocalHint(*state, t.hint_for);
              } else if (!absl::IsInvalidArgument(reply.status)) {
                // A replica that failed to take the write (down since its
                // last sign of life, out of storage queue, a disk error):
                // keep a hint for it, so it still gets the write later.
                KeepLocalHint(*state, t.node);
              }
              state->failures.push_back(absl::StrCat(
                  t.address,
                  joining ? " (joining)"
                          : t.hint_for != kNoNode ? " (fallback)" : "",
                  ": ", reply.status.message()));
            }
            if (state->answered) return;
            size_t possible =
                state->acks + state->pending +
                std::min(state->pending_joining,
                         state->joining_counts - state->joining_acks);
            if (state->acks >= state->w) {
              state->answered = true;
              answer = std::move(state->done);
            } else if (possible < state->w) {
              state->answered = true;
              std::string why = absl::StrCat(
                  "only ", state->acks, " of the ", state->w,
                  " acknowledgements needed (W=", state->w, ") arrived: ",
                  absl::StrJoin(state->failures, "; "),
                  "; the write may have been applied on some replicas: its "
                  "outcome is unknown");
              result = state->timed_out ? absl::DeadlineExceededError(why)
                                        : absl::UnavailableError(why);
              ++(state->timed_out ? counters_.timeouts : counters_.unavailable);
              answer = std::move(state->done);
            }
          }
          if (answer) std::move(answer)(std::move(result));
        });
  };
  for (const Target& t : p.targets) send(t, /*joining=*/false);
  for (const Target& t : p.joining) send(t, /*joining=*/true);
}

void Coordinator::Forward(const Placement& placement, const ClusterView& view,
                          ReplicaOp op, absl::Time deadline,
                          ViewCallback done) {
  const ClusterView::Node* to = nullptr;
  for (NodeId id : placement.preference) {
    const ClusterView::Node* n = view.Find(id);
    if (n != nullptr && n->status == MemberStatus::kAlive &&
        Reachable(n->address)) {
      to = n;
      break;
    }
  }
  if (to == nullptr) {
    ++counters_.unavailable;
    std::move(done)(absl::UnavailableError(absl::StrCat(
        "none of the key's ", placement.n,
        " replicas can be reached from this node; nothing was written")));
    return;
  }
  ++counters_.forwarded;
  std::string address = to->address;
  transport_->Call(
      address, std::move(op), deadline,
      [address, done = std::move(done)](ReplicaReply reply) mutable {
        if (reply.status.ok()) {
          std::move(done)(std::move(reply.view));
          return;
        }
        if (absl::IsUnavailable(reply.status) ||
            absl::IsDeadlineExceeded(reply.status)) {
          // Said by the transport or by the replica's own quorum: either way
          // the write may have happened.
          std::move(done)(absl::Status(
              reply.status.code(),
              absl::StrCat("forwarded to replica ", address, ": ",
                           reply.status.message(),
                           absl::StrContains(reply.status.message(),
                                             "outcome")
                               ? ""
                               : "; the write may have been applied: its "
                                 "outcome is unknown")));
          return;
        }
        std::move(done)(reply.status);
      });
}

// ---------------------------------------------------------------------------
// The replica side

void Coordinator::Serve(ReplicaOp op, ReplyCallback done) {
  auto reply_status = [](ReplyCallback done, absl::Status s) {
    ReplicaReply r;
    r.status = std::move(s);
    std::move(done)(std::move(r));
  };
  if (op.kind == ReplicaOp::Kind::kStore ||
      op.kind == ReplicaOp::Kind::kStoreHint ||
      op.kind == ReplicaOp::Kind::kForward) {
    std::shared_ptr<const ClusterView> view = view_();
    const ClusterView::Node* me = view->Find(view->self);
    if (me != nullptr && me->status == MemberStatus::kLeft) {
      // What it took now would leave with it: the sender keeps a hint or
      // asks another replica instead.
      reply_status(std::move(done),
                   absl::UnavailableError("this node has left the cluster"));
      return;
    }
    if (op.kind == ReplicaOp::Kind::kStoreHint && op.hint_for == view->self) {
      reply_status(std::move(done), absl::InvalidArgumentError(
                                        "a hint for the node that holds it"));
      return;
    }
  }
  switch (op.kind) {
    case ReplicaOp::Kind::kStore: {
      absl::StatusOr<DvvSet> object = DvvSet::Decode(op.object);
      if (!object.ok() || !config_.limits.CheckKey(op.key).ok()) {
        reply_status(std::move(done),
                     absl::InvalidArgumentError("malformed key or object"));
        return;
      }
      ++counters_.replica_writes;
      absl::StatusOr<DvvSet> now = store_->TryMergeNow(op.key, *object);
      if (!storage::IsWouldBlock(now.status())) {
        reply_status(std::move(done), now.status());
        return;
      }
      auto shared = std::make_shared<ReplyCallback>(std::move(done));
      OnStorage(
          [this, key = std::move(op.key), object = std::move(*object),
           shared, reply_status]() mutable {
            reply_status(std::move(*shared), store_->Merge(key, object).status());
          },
          [shared, reply_status]() mutable {
            reply_status(std::move(*shared), StorageQueueFull());
          });
      return;
    }
    case ReplicaOp::Kind::kStoreHint: {
      absl::StatusOr<DvvSet> object = DvvSet::Decode(op.object);
      if (!object.ok() || op.hint_for == kNoNode ||
          !config_.limits.CheckKey(op.key).ok()) {
        reply_status(std::move(done),
                     absl::InvalidArgumentError("malformed hint"));
        return;
      }
      if (hints_ == nullptr) {
        reply_status(std::move(done),
                     absl::UnavailableError("this node keeps no hints"));
        return;
      }
      auto shared = std::make_shared<ReplyCallback>(std::move(done));
      OnStorage(
          [this, op = std::move(op), object = std::move(*object), shared,
           reply_status]() mutable {
            absl::Status s = hints_->Store(op.hint_for, op.key, object);
            if (s.ok()) ++counters_.hints_stored;
            reply_status(std::move(*shared), std::move(s));
          },
          [shared, reply_status]() mutable {
            reply_status(std::move(*shared), StorageQueueFull());
          });
      return;
    }
    case ReplicaOp::Kind::kFetch: {
      if (!config_.limits.CheckKey(op.key).ok()) {
        reply_status(std::move(done), absl::InvalidArgumentError("malformed key"));
        return;
      }
      auto answer = [](ReplyCallback done, absl::StatusOr<DvvSet> object) {
        ReplicaReply r;
        r.status = object.status();
        if (object.ok() && !object->empty()) {
          r.found = true;
          r.object = object->Encode();
        }
        std::move(done)(std::move(r));
      };
      if (op.hint_for == kNoNode) {
        absl::StatusOr<DvvSet> now = store_->TryGetNow(op.key);
        if (!storage::IsWouldBlock(now.status())) {
          answer(std::move(done), std::move(now));
          return;
        }
      }
      auto shared = std::make_shared<ReplyCallback>(std::move(done));
      OnStorage(
          [this, op = std::move(op), shared, answer]() mutable {
            if (op.hint_for == kNoNode) {
              answer(std::move(*shared), store_->Get(op.key));
              return;
            }
            if (hints_ == nullptr) {
              answer(std::move(*shared), DvvSet());
              return;
            }
            absl::StatusOr<std::optional<DvvSet>> hint =
                hints_->Get(op.hint_for, op.key);
            if (!hint.ok()) {
              answer(std::move(*shared), hint.status());
            } else {
              answer(std::move(*shared), hint->value_or(DvvSet()));
            }
          },
          [shared, reply_status]() mutable {
            reply_status(std::move(*shared), StorageQueueFull());
          });
      return;
    }
    case ReplicaOp::Kind::kScan: {
      if (op.scan_first > op.scan_last || op.limit == 0 ||
          op.limit > kMaxScanLimit) {
        reply_status(std::move(done),
                     absl::InvalidArgumentError("malformed scan"));
        return;
      }
      auto shared = std::make_shared<ReplyCallback>(std::move(done));
      OnStorage(
          [this, op = std::move(op), shared]() mutable {
            // A page stops at `limit` objects or about 1 MiB, whichever
            // comes first (at least one object: a frame may exceed it).
            constexpr size_t kPageBytes = 1 << 20;
            ReplicaReply r;
            size_t bytes = 0;
            r.status = store_->ScanPositionsAfter(
                op.scan_first, op.scan_last, op.key,
                [&](std::string_view key, std::string_view object) {
                  if (r.entries.size() >= op.limit || bytes >= kPageBytes) {
                    r.more = true;
                    return false;
                  }
                  bytes += key.size() + object.size();
                  r.entries.emplace_back(std::string(key), std::string(object));
                  return true;
                });
            if (!r.status.ok()) r.entries.clear();
            std::move(*shared)(std::move(r));
          },
          [shared, reply_status]() mutable {
            reply_status(std::move(*shared), StorageQueueFull());
          });
      return;
    }
    case ReplicaOp::Kind::kTree:
    case ReplicaOp::Kind::kReap:
      // Anti-entropy answers these (the node routes them there).
      reply_status(std::move(done),
                   absl::UnimplementedError("no anti-entropy on this node"));
      return;
    case ReplicaOp::Kind::kForward: {
      auto shared = std::make_shared<ReplyCallback>(std::move(done));
      auto with_view = [shared](absl::StatusOr<ObjectView> view) {
        ReplicaReply r;
        r.status = view.status();
        if (view.ok()) r.view = std::move(*view);
        std::move(*shared)(std::move(r));
      };
      switch (op.forwarded) {
        case ReplicaOp::Forwarded::kGet:
          Get(op.key, op.options, std::move(with_view));
          return;
        case ReplicaOp::Forwarded::kPut:
          if (absl::Status s = config_.limits.CheckValue(op.value); !s.ok()) {
            with_view(s);
            return;
          }
          Write(std::move(op.key), Sibling::Value(std::move(op.value)),
                std::move(op.context), op.options, op.return_body,
                /*forwarded=*/true, std::move(with_view));
          return;
        case ReplicaOp::Forwarded::kDelete:
          Write(std::move(op.key), Sibling::Tombstone(), std::move(op.context),
                op.options, /*return_body=*/false, /*forwarded=*/true,
                std::move(with_view));
          return;
      }
      return;
    }
  }
}

}  // namespace rumor::server
