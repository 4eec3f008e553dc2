#include "server/membership/membership.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/hash.h"

namespace rumor::server {
namespace {

int Rank(MemberStatus s) { return static_cast<int>(s); }

// True when (inc, status) replaces (cur_inc, cur_status): states order by
// incarnation, then Alive < Suspect < Dead < Left.
bool Newer(uint64_t inc, MemberStatus status, uint64_t cur_inc,
           MemberStatus cur_status) {
  if (inc != cur_inc) return inc > cur_inc;
  return Rank(status) > Rank(cur_status);
}

bool IsLive(MemberStatus s) {
  return s == MemberStatus::kAlive || s == MemberStatus::kSuspect;
}

}  // namespace

Membership::Membership(MembershipConfig config, Transport* transport,
                       absl::Time now)
    : config_(std::move(config)), transport_(transport), rng_(config_.seed) {
  Member self;
  self.state.id = config_.self;
  self.state.incarnation = std::max<uint64_t>(config_.incarnation, 1);
  self.state.status = MemberStatus::kAlive;
  MemberMeta own = config_.meta;
  own.version = self.state.incarnation;
  self.state.meta = MakeMeta(std::move(own));
  members_.push_back(std::move(self));
  index_[config_.self] = 0;
  incarnation_ceiling_ = config_.incarnation_ceiling;
  self_index_ = 0;
  // Random phases keep a cluster's probes from marching in lockstep.
  std::uniform_int_distribution<int64_t> phase(
      0, absl::ToInt64Microseconds(config_.probe_interval));
  next_probe_ = now + absl::Microseconds(phase(rng_));
  std::uniform_int_distribution<int64_t> pp(
      absl::ToInt64Microseconds(config_.push_pull_interval) / 2,
      absl::ToInt64Microseconds(config_.push_pull_interval));
  next_push_pull_ = now + absl::Microseconds(pp(rng_));
  next_join_ = absl::InfiniteFuture();
  next_forget_check_ = now;
  now_ = now;
  Enqueue(AliveUpdate(members_[0].state));
}

// ---------------------------------------------------------------------------
// Accessors

Membership::Member* Membership::Get(NodeId id) {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &members_[it->second];
}
const Membership::Member* Membership::Get(NodeId id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &members_[it->second];
}
Membership::Member& Membership::self() { return members_[self_index_]; }
const Membership::Member& Membership::self() const {
  return members_[self_index_];
}

const MemberState* Membership::Find(NodeId id) const {
  const Member* m = Get(id);
  return m ? &m->state : nullptr;
}

MemberState Membership::Self() const { return self().state; }
uint64_t Membership::incarnation() const { return self().state.incarnation; }

std::vector<MemberState> Membership::Members() const {
  std::vector<MemberState> out;
  out.reserve(members_.size());
  for (const Member& m : members_) out.push_back(m.state);
  std::sort(out.begin(), out.end(),
            [](const MemberState& a, const MemberState& b) { return a.id < b.id; });
  return out;
}

size_t Membership::NumLive() const { return live_count_; }

Update Membership::AliveUpdate(const MemberState& s) const {
  Update u = RefutationUpdate(s);
  u.meta = s.meta;
  return u;
}

Update Membership::RefutationUpdate(const MemberState& s) const {
  Update u;
  u.kind = MemberStatus::kAlive;
  u.node = s.id;
  u.incarnation = s.incarnation;
  u.from = s.id;
  u.meta_fingerprint = s.meta ? s.meta->fingerprint : 0;
  return u;
}

void Membership::PullStateFrom(const Member& m, absl::Time now) {
  auto [it, inserted] = pulled_.try_emplace(m.state.id, now);
  if (!inserted && now - it->second < config_.probe_interval * 5) return;
  it->second = now;
  Send(m.state.meta->address, PushPullRequest(m.state.id));
}

MemberDigest Membership::DigestOf(const MemberState& s) {
  return MemberDigest{s.id,
                      s.incarnation,
                      s.status,
                      s.meta->fingerprint,
                      s.meta->version,
                      !s.meta->tokens.empty()};
}

std::vector<MemberDigest> Membership::Digests() const {
  std::vector<MemberDigest> out;
  out.reserve(members_.size());
  for (const Member& m : members_) out.push_back(DigestOf(m.state));
  return out;
}

Message Membership::PushPullRequest(NodeId to) const {
  Message pp;
  pp.type = Message::Type::kPushPull;
  pp.to = to;
  pp.digests = Digests();
  pp.state = {self().state};  // the receiver may not know us yet
  return pp;
}

void Membership::DeltaFor(const std::vector<MemberDigest>& remote,
                          Message* reply) const {
  absl::flat_hash_map<NodeId, const MemberDigest*> theirs;
  theirs.reserve(remote.size());
  for (const MemberDigest& d : remote) theirs[d.id] = &d;
  reply->state = {self().state};
  for (const Member& m : members_) {
    // (The remote itself included: what we believe of it may be news to it,
    // an accusation to refute or another process with its id.)
    const MemberState& s = m.state;
    if (s.id == config_.self) continue;
    auto it = theirs.find(s.id);
    if (it == theirs.end()) {
      // It would not take a departed member it never knew (see MergeOne).
      if (s.status == MemberStatus::kLeft ||
          (s.status == MemberStatus::kDead && s.meta->tokens.empty())) {
        continue;
      }
      reply->state.push_back(s);
    } else if (s.meta->version > it->second->meta_version ||
               (s.meta->version == it->second->meta_version &&
                s.meta->fingerprint != it->second->fingerprint)) {
      reply->state.push_back(s);  // newer meta (or another process's)
    } else if (Newer(s.incarnation, s.status, it->second->incarnation,
                     it->second->status)) {
      reply->digests.push_back(DigestOf(s));
    }
  }
}

Membership::Member* Membership::AddMember(const MemberState& s,
                                          absl::Time now) {
  index_[s.id] = members_.size();
  Member added;
  added.state = s;
  if (!IsLive(s.status)) added.departed_at = now;
  members_.push_back(std::move(added));
  ++state_version_;
  if (IsLive(s.status)) ++live_count_;
  if (s.status == MemberStatus::kDead) ++dead_count_;
  if (!s.meta->tokens.empty() && s.status != MemberStatus::kLeft) {
    ++ring_version_;
  }
  // Insert at a random position of the remaining probe order so a new
  // member is probed within one round (memberlist does the same).
  if (IsLive(s.status) && s.id != config_.self) {
    size_t lo = std::min(probe_pos_, probe_order_.size());
    std::uniform_int_distribution<size_t> pos(lo, probe_order_.size());
    probe_order_.insert(probe_order_.begin() + pos(rng_), s.id);
  }
  return &members_.back();
}

void Membership::SetStatus(Member* m, MemberStatus status,
                           uint64_t incarnation, absl::Time now) {
  MemberStatus old = m->state.status;
  if (IsLive(status)) {
    m->departed_at = absl::InfiniteFuture();
  } else if (IsLive(old) || status != old) {
    // Departed now, or Dead -> Left (a removal): the forget window starts
    // with the newest departure, so a member removed long after it died
    // still has its Left spread before it is forgotten.
    m->departed_at = now;
  }
  ++state_version_;
  if (old == MemberStatus::kDead) --dead_count_;
  if (status == MemberStatus::kDead) ++dead_count_;
  if (IsLive(old) && !IsLive(status)) --live_count_;
  if (!IsLive(old) && IsLive(status)) ++live_count_;
  if ((old == MemberStatus::kLeft) != (status == MemberStatus::kLeft)) {
    ++ring_version_;
  }
  m->state.status = status;
  m->state.incarnation = incarnation;
  if (status != MemberStatus::kSuspect && m->suspicion) {
    suspicion_deadlines_.erase({m->suspicion->deadline(), m->state.id});
    m->suspicion.reset();
  }
}

// ---------------------------------------------------------------------------
// Timing

absl::Duration Membership::Scaled(absl::Duration d) const {
  return d * (awareness_ + 1);
}

void Membership::ChangeAwareness(int delta) {
  awareness_ = std::clamp(awareness_ + delta, 0, config_.max_awareness - 1);
}

absl::Duration Membership::MinSuspicionTimeout() const {
  double n = std::max<double>(1.0, static_cast<double>(NumLive()));
  double scale = std::max(1.0, std::log10(n));
  return config_.probe_interval * (config_.suspicion_mult * scale);
}

absl::Duration Membership::MaxSuspicionTimeout() const {
  return MinSuspicionTimeout() * config_.suspicion_max_mult;
}

absl::Time Membership::NextDeadline() const {
  absl::Time t = next_push_pull_;
  if (!joined_ && !seeds_.empty()) t = std::min(t, next_join_);
  if (probe_active_) {
    t = std::min(t, probe_.indirect_sent ? probe_.deadline
                                         : probe_.indirect_at);
  } else {
    t = std::min(t, next_probe_);
  }
  if (!suspicion_deadlines_.empty()) {
    t = std::min(t, suspicion_deadlines_.begin()->first);
  }
  for (const auto& [seq, r] : relays_) {
    t = std::min(t, r.nack_sent ? r.expires : std::min(r.nack_at, r.expires));
  }
  return t;
}

void Membership::Tick(absl::Time now) {
  now_ = std::max(now_, now);
  if (!joined_ && !seeds_.empty() && now >= next_join_) SendJoinRequests(now);
  if (probe_active_) {
    if (!probe_.indirect_sent && now >= probe_.indirect_at) ProbeIndirect(now);
    if (now >= probe_.deadline) FinishProbe(now);
  }
  if (!probe_active_ && now >= next_probe_) StartProbe(now);
  CheckSuspicions(now);
  ExpireRelays(now);
  if (now >= next_push_pull_) PushPull(now);
  if (now >= next_forget_check_) {
    next_forget_check_ = now + config_.probe_interval;
    ForgetDeparted(now);
  }
}

void Membership::ForgetDeparted(absl::Time now) {
  std::vector<NodeId> forget;
  for (const Member& m : members_) {
    const MemberState& s = m.state;
    if (s.id == config_.self ||
        now - m.departed_at < config_.forget_departed_after ||
        broadcasts_.Pending(s.id)) {  // its last word is still spreading
      continue;
    }
    if (s.status == MemberStatus::kLeft ||
        (s.status == MemberStatus::kDead && s.meta->tokens.empty())) {
      forget.push_back(s.id);
    }
  }
  for (NodeId id : forget) Forget(id, now);
  // Ghost records and rate-limit entries expire too: memory stays flat
  // under churn.
  for (auto it = forgotten_.begin(); it != forgotten_.end();) {
    if (it->second.second <= now) {
      forgotten_.erase(it++);
    } else {
      ++it;
    }
  }
  for (auto it = pulled_.begin(); it != pulled_.end();) {
    if (now - it->second > config_.probe_interval * 10) {
      pulled_.erase(it++);
    } else {
      ++it;
    }
  }
  for (auto it = awaiting_reply_.begin(); it != awaiting_reply_.end();) {
    if (now - it->second > config_.probe_interval * 10) {
      awaiting_reply_.erase(it++);
    } else {
      ++it;
    }
  }
}

bool Membership::Forgotten(NodeId id, uint64_t incarnation) const {
  auto it = forgotten_.find(id);
  return it != forgotten_.end() && incarnation <= it->second.first;
}

void Membership::Forget(NodeId id, absl::Time now) {
  auto it = index_.find(id);
  if (it == index_.end() || id == config_.self) return;
  size_t slot = it->second;
  Member& m = members_[slot];
  std::string address = m.state.meta->address;
  // Gossip about it at or below this incarnation, from members that have
  // not forgotten it yet, must not bring it back (it would then be learnt
  // as Dead with tokens and kept for good). It may return as itself, at a
  // higher incarnation.
  forgotten_[id] = {m.state.incarnation, now + config_.forget_departed_after};
  if (m.state.status == MemberStatus::kDead) --dead_count_;
  if (IsLive(m.state.status)) --live_count_;
  if (m.suspicion) {
    suspicion_deadlines_.erase({m.suspicion->deadline(), id});
  }
  broadcasts_.Forget(id);
  pulled_.erase(id);
  size_t last = members_.size() - 1;
  if (slot != last) {
    members_[slot] = std::move(members_[last]);
    index_[members_[slot].state.id] = slot;
    if (self_index_ == last) self_index_ = slot;
  }
  members_.pop_back();
  index_.erase(id);
  ++state_version_;
  ++stats_.members_forgotten;
  // Its link goes too, unless another member lives at that address (a
  // node that restarted with a new id, say).
  for (const Member& other : members_) {
    if (other.state.meta->address == address) return;
  }
  forgotten_addresses_.push_back(std::move(address));
}

Membership::Footprint Membership::footprint() const {
  Footprint f;
  f.members = members_.size();
  f.ghosts = forgotten_.size();
  f.pull_limits = pulled_.size();
  f.awaiting = awaiting_reply_.size();
  f.probe_order = probe_order_.size();
  f.broadcasts = broadcasts_.size();
  return f;
}

std::vector<std::string> Membership::TakeForgottenAddresses() {
  return std::exchange(forgotten_addresses_, {});
}

// ---------------------------------------------------------------------------
// Probing

void Membership::Reshuffle() {
  probe_order_.clear();
  for (const Member& m : members_) {
    if (m.state.id != config_.self && IsLive(m.state.status)) {
      probe_order_.push_back(m.state.id);
    }
  }
  std::shuffle(probe_order_.begin(), probe_order_.end(), rng_);
  probe_pos_ = 0;
}

void Membership::StartProbe(absl::Time now) {
  next_probe_ = now + Scaled(config_.probe_interval);
  const Member* target = nullptr;
  for (int pass = 0; pass < 2 && target == nullptr; ++pass) {
    while (probe_pos_ < probe_order_.size()) {
      const Member* m = Get(probe_order_[probe_pos_++]);
      if (m != nullptr && IsLive(m->state.status)) {
        target = m;
        break;
      }
    }
    if (target == nullptr) Reshuffle();
  }
  if (target == nullptr) return;  // nobody to probe

  probe_ = Probe{};
  probe_.target = target->state.id;
  probe_.seq = next_seq_++;
  probe_.sent = now;
  probe_.indirect_at = now + Scaled(config_.probe_timeout);
  probe_.deadline = now + Scaled(config_.probe_interval);
  probe_active_ = true;

  Message ping;
  ping.type = Message::Type::kPing;
  ping.seq = probe_.seq;
  ping.to = target->state.id;
  if (config_.lifeguard && target->state.status == MemberStatus::kSuspect) {
    // Buddy system: tell a suspect it is suspected, so it can refute now.
    Update u;
    u.kind = MemberStatus::kSuspect;
    u.node = target->state.id;
    u.incarnation = target->state.incarnation;
    u.from = config_.self;
    ping.updates.push_back(std::move(u));
  }
  ++stats_.probes_sent;
  Send(target->state.address(), std::move(ping));
}

std::vector<NodeId> Membership::RandomLiveMembers(size_t k, NodeId exclude) {
  std::vector<NodeId> out;
  if (members_.size() <= 1 || k == 0) return out;
  auto eligible = [&](const Member& m) {
    return m.state.id != config_.self && m.state.id != exclude &&
           m.state.status == MemberStatus::kAlive &&
           std::find(out.begin(), out.end(), m.state.id) == out.end();
  };
  // Rejection sampling first: O(k) in the common case of a mostly-alive
  // cluster; a scan when that fails.
  std::uniform_int_distribution<size_t> pick(0, members_.size() - 1);
  for (size_t tries = 0; out.size() < k && tries < 4 * k; ++tries) {
    const Member& m = members_[pick(rng_)];
    if (eligible(m)) out.push_back(m.state.id);
  }
  if (out.size() < k) {
    std::vector<NodeId> rest;
    for (const Member& m : members_) {
      if (eligible(m)) rest.push_back(m.state.id);
    }
    std::shuffle(rest.begin(), rest.end(), rng_);
    for (NodeId id : rest) {
      if (out.size() >= k) break;
      out.push_back(id);
    }
  }
  return out;
}

void Membership::ProbeIndirect(absl::Time now) {
  (void)now;
  probe_.indirect_sent = true;
  if (probe_.acked) return;
  const Member* target = Get(probe_.target);
  if (target == nullptr) return;
  for (NodeId helper : RandomLiveMembers(config_.indirect_checks, probe_.target)) {
    Message req;
    req.type = Message::Type::kPingReq;
    req.seq = probe_.seq;
    req.target = probe_.target;
    req.target_address = target->state.address();
    req.to = helper;
    ++stats_.ping_reqs_sent;
    if (config_.lifeguard) ++probe_.expected_nacks;
    Send(Get(helper)->state.meta->address, std::move(req));
  }
}

void Membership::FinishProbe(absl::Time now) {
  probe_active_ = false;
  if (probe_.acked) return;
  if (config_.lifeguard) {
    // Missing nacks mean the helpers could not answer us either: we are
    // probably the slow one.
    int delta = probe_.expected_nacks > 0
                    ? probe_.expected_nacks - probe_.nacks
                    : 1;
    ChangeAwareness(delta);
  }
  Member* m = Get(probe_.target);
  // A failed probe of a member already suspected is an independent
  // confirmation of that suspicion (it shortens the timeout).
  if (m == nullptr || leaving_ ||
      (m->state.status != MemberStatus::kAlive &&
       m->state.status != MemberStatus::kSuspect)) {
    return;
  }
  bool confirming = m->state.status == MemberStatus::kSuspect;
  Update u;
  u.kind = MemberStatus::kSuspect;
  u.node = m->state.id;
  u.incarnation = m->state.incarnation;
  u.from = config_.self;
  if (ApplySuspect(u, now) || confirming) ++stats_.suspicions_raised;
}

void Membership::CheckSuspicions(absl::Time now) {
  while (!suspicion_deadlines_.empty() &&
         suspicion_deadlines_.begin()->first <= now) {
    auto [deadline, id] = *suspicion_deadlines_.begin();
    suspicion_deadlines_.erase(suspicion_deadlines_.begin());
    Member* m = Get(id);
    if (m == nullptr || m->state.status != MemberStatus::kSuspect ||
        m->suspicion == nullptr ||
        m->suspicion->deadline() != deadline) {
      continue;  // not the timer of the member's current suspicion
    }
    m->suspicion.reset();  // its deadline entry is already gone
    Update u;
    u.kind = MemberStatus::kDead;
    u.node = id;
    u.incarnation = m->state.incarnation;
    u.from = config_.self;
    if (ApplyDead(u, now)) ++stats_.deaths_declared;
  }
}

void Membership::ExpireRelays(absl::Time now) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    Relay& r = it->second;
    if (!r.nack_sent && now >= r.nack_at) {
      r.nack_sent = true;
      Message nack;
      nack.type = Message::Type::kNack;
      nack.seq = r.requester_seq;
      nack.to = r.requester;
      Send(r.requester_address, std::move(nack));
    }
    if (now >= r.expires) {
      it = relays_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---------------------------------------------------------------------------
// Incoming messages

void Membership::HandleMessage(const Message& m, absl::Time now) {
  now_ = std::max(now_, now);
  ++stats_.messages_received;
  if (m.from == config_.self) {
    // Our own message came back: a seed is this node under another name
    // (localhost for 127.0.0.1, say). Forget that seed.
    ++stats_.messages_ignored;
    if (m.join) {
      seeds_.erase(std::remove(seeds_.begin(), seeds_.end(), m.target_address),
                   seeds_.end());
    }
    if (seeds_.empty()) joined_ = true;
    return;
  }
  uint64_t refuted_before = stats_.suspicions_refuted;
  for (const Update& u : m.updates) ApplyUpdate(u, now);
  NoteSenderAlive(m, now);
  switch (m.type) {
    case Message::Type::kPing:
      HandlePing(m, now);
      break;
    case Message::Type::kAck:
      HandleAck(m, now);
      break;
    case Message::Type::kPingReq:
      HandlePingReq(m, now);
      break;
    case Message::Type::kNack:
      HandleNack(m, now);
      break;
    case Message::Type::kPushPull:
    case Message::Type::kPushPullReply:
      HandlePushPull(m, now);
      break;
    case Message::Type::kGossip:
      break;  // its updates were applied above
  }
  if (stats_.suspicions_refuted != refuted_before && !m.from_address.empty() &&
      !leaving_) {
    // The sender thinks we are suspect or dead and may not be gossiping
    // with us at all (it does not probe the dead): answer it directly. The
    // refutation is the freshest update, so it rides on this message.
    Message notice;
    notice.type = Message::Type::kGossip;
    notice.to = m.from;
    Send(m.from_address, std::move(notice));
  }
}

void Membership::NoteSenderAlive(const Message& m, absl::Time now) {
  Member* sender = Get(m.from);
  if (sender == nullptr || m.from_incarnation == 0 ||
      sender->state.status == MemberStatus::kAlive) {
    return;
  }
  if (m.from_incarnation > sender->state.incarnation &&
      config_.refute_on_contact &&
      m.from_address == sender->state.meta->address) {
    // (At another address its meta changed too: wait for the announcement
    // that carries it, or we would pin the old address to the new
    // incarnation.)
    // It speaks at a newer incarnation than our suspicion: it refuted
    // already and the refutation missed us.
    // We do not know whether its meta changed too: ask it.
    ApplyAlive(RefutationUpdate(MemberState{m.from, m.from_incarnation,
                                            MemberStatus::kAlive,
                                            sender->state.meta}),
               now, /*from_push_pull=*/false);
    PullStateFrom(*sender, now);
  } else if (config_.lifeguard &&
             (sender->state.status == MemberStatus::kSuspect ||
              sender->state.status == MemberStatus::kDead) &&
             m.from_incarnation == sender->state.incarnation &&
             m.type != Message::Type::kPushPullReply) {
    // It has not heard that it is suspected (or declared dead, e.g. across
    // a partition that has healed): tell it straight away so it refutes.
    Message notice;
    notice.type = Message::Type::kGossip;
    notice.to = m.from;
    Update u;
    u.kind = sender->state.status;
    u.node = m.from;
    u.incarnation = sender->state.incarnation;
    u.from = config_.self;
    notice.updates.push_back(std::move(u));
    Send(sender->state.meta->address, std::move(notice));
  }
}

void Membership::HandlePing(const Message& m, absl::Time now) {
  if (m.to != kNoNode && m.to != config_.self) {
    // The sender thinks this address is another node (we replaced it).
    ++stats_.messages_ignored;
    return;
  }
  Message ack;
  ack.type = Message::Type::kAck;
  ack.seq = m.seq;
  ack.to = m.from;
  Send(m.from_address, std::move(ack));
  if (Get(m.from) == nullptr && !m.from_address.empty()) {
    // A member we do not know pings us (we restarted, or it joined through
    // someone else): exchange state with it, at most every few periods.
    auto [it, inserted] = pulled_.try_emplace(m.from, now);
    if (inserted || now - it->second >= config_.probe_interval * 5) {
      it->second = now;
      Send(m.from_address, PushPullRequest(m.from));
    }
  }
}

void Membership::HandleAck(const Message& m, absl::Time now) {
  (void)now;
  if (probe_active_ && m.seq == probe_.seq && !probe_.acked) {
    probe_.acked = true;
    probe_active_ = false;
    ++stats_.acks_received;
    if (config_.lifeguard) ChangeAwareness(-1);
    return;
  }
  auto it = relays_.find(m.seq);
  if (it != relays_.end()) {
    Message ack;
    ack.type = Message::Type::kAck;
    ack.seq = it->second.requester_seq;
    ack.to = it->second.requester;
    std::string to = it->second.requester_address;
    relays_.erase(it);
    Send(to, std::move(ack));
    return;
  }
  ++stats_.messages_ignored;  // late: the probe already finished
}

void Membership::HandlePingReq(const Message& m, absl::Time now) {
  if (m.target_address.empty() || m.from_address.empty()) {
    ++stats_.messages_ignored;
    return;
  }
  uint64_t seq = next_seq_++;
  Relay r;
  r.requester_address = m.from_address;
  r.requester = m.from;
  r.requester_seq = m.seq;
  // Nack a little before the requester's own wait ends, so it can act on
  // complete evidence (memberlist uses the same 80%).
  r.nack_at = now + Scaled(config_.probe_timeout) * 0.8;
  r.expires = now + Scaled(config_.probe_interval);
  r.nack_sent = !config_.lifeguard;  // plain SWIM has no nacks
  relays_[seq] = std::move(r);
  Message ping;
  ping.type = Message::Type::kPing;
  ping.seq = seq;
  ping.to = m.target;
  Send(m.target_address, std::move(ping));
}

void Membership::HandleNack(const Message& m, absl::Time now) {
  if (probe_active_ && m.seq == probe_.seq) {
    ++probe_.nacks;
    ++stats_.nacks_received;
    if (probe_.expected_nacks > 0 && probe_.nacks >= probe_.expected_nacks &&
        !probe_.acked) {
      // Every helper is alive and answered, and none reached the target:
      // the evidence is complete, waiting out the period adds nothing but
      // detection time.
      FinishProbe(now);
    }
  }
}

void Membership::HandlePushPull(const Message& m, absl::Time now) {
  std::vector<NodeId> want = MergePushPull(m, now);
  if (m.type == Message::Type::kPushPull) {
    Message reply;
    reply.type = Message::Type::kPushPullReply;
    reply.to = m.from;
    DeltaFor(m.digests, &reply);
    reply.want = std::move(want);
    Send(m.from_address, std::move(reply));
    return;
  }
  if (!joined_) joined_ = true;
  // (What this node would want from a reply's digests is dropped: the
  // replier sent every state it saw us lack, and the next round asks.)
  auto asked = awaiting_reply_.find(m.from_address);
  if (asked == awaiting_reply_.end()) return;  // nobody asked: no last leg
  awaiting_reply_.erase(asked);
  if (!m.want.empty()) {
    // The replier needs these members' meta: the last leg, states only,
    // each member once and no more than this node knows.
    Message states;
    states.type = Message::Type::kPushPullReply;
    states.to = m.from;
    absl::flat_hash_map<NodeId, bool> sent;
    for (NodeId id : m.want) {
      if (states.state.size() >= members_.size()) break;
      if (!sent.emplace(id, true).second) continue;
      if (const Member* known = Get(id)) states.state.push_back(known->state);
    }
    if (!states.state.empty()) Send(m.from_address, std::move(states));
  }
}


std::vector<NodeId> Membership::MergePushPull(const Message& m,
                                              absl::Time now) {
  MergeState(m.state, m.from, now);
  std::vector<NodeId> want;
  if (m.digests.empty()) return want;
  absl::flat_hash_map<NodeId, bool> with_state;
  for (const MemberState& s : m.state) with_state[s.id] = true;
  for (const MemberDigest& d : m.digests) {
    if (d.id == kNoNode || with_state.contains(d.id)) continue;
    MergeDigest(d, now, &want);
  }
  return want;
}

void Membership::MergeDigest(const MemberDigest& d, absl::Time now,
                             std::vector<NodeId>* want) {
  if (d.id == config_.self) {
    // What the sender believes of us. Another meta at our incarnation or
    // above is another process with our id: fetch its state, so the
    // collision can name its address.
    if (d.fingerprint != self().state.meta->fingerprint &&
        d.incarnation >= self().state.incarnation) {
      want->push_back(d.id);
      return;
    }
    Update u;
    u.node = d.id;
    u.incarnation = d.incarnation;
    u.from = kNoNode;
    switch (d.status) {
      case MemberStatus::kAlive:
        if (d.incarnation > self().state.incarnation) {
          ++stats_.messages_ignored;  // forged or corrupt (ApplyAlive)
        }
        break;
      case MemberStatus::kLeft:
        u.kind = MemberStatus::kLeft;
        u.from = d.id;
        ApplyDead(u, now);
        break;
      case MemberStatus::kSuspect:
      case MemberStatus::kDead:
        u.kind = MemberStatus::kSuspect;
        ApplySuspect(u, now);
        break;
    }
    return;
  }
  Member* m = Get(d.id);
  if (m == nullptr) {
    // A member we never met: only its state can say whether it matters
    // (a Dead member that owns tokens does; a Left one never does).
    if (d.status == MemberStatus::kLeft ||
        (d.status == MemberStatus::kDead && !d.owns_tokens) ||
        Forgotten(d.id, d.incarnation)) {
      return;
    }
    want->push_back(d.id);
    return;
  }
  const MemberMeta& mine = *m->state.meta;
  if (d.meta_version > mine.version ||
      (d.meta_version == mine.version && d.fingerprint != mine.fingerprint)) {
    // The sender holds newer meta (or, at the same version, other meta:
    // only another process with that id could cause it): fetch the state
    // whole, so status and meta arrive together.
    want->push_back(d.id);
    return;
  }
  MergeOne(MemberState{d.id, d.incarnation, d.status, m->state.meta},
           /*sender=*/kNoNode, now);
}
// ---------------------------------------------------------------------------
// State changes

void Membership::ApplyUpdate(const Update& u, absl::Time now) {
  switch (u.kind) {
    case MemberStatus::kAlive:
      ApplyAlive(u, now, /*from_push_pull=*/false);
      break;
    case MemberStatus::kSuspect:
      ApplySuspect(u, now);
      break;
    case MemberStatus::kDead:
    case MemberStatus::kLeft:
      ApplyDead(u, now);
      break;
  }
}

bool Membership::ApplyAlive(const Update& u, absl::Time now,
                            bool from_push_pull) {
  (void)from_push_pull;
  if (u.node == kNoNode) return false;
  uint64_t fingerprint = u.meta ? u.meta->fingerprint : u.meta_fingerprint;
  if (u.node == config_.self) {
    if (u.meta && u.meta->address != self().state.meta->address) {
      // Our id at another address. At a lower incarnation it is our own
      // previous life (we restarted elsewhere) and simply stale; at ours or
      // above, another live process has our id: a copied data dir.
      if (u.incarnation >= self().state.incarnation) {
        ++stats_.id_collisions;
        collision_address_ = u.meta->address;
      }
      return false;
    }
    // An Alive of our id without meta, at our incarnation, with another
    // meta's fingerprint is NOT taken for another process: a peer that
    // learned our new incarnation (a ping's evidence) before our new meta
    // gossips exactly that, our previous life's meta at our new
    // incarnation, and counting it made a node restarted twice in a row
    // refuse to run. Another process with our id shows itself with meta
    // (its address, above) and in digests, whose state is fetched.
    // Our incarnation is above everything any earlier life of this node
    // announced (leases), and we announced nothing above it: an Alive of
    // our id above it is forged or corrupt. Refuting it would only chase
    // it up to the incarnation limit.
    if (u.incarnation > self().state.incarnation) ++stats_.messages_ignored;
    return false;
  }
  Member* m = Get(u.node);
  if (m == nullptr) {
    if (!u.meta || Forgotten(u.node, u.incarnation)) {
      return false;  // a refutation of a member we never met, or a ghost
    }
    MemberState s;
    s.id = u.node;
    s.incarnation = u.incarnation;
    s.status = MemberStatus::kAlive;
    s.meta = u.meta;
    AddMember(s, now);
    Enqueue(u);
    return true;
  }
  // Meta is ordered by its own version, whatever the status ordering says:
  // a newer meta is taken even from an update whose status is stale.
  bool adopted = u.meta != nullptr && AdoptNewerMeta(m, u.meta);
  if (u.incarnation == m->state.incarnation && u.meta &&
      m->expected_fingerprint != 0 &&
      u.meta->fingerprint == m->expected_fingerprint) {
    // The meta a refutation told us we were missing, at that incarnation.
    ReplaceMeta(m, u.meta);
    return true;
  }
  if (u.incarnation <= m->state.incarnation) {
    if (adopted) Enqueue(u);  // others may lack it too
    return adopted;
  }
  SetStatus(m, MemberStatus::kAlive, u.incarnation, now);
  if (u.meta) {
    if (u.meta->version >= m->state.meta->version &&
        u.meta->fingerprint != m->state.meta->fingerprint) {
      ReplaceMeta(m, u.meta);
    }
  } else if (fingerprint != m->state.meta->fingerprint) {
    // Its meta changed and we missed the announcement: remember what to
    // expect and ask the member itself.
    m->expected_fingerprint = fingerprint;
    PullStateFrom(*m, now);
  }
  Enqueue(u);
  return true;
}

bool Membership::AdoptNewerMeta(Member* m, const MetaPtr& meta) {
  if (meta->version <= m->state.meta->version) return false;
  ReplaceMeta(m, meta);
  return true;
}

void Membership::ReplaceMeta(Member* m, MetaPtr meta) {
  if (m->state.meta->tokens != meta->tokens ||
      m->state.meta->joining != meta->joining) {
    ++ring_version_;
  }
  ++state_version_;
  m->state.meta = std::move(meta);
  m->expected_fingerprint = 0;
}

void Membership::AnswerAccusation(const Update& u, absl::Time now) {
  if (leaving_) return;
  if (u.incarnation > self().state.incarnation) {
    // No honest member holds us above the incarnation we announced (see
    // ApplyAlive): forged or corrupt, and not worth refuting.
    ++stats_.messages_ignored;
    return;
  }
  if (u.incarnation == self().state.incarnation) Refute(u.incarnation, now);
}

bool Membership::ApplySuspect(const Update& u, absl::Time now) {
  if (u.node == config_.self) {
    AnswerAccusation(u, now);
    return false;
  }
  Member* m = Get(u.node);
  if (m == nullptr) return false;
  if (m->state.status == MemberStatus::kSuspect &&
      u.incarnation == m->state.incarnation) {
    // An independent confirmation shortens the suspicion (Lifeguard); only
    // confirmations that did are passed on (memberlist's Confirm agrees).
    Suspicion* s = m->suspicion.get();
    if (config_.lifeguard && s != nullptr) {
      absl::Time before = s->deadline();
      if (s->Confirm(u.from)) {
        suspicion_deadlines_.erase({before, u.node});
        suspicion_deadlines_.insert({s->deadline(), u.node});
        Enqueue(u);  // let others count this confirmation too
      }
    }
    return false;
  }
  if (!Newer(u.incarnation, MemberStatus::kSuspect, m->state.incarnation,
             m->state.status)) {
    return false;
  }
  SetStatus(m, MemberStatus::kSuspect, u.incarnation, now);
  StartSuspicion(m, u.from, now);
  Enqueue(u);
  return true;
}

void Membership::StartSuspicion(Member* m, NodeId from, absl::Time now) {
  if (m->suspicion) {
    // A suspicion of a newer incarnation replaces the old one, timer too.
    suspicion_deadlines_.erase({m->suspicion->deadline(), m->state.id});
  }
  absl::Duration min = MinSuspicionTimeout();
  absl::Duration max = config_.lifeguard ? MaxSuspicionTimeout() : min;
  if (config_.lifeguard) {
    // A node that misses its own deadlines hears refutations late too: it
    // waits that much longer before declaring anyone dead.
    min = Scaled(min);
    max = Scaled(max);
  }
  int others = static_cast<int>(NumLive()) - 2;  // neither us nor the suspect
  int expected =
      config_.lifeguard ? std::min(config_.suspicion_mult - 2, others) : 0;
  m->suspicion = std::make_unique<Suspicion>(now, min, max, expected, from);
  suspicion_deadlines_.insert({m->suspicion->deadline(), m->state.id});
}

bool Membership::ApplyDead(const Update& u, absl::Time now) {
  if (u.node == config_.self) {
    AnswerAccusation(u, now);
    return false;
  }
  Member* m = Get(u.node);
  if (m == nullptr) return false;
  if (!Newer(u.incarnation, u.kind, m->state.incarnation, m->state.status)) {
    return false;
  }
  SetStatus(m, u.kind, u.incarnation, now);
  Enqueue(u);
  return true;
}

bool Membership::Refute(uint64_t accused_incarnation, absl::Time now) {
  (void)now;
  Member& me = self();
  uint64_t next = std::min(std::max(me.state.incarnation, accused_incarnation) + 1,
                           kMaxIncarnation);
  if (incarnation_ceiling_ != 0 && next > incarnation_ceiling_) {
    // Not persisted yet: a restart could start below it. The owner raises
    // the ceiling first.
    pending_refutation_ = std::max(pending_refutation_, next);
    return false;
  }
  me.state.incarnation = next;
  ++state_version_;
  ++stats_.suspicions_refuted;
  if (config_.lifeguard) ChangeAwareness(1);
  Enqueue(RefutationUpdate(me.state));
  return true;
}

void Membership::MergeState(const std::vector<MemberState>& remote,
                            NodeId sender, absl::Time now) {
  for (const MemberState& s : remote) MergeOne(s, sender, now);
}

void Membership::MergeOne(const MemberState& s, NodeId sender,
                          absl::Time now) {
  (void)sender;
  if (!s.meta || s.id == kNoNode) return;
  if (s.id != config_.self) {
    // A newer meta is taken whatever the status says (see MemberMeta).
    if (Member* m = Get(s.id)) AdoptNewerMeta(m, s.meta);
  }
  if (s.id != config_.self && Get(s.id) == nullptr) {
    // A departed member we never knew stays unknown, as in memberlist:
    // otherwise members that forget at slightly different times would hand
    // it back to each other forever. A Dead member that still owns ring
    // tokens does matter: its ranges are its until it is removed. One this
    // node forgot is a ghost at or below the incarnation it had then.
    if (s.status == MemberStatus::kLeft ||
        (s.status == MemberStatus::kDead && s.meta->tokens.empty()) ||
        Forgotten(s.id, s.incarnation)) {
      return;
    }
    // First we hear of it: take the remote's view as is. A suspect gets
    // its own suspicion timer here.
    Member* m = AddMember(s, now);
    if (s.status == MemberStatus::kSuspect) {
      StartSuspicion(m, kNoNode, now);
    }
    if (s.status == MemberStatus::kAlive) Enqueue(AliveUpdate(s));
    return;
  }
  Update u;
  u.node = s.id;
  u.incarnation = s.incarnation;
  // No accuser: a suspicion merged from someone's view is hearsay, not an
  // independent probe, and must not count as a confirmation (if it did,
  // routine push-pulls would shrink a healthy node's suspicion to the
  // minimum within seconds).
  u.from = kNoNode;
  switch (s.status) {
    case MemberStatus::kAlive:
      ApplyAlive(AliveUpdate(s), now, /*from_push_pull=*/true);
      break;
    case MemberStatus::kLeft:
      u.kind = MemberStatus::kLeft;
      u.from = s.id;
      ApplyDead(u, now);
      break;
    case MemberStatus::kSuspect:
    case MemberStatus::kDead:
      // A remote "dead" becomes a local suspicion rather than an instant
      // death: the member gets its chance to refute (memberlist does the
      // same).
      u.kind = MemberStatus::kSuspect;
      ApplySuspect(u, now);
      break;
  }
}

// ---------------------------------------------------------------------------
// Join, leave, remove, meta

void Membership::RestoreMembers(const std::vector<MemberState>& members,
                                absl::Time now) {
  now_ = std::max(now_, now);
  for (const MemberState& s : members) {
    if (!s.meta || s.id == kNoNode || s.id == config_.self || Get(s.id)) {
      continue;
    }
    Member* m = AddMember(s, now);
    if (s.status == MemberStatus::kSuspect) StartSuspicion(m, kNoNode, now);
  }
}

void Membership::Join(const std::vector<std::string>& seeds, absl::Time now) {
  now_ = std::max(now_, now);
  seeds_.clear();
  for (const auto& s : seeds) {
    if (!s.empty() && s != self().state.meta->address &&
        std::find(seeds_.begin(), seeds_.end(), s) == seeds_.end()) {
      seeds_.push_back(s);
    }
  }
  if (seeds_.empty()) {
    joined_ = true;
    return;
  }
  joined_ = false;
  SendJoinRequests(now);
}

void Membership::SendJoinRequests(absl::Time now) {
  next_join_ = now + config_.join_retry_interval;
  for (const std::string& seed : seeds_) {
    Message pp = PushPullRequest(kNoNode);
    pp.join = true;
    pp.target_address = seed;  // so an echo names the seed that is us
    Send(seed, std::move(pp));
  }
}

absl::Duration Membership::PushPullInterval() const {
  // A push-pull costs O(N) bytes (a digest per member at least); above 32
  // members stretch the interval with log2(N) so its share of traffic
  // grows slowly (memberlist's pushPullScale).
  double n = static_cast<double>(NumLive());
  double scale = n <= 32 ? 1.0 : std::ceil(std::log2(n) - std::log2(32.0)) + 1;
  return config_.push_pull_interval * scale;
}

void Membership::PushPull(absl::Time now) {
  absl::Duration interval = PushPullInterval();
  std::uniform_int_distribution<int64_t> jitter(
      absl::ToInt64Microseconds(interval) * 9 / 10,
      absl::ToInt64Microseconds(interval) * 11 / 10);
  next_push_pull_ = now + absl::Microseconds(jitter(rng_));
  std::vector<NodeId> peer = RandomLiveMembers(1, kNoNode);
  if (!peer.empty()) {
    Send(Get(peer[0])->state.meta->address, PushPullRequest(peer[0]));
  }
  // Reconnect (as Serf does): also exchange state with one member we hold
  // dead. Nobody probes the dead, so without this two sides of a healed
  // partition, each dead to the other, would never talk again. A member
  // that really is dead costs one lost message per interval.
  if (dead_count_ > 0) {
    std::vector<const Member*> dead;
    for (const Member& m : members_) {
      if (m.state.status == MemberStatus::kDead) dead.push_back(&m);
    }
    std::uniform_int_distribution<size_t> pick(0, dead.size() - 1);
    const Member* target = dead[pick(rng_)];
    Send(target->state.meta->address, PushPullRequest(target->state.id));
  }
}

void Membership::Leave(absl::Time now) {
  now_ = std::max(now_, now);
  (void)now;
  if (leaving_) return;
  leaving_ = true;
  Member& me = self();
  SetStatus(&me, MemberStatus::kLeft, me.state.incarnation, now);
  Update u;
  u.kind = MemberStatus::kLeft;
  u.node = config_.self;
  u.incarnation = me.state.incarnation;
  u.from = config_.self;
  Enqueue(u);
  // Tell a handful of members directly; gossip carries it the rest of the
  // way.
  for (NodeId id :
       RandomLiveMembers(static_cast<size_t>(2 * RetransmitLimit()), kNoNode)) {
    Message ping;
    ping.type = Message::Type::kPing;
    ping.seq = next_seq_++;
    ping.to = id;
    Send(Get(id)->state.meta->address, std::move(ping));
  }
}

bool Membership::LeaveSpread() const {
  if (!leaving_) return false;
  if (NumLive() == 0) return true;  // nobody left to tell
  return !broadcasts_.Pending(config_.self);
}

absl::Status Membership::Remove(NodeId node, absl::Time now) {
  now_ = std::max(now_, now);
  (void)now;
  Member* m = Get(node);
  if (m == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no member ", NodeIdToString(node)));
  }
  if (m->state.status == MemberStatus::kLeft) return absl::OkStatus();
  if (m->state.status != MemberStatus::kDead) {
    return absl::FailedPreconditionError(absl::StrCat(
        "member ", NodeIdToString(node), " is ",
        MemberStatusName(m->state.status),
        "; only a dead member can be removed (a live one can leave)"));
  }
  Update u;
  u.kind = MemberStatus::kLeft;
  u.node = node;
  u.incarnation = m->state.incarnation;
  u.from = config_.self;
  SetStatus(m, MemberStatus::kLeft, m->state.incarnation, now);
  Enqueue(u);
  return absl::OkStatus();
}

void Membership::UpdateLocalMeta(MemberMeta meta, absl::Time now) {
  now_ = std::max(now_, now);
  (void)now;
  if (leaving_) return;  // an Alive would replace the Left announcement
  Member& me = self();
  if (incarnation_ceiling_ != 0 &&
      me.state.incarnation + 1 > incarnation_ceiling_) {
    pending_meta_ = std::make_unique<MemberMeta>(std::move(meta));
    return;
  }
  if (me.state.meta->tokens != meta.tokens ||
      me.state.meta->joining != meta.joining) {
    ++ring_version_;
  }
  ++state_version_;
  ++me.state.incarnation;
  meta.version = me.state.incarnation;
  me.state.meta = MakeMeta(std::move(meta));
  Enqueue(AliveUpdate(me.state));
}

void Membership::SetIncarnationCeiling(uint64_t ceiling, absl::Time now) {
  now_ = std::max(now_, now);
  incarnation_ceiling_ = std::max(incarnation_ceiling_, ceiling);
  if (leaving_) {
    pending_meta_.reset();
    pending_refutation_ = 0;
    return;
  }
  if (pending_meta_ && self().state.incarnation < incarnation_ceiling_) {
    std::unique_ptr<MemberMeta> meta = std::move(pending_meta_);
    UpdateLocalMeta(std::move(*meta), now);
  }
  if (pending_refutation_ != 0 &&
      pending_refutation_ <= incarnation_ceiling_) {
    uint64_t wanted = pending_refutation_;
    pending_refutation_ = 0;
    if (wanted > self().state.incarnation) Refute(wanted - 1, now);
  }
}

uint64_t Membership::IncarnationWanted() const {
  uint64_t wanted = std::max(self().state.incarnation, pending_refutation_);
  if (pending_meta_) wanted = std::max(wanted, self().state.incarnation + 1);
  return wanted;
}

// ---------------------------------------------------------------------------
// Dissemination

int Membership::RetransmitLimit() const {
  double n = static_cast<double>(members_.size()) + 1.0;
  return static_cast<int>(std::ceil(config_.retransmit_mult * std::log(n)));
}

void Membership::Enqueue(Update u) { broadcasts_.Enqueue(std::move(u)); }

void Membership::Send(const std::string& address, Message m) {
  if (m.type == Message::Type::kPushPull) {
    awaiting_reply_[address] = now_;
  }
  m.from = config_.self;
  m.from_address = self().state.meta->address;
  m.from_incarnation = self().state.incarnation;
  if (m.type != Message::Type::kPushPull &&
      m.type != Message::Type::kPushPullReply) {
    size_t base = ApproxSize(m);
    size_t budget = config_.max_piggyback_bytes > base
                        ? config_.max_piggyback_bytes - base
                        : 0;
    std::vector<Update> more = broadcasts_.Take(
        budget, config_.max_piggyback_updates, config_.max_piggyback_bytes,
        RetransmitLimit());
    for (auto& u : more) m.updates.push_back(std::move(u));
  }
  ++stats_.messages_sent;
  size_t size = ApproxSize(m);
  stats_.bytes_sent += size;
  if (m.type == Message::Type::kPushPull ||
      m.type == Message::Type::kPushPullReply) {
    stats_.push_pull_bytes_sent += size;
  }
  transport_->Send(address, std::move(m));
}

std::vector<RingMember> RingMembersOf(const std::vector<MemberState>& members,
                                      bool serving_only) {
  std::vector<RingMember> out;
  for (const MemberState& m : members) {
    if (m.status == MemberStatus::kLeft || !m.meta || m.meta->tokens.empty() ||
        (serving_only && m.meta->joining)) {
      continue;
    }
    out.push_back(RingMember{m.id, m.meta->tokens});
  }
  return out;
}

}  // namespace rumor::server
