#include "server/metrics/request_metrics.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rumor::server {
namespace {

const char* OpName(int op) {
  switch (op) {
    case 0: return "get";
    case 1: return "put";
    default: return "delete";
  }
}

}  // namespace

void RequestMetrics::Record(RequestOp op, absl::StatusCode code,
                            bool not_found, int64_t micros) {
  int c = static_cast<int>(code);
  if (c < 0 || c >= kCodes) c = static_cast<int>(absl::StatusCode::kUnknown);
  if (not_found && code == absl::StatusCode::kOk) {
    c = static_cast<int>(absl::StatusCode::kNotFound);
  }
  micros = std::max<int64_t>(micros, 0);
  Cell& cell = cells_[static_cast<int>(op)][c];
  size_t b = std::lower_bound(kBucketMicros.begin(), kBucketMicros.end(),
                              micros) -
             kBucketMicros.begin();
  cell.buckets[b].fetch_add(1, std::memory_order_relaxed);
  cell.sum_micros.fetch_add(static_cast<uint64_t>(micros),
                            std::memory_order_relaxed);
  cell.count.fetch_add(1, std::memory_order_relaxed);
}

uint64_t RequestMetrics::Count(RequestOp op, absl::StatusCode code) const {
  int c = static_cast<int>(code);
  if (c < 0 || c >= kCodes) return 0;
  return cells_[static_cast<int>(op)][c].count.load(std::memory_order_relaxed);
}

void RequestMetrics::Write(MetricsWriter* w) const {
  static constexpr absl::string_view kName = "rumor_request_duration_seconds";
  w->Family(kName, MetricType::kHistogram,
            "Client requests this node answered (as coordinator or by "
            "forwarding), by operation and outcome, and how long they took "
            "from arrival to answer.");
  for (int op = 0; op < kOps; ++op) {
    for (int c = 0; c < kCodes; ++c) {
      const Cell& cell = cells_[op][c];
      // Record adds to a bucket before the count, and the count is read
      // first here: a request recorded meanwhile may be in a bucket and not
      // yet in the count, so buckets are capped at the count and +Inf is
      // the count itself, which keeps the histogram monotonic.
      uint64_t count = cell.count.load(std::memory_order_relaxed);
      if (count == 0 && c != 0) continue;
      std::string outcome = absl::AsciiStrToLower(
          absl::StatusCodeToString(static_cast<absl::StatusCode>(c)));
      MetricLabels labels = {{"op", OpName(op)}, {"outcome", outcome}};
      uint64_t cumulative = 0;
      for (size_t b = 0; b < kBucketMicros.size(); ++b) {
        cumulative += cell.buckets[b].load(std::memory_order_relaxed);
        MetricLabels bl = labels;
        bl.push_back({"le", absl::StrFormat("%g", kBucketMicros[b] / 1e6)});
        w->Sample(absl::StrCat(kName, "_bucket"), bl,
                  std::min(cumulative, count));
      }
      MetricLabels inf = labels;
      inf.push_back({"le", "+Inf"});
      w->Sample(absl::StrCat(kName, "_bucket"), inf, count);
      w->Sample(absl::StrCat(kName, "_sum"), labels,
                cell.sum_micros.load(std::memory_order_relaxed) / 1e6);
      w->Sample(absl::StrCat(kName, "_count"), labels, count);
    }
  }
}

}  // namespace rumor::server
