// kvcheck: the workload and checker of rumor's chaos runs (docs/reliability.md).
//
//   kvcheck run --servers=127.0.0.1:17379,127.0.0.1:17380 --history=h.jsonl
//       --duration=60 --seed=7          # clients load the cluster (faults
//                                       # come from outside: docker/chaos)
//   kvcheck check --servers=... --history=h.jsonl   # after healing: wait for
//       # the replicas to converge, read every key from every node, check
//   kvcheck analyze --history=h.jsonl   # the check again, offline
//
// The workload: --clients client processes, each bound to one of --servers
// (round robin, no routing: every node coordinates requests), each doing one
// operation at a time, together about --rate operations per second:
//   50% add a unique element to one of --set-keys set keys (read the
//       siblings, write their union plus the element with the read context)
//   25% write a unique value to one of --register-keys register keys (read,
//       then write with the read context: it replaces what it read)
//   15% read a register key
//   10% delete a register key (with the read context)
// Every operation is recorded in the history (tests/chaos/history.h) as it
// is invoked and as it completes: ok, fail (certainly not applied: the read
// step failed, or the write was refused as invalid or for want of space) or
// info (unknown: any other error of the write step). The checker is tests/chaos/checker.h.
//
// Exit codes: 0 passed (run: the workload ran), 1 the check failed (lost,
// unexpected, resurrected or divergent), 2 bad flags or an unreadable
// history, 3 no server answered at all.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "tests/chaos/checker.h"
#include "tests/chaos/history.h"

namespace rumor::chaos {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

std::atomic<bool> g_stop{false};
extern "C" void OnSignal(int) { g_stop.store(true); }

std::string StatusText(const absl::Status& s) {
  return absl::StrCat(absl::StatusCodeToString(s.code()), ": ", s.message());
}

// Appends events to the history file, one line each, flushed as written so
// a crash loses at most the line being written.
class HistoryWriter {
 public:
  static std::unique_ptr<HistoryWriter> Open(const std::string& path,
                                             bool append, std::string* error) {
    std::FILE* f = std::fopen(path.c_str(), append ? "a" : "w");
    if (f == nullptr) {
      *error = absl::StrCat("cannot open ", path, ": ", std::strerror(errno));
      return nullptr;
    }
    return std::unique_ptr<HistoryWriter>(new HistoryWriter(f));
  }
  ~HistoryWriter() { std::fclose(f_); }

  void Write(const Event& e) ABSL_LOCKS_EXCLUDED(mu_) {
    std::string line = ToJsonLine(e);
    line.push_back('\n');
    absl::MutexLock lock(&mu_);
    if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() ||
        std::fflush(f_) != 0) {
      if (error_.empty()) error_ = std::strerror(errno);
    }
  }

  // The first write error ("" if none): a history missing a line could
  // hide a lost write, so a run that had one is not a run.
  std::string error() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return error_;
  }

 private:
  explicit HistoryWriter(std::FILE* f) : f_(f) {}
  absl::Mutex mu_;
  std::FILE* f_ ABSL_GUARDED_BY(mu_);
  std::string error_ ABSL_GUARDED_BY(mu_);
};

// A client bound to one node (no routing); Connect fails only for an
// empty address, which the flags never give.
std::unique_ptr<client::Client> ClientFor(const std::string& server,
                                          double timeout_seconds) {
  client::ClientOptions co;
  co.server = server;
  co.routing = client::ClientOptions::Routing::kAny;
  co.timeout = absl::Seconds(timeout_seconds);
  auto c = client::Client::Connect(co);
  if (!c.ok()) {
    std::fprintf(stderr, "kvcheck: %s: %s\n", server.c_str(),
                 c.status().ToString().c_str());
    std::exit(kExitUsage);
  }
  return std::move(*c);
}

struct RunOptions {
  std::vector<std::string> servers;
  std::string history;
  double duration = 60;
  uint64_t seed = 1;
  int clients = 10;
  double rate = 100;
  int set_keys = 2;
  int register_keys = 3;
  uint32_t r = 0;
  uint32_t w = 0;
  double timeout = 2;
  std::string prefix;
};

