// SWIM failure detection with Lifeguard's refinements: the membership
// protocol core. Sans-I/O: messages and time come in through HandleMessage
// and Tick, messages go out through a Transport. No gRPC, no threads, no
// clock reads, no randomness except the seeded generator: the simulator
// runs thousands of these in one process, deterministically.
//
// Protocol (Das et al., "SWIM"; Dadgar et al., "Lifeguard"; the shape of
// HashiCorp memberlist):
//   - every probe period, ping the next member of a shuffled round-robin
//     list; no ack within the probe timeout -> ping-req through k others;
//     still no ack by the end of the period -> suspect it (with Lifeguard,
//     as soon as every helper has nacked);
//   - a suspicion becomes Dead after a timeout that starts at `max` and
//     shrinks towards `min` as independent suspicions (confirmations)
//     arrive (Lifeguard); a suspected node refutes by gossiping Alive with a
//     higher incarnation;
//   - local health awareness (Lifeguard): a node that misses acks or nacks
//     it should have received, or has to refute, assumes it is itself slow
//     and stretches its probe interval, probe timeout and the suspicion
//     timeouts it starts;
//   - updates piggyback on every message, least-transmitted first (good
//     news first among equals), each sent ceil(retransmit_mult * ln(N+1))
//     times; a refutation carries the member's meta fingerprint instead of
//     its meta;
//   - a periodic push-pull with one random live member, and one with a
//     random dead member (Serf's reconnect), heals partitions and catches
//     nodes up: the initiator sends digests of its view, the replier the
//     difference and what it wants, the initiator a last leg with that;
//   - every message carries its sender's incarnation: hearing directly from
//     a member at a newer incarnation refutes an older suspicion of it, and
//     a member held suspect or dead at its current incarnation is told so.
// States order by (incarnation, Alive < Suspect < Dead < Left): a state
// replaces another exactly when it is greater. Left is final for its
// incarnation; a node that returns does so with a higher one.
//
// Not thread-safe: the owner serializes every call (MembershipRunner does,
// with one mutex).
#ifndef RUMOR_SERVER_MEMBERSHIP_MEMBERSHIP_H_
#define RUMOR_SERVER_MEMBERSHIP_MEMBERSHIP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/types.h"
#include "server/membership/broadcast_queue.h"
#include "server/membership/member_meta.h"
#include "server/membership/message.h"
#include "server/membership/suspicion.h"
#include "server/ring/ring.h"

