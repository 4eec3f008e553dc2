// The anti-entropy runner without a network: two nodes' stores and
// runners, and a transport that hands each op straight to the other side
// (kTree to its runner, kFetch/kStore to its store), inline.
#include "server/antientropy/anti_entropy.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/membership/member_meta.h"
#include "storage/mem_engine.h"

namespace rumor::server {
namespace {

using storage::DvvSet;
using storage::Sibling;

struct Side;

class DirectTransport final : public ReplicaTransport {
 public:
  std::map<std::string, Side*> sides;
  void Call(const std::string& address, ReplicaOp op, absl::Time,
            ReplyCallback done) override;
  bool Reachable(const std::string& address) override {
    return sides.contains(address);
  }
};

struct Side {
  NodeId id;
  std::string address;
  std::unique_ptr<storage::Engine> engine = storage::NewMemEngine();
  std::unique_ptr<storage::ObjectStore> store =
      std::make_unique<storage::ObjectStore>(engine.get());
  InlineExecutor executor;
  std::unique_ptr<AntiEntropy> ae;
};

void DirectTransport::Call(const std::string& address, ReplicaOp op,
                           absl::Time, ReplyCallback done) {
  auto it = sides.find(address);
  ReplicaReply r;
  if (it == sides.end()) {
    r.status = absl::UnavailableError("no such node");
    std::move(done)(std::move(r));
    return;
  }
  Side* side = it->second;
  switch (op.kind) {
    case ReplicaOp::Kind::kTree:
    case ReplicaOp::Kind::kReap:
      side->ae->Serve(std::move(op), std::move(done));
      return;
    case ReplicaOp::Kind::kFetch: {
      auto got = side->store->Get(op.key);
      r.status = got.status();
      if (got.ok() && !got->empty()) {
        r.found = true;
        r.object = got->Encode();
      }
      break;
    }
    case ReplicaOp::Kind::kStore: {
      auto object = DvvSet::Decode(op.object);
      r.status = object.ok() ? side->store->Merge(op.key, *object).status()
                             : object.status();
      break;
    }
    default:
      r.status = absl::UnimplementedError("not in this test");
  }
  std::move(done)(std::move(r));
}

class AntiEntropyRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_.id = 1;
    a_.address = "a:1";
    b_.id = 2;
    b_.address = "b:1";
    transport_.sides = {{a_.address, &a_}, {b_.address, &b_}};
    std::vector<RingMember> members = {{1, {100, 1ull << 62}},
                                       {2, {1ull << 61, 3ull << 62}}};
    auto ring = std::make_shared<const Ring>(members);
    std::vector<MemberState> states;
    for (Side* s : {&a_, &b_}) {
      MemberMeta meta;
      meta.address = s->address;
      states.push_back(MemberState{s->id, 1, MemberStatus::kAlive,
                                   MakeMeta(std::move(meta))});
    }
    for (Side* s : {&a_, &b_}) {
      auto view = MakeClusterView(s->id, ring, 1, states);
      AntiEntropyOptions o;
      o.self = s->id;
      o.replicas = 3;
      o.segment_bits = 12;
      o.interval = absl::ZeroDuration();  // only RunNow
      o.max_keys_per_second = 0;
      o.max_bytes_per_second = 0;
      o.foreground_busy = [this] { return busy_left_.fetch_sub(1) > 0; };
      Tweak(*s, &o);
      s->ae = std::make_unique<AntiEntropy>(s->store.get(), &transport_,
                                            &s->executor,
                                            [view] { return view; }, o);
      s->ae->Start();
    }
  }
  void TearDown() override {
    for (Side* s : {&a_, &b_}) s->ae->Stop();
  }
  virtual void Tweak(Side&, AntiEntropyOptions*) {}

  absl::StatusOr<std::vector<ExchangeReport>> RunNow(Side& s, NodeId peer) {
    struct Result {
      absl::Notification done;
      absl::StatusOr<std::vector<ExchangeReport>> out;
    };
    auto result = std::make_shared<Result>();  // outlives a late answer
    s.ae->RunNow(peer,
                 [result](absl::StatusOr<std::vector<ExchangeReport>> r) {
                   result->out = std::move(r);
                   result->done.Notify();
                 });
    if (!result->done.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      ADD_FAILURE() << "no report within 30 s";
      return absl::DeadlineExceededError("no report");
    }
    return result->out;
  }

