// The coordinator's quorum state machine, against a scripted transport:
// every remote call is recorded and answered by the test, when and how it
// chooses. What is proved here is what a client relies on: success only
// after W acknowledgements (R replies), failures that say whether anything
// may have been written, hints for replicas that missed a write, and the
// replica side's refusals.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/executor.h"
#include "common/hash.h"
#include "gtest/gtest.h"
#include "server/membership/member_meta.h"
#include "server/membership/message.h"
#include "server/replication/cluster_view.h"
#include "server/replication/coordinator.h"
#include "server/replication/hint_store.h"
#include "server/replication/replica_ops.h"
#include "server/ring/ring.h"
#include "storage/column_store.h"
#include "storage/dvv.h"
#include "storage/mem_engine.h"
#include "storage/object_store.h"

namespace rumor::server {
namespace {

using storage::DvvSet;
using storage::Sibling;
using Kind = ReplicaOp::Kind;

constexpr uint64_t kMax = ~uint64_t{0};

// A transport the test drives: Call records the op and either answers at
// once (AnswerAllWith) or keeps it until the test answers it (Answer).
class FakeTransport final : public ReplicaTransport {
 public:
  struct Sent {
    std::string address;
    ReplicaOp op;
  };

  void Call(const std::string& address, ReplicaOp op, absl::Time,
            ReplyCallback done) override {
    std::optional<absl::Status> now;
    {
      absl::MutexLock lock(&mu_);
      sent_.push_back({address, op});
      auto it = auto_answer_.find(address);
      if (it != auto_answer_.end()) {
        now = it->second;
      } else {
        pending_.push_back({address, std::move(op), std::move(done)});
      }
    }
    // Outside the lock: the callback may call again (read repair).
    if (now.has_value()) {
      ReplicaReply reply;
      reply.status = *now;
      std::move(done)(std::move(reply));
    }
  }
  bool Reachable(const std::string& address) override {
    absl::MutexLock lock(&mu_);
    return !unreachable_.contains(address);
  }

  void SetUnreachable(const std::string& address) {
    absl::MutexLock lock(&mu_);
    unreachable_.insert(address);
  }
  // Every later call to `address` is answered at once with `s`.
  void AnswerAllWith(const std::string& address, absl::Status s) {
    absl::MutexLock lock(&mu_);
    auto_answer_[address] = std::move(s);
  }
  // Answers the oldest unanswered call of `kind` to `address`; false when
  // there is none.
  bool Answer(const std::string& address, Kind kind, ReplicaReply reply) {
    ReplyCallback done;
    {
      absl::MutexLock lock(&mu_);
      auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& p) {
        return p.address == address && p.op.kind == kind;
      });
      if (it == pending_.end()) return false;
      done = std::move(it->done);
      pending_.erase(it);
    }
    std::move(done)(std::move(reply));
    return true;
  }
  bool Answer(const std::string& address, Kind kind, absl::Status s) {
    ReplicaReply reply;
    reply.status = std::move(s);
    return Answer(address, kind, std::move(reply));
  }
  std::vector<Sent> sent() const {
    absl::MutexLock lock(&mu_);
    return sent_;
  }
  // Calls of `kind` sent, by address.
  std::map<std::string, int> SentOf(Kind kind) const {
    std::map<std::string, int> out;
    for (const Sent& s : sent()) {
      if (s.op.kind == kind) ++out[s.address];
    }
    return out;
  }
  size_t pending() const {
    absl::MutexLock lock(&mu_);
    return pending_.size();
  }

 private:
  struct Pending {
    std::string address;
    ReplicaOp op;
    ReplyCallback done;
  };
  mutable absl::Mutex mu_;
  std::vector<Sent> sent_ ABSL_GUARDED_BY(mu_);
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> unreachable_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Status> auto_answer_ ABSL_GUARDED_BY(mu_);
};

std::string Addr(NodeId id) { return absl::StrCat("node", id, ":7000"); }

// One token per node, spread evenly, in id order: the walk from a key
// owned by node 1 is 1, 2, 3, ...
uint64_t TokenOf(NodeId id) { return id * 0x2000000000000000ULL; }

