// gRPC adapter for the operator API (proto/admin.proto). Handlers convert
// between protos and the backend's plain types; no logic lives here.
#ifndef RUMOR_SERVER_RPC_ADMIN_SERVICE_H_
#define RUMOR_SERVER_RPC_ADMIN_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/types.h"
#include "server/replication/limits.h"
#include "server/membership/membership.h"
#include "server/rpc/request_tracker.h"
#include "server/ring/ring.h"

namespace grpc {
class Service;
}

namespace rumor::server {

// Static facts about a running node, reported by Admin.Status.
struct NodeInfo {
  NodeId id = kNoNode;
  std::string address;
  std::string data_dir;
  std::string cluster;
  bool sync = false;
  Limits limits;
  absl::Time started;
  absl::Duration probe_interval;
  size_t replicas = 3;
};

struct MembershipSnapshot {
  MemberState self;
  std::vector<MemberState> members;  // sorted by id, self included
  MembershipStats stats;
  int awareness = 0;
};

// What the admin service asks of the node. Implemented by Node.
// Thread-safe.
class AdminBackend {
 public:
  virtual ~AdminBackend() = default;
  virtual NodeInfo Info() const = 0;
  // UNAVAILABLE while the node is still starting.
  virtual absl::StatusOr<MembershipSnapshot> Membership() const = 0;
  virtual absl::StatusOr<std::shared_ptr<const Ring>> CurrentRing() const = 0;
  // May block for seconds: the service calls it off gRPC's threads. On
  // success the node shuts down afterwards.
  virtual absl::Status Leave() = 0;
  virtual absl::Status Remove(NodeId node) = 0;
};

// `backend` and `tracker` must outlive the service. Thread-safe. Only Leave
// is tracked: it ends with a shutdown that must not cut off its answer.
std::unique_ptr<grpc::Service> NewAdminService(AdminBackend* backend,
                                               RequestTracker* tracker);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_ADMIN_SERVICE_H_
