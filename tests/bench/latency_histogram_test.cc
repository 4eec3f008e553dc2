#include "bench/workload/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace rumor::bench {
namespace {

using histogram::BucketOf;
using histogram::BucketUpper;
using histogram::kMaxNanos;
using histogram::kMinNanos;
using histogram::kNumBuckets;
using histogram::kSubBuckets;

constexpr uint64_t kMicro = 1'000;
constexpr uint64_t kMilli = 1'000'000;

// The documented precision: a reported quantile is never below the exact
// one and less than 1/128 of it above.
void ExpectWithinBucketPrecision(uint64_t reported, uint64_t exact,
                                 const char* what) {
  EXPECT_GE(reported, exact) << what;
  EXPECT_LE(reported, exact + exact / 128) << what;
}

TEST(HistogramBucketsTest, AreContiguousAndAtMostOne128thOfTheirValuesWide) {
  // Hand-computed: 1000 has highest bit 9, so sub-buckets are 4 wide there:
  // octave 3 (after 128 single-value buckets and two narrower octaves),
  // sub-bucket 1000 >> 2 = 250 -> index 3 * 128 + 122, values 1000..1003.
  EXPECT_EQ(BucketOf(1000), 506u);
  EXPECT_EQ(BucketUpper(506), 1003u);
  // 50 ms: sub-buckets 2^18 wide; 50'000'000 >> 18 = 190.
  EXPECT_EQ(BucketUpper(BucketOf(50'000'000)), (uint64_t{190} << 18) + 262143);
  EXPECT_EQ(kNumBuckets, 3808u);

  for (uint64_t v = 0; v < kSubBuckets; ++v) {
    EXPECT_EQ(BucketOf(v), v) << "values below 128 have a bucket each";
    EXPECT_EQ(BucketUpper(v), v);
  }
  for (size_t i = 1; i < kNumBuckets; ++i) {
    uint64_t lower = BucketUpper(i - 1) + 1;
    uint64_t upper = BucketUpper(i);
    ASSERT_EQ(BucketOf(lower), i)
        << "bucket " << i << " starts after " << i - 1;
    ASSERT_EQ(BucketOf(upper), i) << "bucket " << i << " ends at its upper";
    if (i >= kSubBuckets) {
      ASSERT_LE((upper - lower + 1) * 128, lower)
          << "bucket " << i << " is wider than 1/128 of its values";
    }
  }
  EXPECT_GE(BucketUpper(kNumBuckets - 1), kMaxNanos);
  EXPECT_LT(BucketUpper(kNumBuckets - 2), kMaxNanos) << "no unused buckets";
}

TEST(LatencyHistogramTest, EmptyReportsZeros) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max_nanos(), 0u);
  EXPECT_EQ(h.mean_nanos(), 0.0);
  EXPECT_EQ(h.Quantile(0.5), 0u);
  EXPECT_EQ(h.Quantile(1.0), 0u);
}