std::shared_ptr<const Ring> RingOf(const std::vector<NodeId>& ids) {
  std::vector<RingMember> members;
  for (NodeId id : ids) members.push_back({id, {TokenOf(id)}});
  return std::make_shared<const Ring>(members);
}

MemberState Member(NodeId id, MemberStatus status = MemberStatus::kAlive,
                   bool joining = false) {
  MemberMeta meta;
  meta.address = Addr(id);
  meta.tokens = {TokenOf(id)};
  meta.joining = joining;
  return MemberState{id, 1, status, MakeMeta(std::move(meta))};
}

std::vector<MemberState> Members(const std::vector<NodeId>& ids) {
  std::vector<MemberState> out;
  for (NodeId id : ids) out.push_back(Member(id));
  return out;
}

// The first of key-0, key-1, ... whose walk in `ring` starts with
// `prefix` (a search, so the tests do not depend on hash values).
std::string KeyWalking(const Ring& ring, const std::vector<NodeId>& prefix) {
  for (int i = 0; i < 100000; ++i) {
    std::string key = absl::StrCat("key-", i);
    std::vector<NodeId> walk = ring.PreferenceList(RingPosition(key), prefix.size());
    if (walk == prefix) return key;
  }
  ADD_FAILURE() << "no key found";
  return "";
}

DvvSet Written(const std::string& value, storage::ActorId actor,
               const storage::VersionVector& context = {}) {
  DvvSet d;
  EXPECT_TRUE(d.Update(context, Sibling::Value(value), actor).ok());
  return d;
}

ReplicaReply Found(const DvvSet& object) {
  ReplicaReply r;
  r.found = true;
  r.object = object.Encode();
  return r;
}
ReplicaReply NotFound() { return ReplicaReply{}; }

// A request's answer, filled in by its callback whenever that runs.
using Outcome = std::shared_ptr<std::optional<absl::StatusOr<ObjectView>>>;

class CoordinatorQuorumTest : public ::testing::Test {
 protected:
  CoordinatorQuorumTest() {
    auto column = storage::ColumnStore::Open(engine_.get(), storage::Column::kHints);
    EXPECT_TRUE(column.ok()) << column.status();
    hint_column_ = std::move(*column);
  }

  // Node 1's coordinator over `view`.
  void Start(std::shared_ptr<const ClusterView> view,
             ReplicationConfig config = {}, size_t max_hints_per_owner = 100) {
    view_ = std::move(view);
    auto hints = HintStore::Open(hint_column_.get(), max_hints_per_owner);
    ASSERT_TRUE(hints.ok()) << hints.status();
    hints_ = std::move(*hints);
    coordinator_ = std::make_unique<Coordinator>(
        &store_, hints_.get(), /*actor=*/1, config, &inline_,
        [this] { return view_; }, &transport_);
  }
  // Nodes `ids` serving, all Alive unless `members` says otherwise.
  void StartRing(const std::vector<NodeId>& ids,
                 std::vector<MemberState> members = {},
                 ReplicationConfig config = {}, size_t max_hints = 100) {
    if (members.empty()) members = Members(ids);
    Start(MakeClusterView(1, RingOf(ids), 1, members), config, max_hints);
  }

