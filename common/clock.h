// Time sources. Every timer and background loop reads time through a Clock
// so that tests and the simulator can drive time by hand.
#ifndef RUMOR_COMMON_CLOCK_H_
#define RUMOR_COMMON_CLOCK_H_

#include <atomic>

#include "absl/time/time.h"

namespace rumor {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic: never goes backwards. Only differences between values are
  // meaningful.
  virtual absl::Time Now() const = 0;
};

// The process's steady clock. Thread-safe.
class SteadyClock final : public Clock {
 public:
  absl::Time Now() const override;
  // A shared instance; never destroyed.
  static SteadyClock* Get();
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::UnixEpoch()) : now_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override {
    return absl::FromUnixNanos(now_.load(std::memory_order_acquire));
  }
  void Advance(absl::Duration d) {
    now_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
  }
  void Set(absl::Time t) {
    now_.store(absl::ToUnixNanos(t), std::memory_order_release);
  }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace rumor

#endif  // RUMOR_COMMON_CLOCK_H_
