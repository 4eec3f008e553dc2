#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "client/ring_view.h"
#include "common/hash.h"
#include "common/pem.h"
#include "common/status.h"
#include "proto/admin.grpc.pb.h"
#include "proto/callback_queue.h"
#include "proto/health.grpc.pb.h"
#include "proto/kv.grpc.pb.h"

namespace rumor::client {
namespace {

using Routing = ClientOptions::Routing;
using SteadyTime = std::chrono::steady_clock::time_point;

// The initial-metadata header of every KV response: the answering node's
// ring version, in decimal.
constexpr char kRingVersionHeader[] = "rumor-ring-version";
// Background refreshes start at most this often...
constexpr std::chrono::milliseconds kMinRefreshInterval(100);
// ...and not sooner than this after one failed (or found no token).
constexpr std::chrono::milliseconds kRefreshRetryAfter(1000);

bool NeverSent(const grpc::Status& s, bool node_answered);

// What a connection that failed during TLS set-up most likely means.
std::string TlsHint(const std::string& error) {
  if (absl::StrContains(error, "Ssl handshake failed") ||
      absl::StrContains(error, "certificate verify failed")) {
    return " (TLS: is --tls-ca the CA that issued the node's certificate, "
           "and the host in the address one the certificate names?)";
  }
  if (absl::StrContains(error, "Socket closed")) {
    return " (the node closed the connection as it was set up: a node "
           "started with --peer-ca needs --tls-ca, and one with "
           "--tls-client-ca also a client certificate from that CA, "
           "--tls-cert and --tls-key)";
  }
  return "";
}

// The one place a grpc::Status becomes an absl::Status on the client side.
// A connection that failed says "cannot reach"; a node that answered with
// an error of its own (a quorum it could not gather, say) is named as the
// one that answered.
absl::Status FromGrpc(const grpc::Status& s, const std::string& server,
                      bool write = false, bool node_answered = false) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    bool never_sent = NeverSent(s, node_answered);
    msg = never_sent ? absl::StrCat("cannot reach ", server, ": ", msg)
                     : absl::StrCat(server, ": ", msg);
    if (never_sent) msg += TlsHint(s.error_message());
  } else if (s.error_code() == grpc::StatusCode::UNKNOWN && !node_answered &&
             absl::StrContains(msg, "Ssl handshake failed")) {
    msg = absl::StrCat("cannot reach ", server, ": ", msg, TlsHint(msg));
  } else if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    msg = absl::StrCat("no answer from ", server, " before the deadline",
                       write ? "; the write may or may not have been applied"
                             : "",
                       " (", msg, ")");
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), msg);
}

// Whether an UNAVAILABLE call was certainly not applied: its channel could
// not connect (or resolve) the address, so the node cannot have seen it,
// or the node refused it before doing anything because it is shutting
// down (kvd's exact wording, server/rpc/kv_service.cc). Anything else (a
// reset or closed connection, a failed quorum) may have been applied.
// `node_answered`: the response carried kvd's headers, so the call reached
// it. Its own UNAVAILABLE (a quorum it could not gather) quotes its peers'
// errors, "connection refused" among them, and must not be read as this
// client's failure to connect.
bool NeverSent(const grpc::Status& s, bool node_answered) {
  if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  if (s.error_message() == "node is shutting down; retry on another node") {
    return true;
  }
  if (node_answered) return false;
  std::string msg = absl::AsciiStrToLower(s.error_message());
  return absl::StrContains(msg, "failed to connect to all addresses") ||
         absl::StrContains(msg, "connection refused") ||
         absl::StrContains(msg, "dns resolution failed");
}

// Whether the node answered the call itself (see RequestsByAddress).
bool Answered(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return false;
    default:
      return true;
  }
}

// The ring version a finished call's node reported, if it did.
std::optional<uint64_t> ReportedRingVersion(const grpc::ClientContext& ctx) {
  // Initial metadata of a finished unary call are always received (maybe
  // empty). A node that fails a call at once may send its headers with the
  // trailers, so look there too.
  for (const auto* md : {&ctx.GetServerInitialMetadata(),
                         &ctx.GetServerTrailingMetadata()}) {
    auto it = md->find(kRingVersionHeader);
    if (it == md->end()) continue;
    uint64_t v;
    if (absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()),
                         &v)) {
      return v;
    }
  }
  return std::nullopt;
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