  Outcome Put(const std::string& key, const std::string& value,
              RequestOptions options = {}, const std::string& context = "") {
    auto out = std::make_shared<std::optional<absl::StatusOr<ObjectView>>>();
    coordinator_->Put(key, value, context, options, /*return_body=*/false,
                      [out](absl::StatusOr<ObjectView> r) { *out = std::move(r); });
    return out;
  }
  Outcome Get(const std::string& key, RequestOptions options = {}) {
    auto out = std::make_shared<std::optional<absl::StatusOr<ObjectView>>>();
    coordinator_->Get(key, options,
                      [out](absl::StatusOr<ObjectView> r) { *out = std::move(r); });
    return out;
  }
  ReplicaReply Serve(ReplicaOp op) {
    std::optional<ReplicaReply> out;
    coordinator_->Serve(std::move(op), [&](ReplicaReply r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "the inline executor must answer at once";
    if (out.has_value()) return std::move(*out);
    ReplicaReply none;
    none.status = absl::UnknownError("no reply");
    return none;
  }

  std::vector<std::string> LocalValues(const std::string& key) {
    auto got = store_.Get(key);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? got->LiveValues() : std::vector<std::string>{};
  }
  std::optional<DvvSet> HintFor(NodeId owner, const std::string& key) {
    auto got = hints_->Get(owner, key);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::nullopt;
  }

  std::unique_ptr<storage::Engine> engine_ = storage::NewMemEngine();
  storage::ObjectStore store_{engine_.get()};
  std::unique_ptr<storage::ColumnStore> hint_column_;
  std::unique_ptr<HintStore> hints_;
  InlineExecutor inline_;
  FakeTransport transport_;
  std::shared_ptr<const ClusterView> view_;
  std::unique_ptr<Coordinator> coordinator_;
};

// ---------------------------------------------------------------------------
// Writes

// W=2 with the coordinator a replica: its own write is one acknowledgement,
// so the first remote ack completes the request, and not before.
TEST_F(CoordinatorQuorumTest, PutWithW2SucceedsOnTheFirstRemoteAck) {
  StartRing({1, 2, 3});
  Outcome put = Put("k", "v");
  EXPECT_FALSE(put->has_value()) << "answered before any replica acknowledged";
  EXPECT_EQ(LocalValues("k"), std::vector<std::string>{"v"});
  EXPECT_EQ(transport_.SentOf(Kind::kStore),
            (std::map<std::string, int>{{Addr(2), 1}, {Addr(3), 1}}));
  for (const FakeTransport::Sent& s : transport_.sent()) {
    auto object = DvvSet::Decode(s.op.object);
    ASSERT_TRUE(object.ok()) << object.status();
    EXPECT_EQ(object->LiveValues(), std::vector<std::string>{"v"});
    EXPECT_EQ(s.op.key, "k");
    EXPECT_EQ(s.op.hint_for, kNoNode);
  }
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::OkStatus()));
  ASSERT_TRUE(put->has_value());
  EXPECT_TRUE(put->value().ok()) << put->value().status();
  // The straggler's late ack changes nothing.
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, absl::OkStatus()));
  EXPECT_TRUE(put->value().ok());
  EXPECT_EQ(coordinator_->stats().unavailable, 0u);
}

// W=3: the coordinator counts once, so both remote acks are needed.
TEST_F(CoordinatorQuorumTest, PutWithW3NeedsBothRemoteAcks) {
  StartRing({1, 2, 3});
  Outcome put = Put("k", "v", RequestOptions{.w = 3});
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, absl::OkStatus()));
  EXPECT_FALSE(put->has_value()) << "two acks satisfied W=3";
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::OkStatus()));
  ASSERT_TRUE(put->has_value());
  EXPECT_TRUE(put->value().ok()) << put->value().status();
}

