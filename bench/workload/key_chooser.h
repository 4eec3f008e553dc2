// Key choice of kvbench: the random numbers (Rng, SplitMix64) and the
// choosers that turn them into key numbers in [0, records): uniformly
// (UniformChooser) or with YCSB's scrambled zipfian popularity
// (ScrambledZipfianChooser, over ZipfianGenerator). The zipfian generators
// and FnvHash64 follow YCSB's, so a workload's skew matches YCSB's.
//
// Thread safety: Rng is not thread-safe (kvbench gives each closed-loop slot
// its own). ZipfianGenerator and the choosers are immutable once built and
// keep no state between draws (it is all in the Rng passed in), so one
// instance may be shared by any number of threads, each drawing with its
// own Rng.
#ifndef RUMOR_BENCH_WORKLOAD_KEY_CHOOSER_H_
#define RUMOR_BENCH_WORKLOAD_KEY_CHOOSER_H_

#include <cstdint>

namespace rumor::bench {

// SplitMix64: small state (one word per closed-loop slot), good enough
// statistics for choosing keys. The same seed gives the same sequence.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  // The next 64 uniformly distributed bits.
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), a multiple of 2^-53 (the top 53 bits of Next()).
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift, the high word of
  // Next() * n, without rejection: each value's probability is within 2^-64
  // of 1/n).
  uint64_t Uniform(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >>
                                 64);
  }

 private:
  uint64_t state_;
};

// YCSB's Utils.fnvhash64: FNV-1a over the 8 bytes of `value`, low byte
// first, then the absolute value of the result as a signed 64-bit integer
// (so the result is below 2^63, or exactly 2^63 for the one hash that is
// INT64_MIN).
uint64_t FnvHash64(uint64_t value);

// Chooses key numbers in [0, records). Implementations keep all draw state
// in `rng`, so Next is thread-safe given a distinct Rng per thread.
class KeyChooser {
 public:
  virtual ~KeyChooser() = default;
  // A key number in [0, records), advancing `rng`.
  virtual uint64_t Next(Rng& rng) const = 0;
};

// Every key equally likely.
class UniformChooser final : public KeyChooser {
 public:
  // records > 0.
  explicit UniformChooser(uint64_t records) : records_(records) {}
  // rng.Uniform(records): one Rng draw per key.
  uint64_t Next(Rng& rng) const override;

 private:
  const uint64_t records_;
};

// YCSB's ZipfianGenerator, after Gray et al., "Quickly Generating
// Billion-Record Synthetic Databases" (SIGMOD 1994): item i in [0, items)
// is drawn with probability proportional to 1 / (i + 1)^theta, so item 0 is
// the most popular.
//
// Items 0 and 1 get exactly that probability (1/zetan and 2^-theta/zetan);
// larger items are drawn by inverting a continuous approximation of the
// distribution, which, as in YCSB, overweights the first few of them (at
// theta 0.99 and 1000 items: item 2 by about 17%, item 5 by 5%, item 10 by
// 1%) and converges further out.
class ZipfianGenerator {
 public:
  // items >= 2, 0 < theta < 1. `zetan` must be Zeta(items, theta); callers
  // pass a precomputed value when `items` is too large to sum.
  ZipfianGenerator(uint64_t items, double theta, double zetan);

  // sum_{i=1..n} 1 / i^theta (0 for n = 0). O(n).
  static double Zeta(uint64_t n, double theta);

  // An item in [0, items), advancing `rng` by one draw. Floating-point
  // rounding yields `items` itself when the draw is within a few 2^-53 of 1
  // (about once in 10^15 draws; YCSB has the same edge), so a caller that
  // indexes with the result must allow for it.
  uint64_t Next(Rng& rng) const;

 private:
  const double items_;
  const double zetan_;
  const double alpha_;
  const double one_plus_half_pow_theta_;
  double eta_;
};

// YCSB's ScrambledZipfianGenerator: a zipfian draw over 10^10 items (with
// YCSB's precomputed zeta, theta 0.99), hashed with FnvHash64 into
// [0, records). The popular keys are spread over the key space instead of
// clustering at 0 (the most popular key is FnvHash64(0) % records, drawn
// about 1/kZetan = 3.8% of the time), and the popularity skew does not
// depend on `records`.
class ScrambledZipfianChooser final : public KeyChooser {
 public:
  static constexpr uint64_t kItemCount = 10'000'000'000ULL;
  static constexpr double kTheta = 0.99;
  // Zeta(kItemCount, 0.99), YCSB's ScrambledZipfianGenerator.ZETAN.
  static constexpr double kZetan = 26.46902820178302;

  // records > 0. O(1): the zeta of the 10^10 items is the constant above.
  explicit ScrambledZipfianChooser(uint64_t records);

  // FnvHash64(zipfian draw) % records: one Rng draw per key.
  uint64_t Next(Rng& rng) const override;

 private:
  const uint64_t records_;
  const ZipfianGenerator zipfian_;
};

}  // namespace rumor::bench

#endif  // RUMOR_BENCH_WORKLOAD_KEY_CHOOSER_H_
