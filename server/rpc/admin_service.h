// gRPC adapter for the operator API (proto/admin.proto). Handlers convert
// between protos and the backend's plain types; no logic lives here.
#ifndef RUMOR_SERVER_RPC_ADMIN_SERVICE_H_
#define RUMOR_SERVER_RPC_ADMIN_SERVICE_H_

#include <memory>

#include "server/rpc/admin_backend.h"
#include "server/rpc/request_tracker.h"
#include "server/rpc/tls.h"

namespace grpc {
class Service;
}

namespace rumor::server {

// `backend` and `tracker` must outlive the service. Thread-safe. Leave and
// Replicas are tracked: Leave ends with a shutdown that must not cut off its
// answer, and Replicas waits for other nodes. With `authorizer` (peer
// security on), Leave and Remove, which change the cluster, and PauseAae and
// Repair, which change what it does in the background, are refused to
// callers without a certificate from the cluster CA.
std::unique_ptr<grpc::Service> NewAdminService(
    AdminBackend* backend, RequestTracker* tracker,
    std::shared_ptr<const PeerAuthorizer> authorizer = nullptr);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_ADMIN_SERVICE_H_
