// kvbench: the whole-system load generator of rumor (its db_bench). It talks
// to nodes only through the public client library, as an application would.
//
//   kvbench --servers=127.0.0.1:7379 --workload=a --records=100000
//       --duration=30 --concurrency=64 --value-size=100 --distribution=zipfian
//
// Workloads follow YCSB's core workloads:
//   put  100% writes          get  100% reads
//   a    50% reads, 50% updates (update heavy)
//   b    95% reads,  5% updates (read mostly)
//   c    100% reads            (read only)
//   d    95% reads,  5% inserts (read latest)
//   f    50% reads, 50% read-modify-writes
// Workloads that read first load every key once ("load phase"); put does not.
// Keys are "<prefix>user<n>" with n in [0, records), chosen by YCSB's
// scrambled zipfian generator (theta 0.99), uniformly, or (--distribution=
// latest, the default of d) by YCSB's skewed-latest generator: zipfian over
// the distance from the newest readable key.
//
// d inserts new keys records, records + 1, ... (one counter shared by every
// slot) and reads only keys whose insert has been acknowledged
// (AcknowledgedCounter, bench/workload/key_chooser.h), so no read races the
// insert of its key; an insert is acknowledged when it answers, failed or
// not, as in YCSB (a failed one would otherwise hold every later key back).
// A read that finds nothing is a success; the report counts them. Inserts
// are blind writes: running d again over the same keys (same --key-prefix)
// gives each re-inserted key one more sibling, so give each d run a fresh
// prefix or cluster.
//
// f's read-modify-write reads a key and writes it back with the context the
// read returned, so it replaces what it read and the benchmark adds no
// siblings of its own (two of them racing on one key leave two siblings,
// which the next one replaces). It is one operation, timed from the read's
// start to the write's answer, within one operation deadline, and reported
// in its own row ("rmw"), as YCSB reports READ-MODIFY-WRITE.
//
// YCSB's workload e (short range scans) is not offered: rumor has no range
// scans (keys are hashed over the ring), and --workload=e is a usage error.
//
// Closed loop: exactly --concurrency operations are in flight; each
// completion issues the next one until --duration has passed. The in-flight
// operations are then awaited (they end within the per-operation deadline;
// whatever has not answered 10 s after the end is reported as errors).
// Throughput is successful operations over the time from the start to the
// last completion. A phase in which the first 1000 operations all fail
// stops early.
//
// --timeline=FILE writes one CSV line per second of the run phase: the
// seconds since its start at the end of the window, successful operations,
// errors, ops/s, and p50/p95/p99/p99.9 latency in µs of the window's
// successful operations of every kind (empty when it had none). Each line
// is flushed as it is written, so a killed run leaves what it measured. The
// last line covers the rest of the run: from the last whole second before
// --duration ended to the last answer (so it also holds the operations
// still in flight at the end, and those that never answered as errors).
// scripts/bench-plot.sh draws these files.
//
// Routing (--routing): with "ring" (the default) every client learns the
// ring before the load and sends each request straight to a replica of its
// key; with "any" each client sends everything to its --servers node. The
// report ends with how many run-phase requests each node address answered.
//
// SIGINT or SIGTERM during the run phase ends it early, as if --duration
// had passed: the operations in flight are awaited and the report covers
// what ran (a script can run a load for exactly as long as something else
// takes). A second signal kills kvbench.
//
// Exit codes: 0 the run completed (any errors are reported), 2 bad flags
// (--workload=e included), 3 every operation failed (e.g. no server
// reachable).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "bench/workload/key_chooser.h"
#include "bench/workload/latency_histogram.h"
#include "client/client.h"
#include "client/json.h"
#include "common/strings.h"

namespace rumor::bench {
namespace {

using client::Client;
using client::Object;
using Clock = std::chrono::steady_clock;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitAllFailed = 3;

// Every operation carries this deadline, so every callback runs within it.
constexpr absl::Duration kOpTimeout = absl::Seconds(5);
// How long after the run's end in-flight operations are awaited before they
// are counted as errors. Longer than kOpTimeout, so it only fires when a
// callback is lost.
constexpr absl::Duration kDrainGrace = absl::Seconds(10);
// The load phase aborts when no operation completes for this long.
constexpr absl::Duration kLoadStall = absl::Seconds(30);
// A phase stops early once this many operations have failed and none has
// succeeded (e.g. no server is reachable), instead of spinning on failures
// that return at once until the duration ends.
constexpr uint64_t kGiveUpAfterErrors = 1000;

// ---------------------------------------------------------------------------
// Measurement. Key choice (Rng, the choosers) is in
// bench/workload/key_chooser.h, LatencyHistogram in
// bench/workload/latency_histogram.h.

// Counts failed operations and keeps the first few distinct messages.
// Thread-safe.
class ErrorLog {
 public:
  struct Sample {
    std::string message;
    uint64_t count = 0;
  };

  void Add(std::string_view message) {
    if (message.size() > kMaxMessageBytes) {
      message = message.substr(0, kMaxMessageBytes);
    }
    absl::MutexLock lock(&mu_);
    ++total_;
    for (Sample& s : samples_) {
      if (s.message == message) {
        ++s.count;
        return;
      }
    }
    if (samples_.size() < kMaxSamples) {
      samples_.push_back({std::string(message), 1});
    }
  }
  // Counts `n` failures under `message` at once.
  void AddMany(std::string_view message, uint64_t n) {
    if (n == 0) return;
    absl::MutexLock lock(&mu_);
    total_ += n;
    if (samples_.size() < kMaxSamples) {
      samples_.push_back({std::string(message), n});
    }
  }

  uint64_t total() const {
    absl::MutexLock lock(&mu_);
    return total_;
  }
  std::vector<Sample> samples() const {
    absl::MutexLock lock(&mu_);
    return samples_;
  }

 private:
  static constexpr size_t kMaxSamples = 5;
  static constexpr size_t kMaxMessageBytes = 300;