// Fewer reachable replicas than W: refuse before writing anything, so the
// client knows a retry cannot duplicate or half-apply the write.
TEST_F(CoordinatorQuorumTest, PutFailsUpFrontWhenFewerThanWReplicasAreReachable) {
  StartRing({1, 2, 3});
  transport_.SetUnreachable(Addr(2));
  transport_.SetUnreachable(Addr(3));
  Outcome put = Put("k", "v");
  ASSERT_TRUE(put->has_value()) << "an up-front refusal must answer at once";
  ASSERT_FALSE(put->value().ok());
  EXPECT_EQ(put->value().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(put->value().status().message(),
                                "nothing was written"))
      << put->value().status();
  EXPECT_TRUE(LocalValues("k").empty()) << "written locally anyway";
  EXPECT_TRUE(transport_.sent().empty());
  EXPECT_TRUE(hints_->Counts().empty()) << "hints kept for a refused write";
  EXPECT_EQ(coordinator_->stats().unavailable, 1u);

  // The same when the replicas are down in membership rather than
  // unreachable.
  StartRing({1, 2, 3}, {Member(1), Member(2, MemberStatus::kDead),
                         Member(3, MemberStatus::kSuspect)});
  put = Put("k2", "v");
  ASSERT_TRUE(put->has_value());
  EXPECT_EQ(put->value().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(LocalValues("k2").empty());
}

// Too few acks in the end: the write was applied here (and maybe on
// others), so the error must not claim nothing was written.
TEST_F(CoordinatorQuorumTest, LateFailuresSayHowManyAckedAndThatTheOutcomeIsUnknown) {
  StartRing({1, 2, 3});
  Outcome put = Put("a", "v");
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, absl::UnavailableError("down")));
  EXPECT_FALSE(put->has_value()) << "failed while node 3 could still ack";
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::UnavailableError("down")));
  ASSERT_TRUE(put->has_value());
  absl::Status s = put->value().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "only 1 of the 2 acknowledgements")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "outcome is unknown")) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "nothing was written")) << s;
  EXPECT_EQ(LocalValues("a"), std::vector<std::string>{"v"});

  // A replica that timed out may have applied it: DEADLINE_EXCEEDED.
  put = Put("b", "v");
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore,
                                absl::DeadlineExceededError("slow")));
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::UnavailableError("down")));
  ASSERT_TRUE(put->has_value());
  s = put->value().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "only 1 of the 2 acknowledgements")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "outcome is unknown")) << s;

  // W=3, one ack and one failure: the count is in the message.
  put = Put("c", "v", RequestOptions{.w = 3});
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, absl::OkStatus()));
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::UnavailableError("down")));
  ASSERT_TRUE(put->has_value());
  s = put->value().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "only 2 of the 3 acknowledgements")) << s;

  CoordinatorStats stats = coordinator_->stats();
  EXPECT_EQ(stats.unavailable, 2u);
  EXPECT_EQ(stats.timeouts, 1u);
}

// A replica that failed to take the write for a passing reason (down,
// storage queue full, slow) still gets it later, from a hint kept here. A
// malformed-request answer is no passing reason: no hint.
TEST_F(CoordinatorQuorumTest, ReplicaThatFailsTheWriteGetsALocalHint) {
  struct Case {
    absl::Status reply;
    bool hint;
  };
  const std::vector<Case> cases = {
      {absl::ResourceExhaustedError("queue full"), true},
      {absl::UnavailableError("down"), true},
      {absl::DeadlineExceededError("slow"), true},
      {absl::InvalidArgumentError("malformed"), false},
  };
  StartRing({1, 2, 3});
  uint64_t stored = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.reply.ToString());
    const std::string key = absl::StrCat("k", i);
    Outcome put = Put(key, "v");
    ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::OkStatus()));
    ASSERT_TRUE(put->has_value() && put->value().ok());
    ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, c.reply));
    std::optional<DvvSet> hint = HintFor(2, key);
    EXPECT_EQ(hint.has_value(), c.hint);
    if (hint.has_value()) {
      EXPECT_EQ(*hint, *store_.Get(key)) << "the hint is not the object written";
      ++stored;
    }
    EXPECT_FALSE(HintFor(3, key).has_value()) << "a hint for a replica that acked";
    EXPECT_EQ(coordinator_->stats().hints_stored, stored);
  }
}

// hints_stored counts hints actually kept: one refused by a full hint queue
// is not counted. (Replies come inline here, as a transport may deliver
// them: the write must complete inside Put.)
TEST_F(CoordinatorQuorumTest, HintsStoredCountsOnlyHintsActuallyKept) {
  StartRing({1, 2, 3}, {}, {}, /*max_hints=*/1);
  transport_.AnswerAllWith(Addr(2), absl::UnavailableError("down"));
  transport_.AnswerAllWith(Addr(3), absl::OkStatus());
  Outcome first = Put("k1", "v");
  ASSERT_TRUE(first->has_value() && first->value().ok());
  ASSERT_TRUE(HintFor(2, "k1").has_value());
  EXPECT_EQ(coordinator_->stats().hints_stored, 1u);

  Outcome second = Put("k2", "v");
  ASSERT_TRUE(second->has_value() && second->value().ok());
  EXPECT_FALSE(HintFor(2, "k2").has_value());
  EXPECT_EQ(hints_->dropped(), 1u) << "the hint was not even tried";
  EXPECT_EQ(coordinator_->stats().hints_stored, 1u) << "a refused hint was counted";
  EXPECT_EQ(transport_.pending(), 0u);
}

