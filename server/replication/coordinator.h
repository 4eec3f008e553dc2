// The request core: validates client requests and turns them into
// operations on versioned objects. Knows nothing of gRPC.
//
// Today a node serves every key from its own store. The replication issue
// turns this into the quorum coordinator (N replicas, R/W acks); the
// interface is already asynchronous for that reason.
//
// Thread-safe. Each operation first tries to complete on the calling thread
// without waiting for the disk (a memtable or cache hit, a write that needs
// no fsync and no stall); only operations that would wait move to the
// storage executor. When its queue is full the operation fails at once with
// RESOURCE_EXHAUSTED (retryable; nothing written). Callbacks run on
// whichever thread completed the work.
#ifndef RUMOR_SERVER_REPLICATION_COORDINATOR_H_
#define RUMOR_SERVER_REPLICATION_COORDINATOR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/executor.h"
#include "common/types.h"
#include "server/replication/limits.h"
#include "storage/object_store.h"

namespace rumor::server {

// Per-request tuning; zero means the node's default.
struct RequestOptions {
  uint32_t r = 0;
  uint32_t w = 0;
  absl::Duration timeout = absl::ZeroDuration();
};

// What a client sees of an object.
struct ObjectView {
  // False when the key was never written or only tombstones remain.
  bool found = false;
  // Live siblings in canonical order.
  std::vector<std::string> values;
  // Encoded causal context covering every sibling (tombstones included);
  // empty when the key was never written.
  std::string context;
};

class Coordinator {
 public:
  using ViewCallback = absl::AnyInvocable<void(absl::StatusOr<ObjectView>) &&>;
  using DoneCallback = absl::AnyInvocable<void(absl::Status) &&>;

  // `store` and `storage_executor` must outlive the coordinator. Storage
  // operations, which may block on disk, run on `storage_executor`.
  Coordinator(storage::ObjectStore* store, NodeId self, Limits limits,
              Executor* storage_executor);
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // The string_view arguments of the three calls below must stay valid
  // until `done` runs.

  // Reads `key`. INVALID_ARGUMENT for a bad key.
  void Get(std::string_view key, const RequestOptions& options,
           ViewCallback done);

  // Writes `value`, replacing the siblings `context` covers. On success
  // `done` gets the object after the write when `return_body` is set (an
  // empty view otherwise). INVALID_ARGUMENT for a bad key, value or
  // context; nothing is written then.
  void Put(std::string_view key, std::string_view value,
           std::string_view context, const RequestOptions& options,
           bool return_body, ViewCallback done);

  // Writes a tombstone replacing the siblings `context` covers (all of
  // them when the context comes from a read of the current object).
  void Delete(std::string_view key, std::string_view context,
              const RequestOptions& options, DoneCallback done);

  const Limits& limits() const { return limits_; }
  NodeId self() const { return self_; }

 private:
  void Write(std::string_view key, storage::Sibling sibling,
             std::string_view context, bool return_body, ViewCallback done);

  storage::ObjectStore* const store_;
  const NodeId self_;
  const Limits limits_;
  Executor* const storage_executor_;
};

// Builds the client's view of a stored object.
ObjectView ViewOf(const storage::DvvSet& object);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REPLICATION_COORDINATOR_H_