  mutable absl::Mutex mu_;
  uint64_t total_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Sample> samples_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------
// Causal contexts.

// The latest causal context the benchmark saw for each key, passed to the
// next write of that key.
//
// Why: a write without a context replaces nothing, it adds a sibling. A
// benchmark of blind writes would make every object grow by one value per
// write, so requests, responses and stored objects would grow without bound
// and the numbers would measure ever-larger objects. Writes ask for the body
// back (return_body), whose context covers every sibling after the write,
// and reads (in mixed workloads) return one too; passing the latest of them
// keeps each key at one value, or a few while writers of the same key race.
//
// Thread-safe (striped mutexes). Holds at most about kMaxEntries contexts:
// a full stripe drops an arbitrary entry. The next write of a dropped key is
// blind and adds one sibling, which the context of its reply covers again.
class ContextCache {
 public:
  // The cached context of `key`, "" when none.
  std::string Lookup(uint64_t key) const {
    const Stripe& s = StripeOf(key);
    absl::MutexLock lock(&s.mu);
    auto it = s.contexts.find(key);
    return it == s.contexts.end() ? std::string() : it->second;
  }

  void Store(uint64_t key, std::string context) {
    Stripe& s = StripeOf(key);
    absl::MutexLock lock(&s.mu);
    auto it = s.contexts.find(key);
    if (it != s.contexts.end()) {
      it->second = std::move(context);
      return;
    }
    if (s.contexts.size() >= kMaxEntriesPerStripe) {
      s.contexts.erase(s.contexts.begin());
    }
    s.contexts.emplace(key, std::move(context));
  }

 private:
  static constexpr size_t kStripes = 64;
  static constexpr size_t kMaxEntries = size_t{1} << 20;
  static constexpr size_t kMaxEntriesPerStripe = kMaxEntries / kStripes;

  struct Stripe {
    mutable absl::Mutex mu;
    absl::flat_hash_map<uint64_t, std::string> contexts ABSL_GUARDED_BY(mu);
  };
  Stripe& StripeOf(uint64_t key) { return stripes_[key % kStripes]; }
  const Stripe& StripeOf(uint64_t key) const {
    return stripes_[key % kStripes];
  }

  std::array<Stripe, kStripes> stripes_;
};

// ---------------------------------------------------------------------------
// Phases and the closed loop.

// kWrite is an update (or a load write): a write with the key's cached
// context. kInsert writes a new key (no context). kRmw reads a key, then
// writes it with the context the read returned.
enum class OpKind { kRead = 0, kWrite = 1, kInsert = 2, kRmw = 3 };
constexpr int kNumOpKinds = 4;
// Report rows (and the JSON objects of the kinds), by OpKind.
constexpr std::array<const char*, kNumOpKinds> kOpKindNames = {
    "reads", "updates", "inserts", "rmw"};

struct Op {
  OpKind kind;
  uint64_t key;
};

// The share of each kind of operation in a workload, by OpKind; they sum
// to 1.
using Mix = std::array<double, kNumOpKinds>;

// What a closed loop runs. Thread-safe: Next is called from gRPC threads.
class Phase {
 public:
  virtual ~Phase() = default;
  // The next operation of a slot, or nullopt when the phase is over.
  virtual std::optional<Op> Next(Rng& rng) = 0;
  // Whether a write that comes back with several siblings is immediately
  // written again with the returned context, to leave one value.
  virtual bool CollapsesSiblings() const = 0;
  // Called once `op` (from Next) has answered, successfully or not, before
  // the slot's next Next.
  virtual void Done(const Op& /*op*/) {}
};

// Writes every key in [0, records) once, in order.
class LoadPhase final : public Phase {
 public:
  explicit LoadPhase(uint64_t records) : records_(records) {}
  std::optional<Op> Next(Rng&) override {
    uint64_t key = next_.fetch_add(1, std::memory_order_relaxed);
    if (key >= records_) return std::nullopt;
    return Op{OpKind::kWrite, key};
  }
  // Loading a key that a previous run left behind adds a sibling; the
  // second write removes it, so the run phase reads single values.
  bool CollapsesSiblings() const override { return true; }