client::RingLayout FromProto(const v1::RingLayoutResponse& resp) {
  client::RingLayout out;
  out.version = resp.version();
  out.replicas = resp.replicas();
  for (const auto& n : resp.nodes()) {
    RingNode node;
    node.id = n.id();
    node.address = n.address();
    node.status = n.status();
    node.tokens.assign(n.tokens().begin(), n.tokens().end());
    out.nodes.push_back(std::move(node));
  }
  return out;
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

// One node address: its channel and stubs, and how many KV calls it
// answered.
struct Endpoint {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::KV::Stub> kv;
  std::unique_ptr<v1::Admin::Stub> admin;
  // Shared with Impl::answered, which outlives the endpoint.
  std::shared_ptr<std::atomic<uint64_t>> answered;

  // False while the channel is failing to connect (or shut down): a call
  // would fail at once.
  bool Connectable() const {
    grpc_connectivity_state s = channel->GetState(/*try_to_connect=*/false);
    return s != GRPC_CHANNEL_TRANSIENT_FAILURE && s != GRPC_CHANNEL_SHUTDOWN;
  }
};

enum class KvOp { kGet, kPut, kDelete };

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

struct Client::Impl {
  // Counts async calls (and background ring refreshes) whose callback has
  // not returned yet; the destructor waits for zero so no callback outlives
  // the client.
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
  std::shared_ptr<Endpoint> seed;  // never pruned
  std::unique_ptr<v1::Admin::Stub>& admin() { return seed->admin; }

  // Routing state (Routing::kRing only).
  mutable absl::Mutex ring_mu;
  std::shared_ptr<const RingView> ring ABSL_GUARDED_BY(ring_mu);
  // Every address routed to, the seed's included; pruned to the ring's
  // nodes (and the seed) when a new ring arrives.
  std::map<std::string, std::shared_ptr<Endpoint>> endpoints
      ABSL_GUARDED_BY(ring_mu);
  std::map<std::string, std::shared_ptr<std::atomic<uint64_t>>> answered
      ABSL_GUARDED_BY(ring_mu);
  bool refreshing ABSL_GUARDED_BY(ring_mu) = false;
  uint64_t refreshes_finished ABSL_GUARDED_BY(ring_mu) = 0;
  absl::Status last_refresh ABSL_GUARDED_BY(ring_mu);
  SteadyTime last_refresh_start ABSL_GUARDED_BY(ring_mu);
  SteadyTime retry_refresh_after ABSL_GUARDED_BY(ring_mu);
  bool shutting_down ABSL_GUARDED_BY(ring_mu) = false;
  // The context of the refresh attempt in flight, to cancel it on
  // destruction.
  grpc::ClientContext* refresh_ctx ABSL_GUARDED_BY(ring_mu) = nullptr;

  bool routes_by_ring() const { return options.routing == Routing::kRing; }

  absl::Duration TimeoutOf(const CallOptions& o) const {
    return o.timeout > absl::ZeroDuration() ? o.timeout : options.timeout;
  }
  void SetDeadline(grpc::ClientContext* ctx, const CallOptions& o) const {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + TimeoutOf(o)));
  }

  std::shared_ptr<Endpoint> NewEndpoint(const std::string& address) {
    auto ep = std::make_shared<Endpoint>();
    ep->address = address;
    grpc::ChannelArguments args;
    // Responses carry every sibling; a key with many large siblings can
    // exceed gRPC's 4 MiB default.
    args.SetMaxReceiveMessageSize(-1);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    std::shared_ptr<grpc::ChannelCredentials> creds =
        grpc::InsecureChannelCredentials();
    const ClientOptions::Tls& tls = options.tls;
    if (!tls.ca.empty()) {
      grpc::SslCredentialsOptions so;
      so.pem_root_certs = tls.ca;
      so.pem_cert_chain = tls.cert;
      so.pem_private_key = tls.key;
      creds = grpc::SslCredentials(so);
      if (!tls.server_name.empty()) {
        args.SetSslTargetNameOverride(tls.server_name);
      }
    }
    ep->channel = grpc::CreateCustomChannel(address, creds, args);
    ep->kv = v1::KV::NewStub(ep->channel);
    ep->admin = v1::Admin::NewStub(ep->channel);
    return ep;
  }

  // The endpoint of `address`, created on first use.
  std::shared_ptr<Endpoint> EndpointLocked(const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ring_mu) {
    auto it = endpoints.find(address);
    if (it != endpoints.end()) return it->second;
    std::shared_ptr<Endpoint> ep = NewEndpoint(address);
    auto& counter = answered[address];
    if (!counter) counter = std::make_shared<std::atomic<uint64_t>>(0);
    ep->answered = counter;
    endpoints.emplace(address, ep);
    return ep;
  }

  // Whether `node` may be sent a call: not known dead, reachable as far as
  // its channel (if any yet) knows.
  bool UsableLocked(const RingNode& node) const
      ABSL_SHARED_LOCKS_REQUIRED(ring_mu) {
    if (node.status == "dead" || node.address.empty()) return false;
    auto it = endpoints.find(node.address);
    return it == endpoints.end() || it->second->Connectable();
  }

  // Where a call for the key at `position` goes: the first usable node of
  // its preference list not in `tried` (the addresses the call already
  // tried; empty on a first attempt), else the seed unless tried, else any
  // usable node of the ring not tried. nullptr when no candidate is left.
  std::shared_ptr<Endpoint> PickLocked(const RingView* view, uint64_t position,
                                       const std::vector<std::string>& tried)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ring_mu) {
    // The nodes in walk order (the first `replicas` are the preference
    // list), collected first: the checks that need the lock do not run in
    // the visitor (a lambda the thread-safety analysis cannot follow).
    absl::InlinedVector<const RingNode*, 8> walk;
    auto collect = [&](size_t limit) {
      walk.clear();
      view->Walk(position, [&](const RingNode& node, size_t) {
        walk.push_back(&node);
        return walk.size() < limit;
      });
    };
    if (view != nullptr && view->replicas() > 0) {
      collect(view->replicas());
      if (const RingNode* node = FirstUsableLocked(walk, tried)) {
        return EndpointLocked(node->address);
      }
    }
    if (!Contains(tried, seed->address)) return seed;
    if (view != nullptr) {
      collect(view->num_nodes());
      if (const RingNode* node = FirstUsableLocked(walk, tried)) {
        return EndpointLocked(node->address);
      }
    }
    return nullptr;
  }

  // The first node of `nodes` that is usable and not in `tried`.
  const RingNode* FirstUsableLocked(
      const absl::InlinedVector<const RingNode*, 8>& nodes,
      const std::vector<std::string>& tried) const
      ABSL_SHARED_LOCKS_REQUIRED(ring_mu) {
    for (const RingNode* node : nodes) {
      if (!Contains(tried, node->address) && UsableLocked(*node)) {
        return node;
      }
    }
    return nullptr;
  }

  // Chooses the endpoint of a call for `key`: of its first attempt when
  // `tried` is empty, else of its next one (nullptr: no other candidate).
  // Starts a background refresh while no usable ring is known.
  std::shared_ptr<Endpoint> Route(std::string_view key,
                                  const std::vector<std::string>& tried) {
    if (!routes_by_ring()) return tried.empty() ? seed : nullptr;
    uint64_t position = RingPosition(key);
    std::shared_ptr<Endpoint> ep;
    std::vector<std::string> sources;
    {
      absl::MutexLock l(&ring_mu);
      const RingView* v = ring && !ring->empty() ? ring.get() : nullptr;
      ep = PickLocked(v, position, tried);
      if (!ring || ring->empty()) TryBeginRefreshLocked("", &sources);
    }
    if (!sources.empty()) StartRefresh(std::move(sources), options.timeout);
    return ep;
  }

  // Called with the ring version a node (at `reporter`) answered with.
  void NoteRingVersion(uint64_t version, const std::string& reporter) {
    if (!routes_by_ring()) return;
    std::vector<std::string> sources;
    {
      absl::MutexLock l(&ring_mu);
      if (ring && ring->version() == version && !ring->empty()) return;
      TryBeginRefreshLocked(reporter, &sources);
    }
    if (!sources.empty()) StartRefresh(std::move(sources), options.timeout);
  }

  // The addresses a refresh asks, in turn: `first` (when set), the seed,
  // then every node of the current ring.
  std::vector<std::string> RefreshSourcesLocked(const std::string& first)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ring_mu) {
    std::vector<std::string> out;
    auto add = [&](const std::string& a) {
      if (a.empty()) return;
      if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    };
    add(first);
    add(seed->address);
    if (ring) {
      for (const RingNode& n : ring->layout().nodes) add(n.address);
    }
    return out;
  }

  // Claims the one background refresh slot, unless a refresh is in flight
  // or the rate limits say not yet. On success fills `sources`.
  void TryBeginRefreshLocked(const std::string& first,
                             std::vector<std::string>* sources)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ring_mu) {
    if (shutting_down || refreshing) return;
    SteadyTime now = std::chrono::steady_clock::now();
    if (now < retry_refresh_after) return;
    if (refreshes_finished > 0 && now - last_refresh_start < kMinRefreshInterval) {
      return;
    }
    refreshing = true;
    last_refresh_start = now;
    *sources = RefreshSourcesLocked(first);
  }

  struct Refresh {
    std::vector<std::string> sources;
    size_t next = 0;
    absl::Duration timeout;
    std::vector<std::string> errors;
    std::unique_ptr<grpc::ClientContext> ctx;
    v1::RingLayoutRequest req;
    v1::RingLayoutResponse resp;
  };

  // Runs a refresh whose slot was claimed (`refreshing`), in the
  // background.
  void StartRefresh(std::vector<std::string> sources, absl::Duration timeout) {
    Begin();
    auto* r = new Refresh;
    r->sources = std::move(sources);
    r->timeout = timeout;
    RefreshAttempt(r);
  }

  void RefreshAttempt(Refresh* r) {
    std::shared_ptr<Endpoint> ep;
    {
      absl::MutexLock l(&ring_mu);
      if (!shutting_down) {
        ep = EndpointLocked(r->sources[r->next]);
        r->ctx = std::make_unique<grpc::ClientContext>();
        r->ctx->set_deadline(absl::ToChronoTime(absl::Now() + r->timeout));
        refresh_ctx = r->ctx.get();
      }
    }
    if (ep == nullptr) {
      r->errors.push_back("the client is shutting down");
      FinishRefresh(r, absl::StatusCode::kCancelled, nullptr);
      return;
    }
    r->resp.Clear();
    // Nothing of `r` is touched after the call starts: its callback may
    // already be running.
    ep->admin->async()->RingLayout(
        r->ctx.get(), &r->req, &r->resp,
        [this, r, ep](grpc::Status s) { OnRefreshDone(r, *ep, s); });
  }

  void OnRefreshDone(Refresh* r, const Endpoint& ep, const grpc::Status& s) {
    {
      absl::MutexLock l(&ring_mu);
      refresh_ctx = nullptr;
    }
    if (s.ok()) {
      client::RingLayout layout = FromProto(r->resp);
      FinishRefresh(r, absl::StatusCode::kOk, &layout);
      return;
    }
    absl::Status status = FromGrpc(s, ep.address);
    // FromGrpc names the address for connection failures; others get it.
    r->errors.push_back(
        absl::StrContains(status.message(), ep.address)
            ? status.ToString()
            : absl::StrCat(ep.address, ": ", status.ToString()));
    if (++r->next < r->sources.size() && !absl::IsCancelled(status)) {
      RefreshAttempt(r);
      return;
    }
    FinishRefresh(r, status.code(), nullptr);
  }

  // Ends a refresh: installs `layout` (when the refresh succeeded) and
  // frees the slot.
  void FinishRefresh(Refresh* r, absl::StatusCode code,
                     client::RingLayout* layout) {
    {
      absl::MutexLock l(&ring_mu);
      SteadyTime now = std::chrono::steady_clock::now();
      if (code == absl::StatusCode::kOk) {
        auto view = std::make_shared<const RingView>(std::move(*layout));
        // A ring without tokens routes nothing: ask again later, as after
        // a failure.
        retry_refresh_after =
            view->empty() ? now + kRefreshRetryAfter : SteadyTime();
        ring = std::move(view);
        PruneEndpointsLocked();
        last_refresh = absl::OkStatus();
      } else {
        retry_refresh_after = now + kRefreshRetryAfter;
        last_refresh = absl::Status(
            code, absl::StrCat("cannot fetch the ring layout: ",
                               absl::StrJoin(r->errors, "; ")));
      }
      refreshing = false;
      ++refreshes_finished;
    }
    delete r;
    End();
  }

  // Keeps at most the ring's nodes and the seed (calls in flight hold on
  // to the endpoints they use).
  void PruneEndpointsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ring_mu) {
    for (auto it = endpoints.begin(); it != endpoints.end();) {
      bool keep = it->first == seed->address;
      for (const RingNode& n : ring->layout().nodes) {
        keep = keep || n.address == it->first;
      }
      it = keep ? std::next(it) : endpoints.erase(it);
    }
  }

  // One KV call with its routing and at most one retry. `start` begins the
  // RPC on a stub; `done(status, response)` runs exactly once.
  template <typename Req, typename Resp, typename Start, typename Done>
  struct KvCall {
    KvCall(Impl* impl, KvOp op, Req req, Start start, Done done,
           absl::Time deadline)
        : impl(impl),
          op(op),
          req(std::move(req)),
          start(std::move(start)),
          done(std::move(done)),
          deadline(deadline) {}

    Impl* const impl;
    const KvOp op;
    Req req;
    Resp resp;
    Start start;
    Done done;
    const absl::Time deadline;
    std::unique_ptr<grpc::ClientContext> ctx;
    std::shared_ptr<Endpoint> ep;
    // The addresses of the attempts that failed, and why.
    std::vector<std::string> tried;
    std::vector<std::string> errors;
    bool retried_after_sent = false;
  };

  template <typename Req, typename Resp, typename Start, typename Done>
  void Send(KvOp op, Req req, const CallOptions& o, Start start, Done done) {
    using Call = KvCall<Req, Resp, Start, Done>;
    auto* call = new Call(this, op, std::move(req), std::move(start),
                          std::move(done), absl::Now() + TimeoutOf(o));
    Begin();
    call->ep = Route(call->req.key(), {});
    Attempt(call);
  }

  template <typename Call>
  void Attempt(Call* call) {
    call->ctx = std::make_unique<grpc::ClientContext>();
    call->ctx->set_deadline(absl::ToChronoTime(call->deadline));
    // Nothing of `call` is touched after the RPC starts.
    call->start(call->ep->kv.get(), call->ctx.get(), &call->req, &call->resp,
                [call](grpc::Status s) { call->impl->OnKvDone(call, s); });
  }

  template <typename Call>
  void OnKvDone(Call* call, const grpc::Status& s) {
    const std::string& address = call->ep->address;
    if (Answered(s)) call->ep->answered->fetch_add(1, std::memory_order_relaxed);
    std::optional<uint64_t> reported = ReportedRingVersion(*call->ctx);
    if (reported) NoteRingVersion(*reported, address);
    // A call that was never sent moves on to the next candidate as often
    // as it takes (nothing can be applied twice): a ring address this
    // client cannot reach, such as a name private to the cluster's
    // network, ends at the seed, which forwards. A read is also retried
    // once after any other UNAVAILABLE. A write whose outcome is unknown
    // is never retried.
    bool never_sent = NeverSent(s, reported.has_value());
    bool retryable =
        never_sent ||
        (call->op == KvOp::kGet &&
         s.error_code() == grpc::StatusCode::UNAVAILABLE &&
         !call->retried_after_sent);
    if (!s.ok() && retryable && absl::Now() < call->deadline) {
      call->tried.push_back(address);
      std::shared_ptr<Endpoint> next = Route(call->req.key(), call->tried);
      if (next != nullptr) {
        call->errors.push_back(absl::StrCat(address, ": ", s.error_message()));
        call->retried_after_sent = call->retried_after_sent || !never_sent;
        call->ep = std::move(next);
        call->resp.Clear();
        Attempt(call);
        return;
      }
    }
    absl::Status status =
        FromGrpc(s, address, call->op != KvOp::kGet, reported.has_value());
    if (!status.ok() && !call->errors.empty()) {
      status = absl::Status(
          status.code(),
          absl::StrCat(status.message(), " (retried after ",
                       absl::StrJoin(call->errors, "; "), ")"));
    }
    std::move(call->done)(std::move(status), call->resp);
    delete call;
    End();
  }

  // One blocking admin RPC to the seed, with the deadline from `o` and
  // errors naming the seed.
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Admin(
      grpc::Status (v1::Admin::Stub::*method)(grpc::ClientContext*, const Req&,
                                              Resp*),
      const Req& req, const CallOptions& o) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, o);
    Resp resp;
    grpc::Status s = (admin().get()->*method)(&ctx, req, &resp);
    if (!s.ok()) return FromGrpc(s, options.server);
    return resp;
  }
};

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  if (options.server.empty()) {
    return absl::InvalidArgumentError("server address is empty");
  }
  // Clients come and go (kvcli, tests, applications): keep gRPC's shared
  // callback queue from being torn down between them (a double free in
  // gRPC 1.51; see proto/callback_queue.h).
  PinCallbackQueue();
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  {
    absl::MutexLock l(&impl->ring_mu);
    impl->seed = impl->EndpointLocked(impl->options.server);
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() {
  {
    absl::MutexLock l(&impl_->ring_mu);
    impl_->shutting_down = true;
    // A background refresh may be waiting on an unresponsive node.
    if (impl_->refresh_ctx != nullptr) impl_->refresh_ctx->TryCancel();
  }
  absl::MutexLock l(&impl_->mu);
  impl_->mu.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &impl_->outstanding));
}

