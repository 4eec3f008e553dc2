// Unit tests of the SWIM/Lifeguard state machine: one core, a recording
// transport, and time set by hand.
#include "server/membership/membership.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rumor::server {
namespace {

using Type = Message::Type;

class RecordingTransport : public Transport {
 public:
  void Send(const std::string& address, Message m) override {
    sent.push_back({address, std::move(m)});
  }
  void Forget(const std::string& address) override {
    forgotten.push_back(address);
  }
  std::vector<std::pair<std::string, Message>> sent;
  std::vector<std::string> forgotten;

  std::vector<Message> Take(Type type) {
    std::vector<Message> out;
    for (auto& [a, m] : sent) {
      if (m.type == type) out.push_back(m);
    }
    return out;
  }
};

MetaPtr Meta(const std::string& addr, std::vector<uint64_t> tokens = {}) {
  MemberMeta m;
  m.address = addr;
  m.tokens = std::move(tokens);
  return MakeMeta(std::move(m));
}

std::string Addr(NodeId id) { return "n" + std::to_string(id); }

// A message of `type` from member `from` at its usual address.
Message Msg(Type type, NodeId from, uint64_t seq = 0) {
  Message m;
  m.type = type;
  m.seq = seq;
  m.from = from;
  m.from_address = Addr(from);
  return m;
}

MemberState State(NodeId id, uint64_t inc, MemberStatus st,
                  std::vector<uint64_t> tokens = {}) {
  return MemberState{id, inc, st, Meta(Addr(id), std::move(tokens))};
}

class MembershipTest : public ::testing::Test {
 protected:
  MembershipTest() { Reset(); }

  void Reset(bool lifeguard = true, uint64_t incarnation_ceiling = 0) {
    MembershipConfig c;
    c.self = 1;
    c.meta.address = Addr(1);
    c.lifeguard = lifeguard;
    c.incarnation_ceiling = incarnation_ceiling;
    c.seed = 42;
    now_ = absl::UnixEpoch();
    transport_ = std::make_unique<RecordingTransport>();
    core_ = std::make_unique<Membership>(c, transport_.get(), now_);
  }

  // Teaches the core about members through a push-pull from node 2.
  void Learn(std::vector<MemberState> states) {
    Message pp = Msg(Type::kPushPullReply, 2);
    pp.state = std::move(states);
    core_->HandleMessage(pp, now_);
  }

  void Deliver(Update u, NodeId from = 3) {
    // Any type: updates piggyback on everything.
    Message m = Msg(Type::kAck, from, 999999);
    m.updates.push_back(std::move(u));
    core_->HandleMessage(m, now_);
  }

  MemberStatus StatusOf(NodeId id) { return core_->Find(id)->status; }
  uint64_t IncOf(NodeId id) { return core_->Find(id)->incarnation; }

  // Runs the core's timers until `t`. With `ack`, every member answers
  // our pings at once (alive, but not refuting anything).
  void RunUntil(absl::Time t, bool ack = false) {
    while (core_->NextDeadline() <= t) {
      now_ = std::max(now_, core_->NextDeadline());
      size_t before = transport_->sent.size();
      core_->Tick(now_);
      if (!ack) continue;
      std::vector<Message> pings;
      for (size_t i = before; i < transport_->sent.size(); ++i) {
        if (transport_->sent[i].second.type == Type::kPing) {
          pings.push_back(transport_->sent[i].second);
        }
      }
      for (const Message& p : pings) {
        Message a = Msg(Type::kAck, p.to, p.seq);
        core_->HandleMessage(a, now_);
      }
    }
    now_ = t;
  }

  absl::Time now_;
  std::unique_ptr<RecordingTransport> transport_;
  std::unique_ptr<Membership> core_;
};

Update Upd(MemberStatus kind, NodeId node, uint64_t inc, NodeId from = 3) {
  Update u;
  u.kind = kind;
  u.node = node;
  u.incarnation = inc;
  u.from = from;
  if (kind == MemberStatus::kAlive) u.meta = Meta(Addr(node));
  return u;
}

TEST_F(MembershipTest, StatesOrderByIncarnationThenSeverity) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive),
         State(4, 1, MemberStatus::kAlive)});
  ASSERT_EQ(StatusOf(4), MemberStatus::kAlive);
  Deliver(Upd(MemberStatus::kSuspect, 4, 1));
  EXPECT_EQ(StatusOf(4), MemberStatus::kSuspect);
  Deliver(Upd(MemberStatus::kAlive, 4, 1));  // same incarnation: no refute
  EXPECT_EQ(StatusOf(4), MemberStatus::kSuspect);
  Deliver(Upd(MemberStatus::kAlive, 4, 2));  // refutation
  EXPECT_EQ(StatusOf(4), MemberStatus::kAlive);
  EXPECT_EQ(IncOf(4), 2u);
  Deliver(Upd(MemberStatus::kDead, 4, 1));  // stale
  EXPECT_EQ(StatusOf(4), MemberStatus::kAlive);
  Deliver(Upd(MemberStatus::kDead, 4, 2));
  EXPECT_EQ(StatusOf(4), MemberStatus::kDead);
  Deliver(Upd(MemberStatus::kSuspect, 4, 2));  // Dead beats Suspect
  EXPECT_EQ(StatusOf(4), MemberStatus::kDead);
  Deliver(Upd(MemberStatus::kLeft, 4, 2, 4));
  EXPECT_EQ(StatusOf(4), MemberStatus::kLeft);
  Deliver(Upd(MemberStatus::kDead, 4, 2));  // Left is final for inc 2
  EXPECT_EQ(StatusOf(4), MemberStatus::kLeft);
  Deliver(Upd(MemberStatus::kAlive, 4, 3));  // it came back
  EXPECT_EQ(StatusOf(4), MemberStatus::kAlive);
}

TEST_F(MembershipTest, SuspicionOfSelfIsRefutedWithHigherIncarnation) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  uint64_t before = core_->incarnation();
  Deliver(Upd(MemberStatus::kSuspect, 1, before));
  EXPECT_GT(core_->incarnation(), before);
  EXPECT_EQ(core_->stats().suspicions_refuted, 1u);
  EXPECT_EQ(core_->Self().status, MemberStatus::kAlive);
  EXPECT_EQ(core_->awareness(), 1) << "refuting counts against local health";
  // The refutation rides on the next message out.
  transport_->sent.clear();
  Message ping = Msg(Type::kPing, 2, 5);
  core_->HandleMessage(ping, now_);
  auto acks = transport_->Take(Type::kAck);
  ASSERT_EQ(acks.size(), 1u);
  bool carried = false;
  for (const Update& u : acks[0].updates) {
    carried |= u.node == 1 && u.kind == MemberStatus::kAlive &&
               u.incarnation == core_->incarnation();
  }
  EXPECT_TRUE(carried);
  // Dead about us is refuted too.
  uint64_t inc = core_->incarnation();
  Deliver(Upd(MemberStatus::kDead, 1, inc));
  EXPECT_GT(core_->incarnation(), inc);
}

