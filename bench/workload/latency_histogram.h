// LatencyHistogram: kvbench's record of operation latencies, a log-linear
// histogram in the manner of HdrHistogram. Values are nanoseconds clamped to
// [1 µs, 60 s]; each power of two is split into 128 buckets, so a bucket is
// at most 1/128 (0.8%) of its values wide and every quantile it reports is
// at most 0.8% above the exact one. About 30 KiB.
//
// Thread safety: a value type, not thread-safe. Concurrent recorders keep
// one histogram each (kvbench: one per shard, under the shard's mutex) and
// Merge them. The bucketing functions in `histogram` are constexpr and pure.
#ifndef RUMOR_BENCH_WORKLOAD_LATENCY_HISTOGRAM_H_
#define RUMOR_BENCH_WORKLOAD_LATENCY_HISTOGRAM_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rumor::bench {

// Bucketing of LatencyHistogram (below), at namespace scope so that the
// bucket count can be a constant of the class.
namespace histogram {

// log2 of the number of buckets each power of two is split into.
inline constexpr int kSubBucketBits = 7;
inline constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
// Record() clamps values into [kMinNanos, kMaxNanos].
inline constexpr uint64_t kMinNanos = 1'000;
inline constexpr uint64_t kMaxNanos = 60'000'000'000;

// The index of the bucket holding `v`. Values below kSubBuckets have a
// bucket each; above, value v with highest bit e falls in sub-bucket
// (v >> (e - kSubBucketBits)) of octave e. Buckets are contiguous and
// ordered: BucketOf is monotonic, and bucket i + 1 starts right after
// BucketUpper(i).
constexpr size_t BucketOf(uint64_t v) {
  if (v < kSubBuckets) return v;
  int shift = std::bit_width(v) - 1 - kSubBucketBits;
  return (shift + 1) * kSubBuckets + ((v >> shift) - kSubBuckets);
}

// The largest value that falls in bucket `i`. A bucket at or above
// kSubBuckets holds 2^(i / kSubBuckets - 1) values, all at least kSubBuckets
// times that width.
constexpr uint64_t BucketUpper(size_t i) {
  if (i < kSubBuckets) return i;
  int shift = static_cast<int>(i / kSubBuckets) - 1;
  uint64_t lower = (kSubBuckets + i % kSubBuckets) << shift;
  return lower + (uint64_t{1} << shift) - 1;
}

// Enough buckets for every value up to kMaxNanos.
inline constexpr size_t kNumBuckets = BucketOf(kMaxNanos) + 1;

static_assert(BucketUpper(BucketOf(1000)) >= 1000);
static_assert(BucketUpper(BucketOf(kMaxNanos)) >= kMaxNanos);
static_assert(BucketOf(BucketUpper(BucketOf(123'456'789)) + 1) ==
              BucketOf(123'456'789) + 1);

}  // namespace histogram

// Log-linear latency histogram; see the top of this file. Counts, the sum
// and the maximum are of the clamped values.
class LatencyHistogram {
 public:
  // Empty: count() 0, max_nanos() 0, mean_nanos() 0, every Quantile 0.
  LatencyHistogram();

  // Counts one value, clamped to [histogram::kMinNanos, kMaxNanos] first.
  // O(1).
  void Record(uint64_t nanos);

  // Adds every value of `other`: afterwards this histogram is as if it had
  // also recorded all of other's values. O(buckets).
  void Merge(const LatencyHistogram& other);

  // The number of values recorded.
  uint64_t count() const { return count_; }
  // The largest value recorded (exact, clamped); 0 when empty.
  uint64_t max_nanos() const { return max_; }
  // The exact mean of the (clamped) values; 0 when empty.
  double mean_nanos() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_;
  }

  // The highest value equivalent to the q-quantile (0 < q <= 1): the upper
  // bound of the bucket holding it, capped at the exact maximum. 0 when
  // empty. The q-quantile is the value of rank ceil(q * count) (at least 1)
  // in sorted order, so any q <= 1 / count() gives the minimum's bucket and
  // q = 1 the exact maximum. The result is never below the exact quantile
  // and less than 1/128 of it above. O(buckets).
  uint64_t Quantile(double q) const;

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace rumor::bench

#endif  // RUMOR_BENCH_WORKLOAD_LATENCY_HISTOGRAM_H_