struct Counters {
  std::atomic<int64_t> ok{0}, fail{0}, info{0};
};

class Worker {
 public:
  Worker(int process, const RunOptions& options, HistoryWriter* history,
         Clock::time_point start, Counters* counters)
      : process_(process),
        options_(options),
        history_(history),
        start_(start),
        counters_(counters),
        rng_(options.seed * 1000003 + process),
        node_(options.servers[process % options.servers.size()]) {
    client_ = ClientFor(node_, options.timeout);
  }

  void Run(Clock::time_point end) {
    const double per_client =
        options_.rate > 0 ? options_.rate / options_.clients : 0;
    const auto interval =
        per_client > 0
            ? std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(1.0 / per_client))
            : Clock::duration::zero();
    // Spread the clients' first operations over one interval.
    auto next = start_ + interval * process_ / options_.clients;
    while (!g_stop.load() && Clock::now() < end) {
      if (interval > Clock::duration::zero()) {
        std::this_thread::sleep_until(std::min(next, end));
        if (Clock::now() >= end || g_stop.load()) break;
        next += interval;
        // Behind by more than a second (a long timeout): do not burst.
        if (next < Clock::now() - std::chrono::seconds(1)) next = Clock::now();
      }
      int dice = std::uniform_int_distribution<int>(0, 99)(rng_);
      if (dice < 50 && options_.set_keys > 0) {
        Add();
      } else if (dice < 75) {
        Write(/*remove=*/false);
      } else if (dice < 90) {
        Read();
      } else {
        Write(/*remove=*/true);
      }
    }
  }

 private:
  double Now() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }
  std::string PickKey(const char* kind, int count) {
    int i = std::uniform_int_distribution<int>(0, count - 1)(rng_);
    return absl::StrCat(options_.prefix, kind, i);
  }
  std::string NextValue() { return absl::StrCat(process_, ".", ++seq_); }
  client::CallOptions ReadOpts() const {
    client::CallOptions o;
    o.r = options_.r;
    return o;
  }
  client::CallOptions WriteOpts() const {
    client::CallOptions o;
    o.w = options_.w;
    return o;
  }
  Event Invoke(const char* f, const std::string& key, const std::string& value) {
    Event e;
    e.t = Now();
    e.process = process_;
    e.type = "invoke";
    e.f = f;
    e.key = key;
    e.value = value;
    e.node = node_;
    history_->Write(e);
    return e;
  }
  void Complete(Event e, const char* type, std::string error = "") {
    e.t = Now();
    e.type = type;
    e.error = std::move(error);
    history_->Write(e);
    if (e.type == "ok") counters_->ok.fetch_add(1);
    if (e.type == "fail") counters_->fail.fetch_add(1);
    if (e.type == "info") counters_->info.fetch_add(1);
  }
  // A write step's error: refused as invalid, or RESOURCE_EXHAUSTED (the
  // coordinator's own replica could not take it: a full disk or storage
  // queue; it writes locally before it replicates, so nothing was sent) is
  // certain; anything else may or may not have been applied by a replica.
  static const char* WriteOutcome(const absl::Status& s) {
    return s.code() == absl::StatusCode::kInvalidArgument ||
                   s.code() == absl::StatusCode::kResourceExhausted
               ? "fail"
               : "info";
  }

  void Add() {
    std::string key = PickKey("set", options_.set_keys);
    Event e = Invoke("add", key, NextValue());
    auto got = client_->Get(key, ReadOpts());
    if (!got.ok()) {
      return Complete(std::move(e), "fail", "read: " + StatusText(got.status()));
    }
    std::vector<std::string> elements{e.value};
    for (const auto& v : got->values) {
      for (auto& el : SplitSet(v)) elements.push_back(std::move(el));
    }
    std::sort(elements.begin(), elements.end());
    elements.erase(std::unique(elements.begin(), elements.end()),
                   elements.end());
    e.extra.emplace_back("siblings", absl::StrCat(got->values.size()));
    auto put = client_->Put(key, JoinSet(elements), got->context, WriteOpts());
    if (!put.ok()) {
      return Complete(std::move(e), WriteOutcome(put.status()),
                      StatusText(put.status()));
    }
    Complete(std::move(e), "ok");
  }

  void Write(bool remove) {
    std::string key = PickKey("reg", options_.register_keys);
    Event e = Invoke(remove ? "delete" : "write", key,
                     remove ? "" : NextValue());
    auto got = client_->Get(key, ReadOpts());
    if (!got.ok()) {
      return Complete(std::move(e), "fail", "read: " + StatusText(got.status()));
    }
    e.read = got->values;
    e.has_read = true;
    e.extra.emplace_back("siblings", absl::StrCat(got->values.size()));
    absl::Status status;
    if (remove) {
      if (!got->found) return Complete(std::move(e), "ok");  // nothing to do
      status = client_->Delete(key, got->context, WriteOpts());
    } else {
      status = client_->Put(key, e.value, got->context, WriteOpts()).status();
    }
    if (!status.ok()) {
      return Complete(std::move(e), WriteOutcome(status), StatusText(status));
    }
    Complete(std::move(e), "ok");
  }

  void Read() {
    std::string key = PickKey("reg", options_.register_keys);
    Event e = Invoke("read", key, "");
    auto got = client_->Get(key, ReadOpts());
    if (!got.ok()) {
      return Complete(std::move(e), "fail", StatusText(got.status()));
    }
    e.values = got->values;
    Complete(std::move(e), "ok");
  }

  const int process_;
  const RunOptions& options_;
  HistoryWriter* history_;
  const Clock::time_point start_;
  Counters* counters_;
  std::mt19937_64 rng_;
  const std::string node_;
  std::unique_ptr<client::Client> client_;
  uint64_t seq_ = 0;
};

