// Counts client requests in flight so a shutdown can wait for exactly
// those (gRPC's own Shutdown also waits for idle client connections to go
// away, which can take its whole deadline). Thread-safe; Begin and End are
// lock-free (two atomic operations on the request path; four with a
// latency).
#ifndef RUMOR_SERVER_RPC_REQUEST_TRACKER_H_
#define RUMOR_SERVER_RPC_REQUEST_TRACKER_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rumor::server {

class RequestTracker {
 public:
  // False once draining: the caller must refuse the request.
  bool Begin() {
    // Sequentially consistent, like the two operations in Drain: with
    // acquire/release alone this is the store-buffering pattern, where
    // Begin can miss the drain flag while Drain misses this increment
    // (x86 does that; tests/server/rpc/request_tracker_test.cc shows it).
    inflight_.fetch_add(1, std::memory_order_seq_cst);
    if (draining_.load(std::memory_order_seq_cst)) {
      End();
      return false;
    }
    return true;
  }
  void End() { inflight_.fetch_sub(1, std::memory_order_acq_rel); }
  // Ends a client request that began at `started` (the steady clock: a
  // wall-clock step must not read as latency), counting its latency (what
  // anti-entropy's governor paces repair by).
  void End(std::chrono::steady_clock::time_point started) {
    int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count();
    finished_.fetch_add(1, std::memory_order_relaxed);
    latency_us_.fetch_add(us > 0 ? static_cast<uint64_t>(us) : 0,
                          std::memory_order_relaxed);
    End();
  }
  // Client requests ended with a start time so far, and their latencies
  // summed. The two are read apart: a reader may see one request in one
  // and not yet in the other, which a mean over many requests absorbs.
  uint64_t finished() const {
    return finished_.load(std::memory_order_relaxed);
  }
  uint64_t latency_us() const {
    return latency_us_.load(std::memory_order_relaxed);
  }

  // Refuses new requests and waits up to `timeout` for those in flight.
  // Returns whether they all finished. A request that races the drain
  // either sees the flag and backs out, or is counted and waited for: the
  // seq_cst store and loads order the flag and the count in one total
  // order that both sides agree on.
  bool Drain(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    draining_.store(true, std::memory_order_seq_cst);
    while (inflight_.load(std::memory_order_seq_cst) > 0) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

 private:
  std::atomic<int> inflight_{0};
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> finished_{0};
  std::atomic<uint64_t> latency_us_{0};
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_REQUEST_TRACKER_H_