TEST_F(MembershipTest, MinimumSuspicionScalesWithLogN) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  EXPECT_EQ(core_->MinSuspicionTimeout(), absl::Seconds(4));  // log10 floor 1
  std::vector<MemberState> many;
  for (NodeId id = 2; id <= 1000; ++id) many.push_back(State(id, 1, MemberStatus::kAlive));
  Learn(many);
  EXPECT_NEAR(absl::ToDoubleSeconds(core_->MinSuspicionTimeout()),
              4 * std::log10(1000.0), 0.01);
  EXPECT_EQ(core_->MaxSuspicionTimeout(), core_->MinSuspicionTimeout() * 6);
}

TEST_F(MembershipTest, ConfirmationsShortenSuspicion) {
  std::vector<MemberState> states;
  for (NodeId id = 2; id <= 6; ++id) states.push_back(State(id, 1, MemberStatus::kAlive));
  Learn(states);
  absl::Time start = now_;
  Deliver(Upd(MemberStatus::kSuspect, 6, 1, /*from=*/2));
  ASSERT_EQ(StatusOf(6), MemberStatus::kSuspect);
  Deliver(Upd(MemberStatus::kSuspect, 6, 1, /*from=*/3));
  Deliver(Upd(MemberStatus::kSuspect, 6, 1, /*from=*/3));  // not independent
  Deliver(Upd(MemberStatus::kSuspect, 6, 1, /*from=*/4));
  // Two independent confirmations reach the minimum (expected = mult-2 = 2).
  absl::Duration min = core_->MinSuspicionTimeout();
  RunUntil(start + min - absl::Milliseconds(1));
  EXPECT_EQ(StatusOf(6), MemberStatus::kSuspect);
  RunUntil(start + min + absl::Milliseconds(1));
  EXPECT_EQ(StatusOf(6), MemberStatus::kDead);
  EXPECT_EQ(core_->stats().deaths_declared, 1u);
}

TEST_F(MembershipTest, UnconfirmedSuspicionWaitsForTheMaximum) {
  std::vector<MemberState> states;
  for (NodeId id = 2; id <= 6; ++id) states.push_back(State(id, 1, MemberStatus::kAlive));
  Learn(states);
  absl::Time start = now_;
  Deliver(Upd(MemberStatus::kSuspect, 6, 1, 2));
  absl::Duration max = core_->MaxSuspicionTimeout();
  // Our own probes of 6 succeed: they confirm nothing.
  RunUntil(start + max - absl::Milliseconds(1), /*ack=*/true);
  EXPECT_EQ(StatusOf(6), MemberStatus::kSuspect);
  RunUntil(start + max + absl::Milliseconds(1), /*ack=*/true);
  EXPECT_EQ(StatusOf(6), MemberStatus::kDead);
}

// Regression: a node that missed a refutation holds Suspect(inc 1); a new
// Suspect(inc 2) must replace the old timer, not leave it armed to declare
// the node dead at the old deadline.
TEST_F(MembershipTest, NewerSuspicionReplacesTheOldTimer) {
  std::vector<MemberState> states;
  for (NodeId id = 2; id <= 6; ++id) states.push_back(State(id, 1, MemberStatus::kAlive));
  Learn(states);
  Deliver(Upd(MemberStatus::kSuspect, 6, 1, 2));  // timer at max (24 s)
  RunUntil(now_ + absl::Seconds(20), /*ack=*/true);
  absl::Time second = now_;
  Deliver(Upd(MemberStatus::kSuspect, 6, 2, 3));  // new cycle, new timer
  RunUntil(second + absl::Seconds(10), /*ack=*/true);  // past the first deadline
  EXPECT_EQ(StatusOf(6), MemberStatus::kSuspect)
      << "the superseded suspicion's timer fired";
  RunUntil(second + core_->MaxSuspicionTimeout() + absl::Milliseconds(1),
           /*ack=*/true);
  EXPECT_EQ(StatusOf(6), MemberStatus::kDead);
  EXPECT_EQ(IncOf(6), 2u);
}

TEST_F(MembershipTest, WithoutLifeguardSuspicionIsFixedAtMinimum) {
  Reset(/*lifeguard=*/false);
  std::vector<MemberState> states;
  for (NodeId id = 2; id <= 6; ++id) states.push_back(State(id, 1, MemberStatus::kAlive));
  Learn(states);
  absl::Time start = now_;
  Deliver(Upd(MemberStatus::kSuspect, 6, 1, 2));
  RunUntil(start + core_->MinSuspicionTimeout() + absl::Milliseconds(1));
  EXPECT_EQ(StatusOf(6), MemberStatus::kDead);
}

TEST_F(MembershipTest, EachUpdateIsRetransmittedLambdaLogNTimes) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  // Drain whatever the join queued.
  for (int i = 0; i < 50; ++i) {
    Message ping = Msg(Type::kPing, 2, i);
    core_->HandleMessage(ping, now_);
  }
  transport_->sent.clear();
  Deliver(Upd(MemberStatus::kSuspect, 3, 1, 2), /*from=*/2);
  int carried = 0;
  for (int i = 0; i < 50; ++i) {
    Message ping = Msg(Type::kPing, 2, 100 + i);
    core_->HandleMessage(ping, now_);
  }
  for (auto& [addr, m] : transport_->sent) {
    for (const Update& u : m.updates) {
      if (u.node == 3 && u.kind == MemberStatus::kSuspect) ++carried;
    }
  }
  // 3 members: ceil(lambda(4) * ln(3 + 1)) = 6.
  EXPECT_EQ(core_->RetransmitLimit(), 6);
  EXPECT_EQ(carried, 6);
}

