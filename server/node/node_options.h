// A node's configuration (kvd's flags) and its validation. Value types and
// pure functions; thread-safe.
#ifndef RUMOR_SERVER_NODE_NODE_OPTIONS_H_
#define RUMOR_SERVER_NODE_NODE_OPTIONS_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/replication/limits.h"

namespace rumor::server {

struct NodeOptions {
  // host:port to listen on. Port 0 picks a free port (see Node::address()).
  std::string listen = "127.0.0.1:7379";
  // host:port other nodes and clients should use; defaults to `listen` with
  // the bound port. Required when listening on a wildcard address.
  std::string advertise;
  std::string data_dir = "rumor-data";
  // fsync every acknowledged write.
  bool sync = false;
  Limits limits;
  // Threads that run storage operations off gRPC's threads; 0 runs them
  // inline on the gRPC callback threads.
  int storage_threads = 2;
  // Storage operations waiting for those threads beyond which requests are
  // refused with RESOURCE_EXHAUSTED (each holds its value in memory).
  size_t storage_queue = 1024;

  // --- membership
  // host:port of nodes to join through; none starts a new cluster.
  std::vector<std::string> seeds;
  // Nodes only talk to peers of the same cluster name.
  std::string cluster = "rumor";
  absl::Duration probe_interval = absl::Seconds(1);
  // Zero: 40% of the probe interval.
  absl::Duration probe_timeout = absl::ZeroDuration();
  int indirect_checks = 3;
  int retransmit_mult = 4;  // lambda
  int suspicion_mult = 4;
  absl::Duration push_pull_interval = absl::Seconds(30);
  // Left members, and Dead ones without ring tokens, are forgotten this
  // long after they departed.
  absl::Duration forget_departed_after = absl::Hours(24);
  bool lifeguard = true;
  // Ring tokens this node claims on its first start.
  size_t tokens = 64;
  // Free-form member tags (zone, rack, ...); "version" is added.
  std::vector<std::pair<std::string, std::string>> tags;
  // Replicas per key (N), for ring reports now and replication later.
  size_t replicas = 3;
};

// OK when every option is in range and every address, tag and cluster name
// is one peers would accept; otherwise INVALID_ARGUMENT naming the option.
absl::Status ValidateOptions(const NodeOptions& options);

struct HostPort {
  std::string host;
  int port = 0;
};
// `addr` as host and port, checked as peers check announced addresses
// (port 0 allowed). INVALID_ARGUMENT naming `what` otherwise.
absl::StatusOr<HostPort> ParseHostPort(const std::string& addr,
                                       const char* what);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_NODE_NODE_OPTIONS_H_
