// The sending side of replication over gRPC: a ReplicaTransport on one
// long-lived bidirectional stream (peer.proto, Replica.Exchange) per
// destination. Requests queued while a write is on the wire go out together
// in the next frame, so a busy pair of nodes sends batches, not one frame
// per replica write; responses come back on the same stream, matched by
// id. The receiving side is ReplicaService (server/rpc/replica_service.h).
//
// Every call ends exactly once: with the peer's reply, with UNAVAILABLE
// when the stream to it breaks or cannot be opened (a destination that
// failed is not retried before a back-off of 100 ms doubling to 2 s; calls
// meanwhile fail at once), or with DEADLINE_EXCEEDED at its deadline (a
// sweeper thread checks every 10 ms).
//
// Thread-safe. No gRPC header is included here.
#ifndef RUMOR_SERVER_RPC_REPLICA_CLIENT_H_
#define RUMOR_SERVER_RPC_REPLICA_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/types.h"
#include "server/replication/replica_ops.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace rumor::server {

struct ReplicaClientOptions {
  NodeId self = kNoNode;
  std::string self_address;
  std::string cluster = "rumor";
  // As PeerTransportOptions::credentials; null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // A frame carries queued requests up to about this many bytes.
  size_t max_frame_bytes = 4 << 20;
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
};

struct ReplicaClientStats {
  uint64_t calls = 0;
  uint64_t frames_sent = 0;     // each carrying one or more requests
  uint64_t failed = 0;          // calls that ended UNAVAILABLE
  uint64_t timed_out = 0;       // calls that ended DEADLINE_EXCEEDED
  uint64_t streams_opened = 0;
  uint64_t links = 0;           // destinations with a channel now
};

class ReplicaClient final : public ReplicaTransport {
 public:
  explicit ReplicaClient(ReplicaClientOptions options);
  ~ReplicaClient() override;  // Shutdown()
  ReplicaClient(const ReplicaClient&) = delete;
  ReplicaClient& operator=(const ReplicaClient&) = delete;

  void Call(const std::string& address, ReplicaOp op, absl::Time deadline,
            ReplyCallback done) override;
  bool Reachable(const std::string& address) override;

  // Drops the link to `address` (no member lives there any more): its
  // calls end UNAVAILABLE. A later Call reopens.
  void Forget(const std::string& address);
  // Ends every call in flight with UNAVAILABLE, closes every stream and
  // waits (bounded) for them. Later calls fail at once.
  void Shutdown();
  ReplicaClientStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_REPLICA_CLIENT_H_