  void WaitReady() {
    for (Side* s : {&a_, &b_}) {
      absl::Time end = absl::Now() + absl::Seconds(10);
      while (!s->ae->GetState().ready && absl::Now() < end) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      ASSERT_TRUE(s->ae->GetState().ready);
    }
  }

  Side a_, b_;
  DirectTransport transport_;
  std::atomic<int> busy_left_{0};
};

TEST_F(AntiEntropyRunnerTest, RepairsBothWaysAndMergesSiblings) {
  WaitReady();
  for (int i = 0; i < 50; ++i) {
    std::string key = "only-a-" + std::to_string(i);
    ASSERT_TRUE(a_.store->Update(key, {}, Sibling::Value("a"), 0xa).ok());
    key = "only-b-" + std::to_string(i);
    ASSERT_TRUE(b_.store->Update(key, {}, Sibling::Value("b"), 0xb).ok());
  }
  ASSERT_TRUE(a_.store->Update("both", {}, Sibling::Value("from-a"), 0xa).ok());
  ASSERT_TRUE(b_.store->Update("both", {}, Sibling::Value("from-b"), 0xb).ok());
  auto reports = RunNow(a_, b_.id);
  ASSERT_TRUE(reports.ok()) << reports.status();
  ASSERT_EQ(reports->size(), 1u);
  const ExchangeReport& r = (*reports)[0];
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.differing, 101u);
  EXPECT_EQ(r.repaired_here, 51u);   // 50 only-b keys and "both"
  EXPECT_EQ(r.repaired_peer, 51u);   // 50 only-a keys and "both"
  for (Side* s : {&a_, &b_}) {
    auto both = s->store->Get("both");
    ASSERT_TRUE(both.ok());
    std::vector<std::string> values = both->LiveValues();
    std::sort(values.begin(), values.end());
    EXPECT_EQ(values, (std::vector<std::string>{"from-a", "from-b"}));
    for (int i = 0; i < 50; ++i) {
      EXPECT_TRUE(s->store->Get("only-a-" + std::to_string(i))->HasLiveValue());
      EXPECT_TRUE(s->store->Get("only-b-" + std::to_string(i))->HasLiveValue());
    }
  }
  // Converged: the next exchange finds nothing.
  reports = RunNow(b_, a_.id);
  ASSERT_TRUE(reports.ok());
  EXPECT_EQ((*reports)[0].differing, 0u);
  EXPECT_EQ(a_.ae->GetState().counters.exchanges, 1u);
  EXPECT_EQ(b_.ae->GetState().counters.exchanges, 1u);
}

TEST_F(AntiEntropyRunnerTest, BacksOffWhileClientsAreBusyThenFinishes) {
  WaitReady();
  ASSERT_TRUE(a_.store->Update("k", {}, Sibling::Value("v"), 0xa).ok());
  busy_left_ = 3;  // busy for the next three checks
  absl::Time start = absl::Now();
  auto reports = RunNow(a_, b_.id);
  ASSERT_TRUE(reports.ok()) << reports.status();
  EXPECT_EQ((*reports)[0].repaired_peer, 1u);
  EXPECT_GE(a_.ae->GetState().counters.backoffs, 3u);
  // Pauses of 50, 100 and 200 ms.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(350));
  EXPECT_TRUE(b_.store->Get("k")->HasLiveValue());
}