TEST_F(MembershipTest, PiggybackIsBoundedPerMessage) {
  std::vector<MemberState> many;
  for (NodeId id = 2; id <= 500; ++id) {
    std::vector<uint64_t> tokens;
    for (uint64_t t = 0; t < 64; ++t) tokens.push_back(id * 1000 + t);
    many.push_back(State(id, 1, MemberStatus::kAlive, tokens));
  }
  Learn(many);  // queues ~500 alive broadcasts with 64 tokens each
  transport_->sent.clear();
  Message ping = Msg(Type::kPing, 2, 1);
  core_->HandleMessage(ping, now_);
  auto acks = transport_->Take(Type::kAck);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_GT(acks[0].updates.size(), 0u);
  EXPECT_LE(ApproxSize(acks[0]), core_->config().max_piggyback_bytes);
}

TEST_F(MembershipTest, PushPullMergesUnknownMembersAndSuspectsRemoteDead) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 4, MemberStatus::kAlive)});
  Learn({State(3, 4, MemberStatus::kDead), State(7, 2, MemberStatus::kDead, {11}),
         State(10, 2, MemberStatus::kDead), State(8, 1, MemberStatus::kLeft),
         State(9, 5, MemberStatus::kAlive)});
  EXPECT_EQ(StatusOf(3), MemberStatus::kSuspect)
      << "a remote 'dead' becomes a local suspicion";
  EXPECT_EQ(StatusOf(7), MemberStatus::kDead)
      << "an unknown dead member that owns ranges is learned";
  EXPECT_EQ(core_->Find(10), nullptr)
      << "an unknown dead member that owns nothing is not";
  EXPECT_EQ(core_->Find(8), nullptr) << "nor is an unknown left one";
  EXPECT_EQ(StatusOf(9), MemberStatus::kAlive);
  EXPECT_EQ(IncOf(9), 5u);
  EXPECT_EQ(core_->NumMembers(), 5u);
}

TEST_F(MembershipTest, AJoinGetsEveryStateItLacks) {
  Learn({State(2, 1, MemberStatus::kAlive)});
  transport_->sent.clear();
  Message pp = Msg(Type::kPushPull, 5);
  pp.join = true;
  pp.state = {State(5, 1, MemberStatus::kAlive)};
  pp.digests = {MemberDigest{5, 1, MemberStatus::kAlive,
                             pp.state[0].meta->fingerprint}};
  core_->HandleMessage(pp, now_);
  auto replies = transport_->Take(Type::kPushPullReply);
  ASSERT_EQ(replies.size(), 1u);
  std::vector<NodeId> states;
  for (const MemberState& s : replies[0].state) states.push_back(s.id);
  std::sort(states.begin(), states.end());
  EXPECT_EQ(states, (std::vector<NodeId>{1, 2}))
      << "the joiner lacks 1 and 2, and knows itself";
  EXPECT_TRUE(replies[0].digests.empty()) << "nothing it knows is newer here";
  EXPECT_TRUE(replies[0].want.empty());
  EXPECT_EQ(transport_->sent.back().first, Addr(5));
  EXPECT_EQ(StatusOf(5), MemberStatus::kAlive);
}

// Push-pull sends digests (id, incarnation, status, meta fingerprint) and
// full states only where the other side lacks the meta: members both know
// cost a digest each, not their 64 tokens.
TEST_F(MembershipTest, PushPullSendsStatesOnlyForWhatTheOtherSideLacks) {
  std::vector<uint64_t> tokens(64);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = i * 1000;
  Learn({State(2, 1, MemberStatus::kAlive, tokens),
         State(3, 1, MemberStatus::kAlive, tokens),
         State(4, 1, MemberStatus::kAlive, tokens)});
  auto digest = [](NodeId id, uint64_t inc, MemberStatus st,
                   const MetaPtr& meta) {
    return MemberDigest{id,        inc,           st, meta->fingerprint,
                        meta->version, !meta->tokens.empty()};
  };
  // Our copy of 4 has meta version 1; node 2's is older.
  MemberMeta four;
  four.address = Addr(4);
  four.tokens = tokens;
  four.version = 1;
  Learn({MemberState{4, 1, MemberStatus::kAlive, MakeMeta(four)}});
  MemberMeta stale4;
  stale4.address = Addr(4);
  stale4.tokens = {7};
  transport_->sent.clear();
  // Node 2 knows 1 and 3 as we do, and 6 which we do not; its copy of 4
  // is stale (older meta). We hold 3 as suspect.
  Deliver(Upd(MemberStatus::kSuspect, 3, 1));
  MetaPtr six = Meta(Addr(6), {9});
  Message pp = Msg(Type::kPushPull, 2);
  pp.state = {State(2, 1, MemberStatus::kAlive, tokens)};
  pp.digests = {digest(1, 1, MemberStatus::kAlive, core_->Self().meta),
                digest(2, 1, MemberStatus::kAlive, pp.state[0].meta),
                digest(3, 1, MemberStatus::kAlive, Meta(Addr(3), tokens)),
                digest(4, 1, MemberStatus::kAlive, MakeMeta(stale4)),
                digest(6, 3, MemberStatus::kAlive, six)};
  core_->HandleMessage(pp, now_);
  auto replies = transport_->Take(Type::kPushPullReply);
  ASSERT_EQ(replies.size(), 1u);
  std::vector<NodeId> states;
  for (const MemberState& s : replies[0].state) states.push_back(s.id);
  std::sort(states.begin(), states.end());
  EXPECT_EQ(states, (std::vector<NodeId>{1, 4}))
      << "ourselves, and 4 whose meta node 2 holds stale";
  EXPECT_EQ(replies[0].want, std::vector<NodeId>{6});
  ASSERT_EQ(replies[0].digests.size(), 1u)
      << "only what we hold newer, as a digest: 3 is suspect here";
  EXPECT_EQ(replies[0].digests[0].id, 3u);
  EXPECT_EQ(replies[0].digests[0].status, MemberStatus::kSuspect);
  EXPECT_EQ(core_->Find(6), nullptr) << "not before its meta arrives";
  EXPECT_LT(ApproxSize(replies[0]), ApproxSize(Message{}) + 4 * 200)
      << "digests are small";

  // The last leg: node 2 sends 6's state; 6 is learned.
  Message last = Msg(Type::kPushPullReply, 2);
  last.state = {MemberState{6, 3, MemberStatus::kAlive, six}};
  core_->HandleMessage(last, now_);
  EXPECT_EQ(StatusOf(6), MemberStatus::kAlive);
}

