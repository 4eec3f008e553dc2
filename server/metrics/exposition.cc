#include "server/metrics/exposition.h"

#include <cassert>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rumor::server {

std::string EscapeLabelValue(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

bool IsValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void MetricsWriter::Family(absl::string_view name, MetricType type,
                           absl::string_view help) {
  assert(IsValidMetricName(name));
  std::string escaped_help;
  for (char c : help) {
    if (c == '\\') escaped_help += "\\\\";
    else if (c == '\n') escaped_help += "\\n";
    else escaped_help += c;
  }
  const char* t = type == MetricType::kCounter ? "counter"
                  : type == MetricType::kGauge ? "gauge"
                                               : "histogram";
  absl::StrAppend(&out_, "# HELP ", name, " ", escaped_help, "\n# TYPE ",
                  name, " ", t, "\n");
}

void MetricsWriter::Head(absl::string_view name, const MetricLabels& labels) {
  assert(IsValidMetricName(name));
  out_.append(name.data(), name.size());
  if (labels.empty()) return;
  out_ += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    assert(IsValidMetricName(key));
    if (!first) out_ += ',';
    first = false;
    absl::StrAppend(&out_, key, "=\"", EscapeLabelValue(value), "\"");
  }
  out_ += '}';
}

void MetricsWriter::Sample(absl::string_view name, const MetricLabels& labels,
                           uint64_t value) {
  Head(name, labels);
  absl::StrAppend(&out_, " ", value, "\n");
}

void MetricsWriter::Sample(absl::string_view name, const MetricLabels& labels,
                           double value) {
  Head(name, labels);
  if (std::isnan(value)) {
    out_ += " NaN\n";
  } else if (std::isinf(value)) {
    out_ += value > 0 ? " +Inf\n" : " -Inf\n";
  } else {
    absl::StrAppend(&out_, " ", absl::StrFormat("%.17g", value), "\n");
  }
}

void MetricsWriter::Counter(absl::string_view name, absl::string_view help,
                            uint64_t value) {
  Family(name, MetricType::kCounter, help);
  Sample(name, {}, value);
}

void MetricsWriter::Gauge(absl::string_view name, absl::string_view help,
                          uint64_t value) {
  Family(name, MetricType::kGauge, help);
  Sample(name, {}, value);
}

}  // namespace rumor::server
