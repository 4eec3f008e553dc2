// The history of a chaos run, as Jepsen records one: every operation a
// client invokes and how it completed, one JSON object per line.
//
//   {"type":"meta","start_unix_ms":1764554400000,"seed":7,...}
//   {"t":12.5,"p":3,"type":"invoke","f":"add","key":"s0","value":"3.17","node":"127.0.0.1:17379"}
//   {"t":14.1,"p":3,"type":"ok","f":"add","key":"s0","value":"3.17","node":"127.0.0.1:17379"}
//   {"t":20.0,"p":1,"type":"info","f":"write","key":"r1","value":"1.9","read":["0.4"],"error":"DEADLINE_EXCEEDED: ..."}
//   {"t":95.0,"p":-1,"type":"final","f":"read","key":"r1","values":["1.9"],"node":"..."}
//
// Types: "invoke" (the operation starts), "ok" (it took effect), "fail" (it
// certainly did not), "info" (unknown: it may or may not have), "final" (a
// read of the converged cluster after every fault healed), "meta" (the run's
// parameters) and "converge" (how long convergence took, which keys still
// differ). Operations ("f"): "add" an element to a set key, "write",
// "delete" or "read" a register key. "t" is seconds since the run started.
// "read" lists the sibling values a write or delete read first, so replaced
// (its context covered them); "values" is what a read returned.
//
// Plain C++: no gRPC, so the checker's tests link nothing else.
#ifndef RUMOR_TESTS_CHAOS_HISTORY_H_
#define RUMOR_TESTS_CHAOS_HISTORY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace rumor::chaos {

struct Event {
  double t = 0;     // seconds since the run started
  int process = 0;  // the client; -1 for the checker's own reads
  std::string type;
  std::string f;
  std::string key;
  std::string value;
  std::string node;
  std::string error;
  std::vector<std::string> values;  // a read's siblings
  std::vector<std::string> read;    // what a write or delete replaced
  // "meta" and "converge" only: every other field, as raw JSON (numbers,
  // strings, arrays), in the order given.
  std::vector<std::pair<std::string, std::string>> extra;
  bool has_read = false;  // "read" present (an empty list is meaningful)
};

// One line of JSON (no newline).
std::string ToJsonLine(const Event& event);

// Parses one line written by ToJsonLine (or by hand in the same shape:
// a flat object of strings, numbers, booleans and arrays of strings).
// INVALID_ARGUMENT says where it is malformed.
absl::StatusOr<Event> ParseJsonLine(std::string_view line);

// Every line of `text`; blank lines are skipped. The error names the line.
absl::StatusOr<std::vector<Event>> ParseHistory(std::string_view text);

// `s` as a JSON string, and a JSON list of strings (for "extra" fields).
std::string JsonString(std::string_view s);
std::string JsonStringList(const std::vector<std::string>& items);

// A set key's value: its elements, space-separated, sorted and unique.
std::vector<std::string> SplitSet(std::string_view value);
std::string JoinSet(const std::vector<std::string>& elements);

}  // namespace rumor::chaos

#endif  // RUMOR_TESTS_CHAOS_HISTORY_H_