// Left members, and Dead ones that own no tokens, are forgotten after
// forget_departed_after; a Dead member with tokens is kept (it owns ranges
// until it is removed). A forgotten id that comes back joins again.
TEST_F(MembershipTest, DepartedMembersAreForgottenAfterTheReclaimTime) {
  MembershipConfig c;
  c.self = 1;
  c.meta.address = Addr(1);
  c.forget_departed_after = absl::Minutes(10);
  now_ = absl::UnixEpoch();
  transport_ = std::make_unique<RecordingTransport>();
  core_ = std::make_unique<Membership>(c, transport_.get(), now_);
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive, {5}),
         State(4, 1, MemberStatus::kAlive), State(5, 1, MemberStatus::kAlive)});
  Deliver(Upd(MemberStatus::kDead, 2, 1));   // dead, no tokens
  Deliver(Upd(MemberStatus::kDead, 3, 1));   // dead, owns tokens
  Deliver(Upd(MemberStatus::kLeft, 4, 1, 4));  // left
  RunUntil(now_ + absl::Minutes(9), /*ack=*/true);
  EXPECT_EQ(core_->NumMembers(), 5u) << "nothing forgotten before its time";
  RunUntil(now_ + absl::Minutes(2), /*ack=*/true);
  EXPECT_EQ(core_->Find(2), nullptr);
  EXPECT_EQ(core_->Find(4), nullptr);
  ASSERT_NE(core_->Find(3), nullptr) << "it still owns ring tokens";
  EXPECT_EQ(StatusOf(3), MemberStatus::kDead);
  EXPECT_EQ(core_->stats().members_forgotten, 2u);
  EXPECT_EQ(core_->TakeForgottenAddresses(),
            (std::vector<std::string>{Addr(2), Addr(4)}))
      << "their links are to be dropped";
  // Gossip of the departed from someone who has not forgotten yet does not
  // bring them back...
  Learn({State(2, 1, MemberStatus::kDead), State(4, 1, MemberStatus::kLeft)});
  EXPECT_EQ(core_->Find(2), nullptr);
  EXPECT_EQ(core_->Find(4), nullptr);
  // ...but the member itself, back with a higher incarnation, joins again.
  Deliver(Upd(MemberStatus::kAlive, 4, 2, 4));
  EXPECT_EQ(StatusOf(4), MemberStatus::kAlive);
  // Removing the dead owner makes it Left: forgotten in its turn.
  ASSERT_TRUE(core_->Remove(3, now_).ok());
  RunUntil(now_ + absl::Minutes(11), /*ack=*/true);
  EXPECT_EQ(core_->Find(3), nullptr);
}

// A member removed long after it died: the Left it becomes must spread
// before it is forgotten, and once forgotten it must not come back through
// a member that still holds it as Dead with tokens.
TEST_F(MembershipTest, AMemberRemovedLongAfterItDiedIsNotResurrected) {
  MembershipConfig c;
  c.self = 1;
  c.meta.address = Addr(1);
  c.forget_departed_after = absl::Minutes(10);
  now_ = absl::UnixEpoch();
  transport_ = std::make_unique<RecordingTransport>();
  core_ = std::make_unique<Membership>(c, transport_.get(), now_);
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive, {5}),
         State(4, 1, MemberStatus::kAlive)});
  Deliver(Upd(MemberStatus::kDead, 3, 1));
  RunUntil(now_ + absl::Hours(2), /*ack=*/true);  // dead for hours
  ASSERT_TRUE(core_->Remove(3, now_).ok());
  RunUntil(now_ + absl::Seconds(1), /*ack=*/true);
  ASSERT_NE(core_->Find(3), nullptr)
      << "forgotten before its Left could spread (the window restarts)";
  EXPECT_EQ(StatusOf(3), MemberStatus::kLeft);
  RunUntil(now_ + absl::Minutes(11), /*ack=*/true);
  ASSERT_EQ(core_->Find(3), nullptr);
  // Node 2 never heard of the removal: it still holds 3 as Dead with
  // tokens, and says so in a push-pull (digest and state).
  Message pp = Msg(Type::kPushPull, 2);
  MemberState dead = State(3, 1, MemberStatus::kDead, {5});
  pp.state = {State(2, 1, MemberStatus::kAlive), dead};
  pp.digests = {MemberDigest{3, 1, MemberStatus::kDead, dead.meta->fingerprint,
                             dead.meta->version, true}};
  core_->HandleMessage(pp, now_);
  EXPECT_EQ(core_->Find(3), nullptr) << "a ghost came back";
  auto replies = transport_->Take(Type::kPushPullReply);
  ASSERT_FALSE(replies.empty());
  EXPECT_TRUE(replies.back().want.empty()) << "nor is it asked for";
  // The node itself, back at a higher incarnation, joins again.
  Deliver(Upd(MemberStatus::kAlive, 3, 2, 3));
  EXPECT_EQ(StatusOf(3), MemberStatus::kAlive);
}

// Meta is ordered by its own version. A node that got a member's Suspect
// before the Alive carrying its new tokens holds the old meta at the same
// incarnation; a push-pull brings the new meta, and then the two agree
// (no state goes either way any more).
TEST_F(MembershipTest, NewerMetaWinsAtTheSameIncarnation) {
  MemberMeta old_meta;
  old_meta.address = Addr(3);
  old_meta.version = 1;
  MemberMeta new_meta = old_meta;
  new_meta.tokens = {7, 8};
  new_meta.version = 2;
  MetaPtr older = MakeMeta(old_meta), newer = MakeMeta(new_meta);
  Learn({State(2, 1, MemberStatus::kAlive),
         MemberState{3, 1, MemberStatus::kAlive, older}});
  Deliver(Upd(MemberStatus::kSuspect, 3, 2));  // before the Alive@2 meta
  ASSERT_EQ(core_->Find(3)->meta->version, 1u);
  transport_->sent.clear();
  Message pp = Msg(Type::kPushPull, 2);
  pp.state = {State(2, 1, MemberStatus::kAlive)};
  pp.digests = {MemberDigest{3, 2, MemberStatus::kSuspect, newer->fingerprint, 2, true}};
  core_->HandleMessage(pp, now_);
  auto replies = transport_->Take(Type::kPushPullReply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].want, std::vector<NodeId>{3}) << "it has newer meta";
  Message last = Msg(Type::kPushPullReply, 2);
  last.state = {MemberState{3, 2, MemberStatus::kSuspect, newer}};
  core_->HandleMessage(last, now_);
  EXPECT_EQ(core_->Find(3)->meta->tokens, (std::vector<uint64_t>{7, 8}));
  EXPECT_EQ(core_->Find(3)->meta->version, 2u);
  // Agreement: the next exchange carries neither a want nor 3's state.
  transport_->sent.clear();
  core_->HandleMessage(pp, now_);
  replies = transport_->Take(Type::kPushPullReply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].want.empty());
  for (const MemberState& st : replies[0].state) EXPECT_NE(st.id, 3u);
  // A stale meta never replaces a newer one.
  Learn({MemberState{3, 5, MemberStatus::kAlive, older}});
  EXPECT_EQ(core_->Find(3)->meta->version, 2u);
}

