#include "server/rpc/request_tracker.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace rumor::server {
namespace {

// The store-buffering race the tracker must rule out: a request calls
// Begin while a shutdown calls Drain. Either the request sees the drain and
// backs out, or the drain sees the request and waits for it; never both
// pass (the request would run on after the node has drained). With only
// acquire/release ordering, x86 lets each side read the other's old value
// (the drain's store waits in the store buffer while it reads the count).
// Both threads spin on a shared round number so they collide often.
TEST(RequestTrackerTest, BeginAndDrainNeverBothPass) {
  // Two threads meet at a spinning two-party barrier before every round.
  // Each round has its own tracker, so no round sees another's state.
  constexpr int kRounds = 100000;
  std::vector<RequestTracker> trackers(kRounds);
  std::vector<char> begun(kRounds), drained(kRounds);
  std::atomic<int> arrived[2] = {0, 0};
  // Spins, then yields, so a loaded machine (one free core) still
  // progresses; the race needs both threads running at once only some of
  // the time.
  auto meet = [&](int self, int r) {
    arrived[self].store(r + 1, std::memory_order_release);
    for (int spins = 0;
         arrived[1 - self].load(std::memory_order_acquire) < r + 1; ++spins) {
      if (spins > 1000) std::this_thread::yield();
    }
  };
  std::thread requester([&] {
    for (int r = 0; r < kRounds; ++r) {
      meet(0, r);
      begun[r] = trackers[r].Begin();
    }
  });
  for (int r = 0; r < kRounds; ++r) {
    meet(1, r);
    drained[r] = trackers[r].Drain(absl::ZeroDuration());
  }
  requester.join();
  int both = 0, begun_count = 0;
  for (int r = 0; r < kRounds; ++r) {
    if (begun[r] && drained[r]) ++both;
    if (begun[r]) ++begun_count;
  }
  EXPECT_EQ(both, 0) << "rounds where a request began and the drain still "
                        "found nothing in flight, of "
                     << kRounds;
  // The race was really run: both orders happened.
  EXPECT_GT(begun_count, 0);
  EXPECT_LT(begun_count, kRounds);
}

TEST(RequestTrackerTest, DrainWaitsForRequestsInFlightAndRefusesNewOnes) {
  RequestTracker t;
  ASSERT_TRUE(t.Begin());
  EXPECT_FALSE(t.Drain(absl::Milliseconds(20))) << "one request in flight";
  EXPECT_FALSE(t.Begin()) << "draining: new requests are refused";
  t.End();
  EXPECT_TRUE(t.Drain(absl::Milliseconds(20)));
}

}  // namespace
}  // namespace rumor::server
