#include "server/membership/membership_runner.h"

#include <pthread.h>

#include <algorithm>

#include "common/log.h"
#include "server/ring/token_claim.h"

namespace rumor::server {

MembershipRunner::MembershipRunner(MembershipRunnerOptions options,
                                   Transport* transport, Clock* clock,
                                   MembershipRunnerHooks hooks)
    : options_(std::move(options)),
      transport_(transport),
      clock_(clock),
      hooks_(std::move(hooks)),
      core_(options_.config, transport, clock->Now()) {
  persisted_mark_ = options_.config.incarnation_ceiling;
  claimed_ = !options_.config.meta.tokens.empty();
}

MembershipRunner::~MembershipRunner() { Stop(); }

void MembershipRunner::Start() {
  {
    absl::MutexLock lock(&mu_);
    absl::Time now = clock_->Now();
    core_.Join(options_.seeds, now);
    if (core_.joined()) joined_at_ = now;
  }
  thread_ = std::thread([this] { Loop(); });
  pthread_setname_np(thread_.native_handle(), "gossip");
}

void MembershipRunner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void MembershipRunner::Deliver(const Message& message) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  core_.HandleMessage(message, clock_->Now());
  wake_ = true;  // the next deadline may have moved
}

std::optional<std::vector<RingMember>> MembershipRunner::ClaimDueLocked(
    absl::Time now) {
  if (claimed_ || options_.tokens == 0 || !core_.joined() ||
      now < next_claim_attempt_ || core_.leaving() ||
      core_.Self().status == MemberStatus::kLeft) {
    return std::nullopt;
  }
  if (joined_at_ == absl::InfiniteFuture()) joined_at_ = now;
  bool alone = options_.seeds.empty();
  if (!alone && now - joined_at_ < options_.claim_settle) return std::nullopt;
  // Nodes that join together claim one at a time, lowest id first, so each
  // sees the others' tokens; a pending node that never claims (it died)
  // holds the others up for at most claim_timeout.
  NodeId self = core_.Self().id;
  bool lowest = true;
  for (const MemberState& m : core_.Members()) {
    if (m.id < self && m.status == MemberStatus::kAlive &&
        m.meta->tokens.empty()) {
      lowest = false;
      break;
    }
  }
  if (!lowest && now - joined_at_ < options_.claim_timeout) return std::nullopt;
  return RingMembersOf(core_.Members());
}

uint64_t MembershipRunner::IncarnationMarkDueLocked(absl::Time now) {
  if (persisted_mark_ == 0 || !hooks_.persist_incarnation_mark ||
      now < next_mark_attempt_) {
    return 0;
  }
  uint64_t wanted = core_.IncarnationWanted();
  if (wanted + options_.incarnation_lease / 2 < persisted_mark_) return 0;
  return std::min(wanted + options_.incarnation_lease, kMaxIncarnation);
}

void MembershipRunner::LogChangesLocked() {
  if (core_.state_version() == logged_version_) return;
  logged_version_ = core_.state_version();
  NodeId self = core_.Self().id;
  // Forgotten members: said once, and dropped from this map too.
  for (auto it = logged_.begin(); it != logged_.end();) {
    if (core_.Find(it->first) == nullptr) {
      RUMOR_LOG(INFO) << "forgot departed member " << NodeIdToString(it->first);
      it = logged_.erase(it);
    } else {
      ++it;
    }
  }
  for (const MemberState& m : core_.Members()) {
    if (m.id == self) continue;
    auto [it, inserted] = logged_.try_emplace(m.id, m.status);
    if (!inserted && it->second == m.status) continue;
    it->second = m.status;
    if (inserted && m.status == MemberStatus::kAlive) {
      RUMOR_LOG(INFO) << "member " << NodeIdToString(m.id) << " at "
                      << m.address() << " joined (incarnation "
                      << m.incarnation << ")";
    } else {
      RUMOR_LOG_AT(m.status == MemberStatus::kAlive ? LogLevel::kInfo
                                                    : LogLevel::kWarning)
          << "member " << NodeIdToString(m.id) << " at " << m.address()
          << " is " << MemberStatusName(m.status) << " (incarnation "
          << m.incarnation << ")";
    }
  }
}

