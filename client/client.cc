#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <future>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "proto/admin.grpc.pb.h"
#include "proto/kv.grpc.pb.h"

namespace rumor::client {
namespace {

// The one place a grpc::Status becomes an absl::Status on the client side.
absl::Status FromGrpc(const grpc::Status& s, const std::string& server) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    msg = absl::StrCat("cannot reach ", server, ": ", msg);
  } else if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    msg = absl::StrCat("no answer from ", server,
                       " before the deadline; a write may or may not have "
                       "been applied (",
                       msg, ")");
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), msg);
}

void ToProto(const CallOptions& o, v1::RequestOptions* out) {
  out->set_r(o.r);
  out->set_w(o.w);
  out->set_timeout_ms(
      static_cast<uint32_t>(absl::ToInt64Milliseconds(o.timeout)));
}

template <typename Values>
Object ToObject(bool found, const Values& values, const std::string& ctx) {
  Object obj;
  obj.found = found;
  obj.values.assign(values.begin(), values.end());
  obj.context = ctx;
  return obj;
}

// Blocks on an async call. Used by the blocking API so that both share one
// code path.
template <typename T, typename Fn>
T Await(Fn&& start) {
  std::promise<T> p;
  std::future<T> f = p.get_future();
  start([&p](T result) { p.set_value(std::move(result)); });
  return f.get();
}

}  // namespace

struct Client::Impl {
  // Counts async calls whose callback has not returned yet; the destructor
  // waits for zero so no callback outlives the client.
  absl::Mutex mu;
  int outstanding ABSL_GUARDED_BY(mu) = 0;
  void Begin() {
    absl::MutexLock l(&mu);
    ++outstanding;
  }
  void End() {
    absl::MutexLock l(&mu);
    --outstanding;
  }

  ClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::KV::Stub> kv;
  std::unique_ptr<v1::Admin::Stub> admin;

  void SetDeadline(grpc::ClientContext* ctx, const CallOptions& o) const {
    absl::Duration d = o.timeout > absl::ZeroDuration() ? o.timeout
                                                        : options.timeout;
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + d));
  }

  // One blocking admin RPC, with the deadline from `o` and errors naming
  // the server.
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Admin(
      grpc::Status (v1::Admin::Stub::*method)(grpc::ClientContext*, const Req&,
                                              Resp*),
      const Req& req, const CallOptions& o) const {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, o);
    Resp resp;
    grpc::Status s = (admin.get()->*method)(&ctx, req, &resp);
    if (!s.ok()) return FromGrpc(s, options.server);
    return resp;
  }
};

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  if (options.server.empty()) {
    return absl::InvalidArgumentError("server address is empty");
  }
  auto impl = std::make_unique<Impl>();
  grpc::ChannelArguments args;
  // Responses carry every sibling; a key with many large siblings can exceed
  // gRPC's 4 MiB default.
  args.SetMaxReceiveMessageSize(-1);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  impl->channel = grpc::CreateCustomChannel(
      options.server, grpc::InsecureChannelCredentials(), args);
  impl->kv = v1::KV::NewStub(impl->channel);
  impl->admin = v1::Admin::NewStub(impl->channel);
  impl->options = std::move(options);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() {
  absl::MutexLock l(&impl_->mu);
  impl_->mu.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &impl_->outstanding));
}

const std::string& Client::server() const { return impl_->options.server; }

void Client::GetAsync(std::string_view key, const CallOptions& opts,
                      ObjectCallback done) {
  struct Call {
    grpc::ClientContext ctx;
    v1::GetRequest req;
    v1::GetResponse resp;
    ObjectCallback done;
  };
  auto* call = new Call;
  impl_->SetDeadline(&call->ctx, opts);
  call->req.set_key(std::string(key));
  ToProto(opts, call->req.mutable_options());
  call->done = std::move(done);
  Impl* impl = impl_.get();
  impl->Begin();
  impl->kv->async()->Get(
      &call->ctx, &call->req, &call->resp, [call, impl](grpc::Status s) {
        {
          std::unique_ptr<Call> owned(call);
          if (!s.ok()) {
            std::move(owned->done)(FromGrpc(s, impl->options.server));
          } else {
            std::move(owned->done)(ToObject(owned->resp.found(),
                                            owned->resp.values(),
                                            owned->resp.context()));
          }
        }
        impl->End();
      });
}