int Run(const RunOptions& o) {
  std::string error;
  auto history = HistoryWriter::Open(o.history, /*append=*/false, &error);
  if (!history) {
    std::fprintf(stderr, "kvcheck: %s\n", error.c_str());
    return kExitUsage;
  }
  Event meta;
  meta.type = "meta";
  meta.extra = {
      {"start_unix_ms", absl::StrCat(absl::ToUnixMillis(absl::Now()))},
      {"seed", absl::StrCat(o.seed)},
      {"servers", JsonStringList(o.servers)},
      {"clients", absl::StrCat(o.clients)},
      {"rate", absl::StrCat(o.rate)},
      {"duration", absl::StrCat(o.duration)},
      {"r", absl::StrCat(o.r)},
      {"w", absl::StrCat(o.w)},
      {"prefix", JsonString(o.prefix)},
  };
  history->Write(meta);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o.duration));
  Counters counters;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int p = 0; p < o.clients; ++p) {
    workers.push_back(
        std::make_unique<Worker>(p, o, history.get(), start, &counters));
  }
  std::fprintf(stderr,
               "kvcheck: %d clients on %zu nodes for %.0f s, about %.0f ops/s, "
               "keys %sset0.. and %sreg0..\n",
               o.clients, o.servers.size(), o.duration, o.rate,
               o.prefix.c_str(), o.prefix.c_str());
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w, end] { w->Run(end); });
  // Progress every 10 s until the clients are done.
  std::atomic<bool> done{false};
  std::thread progress([&] {
    auto next = start + std::chrono::seconds(10);
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (Clock::now() >= next) {
        std::fprintf(stderr, "kvcheck: %3.0f s: %ld ok, %ld fail, %ld info\n",
                     std::chrono::duration<double>(Clock::now() - start).count(),
                     counters.ok.load(), counters.fail.load(),
                     counters.info.load());
        next += std::chrono::seconds(10);
      }
    }
  });
  for (auto& t : threads) t.join();
  done.store(true);
  progress.join();
  std::fprintf(stderr, "kvcheck: workload done: %ld ok, %ld fail, %ld info\n",
               counters.ok.load(), counters.fail.load(), counters.info.load());
  if (std::string err = history->error(); !err.empty()) {
    std::fprintf(stderr, "kvcheck: writing %s failed (%s): the history is "
                 "incomplete\n", o.history.c_str(), err.c_str());
    return kExitUsage;
  }
  if (counters.ok.load() == 0 && counters.info.load() == 0) {
    std::fprintf(stderr, "kvcheck: no operation succeeded: is the cluster up?\n");
    return kExitUnreachable;
  }
  return kExitOk;
}

