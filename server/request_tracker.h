// Counts client requests in flight so a shutdown can wait for exactly
// those (gRPC's own Shutdown also waits for idle client connections to go
// away, which can take its whole deadline). Thread-safe.
#ifndef RUMOR_SERVER_REQUEST_TRACKER_H_
#define RUMOR_SERVER_REQUEST_TRACKER_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rumor::server {

class RequestTracker {
 public:
  // False once draining: the caller must refuse the request.
  bool Begin() {
    absl::MutexLock lock(&mu_);
    if (draining_) return false;
    ++inflight_;
    return true;
  }
  void End() {
    absl::MutexLock lock(&mu_);
    --inflight_;
  }
  // Refuses new requests and waits up to `timeout` for those in flight.
  // Returns whether they all finished.
  bool Drain(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    return mu_.AwaitWithTimeout(
        absl::Condition(
            +[](int* n) { return *n == 0; }, &inflight_),
        timeout);
  }

 private:
  absl::Mutex mu_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REQUEST_TRACKER_H_