// A replica down with nowhere to stand in for it (a 3-node cluster): the
// coordinator keeps its hint, but that copy on this node is no second
// replica and must not count toward W.
TEST_F(CoordinatorQuorumTest, LocalHintForAMissingReplicaDoesNotCountTowardW) {
  StartRing({1, 2, 3}, {Member(1), Member(2), Member(3, MemberStatus::kDead)});
  Outcome put = Put("k", "v");
  EXPECT_EQ(transport_.SentOf(Kind::kStore), (std::map<std::string, int>{{Addr(2), 1}}));
  ASSERT_TRUE(HintFor(3, "k").has_value()) << "no hint kept for the down replica";
  EXPECT_EQ(coordinator_->stats().hints_stored, 1u);
  EXPECT_FALSE(put->has_value()) << "the local hint counted toward W";
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, absl::OkStatus()));
  ASSERT_TRUE(put->has_value());
  EXPECT_TRUE(put->value().ok()) << put->value().status();
}

// Before its cluster has answered, a node's ring is only its own view of
// itself: acting on it would put every key here alone.
TEST_F(CoordinatorQuorumTest, NotJoinedRefusesReadsAndWritesAndWritesNothing) {
  Start(MakeClusterView(1, RingOf({1, 2, 3}), 1, Members({1, 2, 3}),
                        /*joined=*/false));
  Outcome put = Put("k", "v");
  ASSERT_TRUE(put->has_value());
  EXPECT_EQ(put->value().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(put->value().status().message(), "not joined"))
      << put->value().status();
  Outcome get = Get("k");
  ASSERT_TRUE(get->has_value());
  EXPECT_EQ(get->value().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(get->value().status().message(), "not joined"))
      << get->value().status();
  std::optional<absl::Status> del;
  coordinator_->Delete("k", "", {}, [&](absl::Status s) { del = s; });
  ASSERT_TRUE(del.has_value());
  EXPECT_EQ(del->code(), absl::StatusCode::kUnavailable);

  EXPECT_TRUE(transport_.sent().empty());
  auto local = store_.Get("k");
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(local->empty()) << "written although not joined";
  EXPECT_TRUE(hints_->Counts().empty());
}

// A cluster still forming (one serving node, two pulling): its writes must
// still reach two nodes, so acks of joining members count for what the
// serving replicas cannot give.
TEST_F(CoordinatorQuorumTest, JoiningAcksCompleteAWriteWhenWExceedsTheServingReplicas) {
  std::vector<MemberState> members = {Member(1), Member(2, MemberStatus::kAlive, true),
                                      Member(3, MemberStatus::kAlive, true)};
  Start(MakeClusterView(1, RingOf({1}), 1, members, true, RingOf({1, 2, 3})));
  Outcome put = Put("k", "v");
  EXPECT_FALSE(put->has_value()) << "W=2 answered by this node alone";
  for (const FakeTransport::Sent& s : transport_.sent()) {
    EXPECT_EQ(s.op.kind, Kind::kStore) << "joining members take plain writes";
    EXPECT_EQ(s.op.hint_for, kNoNode);
  }
  EXPECT_EQ(transport_.SentOf(Kind::kStore),
            (std::map<std::string, int>{{Addr(2), 1}, {Addr(3), 1}}));
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::OkStatus()));
  ASSERT_TRUE(put->has_value());
  EXPECT_TRUE(put->value().ok()) << put->value().status();
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, absl::OkStatus()));
  ASSERT_EQ(transport_.pending(), 0u);

  // Both joining members fail: only this node has it.
  put = Put("k2", "v");
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, absl::UnavailableError("down")));
  EXPECT_FALSE(put->has_value());
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::UnavailableError("down")));
  ASSERT_TRUE(put->has_value());
  EXPECT_EQ(put->value().status().code(), absl::StatusCode::kUnavailable);
}

