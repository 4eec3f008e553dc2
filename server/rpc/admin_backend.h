// What the admin service (server/rpc/admin_service.h) asks of the node, in
// plain C++ types: no gRPC here. Implemented by the Node.
#ifndef RUMOR_SERVER_RPC_ADMIN_BACKEND_H_
#define RUMOR_SERVER_RPC_ADMIN_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/types.h"
#include "server/antientropy/anti_entropy.h"
#include "server/membership/membership.h"
#include "server/ring/ring.h"
#include "server/rpc/node_info.h"

namespace rumor::server {

struct MembershipSnapshot {
  MemberState self;
  std::vector<MemberState> members;  // sorted by id, self included
  MembershipStats stats;
  int awareness = 0;
};

// The ring as clients need it to route requests themselves.
struct RingLayoutInfo {
  uint64_t version = 0;  // changes whenever ownership changes
  size_t replicas = 0;   // N
  struct Node {
    NodeId id = kNoNode;
    std::string address;
    MemberStatus status = MemberStatus::kAlive;
    std::vector<uint64_t> tokens;
  };
  std::vector<Node> nodes;
};

// One node's copy of a key, or a hint a fallback holds for it.
struct ReplicaCopyInfo {
  NodeId node = kNoNode;
  std::string address;
  MemberStatus status = MemberStatus::kAlive;
  NodeId hint_for = kNoNode;  // kNoNode: a preference-list replica
  bool answered = false;
  std::string error;  // why it could not be asked
  bool holds = false;
  std::vector<std::string> values;
  uint32_t tombstones = 0;
  std::vector<std::pair<uint64_t, uint64_t>> version;  // actor, counter
};

struct ReplicaReport {
  uint64_t position = 0;
  size_t replicas = 0;
  std::vector<ReplicaCopyInfo> copies;
};

// What the admin service asks of the node. Implemented by Node.
// Thread-safe.
class AdminBackend {
 public:
  virtual ~AdminBackend() = default;
  virtual NodeInfo Info() const = 0;
  // Named counters and gauges beyond membership's: storage, the storage
  // queue, the peer transport, ... in a stable order.
  virtual std::vector<std::pair<std::string, uint64_t>> Values() const = 0;
  // UNAVAILABLE while the node is still starting.
  virtual absl::StatusOr<MembershipSnapshot> Membership() const = 0;
  virtual absl::StatusOr<std::shared_ptr<const Ring>> CurrentRing() const = 0;
  // May block for seconds: the service calls it off gRPC's threads. On
  // success the node shuts down afterwards.
  virtual absl::Status Leave() = 0;
  virtual absl::Status Remove(NodeId node) = 0;
  virtual absl::StatusOr<RingLayoutInfo> Layout() const = 0;
  // Asks every node that may hold `key`; `done` runs once, on any thread.
  virtual void Replicas(std::string key,
                        std::function<void(absl::StatusOr<ReplicaReport>)> done) = 0;
  // Anti-entropy's state; UNAVAILABLE while the node is still starting.
  virtual absl::StatusOr<AntiEntropy::State> Aae() const = 0;
  // Runs exchanges now (peer kNoNode: with every peer sharing ranges);
  // `done` runs once, on any thread.
  virtual void Repair(NodeId peer, AntiEntropy::RunDone done) = 0;
  // Pauses or resumes anti-entropy's own work (AntiEntropy::SetPaused).
  virtual absl::Status PauseAae(bool paused) = 0;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_ADMIN_BACKEND_H_
