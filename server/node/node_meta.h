// A node's persistent identity in the engine's meta column. Thread-safe
// (the store is).
#ifndef RUMOR_SERVER_NODE_NODE_META_H_
#define RUMOR_SERVER_NODE_NODE_META_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/types.h"
#include "storage/column_store.h"

namespace rumor::server {

// Returns the node id stored in `meta`, generating and durably storing a
// random non-zero one on first use. FAILED_PRECONDITION if the data was
// written by an incompatible format version.
absl::StatusOr<NodeId> LoadOrCreateNodeId(storage::ColumnStore* meta);

// Incarnations are leased: the meta column holds a mark, and the node never
// announces an incarnation above the mark it has persisted (the membership
// runner raises the mark ahead of need, kIncarnationLease at a time, so
// announcing rarely waits for a disk write). A restart starts above the
// mark, so it outranks everything the cluster heard before.
inline constexpr uint64_t kIncarnationLease = 64;

struct IncarnationStart {
  uint64_t incarnation = 0;  // the first incarnation this start announces
  uint64_t mark = 0;         // persisted: announce nothing above it
};
// The incarnation this start announces (one above the stored mark) and a
// new mark a lease above it, durably stored before returning.
absl::StatusOr<IncarnationStart> NextIncarnation(storage::ColumnStore* meta);
// Durably raises the stored mark to `mark` (never lowers it).
absl::Status StoreIncarnationMark(storage::ColumnStore* meta, uint64_t mark);

// The node's ring tokens; empty before its first claim.
absl::StatusOr<std::vector<uint64_t>> LoadTokens(storage::ColumnStore* meta);
// Durably stores claimed tokens (before they are announced).
absl::Status StoreTokens(storage::ColumnStore* meta,
                         const std::vector<uint64_t>& tokens);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_NODE_NODE_META_H_
