// What a member announces about itself (address, ring tokens, tags), and
// the rules such an announcement must follow. The same checks run on what
// peers send (server/rpc/peer_codec.h) and on the node's own configuration,
// so a node never starts with an address, tag or cluster name its peers
// would refuse.
//
// Value types and pure functions; thread-safe.
#ifndef RUMOR_SERVER_MEMBERSHIP_MEMBER_META_H_
#define RUMOR_SERVER_MEMBERSHIP_MEMBER_META_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace rumor::server {

// Immutable once shared: copies of a member state share one MemberMeta.
// Build shared ones with MakeMeta, which fills in the fingerprint.
struct MemberMeta {
  std::string address;           // host:port
  std::vector<uint64_t> tokens;  // ring tokens, sorted; empty = not claimed yet
  std::vector<std::pair<std::string, std::string>> tags;  // sorted by key
  // The member's incarnation when it announced this meta: a member's metas
  // are ordered by it, whatever order they arrive in, and whatever its
  // status is meanwhile.
  uint64_t version = 0;
  // Tokens claimed, data still being pulled from the current replicas:
  // the member receives writes for its future ranges but serves no reads
  // and counts toward no quorum until it announces that it has finished.
  bool joining = false;
  uint64_t fingerprint = 0;      // hash of the fields above (MakeMeta)
  bool operator==(const MemberMeta&) const = default;
};
using MetaPtr = std::shared_ptr<const MemberMeta>;

// Sorts tokens and tags, computes the fingerprint and shares the result.
MetaPtr MakeMeta(MemberMeta meta);

// Bounds on what a member may announce; larger is refused as malformed.
inline constexpr size_t kMaxAddressBytes = 256;
inline constexpr size_t kMaxTokensPerMember = 1024;
inline constexpr size_t kMaxTagsPerMember = 64;
inline constexpr size_t kMaxTagBytes = 256;

// Plain ASCII only: these end up in logs, kvcli tables and JSON, and an
// address becomes a gRPC target.
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

}  // namespace rumor::server

#endif  // RUMOR_SERVER_MEMBERSHIP_MEMBER_META_H_
