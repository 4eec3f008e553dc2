// The membership monitor of a real node: one mutex around the sans-I/O
// core, and one thread ("gossip") whose main loop ticks the core at its next
// deadline. Incoming messages arrive on gRPC threads through Deliver; the
// core's outgoing messages go to the Transport, which never blocks.
//
// The loop also claims ring tokens once the node has joined, and reports
// incarnation and token changes to hooks that persist them, always without
// the lock held (they write to disk).
//
// Thread-safe.
#ifndef RUMOR_SERVER_MEMBERSHIP_MEMBERSHIP_RUNNER_H_
#define RUMOR_SERVER_MEMBERSHIP_MEMBERSHIP_RUNNER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "server/membership/membership.h"
#include "server/ring/ring.h"

namespace rumor::server {

struct MembershipRunnerOptions {
  MembershipConfig config;
  std::vector<std::string> seeds;
  // Tokens to claim when config.meta has none (first start of this node).
  size_t tokens = 64;
  // Replicas per key: the claim balances what each node stores at this N.
  size_t replicas = 3;
  // Claiming waits this long after joining so that nodes joining at the
  // same time see each other and claim one at a time (lowest id first).
  absl::Duration claim_settle = absl::Seconds(2);
  // Longest a pending node defers to a lower-id pending node.
  absl::Duration claim_timeout = absl::Seconds(15);
  // With config.incarnation_ceiling set (the persisted mark), the runner
  // persists a new mark this far above the incarnation the node wants
  // whenever that comes within half of it. So a refutation rarely waits
  // for the disk, and a restart still outranks every announcement.
  uint64_t incarnation_lease = 64;
};

struct MembershipRunnerHooks {
  // Durably records that this node may announce incarnations up to `mark`
  // (a restart starts above it). Nothing above the last mark that returned
  // OK is ever announced; a failure is retried with back-off.
  std::function<absl::Status(uint64_t mark)> persist_incarnation_mark;
  // Tokens were chosen; persist them, and whether the node is joining (it
  // claimed into a ring that already serves: it must pull its ranges
  // before it serves them). They are announced only if this returns OK (a
  // node must never announce tokens it could forget).
  std::function<absl::Status(const std::vector<uint64_t>&, bool joining)>
      tokens_claimed;
  // The other ring members' addresses changed (called once joined, after
  // each change of ownership): persist them, so a restart can find the
  // cluster again. A failure is retried a second later.
  std::function<absl::Status(const std::vector<std::string>&)> peers_changed;
};

class MembershipRunner {
 public:
  // `transport` and `clock` must outlive the runner.
  MembershipRunner(MembershipRunnerOptions options, Transport* transport,
                   Clock* clock, MembershipRunnerHooks hooks);
  ~MembershipRunner();  // Stop()
  MembershipRunner(const MembershipRunner&) = delete;
  MembershipRunner& operator=(const MembershipRunner&) = delete;

  // Joins through the seeds and starts the gossip thread.
  void Start();
  // Stops the gossip thread. Idempotent.
  void Stop();

  void Deliver(const Message& message);

  std::vector<MemberState> Members() const;
  MemberState Self() const;
  MembershipStats Stats() const;
  int Awareness() const;
  bool Joined() const;
  // Where another process announcing this node's id was last seen.
  std::string CollisionAddress() const;
  absl::Duration MinSuspicionTimeout() const;
  absl::Duration MaxSuspicionTimeout() const;
  // The serving ring (members still joining left out), rebuilt when
  // membership changes ownership.
  std::shared_ptr<const Ring> CurrentRing() const;
  // Every member with tokens, joining ones included.
  std::shared_ptr<const Ring> FullRing() const;
  // Both, of one ring version.
  std::pair<std::shared_ptr<const Ring>, std::shared_ptr<const Ring>> Rings()
      const;
  // This node has pulled its ranges (the caller persisted that): announce
  // that it serves them. No-op unless it is joining.
  void AnnounceServing();
  // Bumped on any change of any member's state, and when ownership
  // changes: for observers that cache what they derive from members.
  struct Versions {
    uint64_t state = 0;
    uint64_t ring = 0;
    bool joined = false;
  };
  Versions CurrentVersions() const;

  // See Membership::Remove.
  absl::Status Remove(NodeId node);
  // Announces that this node leaves and waits until the announcement has
  // spread or `timeout` passes (DEADLINE_EXCEEDED; it was still announced).
  absl::Status Leave(absl::Duration timeout);

 private:
  // Main loop of the "gossip" thread: tick, claim, persist, sleep until
  // the core's next deadline or a wake-up.
  void Loop();
  std::shared_ptr<const Ring> CurrentRingLocked() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const Ring> FullRingLocked() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Under the lock: when it is time to claim tokens, the ring members to
  // claim among (the claim itself is computed without the lock).
  std::optional<std::vector<RingMember>> ClaimDueLocked(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LogChangesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Conditions for mu_.Await (absl calls them with mu_ held).
  bool StoppingOrWokenLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || wake_;
  }
  bool LeaveSpreadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return core_.LeaveSpread();
  }
  // Under the lock: the incarnation mark to persist now, or 0.
  uint64_t IncarnationMarkDueLocked(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const MembershipRunnerOptions options_;
  Transport* const transport_;
  Clock* const clock_;
  const MembershipRunnerHooks hooks_;

  mutable absl::Mutex mu_;
  Membership core_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool claimed_ ABSL_GUARDED_BY(mu_) = false;
  static constexpr int kMaxClaimRestarts = 3;
  int claim_restarts_ ABSL_GUARDED_BY(mu_) = 0;  // ring changed mid-claim
  absl::Time next_claim_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time joined_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint64_t persisted_mark_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_mark_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration mark_backoff_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  // Ring version whose peers were last persisted (peers_changed).
  uint64_t peers_version_ ABSL_GUARDED_BY(mu_) = ~uint64_t{0};
  absl::Time next_peers_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  mutable uint64_t ring_version_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::shared_ptr<const Ring> ring_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t full_ring_version_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::shared_ptr<const Ring> full_ring_ ABSL_GUARDED_BY(mu_);
  // Last status logged per member, to log transitions once.
  std::map<NodeId, MemberStatus> logged_ ABSL_GUARDED_BY(mu_);
  uint64_t logged_version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t logged_collisions_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_MEMBERSHIP_MEMBERSHIP_RUNNER_H_