const std::string& Client::server() const { return impl_->options.server; }

void Client::GetAsync(std::string_view key, const CallOptions& opts,
                      ObjectCallback done) {
  v1::GetRequest req;
  req.set_key(std::string(key));
  ToProto(opts, req.mutable_options());
  impl_->Send<v1::GetRequest, v1::GetResponse>(
      KvOp::kGet, std::move(req), opts,
      [](v1::KV::Stub* stub, grpc::ClientContext* ctx,
         const v1::GetRequest* req, v1::GetResponse* resp,
         std::function<void(grpc::Status)> cb) {
        stub->async()->Get(ctx, req, resp, std::move(cb));
      },
      [done = std::move(done)](absl::Status s,
                               const v1::GetResponse& resp) mutable {
        if (!s.ok()) {
          std::move(done)(std::move(s));
        } else {
          std::move(done)(
              ToObject(resp.found(), resp.values(), resp.context()));
        }
      });
}

void Client::PutAsync(std::string_view key, std::string_view value,
                      std::string_view context, const CallOptions& opts,
                      bool return_body, ObjectCallback done) {
  v1::PutRequest req;
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  req.set_context(std::string(context));
  req.set_return_body(return_body);
  ToProto(opts, req.mutable_options());
  impl_->Send<v1::PutRequest, v1::PutResponse>(
      KvOp::kPut, std::move(req), opts,
      [](v1::KV::Stub* stub, grpc::ClientContext* ctx,
         const v1::PutRequest* req, v1::PutResponse* resp,
         std::function<void(grpc::Status)> cb) {
        stub->async()->Put(ctx, req, resp, std::move(cb));
      },
      [done = std::move(done)](absl::Status s,
                               const v1::PutResponse& resp) mutable {
        if (!s.ok()) {
          std::move(done)(std::move(s));
        } else {
          std::move(done)(ToObject(resp.values_size() > 0, resp.values(),
                                   resp.context()));
        }
      });
}

