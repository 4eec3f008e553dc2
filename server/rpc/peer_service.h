// The receiving side of the membership protocol over gRPC: PeerService
// accepts the streams peers open to this node (server/rpc/peer_transport.h
// is the sending side), checks each stream's hello (protocol version,
// cluster name, sender id) and hands every message, validated by the codec,
// to a sink (the MembershipRunner). Nothing a peer sends reaches the core
// unchecked, and nothing it sends can stop the node.
//
// Thread-safe. No gRPC header is included here.
#ifndef RUMOR_SERVER_RPC_PEER_SERVICE_H_
#define RUMOR_SERVER_RPC_PEER_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/types.h"
#include "server/membership/message.h"
#include "server/rpc/tls.h"

namespace grpc {
class Service;
}

namespace rumor::server {

struct PeerServiceOptions {
  NodeId self = kNoNode;
  std::string cluster = "rumor";
  // Set when peer security is on: streams from callers without a
  // certificate from the cluster CA are refused.
  std::shared_ptr<const PeerAuthorizer> authorizer;
};

class PeerService {
 public:
  explicit PeerService(PeerServiceOptions options);
  ~PeerService();
  PeerService(const PeerService&) = delete;
  PeerService& operator=(const PeerService&) = delete;

  // To register with the grpc::ServerBuilder.
  grpc::Service* service();
  // Where valid incoming messages go; until set they are dropped.
  void SetSink(std::function<void(const Message&)> sink);
  // Ends every open stream now (server shutdown must not wait for peers
  // to hang up). Streams that open later are only ended by the next call:
  // call it repeatedly until the gRPC server has shut down.
  void Shutdown();
  uint64_t malformed_frames() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_PEER_SERVICE_H_