// `want` is answered only in a reply to a push-pull this node sent, each
// member once: a peer cannot make a node build huge messages for it.
TEST_F(MembershipTest, WantIsAnsweredOnlyWhenAskedAndOnce) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  transport_->sent.clear();
  Message unsolicited = Msg(Type::kPushPullReply, 2);
  unsolicited.want = {3, 3, 3, 2};
  core_->HandleMessage(unsolicited, now_);
  EXPECT_TRUE(transport_->Take(Type::kPushPullReply).empty())
      << "a reply nobody asked for got a last leg";
  // Now this node asks node 2 (its periodic push-pull).
  RunUntil(now_ + absl::Seconds(31), /*ack=*/true);
  auto asked = transport_->Take(Type::kPushPull);
  ASSERT_FALSE(asked.empty());
  transport_->sent.clear();
  Message reply = Msg(Type::kPushPullReply, asked[0].to);
  reply.from_address = Addr(asked[0].to);
  reply.want = {3, 3, 3, 99, 2};
  core_->HandleMessage(reply, now_);
  auto legs = transport_->Take(Type::kPushPullReply);
  ASSERT_EQ(legs.size(), 1u);
  std::vector<NodeId> ids;
  for (const MemberState& st : legs[0].state) ids.push_back(st.id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<NodeId>{2, 3}));
  // A second copy of the same reply gets nothing more.
  transport_->sent.clear();
  core_->HandleMessage(reply, now_);
  EXPECT_TRUE(transport_->Take(Type::kPushPullReply).empty());
}

// No honest member holds this node above the incarnation it announced:
// an accusation or Alive above it is forged, and refuting it would chase
// it to the incarnation limit.
TEST_F(MembershipTest, ClaimsAboutUsAboveOurIncarnationAreIgnored) {
  Learn({State(2, 1, MemberStatus::kAlive)});
  uint64_t inc = core_->incarnation();
  Deliver(Upd(MemberStatus::kSuspect, 1, kMaxIncarnation));
  Deliver(Upd(MemberStatus::kDead, 1, inc + 5));
  Update alive = Upd(MemberStatus::kAlive, 1, inc + 7, 1);
  alive.meta = core_->Self().meta;
  Deliver(alive);
  EXPECT_EQ(core_->incarnation(), inc);
  // An accusation at our incarnation is refuted as always.
  Deliver(Upd(MemberStatus::kSuspect, 1, inc));
  EXPECT_EQ(core_->incarnation(), inc + 1);
}

TEST_F(MembershipTest, FailedProbeGoesIndirectThenSuspects) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive),
         State(4, 1, MemberStatus::kAlive)});
  transport_->sent.clear();
  RunUntil(now_ + core_->config().probe_interval);  // first probe is sent
  auto pings = transport_->Take(Type::kPing);
  ASSERT_EQ(pings.size(), 1u);
  NodeId target = pings[0].to;
  absl::Time sent = now_;
  // Nobody answers: ping-reqs at the probe timeout, to everyone else.
  RunUntil(now_ + absl::Milliseconds(600));
  auto reqs = transport_->Take(Type::kPingReq);
  EXPECT_EQ(reqs.size(), 2u);
  for (const auto& r : reqs) EXPECT_EQ(r.target, target);
  RunUntil(sent + absl::Seconds(2));
  EXPECT_EQ(StatusOf(target), MemberStatus::kSuspect);
  EXPECT_EQ(core_->stats().suspicions_raised, 1u);
  EXPECT_GE(core_->awareness(), 1) << "missing nacks raise the local health score";
}

TEST_F(MembershipTest, AckedProbeSuspectsNobody) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  for (int round = 0; round < 10; ++round) {
    transport_->sent.clear();
    RunUntil(core_->NextDeadline());
    for (auto& m : transport_->Take(Type::kPing)) {
      Message ack = Msg(Type::kAck, m.to, m.seq);
      core_->HandleMessage(ack, now_);
    }
  }
  EXPECT_EQ(StatusOf(2), MemberStatus::kAlive);
  EXPECT_EQ(StatusOf(3), MemberStatus::kAlive);
  EXPECT_GE(core_->stats().acks_received, 5u);
  EXPECT_EQ(core_->awareness(), 0);
}

TEST_F(MembershipTest, PingReqIsRelayedAndAckForwarded) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  transport_->sent.clear();
  Message req = Msg(Type::kPingReq, 2, 77);
  req.target = 3;
  req.target_address = Addr(3);
  core_->HandleMessage(req, now_);
  auto pings = transport_->Take(Type::kPing);
  ASSERT_EQ(pings.size(), 1u);
  EXPECT_EQ(pings[0].to, 3u);
  Message ack = Msg(Type::kAck, 3, pings[0].seq);
  core_->HandleMessage(ack, now_);
  auto acks = transport_->Take(Type::kAck);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].seq, 77u);
  EXPECT_EQ(transport_->sent.back().first, Addr(2));
}

TEST_F(MembershipTest, UnansweredRelayNacks) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  transport_->sent.clear();
  Message req = Msg(Type::kPingReq, 2, 78);
  req.target = 3;
  req.target_address = Addr(3);
  core_->HandleMessage(req, now_);
  RunUntil(now_ + absl::Seconds(1));
  auto nacks = transport_->Take(Type::kNack);
  ASSERT_EQ(nacks.size(), 1u);
  EXPECT_EQ(nacks[0].seq, 78u);
}

TEST_F(MembershipTest, HearingFromASuspectAtANewerIncarnationRefutes) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  Deliver(Upd(MemberStatus::kSuspect, 3, 1, 2), /*from=*/2);
  ASSERT_EQ(StatusOf(3), MemberStatus::kSuspect);
  // Node 3 pings us at incarnation 2: it refuted, we missed the gossip.
  Message ping = Msg(Type::kPing, 3, 9);
  ping.from_incarnation = 2;
  core_->HandleMessage(ping, now_);
  EXPECT_EQ(StatusOf(3), MemberStatus::kAlive);
  EXPECT_EQ(IncOf(3), 2u);
}

