// gRPC adapter for the operator API (proto/admin.proto).
#ifndef RUMOR_SERVER_ADMIN_SERVICE_H_
#define RUMOR_SERVER_ADMIN_SERVICE_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/types.h"
#include "server/limits.h"

namespace grpc {
class Service;
}

namespace rumor::server {

// Static facts about a running node, reported by Admin.Status.
struct NodeInfo {
  NodeId id = kNoNode;
  std::string address;
  std::string data_dir;
  bool sync = false;
  Limits limits;
  absl::Time started;
};

// What the admin service asks of the node. Implemented by Node; the
// service converts the answers to protos. Thread-safe.
class AdminBackend {
 public:
  virtual ~AdminBackend() = default;
  virtual NodeInfo Info() const = 0;
};

// `backend` must outlive the service. Thread-safe.
std::unique_ptr<grpc::Service> NewAdminService(const AdminBackend* backend);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_ADMIN_SERVICE_H_
