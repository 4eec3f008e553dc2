#include "server/node.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/service_type.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/executor.h"
#include "common/log.h"
#include "common/status.h"
#include "server/admin_service.h"
#include "server/coordinator.h"
#include "server/data_dir.h"
#include "server/kv_service.h"
#include "server/node_meta.h"
#include "storage/object_store.h"
#include "storage/rocksdb_engine.h"

namespace rumor::server {
namespace {

struct HostPort {
  std::string host;
  int port = 0;
};

absl::StatusOr<HostPort> ParseHostPort(const std::string& addr) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", addr, "' is not host:port"));
  }
  HostPort hp;
  hp.host = addr.substr(0, colon);
  if (!absl::SimpleAtoi(addr.substr(colon + 1), &hp.port) || hp.port < 0 ||
      hp.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", addr, "' has no valid port (0..65535)"));
  }
  return hp;
}

bool IsWildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "[::]" || host == "::";
}

}  // namespace

struct Node::State final : public AdminBackend {
  NodeInfo Info() const override {
    absl::MutexLock lock(&info_mu);
    return info;
  }

  NodeOptions options;
  NodeId id = kNoNode;
  std::string address;
  mutable absl::Mutex info_mu;
  NodeInfo info ABSL_GUARDED_BY(info_mu);
  // Declaration order is destruction order reversed: the server goes first,
  // the data dir lock last.
  std::unique_ptr<DataDir> data_dir;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<storage::ObjectStore> store;
  std::unique_ptr<Executor> storage_executor;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<grpc::Service> kv_service;
  std::unique_ptr<grpc::Service> admin_service;
  std::unique_ptr<grpc::Server> server;

  absl::Mutex shutdown_mu;
  bool shut_down ABSL_GUARDED_BY(shutdown_mu) = false;
};

absl::StatusOr<std::unique_ptr<Node>> Node::Start(const NodeOptions& options) {
  RUMOR_RETURN_IF_ERROR(options.limits.Validate());
  RUMOR_ASSIGN_OR_RETURN(HostPort listen, ParseHostPort(options.listen));
  if (options.advertise.empty() && IsWildcard(listen.host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listening on wildcard address ", options.listen,
        " needs --advertise=HOST:PORT so peers and clients can reach it"));
  }
  if (!options.advertise.empty()) {
    RUMOR_RETURN_IF_ERROR(ParseHostPort(options.advertise).status());
  }
  if (options.storage_threads < 0) {
    return absl::InvalidArgumentError("storage threads must be >= 0");
  }

  auto st = std::make_unique<State>();
  st->options = options;
  RUMOR_ASSIGN_OR_RETURN(st->data_dir, DataDir::Open(options.data_dir));
  storage::RocksDbOptions db_options;
  db_options.sync = options.sync;
  RUMOR_ASSIGN_OR_RETURN(
      st->engine, storage::OpenRocksDbEngine(st->data_dir->db_path(), db_options));
  RUMOR_ASSIGN_OR_RETURN(st->id, LoadOrCreateNodeId(st->engine.get()));
  st->store = std::make_unique<storage::ObjectStore>(st->engine.get());
  if (options.storage_threads == 0) {
    st->storage_executor = std::make_unique<InlineExecutor>();
  } else {
    st->storage_executor =
        std::make_unique<ThreadPool>(options.storage_threads, "storage");
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
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxGrpcMessageBytes));
  st->kv_service = NewKvService(st->coordinator.get());
  builder.RegisterService(st->kv_service.get());
  st->admin_service = NewAdminService(st.get());
  builder.RegisterService(st->admin_service.get());
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
    st->info.sync = options.sync;
    st->info.limits = options.limits;
    st->info.started = SteadyClock::Get()->Now();
  }
  st->server->GetHealthCheckService()->SetServingStatus(true);
  RUMOR_LOG(INFO) << "node " << NodeIdToString(st->id) << " serving on "
                  << options.listen << " (port " << port << "), advertising "
                  << st->address << ", data in " << options.data_dir
                  << (options.sync ? ", fsync per write" : "");
  return std::unique_ptr<Node>(new Node(std::move(st)));
}

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
  state_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  state_->server->Wait();
  // Storage work queued by requests that already finished or were
  // cancelled runs to completion before the engine closes.
  state_->storage_executor.reset();
  absl::Status s = state_->engine->Sync();
  if (!s.ok()) RUMOR_LOG(ERROR) << "flushing the write-ahead log: " << s;
  RUMOR_LOG(INFO) << "shut down cleanly";
}

NodeId Node::id() const { return state_->id; }
const std::string& Node::address() const { return state_->address; }

}  // namespace rumor::server