TEST_F(AntiEntropyRunnerTest, UnknownPeerIsRefusedNamingIt) {
  WaitReady();
  auto reports = RunNow(a_, 99);
  EXPECT_EQ(reports.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(reports.status().message().find("shares no ring range"),
            std::string::npos)
      << reports.status();
}

// Tombstone reaping between the two sides (both replicate every key):
// deleted keys go from both disks only once both hold the same tombstone
// and neither holds a hint for them.
class AntiEntropyReapTest : public AntiEntropyRunnerTest {
 protected:
  void Tweak(Side& s, AntiEntropyOptions* o) override {
    o->tombstone_grace = absl::Milliseconds(50);
    NodeId id = s.id;
    o->holds_hint = [this, id](std::string_view key) {
      absl::MutexLock lock(&hints_mu_);
      return hinted_.contains({id, std::string(key)});
    };
  }
  static DvvSet Written(const std::string& value) {
    DvvSet obj;
    EXPECT_TRUE(obj.Update({}, Sibling::Value(value), 0xa).ok());
    return obj;
  }
  static DvvSet Deleted(DvvSet obj) {
    EXPECT_TRUE(obj.Update(obj.Join(), Sibling::Tombstone(), 0xa).ok());
    return obj;
  }
  static bool Gone(Side& s, const std::string& key) {
    auto got = s.store->Get(key);
    return got.ok() && got->empty();
  }
  static bool IsTombstone(Side& s, const std::string& key) {
    auto got = s.store->Get(key);
    return got.ok() && !got->empty() && !got->HasLiveValue();
  }
  // Polls `cond` for up to 10 s.
  static bool Eventually(const std::function<bool()>& cond) {
    absl::Time end = absl::Now() + absl::Seconds(10);
    while (!cond()) {
      if (absl::Now() > end) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }
  ReplicaReply Ask(Side& s, ReplicaOp op) {
    ReplicaReply out;
    transport_.Call(s.address, std::move(op), absl::InfiniteFuture(),
                    [&out](ReplicaReply r) { out = std::move(r); });
    return out;
  }

  absl::Mutex hints_mu_;
  std::set<std::pair<NodeId, std::string>> hinted_ ABSL_GUARDED_BY(hints_mu_);
};

TEST_F(AntiEntropyReapTest, ATombstoneBothHoldIsReapedFromBoth) {
  WaitReady();
  DvvSet gone = Deleted(Written("v"));
  absl::Time deleted = absl::Now();
  ASSERT_TRUE(a_.store->Merge("x", gone).ok());
  ASSERT_TRUE(b_.store->Merge("x", gone).ok());
  ASSERT_TRUE(a_.store->Merge("kept", Written("live")).ok());
  ASSERT_TRUE(Eventually([&] { return Gone(a_, "x") && Gone(b_, "x"); }));
  // Not before its grace (50 ms here), on either side.
  EXPECT_GE(absl::Now() - deleted, absl::Milliseconds(50));
  EXPECT_GE(a_.ae->GetState().reaping.reaped +
                b_.ae->GetState().reaping.reaped,
            1u);
  EXPECT_TRUE(a_.store->Get("kept")->HasLiveValue()) << "live keys stay";
  EXPECT_TRUE(Eventually([&] {
    return a_.ae->GetState().reaping.pending == 0 &&
           b_.ae->GetState().reaping.pending == 0;
  }));
}

// One replica still holds the value the tombstone deleted: reaping waits
// (reaping would let repair bring the value back), until an exchange
// gives it the tombstone; then both go, and the value never returns.
TEST_F(AntiEntropyReapTest, NotReapedUntilEveryReplicaHoldsTheTombstone) {
  WaitReady();
  DvvSet written = Written("old");
  ASSERT_TRUE(a_.store->Merge("x", Deleted(written)).ok());
  ASSERT_TRUE(b_.store->Merge("x", written).ok());
  ASSERT_TRUE(Eventually([&] { return a_.ae->GetState().reaping.kept >= 2; }))
      << "a never checked its tombstone against b";
  EXPECT_TRUE(IsTombstone(a_, "x"));
  EXPECT_TRUE(b_.store->Get("x")->HasLiveValue());
  auto reports = RunNow(a_, b_.id);
  ASSERT_TRUE(reports.ok()) << reports.status();
  ASSERT_TRUE(Eventually([&] { return Gone(a_, "x") && Gone(b_, "x"); }));
  reports = RunNow(b_, a_.id);
  ASSERT_TRUE(reports.ok()) << reports.status();
  EXPECT_EQ((*reports)[0].differing, 0u);
  EXPECT_TRUE(Gone(a_, "x"));
  EXPECT_TRUE(Gone(b_, "x"));
}

// A replica that holds nothing for the key (it missed the write and the
// delete) is not "agreeing": the tombstone stays until repair gives it one.
TEST_F(AntiEntropyReapTest, AReplicaWithoutTheTombstoneKeepsItEverywhere) {
  WaitReady();
  ASSERT_TRUE(a_.store->Merge("x", Deleted(Written("v"))).ok());
  ASSERT_TRUE(Eventually([&] { return a_.ae->GetState().reaping.kept >= 2; }));
  EXPECT_TRUE(IsTombstone(a_, "x"));
  EXPECT_TRUE(Gone(b_, "x"));
  ASSERT_TRUE(RunNow(a_, b_.id).ok());
  EXPECT_TRUE(Eventually([&] { return Gone(a_, "x") && Gone(b_, "x"); }));
}

// A hint may carry an older value of the key (hinted handoff would bring
// it back): while either side holds one, the tombstone stays.
TEST_F(AntiEntropyReapTest, AHeldHintKeepsTheTombstone) {
  WaitReady();
  {
    absl::MutexLock lock(&hints_mu_);
    hinted_.insert({b_.id, "x"});
  }
  DvvSet gone = Deleted(Written("v"));
  ASSERT_TRUE(a_.store->Merge("x", gone).ok());
  ASSERT_TRUE(b_.store->Merge("x", gone).ok());
  ASSERT_TRUE(Eventually([&] {
    return a_.ae->GetState().reaping.kept >= 2 &&
           b_.ae->GetState().reaping.kept >= 2;
  }));
  EXPECT_TRUE(IsTombstone(a_, "x"));
  EXPECT_TRUE(IsTombstone(b_, "x"));
  {
    absl::MutexLock lock(&hints_mu_);
    hinted_.clear();
  }
  EXPECT_TRUE(Eventually([&] { return Gone(a_, "x") && Gone(b_, "x"); }));
}

// Whatever a peer asks, a removal takes only a tombstone still encoded as
// the asker saw it: never a live value, never a changed tombstone.
TEST_F(AntiEntropyReapTest, ARemovalNeverTakesALiveValue) {
  WaitReady();
  DvvSet live = Written("live");
  ASSERT_TRUE(b_.store->Merge("live", live).ok());
  ReplicaOp check;
  check.kind = ReplicaOp::Kind::kReap;
  check.keys = {"live", "absent"};
  ReplicaReply r = Ask(b_, check);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.hashes.size(), 2u);
  ASSERT_EQ(r.flags.size(), 2u);
  EXPECT_NE(r.hashes[0], 0u);
  EXPECT_EQ(r.hashes[1], 0u) << "absent keys hash to 0";
  EXPECT_TRUE(r.flags[0]) << "a live key is never one to remove";
  EXPECT_FALSE(r.flags[1]) << "nothing held, no hint: no objection";

  ReplicaOp remove = check;
  remove.reap_remove = true;
  remove.keys = {"live"};
  remove.expected = {r.hashes[0]};
  r = Ask(b_, remove);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.flags.size(), 1u);
  EXPECT_FALSE(r.flags[0]);
  EXPECT_TRUE(b_.store->Get("live")->HasLiveValue());

  // A tombstone that changed since the check stays too, even once b
  // would remove it (its grace passed: its check no longer says "keep").
  ASSERT_TRUE(b_.store->Merge("t", Deleted(Written("v"))).ok());
  ReplicaOp check_t = check;
  check_t.keys = {"t"};
  uint64_t t_hash = 0;
  ASSERT_TRUE(Eventually([&] {
    ReplicaReply c = Ask(b_, check_t);
    t_hash = c.hashes.empty() ? 0 : c.hashes[0];
    return c.status.ok() && c.flags.size() == 1 && !c.flags[0];
  }));
  ReplicaOp stale = remove;
  stale.keys = {"t"};
  stale.expected = {t_hash + 1};
  r = Ask(b_, stale);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.flags.size(), 1u);
  EXPECT_FALSE(r.flags[0]);
  EXPECT_TRUE(IsTombstone(b_, "t"));
  stale.expected = {t_hash};  // as it is: now it goes
  r = Ask(b_, stale);
  ASSERT_EQ(r.flags.size(), 1u);
  EXPECT_TRUE(r.flags[0]);
  EXPECT_TRUE(Gone(b_, "t"));

  remove.expected.clear();
  EXPECT_EQ(Ask(b_, remove).status.code(), absl::StatusCode::kInvalidArgument)
      << "a removal without hashes is malformed";
}

