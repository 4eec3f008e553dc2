// Anti-entropy: every node keeps a hash tree of its data (HashTree, updated
// by every write), and periodically compares the ranges it shares with one
// peer (Exchange), then merges the objects that differ into both sides
// through the normal write path (DVV sync: a repair never overwrites, it
// merges). Hinted handoff covers short outages; this repairs everything
// else (a hint dropped on a full queue, a node down longer than its hints,
// a wiped disk).
//
// One background thread builds the tree at start and then runs one
// exchange at a time: every `interval` with the next peer in turn, or at
// once when an operator asks (RunNow). Repairs are rate-limited in keys
// and bytes per second so that they do not crowd out client traffic.
// Sans-I/O: it talks to peers through a ReplicaTransport and to disk
// through the ObjectStore, so tests run it without a network.
#ifndef RUMOR_SERVER_ANTIENTROPY_ANTI_ENTROPY_H_
#define RUMOR_SERVER_ANTIENTROPY_ANTI_ENTROPY_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/executor.h"
#include "common/types.h"
#include "server/antientropy/exchange.h"
#include "server/antientropy/governor.h"
#include "server/antientropy/hash_tree.h"
#include "server/replication/cluster_view.h"
#include "server/replication/replica_ops.h"
#include "storage/object_store.h"

namespace rumor::server {

struct AntiEntropyOptions {
  NodeId self = kNoNode;
  size_t replicas = 3;  // N: who shares which range
  int segment_bits = 20;
  // Between two periodic exchanges; zero: only when asked (RunNow).
  absl::Duration interval = absl::Seconds(10);
  // Each request to the peer (a tree query, a fetch, a store).
  absl::Duration request_timeout = absl::Seconds(10);
  // Repair rate limits (0: none).
  uint64_t max_keys_per_second = 2000;
  uint64_t max_bytes_per_second = 8 << 20;
  // Objects fetched or pushed at a time during repair.
  size_t repair_batch = 64;
  // True while client traffic is under pressure (the node: its storage
  // queue is a quarter full or more). Repair then backs off, doubling its
  // pause from 50 ms up to 1 s, until it clears. Null: never.
  std::function<bool()> foreground_busy;
  // Client requests finished so far and their summed latency (the node:
  // its KV service). Repair's rate limits are then scaled by how much it
  // slows them (RepairGovernor, with `governor`'s settings). Null, or no
  // key rate limit: repair runs at its limits.
  std::function<ForegroundSample()> foreground;
  GovernorOptions governor;

  // Tombstone reaping. A deleted key (every sibling a tombstone) is
  // removed from disk once it has been deleted here for this long AND
  // every alive member holding the key holds the same tombstone, every
  // current replica among them, no member holds a hint for it, and no
  // member is suspect, dead or joining. Zero: tombstones are kept.
  absl::Duration tombstone_grace = absl::Hours(1);
  // Whether this node holds a hint (for any owner) for `key`. Null: never.
  std::function<bool(std::string_view key)> holds_hint;
  // Deleted keys remembered for reaping at most, and bytes of such keys;
  // past either a deleted key waits for the next restart or tree check to
  // be found again.
  size_t max_reap_candidates = size_t{1} << 20;
  size_t max_reap_candidate_bytes = size_t{64} << 20;
  // The node's current actor (ObjectStore::ReapIfUnchanged raises the dot
  // floor from its counter). Null: none (the floor never moves).
  std::function<storage::ActorId()> actor;
  // The slow rebuild-and-compare of the tree against the data (drift,
  // disk corruption): how often it starts; zero: never. It runs a piece
  // at a time between exchanges, at the repair key rate.
  absl::Duration verify_interval = absl::Hours(24 * 7);
};

// What one exchange found in one shared range.
struct RangeReport {
  PositionRange range;
  uint64_t keys_compared = 0;  // keys listed on either side
  uint64_t differing = 0;
  uint64_t repaired = 0;  // either way
};

// What one exchange with one peer compared and repaired.
struct ExchangeReport {
  NodeId peer = kNoNode;
  std::string address;
  absl::Status status;
  absl::Time finished = absl::InfinitePast();
  absl::Duration took = absl::ZeroDuration();
  uint64_t ranges = 0;         // shared ranges compared
  uint64_t requests = 0;       // tree queries sent
  uint64_t keys_compared = 0;  // keys listed on either side
  uint64_t differing = 0;      // keys whose objects differed
  uint64_t repaired_here = 0;  // keys this node took from the peer
  uint64_t repaired_peer = 0;  // keys the peer took from this node
  uint64_t bytes = 0;          // tree traffic plus repaired objects
  std::vector<RangeReport> per_range;  // in ring order
};

// The ranges of ring positions both `a` and `b` replicate on `ring` with
// `n` replicas, merged where adjacent; wrapping ranges come as two.
std::vector<PositionRange> SharedRanges(const Ring& ring, NodeId a, NodeId b,
                                        size_t n);

class AntiEntropy final : private storage::ObjectObserver {
 public:
  // Becomes `store`'s observer (see ObjectStore::SetObserver): construct
  // it before the store takes writes. Everything passed must outlive it.
  AntiEntropy(storage::ObjectStore* store, ReplicaTransport* transport,
              Executor* storage_executor, ClusterViewSource view,
              AntiEntropyOptions options);
  ~AntiEntropy();
  AntiEntropy(const AntiEntropy&) = delete;
  AntiEntropy& operator=(const AntiEntropy&) = delete;