// Regression: a node restarted at a new address pings us before its new
// meta reached us. Its contact must not pin the old address to the new
// incarnation (which then hid the real announcement).
TEST_F(MembershipTest, ContactFromANewAddressWaitsForTheAnnouncement) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  Deliver(Upd(MemberStatus::kDead, 3, 1));
  Message ping;
  ping.type = Type::kPing;
  ping.seq = 9;
  ping.from = 3;
  ping.from_address = "n3-new";
  ping.from_incarnation = 2;
  core_->HandleMessage(ping, now_);
  EXPECT_EQ(StatusOf(3), MemberStatus::kDead) << "not from a contact alone";
  Update u = Upd(MemberStatus::kAlive, 3, 2);
  u.meta = Meta("n3-new");
  Deliver(u);
  EXPECT_EQ(StatusOf(3), MemberStatus::kAlive);
  EXPECT_EQ(core_->Find(3)->address(), "n3-new");
}

TEST_F(MembershipTest, ASuspectThatHasNotHeardIsToldDirectly) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  Deliver(Upd(MemberStatus::kSuspect, 3, 1, 2), /*from=*/2);
  transport_->sent.clear();
  Message ping = Msg(Type::kPing, 3, 9);
  ping.from_incarnation = 1;  // still the suspected incarnation
  core_->HandleMessage(ping, now_);
  bool told = false;
  for (auto& [addr, m] : transport_->sent) {
    if (addr != Addr(3)) continue;
    for (const Update& u : m.updates) {
      told |= u.node == 3 && u.kind == MemberStatus::kSuspect;
    }
  }
  EXPECT_TRUE(told);
  EXPECT_EQ(StatusOf(3), MemberStatus::kSuspect);
}

TEST_F(MembershipTest, RefutationsCarryOnlyTheMetaFingerprint) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  Deliver(Upd(MemberStatus::kSuspect, 1, core_->incarnation()));
  transport_->sent.clear();
  Message ping = Msg(Type::kPing, 2, 5);
  core_->HandleMessage(ping, now_);
  bool light = false;
  std::vector<Message> acks = transport_->Take(Type::kAck);
  ASSERT_EQ(acks.size(), 1u);
  for (const Update& u : acks[0].updates) {
    if (u.node == 1 && u.kind == MemberStatus::kAlive) {
      light = u.meta == nullptr &&
              u.meta_fingerprint == core_->Self().meta->fingerprint;
    }
  }
  EXPECT_TRUE(light);
}

TEST_F(MembershipTest, LightAliveAppliesToKnownMembersOnly) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  Update u;
  u.kind = MemberStatus::kAlive;
  u.node = 9;  // never met
  u.incarnation = 4;
  u.meta_fingerprint = 77;
  Deliver(u);
  EXPECT_EQ(core_->Find(9), nullptr);
  Deliver(Upd(MemberStatus::kSuspect, 3, 1, 2));
  u.node = 3;
  u.incarnation = 2;
  u.meta_fingerprint = core_->Find(3)->meta->fingerprint;
  transport_->sent.clear();
  Deliver(u);
  EXPECT_EQ(StatusOf(3), MemberStatus::kAlive);
  EXPECT_TRUE(transport_->Take(Type::kPushPull).empty()) << "meta is current";
}

TEST_F(MembershipTest, LightAliveWithAnotherFingerprintPullsState) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  Update u;
  u.kind = MemberStatus::kAlive;
  u.node = 3;
  u.incarnation = 5;
  u.meta_fingerprint = core_->Find(3)->meta->fingerprint ^ 1;  // changed meta
  transport_->sent.clear();
  Deliver(u);
  EXPECT_EQ(IncOf(3), 5u);
  ASSERT_EQ(transport_->Take(Type::kPushPull).size(), 1u);
  EXPECT_EQ(transport_->sent.back().first, Addr(3));
}

// Review finding: a member's new meta (tokens) announced at incarnation 6,
// then a refutation at 7 that replaced it in the sender's queue. We must
// still end up with the new meta, from the member's own push-pull.
TEST_F(MembershipTest, MissedMetaAnnouncementIsRecoveredFromTheMember) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 5, MemberStatus::kAlive)});
  MetaPtr m2 = Meta(Addr(3), {7, 8, 9});
  Update light;
  light.kind = MemberStatus::kAlive;
  light.node = 3;
  light.incarnation = 7;
  light.meta_fingerprint = m2->fingerprint;
  transport_->sent.clear();
  Deliver(light);
  ASSERT_EQ(transport_->Take(Type::kPushPull).size(), 1u) << "asks node 3";
  EXPECT_TRUE(core_->Find(3)->meta->tokens.empty()) << "not yet";
  uint64_t ring = core_->ring_version();
  Message reply = Msg(Type::kPushPullReply, 3);
  reply.state = {MemberState{3, 7, MemberStatus::kAlive, m2}};
  core_->HandleMessage(reply, now_);
  EXPECT_EQ(core_->Find(3)->meta->tokens, (std::vector<uint64_t>{7, 8, 9}));
  EXPECT_GT(core_->ring_version(), ring);
}

TEST_F(MembershipTest, ExpectedMetaIsAcceptedFromGossipAtTheSameIncarnation) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 5, MemberStatus::kAlive)});
  MetaPtr m2 = Meta(Addr(3), {4, 5});
  Update light;
  light.kind = MemberStatus::kAlive;
  light.node = 3;
  light.incarnation = 7;
  light.meta_fingerprint = m2->fingerprint;
  Deliver(light);
  Update full = light;
  full.meta = m2;
  Deliver(full, /*from=*/2);  // relayed by another member
  EXPECT_EQ(core_->Find(3)->meta->tokens, (std::vector<uint64_t>{4, 5}));
  // But not an arbitrary meta at that incarnation.
  Update other = full;
  other.meta = Meta(Addr(3), {1});
  Deliver(other, 2);
  EXPECT_EQ(core_->Find(3)->meta->tokens, (std::vector<uint64_t>{4, 5}));
}

TEST_F(MembershipTest, RefutationNeverWrapsTheIncarnation) {
  MembershipConfig c;
  c.self = 1;
  c.meta.address = Addr(1);
  c.incarnation = kMaxIncarnation - 1;
  core_ = std::make_unique<Membership>(c, transport_.get(), now_);
  Deliver(Upd(MemberStatus::kSuspect, 1, kMaxIncarnation - 1));
  EXPECT_EQ(core_->incarnation(), kMaxIncarnation);
  Deliver(Upd(MemberStatus::kSuspect, 1, kMaxIncarnation));
  EXPECT_EQ(core_->incarnation(), kMaxIncarnation) << "never past the limit";
}