// The runner's periodic tree check: it finds a segment that drifted from
// the data, corrects it, counts it, and the next run finds nothing.
class AntiEntropyVerifyTest : public AntiEntropyRunnerTest {
 protected:
  void Tweak(Side&, AntiEntropyOptions* o) override {
    o->verify_interval = absl::Milliseconds(50);
  }
};

TEST_F(AntiEntropyVerifyTest, ThePeriodicCheckCorrectsDrift) {
  WaitReady();
  ASSERT_TRUE(a_.store->Update("k", {}, Sibling::Value("v"), 0xa).ok());
  a_.ae->tree().Apply(a_.ae->tree().SegmentStart(3), 0xbad);
  absl::Time end = absl::Now() + absl::Seconds(30);
  AntiEntropy::State st = a_.ae->GetState();
  while (st.verify.segments_corrected == 0 && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(10));
    st = a_.ae->GetState();
  }
  ASSERT_EQ(st.verify.segments_corrected, 1u);
  uint64_t runs = st.verify.runs;
  while (a_.ae->GetState().verify.runs < runs + 2 && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  st = a_.ae->GetState();
  EXPECT_GE(st.verify.runs, runs + 2) << "the check stopped running";
  EXPECT_EQ(st.verify.segments_corrected, 1u) << "it found drift twice";
  EXPECT_EQ(a_.ae->tree().SegmentsHash(3, 3), 0u);
}

