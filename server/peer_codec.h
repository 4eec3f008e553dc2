// Conversion between the membership core's messages and peer.proto, with
// validation: nothing a peer sends reaches the core unchecked.
// Thread-safe (pure functions).
#ifndef RUMOR_SERVER_PEER_CODEC_H_
#define RUMOR_SERVER_PEER_CODEC_H_

#include "absl/status/statusor.h"
#include "server/membership.h"

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

void ToProto(const Message& m, v1::SwimMessage* out);
// INVALID_ARGUMENT naming the first problem found.
absl::StatusOr<Message> FromProto(const v1::SwimMessage& in);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_PEER_CODEC_H_
