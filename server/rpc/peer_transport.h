// The sending side of the membership protocol over gRPC: PeerTransport
// sends the core's messages on long-lived client streams (one per
// destination, opened on demand and re-opened with exponential backoff).
// The receiving side is PeerService (server/rpc/peer_service.h).
//
// Messages flow from the stream's opener to its callee only, so two nodes
// that talk both ways hold one stream per direction: no tie-breaking between
// simultaneous openers, and each direction recovers on its own.
//
// SWIM tolerates loss, so nothing here retries a message: frames for a peer
// whose stream is down are dropped until the backoff allows a new stream,
// and a stalled stream (a SIGSTOPped peer) keeps only the newest frames.
//
// A link nobody has sent to for idle_link_timeout is closed, so addresses
// that only ever sent us something (a stranger's ping with a made-up
// return address, a member long gone) cannot pile up channels.
//
// Thread-safe. No gRPC header is included here.
#ifndef RUMOR_SERVER_RPC_PEER_TRANSPORT_H_
#define RUMOR_SERVER_RPC_PEER_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/types.h"
#include "server/membership/message.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace rumor::server {

struct PeerTransportOptions {
  NodeId self = kNoNode;
  std::string self_address;
  std::string cluster = "rumor";
  // How to reach peers (mutual TLS with the cluster CA when security is
  // on); null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  size_t max_queued_frames = 256;  // per destination
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Links unused this long are closed (checked at most every tenth of it,
  // on a send). A member's link is reopened on its next send.
  absl::Duration idle_link_timeout = absl::Minutes(5);
  const Clock* clock = SteadyClock::Get();
};

struct PeerTransportStats {
  uint64_t frames_sent = 0;
  uint64_t frames_dropped = 0;  // peer down, backoff, or queue full
  uint64_t streams_opened = 0;
  uint64_t stream_failures = 0;
  uint64_t links = 0;            // destinations with a channel now
  uint64_t links_forgotten = 0;  // dropped because no member lives there
  uint64_t links_expired = 0;    // closed after idle_link_timeout unused
};

class PeerTransport final : public Transport {
 public:
  explicit PeerTransport(PeerTransportOptions options);
  ~PeerTransport() override;  // Shutdown()
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Never blocks on the network.
  void Send(const std::string& address, Message message) override;
  // Ends the stream to `address` and drops its channel; frames still
  // queued for it are lost (SWIM tolerates that). A later Send reopens.
  void Forget(const std::string& address) override;
  // Cancels every stream and waits (bounded) for them to finish. Later
  // sends are dropped.
  void Shutdown();
  PeerTransportStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_PEER_TRANSPORT_H_
