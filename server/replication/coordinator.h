// The request coordinator: Dynamo's quorum replication (DeCandia et al.,
// SOSP 2007, sections 4.5-4.7). Knows nothing of gRPC: other nodes are
// reached through a ReplicaTransport, the cluster is read from a
// ClusterView, storage is an ObjectStore (replicas) and a HintStore
// (sloppy quorum).
//
// Put/Delete: coordinated by a replica of the key; a node outside the
// preference list forwards the request to the first healthy replica. The
// coordinator applies the write locally (minting the new dot with its
// actor), sends the resulting object to the other replicas (or, for one
// that is down, to a fallback that keeps it as a hint), answers after W
// acknowledgements (its own counts) and lets the rest finish in the
// background.
//
// Get: any node coordinates. It asks the healthy replicas (and, for one
// that is down, the fallback holding hints for it), answers after R replies
// with the merged object, then read-repairs: every replica whose copy
// differs from the merge of all replies gets the merge.
//
// Failure: when fewer than R/W nodes are healthy the request fails at once
// with UNAVAILABLE and nothing is written. When too few answer in time it
// fails with UNAVAILABLE (nodes failed) or DEADLINE_EXCEEDED (nodes were
// slow); a write may then have been applied on some replicas (outcome
// unknown), and the message says so. Success is never reported for a write
// fewer than W nodes hold durably.
//
// Thread-safe. Storage work first tries to complete on the calling thread
// without waiting for the disk; only work that would wait moves to the
// storage executor, and when its queue is full the request fails with
// RESOURCE_EXHAUSTED (retryable, nothing written). Callbacks run on
// whichever thread completed the work.
#ifndef RUMOR_SERVER_REPLICATION_COORDINATOR_H_
#define RUMOR_SERVER_REPLICATION_COORDINATOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/executor.h"
#include "common/types.h"
#include "server/replication/cluster_view.h"
#include "server/replication/hint_store.h"
#include "server/replication/limits.h"
#include "server/replication/placement.h"
#include "server/replication/replica_ops.h"
#include "storage/object_store.h"

namespace rumor::server {

struct ReplicationConfig {
  size_t n = 3;  // replicas per key
  size_t r = 2;  // default replies a read waits for
  size_t w = 2;  // default acknowledgements a write waits for
  // Budget of a request that sets none (or a larger one).
  absl::Duration timeout = absl::Seconds(4);
  Limits limits;
  // Sloppy quorum and hinted handoff. Off (for tests of read repair): a
  // write simply misses a replica that is down.
  bool hinted_handoff = true;
};

// Counters since start.
struct CoordinatorStats {
  uint64_t gets = 0, puts = 0, deletes = 0;
  uint64_t forwarded = 0;         // client writes forwarded to a replica
  uint64_t unavailable = 0;       // too few nodes healthy or answering
  uint64_t timeouts = 0;          // too few answered in time
  uint64_t read_repairs = 0;      // replicas sent a merge by a read
  uint64_t hints_sent = 0;        // writes sent to fallbacks as hints
  uint64_t replica_writes = 0;    // objects merged here for other nodes
  uint64_t hints_stored = 0;      // hints stored here for other nodes
};

class Coordinator {
 public:
  using ViewCallback = absl::AnyInvocable<void(absl::StatusOr<ObjectView>) &&>;
  using DoneCallback = absl::AnyInvocable<void(absl::Status) &&>;

  // Every pointer must outlive the coordinator. `actor` mints this node's
  // dots (the node id mixed with its epoch: see node/node_meta.h).
  Coordinator(storage::ObjectStore* store, HintStore* hints,
              storage::ActorId actor, ReplicationConfig config,
              Executor* storage_executor, ClusterViewSource view,
              ReplicaTransport* transport);
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // The string_view arguments are copied before these return.

  // Reads `key`. INVALID_ARGUMENT for a bad key or R outside 1..N.
  void Get(std::string_view key, const RequestOptions& options,
           ViewCallback done);

  // Writes `value`, replacing the siblings `context` covers. On success
  // `done` gets the object after the write when `return_body` is set (an
  // empty view otherwise). INVALID_ARGUMENT for a bad key, value, context
  // or W; FAILED_PRECONDITION when the object would exceed the sibling or
  // size limit. Nothing is written on either.
  void Put(std::string_view key, std::string_view value,
           std::string_view context, const RequestOptions& options,
           bool return_body, ViewCallback done);

  // Writes a tombstone replacing the siblings `context` covers (all of
  // them when the context comes from a read of the current object).
  void Delete(std::string_view key, std::string_view context,
              const RequestOptions& options, DoneCallback done);

  // The replica side: runs an op another node sent here. A malformed
  // object is INVALID_ARGUMENT (nothing written).
  void Serve(ReplicaOp op, ReplyCallback done);

  const Limits& limits() const { return config_.limits; }
  const ReplicationConfig& config() const { return config_; }
  storage::ActorId actor() const { return actor_.load(); }
  // Mints later dots with `actor` (a new epoch: see HandoffOptions).
  void SetActor(storage::ActorId actor) { actor_.store(actor); }
  CoordinatorStats stats() const;

 private:
  struct WriteState;
  struct ReadState;

  void Write(std::string key, storage::Sibling sibling, std::string context,
             const RequestOptions& options, bool return_body, bool forwarded,
             ViewCallback done);
  void Forward(const Placement& placement, const ClusterView& view,
               ReplicaOp op, absl::Time deadline, ViewCallback done);
  void Replicate(std::shared_ptr<WriteState> state);
  // Hints for preference-list nodes that are down with no fallback, or
  // that failed to acknowledge (kept here, not counted toward W).
  void KeepLocalHints(const WriteState& state);
  void KeepLocalHint(const WriteState& state, NodeId owner);
  void FinishRead(std::shared_ptr<ReadState> state);
  // Runs fn on the storage executor; fails `done`-style via `refused` when
  // the queue is full.
  void OnStorage(absl::AnyInvocable<void() &&> fn,
                 absl::AnyInvocable<void() &&> refused);
  absl::Time Deadline(const RequestOptions& options) const;
  bool Reachable(const std::string& address);

  storage::ObjectStore* const store_;
  HintStore* const hints_;
  std::atomic<storage::ActorId> actor_;
  const ReplicationConfig config_;
  Executor* const storage_executor_;
  const ClusterViewSource view_;
  ReplicaTransport* const transport_;

  struct Counters {
    std::atomic<uint64_t> gets{0}, puts{0}, deletes{0}, forwarded{0},
        unavailable{0}, timeouts{0}, read_repairs{0}, hints_sent{0},
        replica_writes{0}, hints_stored{0};
  };
  mutable Counters counters_;
};

// Builds the client's view of a stored object.
ObjectView ViewOf(const storage::DvvSet& object);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REPLICATION_COORDINATOR_H_
