#include "bench/workload/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace rumor::bench {

LatencyHistogram::LatencyHistogram() : counts_(histogram::kNumBuckets, 0) {}

void LatencyHistogram::Record(uint64_t nanos) {
  nanos = std::clamp(nanos, histogram::kMinNanos, histogram::kMaxNanos);
  ++counts_[histogram::BucketOf(nanos)];
  ++count_;
  sum_ += nanos;
  max_ = std::max(max_, nanos);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * count_));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(histogram::BucketUpper(i), max_);
  }
  return max_;
}

}  // namespace rumor::bench
