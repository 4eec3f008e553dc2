// Writes metrics in Prometheus' text exposition format (version 0.0.4):
//
//   # HELP rumor_requests_total Client requests this node coordinated.
//   # TYPE rumor_requests_total counter
//   rumor_requests_total{op="get",outcome="ok"} 1027
//
// A family's samples must follow its Family() call, before the next one.
// Label values are escaped as the format requires; names are the caller's
// constants and are checked only in debug builds. No I/O, no locks.
#ifndef RUMOR_SERVER_METRICS_EXPOSITION_H_
#define RUMOR_SERVER_METRICS_EXPOSITION_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

namespace rumor::server {

enum class MetricType { kCounter, kGauge, kHistogram };

using MetricLabels = std::vector<std::pair<absl::string_view, std::string>>;

class MetricsWriter {
 public:
  // Starts the family `name` (without the _bucket/_sum/_count suffixes of a
  // histogram).
  void Family(absl::string_view name, MetricType type, absl::string_view help);
  // One sample. For a histogram, `name` carries its suffix.
  void Sample(absl::string_view name, const MetricLabels& labels,
              uint64_t value);
  void Sample(absl::string_view name, const MetricLabels& labels, double value);
  // Shorthands: a family with one unlabelled sample.
  void Counter(absl::string_view name, absl::string_view help, uint64_t value);
  void Gauge(absl::string_view name, absl::string_view help, uint64_t value);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Head(absl::string_view name, const MetricLabels& labels);
  std::string out_;
};

// `s` escaped for a label value: backslash, double quote and newline.
std::string EscapeLabelValue(absl::string_view s);
// Whether `name` is a valid metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*).
bool IsValidMetricName(absl::string_view name);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_METRICS_EXPOSITION_H_