// With enough serving replicas a joining member still gets the write (it
// must miss nothing while it pulls) but its ack is no replica's: it may
// still lack older writes, and it serves no reads yet.
TEST_F(CoordinatorQuorumTest, JoiningAckAloneDoesNotCompleteAWriteServingReplicasCanAck) {
  std::vector<MemberState> members = Members({1, 2, 3});
  members.push_back(Member(4, MemberStatus::kAlive, true));
  auto full = RingOf({1, 2, 3, 4});
  Start(MakeClusterView(1, RingOf({1, 2, 3}), 1, members, true, full));
  // Keys whose full preference list (N=3) includes node 4 and self: walk
  // 4, 1, 2 in the full ring.
  const std::string key = KeyWalking(*full, {4, 1, 2});
  Outcome put = Put(key, "v");
  EXPECT_EQ(transport_.SentOf(Kind::kStore),
            (std::map<std::string, int>{{Addr(2), 1}, {Addr(3), 1}, {Addr(4), 1}}));
  ASSERT_TRUE(transport_.Answer(Addr(4), Kind::kStore, absl::OkStatus()));
  EXPECT_FALSE(put->has_value()) << "a joining member's ack counted toward W";
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, absl::OkStatus()));
  ASSERT_TRUE(put->has_value());
  EXPECT_TRUE(put->value().ok()) << put->value().status();
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::OkStatus()));
  ASSERT_EQ(transport_.pending(), 0u);

  // The serving replicas fail: the joining ack does not rescue the write.
  put = Put(key, "v2");
  ASSERT_TRUE(transport_.Answer(Addr(4), Kind::kStore, absl::OkStatus()));
  ASSERT_TRUE(transport_.Answer(Addr(2), Kind::kStore, absl::UnavailableError("down")));
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kStore, absl::UnavailableError("down")));
  ASSERT_TRUE(put->has_value());
  absl::Status s = put->value().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "only 1 of the 2")) << s;
}

// ---------------------------------------------------------------------------
// Reads

// Five nodes, node 2 down: node 4 stands in for it. A stand-in without a
// hint for the key is no copy of it; counting its "not found" would turn a
// read that missed every real copy into a confident "not found".
TEST_F(CoordinatorQuorumTest, FallbackWithoutTheKeyDoesNotCountTowardR) {
  std::vector<MemberState> members = Members({1, 2, 3, 4, 5});
  members[1] = Member(2, MemberStatus::kDead);
  StartRing({1, 2, 3, 4, 5}, members);
  const std::string key = KeyWalking(*view_->ring, {1, 2, 3, 4, 5});
  Outcome get = Get(key);
  // This node answered (not found); the fallback is asked for its hint.
  bool asked_fallback = false;
  for (const FakeTransport::Sent& s : transport_.sent()) {
    ASSERT_EQ(s.op.kind, Kind::kFetch);
    if (s.address == Addr(4)) {
      asked_fallback = true;
      EXPECT_EQ(s.op.hint_for, 2u) << "the fallback must be asked for the hint";
    }
  }
  EXPECT_TRUE(asked_fallback);
  EXPECT_FALSE(get->has_value());
  ASSERT_TRUE(transport_.Answer(Addr(4), Kind::kFetch, NotFound()));
  EXPECT_FALSE(get->has_value()) << "the fallback's not-found counted toward R";
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kFetch, absl::UnavailableError("down")));
  ASSERT_TRUE(get->has_value());
  absl::Status s = get->value().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable)
      << "a read that reached one real copy answered: " << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "only 1 of the 2 replies")) << s;
}

