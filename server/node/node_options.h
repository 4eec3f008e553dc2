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
#include "server/rpc/tls.h"
#include "server/replication/limits.h"

namespace rumor::server {

struct NodeOptions {
  // host:port to listen on. Port 0 picks a free port (see Node::address()).
  std::string listen = "127.0.0.1:7379";
  // host:port other nodes and clients should use; defaults to `listen` with
  // the bound port. Required when listening on a wildcard address.
  std::string advertise;
  std::string data_dir = "rumor-data";
  // host:port to serve Prometheus metrics on (GET /metrics, plain HTTP);
  // empty: none. Port 0 picks a free port (see Node::metrics_port()).
  std::string metrics;
  // Transport security (server/rpc/tls.h): certificate files; all empty
  // is plaintext.
  TlsFlags tls;
  // fsync every acknowledged write.
  bool sync = false;
  // Writes are refused (RESOURCE_EXHAUSTED) while the data directory's
  // filesystem has less free space than this; 0: never
  // (storage/rocksdb_engine.h says why).
  uint64_t min_free_disk_bytes = 256ull << 20;
  Limits limits;
  // Threads that run storage operations off gRPC's threads; 0 runs them
  // inline on the gRPC callback threads.
  int storage_threads = 2;
  // Storage operations waiting for those threads beyond which requests are
  // refused with RESOURCE_EXHAUSTED (each holds its value in memory).
  size_t storage_queue = 1024;

  // --- membership
  // host:port of nodes to join through; none starts a new cluster. A
  // restarted node also rejoins through the ring members it remembers.
  std::vector<std::string> seeds;
  // Drop the remembered ring members at start (a node whose old cluster is
  // gone for good, restarted to serve alone or to join another).
  bool forget_peers = false;
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

  // --- replication
  // Replicas per key (N), and the replies a read (R) / acknowledgements a
  // write (W) waits for unless a request says otherwise. While the ring
  // has fewer than N nodes, the defaults shrink to what it has.
  size_t replicas = 3;
  size_t r = 2;
  size_t w = 2;
  // Budget of a request that sets none (a client's own deadline still
  // applies).
  absl::Duration request_timeout = absl::Seconds(4);
  // Riak's sibling limits: warn above, refuse writes above.
  size_t warn_siblings = 25;
  size_t max_siblings = 100;
  // Largest object (all siblings, encoded) a write may leave.
  size_t max_object_bytes = 32 << 20;
  // Sloppy quorum and hinted handoff (off only to test what read repair
  // does without them).
  bool hinted_handoff = true;
  // Hints a fallback keeps for one down node; beyond, they are dropped
  // (logged; a read repairs those keys).
  size_t max_hints_per_node = 200000;
  // How often hint delivery and range handoff look for work, and how long
  // the ring must be stable before ranges move.
  absl::Duration handoff_interval = absl::Seconds(1);
  absl::Duration handoff_settle = absl::Seconds(3);
  // Longest a graceful leave may take to hand its data off.
  absl::Duration leave_timeout = absl::Minutes(10);
  // Anti-entropy: how often this node compares the ranges it shares with
  // the next peer (zero: only when an operator asks, kvcli repair), and
  // how fast repairs may go (zero: no limit).
  absl::Duration aae_interval = absl::Seconds(10);
  uint64_t aae_keys_per_second = 2000;
  uint64_t aae_bytes_per_second = 8 << 20;
  // How much repair may raise the mean latency of client requests before
  // its rate limits are scaled down (0.05: 5%); zero: repair runs at its
  // limits whatever clients see.
  double aae_latency_tolerance = 0.05;
  // How long a deleted key's tombstone is kept at least; it goes only once
  // every node holding the key agrees (zero: tombstones are kept for good).
  absl::Duration tombstone_grace = absl::Hours(1);
  // How often the anti-entropy tree is checked against a scan of the data
  // (zero: never).
  absl::Duration aae_verify_interval = absl::Hours(24 * 7);
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
