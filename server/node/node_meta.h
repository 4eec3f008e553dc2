// A node's persistent identity in the engine's meta column. Thread-safe
// (the store is).
#ifndef RUMOR_SERVER_NODE_NODE_META_H_
#define RUMOR_SERVER_NODE_NODE_META_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/types.h"
#include "storage/column_store.h"
#include "storage/object_store.h"

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

// The actor that mints this node's dots (kv679): the node id mixed with an
// epoch. The epoch is bumped, durably and before the node serves, at every
// start that follows an unclean shutdown or a loss of data (the data
// column's identity, kept inside it, is gone or another). A node that lost
// writes it acknowledged (power loss without --sync, a wiped data column)
// therefore never mints a dot it already gave out: other replicas would
// take a new value under a reused dot for one they already hold and drop
// it silently.
struct ActorStart {
  uint64_t epoch = 0;
  uint64_t actor = 0;  // never 0
  // Why the epoch was bumped ("" when it was not).
  std::string bumped_because;
};
absl::StatusOr<ActorStart> StartActorEpoch(storage::ColumnStore* meta,
                                           storage::ObjectStore* store,
                                           NodeId id);
// Durably moves the epoch from `epoch` to epoch + 1 and returns the new
// one. Range handoff calls it before it deletes keys this node no longer
// replicates: were the node to own such a key again, a write without a
// context would otherwise mint a dot the other replicas already hold.
absl::StatusOr<uint64_t> BumpActorEpoch(storage::ColumnStore* meta,
                                        uint64_t epoch);
// Records, durably, that the node shut down cleanly at `epoch` with every
// acknowledged write synced: the next start keeps the epoch.
absl::Status MarkCleanShutdown(storage::ColumnStore* meta, uint64_t epoch);
// The actor of (id, epoch).
uint64_t ActorOf(NodeId id, uint64_t epoch);

// The node's ring tokens; empty before its first claim.
absl::StatusOr<std::vector<uint64_t>> LoadTokens(storage::ColumnStore* meta);
// Durably stores claimed tokens (before they are announced).
absl::Status StoreTokens(storage::ColumnStore* meta,
                         const std::vector<uint64_t>& tokens);
// Whether the node is still joining: it claimed tokens into a serving ring
// and has not finished pulling its ranges (a restart resumes the pull).
absl::StatusOr<bool> LoadJoining(storage::ColumnStore* meta);
absl::Status StoreJoining(storage::ColumnStore* meta, bool joining);

// The addresses of the other ring members this node last knew, so that a
// restart finds its cluster again without --join (and knows it had one: a
// node that remembers peers serves no request until one of them or a seed
// has answered). Empty when none are stored. Entries that are not valid
// host:port addresses are skipped.
absl::StatusOr<std::vector<std::string>> LoadPeers(storage::ColumnStore* meta);
// Durably replaces the remembered peers.
absl::Status StorePeers(storage::ColumnStore* meta,
                        const std::vector<std::string>& addresses);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_NODE_NODE_META_H_
