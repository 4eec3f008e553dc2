// Conversion between the membership core's messages and peer.proto, with
// validation: nothing a peer sends reaches the core unchecked.
// Thread-safe (pure functions).
#ifndef RUMOR_SERVER_RPC_PEER_CODEC_H_
#define RUMOR_SERVER_RPC_PEER_CODEC_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/membership/message.h"

namespace rumor::v1 {
class SwimMessage;
class PeerHello;
}  // namespace rumor::v1

namespace rumor::server {

// Bumped on any incompatible change of peer.proto's meaning.
// 2: push-pull exchanges digests (1 sent full states).
inline constexpr uint32_t kPeerProtocolVersion = 2;

// Bounds on a message; larger is refused as malformed. (What a member may
// announce is bounded in server/membership/member_meta.h.)
inline constexpr size_t kMaxUpdatesPerMessage = 4096;
inline constexpr size_t kMaxMembersPerMessage = 10000;

void ToProto(const Message& m, v1::SwimMessage* out);
// INVALID_ARGUMENT naming the first problem found.
absl::StatusOr<Message> FromProto(const v1::SwimMessage& in);

// The hello both peer streams (gossip and replication) open with.
void FillHello(NodeId self, const std::string& address,
               const std::string& cluster, v1::PeerHello* out);
// OK when `hello` speaks this node's protocol version, belongs to its
// cluster and names a node id and a valid address; FAILED_PRECONDITION
// (version, cluster) or INVALID_ARGUMENT otherwise, naming both sides.
absl::Status CheckHello(const v1::PeerHello& hello, const std::string& cluster);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_PEER_CODEC_H_