TEST(LatencyHistogramTest, UniformOneToHundredThousandMicros) {
  // 1, 2, ..., 100000 µs, recorded in a shuffled order: the exact
  // q-quantile is ceil(q * 100000) µs.
  constexpr uint64_t kN = 100'000;
  std::vector<uint64_t> values;
  for (uint64_t i = 1; i <= kN; ++i) values.push_back(i * kMicro);
  std::shuffle(values.begin(), values.end(), std::mt19937_64(7));
  LatencyHistogram h;
  for (uint64_t v : values) h.Record(v);

  EXPECT_EQ(h.count(), kN);
  EXPECT_EQ(h.max_nanos(), 100 * kMilli);
  EXPECT_DOUBLE_EQ(h.mean_nanos(), 50'000'500.0);  // (1 + 100000) / 2 µs

  ExpectWithinBucketPrecision(h.Quantile(0.50), 50'000 * kMicro, "p50");
  ExpectWithinBucketPrecision(h.Quantile(0.95), 95'000 * kMicro, "p95");
  ExpectWithinBucketPrecision(h.Quantile(0.99), 99'000 * kMicro, "p99");
  ExpectWithinBucketPrecision(h.Quantile(0.999), 99'900 * kMicro, "p99.9");
  ExpectWithinBucketPrecision(h.Quantile(1.0 / kN), 1 * kMicro, "min");
  // The bucket upper bounds, computed by hand from the bucketing above.
  EXPECT_EQ(h.Quantile(0.50), 50'069'503u);
  EXPECT_EQ(h.Quantile(0.95), 95'420'415u);
  EXPECT_EQ(h.Quantile(0.99), 99'090'431u);
  // 99.9 ms shares the last bucket (99'614'720..100'139'007) with the
  // maximum, so the result is capped at the exact maximum.
  EXPECT_EQ(h.Quantile(0.999), 100 * kMilli);
  EXPECT_EQ(h.Quantile(1.0), 100 * kMilli) << "p100 is the exact maximum";
  EXPECT_EQ(h.Quantile(1.0 / kN), 1'003u)
      << "the minimum's bucket is 1000..1003";
}

TEST(LatencyHistogramTest, EveryPermilleOfALogUniformSampleIsWithinPrecision) {
  // 50000 values spread log-uniformly over 1 µs .. 1 s, compared with the
  // exact order statistics of a sorted copy.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> exponent(3.0, 9.0);
  std::vector<uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 50'000; ++i) {
    uint64_t v = static_cast<uint64_t>(std::pow(10.0, exponent(rng)));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  const uint64_t n = values.size();
  for (int permille = 1; permille <= 1000; ++permille) {
    double q = permille / 1000.0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * n));
    ExpectWithinBucketPrecision(h.Quantile(q), values[rank - 1],
                                "a permille quantile");
  }
  ExpectWithinBucketPrecision(h.Quantile(1.0 / n), values.front(), "min");
  EXPECT_EQ(h.Quantile(1.0), values.back());
  EXPECT_EQ(h.max_nanos(), values.back());
}

TEST(LatencyHistogramTest, SingleValueIsReportedExactly) {
  // 12.345678 ms lies in bucket 12'320'768..12'386'303; every quantile is
  // capped at the exact maximum, which is the value itself.
  LatencyHistogram h;
  for (int i = 0; i < 1000; ++i) h.Record(12'345'678);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.max_nanos(), 12'345'678u);
  EXPECT_DOUBLE_EQ(h.mean_nanos(), 12'345'678.0);
  for (double q : {0.001, 0.5, 0.95, 0.99, 0.999, 1.0}) {
    EXPECT_EQ(h.Quantile(q), 12'345'678u) << "q " << q;
  }
}

TEST(LatencyHistogramTest, TwoClustersSplitAtTheirCountBoundary) {
  // 900 operations at 100 µs and 100 at 10 ms, interleaved.
  LatencyHistogram h;
  for (int i = 0; i < 1000; ++i) {
    h.Record(i % 10 == 9 ? 10 * kMilli : 100 * kMicro);
  }
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.max_nanos(), 10 * kMilli);
  EXPECT_DOUBLE_EQ(h.mean_nanos(),
                   (900 * 100'000.0 + 100 * 10'000'000.0) / 1000);
  // Ranks 1..900 are 100 µs (bucket 99'840..100'351).
  EXPECT_EQ(h.Quantile(0.001), 100'351u) << "min";
  EXPECT_EQ(h.Quantile(0.50), 100'351u);
  EXPECT_EQ(h.Quantile(0.90), 100'351u);
  ExpectWithinBucketPrecision(h.Quantile(0.90), 100 * kMicro, "p90");
  // Ranks 901..1000 are 10 ms, whose bucket (9'961'472..10'027'007) is
  // capped at the exact maximum.
  EXPECT_EQ(h.Quantile(0.901), 10 * kMilli);
  EXPECT_EQ(h.Quantile(0.95), 10 * kMilli);
  EXPECT_EQ(h.Quantile(0.99), 10 * kMilli);
  EXPECT_EQ(h.Quantile(0.999), 10 * kMilli);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram fast, slow, all;
  for (uint64_t i = 1; i <= 3000; ++i) {
    fast.Record(i * 50 * kMicro / 3);  // 16.7 µs .. 50 ms
    all.Record(i * 50 * kMicro / 3);
  }
  for (uint64_t i = 1; i <= 1000; ++i) {
    slow.Record(200 * kMilli + i * kMilli);  // 201 .. 1200 ms
    all.Record(200 * kMilli + i * kMilli);
  }
  LatencyHistogram merged = fast;
  merged.Merge(slow);
  EXPECT_EQ(merged.count(), 4000u);
  EXPECT_EQ(merged.max_nanos(), 1200 * kMilli);
  EXPECT_DOUBLE_EQ(merged.mean_nanos(), all.mean_nanos());
  for (int permille = 1; permille <= 1000; ++permille) {
    double q = permille / 1000.0;
    EXPECT_EQ(merged.Quantile(q), all.Quantile(q)) << "permille " << permille;
  }
  // The 3000 fast values are ranks 1..3000 of 4000: p75 is the fast
  // cluster's maximum, p75.1 (rank 3004) the slow cluster's fourth value.
  ExpectWithinBucketPrecision(merged.Quantile(0.75), 50 * kMilli, "p75");
  ExpectWithinBucketPrecision(merged.Quantile(0.751), 204 * kMilli, "p75.1");

  // Either order gives the same result; the other's larger max is taken.
  LatencyHistogram reversed = slow;
  reversed.Merge(fast);
  EXPECT_EQ(reversed.count(), 4000u);
  EXPECT_EQ(reversed.max_nanos(), 1200 * kMilli);
  EXPECT_DOUBLE_EQ(reversed.mean_nanos(), all.mean_nanos());
  for (double q : {0.001, 0.5, 0.75, 0.751, 0.99, 1.0}) {
    EXPECT_EQ(reversed.Quantile(q), all.Quantile(q)) << "q " << q;
  }

  // Merging an empty histogram changes nothing; merging into one copies.
  LatencyHistogram unchanged = fast;
  unchanged.Merge(LatencyHistogram());
  LatencyHistogram copy;
  copy.Merge(fast);
  for (const LatencyHistogram* h : {&unchanged, &copy}) {
    EXPECT_EQ(h->count(), fast.count());
    EXPECT_EQ(h->max_nanos(), fast.max_nanos());
    EXPECT_DOUBLE_EQ(h->mean_nanos(), fast.mean_nanos());
    EXPECT_EQ(h->Quantile(0.5), fast.Quantile(0.5));
    EXPECT_EQ(h->Quantile(0.99), fast.Quantile(0.99));
  }
}

TEST(LatencyHistogramTest, ValuesAreClampedToOneMicrosecondAndSixtySeconds) {
  LatencyHistogram low;
  low.Record(0);
  low.Record(1);
  low.Record(kMinNanos - 1);
  EXPECT_EQ(low.count(), 3u);
  EXPECT_EQ(low.max_nanos(), kMinNanos);
  EXPECT_DOUBLE_EQ(low.mean_nanos(), 1000.0);
  EXPECT_EQ(low.Quantile(0.01), kMinNanos);
  EXPECT_EQ(low.Quantile(1.0), kMinNanos);

  LatencyHistogram high;
  high.Record(kMaxNanos + 1);
  high.Record(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(high.count(), 2u);
  EXPECT_EQ(high.max_nanos(), kMaxNanos);
  EXPECT_DOUBLE_EQ(high.mean_nanos(), 60e9);
  EXPECT_EQ(high.Quantile(0.5), kMaxNanos);

  // The bounds themselves are kept, and a clamped low value stays below
  // everything else.
  LatencyHistogram both;
  both.Record(0);
  both.Record(kMinNanos);
  both.Record(kMaxNanos);
  both.Record(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(both.count(), 4u);
  EXPECT_EQ(both.max_nanos(), kMaxNanos);
  EXPECT_DOUBLE_EQ(both.mean_nanos(), (2.0 * 1000 + 2.0 * 60e9) / 4);
  EXPECT_EQ(both.Quantile(0.5), 1'003u) << "the bucket of 1 µs";
  EXPECT_EQ(both.Quantile(0.75), kMaxNanos);
}

}  // namespace
}  // namespace rumor::bench