TEST_F(CoordinatorQuorumTest, FallbackHoldingAHintCountsTowardR) {
  std::vector<MemberState> members = Members({1, 2, 3, 4, 5});
  members[1] = Member(2, MemberStatus::kDead);
  StartRing({1, 2, 3, 4, 5}, members);
  const std::string key = KeyWalking(*view_->ring, {1, 2, 3, 4, 5});
  Outcome get = Get(key);
  ASSERT_TRUE(transport_.Answer(Addr(4), Kind::kFetch, Found(Written("hinted", 2))));
  ASSERT_TRUE(get->has_value()) << "a fallback's hint did not count toward R";
  ASSERT_TRUE(get->value().ok()) << get->value().status();
  EXPECT_TRUE(get->value()->found);
  EXPECT_EQ(get->value()->values, std::vector<std::string>{"hinted"});
  EXPECT_EQ(transport_.pending(), 1u) << "node 3 is still to answer";
}

// A replica keeps hints only for writes it took itself (the other
// replicas were down with no fallback): such a hint is no second copy, and
// counting it would let an R=2 read be answered by this node alone, before
// the replica holding a newer write acknowledged by W=2 replies.
TEST_F(CoordinatorQuorumTest, OwnHintIsNoSecondReplyTowardR) {
  StartRing({1, 2, 3}, {Member(1), Member(2, MemberStatus::kDead), Member(3)});
  const std::string key = "k";
  // An old write that this node has, and still holds an undelivered hint
  // of for node 2.
  DvvSet old_object = Written("old", 3);
  ASSERT_TRUE(store_.Merge(key, old_object).ok());
  ASSERT_TRUE(hints_->Store(2, key, old_object).ok());
  // Node 3 has the newer write.
  DvvSet new_object = Written("new", 3, old_object.Join());
  Outcome get = Get(key);
  EXPECT_FALSE(get->has_value())
      << "R=2 answered by this node alone: "
      << (get->has_value() && get->value().ok()
              ? absl::StrJoin(get->value()->values, ",")
              : "");
  ASSERT_TRUE(transport_.Answer(Addr(3), Kind::kFetch, Found(new_object)));
  ASSERT_TRUE(get->has_value());
  ASSERT_TRUE(get->value().ok());
  EXPECT_EQ(get->value()->values, std::vector<std::string>{"new"});
}

// ---------------------------------------------------------------------------
// The replica side

ReplicaOp StoreOp(const std::string& key, const DvvSet& object,
                  Kind kind = Kind::kStore, NodeId hint_for = kNoNode) {
  ReplicaOp op;
  op.kind = kind;
  op.key = key;
  op.object = object.Encode();
  op.hint_for = hint_for;
  return op;
}

// A node that has left must not accept writes: they would leave with it.
// The sender keeps a hint or asks another replica instead.
TEST_F(CoordinatorQuorumTest, ServeStoreOnANodeThatHasLeftIsUnavailable) {
  StartRing({1, 2, 3}, {Member(1, MemberStatus::kLeft), Member(2), Member(3)});
  ReplicaReply r = Serve(StoreOp("k", Written("v", 2)));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_TRUE(LocalValues("k").empty()) << "a node that left took the write";
  r = Serve(StoreOp("k", Written("v", 2), Kind::kStoreHint, 3));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_TRUE(hints_->Counts().empty());

  // The same op on a node that is Alive is taken.
  StartRing({1, 2, 3});
  r = Serve(StoreOp("k", Written("v", 2)));
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(LocalValues("k"), std::vector<std::string>{"v"});
  EXPECT_EQ(coordinator_->stats().replica_writes, 1u);
}

// A hint held by its own owner would never be delivered (and the owner is
// up: it should have taken the write itself).
TEST_F(CoordinatorQuorumTest, ServeStoreHintForSelfIsInvalidArgument) {
  StartRing({1, 2, 3});
  ReplicaReply r = Serve(StoreOp("k", Written("v", 2), Kind::kStoreHint, 1));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << r.status;
  EXPECT_TRUE(hints_->Counts().empty());
  EXPECT_EQ(coordinator_->stats().hints_stored, 0u);

  // A hint for another node is kept and counted.
  r = Serve(StoreOp("k", Written("v", 2), Kind::kStoreHint, 3));
  EXPECT_TRUE(r.status.ok()) << r.status;
  ASSERT_TRUE(HintFor(3, "k").has_value());
  EXPECT_EQ(HintFor(3, "k")->LiveValues(), std::vector<std::string>{"v"});
  EXPECT_EQ(coordinator_->stats().hints_stored, 1u);
  EXPECT_TRUE(LocalValues("k").empty()) << "a hint went into the data column";
}