void Client::PutAsync(std::string_view key, std::string_view value,
                      std::string_view context, const CallOptions& opts,
                      bool return_body, ObjectCallback done) {
  struct Call {
    grpc::ClientContext ctx;
    v1::PutRequest req;
    v1::PutResponse resp;
    ObjectCallback done;
  };
  auto* call = new Call;
  impl_->SetDeadline(&call->ctx, opts);
  call->req.set_key(std::string(key));
  call->req.set_value(std::string(value));
  call->req.set_context(std::string(context));
  call->req.set_return_body(return_body);
  ToProto(opts, call->req.mutable_options());
  call->done = std::move(done);
  Impl* impl = impl_.get();
  impl->Begin();
  impl->kv->async()->Put(
      &call->ctx, &call->req, &call->resp, [call, impl](grpc::Status s) {
        {
          std::unique_ptr<Call> owned(call);
          if (!s.ok()) {
            std::move(owned->done)(FromGrpc(s, impl->options.server));
          } else {
            std::move(owned->done)(ToObject(owned->resp.values_size() > 0,
                                            owned->resp.values(),
                                            owned->resp.context()));
          }
        }
        impl->End();
      });
}

void Client::DeleteAsync(std::string_view key, std::string_view context,
                         const CallOptions& opts, DoneCallback done) {
  struct Call {
    grpc::ClientContext ctx;
    v1::DeleteRequest req;
    v1::DeleteResponse resp;
    DoneCallback done;
  };
  auto* call = new Call;
  impl_->SetDeadline(&call->ctx, opts);
  call->req.set_key(std::string(key));
  call->req.set_context(std::string(context));
  ToProto(opts, call->req.mutable_options());
  call->done = std::move(done);
  Impl* impl = impl_.get();
  impl->Begin();
  impl->kv->async()->Delete(
      &call->ctx, &call->req, &call->resp, [call, impl](grpc::Status s) {
        {
          std::unique_ptr<Call> owned(call);
          std::move(owned->done)(FromGrpc(s, impl->options.server));
        }
        impl->End();
      });
}

absl::StatusOr<Object> Client::Get(std::string_view key,
                                   const CallOptions& opts) {
  auto obj = Await<absl::StatusOr<Object>>([&](auto done) {
    GetAsync(key, opts, std::move(done));
  });
  if (!obj.ok() || !impl_->options.resolver || obj->values.size() < 2) {
    return obj;
  }
  std::string merged = impl_->options.resolver(obj->values);
  return Put(key, merged, obj->context, opts, /*return_body=*/true);
}

absl::StatusOr<Object> Client::Put(std::string_view key, std::string_view value,
                                   std::string_view context,
                                   const CallOptions& opts, bool return_body) {
  return Await<absl::StatusOr<Object>>([&](auto done) {
    PutAsync(key, value, context, opts, return_body, std::move(done));
  });
}

absl::Status Client::Delete(std::string_view key, std::string_view context,
                            const CallOptions& opts) {
  return Await<absl::Status>([&](auto done) {
    DeleteAsync(key, context, opts, std::move(done));
  });
}

