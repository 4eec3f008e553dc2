// gRPC adapter for the client API (proto/kv.proto). Handlers validate the
// proto, call the Coordinator and map its Status; no logic lives here.
#ifndef RUMOR_SERVER_RPC_KV_SERVICE_H_
#define RUMOR_SERVER_RPC_KV_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "server/metrics/request_metrics.h"
#include "server/replication/coordinator.h"
#include "server/rpc/request_tracker.h"

namespace grpc {
class Service;
}

namespace rumor::server {

// `coordinator`, `tracker` and `metrics` must outlive the service; every
// request is recorded in `metrics` by operation, outcome and latency
// (refusals while shutting down included). Every response
// carries the initial metadata header "rumor-ring-version" with
// `ring_version()`, so that routing clients notice ownership changes.
// Thread-safe.
std::unique_ptr<grpc::Service> NewKvService(
    Coordinator* coordinator, RequestTracker* tracker,
    RequestMetrics* metrics, std::function<uint64_t()> ring_version);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_KV_SERVICE_H_
