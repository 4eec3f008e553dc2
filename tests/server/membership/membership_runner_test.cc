// The runner persists before it announces: claimed ring tokens, and the
// incarnation mark above every incarnation it refutes with; a failed
// persist announces nothing and is retried. (Dropping a claim that a leave overtook
// needs a pause inside the claim, which nothing here can inject; the e2e
// leave tests cover leaving nodes.)
// Real threads and the steady clock; every wait has a deadline.
#include "server/membership/membership_runner.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "gtest/gtest.h"

namespace rumor::server {
namespace {

class NullTransport : public Transport {
 public:
  void Send(const std::string&, Message) override {}
};

bool WaitFor(const std::function<bool()>& done, absl::Duration deadline) {
  absl::Time end = absl::Now() + deadline;
  while (absl::Now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

MembershipRunnerOptions Options() {
  MembershipRunnerOptions o;
  o.config.self = 0x1234;
  o.config.meta.address = "127.0.0.1:7001";
  o.config.probe_interval = absl::Milliseconds(50);
  o.config.probe_timeout = absl::Milliseconds(20);
  o.tokens = 16;
  return o;  // no seeds: a new cluster of one, which claims at once
}

size_t Tokens(const MembershipRunner& r) { return r.Self().meta->tokens.size(); }

TEST(MembershipRunnerTest, ClaimedTokensArePersistedBeforeTheyAreAnnounced) {
  NullTransport transport;
  std::mutex mu;
  std::vector<uint64_t> persisted;
  size_t announced_while_persisting = 99;
  MembershipRunner* runner_ptr = nullptr;
  MembershipRunnerHooks hooks;
  hooks.tokens_claimed = [&](const std::vector<uint64_t>& tokens, bool) {
    std::lock_guard<std::mutex> lock(mu);
    persisted = tokens;
    announced_while_persisting = Tokens(*runner_ptr);
    return absl::OkStatus();
  };
  MembershipRunner runner(Options(), &transport, SteadyClock::Get(), hooks);
  runner_ptr = &runner;
  runner.Start();
  ASSERT_TRUE(WaitFor([&] { return Tokens(runner) == 16; }, absl::Seconds(10)))
      << "no claim within 10 s";
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(announced_while_persisting, 0u) << "announced before persisted";
  EXPECT_EQ(runner.Self().meta->tokens, persisted);
  ASSERT_NE(runner.CurrentRing(), nullptr);
  EXPECT_EQ(runner.CurrentRing()->num_tokens(), 16u);
}

TEST(MembershipRunnerTest, AClaimThatCannotBePersistedIsNotAnnouncedAndIsRetried) {
  NullTransport transport;
  std::atomic<int> calls{0};
  MembershipRunnerHooks hooks;
  hooks.tokens_claimed = [&](const std::vector<uint64_t>&, bool) {
    return ++calls <= 2 ? absl::UnavailableError("disk full")
                        : absl::OkStatus();
  };
  MembershipRunner runner(Options(), &transport, SteadyClock::Get(), hooks);
  runner.Start();
  ASSERT_TRUE(WaitFor([&] { return calls.load() >= 1; }, absl::Seconds(10)));
  EXPECT_EQ(Tokens(runner), 0u) << "tokens announced that were never persisted";
  // Retried after a back-off (about a second each), not in a tight loop.
  ASSERT_TRUE(WaitFor([&] { return Tokens(runner) == 16; }, absl::Seconds(15)))
      << "the claim was not retried";
  EXPECT_EQ(calls.load(), 3);
}

// Records every incarnation the node puts on the wire and every mark it
// persists, in one sequence.
class RecordingTransport : public Transport {
 public:
  void Send(const std::string&, Message m) override {
    absl::MutexLock lock(&mu);
    uint64_t highest = m.from_incarnation;
    for (const Update& u : m.updates) {
      if (u.node == m.from) highest = std::max(highest, u.incarnation);
    }
    events.push_back({"sent", highest});
  }
  void Persisted(uint64_t mark) {
    absl::MutexLock lock(&mu);
    events.push_back({"mark", mark});
  }
  // The largest incarnation sent before any mark covering it was persisted.
  uint64_t UncoveredMax() {
    absl::MutexLock lock(&mu);
    uint64_t mark = initial_mark, worst = 0;
    for (auto& [what, value] : events) {
      if (what == "mark") mark = std::max(mark, value);
      if (what == "sent" && value > mark) worst = std::max(worst, value);
    }
    return worst;
  }
  uint64_t MaxSent() {
    absl::MutexLock lock(&mu);
    uint64_t m = 0;
    for (auto& [what, value] : events) {
      if (what == "sent") m = std::max(m, value);
    }
    return m;
  }
  absl::Mutex mu;
  uint64_t initial_mark = 0;
  std::vector<std::pair<std::string, uint64_t>> events ABSL_GUARDED_BY(mu);
};

TEST(MembershipRunnerTest, AnIncarnationIsAnnouncedOnlyOncePersistedAndFailuresAreRetried) {
  RecordingTransport transport;
  std::atomic<bool> disk_ok{false};
  std::atomic<int> attempts{0};
  MembershipRunnerOptions o = Options();
  o.tokens = 0;  // no claim: only refutations change the incarnation
  o.config.incarnation = 1;
  o.config.incarnation_ceiling = 1;
  o.incarnation_lease = 4;
  transport.initial_mark = 1;
  MembershipRunnerHooks hooks;
  hooks.persist_incarnation_mark = [&](uint64_t mark) {
    ++attempts;
    if (!disk_ok) return absl::UnavailableError("disk full");
    transport.Persisted(mark);
    return absl::OkStatus();
  };
  MembershipRunner runner(o, &transport, SteadyClock::Get(), hooks);
  runner.Start();
  // A member appears and says this node is suspect at its incarnation 1:
  // the refutation needs incarnation 2, above the persisted mark.
  Message m;
  m.type = Message::Type::kGossip;
  m.from = 0x99;
  m.from_address = "127.0.0.1:7099";
  m.from_incarnation = 1;
  m.to = 0x1234;
  Update alive;
  alive.kind = MemberStatus::kAlive;
  alive.node = 0x99;
  alive.incarnation = 1;
  alive.from = 0x99;
  MemberMeta meta;
  meta.address = "127.0.0.1:7099";
  alive.meta = MakeMeta(meta);
  Update suspect;
  suspect.kind = MemberStatus::kSuspect;
  suspect.node = 0x1234;
  suspect.incarnation = 1;
  suspect.from = 0x99;
  m.updates = {alive, suspect};
  runner.Deliver(m);
  // The disk refuses: the node keeps probing but never announces more than
  // it persisted, and it retries.
  ASSERT_TRUE(WaitFor([&] { return attempts.load() >= 3; }, absl::Seconds(10)))
      << "a failed persist of the incarnation mark was not retried";
  EXPECT_LE(runner.Self().incarnation, 1u);
  EXPECT_GT(transport.MaxSent(), 0u) << "the node should still be probing";
  EXPECT_EQ(transport.UncoveredMax(), 0u)
      << "announced an incarnation above every persisted mark";
  // The disk recovers: the refutation goes out, after its mark.
  disk_ok = true;
  ASSERT_TRUE(WaitFor([&] { return runner.Self().incarnation >= 2; },
                      absl::Seconds(15)))
      << "the refutation never went out once the mark could be persisted";
  // (The fake member never acks, so it is dead by now: a ping from it gets
  // an answer carrying the new incarnation.)
  Message ping;
  ping.type = Message::Type::kPing;
  ping.from = 0x99;
  ping.from_address = "127.0.0.1:7099";
  ping.from_incarnation = 1;
  ping.to = 0x1234;
  ping.seq = 77;
  runner.Deliver(ping);
  ASSERT_TRUE(WaitFor([&] { return transport.MaxSent() >= 2; },
                      absl::Seconds(10)));
  EXPECT_EQ(transport.UncoveredMax(), 0u)
      << "announced an incarnation before its mark was persisted";
}

}  // namespace
}  // namespace rumor::server