struct CheckOptions {
  std::vector<std::string> servers;
  std::string history;
  std::string summary;
  std::string timeline;
  double converge_timeout = 180;
  double timeout = 5;
};

absl::StatusOr<std::vector<Event>> LoadHistory(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  auto events = ParseHistory(text.str());
  if (!events.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", events.status().message()));
  }
  return events;
}

std::vector<std::string> KeysOf(const std::vector<Event>& history) {
  std::set<std::string> keys;
  for (const Event& e : history) {
    if (e.type == "invoke") keys.insert(e.key);
  }
  return {keys.begin(), keys.end()};
}

// Why `report`'s copies of one key do not agree yet ("" when they do).
std::string Disagreement(const client::ReplicaReport& report) {
  const client::ReplicaCopy* first = nullptr;
  for (const auto& copy : report.copies) {
    if (copy.role == "hint") {
      return absl::StrCat("a hint for node ", copy.hint_for, " is on ",
                          copy.address);
    }
    if (!copy.answered) return absl::StrCat(copy.address, " did not answer");
    if (first == nullptr) {
      first = &copy;
      continue;
    }
    if (copy.holds != first->holds || copy.version != first->version ||
        copy.values != first->values || copy.tombstones != first->tombstones) {
      return absl::StrCat(copy.address, " differs from ", first->address);
    }
  }
  if (first == nullptr) return "no replica answered";
  return "";
}

int Analyze(const std::vector<Event>& history, const CheckOptions& o) {
  Report report = Check(history);
  std::printf("%s", report.ToText().c_str());
  if (!o.summary.empty()) {
    std::ofstream out(o.summary);
    out << report.ToJson() << "\n";
    if (!out) {
      std::fprintf(stderr, "kvcheck: cannot write %s\n", o.summary.c_str());
      return kExitUsage;
    }
  }
  if (!o.timeline.empty()) {
    std::ofstream out(o.timeline);
    out << "# t ok fail info (operations completed per second)\n";
    for (const auto& row : Timeline(history)) {
      out << row.t << " " << row.ok << " " << row.fail << " " << row.info
          << "\n";
    }
    if (!out) {
      std::fprintf(stderr, "kvcheck: cannot write %s\n", o.timeline.c_str());
      return kExitUsage;
    }
  }
  return report.Passed() ? kExitOk : kExitFailed;
}

