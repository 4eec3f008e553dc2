#include "server/node/node.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/service_type.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/executor.h"
#include "common/log.h"
#include "common/status.h"
#include "common/version.h"
#include "server/rpc/admin_service.h"
#include "server/replication/coordinator.h"
#include "server/node/data_dir.h"
#include "server/rpc/kv_service.h"
#include "server/membership/membership_runner.h"
#include "server/node/node_meta.h"
#include "server/rpc/peer_codec.h"
#include "server/rpc/peer_service.h"
#include "server/rpc/peer_transport.h"
#include "storage/column_store.h"
#include "storage/object_store.h"
#include "storage/rocksdb_engine.h"

namespace rumor::server {

struct Node::State final : public AdminBackend {
  // --- AdminBackend
  NodeInfo Info() const override {
    absl::MutexLock lock(&info_mu);
    return info;
  }
  std::vector<std::pair<std::string, uint64_t>> Values() const override {
    storage::EngineStats es = engine->Stats();
    PeerTransportStats ts = peer_transport ? peer_transport->stats()
                                           : PeerTransportStats{};
    return {
        {"storage_wal_syncs", es.wal_syncs},
        {"storage_sst_bytes", es.sst_bytes},
        {"storage_memtable_bytes", es.memtable_bytes},
        {"storage_pending_compaction_bytes", es.pending_compaction_bytes},
        {"storage_stall_micros", es.stall_micros},
        {"storage_writes_stopped", es.writes_stopped ? 1u : 0u},
        {"storage_queue_depth", storage_pool ? storage_pool->queued() : 0},
        {"peer_frames_sent", ts.frames_sent},
        {"peer_frames_dropped", ts.frames_dropped},
        {"peer_streams_opened", ts.streams_opened},
        {"peer_stream_failures", ts.stream_failures},
        {"peer_links", ts.links},
        {"peer_links_forgotten", ts.links_forgotten},
        {"peer_malformed_frames",
         peer_service ? peer_service->malformed_frames() : 0},
    };
  }
  // The admin service serves from BuildAndStart on; the runner exists only
  // once the bound address is known.
  MembershipRunner* Runner() const { return runner_ready.load(); }
  static absl::Status Starting() {
    return absl::UnavailableError("node is still starting; retry shortly");
  }
  absl::StatusOr<MembershipSnapshot> Membership() const override {
    MembershipRunner* r = Runner();
    if (r == nullptr) return Starting();
    MembershipSnapshot s;
    s.members = r->Members();
    s.self = r->Self();
    s.stats = r->Stats();
    s.awareness = r->Awareness();
    return s;
  }
  absl::StatusOr<std::shared_ptr<const Ring>> CurrentRing() const override {
    MembershipRunner* r = Runner();
    if (r == nullptr) return Starting();
    return r->CurrentRing();
  }
  absl::Status Leave() override {
    MembershipRunner* r = Runner();
    if (r == nullptr) return Starting();
    absl::Duration timeout =
        std::clamp(options.probe_interval * 10, absl::Seconds(2),
                   absl::Seconds(15));
    absl::Status s = r->Leave(timeout);
    if (s.ok() || absl::IsDeadlineExceeded(s)) {
      stop_requested = true;  // kvd exits: it announced Left
    }
    return s;
  }
  absl::Status Remove(NodeId node) override {
    MembershipRunner* r = Runner();
    if (r == nullptr) return Starting();
    return r->Remove(node);
  }

  NodeOptions options;
  NodeId id = kNoNode;
  std::string address;
  std::atomic<bool> stop_requested{false};
  mutable absl::Mutex info_mu;
  NodeInfo info ABSL_GUARDED_BY(info_mu);

  // Declaration order is destruction order reversed: the server goes first,
  // the data dir lock last.
  std::unique_ptr<DataDir> data_dir;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<storage::ColumnStore> meta;  // node id, incarnation, tokens
  std::unique_ptr<storage::ObjectStore> store;
  std::unique_ptr<Executor> storage_executor;
  ThreadPool* storage_pool = nullptr;  // storage_executor, when a pool
  std::unique_ptr<Coordinator> coordinator;
  RequestTracker requests;
  std::unique_ptr<PeerService> peer_service;
  std::unique_ptr<PeerTransport> peer_transport;
  std::unique_ptr<MembershipRunner> runner;
  std::atomic<MembershipRunner*> runner_ready{nullptr};
  std::unique_ptr<grpc::Service> kv_service;
  std::unique_ptr<grpc::Service> admin_service;
  std::unique_ptr<grpc::Server> server;

