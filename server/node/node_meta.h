// A node's persistent identity in the engine's meta column. Thread-safe
// (the engine is).
#ifndef RUMOR_SERVER_NODE_NODE_META_H_
#define RUMOR_SERVER_NODE_NODE_META_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/types.h"
#include "storage/engine.h"

namespace rumor::server {

// Returns the node id stored in `engine`, generating and durably storing a
// random non-zero one on first use. FAILED_PRECONDITION if the data was
// written by an incompatible format version.
absl::StatusOr<NodeId> LoadOrCreateNodeId(storage::Engine* engine);

// Incarnations are leased: the meta column holds a mark no announced
// incarnation has reached, kept kIncarnationLease ahead of the current one,
// so announcing never waits for a disk write and a restart (which starts
// above the mark) always outranks everything the cluster heard before.
inline constexpr uint64_t kIncarnationLease = 64;

// The incarnation this start announces: one above the stored mark (which
// is durably raised before returning).
absl::StatusOr<uint64_t> NextIncarnation(storage::Engine* engine);
// Called as the incarnation grows: raises the stored mark when `incarnation`
// comes within half a lease of it. Cheap otherwise (no write).
absl::Status RaiseIncarnationMark(storage::Engine* engine, uint64_t incarnation);

// The node's ring tokens; empty before its first claim.
absl::StatusOr<std::vector<uint64_t>> LoadTokens(storage::Engine* engine);
// Durably stores claimed tokens (before they are announced).
absl::Status StoreTokens(storage::Engine* engine,
                         const std::vector<uint64_t>& tokens);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_NODE_NODE_META_H_
