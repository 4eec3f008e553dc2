// A deterministic simulator for the membership protocol: many real
// Membership cores in one process, on a simulated clock and network.
//
// Everything random comes from one seeded generator and every event is
// ordered by (time, sequence number), so a seed reproduces a run exactly.
// The network can lose messages, delay them, partition (asymmetrically)
// any two groups; nodes can crash, restart, pause (SIGSTOP-like: nothing is
// processed, messages wait) and be slow (every event they process waits in
// a FIFO behind a random service delay, like a CPU-starved process).
//
// Not thread-safe.
#ifndef RUMOR_TESTS_SIM_SWIM_SIM_H_
#define RUMOR_TESTS_SIM_SWIM_SIM_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "server/membership/membership.h"

namespace rumor::sim {

using server::MemberStatus;
using server::Membership;
using server::MembershipConfig;
using server::Message;

struct SimOptions {
  int nodes = 16;
  uint64_t seed = 1;
  MembershipConfig base;       // per-node fields (self, meta, seed) are set
  int tokens_per_node = 0;     // ring tokens in each member's meta
  absl::Duration min_latency = absl::Milliseconds(1);
  absl::Duration max_latency = absl::Milliseconds(5);
  double loss = 0.0;           // probability each message is dropped
  double slow_fraction = 0.0;  // fraction of nodes that are slow
  // Mean extra delay of each message a slow node receives (exponential).
  absl::Duration slow_mean_delay = absl::Seconds(1);
};

class Simulation {
 public:
  explicit Simulation(SimOptions options);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Every node starts knowing every other as Alive (a converged cluster),
  // without anything queued to gossip.
  void BootstrapConverged();
  // Every node but the first joins through node 0 at once.
  void BootstrapByJoining();

  // A new node that joins through `seed_index`. Returns its index.
  int AddNode(int seed_index);
  void Crash(int i);
  // Restarts a crashed node with a higher incarnation, joining through
  // `seed_index`.
  void Restart(int i, int seed_index);
  // Node i processes nothing for `d`; what arrives meanwhile waits.
  void Pause(int i, absl::Duration d);
  void SetSlow(int i, bool slow);
  // Messages from any node in `from` to any node in `to` are dropped (one
  // direction only; call twice for a symmetric partition).
  void Partition(const std::set<int>& from, const std::set<int>& to);
  void Heal();
  void SetLoss(double loss) { options_.loss = loss; }

  void RunFor(absl::Duration d) { RunUntil(now_ + d); }
  void RunUntil(absl::Time t);
  // Runs until `pred` holds (checked after every event) or `limit` passes.
  // Returns whether it held.
  bool RunUntilTrue(const std::function<bool()>& pred, absl::Duration limit);

  absl::Time now() const { return now_; }
  absl::Time start() const { return start_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  bool crashed(int i) const { return nodes_[i].crashed; }
  bool slow(int i) const { return nodes_[i].slow; }
  NodeId id(int i) const { return nodes_[i].id; }
  Membership& node(int i) { return *nodes_[i].core; }
  int LiveCount() const;
  // Destinations node i's transport keeps a link to (sent to, not forgotten).
  size_t Links(int i) const;

  // Status of `subject` as node `observer` sees it (Alive if unknown is
  // false: returns false when unknown).
  bool Sees(int observer, int subject, MemberStatus status) const;
  // Tracks how many live nodes see `subject` in each status, incrementally
  // (AllSee is then O(1)), and reports changes to the observer.
  int Watch(int subject);
  // True when every non-crashed node (except `subject` itself) sees
  // `subject` with `status`. O(1) for watched subjects, O(N) otherwise.
  bool AllSee(int subject, MemberStatus status) const;

  // Called after every state change at any node: (observer, subject id,
  // new status, time). Used to record first-detection times.
  using Observer = std::function<void(int observer, NodeId subject,
                                      MemberStatus status, absl::Time t)>;
  void SetObserver(Observer o) { observer_ = std::move(o); }
  // Called for every Dead update sent about a node that has not crashed:
  // a false positive. Cheap at any size (no per-subject bookkeeping).
  void SetDeadHook(std::function<void(NodeId)> hook) { dead_hook_ = std::move(hook); }

  // Totals over every node ever created.
  uint64_t messages_sent() const;
  uint64_t bytes_sent() const;
  uint64_t push_pull_bytes_sent() const;  // the push-pull share of it
  uint64_t messages_delivered() const { return delivered_; }
  uint64_t messages_dropped() const { return dropped_; }

 private:
  class NodeTransport;

 public:
  struct Event;

 private:
  struct Node {
    NodeId id = 0;
    std::string address;
    std::unique_ptr<NodeTransport> transport;
    std::unique_ptr<Membership> core;
    bool crashed = false;
    bool slow = false;
    absl::Time paused_until = absl::InfinitePast();
    absl::Time busy_until = absl::InfinitePast();  // slow-node FIFO
    absl::Time tick_at = absl::InfiniteFuture();   // the pending tick event
    uint64_t tick_gen = 0;
    uint64_t incarnation = 1;
    // Last status seen per watched subject (255: unknown).
    std::vector<uint8_t> last_seen;
    uint64_t retired_messages = 0, retired_bytes = 0;  // from earlier lives
    uint64_t retired_push_pull_bytes = 0;
  };

  Node& MakeNode(int index);
  std::unique_ptr<Membership> MakeCore(int index, absl::Time now);
  void Deliver(int from, const std::string& address, Message m);
  void Push(Event e);
  void ScheduleTick(int i);
  // When node i can process an event that arrives at `t`.
  absl::Time ProcessingTime(int i, absl::Time t);
  void AfterEvent(int i);
  void RunOne();

  SimOptions options_;
  std::mt19937_64 rng_;
  absl::Time start_;
  absl::Time now_;
  std::vector<Node> nodes_;
  std::vector<Event> heap_;
  uint64_t next_event_seq_ = 0;
  std::set<std::pair<int, int>> blocked_;  // (from, to)
  std::vector<int> watched_;
  // counts_[k][status]: live observers that see watched_[k] in status.
  std::vector<std::array<int, 4>> counts_;
  Observer observer_;
  std::function<void(NodeId)> dead_hook_;
  absl::flat_hash_map<NodeId, int> index_of_;
  uint64_t delivered_ = 0, dropped_ = 0;
};

}  // namespace rumor::sim

#endif  // RUMOR_TESTS_SIM_SWIM_SIM_H_
