#include "tests/chaos/checker.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace rumor::chaos {
namespace {

constexpr size_t kMaxProblems = 20;

// An operation with its outcome: the completion event (ok/fail/info) or, for
// one that never completed, its invocation with type "info".
struct Op {
  Event event;
};

std::string Extra(const Event& e, std::string_view name) {
  for (const auto& [n, raw] : e.extra) {
    if (n == name) return raw;
  }
  return "";
}

// A JSON list of strings as written by ToJsonLine, parsed back.
std::vector<std::string> ExtraList(const Event& e, std::string_view name) {
  std::string raw = Extra(e, name);
  if (raw.empty()) return {};
  auto parsed = ParseJsonLine(absl::StrCat("{\"type\":\"x\",\"values\":", raw,
                                           "}"));
  if (!parsed.ok()) return {};
  return parsed->values;
}

// Whether the nodes' final reads of one key (as sets) are not all equal.
bool NodesDiffer(const std::vector<std::set<std::string>>& per_node) {
  for (size_t i = 1; i < per_node.size(); ++i) {
    if (per_node[i] != per_node[0]) return true;
  }
  return false;
}

class Checker {
 public:
  explicit Checker(Report* report) : r_(report) {}

  void Problem(std::string line) {
    if (r_->problems.size() < kMaxProblems) r_->problems.push_back(std::move(line));
  }

  void Run(const std::vector<Event>& history) {
    absl::flat_hash_map<int, Event> pending;
    for (const Event& e : history) {
      if (e.type == "invoke") {
        ++r_->invoked;
        kinds_[e.key] = e.f == "add" ? kSet : kRegister;
        if (e.f == "add") attempted_[e.key].insert(e.value);
        if (e.f == "write") attempted_[e.key].insert(e.value);
        pending[e.process] = e;
      } else if (e.type == "ok" || e.type == "fail" || e.type == "info") {
        pending.erase(e.process);
        if (e.type == "ok") ++r_->ok;
        if (e.type == "fail") ++r_->failed;
        if (e.type == "info") ++r_->indeterminate;
        ops_[e.key].push_back(e);
        int siblings = std::atoi(Extra(e, "siblings").c_str());
        if (e.type == "ok" && e.f == "read") {
          siblings = std::max<int>(siblings, e.values.size());
        }
        r_->max_siblings = std::max(r_->max_siblings, siblings);
      } else if (e.type == "final") {
        if (!e.error.empty()) {
          failed_final_.insert(e.key);
          Problem(absl::StrCat("key ", e.key, ": final read from ", e.node,
                               " failed: ", e.error));
          continue;
        }
        ++r_->final_reads;
        finals_[e.key].emplace_back(e.node, e.values);
        r_->max_siblings = std::max<int>(r_->max_siblings, e.values.size());
      } else if (e.type == "converge") {
        r_->converge_seconds = std::strtod(Extra(e, "seconds").c_str(), nullptr);
        r_->converged = Extra(e, "converged") == "true";
        for (const auto& key : ExtraList(e, "divergent")) {
          replica_divergent_.insert(key);
        }
      }
    }
    // Whatever never completed has an unknown outcome.
    for (auto& [process, e] : pending) {
      ++r_->indeterminate;
      Event info = e;
      info.type = "info";
      info.error = "never completed";
      ops_[e.key].push_back(std::move(info));
    }

    std::set<std::string> keys;
    for (const auto& [key, kind] : kinds_) keys.insert(key);
    r_->keys = keys.size();
    for (const std::string& key : keys) {
      auto f = finals_.find(key);
      if (f == finals_.end() || f->second.empty() ||
          failed_final_.contains(key)) {
        ++r_->unchecked;
        if (!failed_final_.contains(key)) {
          Problem(absl::StrCat("key ", key, ": no final read"));
        }
        continue;
      }
      bool divergent = replica_divergent_.contains(key);
      if (kinds_[key] == kSet) {
        divergent |= CheckSet(key, f->second);
      } else {
        divergent |= CheckRegister(key, f->second);
      }
      if (divergent) {
        ++r_->divergent;
        Problem(absl::StrCat("key ", key, ": replicas differ after convergence"));
      }
    }
  }

 private:
  enum Kind { kSet, kRegister };
  using Final = std::pair<std::string, std::vector<std::string>>;