  absl::Mutex shutdown_mu;
  bool shut_down ABSL_GUARDED_BY(shutdown_mu) = false;
};

absl::StatusOr<std::unique_ptr<Node>> Node::Start(const NodeOptions& options) {
  RUMOR_RETURN_IF_ERROR(ValidateOptions(options));
  RUMOR_ASSIGN_OR_RETURN(HostPort listen,
                         ParseHostPort(options.listen, "listen address"));

  auto st = std::make_unique<State>();
  st->options = options;
  if (st->options.probe_timeout == absl::ZeroDuration()) {
    st->options.probe_timeout = options.probe_interval * 0.4;
  }
  RUMOR_ASSIGN_OR_RETURN(st->data_dir, DataDir::Open(options.data_dir));
  storage::RocksDbOptions db_options;
  db_options.sync = options.sync;
  RUMOR_ASSIGN_OR_RETURN(
      st->engine, storage::OpenRocksDbEngine(st->data_dir->db_path(), db_options));
  RUMOR_ASSIGN_OR_RETURN(
      st->meta, storage::ColumnStore::Open(st->engine.get(), storage::Column::kMeta));
  RUMOR_ASSIGN_OR_RETURN(st->id, LoadOrCreateNodeId(st->meta.get()));
  RUMOR_ASSIGN_OR_RETURN(IncarnationStart incarnation,
                         NextIncarnation(st->meta.get()));
  RUMOR_ASSIGN_OR_RETURN(std::vector<uint64_t> tokens, LoadTokens(st->meta.get()));
  st->store = std::make_unique<storage::ObjectStore>(st->engine.get());
  if (options.storage_threads == 0) {
    st->storage_executor = std::make_unique<InlineExecutor>();
  } else {
    auto pool = std::make_unique<ThreadPool>(options.storage_threads,
                                             "storage", options.storage_queue);
    st->storage_pool = pool.get();
    st->storage_executor = std::move(pool);
  }
  st->coordinator = std::make_unique<Coordinator>(
      st->store.get(), st->id, options.limits, st->storage_executor.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &port);
  // gRPC sets SO_REUSEPORT by default, which would let a second kvd bind the
  // same port and silently split the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Peers send keepalive pings on idle gossip streams.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxGrpcMessageBytes));
  st->kv_service = NewKvService(st->coordinator.get(), &st->requests);
  builder.RegisterService(st->kv_service.get());
  st->admin_service = NewAdminService(st.get(), &st->requests);
  builder.RegisterService(st->admin_service.get());
  st->peer_service = std::make_unique<PeerService>(
      PeerServiceOptions{st->id, options.cluster});
  builder.RegisterService(st->peer_service->service());
  st->server = builder.BuildAndStart();
  if (st->server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen,
        ": address in use or not available on this host"));
  }
  st->address = options.advertise.empty()
                    ? absl::StrCat(listen.host, ":", port)
                    : options.advertise;
  {
    absl::MutexLock lock(&st->info_mu);
    st->info.id = st->id;
    st->info.address = st->address;
    st->info.data_dir = options.data_dir;
    st->info.cluster = options.cluster;
    st->info.sync = options.sync;
    st->info.limits = options.limits;
    st->info.started = SteadyClock::Get()->Now();
    st->info.probe_interval = options.probe_interval;
    st->info.replicas = options.replicas;
  }

  // Membership.
  PeerTransportOptions pto;
  pto.self = st->id;
  pto.self_address = st->address;
  pto.cluster = options.cluster;
  st->peer_transport = std::make_unique<PeerTransport>(pto);
  MembershipRunnerOptions mro;
  MembershipConfig& mc = mro.config;
  mc.self = st->id;
  mc.meta.address = st->address;
  mc.meta.tokens = tokens;
  mc.meta.tags = options.tags;
  mc.meta.tags.push_back({"version", kVersion});
  mc.incarnation = incarnation.incarnation;
  mc.incarnation_ceiling = incarnation.mark;
  mc.probe_interval = options.probe_interval;
  mc.probe_timeout = st->options.probe_timeout;
  mc.indirect_checks = options.indirect_checks;
  mc.retransmit_mult = options.retransmit_mult;
  mc.suspicion_mult = options.suspicion_mult;
  mc.push_pull_interval = options.push_pull_interval;
  mc.forget_departed_after = options.forget_departed_after;
  mc.join_retry_interval = std::max(options.probe_interval, absl::Milliseconds(200));
  mc.lifeguard = options.lifeguard;
  mc.seed = st->id ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  mro.seeds = options.seeds;
  mro.tokens = options.tokens;
  mro.replicas = options.replicas;
  mro.incarnation_lease = kIncarnationLease;
  mro.claim_settle = std::max(options.probe_interval, absl::Milliseconds(300));
  mro.claim_timeout = std::max(options.probe_interval * 20, absl::Seconds(3));
  State* raw = st.get();
  MembershipRunnerHooks hooks;
  hooks.persist_incarnation_mark = [raw](uint64_t mark) {
    return StoreIncarnationMark(raw->meta.get(), mark);
  };
  hooks.tokens_claimed = [raw](const std::vector<uint64_t>& t) {
    return StoreTokens(raw->meta.get(), t);
  };
  st->runner = std::make_unique<MembershipRunner>(
      mro, st->peer_transport.get(), SteadyClock::Get(), std::move(hooks));
  st->peer_service->SetSink([raw](const Message& m) { raw->runner->Deliver(m); });
  st->runner->Start();
  st->runner_ready.store(st->runner.get());

  st->server->GetHealthCheckService()->SetServingStatus(true);
  RUMOR_LOG(INFO) << "node " << NodeIdToString(st->id) << " (incarnation "
                  << incarnation.incarnation << ") serving on " << options.listen
                  << " (port " << port << "), advertising " << st->address
                  << ", data in " << options.data_dir
                  << (options.sync ? ", fsync per write" : "")
                  << (options.seeds.empty() ? ", starting a new cluster"
                                            : ", joining through seeds");
  return std::unique_ptr<Node>(new Node(std::move(st)));
}