  // Starts the thread: the tree build, then the exchanges.
  void Start();
  // Stops the thread (an exchange in progress ends at its next step);
  // queued RunNow requests are answered CANCELLED. Idempotent.
  void Stop();

  // Answers a peer's kTree query from this node's tree and data, or its
  // kReap check or removal from this node's data and hints.
  void Serve(ReplicaOp op, ReplyCallback done);

  using RunDone =
      absl::AnyInvocable<void(absl::StatusOr<std::vector<ExchangeReport>>) &&>;
  // Runs exchanges now, ahead of the schedule: with `peer`, or with every
  // peer that shares ranges with this node when kNoNode. `done` gets one
  // report per peer, or UNAVAILABLE while the tree is being built.
  void RunNow(NodeId peer, RunDone done);

  // Pauses (or resumes) this node's own anti-entropy work: an exchange or
  // repair in progress waits at its next step, and so do the tree check
  // and tombstone reaping; requests queued by RunNow and not started are
  // answered FAILED_PRECONDITION, and so are new ones while paused.
  // Peers' queries (their exchanges, their reaping checks and removals)
  // are still answered. An operator control for a busy hour (kvcli aae
  // --pause); not kept across restarts.
  void SetPaused(bool paused) ABSL_LOCKS_EXCLUDED(mu_);

  struct Counters {
    uint64_t exchanges = 0;
    uint64_t exchange_failures = 0;
    uint64_t keys_compared = 0;
    uint64_t keys_repaired = 0;  // either way
    uint64_t bytes = 0;
    uint64_t backoffs = 0;  // pauses for client traffic
  };
  struct Reaping {
    absl::Duration grace = absl::ZeroDuration();  // zero: off
    uint64_t pending = 0;  // deleted keys waiting for their grace or peers
    uint64_t reaped = 0;   // removed from this node's disk
    uint64_t kept = 0;     // past their grace, but not every node agreed
    uint64_t passes = 0;
    uint64_t forgotten = 0;  // not remembered: over max_reap_candidates
    // Why the last pass removed nothing at all, if a member held it up.
    std::string paused;
  };
  // How repair is paced by client latency (RepairGovernor).
  struct Pacing {
    bool on = false;     // a foreground source and a key rate limit
    double share = 1;    // of the rate limits repair may use now
    absl::Duration baseline = absl::ZeroDuration();  // client latency idle
    absl::Duration recent = absl::ZeroDuration();    // ... while repairing
    uint64_t slowdowns = 0;  // times the share was halved
    uint64_t probes = 0;     // pauses to measure the baseline
    // Pauses between steps taken for the rate limits so far (scaled by
    // the share): what pacing cost repair.
    absl::Duration paced = absl::ZeroDuration();
  };
  struct Verification {
    absl::Duration interval = absl::ZeroDuration();  // zero: off
    uint64_t runs = 0;  // finished
    bool running = false;
    double progress = 0;
    uint64_t segments_corrected = 0;  // over every run
    absl::Time last_finished = absl::InfinitePast();
  };
  struct State {
    bool ready = false;  // the tree reflects every object
    double build_progress = 0;
    uint64_t build_keys = 0;
    absl::Duration build_took = absl::ZeroDuration();
    absl::Status build_error;  // the build failed: anti-entropy is off
    Counters counters;
    std::vector<ExchangeReport> last;  // the last exchange per peer
    size_t tree_bytes = 0;
    absl::Duration interval = absl::ZeroDuration();
    Reaping reaping;
    Verification verify;
    Pacing pacing;
    bool paused = false;  // SetPaused
  };
  State GetState() const;

  HashTree& tree() { return tree_; }