absl::StatusOr<NodeStatus> Client::Status(const CallOptions& opts) {
  RUMOR_ASSIGN_OR_RETURN(
      v1::StatusResponse resp,
      impl_->Admin(&v1::Admin::Stub::Status, v1::StatusRequest(), opts));
  NodeStatus out;
  out.node_id = resp.node_id();
  out.address = resp.address();
  out.version = resp.version();
  out.uptime_seconds = resp.uptime_seconds();
  out.data_dir = resp.data_dir();
  out.sync_writes = resp.sync_writes();
  out.max_key_bytes = resp.max_key_bytes();
  out.max_value_bytes = resp.max_value_bytes();
  out.cluster = resp.cluster();
  out.incarnation = resp.incarnation();
  out.members_alive = resp.members_alive();
  out.members_total = resp.members_total();
  out.local_health = resp.local_health();
  out.probe_interval_ms = resp.probe_interval_ms();
  const auto& c = resp.counters();
  out.counters = {{"probes_sent", c.probes_sent()},
                  {"acks_received", c.acks_received()},
                  {"ping_reqs_sent", c.ping_reqs_sent()},
                  {"nacks_received", c.nacks_received()},
                  {"suspicions_raised", c.suspicions_raised()},
                  {"suspicions_refuted", c.suspicions_refuted()},
                  {"deaths_declared", c.deaths_declared()},
                  {"messages_sent", c.messages_sent()},
                  {"bytes_sent", c.bytes_sent()},
                  {"messages_received", c.messages_received()},
                  {"id_collisions", c.id_collisions()}};
  for (const auto& v : resp.values()) out.counters.push_back({v.name(), v.value()});
  return out;
}

absl::StatusOr<std::vector<Member>> Client::Members(const CallOptions& opts) {
  RUMOR_ASSIGN_OR_RETURN(
      v1::MembersResponse resp,
      impl_->Admin(&v1::Admin::Stub::Members, v1::MembersRequest(), opts));
  std::vector<Member> out;
  for (const auto& m : resp.members()) {
    Member mm;
    mm.id = m.id();
    mm.address = m.address();
    mm.status = m.status();
    mm.incarnation = m.incarnation();
    mm.tokens = m.tokens();
    for (const auto& kv : m.tags()) mm.tags.push_back({kv.key(), kv.value()});
    out.push_back(std::move(mm));
  }
  return out;
}

namespace {
RingOwner ToOwner(const v1::RingOwner& o) {
  RingOwner r;
  r.id = o.id();
  r.address = o.address();
  r.status = o.status();
  r.tokens = o.tokens();
  r.share = o.share();
  r.replica_share = o.replica_share();
  return r;
}
}  // namespace

absl::StatusOr<RingInfo> Client::Ring(const std::string* key,
                                      const CallOptions& opts) {
  v1::RingRequest req;
  if (key != nullptr) {
    req.set_key(*key);
    req.set_has_key(true);
  }
  RUMOR_ASSIGN_OR_RETURN(v1::RingResponse resp,
                         impl_->Admin(&v1::Admin::Stub::Ring, req, opts));
  RingInfo out;
  out.replicas = resp.replicas();
  out.imbalance = resp.imbalance();
  out.position = resp.position();
  for (const auto& o : resp.owners()) out.owners.push_back(ToOwner(o));
  for (const auto& o : resp.preference_list()) {
    out.preference_list.push_back(ToOwner(o));
  }
  for (const auto& o : resp.fallbacks()) out.fallbacks.push_back(ToOwner(o));
  return out;
}

absl::StatusOr<bool> Client::Leave(const CallOptions& opts) {
  CallOptions o = opts;
  if (o.timeout == absl::ZeroDuration()) o.timeout = absl::Seconds(30);
  RUMOR_ASSIGN_OR_RETURN(
      v1::LeaveResponse resp,
      impl_->Admin(&v1::Admin::Stub::Leave, v1::LeaveRequest(), o));
  return resp.spread();
}

absl::Status Client::Remove(uint64_t node_id, const CallOptions& opts) {
  v1::RemoveRequest req;
  req.set_id(node_id);
  return impl_->Admin(&v1::Admin::Stub::Remove, req, opts).status();
}

}  // namespace rumor::client
