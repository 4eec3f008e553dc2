// The one place an absl::Status becomes a grpc::Status on the server side.
// Codes map one-to-one (both follow google.rpc.Code).
#ifndef RUMOR_SERVER_RPC_GRPC_STATUS_H_
#define RUMOR_SERVER_RPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace rumor::server {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_GRPC_STATUS_H_