TEST(SharedRangesTest, EveryRangeBothReplicateAndNothingElse) {
  // Three nodes, one token each, N=2: a key at p goes to the owners of the
  // first two tokens at or after p.
  Ring ring({{1, {100}}, {2, {200}}, {3, {300}}});
  // (100, 200] -> 2, 3; (200, 300] -> 3, 1; (300, 100] wraps -> 1, 2.
  auto r12 = SharedRanges(ring, 1, 2, 2);
  ASSERT_EQ(r12.size(), 2u);
  EXPECT_EQ(r12[0], (PositionRange{0, 100}));
  EXPECT_EQ(r12[1], (PositionRange{301, ~uint64_t{0}}));
  EXPECT_EQ(SharedRanges(ring, 2, 3, 2), (std::vector<PositionRange>{{101, 200}}));
  EXPECT_EQ(SharedRanges(ring, 1, 3, 2), (std::vector<PositionRange>{{201, 300}}));
  // With N=3 everyone shares the whole ring, as one range per side of 0.
  auto all = SharedRanges(ring, 1, 2, 3);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], (PositionRange{0, ~uint64_t{0}}));
  EXPECT_TRUE(SharedRanges(ring, 1, 1, 3).empty());
  EXPECT_TRUE(SharedRanges(Ring(), 1, 2, 3).empty());
}

// Repair paced by client latency: a fake client load whose latency either
// keeps rising while repair runs (every window is slower than the baseline
// measured before it) or stays flat.
class AntiEntropyPacingTest : public AntiEntropyRunnerTest {
 protected:
  void Tweak(Side& s, AntiEntropyOptions* o) override {
    if (s.id != a_.id) return;
    o->max_keys_per_second = 5000;
    o->governor.tolerance = 0.001;
    o->governor.min_share = 1.0 / 4;
    o->governor.window = absl::Milliseconds(50);
    o->governor.probe = absl::Milliseconds(20);
    o->governor.min_ops = 10;
    // 10 requests a millisecond, each taking 1 ms, plus 2 ms per second
    // since the start when rising (the mean since the start then rises 1
    // ms per second).
    o->foreground = [this] {
      double t = absl::ToDoubleSeconds(absl::Now() - t0_);
      auto ops = static_cast<uint64_t>(10000 * t);
      uint64_t mean_us = rising_ ? 1000 + static_cast<uint64_t>(1000 * t)
                                 : 1000;
      return ForegroundSample{ops, ops * mean_us};
    };
  }
  void WriteOnlyOnA(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(a_.store
                      ->Update("k" + std::to_string(i), {},
                               Sibling::Value("v"), 0xa)
                      .ok());
    }
  }
  const absl::Time t0_ = absl::Now();
  bool rising_ = false;  // set before SetUp returns
};

