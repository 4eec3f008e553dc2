#include "bench/workload/key_chooser.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace rumor::bench {
namespace {

constexpr int kDraws = 1'000'000;

// Draw counts per key of `chooser` over `draws` draws from Rng(seed).
std::vector<uint64_t> CountDraws(const KeyChooser& chooser, uint64_t records,
                                 int draws, uint64_t seed) {
  std::vector<uint64_t> counts(records, 0);
  Rng rng(seed);
  for (int i = 0; i < draws; ++i) {
    uint64_t key = chooser.Next(rng);
    if (key >= records) {
      ADD_FAILURE() << "draw " << i << " is " << key << ", not below "
                    << records;
      return counts;
    }
    ++counts[key];
  }
  return counts;
}

// Keys in decreasing order of their count.
std::vector<uint64_t> ByPopularity(const std::vector<uint64_t>& counts) {
  std::vector<uint64_t> keys(counts.size());
  std::iota(keys.begin(), keys.end(), 0);
  std::stable_sort(keys.begin(), keys.end(), [&](uint64_t a, uint64_t b) {
    return counts[a] > counts[b];
  });
  return keys;
}

TEST(RngTest, MatchesTheSplitMix64ReferenceOutputs) {
  // splitmix64.c (Vigna), seeded with 0 and with 1.
  Rng zero(0);
  EXPECT_EQ(zero.Next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(zero.Next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(zero.Next(), 0x06c45d188009454fULL);
  Rng one(1);
  EXPECT_EQ(one.Next(), 0x910a2dec89025cc1ULL);
  EXPECT_EQ(one.Next(), 0xbeeb8da1658eec67ULL);
}

TEST(RngTest, DoublesAndUniformDrawsAreInRangeAndUseTheTopBits) {
  Rng rng(42), twin(42);
  double sum = 0;
  for (int i = 0; i < 100'000; ++i) {
    double d = rng.NextDouble();
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    ASSERT_EQ(d, static_cast<double>(twin.Next() >> 11) / 9007199254740992.0);
    sum += d;
  }
  EXPECT_NEAR(sum / 100'000, 0.5, 0.005);

  for (uint64_t n : {uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{1000},
                     (uint64_t{1} << 63) + 1,
                     std::numeric_limits<uint64_t>::max()}) {
    Rng r(n);
    long double mean = 0;
    for (int i = 0; i < 20'000; ++i) {
      uint64_t u = r.Uniform(n);
      ASSERT_LT(u, n);
      mean += static_cast<long double>(u) / 20'000;
    }
    // Mean (n - 1) / 2, sd of the mean about n / 490: the whole range is
    // used, including the high bits of large n.
    EXPECT_NEAR(static_cast<double>(mean / n), (n - 1.0) / 2 / n, 0.01)
        << "n " << n;
  }
}

TEST(RngTest, StreamsOfOneSeedDoNotOverlap) {
  // kvbench's slots each draw from one stream. Streams that were one
  // sequence shifted (seeds apart by SplitMix64's increment) would share
  // almost every value; independent ones share none in 64 x 2000 draws.
  constexpr int kStreams = 64;
  constexpr int kDrawsPerStream = 2000;
  std::vector<uint64_t> all;
  for (int s = 0; s < kStreams; ++s) {
    Rng rng = StreamRng(12345, s);
    for (int i = 0; i < kDrawsPerStream; ++i) all.push_back(rng.Next());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());

  // The shifted seeding the streams replace does overlap (the check above
  // can tell).
  Rng shifted0(12345), shifted1(12345 + 0x9e3779b97f4a7c15ULL);
  shifted0.Next();
  EXPECT_EQ(shifted0.Next(), shifted1.Next());

  // Repeatable: the same seed and stream, the same draws.
  Rng a = StreamRng(7, 3), b = StreamRng(7, 3), c = StreamRng(8, 3);
  EXPECT_EQ(a.Next(), b.Next());
  EXPECT_NE(a.Next(), c.Next());
}

TEST(FnvHash64Test, MatchesYcsbFnvHash64) {
  // FNV-1a over the little-endian bytes, then the absolute value as int64
  // (values computed independently).
  EXPECT_EQ(FnvHash64(0), 6284781860667377211ULL);
  EXPECT_EQ(FnvHash64(1), 8517097267634966620ULL);
  EXPECT_EQ(FnvHash64(2), 1820151046732198393ULL);
  EXPECT_EQ(FnvHash64(12345), 1792800413050876852ULL);
  EXPECT_EQ(FnvHash64(std::numeric_limits<uint64_t>::max()),
            8289690350564177859ULL);
  for (uint64_t v = 0; v < 100'000; ++v) {
    ASSERT_LE(FnvHash64(v), uint64_t{1} << 63) << "the absolute value of v "
                                               << v;
  }
}

TEST(KeyChooserTest, FixedSeedsGiveTheSequencesKvbenchHasAlwaysDrawn) {
  // Recorded from kvbench.cc before the choosers moved into this library:
  // a change here changes the keys of every benchmark run with a given
  // --seed, which makes results incomparable with earlier runs.
  std::vector<uint64_t> uniform, zipfian, scrambled;
  Rng a(1), b(1), c(1);
  UniformChooser uniform_chooser(1000);
  ZipfianGenerator zipf(1000, 0.99, ZipfianGenerator::Zeta(1000, 0.99));
  ScrambledZipfianChooser scrambled_chooser(1000);
  for (int i = 0; i < 12; ++i) {
    uniform.push_back(uniform_chooser.Next(a));
    zipfian.push_back(zipf.Next(b));
    scrambled.push_back(scrambled_chooser.Next(c));
  }
  // Uniform: the high word of Next() * 1000 (0x910a2dec89025cc1 * 1000 >> 64
  // = 566, ...).
  EXPECT_EQ(uniform, (std::vector<uint64_t>{566, 745, 971, 444, 444, 762, 877,
                                            523, 285, 793, 404, 605}));
  EXPECT_EQ(zipfian, (std::vector<uint64_t>{37, 146, 804, 14, 14, 167, 397, 26,
                                            4, 211, 10, 49}));
  EXPECT_EQ(scrambled, (std::vector<uint64_t>{830, 230, 315, 769, 169, 856, 82,
                                              519, 0, 898, 552, 812}));
}

TEST(UniformChooserTest, FrequenciesAreFlat) {
  constexpr uint64_t kRecords = 100;
  UniformChooser chooser(kRecords);
  std::vector<uint64_t> counts = CountDraws(chooser, kRecords, kDraws, 5);
  // Pearson's chi-square over 100 keys has 99 degrees of freedom: mean 99,
  // sd 14. Far above means skew, far below a non-random (e.g. cyclic)
  // sequence.
  double expected = static_cast<double>(kDraws) / kRecords;
  double chi2 = 0;
  for (uint64_t c : counts) {
    chi2 += (c - expected) * (c - expected) / expected;
  }
  EXPECT_LT(chi2, 99 + 5 * 14);
  EXPECT_GT(chi2, 99 - 5 * 14);
  EXPECT_GT(*std::min_element(counts.begin(), counts.end()), expected * 0.95);
  EXPECT_LT(*std::max_element(counts.begin(), counts.end()), expected * 1.05);
}

TEST(UniformChooserTest, LargeKeySpacesAreCoveredWholly) {
  constexpr uint64_t kRecords = 1'000'000'000'000;  // kvbench's --records cap
  UniformChooser chooser(kRecords);
  Rng rng(9);
  uint64_t lo = kRecords, hi = 0;
  double sum = 0;
  for (int i = 0; i < 100'000; ++i) {
    uint64_t key = chooser.Next(rng);
    ASSERT_LT(key, kRecords);
    lo = std::min(lo, key);
    hi = std::max(hi, key);
    sum += static_cast<double>(key);
  }
  EXPECT_LT(lo, kRecords / 1000);
  EXPECT_GT(hi, kRecords - kRecords / 1000);
  EXPECT_NEAR(sum / 100'000 / kRecords, 0.5, 0.005);
}

TEST(ZipfianGeneratorTest, ZetaSumsInversePowers) {
  EXPECT_EQ(ZipfianGenerator::Zeta(0, 0.99), 0.0);
  EXPECT_EQ(ZipfianGenerator::Zeta(1, 0.99), 1.0);
  EXPECT_DOUBLE_EQ(ZipfianGenerator::Zeta(2, 0.99), 1.0 + std::pow(2.0, -0.99));
  EXPECT_DOUBLE_EQ(ZipfianGenerator::Zeta(4, 0.5),
                   1.0 + 1 / std::sqrt(2.0) + 1 / std::sqrt(3.0) + 0.5);
  EXPECT_DOUBLE_EQ(ZipfianGenerator::Zeta(10, 1.0), 7381.0 / 2520);  // H(10)
}

TEST(ZipfianGeneratorTest, FixedSeedDrawsAreInRangeAndRepeatable) {
  constexpr uint64_t kItems = 50;
  ZipfianGenerator zipf(kItems, 0.99, ZipfianGenerator::Zeta(kItems, 0.99));
  Rng a(123), b(123), c(124);
  int differ = 0;
  for (int i = 0; i < 100'000; ++i) {
    uint64_t x = zipf.Next(a);
    ASSERT_LT(x, kItems);
    ASSERT_EQ(x, zipf.Next(b)) << "draw " << i << " of the same seed";
    differ += x != zipf.Next(c);
  }
  EXPECT_GT(differ, 10'000) << "another seed gives another sequence";
}

// The frequency of item i relative to the exact 1 / ((i + 1)^theta zetan).
std::vector<double> RelativeFrequencies(uint64_t items, double theta,
                                        uint64_t seed) {
  double zetan = ZipfianGenerator::Zeta(items, theta);
  ZipfianGenerator zipf(items, theta, zetan);
  std::vector<uint64_t> counts(items, 0);
  Rng rng(seed);
  for (int i = 0; i < kDraws; ++i) {
    uint64_t x = zipf.Next(rng);
    if (x >= items) {
      ADD_FAILURE() << "draw " << x << " is not below " << items;
      continue;
    }
    ++counts[x];
  }
  std::vector<double> relative;
  for (uint64_t i = 0; i < items; ++i) {
    double p = 1.0 / (std::pow(i + 1.0, theta) * zetan);
    relative.push_back(static_cast<double>(counts[i]) / (p * kDraws));
  }
  return relative;
}

TEST(ZipfianGeneratorTest, TopItemsFollowTheInversePowerLaw) {
  // Item 0 is drawn about 130,000 times in 10^6 (sd 0.3%), item 1 65,000
  // (0.4%): both exactly per 1 / (i + 1)^0.99, so item0 / item1 = 2^0.99.
  std::vector<double> rel = RelativeFrequencies(1000, 0.99, 17);
  EXPECT_NEAR(rel[0], 1.0, 0.015);
  EXPECT_NEAR(rel[1], 1.0, 0.02);
  EXPECT_NEAR(rel[0] / rel[1], 1.0, 0.025)
      << "item0 / item1 is not 2^0.99 = " << std::pow(2.0, 0.99);
  // Items 2 on follow a continuous approximation that overweights them
  // (documented: item 2 by 17%, item 5 by 5%, item 10 by 1%) and converges.
  // Items 10..29 are drawn 4,000 to 12,000 times each (sd 1-1.6%).
  EXPECT_NEAR(rel[2], 1.17, 0.03);
  EXPECT_NEAR(rel[5], 1.054, 0.03);
  double sum = 0;
  for (int i = 10; i < 30; ++i) {
    EXPECT_NEAR(rel[i], 1.0, 0.07) << "item " << i;
    sum += rel[i];
  }
  EXPECT_NEAR(sum / 20, 1.0, 0.02) << "items 10..29 on average";
}

TEST(ZipfianGeneratorTest, ThetaSetsTheSkew) {
  // At theta 0.5, item0 / item1 = sqrt(2) and item0 is 1/Zeta(100, 0.5)
  // = 5.6% of the draws.
  std::vector<double> rel = RelativeFrequencies(100, 0.5, 23);
  EXPECT_NEAR(rel[0], 1.0, 0.02);
  EXPECT_NEAR(rel[1], 1.0, 0.03);
  EXPECT_NEAR(rel[0] / rel[1], 1.0, 0.035)
      << "item0 / item1 is not 2^0.5 = " << std::sqrt(2.0);
}

TEST(ScrambledZipfianChooserTest, ZetanIsZetaOfTheItemCount) {
  // Zeta(10^10) is too long to sum; extend Zeta(10^6) to 10^10 with
  // Euler-Maclaurin (integral plus the endpoint correction; the next
  // term is below 10^-12).
  constexpr double kTheta = ScrambledZipfianChooser::kTheta;
  constexpr double kM = 1e6;
  const double kN = static_cast<double>(ScrambledZipfianChooser::kItemCount);
  double zeta = ZipfianGenerator::Zeta(1'000'000, kTheta) +
                (std::pow(kN, 1 - kTheta) - std::pow(kM, 1 - kTheta)) /
                    (1 - kTheta) +
                (std::pow(kN, -kTheta) - std::pow(kM, -kTheta)) / 2;
  EXPECT_NEAR(ScrambledZipfianChooser::kZetan, zeta, 1e-9);
  EXPECT_EQ(ScrambledZipfianChooser::kItemCount, 10'000'000'000ULL);
  EXPECT_EQ(kTheta, 0.99);
}

TEST(ScrambledZipfianChooserTest, DrawsStayBelowRecords) {
  for (uint64_t records : {uint64_t{1}, uint64_t{2}, uint64_t{7},
                           uint64_t{1000}, uint64_t{1'000'000'000'000}}) {
    ScrambledZipfianChooser chooser(records);
    Rng rng(records);
    for (int i = 0; i < 20'000; ++i) {
      ASSERT_LT(chooser.Next(rng), records) << "records " << records;
    }
  }
}

TEST(ScrambledZipfianChooserTest, PopularKeysAreSpreadOverTheKeySpace) {
  constexpr uint64_t kRecords = 100'000;
  ScrambledZipfianChooser chooser(kRecords);
  std::vector<uint64_t> counts = CountDraws(chooser, kRecords, kDraws, 31);
  std::vector<uint64_t> top = ByPopularity(counts);

  // The most popular keys are those of the zipfian's items 0, 1, 2 (their
  // hashes are distinct mod 10^5), not keys 0, 1, 2.
  EXPECT_EQ(top[0], FnvHash64(0) % kRecords);
  EXPECT_EQ(top[1], FnvHash64(1) % kRecords);
  EXPECT_EQ(top[2], FnvHash64(2) % kRecords);
  EXPECT_NE(top[0], 0u);
  // Key 0's share is the zipfian's item 0: 1/kZetan = 3.78% (sd 0.5%),
  // plus the spread-out tail's 10^-5 per key.
  double top_share = static_cast<double>(counts[top[0]]) / kDraws;
  EXPECT_NEAR(top_share * ScrambledZipfianChooser::kZetan, 1.0, 0.02);
  // The 10 most popular keys are not clustered: they span most of the
  // key space.
  auto [lo, hi] = std::minmax_element(top.begin(), top.begin() + 10);
  EXPECT_GT(*hi - *lo, kRecords / 2);
  // Still skewed: the 1% most popular keys get far more than 1% of the
  // draws (at least the zipfian's top 1000 items, Zeta(1000) / kZetan = 28%).
  uint64_t top_1pct = 0;
  for (uint64_t i = 0; i < kRecords / 100; ++i) top_1pct += counts[top[i]];
  EXPECT_GT(static_cast<double>(top_1pct) / kDraws, 0.25);
}

TEST(ScrambledZipfianChooserTest, SkewDoesNotDependOnRecords) {
  // The top key's share stays 1/kZetan (plus its share of the tail, 1/records)
  // whatever the key count; only where the keys land changes.
  for (uint64_t records : {uint64_t{1000}, uint64_t{1'000'000}}) {
    ScrambledZipfianChooser chooser(records);
    Rng rng(77);
    uint64_t hot = FnvHash64(0) % records, hits = 0;
    for (int i = 0; i < 500'000; ++i) hits += chooser.Next(rng) == hot;
    double share = static_cast<double>(hits) / 500'000;
    EXPECT_NEAR(share, 1.0 / ScrambledZipfianChooser::kZetan + 1.0 / records,
                0.0015)
        << "records " << records;
  }
}


// ---------------------------------------------------------------------------
// Workload D: the insert numbering and the "latest" distribution.

TEST(AcknowledgedCounterTest, LimitCoversOnlyTheAcknowledgedPrefix) {
  AcknowledgedCounter counter(10);
  EXPECT_EQ(counter.Limit(), 10u) << "the loaded keys are readable";
  EXPECT_EQ(counter.issued(), 10u);
  EXPECT_EQ(counter.Issue(), 10u);
  EXPECT_EQ(counter.Issue(), 11u);
  EXPECT_EQ(counter.Issue(), 12u);
  EXPECT_EQ(counter.Issue(), 13u);
  EXPECT_EQ(counter.issued(), 14u);

  // Out of order: 12 and 11 wait for 10.
  counter.Acknowledge(12);
  EXPECT_EQ(counter.Limit(), 10u);
  counter.Acknowledge(11);
  EXPECT_EQ(counter.Limit(), 10u);
  counter.Acknowledge(10);
  EXPECT_EQ(counter.Limit(), 13u) << "10 closes the gap below 11 and 12";
  counter.Acknowledge(13);
  EXPECT_EQ(counter.Limit(), 14u);
  counter.Acknowledge(3);  // a loaded key: ignored
  counter.Acknowledge(12);  // again: ignored
  EXPECT_EQ(counter.Limit(), 14u);
  EXPECT_EQ(counter.Issue(), 14u) << "each number is issued once";
}

// Inserter threads issue numbers and acknowledge them out of order (each
// keeps a few in flight and finishes a random one), marking each done just
// before its acknowledgement, as kvbench does once the write has answered.
class OutOfOrderInserts {
 public:
  static constexpr uint64_t kStart = 100;
  static constexpr int kInsertsPerThread = 20'000;
  static constexpr int kThreads = 3;

  OutOfOrderInserts() : counter_(kStart), done_(kStart + kTotal) {
    for (uint64_t k = 0; k < kStart; ++k) done_[k].store(true);
  }

  AcknowledgedCounter& counter() { return counter_; }
  bool done(uint64_t key) const {
    return key < done_.size() && done_[key].load(std::memory_order_relaxed);
  }

  // Runs the inserters to the end.
  void Run() {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([this, t] {
        Rng rng(1000 + t);
        std::vector<uint64_t> in_flight;
        for (int i = 0; i < kInsertsPerThread; ++i) {
          in_flight.push_back(counter_.Issue());
          if (in_flight.size() > 8 || i + 1 == kInsertsPerThread) {
            while (!in_flight.empty()) {
              size_t pick = rng.Uniform(in_flight.size());
              Finish(in_flight[pick]);
              in_flight.erase(in_flight.begin() + pick);
              if (rng.Uniform(2) == 0) break;  // leave some for later
            }
          }
        }
        while (!in_flight.empty()) {
          Finish(in_flight.back());
          in_flight.pop_back();
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }

 private:
  static constexpr uint64_t kTotal = uint64_t{kThreads} * kInsertsPerThread;

  void Finish(uint64_t key) {
    done_[key].store(true, std::memory_order_relaxed);
    counter_.Acknowledge(key);
  }

  AcknowledgedCounter counter_;
  std::vector<std::atomic<bool>> done_;
};

TEST(AcknowledgedCounterTest, ConcurrentOutOfOrderAcknowledgements) {
  OutOfOrderInserts inserts;
  std::atomic<bool> stop{false};
  uint64_t checks = 0;
  std::thread reader([&] {
    uint64_t last = 0;
    Rng rng(5);
    while (!stop.load()) {
      uint64_t limit = inserts.counter().Limit();
      ASSERT_GE(limit, last) << "the limit never goes back";
      last = limit;
      // Every number below the limit is done, the newest ones included.
      for (int i = 0; i < 8; ++i) {
        uint64_t key = limit - 1 - rng.Uniform(std::min<uint64_t>(limit, 64));
        ASSERT_TRUE(inserts.done(key)) << key << " below limit " << limit;
      }
      ++checks;
    }
  });
  inserts.Run();
  stop.store(true);
  reader.join();
  AcknowledgedCounter& counter = inserts.counter();
  constexpr uint64_t kInserted = uint64_t{OutOfOrderInserts::kThreads} *
                                 OutOfOrderInserts::kInsertsPerThread;
  EXPECT_EQ(counter.issued(), OutOfOrderInserts::kStart + kInserted);
  EXPECT_EQ(counter.Limit(), counter.issued()) << "everything acknowledged";
  EXPECT_GT(checks, 0u);
}

// Zeta(n, 0.99) summed in long double, smallest terms first: a reference
// more precise than the double sums under test.
double PreciseZeta(uint64_t n) {
  long double sum = 0;
  for (uint64_t i = n; i >= 1; --i) {
    sum += 1.0L / std::pow(static_cast<long double>(i), 0.99L);
  }
  return static_cast<double>(sum);
}

TEST(SkewedLatestChooserTest, ZetaMatchesTheSumAtAnyItemCount) {
  AcknowledgedCounter counter(1);
  SkewedLatestChooser chooser(&counter);
  EXPECT_EQ(chooser.Zeta(0), 0.0);
  EXPECT_EQ(chooser.Zeta(1), 1.0);
  EXPECT_DOUBLE_EQ(chooser.Zeta(1000), ZipfianGenerator::Zeta(1000, 0.99));
  for (uint64_t n : {uint64_t{2}, uint64_t{1023}, uint64_t{1024},
                     uint64_t{1025}, uint64_t{1500}, uint64_t{100'000},
                     uint64_t{1'000'000}}) {
    double exact = PreciseZeta(n);
    EXPECT_NEAR(chooser.Zeta(n), exact, exact * 1e-12) << "n " << n;
  }
  // Far beyond summing: the constant YCSB precomputed for 10^10 items.
  EXPECT_NEAR(chooser.Zeta(ScrambledZipfianChooser::kItemCount),
              ScrambledZipfianChooser::kZetan, 1e-9);
}

TEST(SkewedLatestChooserTest, FavoursTheNewestKeysAndFollowsInserts) {
  constexpr uint64_t kRecords = 1000;
  AcknowledgedCounter counter(kRecords);
  SkewedLatestChooser chooser(&counter);
  std::vector<uint64_t> counts = CountDraws(chooser, kRecords, kDraws, 41);

  // The newest key is the zipfian's item 0: 1 / Zeta(1000) = 12.9% of the
  // draws (sd 0.3%), the next one 2^-0.99 of that.
  double zetan = ZipfianGenerator::Zeta(kRecords, 0.99);
  double newest = static_cast<double>(counts[kRecords - 1]) / kDraws;
  EXPECT_NEAR(newest * zetan, 1.0, 0.015);
  EXPECT_NEAR(static_cast<double>(counts[kRecords - 1]) / counts[kRecords - 2],
              std::pow(2.0, 0.99), 0.05);
  // Popularity falls with age.
  std::vector<uint64_t> top = ByPopularity(counts);
  for (uint64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(top[i], kRecords - 1 - i) << "rank " << i;
  }
  uint64_t newest_10 = 0, oldest_half = 0;
  for (uint64_t k = kRecords - 10; k < kRecords; ++k) newest_10 += counts[k];
  for (uint64_t k = 0; k < kRecords / 2; ++k) oldest_half += counts[k];
  // The newest 1% of the keys get about 40% of the draws (the zipfian's
  // first 10 items, with its overweighting of items 2..9), the oldest half
  // about (Zeta(1000) - Zeta(500)) / Zeta(1000) = 9.6% (a little less, for
  // the same overweighting: 9.2% in a simulation).
  EXPECT_NEAR(static_cast<double>(newest_10) / kDraws, 0.40, 0.01);
  EXPECT_NEAR(static_cast<double>(oldest_half) / kDraws,
              1 - ZipfianGenerator::Zeta(500, 0.99) / zetan, 0.01);

  // 500 inserts later the hot spot has moved to them: key 1499 is now the
  // newest, and the former newest key is 500 items down the tail.
  for (int i = 0; i < 500; ++i) counter.Acknowledge(counter.Issue());
  ASSERT_EQ(counter.Limit(), 1500u);
  std::vector<uint64_t> after = CountDraws(chooser, 1500, kDraws, 43);
  EXPECT_NEAR(static_cast<double>(after[1499]) / kDraws *
                  ZipfianGenerator::Zeta(1500, 0.99),
              1.0, 0.015);
  EXPECT_LT(after[999], after[1499] / 200);
}

TEST(SkewedLatestChooserTest, NeverDrawsAnUnacknowledgedInsert) {
  AcknowledgedCounter counter(100);
  SkewedLatestChooser chooser(&counter);
  // 100..149 issued, all but 100 acknowledged: the limit stays at 100, and
  // no draw goes past it, however hot the newest keys are.
  for (int i = 0; i < 50; ++i) counter.Issue();
  for (uint64_t k = 101; k < 150; ++k) counter.Acknowledge(k);
  ASSERT_EQ(counter.Limit(), 100u);
  std::vector<uint64_t> counts = CountDraws(chooser, 100, 200'000, 47);
  EXPECT_EQ(ByPopularity(counts)[0], 99u);
  // Once 100 is acknowledged they all are, and the newest is 149.
  counter.Acknowledge(100);
  ASSERT_EQ(counter.Limit(), 150u);
  counts = CountDraws(chooser, 150, 200'000, 53);
  EXPECT_EQ(ByPopularity(counts)[0], 149u);
}

TEST(SkewedLatestChooserTest, ConcurrentReadersOnlySeeAcknowledgedKeys) {
  OutOfOrderInserts inserts;
  SkewedLatestChooser chooser(&inserts.counter());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> draws{0}, newest_hits{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      Rng rng(77 + r);
      while (!stop.load()) {
        uint64_t key = chooser.Next(rng);
        ASSERT_TRUE(inserts.done(key)) << "drew unacknowledged key " << key;
        // The limit read after the draw is at least the one the draw used.
        uint64_t limit = inserts.counter().Limit();
        ASSERT_LT(key, limit);
        draws.fetch_add(1);
        if (key + 100 >= limit) newest_hits.fetch_add(1);
      }
    });
  }
  inserts.Run();
  stop.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_GT(draws.load(), 1000u);
  // While keys arrive, draws still cluster at the newest ones: the newest
  // 100 of 100 to 60,100 keys get Zeta(100) / Zeta(n) = 43-100% of the
  // draws (less the inserts acknowledged between a draw and the check).
  EXPECT_GT(newest_hits.load(), draws.load() / 3);
}

TEST(SkewedLatestChooserTest, OneReadableKeyIsAlwaysDrawn) {
  AcknowledgedCounter counter(1);
  SkewedLatestChooser chooser(&counter);
  Rng rng(3), twin(3);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(chooser.Next(rng), 0u);
    twin.Next();
  }
  EXPECT_EQ(rng.Next(), twin.Next()) << "one Rng draw per key";
  // Two keys: both drawn, the newer more often (1 : 2^-0.99).
  counter.Acknowledge(counter.Issue());
  std::vector<uint64_t> counts = CountDraws(chooser, 2, 100'000, 7);
  EXPECT_NEAR(static_cast<double>(counts[1]) / counts[0], std::pow(2.0, 0.99),
              0.05);
}

}  // namespace
}  // namespace rumor::bench
