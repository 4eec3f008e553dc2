// A running rumor node: data directory, storage, request core and the gRPC
// server, wired together. kvd is a thin main() around this class, and the
// in-process tests start real nodes through it.
//
// Thread-safe. Shutdown may be called from any thread, once or more.
#ifndef RUMOR_SERVER_NODE_NODE_H_
#define RUMOR_SERVER_NODE_NODE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/types.h"
#include "server/node/node_options.h"
#include "server/rpc/node_info.h"

namespace rumor::server {

class Node {
 public:
  // Opens the data dir (refusing one in use by another process), loads or
  // creates the node id, and starts serving. Errors name what went wrong
  // (address in use, data dir locked, unwritable, bad options).
  static absl::StatusOr<std::unique_ptr<Node>> Start(const NodeOptions& options);
  // Shuts down (if not already) and releases the data dir.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Stops accepting requests, lets in-flight ones finish for up to `grace`
  // (then cancels them), drains storage work and flushes the write-ahead
  // log. Every write acknowledged before Shutdown is on disk afterwards.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  NodeId id() const;
  // The advertised host:port, with the real port when listening on port 0.
  const std::string& address() const;
  // The port /metrics is served on (the real one when --metrics asked for
  // port 0); 0 without --metrics.
  int metrics_port() const;

  // True once the node was asked to stop itself (it left the cluster);
  // kvd polls this and exits.
  bool StopRequested() const;
  // Not OK when the node must stop with an error: another live process
  // announces this node's id while it joins. kvd polls this.
  absl::Status FatalError() const;
  NodeInfo Info() const;

 private:
  struct State;
  explicit Node(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_NODE_NODE_H_
