#include "server/rpc/admin_service.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <optional>
#include <string_view>

#include "common/clock.h"
#include "common/executor.h"
#include "common/version.h"
#include "proto/admin.grpc.pb.h"
#include "server/ring/ring_report.h"
#include "common/log.h"
#include "server/rpc/grpc_status.h"

namespace rumor::server {
namespace {

void FillMember(const MemberState& m, v1::Member* out) {
  out->set_id(m.id);
  out->set_address(m.address());
  out->set_status(MemberStatusName(m.status));
  out->set_incarnation(m.incarnation);
  out->set_tokens(static_cast<uint32_t>(m.meta->tokens.size()));
  out->set_joining(m.meta->joining);
  for (const auto& [k, v] : m.meta->tags) {
    auto* kv = out->add_tags();
    kv->set_key(k);
    kv->set_value(v);
  }
}

class AdminService final : public v1::Admin::CallbackService {
 public:
  AdminService(AdminBackend* backend, RequestTracker* tracker,
               std::shared_ptr<const PeerAuthorizer> authorizer)
      : backend_(backend),
        tracker_(tracker),
        authorizer_(std::move(authorizer)),
        blocking_(1, "admin") {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const v1::StatusRequest*,
                                   v1::StatusResponse* resp) override {
    NodeInfo info = backend_->Info();
    absl::StatusOr<MembershipSnapshot> snapshot = backend_->Membership();
    if (!snapshot.ok()) return Done(ctx, snapshot.status());
    const MembershipSnapshot& ms = *snapshot;
    resp->set_node_id(info.id);
    resp->set_address(info.address);
    resp->set_version(kVersion);
    resp->set_uptime_seconds(
        absl::ToInt64Seconds(SteadyClock::Get()->Now() - info.started));
    resp->set_data_dir(info.data_dir);
    resp->set_sync_writes(info.sync);
    resp->set_max_key_bytes(info.limits.max_key_bytes);
    resp->set_max_value_bytes(info.limits.max_value_bytes);
    resp->set_cluster(info.cluster);
    resp->set_incarnation(ms.self.incarnation);
    uint32_t alive = 0;
    for (const auto& m : ms.members) {
      alive += m.status == MemberStatus::kAlive ? 1 : 0;
    }
    resp->set_members_alive(alive);
    resp->set_members_total(static_cast<uint32_t>(ms.members.size()));
    resp->set_local_health(ms.awareness);
    resp->set_probe_interval_ms(
        static_cast<uint32_t>(absl::ToInt64Milliseconds(info.probe_interval)));
    auto* c = resp->mutable_counters();
    c->set_probes_sent(ms.stats.probes_sent);
    c->set_acks_received(ms.stats.acks_received);
    c->set_ping_reqs_sent(ms.stats.ping_reqs_sent);
    c->set_nacks_received(ms.stats.nacks_received);
    c->set_suspicions_raised(ms.stats.suspicions_raised);
    c->set_suspicions_refuted(ms.stats.suspicions_refuted);
    c->set_deaths_declared(ms.stats.deaths_declared);
    c->set_messages_sent(ms.stats.messages_sent);
    c->set_bytes_sent(ms.stats.bytes_sent);
    c->set_messages_received(ms.stats.messages_received);
    c->set_id_collisions(ms.stats.id_collisions);
    for (const auto& [name, value] : backend_->Values()) {
      auto* v = resp->add_values();
      v->set_name(name);
      v->set_value(value);
    }
    return Done(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* Members(grpc::CallbackServerContext* ctx,
                                    const v1::MembersRequest*,
                                    v1::MembersResponse* resp) override {
    absl::StatusOr<MembershipSnapshot> ms = backend_->Membership();
    if (!ms.ok()) return Done(ctx, ms.status());
    resp->set_self(ms->self.id);
    for (const MemberState& m : ms->members) FillMember(m, resp->add_members());
    return Done(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* Ring(grpc::CallbackServerContext* ctx,
                                 const v1::RingRequest* req,
                                 v1::RingResponse* resp) override {
    NodeInfo info = backend_->Info();
    absl::StatusOr<MembershipSnapshot> ms = backend_->Membership();
    if (!ms.ok()) return Done(ctx, ms.status());
    absl::StatusOr<std::shared_ptr<const server::Ring>> current =
        backend_->CurrentRing();
    if (!current.ok()) return Done(ctx, current.status());
    std::optional<std::string_view> key;
    if (req->has_key()) key = req->key();
    RingReport report = ReportRing(**current, info.replicas, key);
    std::map<NodeId, const MemberState*> by_id;
    for (const MemberState& m : ms->members) by_id[m.id] = &m;
    auto fill = [&](const OwnerShare& o, v1::RingOwner* out) {
      out->set_id(o.id);
      out->set_share(o.share);
      out->set_replica_share(o.replica_share);
      auto it = by_id.find(o.id);
      if (it != by_id.end()) {
        out->set_address(it->second->address());
        out->set_status(MemberStatusName(it->second->status));
        out->set_tokens(static_cast<uint32_t>(it->second->meta->tokens.size()));
      }
    };
    resp->set_replicas(static_cast<uint32_t>(report.replicas));
    for (const OwnerShare& o : report.owners) fill(o, resp->add_owners());
    resp->set_imbalance(report.imbalance);
    if (report.position) resp->set_position(*report.position);
    for (const OwnerShare& o : report.preference_list) {
      fill(o, resp->add_preference_list());
    }
    for (const OwnerShare& o : report.fallbacks) fill(o, resp->add_fallbacks());
    return Done(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* Leave(grpc::CallbackServerContext* ctx,
                                  const v1::LeaveRequest*,
                                  v1::LeaveResponse* resp) override {
    if (absl::Status s = Authorize(*ctx, "leave"); !s.ok()) return Done(ctx, s);
    auto* reactor = ctx->DefaultReactor();
    if (!tracker_->Begin()) {
      reactor->Finish(
          ToGrpcStatus(absl::UnavailableError("node is shutting down")));
      return reactor;
    }
    // Leaving waits for the announcement to spread: not on a gRPC thread.
    blocking_.Submit([this, reactor, resp] {
      absl::Status s = backend_->Leave();
      resp->set_spread(s.ok());
      reactor->Finish(
          absl::IsDeadlineExceeded(s) ? grpc::Status::OK : ToGrpcStatus(s));
      tracker_->End();
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Remove(grpc::CallbackServerContext* ctx,
                                   const v1::RemoveRequest* req,
                                   v1::RemoveResponse*) override {
    if (absl::Status s = Authorize(*ctx, "remove"); !s.ok()) {
      return Done(ctx, s);
    }
    return Done(ctx, backend_->Remove(req->id()));
  }

  grpc::ServerUnaryReactor* RingLayout(grpc::CallbackServerContext* ctx,
                                       const v1::RingLayoutRequest*,
                                       v1::RingLayoutResponse* resp) override {
    absl::StatusOr<RingLayoutInfo> layout = backend_->Layout();
    if (!layout.ok()) return Done(ctx, layout.status());
    resp->set_version(layout->version);
    resp->set_replicas(static_cast<uint32_t>(layout->replicas));
    for (const RingLayoutInfo::Node& n : layout->nodes) {
      auto* out = resp->add_nodes();
      out->set_id(n.id);
      out->set_address(n.address);
      out->set_status(MemberStatusName(n.status));
      for (uint64_t t : n.tokens) out->add_tokens(t);
    }
    return Done(ctx, absl::OkStatus());
  }

  static void ToProto(const ExchangeReport& r, v1::AaeExchange* out) {
    out->set_peer(r.peer);
    out->set_address(r.address);
    out->set_ok(r.status.ok());
    if (!r.status.ok()) out->set_error(std::string(r.status.message()));
    out->set_finished_unix_ms(absl::ToUnixMillis(r.finished));
    out->set_took_ms(
        static_cast<uint64_t>(absl::ToInt64Milliseconds(r.took)));
    out->set_ranges(r.ranges);
    out->set_requests(r.requests);
    out->set_keys_compared(r.keys_compared);
    out->set_differing(r.differing);
    out->set_repaired_here(r.repaired_here);
    out->set_repaired_peer(r.repaired_peer);
    out->set_bytes(r.bytes);
    for (const RangeReport& rr : r.per_range) {
      v1::AaeRange* pr = out->add_per_range();
      pr->set_first(rr.range.from);
      pr->set_last(rr.range.to);
      pr->set_keys_compared(rr.keys_compared);
      pr->set_differing(rr.differing);
      pr->set_repaired(rr.repaired);
    }
  }

  grpc::ServerUnaryReactor* Aae(grpc::CallbackServerContext* ctx,
                                const v1::AaeRequest*,
                                v1::AaeResponse* resp) override {
    absl::StatusOr<AntiEntropy::State> st = backend_->Aae();
    if (!st.ok()) return Done(ctx, st.status());
    resp->set_tree_ready(st->ready);
    resp->set_build_progress(st->build_progress);
    resp->set_build_keys(st->build_keys);
    resp->set_build_ms(
        static_cast<uint64_t>(absl::ToInt64Milliseconds(st->build_took)));
    resp->set_tree_bytes(st->tree_bytes);
    resp->set_interval_ms(
        static_cast<uint64_t>(absl::ToInt64Milliseconds(st->interval)));
    resp->set_exchanges_total(st->counters.exchanges);
    resp->set_exchange_failures(st->counters.exchange_failures);
    resp->set_keys_repaired(st->counters.keys_repaired);
    auto ms = [](absl::Duration d) {
      return static_cast<uint64_t>(absl::ToInt64Milliseconds(d));
    };
    resp->set_tombstone_grace_ms(ms(st->reaping.grace));
    resp->set_tombstones_pending(st->reaping.pending);
    resp->set_tombstones_reaped(st->reaping.reaped);
    resp->set_tombstones_kept(st->reaping.kept);
    resp->set_reaping_paused(st->reaping.paused);
    resp->set_verify_interval_ms(ms(st->verify.interval));
    resp->set_verify_runs(st->verify.runs);
    resp->set_verify_running(st->verify.running);
    resp->set_verify_progress(st->verify.progress);
    resp->set_verify_segments_corrected(st->verify.segments_corrected);
    if (st->verify.last_finished != absl::InfinitePast()) {
      resp->set_verify_finished_unix_ms(
          absl::ToUnixMillis(st->verify.last_finished));
    }
    resp->set_pacing(st->pacing.on);
    resp->set_rate_share(st->pacing.share);
    resp->set_baseline_latency_us(static_cast<uint64_t>(
        absl::ToInt64Microseconds(st->pacing.baseline)));
    resp->set_recent_latency_us(static_cast<uint64_t>(
        absl::ToInt64Microseconds(st->pacing.recent)));
    resp->set_slowdowns(st->pacing.slowdowns);
    resp->set_latency_probes(st->pacing.probes);
    resp->set_paused(st->paused);
    for (const ExchangeReport& r : st->last) ToProto(r, resp->add_exchanges());
    return Done(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* PauseAae(grpc::CallbackServerContext* ctx,
                                     const v1::PauseAaeRequest* req,
                                     v1::PauseAaeResponse* resp) override {
    if (absl::Status s = Authorize(*ctx, "pausing anti-entropy"); !s.ok()) {
      return Done(ctx, s);
    }
    absl::Status s = backend_->PauseAae(req->paused());
    if (s.ok()) {
      absl::StatusOr<AntiEntropy::State> st = backend_->Aae();
      if (st.ok()) resp->set_paused(st->paused);
    }
    return Done(ctx, s);
  }

  grpc::ServerUnaryReactor* Repair(grpc::CallbackServerContext* ctx,
                                   const v1::RepairRequest* req,
                                   v1::RepairResponse* resp) override {
    if (absl::Status s = Authorize(*ctx, "repair"); !s.ok()) {
      return Done(ctx, s);
    }
    auto* reactor = ctx->DefaultReactor();
    if (!tracker_->Begin()) {
      reactor->Finish(
          ToGrpcStatus(absl::UnavailableError("node is shutting down")));
      return reactor;
    }
    backend_->Repair(
        req->peer(),
        [this, reactor,
         resp](absl::StatusOr<std::vector<ExchangeReport>> reports) {
          if (reports.ok()) {
            for (const ExchangeReport& r : *reports) {
              ToProto(r, resp->add_exchanges());
            }
          }
          reactor->Finish(ToGrpcStatus(reports.status()));
          tracker_->End();
        });
    return reactor;
  }

  grpc::ServerUnaryReactor* Replicas(grpc::CallbackServerContext* ctx,
                                     const v1::ReplicasRequest* req,
                                     v1::ReplicasResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    if (!tracker_->Begin()) {
      reactor->Finish(
          ToGrpcStatus(absl::UnavailableError("node is shutting down")));
      return reactor;
    }
    backend_->Replicas(
        req->key(), [this, reactor, resp](absl::StatusOr<ReplicaReport> r) {
          if (r.ok()) {
            resp->set_position(r->position);
            resp->set_replicas(static_cast<uint32_t>(r->replicas));
            for (const ReplicaCopyInfo& c : r->copies) {
              auto* out = resp->add_copies();
              out->set_node(c.node);
              out->set_address(c.address);
              out->set_status(MemberStatusName(c.status));
              out->set_role(c.hint_for == kNoNode ? "replica" : "hint");
              out->set_hint_for(c.hint_for);
              out->set_answered(c.answered);
              out->set_error(c.error);
              out->set_holds(c.holds);
              for (const std::string& v : c.values) out->add_values(v);
              out->set_tombstones(c.tombstones);
              for (const auto& [actor, counter] : c.version) {
                auto* e = out->add_version();
                e->set_actor(actor);
                e->set_counter(counter);
              }
            }
          }
          reactor->Finish(ToGrpcStatus(r.status()));
          tracker_->End();
        });
    return reactor;
  }

 private:
  grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx,
                                 const absl::Status& s) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }

  // Leave and Remove change the cluster, PauseAae and Repair what it does
  // in the background: with peer security on, only holders of a
  // certificate from the cluster CA may call them.
  absl::Status Authorize(const grpc::ServerContextBase& ctx,
                         const char* what) const {
    if (authorizer_ == nullptr) return absl::OkStatus();
    absl::Status s = authorizer_->Check(ctx, what);
    if (!s.ok()) {
      RUMOR_LOG(WARNING) << "refused " << what << " from " << ctx.peer()
                         << ": " << s;
    }
    return s;
  }

  AdminBackend* const backend_;
  RequestTracker* const tracker_;
  const std::shared_ptr<const PeerAuthorizer> authorizer_;
  ThreadPool blocking_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewAdminService(
    AdminBackend* backend, RequestTracker* tracker,
    std::shared_ptr<const PeerAuthorizer> authorizer) {
  return std::make_unique<AdminService>(backend, tracker,
                                        std::move(authorizer));
}

}  // namespace rumor::server