 private:
  const uint64_t records_;
  std::atomic<uint64_t> next_{0};
};

// Set by SIGINT or SIGTERM during the run phase: it ends now.
std::atomic<bool> g_stop_run{false};
static_assert(std::atomic<bool>::is_always_lock_free);

// Async-signal-safe: a lock-free store and signal(2).
extern "C" void StopRun(int) {
  g_stop_run.store(true);
  // The next SIGINT or SIGTERM, either one, kills.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

// From here on the first SIGINT or SIGTERM ends the run phase; the second
// one kills.
void StopRunOnSignal() {
  struct sigaction sa {};
  sa.sa_handler = StopRun;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// A mix of operations over chosen keys until a deadline (or a signal).
// Inserts take the next number of `inserts` as their key and acknowledge it
// when they answer; reads, updates and read-modify-writes choose theirs
// with `chooser` (which, for "latest", reads the same counter).
class RunPhase final : public Phase {
 public:
  RunPhase(const Mix& mix, const KeyChooser* chooser,
           AcknowledgedCounter* inserts, Clock::time_point deadline)
      : mix_(mix), chooser_(chooser), inserts_(inserts), deadline_(deadline) {
    for (int k = 0; k < kNumOpKinds; ++k) {
      if (mix_[k] > 0) last_kind_ = static_cast<OpKind>(k);
    }
  }
  std::optional<Op> Next(Rng& rng) override {
    if (Clock::now() >= deadline_ || g_stop_run.load(std::memory_order_relaxed)) {
      return std::nullopt;
    }
    // One draw for the kind, then (but for inserts) one for the key: the
    // draws, and so the keys of a --seed, of the workloads that predate
    // inserts and read-modify-writes are what they always were. Whatever
    // rounding leaves above the last share's sum goes to the last kind.
    double draw = rng.NextDouble();
    OpKind kind = last_kind_;
    double sum = 0;
    for (int k = 0; k < kNumOpKinds; ++k) {
      sum += mix_[k];
      if (draw < sum) {
        kind = static_cast<OpKind>(k);
        break;
      }
    }
    if (kind == OpKind::kInsert) return Op{kind, inserts_->Issue()};
    return Op{kind, chooser_->Next(rng)};
  }
  bool CollapsesSiblings() const override { return false; }
  // Readers may choose an inserted key once it has answered.
  void Done(const Op& op) override {
    if (op.kind == OpKind::kInsert) inserts_->Acknowledge(op.key);
  }

 private:
  const Mix mix_;
  const KeyChooser* const chooser_;
  AcknowledgedCounter* const inserts_;
  const Clock::time_point deadline_;
  OpKind last_kind_ = OpKind::kRead;
};

struct PhaseResult {
  std::array<LatencyHistogram, kNumOpKinds> latency;  // successes only
  LatencyHistogram all;
  uint64_t errors = 0;
  std::vector<ErrorLog::Sample> error_samples;
  double seconds = 0;
  // Operations with no answer when the loop stopped waiting (also errors).
  uint64_t stuck = 0;
  // Successful reads (read-modify-writes' included) that found no value,
  // and that found more than one (siblings).
  uint64_t reads_not_found = 0;
  uint64_t reads_with_siblings = 0;
  // The phase stopped early: kGiveUpAfterErrors failures, no success.
  bool gave_up = false;

  uint64_t ops() const { return all.count(); }
};

struct LoopOptions {
  int concurrency = 1;
  std::string key_prefix;
  uint64_t seed = 1;
  // Salts the slots' seeds so phases draw different sequences.
  uint64_t phase_salt = 0;
  // Store the contexts reads return (mixed workloads: the next update of
  // the key then replaces what was read).
  bool cache_read_contexts = false;
  // Keep per-second windows of the results for TakeWindow (--timeline).
  bool windows = false;
};

// What completed since the previous ClosedLoop::TakeWindow.
struct Window {
  LatencyHistogram latency;  // successful operations of every kind
  uint64_t errors = 0;
};

// Keeps exactly `concurrency` operations in flight: slot i always has one
// operation outstanding on clients[i % clients.size()], and its completion
// callback (on a gRPC thread) issues the slot's next operation, until the
// phase ends. Thread-safe.
class ClosedLoop {
 public:
  // Everything passed must outlive the loop, and the clients must be
  // destroyed before the loop (a Client's destructor waits for the callbacks
  // that still reference the loop to return).
  ClosedLoop(LoopOptions options, std::vector<Client*> clients,
             const std::string* value, ContextCache* contexts, Phase* phase)
      : options_(std::move(options)),
        clients_(std::move(clients)),
        value_(value),
        contexts_(contexts),
        phase_(phase),
        slots_(options_.concurrency),
        unfinished_slots_(options_.concurrency) {
    for (int i = 0; i < options_.concurrency; ++i) {
      Slot& s = slots_[i];
      s.index = i;
      s.client = clients_[i % clients_.size()];
      // An independent stream per slot (see StreamRng: slots that draw
      // one shifted sequence request the same keys in near lockstep).
      s.rng = StreamRng(Rng(options_.seed ^ (options_.phase_salt << 32)).Next(),
                        static_cast<uint64_t>(i));
    }
  }
  ClosedLoop(const ClosedLoop&) = delete;
  ClosedLoop& operator=(const ClosedLoop&) = delete;

  // Issues the first operation of every slot. Call once.
  void Start() {
    started_ = Clock::now();
    for (Slot& s : slots_) Issue(&s);
  }

  // Waits up to `timeout` for every slot to finish. True when they have.
  bool WaitFor(absl::Duration timeout) {
    return done_.WaitForNotificationWithTimeout(timeout);
  }

  // Operations completed so far, successful or not.
  uint64_t completed() const {
    return completed_.load(std::memory_order_relaxed);
  }

  // When Start ran.
  Clock::time_point started() const { return started_; }

  // What completed since the previous call (since Start for the first),
  // with LoopOptions::windows; empty without. Each shard's window is
  // swapped for an empty one under its lock (O(1)), and merged after.
  Window TakeWindow() {
    Window w;
    if (!options_.windows) return w;
    for (StatsShard& shard : shards_) {
      LatencyHistogram latency;
      uint64_t errors;
      {
        absl::MutexLock lock(&shard.mu);
        std::swap(latency, shard.window);
        errors = std::exchange(shard.window_errors, 0);
      }
      w.latency.Merge(latency);
      w.errors += errors;
    }
    return w;
  }

  // The results so far. When not every slot has finished, the missing
  // operations count as errors and `seconds` runs until now.
  PhaseResult Result() {
    PhaseResult r;
    for (StatsShard& shard : shards_) {
      absl::MutexLock lock(&shard.mu);
      for (int k = 0; k < kNumOpKinds; ++k) {
        r.latency[k].Merge(shard.latency[k]);
        r.all.Merge(shard.latency[k]);
      }
    }
    Clock::time_point end;
    if (done_.HasBeenNotified()) {
      end = finished_;
    } else {
      end = Clock::now();
      r.stuck = static_cast<uint64_t>(
          std::max(0, unfinished_slots_.load(std::memory_order_acquire)));
      errors_.AddMany(
          absl::StrCat("no answer ", absl::FormatDuration(kDrainGrace),
                       " after the end of the phase (still in flight)"),
          r.stuck);
    }
    r.gave_up = giving_up_.load(std::memory_order_relaxed);
    r.reads_not_found = reads_not_found_.load(std::memory_order_relaxed);
    r.reads_with_siblings =
        reads_with_siblings_.load(std::memory_order_relaxed);
    r.errors = errors_.total();
    r.error_samples = errors_.samples();
    r.seconds = std::chrono::duration<double>(end - started_).count();
    return r;
  }

 private:
  struct Slot {
    int index = 0;
    Client* client = nullptr;
    Rng rng{0};
    std::string key;
    Op op{};
    // Set when the last write came back with siblings and the phase
    // collapses them: the next op rewrites that key with its context.
    bool collapse_pending = false;
    // The current op is that rewrite (which is never repeated, so a foreign
    // writer of the key cannot keep the slot rewriting it).
    bool collapsing = false;
    Clock::time_point start;
  };

  // Latencies are recorded into shard (slot index % kShards), so callbacks
  // on different threads rarely contend. With LoopOptions::windows each
  // shard also keeps the current second's results, which TakeWindow swaps
  // out: recording costs one more histogram increment under the same lock.
  struct StatsShard {
    absl::Mutex mu;
    std::array<LatencyHistogram, kNumOpKinds> latency ABSL_GUARDED_BY(mu);
    LatencyHistogram window ABSL_GUARDED_BY(mu);
    uint64_t window_errors ABSL_GUARDED_BY(mu) = 0;
  };
  static constexpr int kShards = 16;

  // Starts the slot's next operation or finishes the slot. Touches nothing
  // of the slot after starting the call: the callback may already be
  // running on another thread.
  void Issue(Slot* slot) {
    std::optional<Op> op;
    if (giving_up_.load(std::memory_order_relaxed)) {
      // op stays empty: the slot finishes
    } else if (slot->collapse_pending) {
      slot->collapse_pending = false;
      slot->collapsing = true;
      op = Op{OpKind::kWrite, slot->op.key};
    } else {
      slot->collapsing = false;
      op = phase_->Next(slot->rng);
    }
    if (!op.has_value()) {
      FinishSlot();
      return;
    }
    slot->op = *op;
    slot->key.clear();
    absl::StrAppend(&slot->key, options_.key_prefix, "user", op->key);
    auto done = [this, slot](absl::StatusOr<Object> result) {
      OnDone(slot, std::move(result));
    };
    switch (op->kind) {
      case OpKind::kRead:
        slot->start = Clock::now();
        slot->client->GetAsync(slot->key, call_options_, std::move(done));
        break;
      case OpKind::kWrite: {
        std::string context = contexts_->Lookup(op->key);
        slot->start = Clock::now();
        slot->client->PutAsync(slot->key, *value_, context, call_options_,
                               /*return_body=*/true, std::move(done));
        break;
      }
      case OpKind::kInsert:
        // A new key: nothing to replace, and no context to keep (nothing
        // updates it later), so no body either.
        slot->start = Clock::now();
        slot->client->PutAsync(slot->key, *value_, /*context=*/"",
                               call_options_, /*return_body=*/false,
                               std::move(done));
        break;
      case OpKind::kRmw:
        slot->start = Clock::now();
        slot->client->GetAsync(
            slot->key, call_options_,
            [this, slot](absl::StatusOr<Object> read) {
              OnRmwRead(slot, std::move(read));
            });
        break;
    }
  }

  // The read of a read-modify-write answered: write the key back with the
  // read's context (replacing every sibling it saw), or finish the
  // operation with the read's error. The write gets what is left of the
  // operation's deadline, so a read-modify-write ends within kOpTimeout
  // like every operation (which kDrainGrace relies on).
  void OnRmwRead(Slot* slot, absl::StatusOr<Object> read) {
    if (!read.ok()) {
      OnDone(slot, std::move(read));
      return;
    }
    CountRead(*read);
    client::CallOptions write_options = call_options_;
    write_options.timeout =
        std::max(kOpTimeout - absl::FromChrono(Clock::now() - slot->start),
                 absl::Milliseconds(1));
    slot->client->PutAsync(slot->key, *value_, read->context, write_options,
                           /*return_body=*/false,
                           [this, slot](absl::StatusOr<Object> result) {
                             OnDone(slot, std::move(result));
                           });
  }

  // A successful read's outcome that the latency does not show.
  void CountRead(const Object& read) {
    if (!read.found) {
      reads_not_found_.fetch_add(1, std::memory_order_relaxed);
    } else if (read.values.size() > 1) {
      reads_with_siblings_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void OnDone(Slot* slot, absl::StatusOr<Object> result) {
    Clock::time_point now = Clock::now();
    if (result.ok()) {
      uint64_t nanos = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now -
                                                               slot->start)
              .count());
      StatsShard& shard = shards_[slot->index % kShards];
      {
        absl::MutexLock lock(&shard.mu);
        shard.latency[static_cast<int>(slot->op.kind)].Record(nanos);
        if (options_.windows) shard.window.Record(nanos);
      }
      if (slot->op.kind == OpKind::kRead) CountRead(*result);
      bool is_write = slot->op.kind == OpKind::kWrite;
      if ((is_write || options_.cache_read_contexts) &&
          !result->context.empty()) {
        if (is_write && result->values.size() > 1 && !slot->collapsing &&
            phase_->CollapsesSiblings()) {
          slot->collapse_pending = true;
        }
        contexts_->Store(slot->op.key, std::move(result->context));
      }
      succeeded_.fetch_add(1, std::memory_order_relaxed);
    } else {
      uint64_t failed = failed_.fetch_add(1, std::memory_order_relaxed) + 1;
      errors_.Add(AsStd(result.status().message()));
      if (options_.windows) {
        StatsShard& shard = shards_[slot->index % kShards];
        absl::MutexLock lock(&shard.mu);
        ++shard.window_errors;
      }
      if (failed >= kGiveUpAfterErrors &&
          succeeded_.load(std::memory_order_relaxed) == 0) {
        giving_up_.store(true, std::memory_order_relaxed);
      }
    }
    if (!slot->collapsing) phase_->Done(slot->op);
    completed_.fetch_add(1, std::memory_order_relaxed);
    Issue(slot);
  }

  void FinishSlot() {
    if (unfinished_slots_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      finished_ = Clock::now();
      done_.Notify();  // publishes finished_
    }
  }

  const LoopOptions options_;
  const std::vector<Client*> clients_;
  const std::string* const value_;
  ContextCache* const contexts_;
  Phase* const phase_;
  const client::CallOptions call_options_;

  std::vector<Slot> slots_;
  std::array<StatsShard, kShards> shards_;
  ErrorLog errors_;
  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> succeeded_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> reads_not_found_{0};
  std::atomic<uint64_t> reads_with_siblings_{0};
  // Set when nothing succeeds (kGiveUpAfterErrors): every slot stops.
  std::atomic<bool> giving_up_{false};
  std::atomic<int> unfinished_slots_;
  Clock::time_point started_;
  Clock::time_point finished_;  // written by the last slot before done_
  absl::Notification done_;
};

// ---------------------------------------------------------------------------
// Command line and report.

struct Config {
  std::vector<std::string> servers;
  std::string workload;
  int64_t records = 10000;
  double duration = 10;
  int concurrency = 64;
  int64_t value_size = 100;
  // Resolved after parsing: "" on the command line means the workload's
  // own (latest for d, zipfian otherwise).
  std::string distribution;
  int connections = 2;
  bool json = false;
  uint64_t seed = 1;
  std::string key_prefix;
  std::string routing = "ring";
  std::string tls_ca, tls_cert, tls_key;  // PEM files; tls_ca: TLS on
  client::ClientOptions::Tls tls;         // their contents
  std::string timeline;  // --timeline: the CSV to write, "" for none

  // YCSB's proportions (workloads/workload[a-f]).
  Mix mix() const {
    if (workload == "put") return {0.0, 1.0, 0.0, 0.0};
    if (workload == "a") return {0.5, 0.5, 0.0, 0.0};
    if (workload == "b") return {0.95, 0.05, 0.0, 0.0};
    if (workload == "d") return {0.95, 0.0, 0.05, 0.0};
    if (workload == "f") return {0.5, 0.0, 0.0, 0.5};
    return {1.0, 0.0, 0.0, 0.0};  // get, c
  }
  bool loads() const { return workload != "put"; }
};

// "95% reads, 5% inserts": the kinds of `mix` with a share.
std::string MixDescription(const Mix& mix) {
  constexpr std::array<const char*, kNumOpKinds> kWords = {
      "reads", "updates", "inserts", "read-modify-writes"};
  std::vector<std::string> parts;
  for (int k = 0; k < kNumOpKinds; ++k) {
    if (mix[k] > 0) {
      parts.push_back(absl::StrFormat("%.0f%% %s", mix[k] * 100, kWords[k]));
    }
  }
  return absl::StrJoin(parts, ", ");
}

double Micros(uint64_t nanos) { return static_cast<double>(nanos) / 1000.0; }

std::string LatencyJson(const LatencyHistogram& h) {
  return absl::StrFormat(
      "\"p50_us\":%.1f,\"p95_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"max_us\":%.1f,\"mean_us\":%.1f",
      Micros(h.Quantile(0.50)), Micros(h.Quantile(0.95)),
      Micros(h.Quantile(0.99)), Micros(h.Quantile(0.999)),
      Micros(h.max_nanos()), h.mean_nanos() / 1000.0);
}

std::string LatencyHuman(const LatencyHistogram& h) {
  return absl::StrFormat(
      "p50 %.1f  p95 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f",
      Micros(h.Quantile(0.50)), Micros(h.Quantile(0.95)),
      Micros(h.Quantile(0.99)), Micros(h.Quantile(0.999)),
      Micros(h.max_nanos()), h.mean_nanos() / 1000.0);
}

double PerSecond(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

// Run-phase requests each node address answered, by address.
using AddressCounts = std::vector<std::pair<std::string, uint64_t>>;

void PrintJson(const Config& c, const PhaseResult* load,
               const PhaseResult& run, const AddressCounts& by_address) {
  std::vector<std::string> servers;
  for (const auto& s : c.servers) servers.push_back(client::JsonQuote(s));
  std::vector<std::string> samples;
  for (const auto& s : run.error_samples) {
    samples.push_back(
        absl::StrCat("{\"message\":", client::JsonQuote(s.message),
                     ",\"count\":", s.count, "}"));
  }
  std::string out = absl::StrCat(
      "{\"workload\":", client::JsonQuote(c.workload), ",\"ops\":", run.ops(),
      absl::StrFormat(",\"seconds\":%.3f", run.seconds),
      absl::StrFormat(",\"ops_per_sec\":%.1f",
                      PerSecond(run.ops(), run.seconds)),
      ",", LatencyJson(run.all), ",\"errors\":", run.errors,
      ",\"error_samples\":[", absl::StrJoin(samples, ","), "]",
      ",\"concurrency\":", c.concurrency, ",\"value_size\":", c.value_size,
      ",\"records\":", c.records,
      ",\"distribution\":", client::JsonQuote(c.distribution), ",\"servers\":[",
      absl::StrJoin(servers, ","), "]", ",\"connections\":", c.connections,
      ",\"seed\":", c.seed, ",\"routing\":", client::JsonQuote(c.routing),
      ",\"reads_not_found\":", run.reads_not_found,
      ",\"reads_with_siblings\":", run.reads_with_siblings);
  // One object per kind, every kind (zeros when the workload has none),
  // after the top-level fields: scripts take the first "p99_us".
  for (int k = 0; k < kNumOpKinds; ++k) {
    absl::StrAppend(&out, ",\"", kOpKindNames[k], "\":{\"ops\":",
                    run.latency[k].count(), ",", LatencyJson(run.latency[k]),
                    "}");
  }
  std::vector<std::string> counts;
  for (const auto& [address, n] : by_address) {
    counts.push_back(absl::StrCat(client::JsonQuote(address), ":", n));
  }
  absl::StrAppend(&out, ",\"requests_by_address\":{", absl::StrJoin(counts, ","),
                  "}");
  if (load != nullptr) {
    absl::StrAppend(&out, ",\"load\":{\"ops\":", load->ops(),
                    absl::StrFormat(",\"seconds\":%.3f", load->seconds),
                    ",\"errors\":", load->errors, "}");
  }
  out += "}\n";
  std::fputs(out.c_str(), stdout);
}

void PrintHuman(const Config& c, const PhaseResult* load,
                const PhaseResult& run, const AddressCounts& by_address) {
  std::string out = absl::StrFormat(
      "workload     %s (%s)\n"
      "servers      %s (%d connection%s each, routing %s)\n"
      "records      %d (%s), value size %d bytes, concurrency %d\n",
      c.workload, MixDescription(c.mix()), absl::StrJoin(c.servers, ","),
      c.connections, c.connections == 1 ? "" : "s", c.routing, c.records,
      c.distribution,
      c.value_size, c.concurrency);
  if (load != nullptr) {
    absl::StrAppendFormat(&out,
                          "load         %d writes in %.2f s (%.0f/s), %d "
                          "errors\n",
                          load->ops(), load->seconds,
                          PerSecond(load->ops(), load->seconds), load->errors);
  }
  absl::StrAppendFormat(&out,
                        "ops          %d\n"
                        "seconds      %.2f\n"
                        "ops/s        %.1f\n"
                        "latency µs   %s\n",
                        run.ops(), run.seconds,
                        PerSecond(run.ops(), run.seconds),
                        LatencyHuman(run.all));
  for (int k = 0; k < kNumOpKinds; ++k) {
    if (run.latency[k].count() == 0 || run.latency[k].count() == run.ops()) {
      continue;  // a single kind is already the line above
    }
    absl::StrAppendFormat(&out, "  %-10s %d ops, %s\n", kOpKindNames[k],
                          run.latency[k].count(), LatencyHuman(run.latency[k]));
  }
  Mix mix = c.mix();
  if (mix[static_cast<int>(OpKind::kRead)] > 0 ||
      mix[static_cast<int>(OpKind::kRmw)] > 0) {
    // Every key read was loaded or acknowledged, so "not found" means a
    // failed load write or insert, or a lost write.
    absl::StrAppendFormat(&out, "read results %d not found, %d with siblings\n",
                          run.reads_not_found, run.reads_with_siblings);
  }
  absl::StrAppendFormat(&out, "errors       %d\n", run.errors);
  for (const auto& s : run.error_samples) {
    absl::StrAppendFormat(&out, "  %dx %s\n", s.count, s.message);
  }
  std::vector<std::string> counts;
  for (const auto& [address, n] : by_address) {
    counts.push_back(absl::StrCat(address, " ", n));
  }
  absl::StrAppend(&out, "answered by  ",
                  counts.empty() ? "(no node answered)" : absl::StrJoin(counts, ", "),
                  "\n");
  std::fputs(out.c_str(), stdout);
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "kvbench: %s (see kvbench --help)\n", message.c_str());
  return kExitUsage;
}

// Parses the command line into `config`. Returns -1 to go on, otherwise the
// exit code (help, version, bad flags).
int ParseFlags(int argc, char** argv, Config* config) {
  CLI::App app{
      "kvbench: load generator for rumor. Runs a YCSB-style workload against\n"
      "one or more nodes with a fixed number of operations in flight and\n"
      "reports throughput and latency percentiles.\n\n"
      "Workloads (YCSB's core workloads): put (100% writes), get (100%\n"
      "reads), a (50% reads, 50% updates), b (95% reads, 5% updates),\n"
      "c (100% reads), d (95% reads, 5% inserts of new keys; reads favour\n"
      "the newest acknowledged keys), f (50% reads, 50% read-modify-writes:\n"
      "a read, then a write with the read's context, timed as one\n"
      "operation, row \"rmw\"). YCSB's e (short range scans) is not\n"
      "offered: rumor has no range scans. All but put first load --records\n"
      "keys. SIGINT or SIGTERM ends the run phase early and reports what\n"
      "ran; a second one kills.\n\n"
      "Exit codes: 0 ok, 2 bad flags (--workload=e included), 3 every\n"
      "operation failed.",
      "kvbench"};
  std::string servers;
  app.add_option("--servers", servers,
                 "comma-separated host:port of the nodes to load")
      ->required();
  // e gets its own message: it is a YCSB workload, just not one rumor can
  // serve.
  CLI::Validator no_scans(
      [](std::string& workload) -> std::string {
        if (workload != "e") return "";
        return "workload e (YCSB's short range scans) is not offered: rumor "
               "has no range scans (keys are hashed over the ring)";
      },
      "");
  app.add_option("--workload", config->workload,
                 "a, b, c, d, f, put or get (not e: no range scans)")
      ->required()
      ->check(no_scans)
      ->check(CLI::IsMember({"a", "b", "c", "d", "f", "put", "get"}));
  app.add_option("--records", config->records,
                 "number of distinct keys (loaded first by reading workloads)")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000'000}))
      ->capture_default_str();
  app.add_option("--duration", config->duration,
                 "seconds to run the workload (after the load)")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  app.add_option("--concurrency", config->concurrency,
                 "operations in flight at any time")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--value-size", config->value_size, "bytes per value")
      ->check(CLI::Range(int64_t{0}, int64_t{32} << 20))
      ->capture_default_str();
  app.add_option("--distribution", config->distribution,
                 "key popularity: zipfian (YCSB scrambled, theta 0.99), "
                 "uniform, or latest (YCSB skewed latest: zipfian over the "
                 "distance from the newest acknowledged key). Default: "
                 "latest for d, zipfian for the others. With zipfian or "
                 "uniform, d reads only the loaded keys")
      ->check(CLI::IsMember({"zipfian", "uniform", "latest"}));
  app.add_option("--connections", config->connections,
                 "clients (gRPC channels) per server")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_flag("--json", config->json,
               "print exactly one JSON object on stdout instead of a report");
  app.add_option("--seed", config->seed,
                 "seed of the key and operation choices")
      ->capture_default_str();
  app.add_option("--key-prefix", config->key_prefix,
                 "prepended to every key (\"<prefix>user<n>\")");
  app.add_option("--routing", config->routing,
                 "ring: send each request straight to a replica of its key; "
                 "any: each client sends everything to its --servers node")
      ->check(CLI::IsMember({"ring", "any"}))
      ->capture_default_str();
  app.add_option("--tls-ca", config->tls_ca,
                 "PEM file of the CA that issued the nodes' certificates: "
                 "talk TLS (nodes started with --peer-ca)");
  app.add_option("--tls-cert", config->tls_cert,
                 "PEM client certificate (nodes with --tls-client-ca)");
  app.add_option("--tls-key", config->tls_key, "PEM key of --tls-cert");
  app.add_option("--timeline", config->timeline,
                 "write one CSV line per second of the run phase to this "
                 "file: second,ops,errors,ops_per_sec,p50_us,p95_us,p99_us,"
                 "p999_us (scripts/bench-plot.sh draws it)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return UsageError(e.what());
  }
  for (absl::string_view s : absl::StrSplit(servers, ',')) {
    s = absl::StripAsciiWhitespace(s);
    if (s.empty()) {
      return UsageError(
          absl::StrCat("--servers: empty address in '", servers, "'"));
    }
    config->servers.emplace_back(s);
  }
  if (config->distribution.empty()) {
    config->distribution = config->workload == "d" ? "latest" : "zipfian";
  }
  return -1;
}

// Runs `loop` to the end of its phase, printing load progress to stderr
// once a second after the first second. Returns false when the loop had to
// be abandoned (no progress for kLoadStall).
bool RunLoad(ClosedLoop& loop, uint64_t records) {
  loop.Start();
  uint64_t last_completed = 0;
  absl::Time last_progress = absl::Now();
  while (!loop.WaitFor(absl::Seconds(1))) {
    uint64_t completed = loop.completed();
    std::fprintf(stderr, "kvbench: loading %llu/%llu keys\n",
                 static_cast<unsigned long long>(std::min(completed, records)),
                 static_cast<unsigned long long>(records));
    if (completed != last_completed) {
      last_completed = completed;
      last_progress = absl::Now();
    } else if (absl::Now() - last_progress > kLoadStall) {
      return false;
    }
  }
  return true;
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// The --timeline file: a header, then one line per window of the run phase,
// each flushed at once (a killed kvbench leaves every line it wrote). Not
// thread-safe: only the main thread writes.
class Timeline {
 public:
  // A usage error (exit 2) when `path` cannot be created.
  static absl::StatusOr<std::unique_ptr<Timeline>> Create(
      const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--timeline: cannot create '", path, "': ", std::strerror(errno)));
    }
    auto timeline = std::unique_ptr<Timeline>(new Timeline(path, file));
    timeline->Put(
        "second,ops,errors,ops_per_sec,p50_us,p95_us,p99_us,p999_us\n");
    return timeline;
  }
  ~Timeline() { std::fclose(file_); }
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // The window from the previous line's end (the run's start for the
  // first) to `end_seconds` after the run's start.
  void Write(double end_seconds, const Window& w) {
    double length = end_seconds - last_end_;
    last_end_ = end_seconds;
    uint64_t ops = w.latency.count();
    std::string line = absl::StrFormat("%.3f,%d,%d,%.1f", end_seconds, ops,
                                       w.errors, PerSecond(ops, length));
    if (ops > 0) {
      absl::StrAppendFormat(&line, ",%.1f,%.1f,%.1f,%.1f\n",
                            Micros(w.latency.Quantile(0.50)),
                            Micros(w.latency.Quantile(0.95)),
                            Micros(w.latency.Quantile(0.99)),
                            Micros(w.latency.Quantile(0.999)));
    } else {
      line += ",,,,\n";  // no latency to report: empty, not 0 (log plots)
    }
    Put(line);
  }

 private:
  Timeline(std::string path, std::FILE* file)
      : path_(std::move(path)), file_(file) {}

  void Put(const std::string& text) {
    if (std::fputs(text.c_str(), file_) < 0 || std::fflush(file_) != 0) {
      if (!failed_) {
        std::fprintf(stderr,
                     "kvbench: warning: cannot write --timeline %s: %s\n",
                     path_.c_str(), std::strerror(errno));
      }
      failed_ = true;
    }
  }

  const std::string path_;
  std::FILE* const file_;
  double last_end_ = 0;
  bool failed_ = false;
};

// Waits until the run `loop` finishes or `give_up` passes; returns whether
// it finished. With a timeline, writes a line at each whole second since
// the loop's start until `deadline` meanwhile (a late wake-up makes a
// longer window, not a burst of short ones). After the deadline only the
// operations in flight answer: they go to the caller's last line, not to
// a line of their own a few of them would make (at --duration=5 the tick
// at 5 s comes about when the last operations answer).
bool AwaitRun(ClosedLoop& loop, Clock::time_point deadline,
              Clock::time_point give_up, Timeline* timeline) {
  const Clock::time_point start = loop.started();
  Clock::time_point next_tick = start + std::chrono::seconds(1);
  while (true) {
    Clock::time_point wake = give_up;
    if (timeline != nullptr && next_tick < deadline) {
      wake = std::min(wake, next_tick);
    }
    if (loop.WaitFor(absl::FromChrono(wake - Clock::now()))) return true;
    Clock::time_point now = Clock::now();
    if (now >= give_up) return false;
    if (timeline != nullptr && now >= next_tick) {
      if (now < deadline) {
        timeline->Write(Seconds(now - start), loop.TakeWindow());
      }
      // The next whole second after now.
      auto elapsed =
          std::chrono::duration_cast<std::chrono::seconds>(now - start);
      next_tick = start + elapsed + std::chrono::seconds(1);
    }
  }
}

int Main(int argc, char** argv) {
  Config config;
  if (int code = ParseFlags(argc, argv, &config); code >= 0) return code;
  {
    auto tls = client::LoadClientTls(config.tls_ca, config.tls_cert,
                                     config.tls_key);
    if (!tls.ok()) return UsageError(std::string(tls.status().message()));
    config.tls = *std::move(tls);
  }
  // Before any work: a timeline that cannot be written is a bad flag.
  std::unique_ptr<Timeline> timeline;
  if (!config.timeline.empty()) {
    auto t = Timeline::Create(config.timeline);
    if (!t.ok()) return UsageError(std::string(t.status().message()));
    timeline = *std::move(t);
  }
  // Debian's abseil is built in debug mode, where every absl::Mutex
  // acquisition (gRPC's included) updates a global deadlock-detection graph
  // and records a stack trace: several percent of a load generator's CPU,
  // taken from the server under test on a shared machine.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  std::string value(static_cast<size_t>(config.value_size), '\0');
  Rng value_rng(config.seed);
  for (char& ch : value) ch = static_cast<char>('a' + value_rng.Uniform(26));

  ContextCache contexts;
  // Numbers the keys inserts write (d): after the loaded ones.
  AcknowledgedCounter inserts(static_cast<uint64_t>(config.records));
  std::unique_ptr<KeyChooser> chooser;
  if (config.distribution == "uniform") {
    chooser = std::make_unique<UniformChooser>(config.records);
  } else if (config.distribution == "latest") {
    chooser = std::make_unique<SkewedLatestChooser>(&inserts);
  } else {
    chooser = std::make_unique<ScrambledZipfianChooser>(config.records);
  }
  // Everything the loops' callbacks reference is declared before
  // `clients`, so it is destroyed after them: a Client's destructor waits
  // for its callbacks to return.
  std::unique_ptr<LoadPhase> load_phase;
  std::unique_ptr<ClosedLoop> load_loop;
  std::unique_ptr<RunPhase> run_phase;
  std::unique_ptr<ClosedLoop> run_loop;

  std::vector<std::unique_ptr<Client>> clients;
  std::vector<Client*> client_ptrs;
  for (const std::string& server : config.servers) {
    bool ring_ok = true;
    for (int i = 0; i < config.connections; ++i) {
      client::ClientOptions options;
      options.server = server;
      options.timeout = kOpTimeout;
      options.routing = config.routing == "any"
                            ? client::ClientOptions::Routing::kAny
                            : client::ClientOptions::Routing::kRing;
      options.tls = config.tls;
      auto c = Client::Connect(options);
      if (!c.ok()) {
        return UsageError(absl::StrCat("--servers: ", c.status().message()));
      }
      // Route from the first request on. A client whose ring cannot be
      // fetched sends to its server (and keeps trying in the background);
      // once one of a server's clients failed, the others do not wait too.
      if (ring_ok) {
        absl::Status ring = (*c)->RefreshRing();
        if (!ring.ok()) {
          ring_ok = false;
          std::fprintf(stderr,
                       "kvbench: warning: no ring from %s, its clients send "
                       "every request to it for now: %s\n",
                       server.c_str(), std::string(ring.message()).c_str());
        }
      }
      client_ptrs.push_back(c->get());
      clients.push_back(*std::move(c));
    }
  }
  // Requests each address answered, over every client.
  auto requests_by_address = [&clients] {
    std::map<std::string, uint64_t> sum;
    for (const auto& c : clients) {
      for (const auto& [address, n] : c->RequestsByAddress()) sum[address] += n;
    }
    return sum;
  };

  LoopOptions loop_options;
  loop_options.concurrency = config.concurrency;
  loop_options.key_prefix = config.key_prefix;
  loop_options.seed = config.seed;

  // Ends the process without destructors when callbacks may still be
  // pending (they reference the loops).
  auto abandon = [](int code) {
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  };

  std::optional<PhaseResult> load;
  if (config.loads()) {
    load_phase = std::make_unique<LoadPhase>(config.records);
    LoopOptions o = loop_options;
    o.phase_salt = 1;
    load_loop = std::make_unique<ClosedLoop>(o, client_ptrs, &value, &contexts,
                                             load_phase.get());
    bool finished = RunLoad(*load_loop, config.records);
    load = load_loop->Result();
    if (!finished) {
      std::fprintf(stderr,
                   "kvbench: the load made no progress for %s; giving up\n",
                   absl::FormatDuration(kLoadStall).c_str());
      abandon(kExitAllFailed);
    }
    if (load->errors > 0) {
      std::string first = load->error_samples.empty()
                              ? std::string()
                              : load->error_samples[0].message;
      std::fprintf(stderr,
                   "kvbench: %llu of %llu load writes failed; first: %s\n",
                   static_cast<unsigned long long>(load->errors),
                   static_cast<unsigned long long>(load->errors + load->ops()),
                   first.c_str());
      if (load->ops() == 0) {
        std::fprintf(stderr,
                     "kvbench: every operation failed; nothing to measure\n");
        return kExitAllFailed;
      }
    }
  }

  auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(config.duration));
  // In-flight operations are awaited for kDrainGrace after the duration.
  auto give_up = deadline + std::chrono::duration_cast<Clock::duration>(
                                absl::ToChronoNanoseconds(kDrainGrace));
  Mix mix = config.mix();
  run_phase = std::make_unique<RunPhase>(mix, chooser.get(), &inserts,
                                         deadline);
  loop_options.phase_salt = 2;
  // Updates replace what the latest read or write of their key returned.
  loop_options.cache_read_contexts = mix[static_cast<int>(OpKind::kWrite)] > 0;
  loop_options.windows = timeline != nullptr;
  run_loop = std::make_unique<ClosedLoop>(loop_options, client_ptrs, &value,
                                          &contexts, run_phase.get());
  std::map<std::string, uint64_t> before_run = requests_by_address();
  StopRunOnSignal();
  std::fprintf(stderr, "kvbench: run phase: %g s, %d operations in flight\n",
               config.duration, config.concurrency);
  run_loop->Start();
  bool finished = AwaitRun(*run_loop, deadline, give_up, timeline.get());
  PhaseResult run = run_loop->Result();
  if (timeline != nullptr) {
    // The rest of the run: from the last whole second to the last answer
    // (or to now, counting what never answered as errors).
    Window rest = run_loop->TakeWindow();
    rest.errors += run.stuck;
    if (rest.latency.count() > 0 || rest.errors > 0) {
      timeline->Write(run.seconds, rest);
    }
  }
  AddressCounts by_address;
  for (const auto& [address, n] : requests_by_address()) {
    uint64_t in_run = n - before_run[address];
    if (in_run > 0) by_address.push_back({address, in_run});
  }

  if (config.json) {
    PrintJson(config, load ? &*load : nullptr, run, by_address);
  } else {
    PrintHuman(config, load ? &*load : nullptr, run, by_address);
  }
  int code = kExitOk;
  if (run.ops() == 0 && run.errors > 0) {
    std::fprintf(
        stderr, "kvbench: every operation failed (%llu errors%s): %s\n",
        static_cast<unsigned long long>(run.errors),
        run.gave_up ? ", stopped early" : "",
        run.error_samples.empty() ? "" : run.error_samples[0].message.c_str());
    code = kExitAllFailed;
  }
  if (!finished) abandon(code);
  clients.clear();  // waits for every callback to return
  return code;
}

}  // namespace
}  // namespace rumor::bench

int main(int argc, char** argv) { return rumor::bench::Main(argc, argv); }
