// The receiving side of replication over gRPC (peer.proto,
// Replica.Exchange): checks each stream's hello like the gossip service,
// decodes every request (a malformed one is answered INVALID_ARGUMENT, the
// stream lives on), hands it to a handler (the Coordinator's Serve) and
// sends the replies back in batches, in completion order. Nothing a peer
// sends can stop the node.
//
// A stream is finished only once every request it delivered has been
// answered (or the peer went away), so no handler ever completes into a
// finished stream.
//
// Thread-safe. No gRPC header is included here.
#ifndef RUMOR_SERVER_RPC_REPLICA_SERVICE_H_
#define RUMOR_SERVER_RPC_REPLICA_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/replication/replica_ops.h"
#include "server/rpc/tls.h"

namespace grpc {
class Service;
}

namespace rumor::server {

class ReplicaService {
 public:
  using Handler = std::function<void(ReplicaOp op, ReplyCallback done)>;

  // With `authorizer` (peer security on), streams from callers without a
  // certificate from the cluster CA are refused.
  ReplicaService(std::string cluster, Handler handler,
                 std::shared_ptr<const PeerAuthorizer> authorizer = nullptr);
  ~ReplicaService();
  ReplicaService(const ReplicaService&) = delete;
  ReplicaService& operator=(const ReplicaService&) = delete;

  // To register with the grpc::ServerBuilder.
  grpc::Service* service();
  // Cancels every open stream and refuses new ones (server shutdown must
  // not wait for peers to hang up). Call repeatedly until the gRPC server
  // has shut down, like PeerService::Shutdown.
  void Shutdown();
  uint64_t malformed_requests() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_REPLICA_SERVICE_H_
