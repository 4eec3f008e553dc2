// The one place the server converts between absl::Status and grpc::Status,
// both ways: every reply a service finishes goes through ToGrpcStatus, and
// every status a peer stream ends with through FromGrpcStatus. Codes map
// one-to-one (both follow google.rpc.Code). (The client has its own pair
// in client/client.cc: it never includes server code.)
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

inline absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_GRPC_STATUS_H_