void MembershipRunner::Loop() {
  absl::Time last_join_log = clock_->Now();  // warn after 10 s, not at once
  while (true) {
    std::optional<std::vector<RingMember>> claim_among;
    uint64_t claim_ring_version = 0;
    NodeId self = kNoNode;
    uint64_t mark = 0;  // to persist
    std::vector<std::string> forgotten;  // links to drop
    std::optional<std::vector<std::string>> peers;  // to persist
    uint64_t peers_version = 0;
    absl::Duration wait;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      absl::Time now = clock_->Now();
      core_.Tick(now);
      if (!core_.joined() && now - last_join_log >= absl::Seconds(10)) {
        last_join_log = now;
        RUMOR_LOG(WARNING)
            << "no seed or remembered peer has answered yet (trying "
            << options_.seeds.size()
            << " address(es)); reads and writes are refused until one does";
      }
      claim_among = ClaimDueLocked(now);
      claim_ring_version = core_.ring_version();
      self = core_.Self().id;
      mark = IncarnationMarkDueLocked(now);
      forgotten = core_.TakeForgottenAddresses();
      if (hooks_.peers_changed && core_.joined() &&
          core_.ring_version() != peers_version_ &&
          now >= next_peers_attempt_) {
        // Only once joined: before that the view is just this node, and
        // persisting it would forget the peers a restart needs.
        peers_version = core_.ring_version();
        peers.emplace();
        for (const MemberState& m : core_.Members()) {
          if (m.id != self && m.status != MemberStatus::kLeft &&
              !m.meta->tokens.empty()) {
            peers->push_back(m.address());
          }
        }
      }
      LogChangesLocked();
      if (core_.stats().id_collisions > logged_collisions_) {
        logged_collisions_ = core_.stats().id_collisions;
        RUMOR_LOG_EVERY_SECONDS(ERROR, 30)
            << "another process at " << core_.last_collision_address()
            << " announces this node's id " << NodeIdToString(core_.Self().id)
            << "; was a data dir copied? Ignoring its announcements";
      }
      wait = std::clamp(core_.NextDeadline() - now, absl::ZeroDuration(),
                        absl::Milliseconds(100));
    }
    // Links and disk writes are dealt with outside the lock (a transport
    // may run callbacks inline that come back to the runner).
    for (const std::string& address : forgotten) transport_->Forget(address);
    if (peers) {
      absl::Status s = hooks_.peers_changed(*peers);
      absl::MutexLock lock(&mu_);
      if (s.ok()) {
        peers_version_ = peers_version;
      } else {
        next_peers_attempt_ = clock_->Now() + absl::Seconds(1);
        RUMOR_LOG_EVERY_SECONDS(WARNING, 30)
            << "cannot persist the ring's peers (a restart without --join "
               "may not find the cluster): " << s;
      }
    }
    if (mark != 0) {
      absl::Status s = hooks_.persist_incarnation_mark(mark);
      absl::MutexLock lock(&mu_);
      absl::Time now = clock_->Now();
      if (s.ok()) {
        persisted_mark_ = std::max(persisted_mark_, mark);
        mark_backoff_ = absl::ZeroDuration();
        core_.SetIncarnationCeiling(persisted_mark_, now);
      } else {
        // A full or read-only disk: the node cannot refute or announce new
        // meta until it can persist, and must not spin on fsync meanwhile.
        mark_backoff_ = std::clamp(mark_backoff_ * 2, absl::Milliseconds(100),
                                   absl::Seconds(10));
        next_mark_attempt_ = now + mark_backoff_;
        RUMOR_LOG_EVERY_SECONDS(ERROR, 10)
            << "cannot persist incarnation mark " << mark
            << "; refutations wait for it (retrying): " << s;
      }
      continue;
    }
    if (claim_among) {
      bool joining = false;
      // Tens of milliseconds for a small cluster, about half a second
      // joining 1024 nodes (bench/ringbalance --join): computed without the
      // lock, so messages keep being answered meanwhile.
      std::vector<uint64_t> claim = ClaimTokens(
          Ring(*claim_among), self, options_.tokens, options_.replicas);
      {
        // The world may have moved on meanwhile. A node that is stopping
        // or leaving must not persist tokens it will never announce; one
        // whose ring changed (another node claimed) claims again against
        // the new ring, a few times at most so a busy ring cannot starve
        // it (tokens claimed against a slightly old ring are still valid,
        // only less even).
        absl::MutexLock lock(&mu_);
        if (stopping_ || core_.leaving() ||
            core_.Self().status == MemberStatus::kLeft) {
          continue;
        }
        if (core_.ring_version() != claim_ring_version &&
            ++claim_restarts_ <= kMaxClaimRestarts) {
          continue;
        }
        // Joining: other members already serve ranges, so this node must
        // pull its own before it serves them (the first node of a cluster
        // has no one to pull from).
        for (const RingMember& m :
             RingMembersOf(core_.Members(), /*serving_only=*/true)) {
          joining |= m.id != self;
        }
      }
      absl::Status s = hooks_.tokens_claimed
                           ? hooks_.tokens_claimed(claim, joining)
                           : absl::OkStatus();
      absl::MutexLock lock(&mu_);
      if (s.ok() && !core_.leaving() &&
          core_.Self().status != MemberStatus::kLeft) {
        MemberMeta meta = *core_.Self().meta;
        meta.tokens = claim;
        meta.joining = joining;
        core_.UpdateLocalMeta(std::move(meta), clock_->Now());
        claimed_ = true;
        RUMOR_LOG(INFO) << "claimed " << claim.size() << " ring tokens";
      } else if (!s.ok()) {
        // A full or read-only disk: back off, do not spin on fsync.
        next_claim_attempt_ = clock_->Now() + absl::Seconds(1);
        RUMOR_LOG_EVERY_SECONDS(ERROR, 10)
            << "cannot persist claimed tokens, will retry: " << s;
      }
      continue;
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(
        absl::Condition(this, &MembershipRunner::StoppingOrWokenLocked), wait);
    wake_ = false;
  }
}

