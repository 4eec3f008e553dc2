// A node's persistent identity in the engine's meta column. Thread-safe
// (the engine is).
#ifndef RUMOR_SERVER_NODE_META_H_
#define RUMOR_SERVER_NODE_META_H_

#include "absl/status/statusor.h"
#include "common/types.h"
#include "storage/engine.h"

namespace rumor::server {

// Returns the node id stored in `engine`, generating and durably storing a
// random non-zero one on first use. FAILED_PRECONDITION if the data was
// written by an incompatible format version.
absl::StatusOr<NodeId> LoadOrCreateNodeId(storage::Engine* engine);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_NODE_META_H_
