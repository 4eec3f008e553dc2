// Lifeguard's suspicion timer (Dadgar et al., "Lifeguard", section 4.2;
// memberlist's suspicion.go). A suspicion starts at a maximum timeout and
// shrinks towards a minimum as independent members confirm it:
//
//   timeout(c) = max - (max - min) * log(c + 1) / log(k + 1)
//
// for c confirmations of the k expected, never below min. With k < 1 (plain
// SWIM, or too few members to confirm) the timeout is fixed at min.
//
// Value type; not thread-safe.
#ifndef RUMOR_SERVER_MEMBERSHIP_SUSPICION_H_
#define RUMOR_SERVER_MEMBERSHIP_SUSPICION_H_

#include <set>

#include "absl/time/time.h"
#include "common/types.h"

namespace rumor::server {

class Suspicion {
 public:
  // Starts at `start`, raised by `accuser` (kNoNode when it is hearsay,
  // e.g. merged from another member's view).
  Suspicion(absl::Time start, absl::Duration min, absl::Duration max,
            int expected, NodeId accuser);

  // Counts an independent confirmation by `accuser`. Returns true when it
  // shortened the timeout: only those are worth passing on (past `expected`
  // they would flood the piggyback slots that refutations need).
  // Anonymous (kNoNode) and repeated accusers change nothing.
  bool Confirm(NodeId accuser);

  // When the suspect is declared dead unless it refutes first.
  absl::Time deadline() const { return start_ + timeout_; }
  int confirmations() const { return static_cast<int>(accusers_.size()) - 1; }

  // The formula above.
  static absl::Duration Timeout(int confirmations, int expected,
                                absl::Duration min, absl::Duration max);

 private:
  absl::Time start_;
  absl::Duration min_, max_;  // fixed when it started
  absl::Duration timeout_;    // current
  int expected_;
  std::set<NodeId> accusers_;  // distinct accusers, the first one included
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_MEMBERSHIP_SUSPICION_H_