int CheckCluster(const CheckOptions& o) {
  auto history = LoadHistory(o.history);
  if (!history.ok()) {
    std::fprintf(stderr, "kvcheck: %s\n", history.status().ToString().c_str());
    return kExitUsage;
  }
  for (const Event& e : *history) {
    if (e.type == "final" || e.type == "converge") {
      std::fprintf(stderr,
                   "kvcheck: %s was checked already (it holds final reads); "
                   "`kvcheck analyze` checks it again offline\n",
                   o.history.c_str());
      return kExitUsage;
    }
  }
  std::vector<std::string> keys = KeysOf(*history);
  std::vector<std::unique_ptr<client::Client>> clients;
  for (const auto& server : o.servers) {
    clients.push_back(ClientFor(server, o.timeout));
  }
  std::string error;
  auto writer = HistoryWriter::Open(o.history, /*append=*/true, &error);
  if (!writer) {
    std::fprintf(stderr, "kvcheck: %s\n", error.c_str());
    return kExitUsage;
  }
  double t0 = 0;
  for (const Event& e : *history) t0 = std::max(t0, e.t);

  // Convergence: every key's replicas hold the same version and no hint is
  // left, as one node (any that answers) gathers them.
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o.converge_timeout));
  std::fprintf(stderr, "kvcheck: waiting up to %.0f s for %zu keys to converge\n",
               o.converge_timeout, keys.size());
  std::vector<std::string> divergent;
  std::vector<std::string> reasons;
  auto next_report = start + std::chrono::seconds(10);
  size_t asker = 0;
  while (true) {
    divergent.clear();
    reasons.clear();
    for (const auto& key : keys) {
      absl::StatusOr<client::ReplicaReport> report;
      for (size_t tries = 0; tries < clients.size(); ++tries) {
        report = clients[asker]->Replicas(key);
        if (report.ok()) break;
        asker = (asker + 1) % clients.size();
      }
      std::string why = report.ok() ? Disagreement(*report)
                                    : StatusText(report.status());
      if (!why.empty()) {
        divergent.push_back(key);
        reasons.push_back(absl::StrCat(key, ": ", why));
      }
    }
    if (divergent.empty() || Clock::now() >= deadline) break;
    if (Clock::now() >= next_report) {
      std::fprintf(stderr, "kvcheck: %zu of %zu keys converged after %.0f s (%s)\n",
                   keys.size() - divergent.size(), keys.size(),
                   std::chrono::duration<double>(Clock::now() - start).count(),
                   reasons.front().c_str());
      next_report += std::chrono::seconds(10);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (divergent.empty()) {
    std::fprintf(stderr, "kvcheck: every key converged after %.1f s\n", seconds);
  } else {
    std::fprintf(stderr, "kvcheck: %zu keys still differ after %.0f s:\n",
                 divergent.size(), seconds);
    for (const auto& r : reasons) std::fprintf(stderr, "  %s\n", r.c_str());
  }
  Event converge;
  converge.t = t0 + seconds;
  converge.process = -1;
  converge.type = "converge";
  converge.extra = {{"seconds", absl::StrFormat("%.1f", seconds)},
                    {"converged", divergent.empty() ? "true" : "false"},
                    {"divergent", JsonStringList(divergent)}};
  writer->Write(converge);
  history->push_back(converge);

  // The final reads: every key from every node, each with every replica.
  uint32_t replicas = 0;
  for (auto& c : clients) {
    auto layout = c->RingLayout();
    if (layout.ok()) {
      replicas = layout->replicas;
      break;
    }
  }
  if (replicas == 0) {
    std::fprintf(stderr, "kvcheck: no node told its replica count (N): the "
                 "final reads could not ask every replica\n");
    return kExitUnreachable;
  }
  int failures = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    for (const auto& key : keys) {
      client::CallOptions opts;
      opts.r = replicas;
      absl::StatusOr<client::Object> got;
      for (int attempt = 0; attempt < 5; ++attempt) {
        got = clients[i]->Get(key, opts);
        if (got.ok()) break;
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
      Event e;
      e.t = t0 + std::chrono::duration<double>(Clock::now() - start).count();
      e.process = -1;
      e.type = "final";
      e.f = "read";
      e.key = key;
      e.node = o.servers[i];
      if (got.ok()) {
        e.values = got->values;
      } else {
        e.error = StatusText(got.status());
        ++failures;
      }
      writer->Write(e);
      history->push_back(std::move(e));
    }
  }
  if (failures == static_cast<int>(clients.size() * keys.size()) &&
      !keys.empty()) {
    std::fprintf(stderr, "kvcheck: no final read succeeded: is the cluster up?\n");
    return kExitUnreachable;
  }
  if (std::string err = writer->error(); !err.empty()) {
    std::fprintf(stderr, "kvcheck: appending to %s failed (%s)\n",
                 o.history.c_str(), err.c_str());
    return kExitUsage;
  }
  return Analyze(*history, o);
}

}  // namespace
}  // namespace rumor::chaos

