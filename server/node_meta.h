// A node's persistent identity in the engine's meta column. Thread-safe
// (the engine is).
#ifndef RUMOR_SERVER_NODE_META_H_
#define RUMOR_SERVER_NODE_META_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/types.h"
#include "storage/engine.h"

namespace rumor::server {

// Returns the node id stored in `engine`, generating and durably storing a
// random non-zero one on first use. FAILED_PRECONDITION if the data was
// written by an incompatible format version.
absl::StatusOr<NodeId> LoadOrCreateNodeId(storage::Engine* engine);

// The membership incarnation this start should announce: one more than any
// the node announced before (durably stored before returning), so a
// restarted node always outranks what the cluster remembers of it.
absl::StatusOr<uint64_t> NextIncarnation(storage::Engine* engine);
// Durably records an incarnation the node announced (refutations).
absl::Status StoreIncarnation(storage::Engine* engine, uint64_t incarnation);

// The node's ring tokens; empty before its first claim.
absl::StatusOr<std::vector<uint64_t>> LoadTokens(storage::Engine* engine);
// Durably stores claimed tokens (before they are announced).
absl::Status StoreTokens(storage::Engine* engine,
                         const std::vector<uint64_t>& tokens);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_NODE_META_H_