namespace rumor::server {

struct MembershipConfig {
  NodeId self = kNoNode;
  MemberMeta meta;               // address, tokens, tags of this node
  uint64_t incarnation = 1;      // first incarnation to announce
  // The highest incarnation this node may announce. The owner persists a
  // mark before raising it (SetIncarnationCeiling), so a restart, which
  // starts above the persisted mark, outranks everything the node ever
  // announced. 0: no ceiling (the simulator, tests).
  uint64_t incarnation_ceiling = 0;
  absl::Duration probe_interval = absl::Seconds(1);
  // Direct-ping wait before asking helpers; with Lifeguard a probe whose
  // helpers all nack concludes at about 1.8x this, before the period ends.
  absl::Duration probe_timeout = absl::Milliseconds(400);
  int indirect_checks = 3;       // k of ping-req
  int retransmit_mult = 4;       // lambda
  int suspicion_mult = 4;        // min suspicion = mult * log10(N) periods
  int suspicion_max_mult = 6;    // max = this * min
  int max_awareness = 8;         // local health multiplier cap
  absl::Duration push_pull_interval = absl::Seconds(30);
  absl::Duration join_retry_interval = absl::Seconds(1);
  // Left members, and Dead ones that own no ring tokens, are forgotten this
  // long after they departed (memberlist's dead-node reclaim): their ids
  // may join again, with a higher incarnation. A Dead member that still
  // owns tokens is kept until it is removed (then it is Left).
  absl::Duration forget_departed_after = absl::Hours(24);
  size_t max_piggyback_bytes = 32 << 10;
  size_t max_piggyback_updates = 256;
  // Lifeguard on: dynamic suspicion timeouts, local health awareness,
  // nacks, and suspicions sent to the suspect (buddy system). Off: plain
  // SWIM with a fixed suspicion timeout of `min` (for comparison).
  bool lifeguard = true;
  // Treat a message from a member at a newer incarnation than we hold as
  // its refutation (rumor's addition; off only to measure plain SWIM).
  bool refute_on_contact = true;
  uint64_t seed = 1;
};

struct MembershipStats {
  uint64_t probes_sent = 0;
  uint64_t acks_received = 0;        // acks for our own probes, direct or relayed
  uint64_t ping_reqs_sent = 0;
  uint64_t nacks_received = 0;
  uint64_t suspicions_raised = 0;    // by this node's own probing
  uint64_t suspicions_refuted = 0;   // suspicions about this node it refuted
  uint64_t deaths_declared = 0;      // suspicion timeouts that fired here
  uint64_t messages_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t push_pull_bytes_sent = 0;  // the push-pull share of bytes_sent
  uint64_t messages_received = 0;
  uint64_t messages_ignored = 0;     // addressed to another node id, or stale
  uint64_t id_collisions = 0;        // updates about our id from another address
  uint64_t members_forgotten = 0;    // departed members dropped for good
};

class Membership {
 public:
  // `transport` must outlive the core.
  Membership(MembershipConfig config, Transport* transport, absl::Time now);
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Starts joining through `seeds` (addresses; this node's own address is
  // skipped). Push-pull join requests are re-sent every
  // join_retry_interval until one seed answers. No seeds: a cluster of one.
  void Join(const std::vector<std::string>& seeds, absl::Time now);
  // True once a seed answered (or there were none to ask).
  bool joined() const { return joined_; }

  // Adds members this node does not know yet, as given, without gossiping
  // them: for restoring a known member list, and for starting a simulation
  // from a converged state. Known members and this node are left alone.
  void RestoreMembers(const std::vector<MemberState>& members, absl::Time now);

  void HandleMessage(const Message& message, absl::Time now);
  // Retransmissions of each update for the current cluster size.
  int RetransmitLimit() const;
  // Runs every timer due at `now`: probes, suspicion timeouts, push-pull,
  // join retries.
  void Tick(absl::Time now);
  // When Tick next has work.
  absl::Time NextDeadline() const;

  // Graceful leave: announces Left for this node (and tells a few members
  // directly). LeaveSpread() is true once the announcement has been sent
  // retransmit-limit times, after which the owner may stop. Probing goes
  // on meanwhile: pings carry the announcement too. Local meta no longer
  // changes after this.
  void Leave(absl::Time now);
  bool LeaveSpread() const;

  // Marks a dead member as Left (removed from the ring) and gossips it.
  // FAILED_PRECONDITION unless the member is Dead; NOT_FOUND if unknown.
  absl::Status Remove(NodeId node, absl::Time now);

  // Replaces this node's meta (e.g. after claiming tokens) and gossips it
  // with a new incarnation. Above the incarnation ceiling it waits for
  // SetIncarnationCeiling.
  void UpdateLocalMeta(MemberMeta meta, absl::Time now);

  // Raises the incarnation ceiling (never lowers it) once the owner has
  // persisted it, and announces what waited for it: a refutation, new meta.
  void SetIncarnationCeiling(uint64_t ceiling, absl::Time now);
  // The incarnation this node needs to be allowed to announce: its own, or
  // more while a refutation or meta change waits for the ceiling.
  uint64_t IncarnationWanted() const;

  // Every known member, this node included, sorted by id.
  std::vector<MemberState> Members() const;
  MemberState Self() const;
  const MemberState* Find(NodeId id) const;
  size_t NumMembers() const { return members_.size(); }
  // Members currently Alive or Suspect (this node included).
  size_t NumLive() const;

  // What the core holds, by kind (for memory checks under churn).
  struct Footprint {
    size_t members = 0;
    size_t ghosts = 0;        // forgotten ids remembered with their incarnation
    size_t pull_limits = 0;   // rate-limit entries of direct pulls
    size_t awaiting = 0;      // push-pulls sent, reply not yet seen
    size_t probe_order = 0;
    size_t broadcasts = 0;
  };
  Footprint footprint() const;

  // Addresses no member lives at any more since the last call (forgotten
  // members'): the owner drops their links, outside its lock.
  std::vector<std::string> TakeForgottenAddresses();

  // Bumped whenever the ring could change: a member appears, changes
  // tokens, or becomes Left.
  uint64_t ring_version() const { return ring_version_; }
  // Leave() was called: no new announcements of ours.
  bool leaving() const { return leaving_; }
  // Bumped on every change of any member's state (for observers that diff).
  uint64_t state_version() const { return state_version_; }
  // This node's incarnation; persisted by the owner so a restart starts
  // higher.
  uint64_t incarnation() const;
  int awareness() const { return awareness_; }
  const MembershipStats& stats() const { return stats_; }
  // Address of the last process seen announcing this node's id, if any.
  const std::string& last_collision_address() const { return collision_address_; }
  const MembershipConfig& config() const { return config_; }

  // Suspicion timeout bounds for the current cluster size (exposed for
  // tests and documentation).
  absl::Duration MinSuspicionTimeout() const;
  absl::Duration MaxSuspicionTimeout() const;

 private:
  struct Member {
    MemberState state;
    // When it became Dead or Left (InfiniteFuture while Alive or Suspect).
    absl::Time departed_at = absl::InfiniteFuture();
    std::unique_ptr<Suspicion> suspicion;  // while Suspect
    // Fingerprint of the member's current meta when we know ours is stale
    // (a refutation said so); 0 otherwise.
    uint64_t expected_fingerprint = 0;
  };
  struct Probe {
    NodeId target = kNoNode;
    uint64_t seq = 0;
    absl::Time sent;
    absl::Time indirect_at;   // when to send ping-reqs
    absl::Time deadline;      // end of this probe: suspect if no ack
    bool indirect_sent = false;
    bool acked = false;
    int expected_nacks = 0;
    int nacks = 0;
  };
  struct Relay {  // a ping we send on behalf of a ping-req
    std::string requester_address;
    NodeId requester = kNoNode;
    uint64_t requester_seq = 0;
    absl::Time nack_at;
    absl::Time expires;
    bool nack_sent = false;
  };
  // --- state changes (all return true if the state was applied)
  bool ApplyAlive(const Update& u, absl::Time now, bool from_push_pull);
  // A Suspect or Dead about us: refute it unless we are leaving.
  void AnswerAccusation(const Update& u, absl::Time now);
  bool ApplySuspect(const Update& u, absl::Time now);
  bool ApplyDead(const Update& u, absl::Time now);
  void ApplyUpdate(const Update& u, absl::Time now);
  // `sender` is the member the state came from (authoritative about
  // itself), kNoNode when unknown.
  void MergeState(const std::vector<MemberState>& remote, NodeId sender,
                  absl::Time now);
  // Announces a higher incarnation than `accused_incarnation`, or (above
  // the ceiling) defers that until SetIncarnationCeiling. Returns whether
  // it announced now.
  bool Refute(uint64_t accused_incarnation, absl::Time now);
  void StartSuspicion(Member* m, NodeId from, absl::Time now);
  void SetStatus(Member* m, MemberStatus status, uint64_t incarnation,
                 absl::Time now);

  // --- protocol steps
  void StartProbe(absl::Time now);
  void ProbeIndirect(absl::Time now);
  void FinishProbe(absl::Time now);
  void CheckSuspicions(absl::Time now);
  void ExpireRelays(absl::Time now);
  void PushPull(absl::Time now);
  void SendJoinRequests(absl::Time now);
  void HandlePing(const Message& m, absl::Time now);
  void HandleAck(const Message& m, absl::Time now);
  void HandlePingReq(const Message& m, absl::Time now);
  void HandleNack(const Message& m, absl::Time now);
  absl::Duration PushPullInterval() const;
  void HandlePushPull(const Message& m, absl::Time now);

  // --- dissemination
  void Enqueue(Update u);
  void NoteSenderAlive(const Message& m, absl::Time now);
  void Send(const std::string& address, Message m);
  // Push-pull: this node's view as digests, a push-pull request to `to`,
  // the reply to a peer whose view is `remote` (full states where it lacks
  // a member or its meta, digests where only our status is newer), and the
  // merge of what a push-pull brought (returns the members whose meta this
  // node still needs).
  static MemberDigest DigestOf(const MemberState& s);
  std::vector<MemberDigest> Digests() const;
  Message PushPullRequest(NodeId to) const;
  void DeltaFor(const std::vector<MemberDigest>& remote, Message* reply) const;
  std::vector<NodeId> MergePushPull(const Message& m, absl::Time now);
  void MergeDigest(const MemberDigest& d, absl::Time now,
                   std::vector<NodeId>* want);
  void MergeOne(const MemberState& s, NodeId sender, absl::Time now);
  // Forgets Left members, and Dead ones that own no ring tokens, that
  // departed at least forget_departed_after ago.
  void ForgetDeparted(absl::Time now);
  void Forget(NodeId id, absl::Time now);
  // True when `id` was forgotten at `incarnation` or above (a ghost).
  bool Forgotten(NodeId id, uint64_t incarnation) const;
  // Takes `meta` when its version is newer than the member's. Returns
  // whether it did.
  bool AdoptNewerMeta(Member* m, const MetaPtr& meta);

  void ReplaceMeta(Member* m, MetaPtr meta);
  Update AliveUpdate(const MemberState& s) const;  // with meta
  Update RefutationUpdate(const MemberState& s) const;  // fingerprint only
  void PullStateFrom(const Member& m, absl::Time now);

  // --- helpers
  Member* Get(NodeId id);
  const Member* Get(NodeId id) const;
  Member& self();
  const Member& self() const;
  Member* AddMember(const MemberState& s, absl::Time now);
  std::vector<NodeId> RandomLiveMembers(size_t k, NodeId exclude);
  void ChangeAwareness(int delta);
  absl::Duration Scaled(absl::Duration d) const;
  void Reshuffle();

  MembershipConfig config_;
  Transport* const transport_;
  std::mt19937_64 rng_;

  std::vector<Member> members_;                    // stable order: insertion
  absl::flat_hash_map<NodeId, size_t> index_;      // id -> members_ slot
  size_t self_index_ = 0;

  std::vector<NodeId> probe_order_;
  size_t probe_pos_ = 0;
  Probe probe_;
  bool probe_active_ = false;
  absl::Time next_probe_;
  uint64_t next_seq_ = 1;
  std::map<uint64_t, Relay> relays_;               // our seq -> requester

  BroadcastQueue broadcasts_;
  std::set<std::pair<absl::Time, NodeId>> suspicion_deadlines_;
  size_t live_count_ = 1;  // Alive or Suspect members, self included
  size_t dead_count_ = 0;

  std::vector<std::string> seeds_;
  bool joined_ = false;
  absl::Time next_join_;
  absl::Time next_push_pull_;
  // Last direct push-pull per member, for unknown senders and stale meta.
  absl::flat_hash_map<NodeId, absl::Time> pulled_;
  absl::Time next_forget_check_;
  // Forgotten members: the incarnation they had, until when it is kept.
  absl::flat_hash_map<NodeId, std::pair<uint64_t, absl::Time>> forgotten_;
  std::vector<std::string> forgotten_addresses_;
  // The latest time any entry point was given (Send has none of its own).
  absl::Time now_ = absl::InfinitePast();
  // Push-pulls sent and not yet answered, by address: when sent. Only the
  // reply to one of them gets a last leg (the `want` it names).
  absl::flat_hash_map<std::string, absl::Time> awaiting_reply_;

  bool leaving_ = false;
  uint64_t incarnation_ceiling_ = 0;  // 0: none
  // Waiting for the ceiling: the incarnation a refutation needs, and meta
  // to announce.
  uint64_t pending_refutation_ = 0;
  std::unique_ptr<MemberMeta> pending_meta_;
  int awareness_ = 0;
  uint64_t ring_version_ = 1;
  uint64_t state_version_ = 1;
  std::string collision_address_;
  MembershipStats stats_;
};

// The ring members among `members`: every member that is not Left and has
// claimed tokens (dead and suspected members keep their ranges). With
// `serving_only`, members still joining (MemberMeta::joining) are left out:
// that ring answers reads and places quorums; the full one also says where
// writes must go so that joining members miss nothing.
std::vector<RingMember> RingMembersOf(const std::vector<MemberState>& members,
                                      bool serving_only = false);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_MEMBERSHIP_MEMBERSHIP_H_
