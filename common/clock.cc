#include "common/clock.h"

#include <chrono>

namespace rumor {

absl::Time SteadyClock::Now() const {
  return absl::UnixEpoch() +
         absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

SteadyClock* SteadyClock::Get() {
  static SteadyClock* clock = new SteadyClock();
  return clock;
}

}  // namespace rumor