TEST_F(MembershipTest, NothingAboveTheIncarnationCeilingIsAnnounced) {
  Reset(/*lifeguard=*/true, /*incarnation_ceiling=*/1);
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  Deliver(Upd(MemberStatus::kSuspect, 1, 1));  // refuting needs 2
  EXPECT_EQ(core_->incarnation(), 1u);
  EXPECT_EQ(core_->IncarnationWanted(), 2u);
  MemberMeta meta;
  meta.address = Addr(1);
  meta.tokens = {5, 6};
  core_->UpdateLocalMeta(meta, now_);
  EXPECT_TRUE(core_->Self().meta->tokens.empty()) << "meta waits too";
  transport_->sent.clear();
  RunUntil(now_ + absl::Seconds(3), /*ack=*/true);
  for (auto& [addr, m] : transport_->sent) {
    EXPECT_LE(m.from_incarnation, 1u);
    for (const Update& u : m.updates) {
      if (u.node == 1) {
        EXPECT_LE(u.incarnation, 1u);
      }
    }
  }
  core_->SetIncarnationCeiling(0, now_);  // never lowered
  EXPECT_EQ(core_->IncarnationWanted(), 2u);
  core_->SetIncarnationCeiling(10, now_);
  EXPECT_GE(core_->incarnation(), 2u) << "the refutation went out";
  EXPECT_LE(core_->incarnation(), 10u);
  EXPECT_EQ(core_->Self().meta->tokens, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(core_->IncarnationWanted(), core_->incarnation());
}

TEST_F(MembershipTest, NoMetaChangeAfterLeaving) {
  Learn({State(2, 1, MemberStatus::kAlive)});
  core_->Leave(now_);
  uint64_t inc = core_->incarnation();
  MemberMeta meta = *core_->Self().meta;
  meta.tokens = {1, 2};
  core_->UpdateLocalMeta(meta, now_);
  EXPECT_EQ(core_->Self().status, MemberStatus::kLeft);
  EXPECT_EQ(core_->incarnation(), inc);
}

TEST_F(MembershipTest, SeedThatIsThisNodeUnderAnotherNameIsDropped) {
  transport_->sent.clear();
  core_->Join({"localhost:7000"}, now_);
  auto joins = transport_->Take(Type::kPushPull);
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0].target_address, "localhost:7000");
  core_->HandleMessage(joins[0], now_);  // it came back: the seed is us
  EXPECT_TRUE(core_->joined());
}

TEST_F(MembershipTest, AnUpdateTooLargeToPiggybackDoesNotBlockOthers) {
  std::vector<uint64_t> huge(5000);
  for (size_t i = 0; i < huge.size(); ++i) huge[i] = i;
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive, huge)});
  Deliver(Upd(MemberStatus::kSuspect, 2, 1, 3), 3);
  bool suspect_sent = false;
  for (int i = 0; i < 40 && !suspect_sent; ++i) {
    transport_->sent.clear();
    Message ping = Msg(Type::kPing, 2, 500 + i);
    core_->HandleMessage(ping, now_);
    for (const auto& a : transport_->Take(Type::kAck)) {
      EXPECT_LE(ApproxSize(a), core_->config().max_piggyback_bytes);
      for (const Update& u : a.updates) {
        suspect_sent |= u.node == 2 && u.kind == MemberStatus::kSuspect;
      }
    }
  }
  EXPECT_TRUE(suspect_sent);
}

// Regression: suspicions learned from push-pull are hearsay; counting them
// as confirmations let routine push-pulls drive a healthy node's suspicion
// to its minimum timeout (found at 10% loss in the simulator).
TEST_F(MembershipTest, SuspicionsMergedFromPushPullDoNotConfirm) {
  std::vector<MemberState> states;
  for (NodeId id = 2; id <= 6; ++id) states.push_back(State(id, 1, MemberStatus::kAlive));
  Learn(states);
  absl::Time start = now_;
  Deliver(Upd(MemberStatus::kSuspect, 6, 1, /*from=*/3));
  for (NodeId sender : {2, 4, 5}) {
    Message pp = Msg(Type::kPushPullReply, sender);
    pp.state = {State(6, 1, MemberStatus::kSuspect)};
    core_->HandleMessage(pp, now_);
  }
  // Still the unconfirmed maximum (our own probes of 6 are answered).
  RunUntil(start + core_->MaxSuspicionTimeout() - absl::Milliseconds(1),
           /*ack=*/true);
  EXPECT_EQ(StatusOf(6), MemberStatus::kSuspect);
}

TEST_F(MembershipTest, PingForAnotherNodeIdIsIgnored) {
  transport_->sent.clear();
  Message ping;
  ping.type = Type::kPing;
  ping.seq = 1;
  ping.to = 12345;  // someone else used to live at this address
  ping.from = 2;
  ping.from_address = Addr(2);
  core_->HandleMessage(ping, now_);
  EXPECT_TRUE(transport_->Take(Type::kAck).empty());
  EXPECT_EQ(core_->stats().messages_ignored, 1u);
}

TEST_F(MembershipTest, IdCollisionIsCountedAndIgnored) {
  uint64_t inc = core_->incarnation();
  Update u;
  u.kind = MemberStatus::kAlive;
  u.node = 1;  // our id
  u.incarnation = inc + 10;
  u.meta = Meta("somewhere-else:1");
  Deliver(u);
  EXPECT_EQ(core_->stats().id_collisions, 1u);
  EXPECT_EQ(core_->Self().address(), Addr(1));
  EXPECT_EQ(core_->incarnation(), inc) << "no incarnation war with an impostor";
  EXPECT_EQ(core_->last_collision_address(), "somewhere-else:1");
}

// Push-pull carries only a digest of us; another process with our id shows
// as a fingerprint that is not ours at our incarnation. The node asks for
// that state, and the state names the impostor's address.
TEST_F(MembershipTest, IdCollisionSeenInADigestIsFetchedAndNamed) {
  Learn({State(2, 1, MemberStatus::kAlive)});
  uint64_t inc = core_->incarnation();
  MemberState impostor{1, inc, MemberStatus::kAlive, Meta("impostor:1")};
  transport_->sent.clear();
  Message pp = Msg(Type::kPushPull, 2, 5);
  auto digest = [](const MemberState& st) {
    return MemberDigest{st.id, st.incarnation, st.status,
                        st.meta->fingerprint, st.meta->version,
                        !st.meta->tokens.empty()};
  };
  pp.digests = {digest(impostor), digest(State(2, 1, MemberStatus::kAlive))};
  core_->HandleMessage(pp, now_);
  auto replies = transport_->Take(Type::kPushPullReply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].want, std::vector<NodeId>{1}) << "asks for the state";
  EXPECT_EQ(core_->stats().id_collisions, 0u) << "not yet known where";
  Message leg = Msg(Type::kPushPullReply, 2, 5);
  leg.state = {impostor};
  core_->HandleMessage(leg, now_);
  EXPECT_EQ(core_->stats().id_collisions, 1u);
  EXPECT_EQ(core_->last_collision_address(), "impostor:1");
  EXPECT_EQ(core_->incarnation(), inc) << "no incarnation war";
  EXPECT_EQ(core_->Self().address(), Addr(1));
  // A digest of our own meta at our incarnation is no news.
  transport_->sent.clear();
  pp.digests = {digest(core_->Self())};
  core_->HandleMessage(pp, now_);
  replies = transport_->Take(Type::kPushPullReply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].want.empty());
}

