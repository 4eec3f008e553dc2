#include "server/membership/suspicion.h"

#include <algorithm>
#include <cmath>

namespace rumor::server {

Suspicion::Suspicion(absl::Time start, absl::Duration min, absl::Duration max,
                     int expected, NodeId accuser)
    : start_(start),
      min_(min),
      max_(max),
      timeout_(expected < 1 ? min : max),
      expected_(expected) {
  accusers_.insert(accuser);
}

bool Suspicion::Confirm(NodeId accuser) {
  int c = confirmations();
  if (c >= expected_ || accuser == kNoNode || accusers_.count(accuser)) {
    return false;
  }
  accusers_.insert(accuser);
  timeout_ = Timeout(c + 1, expected_, min_, max_);
  return true;
}

absl::Duration Suspicion::Timeout(int confirmations, int expected,
                                  absl::Duration min, absl::Duration max) {
  if (expected < 1) return min;
  double frac = std::log(confirmations + 1.0) / std::log(expected + 1.0);
  double raw = absl::ToDoubleSeconds(max) -
               frac * absl::ToDoubleSeconds(max - min);
  absl::Duration t = absl::Milliseconds(std::floor(raw * 1000.0));
  return std::max(t, min);
}

}  // namespace rumor::server