 private:
  struct Request {
    NodeId peer;
    RunDone done;
  };
  // storage::ObjectObserver: the tree, then the reaping candidates.
  void ObjectChanged(uint64_t position, std::string_view key,
                     std::string_view before, std::string_view after) override;
  // Remembers `key` as deleted (if it is not already; with `restart`, its
  // grace starts again now either way).
  void Track(std::string_view key, bool restart = false);
  // Sees every object a build or check scans: deleted ones are tracked.
  void Scanned(std::string_view key, std::string_view object);
  // Runs `answer` on the storage executor and replies with its result, or
  // with RESOURCE_EXHAUSTED when the executor's queue is full.
  void OnStorage(ReplyCallback done, absl::AnyInvocable<ReplicaReply()> answer);
  // Answers a peer's kReap (see ReplicaOp), on the storage executor.
  void ServeReap(const ReplicaOp& op, ReplicaReply* reply);
  // One pass over the deleted keys past their grace.
  void ReapPass();
  // Why no key can be reaped now ("" when keys can be).
  std::string ReapBlocker(const ClusterView& view) const;
  // False when a member did not answer (the pass stops there).
  bool ReapBatch(const ClusterView& view, std::vector<std::string> keys);
  // The key stays deleted here, but was not reaped: looked at again after
  // `wait`, not on every pass.
  void Retry(const std::string& key, absl::Duration wait);
  // A step of the tree check, if one is due or running.
  void VerifyStep();
  void Loop();
  ExchangeReport RunExchange(const ClusterView& view, NodeId peer);
  // Sends `ops` to `address` and waits for every reply (or the deadline).
  std::vector<ReplicaReply> CallAll(const std::string& address,
                                    std::vector<ReplicaOp> ops);
  // Sends each op to its address, all at once, and waits for every reply.
  std::vector<ReplicaReply> CallMany(
      std::vector<std::pair<std::string, ReplicaOp>> calls);
  absl::Status Repair(const ClusterView& view, const std::string& address,
                      NodeId peer, const std::vector<std::string>& keys,
                      ExchangeReport* report);
  // Paces a step of repair work that handled `keys` keys and `bytes` bytes
  // at the rate limits, scaled by the governor's share (which may first
  // ask for a probe: an idle pause). Loop thread only.
  void Throttle(uint64_t keys, uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for `d` or Stop.
  void Idle(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits while paused (SetPaused), or until Stop. Loop thread only.
  void WaitWhilePaused() ABSL_LOCKS_EXCLUDED(mu_);
  // A stretch of work begins (the governor measures from here). Loop
  // thread only.
  void WorkStarts();
  // Waits while foreground_busy says so (see AntiEntropyOptions).
  void YieldToClients() ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<NodeId> PeersSharingRanges(const ClusterView& view) const;
  bool stopping() const { return stop_.load(std::memory_order_acquire); }

  storage::ObjectStore* const store_;
  ReplicaTransport* const transport_;
  Executor* const storage_executor_;
  const ClusterViewSource view_;
  const AntiEntropyOptions options_;
  HashTree tree_;

  std::atomic<bool> stop_{false};
  absl::Mutex thread_mu_;
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);

  mutable absl::Mutex mu_;
  std::deque<Request> queue_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  double build_progress_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t build_keys_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration build_took_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Status build_error_ ABSL_GUARDED_BY(mu_);
  Counters counters_ ABSL_GUARDED_BY(mu_);
  std::map<NodeId, ExchangeReport> last_ ABSL_GUARDED_BY(mu_);
  size_t next_peer_ ABSL_GUARDED_BY(mu_) = 0;
  Reaping reaping_ ABSL_GUARDED_BY(mu_);
  Verification verify_ ABSL_GUARDED_BY(mu_);
  Pacing pacing_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;

  // Deleted keys and when this node first saw each deleted. Taken inside
  // a store stripe (ObjectChanged): never call the store with it held.
  mutable absl::Mutex reap_mu_ ABSL_ACQUIRED_AFTER(mu_);
  struct Deleted {
    absl::Time since;     // first seen deleted (monotonic clock)
    absl::Time next_try;  // not looked at again before
  };
  absl::flat_hash_map<std::string, Deleted> deleted_ ABSL_GUARDED_BY(reap_mu_);
  size_t deleted_bytes_ ABSL_GUARDED_BY(reap_mu_) = 0;
  uint64_t forgotten_ ABSL_GUARDED_BY(reap_mu_) = 0;

  // Only the loop thread touches these.
  RepairGovernor governor_;
  absl::Time next_reap_ = absl::InfiniteFuture();
  absl::Time next_verify_ = absl::InfiniteFuture();
  uint64_t verify_piece_ = 0;
  uint64_t verify_corrected_ = 0;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_ANTIENTROPY_ANTI_ENTROPY_H_