absl::Status Node::FatalError() const {
  // A node whose id another live process announces while it joins must
  // not run: it would fight that process over one identity. Once it has
  // been a member for a while, the newcomer is the other one, and it exits.
  MembershipStats stats = state_->runner->Stats();
  if (stats.id_collisions == 0) return absl::OkStatus();
  absl::Duration up = SteadyClock::Get()->Now() - Info().started;
  if (up > std::max(state_->options.probe_interval * 10, absl::Seconds(2))) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "node id ", NodeIdToString(state_->id), " is already announced by ",
      state_->runner->CollisionAddress(),
      "; was this data dir copied from another node? (if this node merely "
      "moved to a new address, wait until the old one is declared dead)"));
}

NodeInfo Node::Info() const { return state_->Info(); }

Node::Node(std::unique_ptr<State> state) : state_(std::move(state)) {}

Node::~Node() { Shutdown(); }

void Node::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&state_->shutdown_mu);
    if (state_->shut_down) return;
    state_->shut_down = true;
  }
  RUMOR_LOG(INFO) << "shutting down: draining requests for up to " << grace;
  state_->server->GetHealthCheckService()->SetServingStatus(false);
  // Gossip stops first; peers will notice and suspect us (a restart is not
  // a leave: our ranges stay ours).
  state_->runner->Stop();
  state_->peer_transport->Shutdown();
  // Client requests in flight get the grace period; new ones are refused.
  // gRPC's own Shutdown would also wait that long for idle client
  // connections to go away, so it gets only a short deadline afterwards.
  if (!state_->requests.Drain(grace)) {
    RUMOR_LOG(WARNING) << "requests still in flight after " << grace
                       << "; cancelling them";
  }
  // Peers keep gossip streams open to us and may open new ones until the
  // server stops accepting calls: end them in sweeps while it stops.
  std::atomic<bool> drained{false};
  std::thread sweeper([this, &drained] {
    while (!drained.load()) {
      state_->peer_service->Shutdown();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  state_->server->Shutdown(
      absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  state_->server->Wait();
  drained = true;
  sweeper.join();
  // Storage work queued by requests that already finished or were
  // cancelled runs to completion before the engine closes.
  state_->storage_pool = nullptr;
  state_->storage_executor.reset();
  absl::Status s = state_->engine->Sync();
  if (!s.ok()) RUMOR_LOG(ERROR) << "flushing the write-ahead log: " << s;
  RUMOR_LOG(INFO) << "shut down cleanly";
}

NodeId Node::id() const { return state_->id; }
const std::string& Node::address() const { return state_->address; }
bool Node::StopRequested() const { return state_->stop_requested; }

}  // namespace rumor::server
