#include "server/antientropy/governor.h"

#include <algorithm>

namespace rumor::server {

GovernorOptions RepairGovernor::Sane(GovernorOptions o) {
  if (!(o.min_share >= 1.0 / 1024)) o.min_share = 1.0 / 1024;  // and NaN
  if (!(o.min_share <= 1)) o.min_share = 1;
  if (!(o.step > 0)) o.step = 1.0 / 8;
  if (!(o.tolerance >= 0)) o.tolerance = 0;
  if (o.window < absl::Milliseconds(1)) o.window = absl::Milliseconds(1);
  if (o.probe < absl::Milliseconds(1)) o.probe = absl::Milliseconds(1);
  if (o.probe_every < o.window) o.probe_every = o.window;
  return o;
}

RepairGovernor::RepairGovernor(GovernorOptions options)
    : options_(Sane(options)) {}

bool RepairGovernor::Mean(ForegroundSample from, ForegroundSample to,
                          absl::Duration* mean) const {
  // Counters only grow; a sample going back (a restarted source) is no
  // signal rather than a huge one.
  if (to.ops < from.ops || to.latency_us < from.latency_us) return false;
  uint64_t ops = to.ops - from.ops;
  if (ops == 0 || ops < options_.min_ops) return false;
  *mean = absl::Microseconds(static_cast<double>(to.latency_us -
                                                 from.latency_us) /
                             static_cast<double>(ops));
  return true;
}

void RepairGovernor::SetBaseline(absl::Time now, ForegroundSample from,
                                 ForegroundSample to) {
  baseline_at_ = now;
  absl::Duration mean;
  // Too few requests to measure: unknown, so that the first window of
  // real traffic asks for a probe instead of being judged against a
  // baseline from another load.
  baseline_ = Mean(from, to, &mean) ? mean : absl::ZeroDuration();
}

void RepairGovernor::Started(absl::Time now, ForegroundSample s) {
  if (!idle_) return;
  idle_ = false;
  if (idle_since_ != absl::InfinitePast() &&
      now - idle_since_ > options_.probe_every) {
    // Idle for long: its mean may hold another hour's load. Measure now.
    baseline_ = absl::ZeroDuration();
    baseline_at_ = absl::InfinitePast();
  } else if (idle_since_ != absl::InfinitePast() &&
             now - idle_since_ >= options_.window) {
    SetBaseline(now, idle_sample_, s);
  } else if (window_start_ != absl::InfinitePast()) {
    // A pause shorter than a window (between two steps of a tree check):
    // the same stretch of work, and its window goes on.
    return;
  }
  window_start_ = now;
  window_sample_ = s;
}

void RepairGovernor::Stopped(absl::Time now, ForegroundSample s) {
  // Already idle: the idle time goes on from when it began.
  if (idle_ && idle_since_ != absl::InfinitePast()) return;
  idle_ = true;
  idle_since_ = now;
  idle_sample_ = s;
}

absl::Duration RepairGovernor::Working(absl::Time now, ForegroundSample s) {
  if (idle_) Started(now, s);
  auto probe = [&] {
    ++probes_;
    probe_start_ = now;
    probe_sample_ = s;
    return options_.probe;
  };
  // The periodic probe, while there are clients to measure (none: the
  // share grows anyway, and a pause would only slow repair).
  if (now - baseline_at_ >= options_.probe_every &&
      (clients_ || baseline_at_ == absl::InfinitePast())) {
    return probe();
  }
  if (now - window_start_ < options_.window) return absl::ZeroDuration();
  absl::Duration mean;
  bool signal = Mean(window_sample_, s, &mean);
  window_start_ = now;
  window_sample_ = s;
  clients_ = signal;
  if (!signal) {
    // No client traffic to protect.
    share_ = std::min(1.0, share_ + options_.step);
    return absl::ZeroDuration();
  }
  recent_ = mean;
  if (baseline_ == absl::ZeroDuration()) {
    // Clients, but nothing to compare them with: measure it. A probe that
    // found too few requests (a light load) is not repeated at once: not
    // before a quarter of probe_every.
    if (now - baseline_at_ >= options_.probe_every / 4) return probe();
    return absl::ZeroDuration();
  }
  if (mean > baseline_ * (1 + options_.tolerance)) {
    share_ = std::max(options_.min_share, share_ / 2);
    ++decreases_;
  } else {
    share_ = std::min(1.0, share_ + options_.step);
  }
  return absl::ZeroDuration();
}

void RepairGovernor::Probed(absl::Time now, ForegroundSample s) {
  SetBaseline(now, probe_sample_, s);
  window_start_ = now;
  window_sample_ = s;
}

void RepairGovernor::Skip(absl::Time now, ForegroundSample s) {
  window_start_ = now;
  window_sample_ = s;
}

}  // namespace rumor::server
