// Counts client requests in flight so a shutdown can wait for exactly
// those (gRPC's own Shutdown also waits for idle client connections to go
// away, which can take its whole deadline). Thread-safe; Begin and End are
// lock-free (two atomic operations on the request path).
#ifndef RUMOR_SERVER_RPC_REQUEST_TRACKER_H_
#define RUMOR_SERVER_RPC_REQUEST_TRACKER_H_

#include <atomic>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rumor::server {

class RequestTracker {
 public:
  // False once draining: the caller must refuse the request.
  bool Begin() {
    inflight_.fetch_add(1, std::memory_order_acq_rel);
    if (draining_.load(std::memory_order_acquire)) {
      End();
      return false;
    }
    return true;
  }
  void End() { inflight_.fetch_sub(1, std::memory_order_acq_rel); }

  // Refuses new requests and waits up to `timeout` for those in flight.
  // Returns whether they all finished. (A request that raced the flag
  // either saw it and backed out, or is counted and waited for.)
  bool Drain(absl::Duration timeout) {
    draining_.store(true, std::memory_order_release);
    absl::Time deadline = absl::Now() + timeout;
    while (inflight_.load(std::memory_order_acquire) > 0) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

 private:
  std::atomic<int> inflight_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_REQUEST_TRACKER_H_