class AntiEntropyRisingLatencyTest : public AntiEntropyPacingTest {
 protected:
  AntiEntropyRisingLatencyTest() { rising_ = true; }
};

TEST_F(AntiEntropyRisingLatencyTest, RepairSlowsWhenClientLatencyRises) {
  WaitReady();
  WriteOnlyOnA(2000);
  auto reports = RunNow(a_, b_.id);
  ASSERT_TRUE(reports.ok()) << reports.status();
  EXPECT_TRUE((*reports)[0].status.ok()) << (*reports)[0].status;
  EXPECT_EQ((*reports)[0].repaired_peer, 2000u);  // slowed, never stopped
  AntiEntropy::State st = a_.ae->GetState();
  EXPECT_TRUE(st.pacing.on);
  EXPECT_GE(st.pacing.slowdowns, 2u);
  EXPECT_EQ(st.pacing.share, 1.0 / 4);  // halved down to the floor
  // The pauses it asked for: 2000 repaired and 2000 listed keys (a
  // quarter each) take 0.5 s at the full 5000 keys/s; mostly at a quarter
  // of it here.
  EXPECT_GE(st.pacing.paced, absl::Seconds(1)) << st.pacing.paced;
  // Measured between the loop's start and the exchange, or in a probe.
  EXPECT_GT(st.pacing.baseline, absl::ZeroDuration());
  EXPECT_GT(st.pacing.recent, st.pacing.baseline);
  for (int i = 0; i < 2000; i += 97) {
    EXPECT_TRUE(b_.store->Get("k" + std::to_string(i))->HasLiveValue()) << i;
  }
}

TEST_F(AntiEntropyRunnerTest, PausedRefusesRunNowAndStopsPromptly) {
  WaitReady();
  a_.ae->SetPaused(true);
  EXPECT_TRUE(a_.ae->GetState().paused);
  auto reports = RunNow(a_, b_.id);
  EXPECT_EQ(reports.status().code(), absl::StatusCode::kFailedPrecondition)
      << reports.status();
  a_.ae->SetPaused(false);
  ASSERT_TRUE(RunNow(a_, b_.id).ok());
  // Stop while paused: the loop waiting for a resume ends (a hang here
  // fails the test by its timeout).
  a_.ae->SetPaused(true);
  a_.ae->Stop();
  EXPECT_EQ(RunNow(a_, b_.id).status().code(), absl::StatusCode::kCancelled);
}

TEST_F(AntiEntropyPacingTest, FlatClientLatencyLeavesRepairAtItsLimits) {
  WaitReady();
  WriteOnlyOnA(2000);
  auto reports = RunNow(a_, b_.id);
  ASSERT_TRUE(reports.ok()) << reports.status();
  EXPECT_EQ((*reports)[0].repaired_peer, 2000u);
  AntiEntropy::State st = a_.ae->GetState();
  EXPECT_TRUE(st.pacing.on);
  EXPECT_EQ(st.pacing.slowdowns, 0u);
  EXPECT_EQ(st.pacing.share, 1.0);
  EXPECT_EQ(st.pacing.baseline, absl::Milliseconds(1));
  EXPECT_LE(st.pacing.paced, absl::Milliseconds(750)) << st.pacing.paced;
  // b has no foreground source: no pacing there.
  EXPECT_FALSE(b_.ae->GetState().pacing.on);
}

}  // namespace
}  // namespace rumor::server
