// Moving data to where it belongs, in the background:
//
//  - Hinted handoff: hints this node holds for a node that was down are
//    sent to it once it is Alive and reachable again, merged through its
//    normal write path, and deleted only after it acknowledged them
//    durably (and only if no newer write merged into the hint meanwhile).
//    Hints for a node that left or was removed go to the key's current
//    replicas instead.
//  - Range handoff: when ownership changes (a join, a leave, a removal),
//    each range goes to the nodes that newly replicate it. The sender of a
//    range is the node that stops replicating it if it is alive, otherwise
//    the first alive node that keeps it (a removed node sends nothing). A
//    node also hands off every range it holds but no longer replicates, and
//    deletes its copy only after every new replica acknowledged it.
//
// Both run on one thread ("handoff") that looks for work every `interval`,
// once the ring has been stable for `settle` (a node that has just started
// must not act on a ring it has only half learnt). Transfers that cannot
// complete (a target is down) are retried.
//
// Thread-safe.
#ifndef RUMOR_SERVER_REPLICATION_HANDOFF_H_
#define RUMOR_SERVER_REPLICATION_HANDOFF_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/types.h"
#include "server/replication/cluster_view.h"
#include "server/replication/hint_store.h"
#include "server/replication/replica_ops.h"
#include "server/ring/ring.h"
#include "storage/object_store.h"

namespace rumor::server {

// A range of ring positions (from, to] — wrapping past 2^64 when from >= to
// — and the nodes that must receive its keys.
struct RangeTransfer {
  uint64_t from = 0;
  uint64_t to = 0;
  std::vector<NodeId> targets;
  // This node no longer replicates the range: delete each key once every
  // target has acknowledged it.
  bool drop_after = false;
};

// What `self` must send when the ring changes from `before` (nullptr: not
// known, e.g. just started) to `after`, with `n` replicas per key. `alive`
// says whether a node is up now. Pure; ordered by position.
std::vector<RangeTransfer> PlanTransfers(
    NodeId self, const Ring* before, const Ring& after, size_t n,
    const std::function<bool(NodeId)>& alive);

struct HandoffOptions {
  size_t n = 3;
  absl::Duration interval = absl::Seconds(1);
  absl::Duration settle = absl::Seconds(3);
  size_t batch_keys = 2048;         // keys per batch to one node
  absl::Duration call_timeout = absl::Seconds(10);
  // Called before range handoff deletes keys this node no longer
  // replicates, at most once per round; nothing is deleted unless it
  // returns OK. The node moves to a new actor epoch here (riak kv679):
  // should it own such a key again, a write without a context must not
  // mint a dot the other replicas hold for another value.
  std::function<absl::Status()> before_drop;
};

struct HandoffStats {
  uint64_t hints_delivered = 0;   // acknowledged by their owner, deleted
  uint64_t hints_rehomed = 0;     // owner gone: sent to current replicas
  uint64_t keys_sent = 0;         // range handoff, acknowledged per target
  uint64_t keys_dropped = 0;      // deleted after every new owner had them
  uint64_t transfers_pending = 0;  // ranges still to hand off
  uint64_t failures = 0;          // batches that failed (retried later)
};

class HandoffRunner {
 public:
  // Every pointer must outlive the runner.
  HandoffRunner(HandoffOptions options, storage::ObjectStore* store,
                HintStore* hints, ClusterViewSource view,
                ReplicaTransport* transport);
  ~HandoffRunner();  // Stop()
  HandoffRunner(const HandoffRunner&) = delete;
  HandoffRunner& operator=(const HandoffRunner&) = delete;

  // Starts (or, after Stop, restarts) the loop.
  void Start();
  // Stops the loop (a batch in flight is abandoned, not waited for) and
  // waits for its thread. Idempotent.
  void Stop();

  // For a graceful leave: sends every key this node holds to its replicas
  // in `ring` (which no longer holds this node), blocking until each
  // replica acknowledged it or `deadline` passes (DEADLINE_EXCEEDED) or a
  // replica cannot be reached (UNAVAILABLE; nothing is deleted either way).
  // `progress` is called now and then with (keys sent, keys scanned).
  absl::Status HandOffEverything(
      std::shared_ptr<const Ring> ring, absl::Time deadline,
      const std::function<void(uint64_t, uint64_t)>& progress);

  HandoffStats stats() const;

  // One round of the loop (tests call it directly instead of Start).
  // Returns whether work is left that should continue at once.
  bool RunOnce();

 private:
  struct Sent {
    std::string key;
    std::string encoded;
  };
  void Loop();
  // Returns whether hints are left that should be sent at once.
  bool DeliverHints(const ClusterView& view);
  // Sends `objects` to `address` as replica writes and waits; returns how
  // many were acknowledged, in order (the acknowledged ones are a prefix
  // only if all were).
  std::vector<bool> SendAndWait(const std::string& address,
                                const std::vector<Sent>& objects,
                                ReplicaOp::Kind kind, NodeId hint_for);
  // Runs one transfer; true when it completed (every key acknowledged by
  // every target).
  bool RunTransfer(const ClusterView& view, const RangeTransfer& t);

  const HandoffOptions options_;
  storage::ObjectStore* const store_;
  HintStore* const hints_;
  const ClusterViewSource view_;
  ReplicaTransport* const transport_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> interrupted_{false};
  // Owned by the handoff thread (or a test calling RunOnce).
  std::shared_ptr<const Ring> last_ring_;
  uint64_t last_ring_version_ = 0;
  absl::Time ring_seen_at_ = absl::InfinitePast();
  bool planned_ = false;
  bool dropped_this_round_ = false;
  std::vector<RangeTransfer> pending_;
  std::thread thread_;

  std::atomic<uint64_t> hints_delivered_{0}, hints_rehomed_{0}, keys_sent_{0},
      keys_dropped_{0}, transfers_pending_{0}, failures_{0};
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REPLICATION_HANDOFF_H_