  // True when the nodes' final reads differ.
  bool CheckSet(const std::string& key, const std::vector<Final>& finals) {
    std::vector<std::set<std::string>> per_node;
    std::set<std::string> present_anywhere;
    for (const auto& [node, values] : finals) {
      std::set<std::string> elements;
      for (const auto& v : values) {
        for (auto& el : SplitSet(v)) elements.insert(std::move(el));
      }
      present_anywhere.insert(elements.begin(), elements.end());
      per_node.push_back(std::move(elements));
    }
    const auto& attempted = attempted_[key];
    for (const Event& op : ops_[key]) {
      if (op.f != "add") continue;
      if (op.type == "ok") {
        ++r_->acked;
        std::vector<std::string> missing_on;
        for (size_t i = 0; i < per_node.size(); ++i) {
          if (!per_node[i].contains(op.value)) missing_on.push_back(finals[i].first);
        }
        if (!missing_on.empty()) {
          ++r_->lost;
          Problem(absl::StrCat("lost: add ", op.value, " to ", key,
                               " was acknowledged at t=", op.t,
                               "s but is missing on ",
                               absl::StrJoin(missing_on, ",")));
        }
      } else if (op.type == "info" && present_anywhere.contains(op.value)) {
        ++r_->recovered;
      } else if (op.type == "fail" && present_anywhere.contains(op.value)) {
        ++r_->failed_present;
        Problem(absl::StrCat("failed but present: add ", op.value, " to ", key,
                             " was reported failed at t=", op.t,
                             "s but is there"));
      }
    }
    for (const auto& el : present_anywhere) {
      if (!attempted.contains(el)) {
        ++r_->unexpected;
        Problem(absl::StrCat("unexpected: ", el, " in ", key,
                             " was never added"));
      }
    }
    return NodesDiffer(per_node);
  }

  bool CheckRegister(const std::string& key, const std::vector<Final>& finals) {
    std::vector<std::set<std::string>> per_node;
    std::set<std::string> final_union;
    for (const auto& [node, values] : finals) {
      std::set<std::string> s(values.begin(), values.end());
      final_union.insert(s.begin(), s.end());
      per_node.push_back(std::move(s));
    }
    const auto& written = attempted_[key];
    // Who replaced each value: operations that may have taken effect.
    std::map<std::string, std::vector<const Event*>> replaced_by;
    std::set<std::string> read_during_run;
    for (const Event& op : ops_[key]) {
      if (op.type == "ok" && op.f == "read") {
        read_during_run.insert(op.values.begin(), op.values.end());
      }
      if ((op.type == "ok" || op.type == "info") &&
          (op.f == "write" || op.f == "delete")) {
        for (const auto& v : op.read) replaced_by[v].push_back(&op);
      }
    }
    std::map<std::string, bool> memo;
    // Accounted: present at the end, or replaced by an operation that may
    // have taken effect (a delete, or a write itself accounted for).
    std::function<bool(const std::string&, int)> accounted =
        [&](const std::string& v, int depth) -> bool {
      if (final_union.contains(v)) return true;
      auto m = memo.find(v);
      if (m != memo.end()) return m->second;
      memo[v] = false;  // guards cycles, which a real history cannot have
      bool result = false;
      auto by = replaced_by.find(v);
      if (depth < 10000 && by != replaced_by.end()) {
        for (const Event* u : by->second) {
          if (u->f == "delete" || accounted(u->value, depth + 1)) {
            result = true;
            break;
          }
        }
      }
      memo[v] = result;
      return result;
    };
    for (const Event& op : ops_[key]) {
      if (op.f != "write") continue;
      if (op.type == "ok") {
        ++r_->acked;
        if (!accounted(op.value, 0)) {
          ++r_->lost;
          Problem(absl::StrCat("lost: write ", op.value, " to ", key,
                               " was acknowledged at t=", op.t,
                               "s, is not in the final value and nothing "
                               "that replaced it survives"));
        }
      } else if (op.type == "info" &&
                 (final_union.contains(op.value) ||
                  read_during_run.contains(op.value) ||
                  replaced_by.find(op.value) != replaced_by.end())) {
        ++r_->recovered;
      } else if (op.type == "fail" &&
                 (final_union.contains(op.value) ||
                  read_during_run.contains(op.value) ||
                  replaced_by.find(op.value) != replaced_by.end())) {
        ++r_->failed_present;
        Problem(absl::StrCat("failed but present: write ", op.value, " to ",
                             key, " was reported failed at t=", op.t,
                             "s but was seen"));
      }
    }
    for (const auto& v : final_union) {
      auto by = replaced_by.find(v);
      if (by == replaced_by.end()) continue;
      for (const Event* u : by->second) {
        if (u->type == "ok") {
          ++r_->resurrected;
          Problem(absl::StrCat("resurrected: ", v, " in ", key, " was replaced by ",
                               u->f, " ", u->value, " (acknowledged at t=",
                               u->t, "s) but is present at the end"));
          break;
        }
      }
    }
    std::set<std::string> seen = final_union;
    seen.insert(read_during_run.begin(), read_during_run.end());
    for (const auto& v : seen) {
      if (!written.contains(v)) {
        ++r_->unexpected;
        Problem(absl::StrCat("unexpected: ", v, " in ", key,
                             " was never written"));
      }
    }
    return NodesDiffer(per_node);
  }

