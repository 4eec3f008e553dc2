// gRPC adapter for the client API (proto/kv.proto). Handlers validate the
// proto, call the Coordinator and map its Status; no logic lives here.
#ifndef RUMOR_SERVER_RPC_KV_SERVICE_H_
#define RUMOR_SERVER_RPC_KV_SERVICE_H_

#include <memory>

#include "server/replication/coordinator.h"
#include "server/rpc/request_tracker.h"

namespace grpc {
class Service;
}

namespace rumor::server {

// `coordinator` and `tracker` must outlive the service. Thread-safe.
std::unique_ptr<grpc::Service> NewKvService(Coordinator* coordinator,
                                            RequestTracker* tracker);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_KV_SERVICE_H_
