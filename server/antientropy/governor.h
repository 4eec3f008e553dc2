// Paces repair by what it costs client requests (sans-I/O).
//
// The repair rate limits (keys/s, bytes/s) are scaled by a share in
// [min_share, 1]. While repair works, the governor compares the mean
// latency of client requests in each window with the mean measured while
// repair did not work (the baseline): above baseline * (1 + tolerance) the
// share halves; otherwise it grows back by `step`. A closed-loop client
// loses throughput in proportion to the latency it gains, so holding the
// latency within the tolerance holds the throughput within about the same
// fraction, whatever the rate limit is set to.
//
// The baseline is measured between two stretches of work (the idle time
// between exchanges) and, during a long stretch, in short pauses the
// governor asks for (probes), so that a change in the clients' own load
// moves the baseline rather than starving repair. A window with fewer
// than `min_ops` client requests says nothing about them: the share grows.
//
// The caller feeds cumulative client counts (ops, summed latency) with the
// time and idles when told; nothing here sleeps or reads a clock.
#ifndef RUMOR_SERVER_ANTIENTROPY_GOVERNOR_H_
#define RUMOR_SERVER_ANTIENTROPY_GOVERNOR_H_

#include <cstdint>

#include "absl/time/time.h"

namespace rumor::server {

// Client requests finished so far, and their latencies summed. Cumulative:
// the governor takes differences.
struct ForegroundSample {
  uint64_t ops = 0;
  uint64_t latency_us = 0;
};

struct GovernorOptions {
  // Latency rise over the baseline tolerated while repair works.
  double tolerance = 0.05;
  // The share never goes below this, so repair always moves.
  double min_share = 1.0 / 16;
  // Growth of the share per window without a latency rise.
  double step = 1.0 / 8;
  absl::Duration window = absl::Milliseconds(500);
  // Fewer client requests than this in a window or a baseline: no signal.
  uint64_t min_ops = 50;
  // During a long stretch of work, a probe this often, this long.
  absl::Duration probe_every = absl::Seconds(20);
  absl::Duration probe = absl::Milliseconds(750);
};

class RepairGovernor {
 public:
  explicit RepairGovernor(GovernorOptions options = {});

  // Repair starts working at `now` (call it before the first step's work).
  // The client requests since Stopped become the baseline if the idle time
  // was a window or more (and no longer than probe_every: an older mean
  // says little about now, so a probe measures it instead); after a
  // shorter pause the work goes on as one stretch.
  void Started(absl::Time now, ForegroundSample s);
  // Repair stops working; the idle time from here measures the baseline.
  // Called again while idle: nothing changes.
  void Stopped(absl::Time now, ForegroundSample s);
  // Repair works; called before each paced step. Returns how long repair
  // must idle now for a probe (zero: none); after it, call Probed.
  absl::Duration Working(absl::Time now, ForegroundSample s);
  // A probe's idle time ended: its client requests become the baseline.
  void Probed(absl::Time now, ForegroundSample s);
  // Time to leave out (repair held by an operator): the current window
  // starts again from `now`, and nothing is measured from what passed.
  void Skip(absl::Time now, ForegroundSample s);

  // The fraction of the rate limits repair may use now.
  double share() const { return share_; }
  // Mean client latency without repair (zero: not measured yet), and in
  // the last window with repair.
  absl::Duration baseline() const { return baseline_; }
  absl::Duration recent() const { return recent_; }
  uint64_t decreases() const { return decreases_; }
  uint64_t probes() const { return probes_; }

 private:
  // Mean latency of the requests between two samples, if enough of them.
  bool Mean(ForegroundSample from, ForegroundSample to,
            absl::Duration* mean) const;
  void SetBaseline(absl::Time now, ForegroundSample from, ForegroundSample to);

  // Options made safe: min_share in [1/1024, 1], durations positive.
  static GovernorOptions Sane(GovernorOptions o);

  const GovernorOptions options_;
  double share_ = 1;
  absl::Duration baseline_ = absl::ZeroDuration();
  absl::Duration recent_ = absl::ZeroDuration();
  absl::Time baseline_at_ = absl::InfinitePast();  // last measured (or tried)
  bool idle_ = true;
  absl::Time idle_since_ = absl::InfinitePast();  // unknown until Stopped
  ForegroundSample idle_sample_;
  absl::Time window_start_ = absl::InfinitePast();
  ForegroundSample window_sample_;
  absl::Time probe_start_ = absl::InfinitePast();
  ForegroundSample probe_sample_;
  // Whether the last closed window had clients enough to judge: periodic
  // probes are skipped without them.
  bool clients_ = false;
  uint64_t decreases_ = 0;
  uint64_t probes_ = 0;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_ANTIENTROPY_GOVERNOR_H_
