// Moving data to where it belongs, in the background:
//
//  - Hinted handoff: hints this node holds for a node that was down are
//    sent to it once it is Alive and reachable again, merged through its
//    normal write path, and deleted only after it acknowledged them
//    durably (and only if no newer write merged into the hint meanwhile).
//    Hints for a node that left or was removed go to the key's current
//    replicas instead.
//  - Joining: a node that claimed tokens into a serving ring pulls each of
//    its future ranges from N - W + 1 of the range's serving replicas
//    (ReplicaOp::kScan, a page at a time) while writes already reach it,
//    and then announces that it serves them. Until then it counts toward
//    no read and no quorum, so a read never lands on a replica that is
//    still empty.
//  - Range handoff: when the serving ring changes (a joining node starts
//    serving, a leave, a removal), every old replica of a range sends it to
//    each node that newly replicates it, except that a node which pulled
//    the range while joining gets it only from the nodes that stop
//    replicating it. A node also hands off every range it holds but no
//    longer replicates, and deletes its copy only after every new replica
//    acknowledged it (moving to a new actor epoch first: before_drop).
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
#include <set>
#include <string>
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

// What `self` must send when the serving ring changes from `before`
// (nullptr: not known, e.g. just started) to `after`, with `n` replicas per
// key. `pulled` says whether a node was joining in `before`'s time (it
// pulled its ranges itself: only nodes that stop replicating a range send
// it to such a node, before they delete their copy). Every other node new
// to a range gets it from every old replica (any one would do, but it may
// die first). Pure; ordered by position.
std::vector<RangeTransfer> PlanTransfers(
    NodeId self, const Ring* before, const Ring& after, size_t n,
    const std::function<bool(NodeId)>& pulled);

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
  // Joining: serving replicas each range is pulled from (N - W + 1, so
  // that one of them holds every write acknowledged by W).
  size_t bootstrap_sources = 2;
  // Joining: every range was pulled (and the serving ring did not change
  // meanwhile). The node records it durably and announces that it serves;
  // an error is retried next round.
  std::function<absl::Status()> on_bootstrapped;
};

struct HandoffStats {
  uint64_t hints_delivered = 0;   // acknowledged by their owner, deleted
  uint64_t hints_rehomed = 0;     // owner gone: sent to current replicas
  uint64_t keys_sent = 0;         // range handoff, acknowledged per target
  uint64_t keys_dropped = 0;      // deleted after every new owner had them
  uint64_t transfers_pending = 0;  // ranges still to hand off
  uint64_t failures = 0;          // batches that failed (retried later)
  uint64_t keys_pulled = 0;       // objects pulled while joining
  uint64_t bootstrap_ranges_left = 0;  // joining: ranges not pulled yet
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

  // Starts (or, after Stop, restarts) the loop; nothing after Shutdown.
  void Start();
  // Stops the loop (a batch in flight is abandoned, not waited for) and
  // waits for its thread. Idempotent.
  void Stop();
  // Stop for good: later Starts do nothing, and a HandOffEverything in
  // progress (a leave) is interrupted.
  void Shutdown();

  // For a graceful leave: sends every key this node holds, and every hint
  // it keeps for another node, to the key's replicas in `ring` (which no
  // longer holds this node); a replica that is down gets its copy as a hint
  // on the next node up. Blocks until each copy was acknowledged, or
  // `deadline` passes (DEADLINE_EXCEEDED), or a copy cannot be placed or
  // delivered (UNAVAILABLE). Nothing is deleted either way. `progress` is
  // called now and then with (copies sent, keys scanned).
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
  // Returns whether hints are left that should be sent at once. Hints for
  // owners that look gone wait for a `settled` view.
  bool DeliverHints(const ClusterView& view, bool settled);
  // Sends `objects` to `address` as replica writes and waits; returns how
  // many were acknowledged, in order (the acknowledged ones are a prefix
  // only if all were).
  std::vector<bool> SendAndWait(const std::string& address,
                                const std::vector<Sent>& objects,
                                ReplicaOp::Kind kind, NodeId hint_for);
  // Runs one transfer: what is left of it (targets that were down or did
  // not acknowledge every key; the whole transfer for a drop, which waits
  // for every target), or nullopt when it completed.
  std::optional<RangeTransfer> RunTransfer(const ClusterView& view,
                                           const RangeTransfer& t);
  // Joining: pulls the ranges not pulled yet; returns whether to continue
  // at once.
  bool RunBootstrap(const ClusterView& view);
  // Pulls positions (from, to] from the node at `address` into the store.
  bool PullRange(const std::string& address, uint64_t from, uint64_t to);
  // One call, waited for (nullopt when the runner is interrupted).
  std::optional<ReplicaReply> CallAndWait(const std::string& address,
                                          ReplicaOp op);

  const HandoffOptions options_;
  storage::ObjectStore* const store_;
  HintStore* const hints_;
  const ClusterViewSource view_;
  ReplicaTransport* const transport_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex thread_mu_;  // Start/Stop (never held by the loop itself)
  std::atomic<bool> interrupted_{false};
  // Owned by the handoff thread (or a test calling RunOnce).
  std::shared_ptr<const Ring> last_ring_;       // serving, at the last plan
  std::shared_ptr<const Ring> last_full_ring_;  // with joining members
  uint64_t last_ring_version_ = 0;
  absl::Time ring_seen_at_ = absl::InfinitePast();  // monotonic clock
  bool planned_ = false;
  bool dropped_this_round_ = false;
  std::vector<RangeTransfer> pending_;
  uint64_t bootstrap_version_ = ~uint64_t{0};  // ring version pulled for
  std::set<uint64_t> bootstrapped_;  // range ends pulled at that version
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);

  std::atomic<uint64_t> hints_delivered_{0}, hints_rehomed_{0}, keys_sent_{0},
      keys_dropped_{0}, transfers_pending_{0}, failures_{0}, keys_pulled_{0},
      bootstrap_ranges_left_{0};
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REPLICATION_HANDOFF_H_