std::vector<MemberState> MembershipRunner::Members() const {
  absl::MutexLock lock(&mu_);
  return core_.Members();
}

MemberState MembershipRunner::Self() const {
  absl::MutexLock lock(&mu_);
  return core_.Self();
}

MembershipStats MembershipRunner::Stats() const {
  absl::MutexLock lock(&mu_);
  return core_.stats();
}

int MembershipRunner::Awareness() const {
  absl::MutexLock lock(&mu_);
  return core_.awareness();
}

bool MembershipRunner::Joined() const {
  absl::MutexLock lock(&mu_);
  return core_.joined();
}

std::string MembershipRunner::CollisionAddress() const {
  absl::MutexLock lock(&mu_);
  return core_.last_collision_address();
}

absl::Duration MembershipRunner::MinSuspicionTimeout() const {
  absl::MutexLock lock(&mu_);
  return core_.MinSuspicionTimeout();
}

absl::Duration MembershipRunner::MaxSuspicionTimeout() const {
  absl::MutexLock lock(&mu_);
  return core_.MaxSuspicionTimeout();
}

std::shared_ptr<const Ring> MembershipRunner::CurrentRing() const {
  absl::MutexLock lock(&mu_);
  return CurrentRingLocked();
}

std::shared_ptr<const Ring> MembershipRunner::FullRing() const {
  absl::MutexLock lock(&mu_);
  return FullRingLocked();
}

std::pair<std::shared_ptr<const Ring>, std::shared_ptr<const Ring>>
MembershipRunner::Rings() const {
  absl::MutexLock lock(&mu_);
  return {CurrentRingLocked(), FullRingLocked()};
}

std::shared_ptr<const Ring> MembershipRunner::CurrentRingLocked() const {
  if (!ring_ || ring_version_ != core_.ring_version()) {
    ring_ = std::make_shared<const Ring>(
        RingMembersOf(core_.Members(), /*serving_only=*/true));
    ring_version_ = core_.ring_version();
  }
  return ring_;
}

std::shared_ptr<const Ring> MembershipRunner::FullRingLocked() const {
  if (!full_ring_ || full_ring_version_ != core_.ring_version()) {
    full_ring_ = std::make_shared<const Ring>(RingMembersOf(core_.Members()));
    full_ring_version_ = core_.ring_version();
  }
  return full_ring_;
}

void MembershipRunner::AnnounceServing() {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !core_.Self().meta->joining) return;
  MemberMeta meta = *core_.Self().meta;
  meta.joining = false;
  core_.UpdateLocalMeta(std::move(meta), clock_->Now());
  wake_ = true;
  RUMOR_LOG(INFO) << "serving its ring ranges";
}

MembershipRunner::Versions MembershipRunner::CurrentVersions() const {
  absl::MutexLock lock(&mu_);
  return Versions{core_.state_version(), core_.ring_version(), core_.joined()};
}

absl::Status MembershipRunner::Remove(NodeId node) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("node is shutting down");
  absl::Status s = core_.Remove(node, clock_->Now());
  wake_ = true;
  return s;
}

absl::Status MembershipRunner::Leave(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("node is shutting down");
  core_.Leave(clock_->Now());
  wake_ = true;
  RUMOR_LOG(INFO) << "leaving the cluster: announcing it to the members";
  bool spread = mu_.AwaitWithTimeout(
      absl::Condition(this, &MembershipRunner::LeaveSpreadLocked), timeout);
  if (!spread) {
    return absl::DeadlineExceededError(
        "the leave was announced but may not have reached every member yet");
  }
  return absl::OkStatus();
}

}  // namespace rumor::server
