// The checker of a chaos run's history (tests/chaos/history.h), after
// Jepsen's set checker, plus a register check for values replaced by
// read-modify-write with contexts.
//
// Set keys (operation "add"): an element acknowledged by an ok add must be
// in every node's final read ("lost" otherwise); an element in a final read
// that no add attempted is "unexpected"; an element whose add ended "info"
// (unknown outcome) and is present is "recovered".
//
// Register keys ("write", "delete", "read"): a write or delete first reads
// the siblings and then replaces what it read (its context covers them). An
// acknowledged write's value may be absent at the end only if an operation
// that may have taken effect (ok or info) replaced it: a delete, or a write
// whose own value is itself accounted for in the same way. Otherwise it is
// "lost". A value at the end that an acknowledged write or delete replaced
// is "resurrected"; a value read or present that nobody wrote is
// "unexpected".
//
// An add or write recorded as "fail" whose value is present at the end or
// was read is "failed_present": a "fail" must mean not applied.
//
// Divergent: the final reads of a key from different nodes differ, or the
// convergence check found replicas that still differ. A key with no final
// read at all counts as unchecked.
#ifndef RUMOR_TESTS_CHAOS_CHECKER_H_
#define RUMOR_TESTS_CHAOS_CHECKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tests/chaos/history.h"

namespace rumor::chaos {

struct Report {
  int64_t invoked = 0;  // operations started
  int64_t ok = 0;
  int64_t failed = 0;
  int64_t indeterminate = 0;  // "info", and invokes that never completed

  int64_t acked = 0;       // ok adds and ok writes
  int64_t lost = 0;
  int64_t unexpected = 0;
  int64_t recovered = 0;
  int64_t resurrected = 0;
  // Operations recorded as "fail" (certainly not applied) whose value is
  // present or was read: the client or the node misreported an outcome.
  int64_t failed_present = 0;
  int64_t divergent = 0;   // keys
  int64_t unchecked = 0;   // keys with no final read
  int64_t keys = 0;
  int64_t final_reads = 0;
  int max_siblings = 0;
  double converge_seconds = -1;  // -1: no convergence record
  bool converged = false;

  // Up to 20 human-readable lines naming what went wrong.
  std::vector<std::string> problems;

  // No lost, unexpected, resurrected, failed-but-present, divergent or
  // unchecked key, and at least one final read.
  bool Passed() const;
  // The report as text for people, and as one JSON object.
  std::string ToText() const;
  std::string ToJson() const;
};

Report Check(const std::vector<Event>& history);

// Operations completed per `bucket` seconds: t (bucket start), ok, fail,
// info. For plots.
struct TimelineRow {
  double t = 0;
  int64_t ok = 0;
  int64_t fail = 0;
  int64_t info = 0;
};
std::vector<TimelineRow> Timeline(const std::vector<Event>& history,
                                  double bucket = 1.0);

}  // namespace rumor::chaos

#endif  // RUMOR_TESTS_CHAOS_CHECKER_H_
