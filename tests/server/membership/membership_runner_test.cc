// The runner's claim of ring tokens: persisted before it is announced, and
// retried when persisting fails. (Dropping a claim that a leave overtook
// needs a pause inside the claim, which nothing here can inject; the e2e
// leave tests cover leaving nodes.)
// Real threads and the steady clock; every wait has a deadline.
#include "server/membership/membership_runner.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
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
  hooks.tokens_claimed = [&](const std::vector<uint64_t>& tokens) {
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
  hooks.tokens_claimed = [&](const std::vector<uint64_t>&) {
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

}  // namespace
}  // namespace rumor::server