// Joining nodes pull their ranges page by page: every key exactly once,
// in order, whatever the page size.
TEST_F(CoordinatorQuorumTest, ServeScanPagesThroughEveryStoredKeyOnce) {
  StartRing({1, 2, 3});
  std::map<std::string, std::string> stored;  // key -> encoded object
  for (int i = 0; i < 10; ++i) {
    std::string key = absl::StrCat("scan-", i);
    DvvSet object = Written(absl::StrCat("v", i), 2);
    ASSERT_TRUE(Serve(StoreOp(key, object)).status.ok());
    stored[key] = object.Encode();
  }
  std::vector<std::string> order;
  for (const auto& [k, o] : stored) order.push_back(k);
  std::sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
    return storage::DataKey(a) < storage::DataKey(b);
  });

  std::vector<std::string> seen;
  std::vector<std::pair<size_t, bool>> pages;  // (entries, more)
  std::string after;
  for (int page = 0; page < 20; ++page) {
    ReplicaOp op;
    op.kind = Kind::kScan;
    op.scan_first = 0;
    op.scan_last = kMax;
    op.limit = 4;
    op.key = after;
    ReplicaReply r = Serve(std::move(op));
    ASSERT_TRUE(r.status.ok()) << r.status;
    pages.push_back({r.entries.size(), r.more});
    for (const auto& [k, o] : r.entries) {
      seen.push_back(k);
      EXPECT_EQ(o, stored[k]) << k;
    }
    if (!r.more) break;
    ASSERT_FALSE(r.entries.empty()) << "more set on an empty page";
    after = r.entries.back().first;
  }
  EXPECT_EQ(pages, (std::vector<std::pair<size_t, bool>>{{4, true}, {4, true}, {2, false}}));
  EXPECT_EQ(seen, order) << "keys missed, repeated or out of order";

  // A sub-range: only the keys whose positions lie in it.
  const uint64_t mid = kMax / 2;
  ReplicaOp op;
  op.kind = Kind::kScan;
  op.scan_first = 0;
  op.scan_last = mid;
  op.limit = kMaxScanLimit;
  ReplicaReply r = Serve(std::move(op));
  ASSERT_TRUE(r.status.ok()) << r.status;
  std::vector<std::string> in_range, want;
  for (const auto& [k, o] : r.entries) in_range.push_back(k);
  for (const std::string& k : order) {
    if (RingPosition(k) <= mid) want.push_back(k);
  }
  EXPECT_EQ(in_range, want);
  EXPECT_FALSE(r.more);
}

TEST_F(CoordinatorQuorumTest, ServeMalformedScanIsInvalidArgument) {
  StartRing({1, 2, 3});
  ASSERT_TRUE(Serve(StoreOp("k", Written("v", 2))).status.ok());
  struct Case {
    std::string name;
    uint64_t first, last;
    uint32_t limit;
  };
  for (const Case& c : std::vector<Case>{
           {"first > last", 10, 9, 10},
           {"limit 0", 0, kMax, 0},
           {"limit above the cap", 0, kMax, kMaxScanLimit + 1},
       }) {
    ReplicaOp op;
    op.kind = Kind::kScan;
    op.scan_first = c.first;
    op.scan_last = c.last;
    op.limit = c.limit;
    ReplicaReply r = Serve(std::move(op));
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_TRUE(r.entries.empty()) << c.name;
  }
  // The bounds themselves are fine.
  ReplicaOp op;
  op.kind = Kind::kScan;
  op.scan_first = RingPosition("k");
  op.scan_last = RingPosition("k");
  op.limit = kMaxScanLimit;
  ReplicaReply r = Serve(std::move(op));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].first, "k");
}

}  // namespace
}  // namespace rumor::server