TEST_F(MembershipTest, OurOwnPreviousLifeElsewhereIsNotACollision) {
  Deliver(Upd(MemberStatus::kSuspect, 1, core_->incarnation()));  // inc -> 2
  Update u;
  u.kind = MemberStatus::kAlive;
  u.node = 1;
  u.incarnation = 1;  // older than ours
  u.meta = Meta("old-address:1");
  Deliver(u);
  EXPECT_EQ(core_->stats().id_collisions, 0u);
}

// A peer that learned our new incarnation (after a restart) before our new
// meta gossips our old meta's fingerprint at our new incarnation. That is
// not another process: counting it made a node restarted twice in a row
// refuse to run ("was a data dir copied?").
TEST_F(MembershipTest, OurOldMetaAtOurNewIncarnationIsNotACollision) {
  Update u;
  u.kind = MemberStatus::kAlive;
  u.node = 1;
  u.incarnation = core_->incarnation();
  u.meta_fingerprint = core_->Self().meta->fingerprint ^ 2;  // no meta
  Deliver(u);
  EXPECT_EQ(core_->stats().id_collisions, 0u);
  EXPECT_EQ(core_->Self().status, MemberStatus::kAlive);
}

TEST_F(MembershipTest, FailedProbeOfASuspectConfirmsTheSuspicion) {
  std::vector<MemberState> states;
  for (NodeId id = 2; id <= 6; ++id) states.push_back(State(id, 1, MemberStatus::kAlive));
  Learn(states);
  // Someone else suspects every member; our own probes then fail.
  for (NodeId id = 2; id <= 6; ++id) Deliver(Upd(MemberStatus::kSuspect, id, 1, 2));
  absl::Time start = now_;
  RunUntil(now_ + absl::Seconds(2));  // at least one of our probes failed
  EXPECT_GE(core_->stats().suspicions_raised, 1u);
  // One confirmation: well below the 24 s maximum for some member.
  RunUntil(start + absl::Seconds(16));
  int dead = 0;
  for (NodeId id = 2; id <= 6; ++id) dead += StatusOf(id) == MemberStatus::kDead;
  EXPECT_GE(dead, 1);
}

TEST_F(MembershipTest, RemoveOnlyDeadMembers) {
  Learn({State(2, 1, MemberStatus::kAlive, {5}), State(3, 1, MemberStatus::kAlive, {9})});
  EXPECT_EQ(core_->Remove(2, now_).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(core_->Remove(99, now_).code(), absl::StatusCode::kNotFound);
  Deliver(Upd(MemberStatus::kDead, 2, 1));
  uint64_t v = core_->ring_version();
  ASSERT_TRUE(core_->Remove(2, now_).ok());
  EXPECT_EQ(StatusOf(2), MemberStatus::kLeft);
  EXPECT_GT(core_->ring_version(), v);
  auto ring_members = RingMembersOf(core_->Members());
  ASSERT_EQ(ring_members.size(), 1u);
  EXPECT_EQ(ring_members[0].id, 3u);
}

TEST_F(MembershipTest, DeadMembersStayInTheRing) {
  Learn({State(2, 1, MemberStatus::kAlive, {5}), State(3, 1, MemberStatus::kAlive, {9})});
  uint64_t v = core_->ring_version();
  Deliver(Upd(MemberStatus::kDead, 2, 1));
  EXPECT_EQ(core_->ring_version(), v);
  EXPECT_EQ(RingMembersOf(core_->Members()).size(), 2u);
}

TEST_F(MembershipTest, LeaveSpreadsThenReportsDone) {
  Learn({State(2, 1, MemberStatus::kAlive), State(3, 1, MemberStatus::kAlive)});
  core_->Leave(now_);
  EXPECT_EQ(core_->Self().status, MemberStatus::kLeft);
  for (int i = 0; i < 20 && !core_->LeaveSpread(); ++i) {
    Message ping = Msg(Type::kPing, 2, i);
    core_->HandleMessage(ping, now_);
  }
  EXPECT_TRUE(core_->LeaveSpread());
  // A leaving node does not refute "dead" about itself.
  uint64_t inc = core_->incarnation();
  Deliver(Upd(MemberStatus::kDead, 1, inc));
  EXPECT_EQ(core_->incarnation(), inc);
}

TEST_F(MembershipTest, LocalMetaChangeBumpsIncarnationAndRingVersion) {
  uint64_t inc = core_->incarnation(), v = core_->ring_version();
  MemberMeta meta = *core_->Self().meta;
  meta.tokens = {1, 2, 3};
  core_->UpdateLocalMeta(meta, now_);
  EXPECT_EQ(core_->incarnation(), inc + 1);
  EXPECT_GT(core_->ring_version(), v);
}

TEST_F(MembershipTest, JoinRetriesUntilASeedAnswersAndSkipsItself) {
  transport_->sent.clear();
  core_->Join({Addr(1), "seed-a", "seed-b"}, now_);
  EXPECT_FALSE(core_->joined());
  auto first = transport_->Take(Type::kPushPull);
  ASSERT_EQ(first.size(), 2u) << "our own address is not a seed";
  EXPECT_TRUE(first[0].join);
  transport_->sent.clear();
  RunUntil(now_ + absl::Milliseconds(1500));
  EXPECT_EQ(transport_->Take(Type::kPushPull).size(), 2u) << "retried";
  Learn({State(2, 1, MemberStatus::kAlive)});  // a reply
  EXPECT_TRUE(core_->joined());
}

TEST_F(MembershipTest, NoSeedsIsAClusterOfOne) {
  core_->Join({}, now_);
  EXPECT_TRUE(core_->joined());
  EXPECT_EQ(core_->NumLive(), 1u);
}

}  // namespace
}  // namespace rumor::server