  Report* r_;
  std::map<std::string, Kind> kinds_;
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> attempted_;
  absl::flat_hash_map<std::string, std::vector<Event>> ops_;
  absl::flat_hash_map<std::string, std::vector<Final>> finals_;
  absl::flat_hash_set<std::string> replica_divergent_;
  absl::flat_hash_set<std::string> failed_final_;
};

}  // namespace

bool Report::Passed() const {
  return lost == 0 && unexpected == 0 && resurrected == 0 &&
         failed_present == 0 && divergent == 0 && unchecked == 0 &&
         final_reads > 0;
}

std::string Report::ToText() const {
  std::string out = absl::StrFormat(
      "operations: %d invoked, %d ok, %d failed, %d indeterminate\n"
      "acknowledged writes: %d\n"
      "lost: %d\nunexpected: %d\nresurrected: %d\nfailed but present: %d\n"
      "recovered: %d\n"
      "keys: %d (%d divergent, %d without a final read), %d final reads\n"
      "max siblings: %d\n",
      invoked, ok, failed, indeterminate, acked, lost, unexpected, resurrected,
      failed_present, recovered, keys, divergent, unchecked, final_reads,
      max_siblings);
  if (converge_seconds >= 0) {
    absl::StrAppendFormat(&out, "converged: %s after %.1f s\n",
                          converged ? "yes" : "NO", converge_seconds);
  }
  for (const auto& p : problems) absl::StrAppend(&out, "  ", p, "\n");
  absl::StrAppend(&out, Passed() ? "PASS" : "FAIL", "\n");
  return out;
}

std::string Report::ToJson() const {
  return absl::StrFormat(
      "{\"passed\":%s,\"invoked\":%d,\"ok\":%d,\"failed\":%d,"
      "\"indeterminate\":%d,\"acked\":%d,\"lost\":%d,\"unexpected\":%d,"
      "\"resurrected\":%d,\"failed_present\":%d,\"recovered\":%d,"
      "\"keys\":%d,\"divergent\":%d,"
      "\"unchecked\":%d,\"final_reads\":%d,\"max_siblings\":%d,"
      "\"converged\":%s,\"converge_seconds\":%.1f}",
      Passed() ? "true" : "false", invoked, ok, failed, indeterminate, acked,
      lost, unexpected, resurrected, failed_present, recovered, keys,
      divergent, unchecked, final_reads, max_siblings,
      converged ? "true" : "false",
      converge_seconds);
}

Report Check(const std::vector<Event>& history) {
  Report report;
  Checker(&report).Run(history);
  return report;
}

std::vector<TimelineRow> Timeline(const std::vector<Event>& history,
                                  double bucket) {
  std::map<int64_t, TimelineRow> rows;
  int64_t last = -1;
  for (const Event& e : history) {
    if (e.type != "ok" && e.type != "fail" && e.type != "info") continue;
    int64_t b = static_cast<int64_t>(e.t / bucket);
    last = std::max(last, b);
    TimelineRow& row = rows[b];
    if (e.type == "ok") ++row.ok;
    if (e.type == "fail") ++row.fail;
    if (e.type == "info") ++row.info;
  }
  std::vector<TimelineRow> out;
  for (int64_t b = 0; b <= last; ++b) {
    TimelineRow row = rows[b];
    row.t = b * bucket;
    out.push_back(row);
  }
  return out;
}

}  // namespace rumor::chaos