int main(int argc, char** argv) {
  using namespace rumor::chaos;
  CLI::App app{
      "kvcheck: the workload and checker of rumor's chaos runs. `run` loads "
      "the cluster and records every operation; `check` (after every fault "
      "is healed) waits for the replicas to converge, reads every key from "
      "every node and checks that no acknowledged write was lost; `analyze` "
      "checks a history again offline."};
  app.require_subcommand(1);
  RunOptions run;
  CheckOptions check;
  std::string servers;

  auto* run_cmd = app.add_subcommand("run", "run the workload, recording a history");
  run_cmd->add_option("--servers", servers, "comma-separated host:port of every node")
      ->required();
  run_cmd->add_option("--history", run.history, "the history file to write (JSON lines)")
      ->required();
  run_cmd->add_option("--duration", run.duration, "seconds to run")->capture_default_str();
  run_cmd->add_option("--seed", run.seed, "seeds the clients' choices")->capture_default_str();
  run_cmd->add_option("--clients", run.clients, "client processes")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  run_cmd->add_option("--rate", run.rate, "operations per second in all (0: as fast as they go)")
      ->check(CLI::Range(0.0, 1e6))->capture_default_str();
  run_cmd->add_option("--set-keys", run.set_keys, "set keys (elements are added)")
      ->check(CLI::Range(0, 1000))->capture_default_str();
  run_cmd->add_option("--register-keys", run.register_keys, "register keys (written, read, deleted)")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  run_cmd->add_option("--r", run.r, "read quorum (0: the node's default)")->capture_default_str();
  run_cmd->add_option("--w", run.w, "write quorum (0: the node's default)")->capture_default_str();
  run_cmd->add_option("--timeout", run.timeout, "seconds each request may take")
      ->check(CLI::Range(0.01, 600.0))->capture_default_str();
  run_cmd->add_option("--prefix", run.prefix,
                      "key prefix (default: chaos-SEED-TIME-, so runs never share keys)");

  auto* check_cmd = app.add_subcommand(
      "check", "after healing: wait for convergence, read every key from every node, check");
  check_cmd->add_option("--servers", servers, "comma-separated host:port of every node")
      ->required();
  check_cmd->add_option("--history", check.history, "the history `run` wrote (appended to)")
      ->required();
  check_cmd->add_option("--converge-timeout", check.converge_timeout,
                        "seconds to wait for the replicas to agree")
      ->capture_default_str();
  check_cmd->add_option("--summary", check.summary, "also write the result as one JSON line");
  check_cmd->add_option("--timeline", check.timeline,
                        "also write operations per second (t ok fail info) for plots");

  auto* analyze_cmd = app.add_subcommand("analyze", "check a finished history again, offline");
  analyze_cmd->add_option("--history", check.history, "the history file")->required();
  analyze_cmd->add_option("--summary", check.summary, "also write the result as one JSON line");
  analyze_cmd->add_option("--timeline", check.timeline,
                          "also write operations per second (t ok fail info) for plots");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  std::vector<std::string> list = absl::StrSplit(servers, ',', absl::SkipEmpty());
  if (*run_cmd || *check_cmd) {
    if (list.empty()) {
      std::fprintf(stderr, "kvcheck: --servers lists no server\n");
      return kExitUsage;
    }
  }
  if (*run_cmd) {
    run.servers = list;
    if (run.duration <= 0) {
      std::fprintf(stderr, "kvcheck: --duration must be positive\n");
      return kExitUsage;
    }
    if (run.prefix.empty()) {
      run.prefix = absl::StrCat("chaos-", run.seed, "-",
                                absl::ToUnixSeconds(absl::Now()), "-");
    }
    return Run(run);
  }
  if (*check_cmd) {
    check.servers = list;
    return CheckCluster(check);
  }
  auto history = LoadHistory(check.history);
  if (!history.ok()) {
    std::fprintf(stderr, "kvcheck: %s\n", history.status().ToString().c_str());
    return kExitUsage;
  }
  return Analyze(*history, check);
}