void Client::DeleteAsync(std::string_view key, std::string_view context,
                         const CallOptions& opts, DoneCallback done) {
  v1::DeleteRequest req;
  req.set_key(std::string(key));
  req.set_context(std::string(context));
  ToProto(opts, req.mutable_options());
  impl_->Send<v1::DeleteRequest, v1::DeleteResponse>(
      KvOp::kDelete, std::move(req), opts,
      [](v1::KV::Stub* stub, grpc::ClientContext* ctx,
         const v1::DeleteRequest* req, v1::DeleteResponse* resp,
         std::function<void(grpc::Status)> cb) {
        stub->async()->Delete(ctx, req, resp, std::move(cb));
      },
      [done = std::move(done)](absl::Status s,
                               const v1::DeleteResponse&) mutable {
        std::move(done)(std::move(s));
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
    mm.joining = m.joining();
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

absl::StatusOr<client::RingLayout> Client::RingLayout(const CallOptions& opts) {
  RUMOR_ASSIGN_OR_RETURN(v1::RingLayoutResponse resp,
                         impl_->Admin(&v1::Admin::Stub::RingLayout,
                                      v1::RingLayoutRequest(), opts));
  return FromProto(resp);
}

absl::StatusOr<ReplicaReport> Client::Replicas(std::string_view key,
                                               const CallOptions& opts) {
  v1::ReplicasRequest req;
  req.set_key(std::string(key));
  RUMOR_ASSIGN_OR_RETURN(v1::ReplicasResponse resp,
                         impl_->Admin(&v1::Admin::Stub::Replicas, req, opts));
  ReplicaReport out;
  out.position = resp.position();
  out.replicas = resp.replicas();
  for (const auto& c : resp.copies()) {
    ReplicaCopy copy;
    copy.node = c.node();
    copy.address = c.address();
    copy.status = c.status();
    copy.role = c.role();
    copy.hint_for = c.hint_for();
    copy.answered = c.answered();
    copy.error = c.error();
    copy.holds = c.holds();
    copy.values.assign(c.values().begin(), c.values().end());
    copy.tombstones = c.tombstones();
    for (const auto& e : c.version()) {
      copy.version.push_back({e.actor(), e.counter()});
    }
    out.copies.push_back(std::move(copy));
  }
  return out;
}

namespace {
AaeExchange FromProto(const v1::AaeExchange& e) {
  AaeExchange out;
  out.peer = e.peer();
  out.address = e.address();
  out.ok = e.ok();
  out.error = e.error();
  out.finished_unix_ms = e.finished_unix_ms();
  out.took_ms = e.took_ms();
  out.ranges = e.ranges();
  out.requests = e.requests();
  out.keys_compared = e.keys_compared();
  out.differing = e.differing();
  out.repaired_here = e.repaired_here();
  out.repaired_peer = e.repaired_peer();
  out.bytes = e.bytes();
  for (const auto& r : e.per_range()) {
    out.per_range.push_back({r.first(), r.last(), r.keys_compared(),
                             r.differing(), r.repaired()});
  }
  return out;
}
}  // namespace

absl::Status Client::PauseAae(bool paused, const CallOptions& opts) {
  v1::PauseAaeRequest req;
  req.set_paused(paused);
  return impl_->Admin(&v1::Admin::Stub::PauseAae, req, opts).status();
}

const char* ServingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case ServingStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

absl::StatusOr<ServingStatus> Client::Health(const std::string& service,
                                             const CallOptions& opts) {
  namespace health = ::grpc::health::v1;
  auto stub = health::Health::NewStub(impl_->seed->channel);
  grpc::ClientContext ctx;
  impl_->SetDeadline(&ctx, opts);
  health::HealthCheckRequest req;
  req.set_service(service);
  health::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return absl::UnimplementedError(
        absl::StrCat(impl_->options.server,
                     " does not serve gRPC health checks (grpc.health.v1)"));
  }
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return absl::NotFoundError(absl::StrCat(
        impl_->options.server, " knows no service named '", service,
        "' (rumor.v1.KV, rumor.v1.Admin, rumor.v1.Peer, rumor.v1.Replica or "
        "empty for the whole node)"));
  }
  if (!s.ok()) return FromGrpc(s, impl_->options.server);
  switch (resp.status()) {
    case health::HealthCheckResponse::SERVING:
      return ServingStatus::kServing;
    case health::HealthCheckResponse::NOT_SERVING:
      return ServingStatus::kNotServing;
    case health::HealthCheckResponse::SERVICE_UNKNOWN:
      return ServingStatus::kServiceUnknown;
    default:
      return ServingStatus::kUnknown;
  }
}

absl::StatusOr<AaeStatus> Client::Aae(const CallOptions& opts) {
  RUMOR_ASSIGN_OR_RETURN(
      v1::AaeResponse resp,
      impl_->Admin(&v1::Admin::Stub::Aae, v1::AaeRequest(), opts));
  AaeStatus out;
  out.tree_ready = resp.tree_ready();
  out.build_progress = resp.build_progress();
  out.build_keys = resp.build_keys();
  out.build_ms = resp.build_ms();
  out.tree_bytes = resp.tree_bytes();
  out.interval_ms = resp.interval_ms();
  out.exchanges_total = resp.exchanges_total();
  out.exchange_failures = resp.exchange_failures();
  out.keys_repaired = resp.keys_repaired();
  out.tombstone_grace_ms = resp.tombstone_grace_ms();
  out.tombstones_pending = resp.tombstones_pending();
  out.tombstones_reaped = resp.tombstones_reaped();
  out.tombstones_kept = resp.tombstones_kept();
  out.reaping_paused = resp.reaping_paused();
  out.verify_interval_ms = resp.verify_interval_ms();
  out.verify_runs = resp.verify_runs();
  out.verify_running = resp.verify_running();
  out.verify_progress = resp.verify_progress();
  out.verify_segments_corrected = resp.verify_segments_corrected();
  out.verify_finished_unix_ms = resp.verify_finished_unix_ms();
  out.pacing = resp.pacing();
  out.rate_share = resp.rate_share();
  out.baseline_latency_us = resp.baseline_latency_us();
  out.recent_latency_us = resp.recent_latency_us();
  out.slowdowns = resp.slowdowns();
  out.latency_probes = resp.latency_probes();
  out.paused = resp.paused();
  for (const auto& e : resp.exchanges()) out.exchanges.push_back(FromProto(e));
  return out;
}

absl::StatusOr<std::vector<AaeExchange>> Client::Repair(
    uint64_t peer, const CallOptions& opts) {
  v1::RepairRequest req;
  req.set_peer(peer);
  RUMOR_ASSIGN_OR_RETURN(v1::RepairResponse resp,
                         impl_->Admin(&v1::Admin::Stub::Repair, req, opts));
  std::vector<AaeExchange> out;
  for (const auto& e : resp.exchanges()) out.push_back(FromProto(e));
  return out;
}

absl::Status Client::RefreshRing(const CallOptions& opts) {
  if (!impl_->routes_by_ring()) return absl::OkStatus();
  Impl* impl = impl_.get();
  std::vector<std::string> sources;
  uint64_t target;
  {
    absl::MutexLock l(&impl->ring_mu);
    if (impl->shutting_down) {
      return absl::CancelledError("the client is shutting down");
    }
    // Wait for the refresh in flight, or run one now (no rate limit: the
    // caller asked).
    target = impl->refreshes_finished + 1;
    if (!impl->refreshing) {
      impl->refreshing = true;
      impl->last_refresh_start = std::chrono::steady_clock::now();
      sources = impl->RefreshSourcesLocked("");
    }
  }
  if (!sources.empty()) impl->StartRefresh(std::move(sources), impl->TimeoutOf(opts));
  absl::MutexLock l(&impl->ring_mu);
  struct Arg {
    const uint64_t* finished;
    uint64_t target;
  } arg{&impl->refreshes_finished, target};
  impl->ring_mu.Await(absl::Condition(
      +[](Arg* a) { return *a->finished >= a->target; }, &arg));
  return impl->last_refresh;
}

std::optional<uint64_t> Client::RingVersion() const {
  absl::MutexLock l(&impl_->ring_mu);
  if (!impl_->ring) return std::nullopt;
  return impl_->ring->version();
}

std::vector<std::pair<std::string, uint64_t>> Client::RequestsByAddress()
    const {
  std::vector<std::pair<std::string, uint64_t>> out;
  absl::MutexLock l(&impl_->ring_mu);
  for (const auto& [address, n] : impl_->answered) {
    uint64_t v = n->load(std::memory_order_relaxed);
    if (v > 0) out.push_back({address, v});
  }
  return out;
}

absl::StatusOr<ClientOptions::Tls> LoadClientTls(const std::string& ca_path,
                                                 const std::string& cert_path,
                                                 const std::string& key_path) {
  ClientOptions::Tls tls;
  if (cert_path.empty() != key_path.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (ca_path.empty()) {
    if (!cert_path.empty()) {
      return absl::InvalidArgumentError(
          "--tls-cert needs --tls-ca (the CA that issued the nodes' "
          "certificates): TLS is on only with it");
    }
    return tls;
  }
  RUMOR_ASSIGN_OR_RETURN(tls.ca, ReadPemFile(ca_path, "--tls-ca"));
  if (!cert_path.empty()) {
    RUMOR_ASSIGN_OR_RETURN(tls.cert, ReadPemFile(cert_path, "--tls-cert"));
    RUMOR_ASSIGN_OR_RETURN(tls.key, ReadPemFile(key_path, "--tls-key"));
  }
  return tls;
}

}  // namespace rumor::client
