// Conversion between the membership core's messages and peer.proto, with
// validation: nothing a peer sends reaches the core unchecked.
// Thread-safe (pure functions).
#ifndef RUMOR_SERVER_RPC_PEER_CODEC_H_
#define RUMOR_SERVER_RPC_PEER_CODEC_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "server/membership/membership.h"

namespace rumor::v1 {
class SwimMessage;
}

namespace rumor::server {

// Bumped on any incompatible change of peer.proto's meaning.
inline constexpr uint32_t kPeerProtocolVersion = 1;

// Bounds on what a peer may send; larger is refused as malformed.
inline constexpr size_t kMaxAddressBytes = 256;
inline constexpr size_t kMaxTokensPerMember = 1024;
inline constexpr size_t kMaxTagsPerMember = 64;
inline constexpr size_t kMaxTagBytes = 256;
inline constexpr size_t kMaxUpdatesPerMessage = 4096;
inline constexpr size_t kMaxMembersPerMessage = 10000;

// What a member may announce about itself, checked the same way on the
// receiving side (FromProto) and on the node's own configuration, so that
// a node never starts with an address, tag or cluster name its peers
// would refuse. Plain ASCII only: these end up in logs, kvcli tables and
// JSON, and an address becomes a gRPC target.
//
// A host is a name or IPv4 address ([A-Za-z0-9._-]) or a bracketed IPv6
// address. `min_port` is 1 for announced addresses, 0 for --listen.
bool ValidHost(std::string_view host);
absl::Status CheckHostPort(std::string_view address, std::string_view what,
                           int min_port = 1);
// Key: 1..kMaxTagBytes of [A-Za-z0-9._/-]; value: up to kMaxTagBytes of
// printable ASCII.
absl::Status CheckTag(std::string_view key, std::string_view value);
// 1..128 bytes of [A-Za-z0-9._-].
absl::Status CheckClusterName(std::string_view name);

void ToProto(const Message& m, v1::SwimMessage* out);
// INVALID_ARGUMENT naming the first problem found.
absl::StatusOr<Message> FromProto(const v1::SwimMessage& in);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_PEER_CODEC_H_
