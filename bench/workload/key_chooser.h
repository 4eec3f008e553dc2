// Key choice of kvbench: the random numbers (Rng, SplitMix64) and the
// choosers that turn them into key numbers in [0, records): uniformly
// (UniformChooser), with YCSB's scrambled zipfian popularity
// (ScrambledZipfianChooser, over ZipfianGenerator), or favouring the most
// recently inserted keys (SkewedLatestChooser, YCSB's "latest", over the
// insert numbering of an AcknowledgedCounter). The generators and FnvHash64
// follow YCSB's, so a workload's skew matches YCSB's.
//
// Thread safety: Rng is not thread-safe (kvbench gives each closed-loop slot
// its own). ZipfianGenerator and the choosers are immutable once built and
// keep no state between draws (it is all in the Rng passed in, and for
// SkewedLatestChooser in the thread-safe counter it reads), so one instance
// may be shared by any number of threads, each drawing with its own Rng.
// AcknowledgedCounter is thread-safe.
#ifndef RUMOR_BENCH_WORKLOAD_KEY_CHOOSER_H_
#define RUMOR_BENCH_WORKLOAD_KEY_CHOOSER_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_set>
#include <vector>

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

// Stream `stream` of `seed`: an Rng starting at a point of the SplitMix64
// sequence unrelated to the other streams' (the state is a SplitMix64
// output, as SplitMix64's authors seed independent generators), so
// kvbench's slots draw independent keys. Seeding stream i with
// seed + i * 0x9e3779b97f4a7c15, SplitMix64's own increment, would not do:
// stream i would be stream 0 shifted by i draws, and with two draws per
// operation slot i + 2 would repeat slot i's operations one step behind.
inline Rng StreamRng(uint64_t seed, uint64_t stream) {
  return Rng(Rng(seed + stream * 0x9e3779b97f4a7c15ULL).Next());
}

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

// YCSB's AcknowledgedCounterGenerator: numbers the keys a workload inserts
// (start, start + 1, ...) and tracks which inserts have completed, so that
// readers only choose keys whose insert has been acknowledged. Inserts
// complete out of order (a closed loop has many in flight); Limit() is the
// end of the longest acknowledged prefix: every number below it was issued
// and acknowledged. The numbers below `start` (the loaded keys) count as
// acknowledged from the outset.
//
// Unlike YCSB's, which keeps a fixed window of 2^20 numbers and throws when
// an old insert holds up more than that, numbers acknowledged ahead of an
// older one still in flight wait in a set (kvbench: at most the inserts of
// one operation deadline), and every Acknowledge advances the limit as far
// as it can (YCSB's try-lock may leave that to the next one).
//
// Thread-safe. Limit() is one atomic load (readers call it on every draw),
// Issue() one atomic increment, Acknowledge() takes a mutex (it runs once
// per insert, a small share of the operations).
class AcknowledgedCounter {
 public:
  // Numbers below `start` are acknowledged; Issue() starts at `start`.
  explicit AcknowledgedCounter(uint64_t start)
      : next_(start), limit_(start) {}
  AcknowledgedCounter(const AcknowledgedCounter&) = delete;
  AcknowledgedCounter& operator=(const AcknowledgedCounter&) = delete;

  // The next number to insert; each number is issued once.
  uint64_t Issue() { return next_.fetch_add(1, std::memory_order_relaxed); }

  // Marks `n`, a number Issue() returned, as done. Call exactly once per
  // issued number, also when the insert failed: YCSB acknowledges in a
  // `finally`, because a number never acknowledged would freeze Limit()
  // for the rest of the run. Numbers already below Limit() are ignored.
  void Acknowledge(uint64_t n);

  // Every number below this was issued and acknowledged. Never decreases.
  // Everything the acknowledging threads did before Acknowledge happens
  // before a Limit() that returns a value above that number (release /
  // acquire).
  uint64_t Limit() const { return limit_.load(std::memory_order_acquire); }

  // How many numbers (from `start` on) were issued so far.
  uint64_t issued() const { return next_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> next_;
  std::atomic<uint64_t> limit_;  // written under mu_
  std::mutex mu_;
  // Acknowledged numbers above limit_, waiting for the gap below them to
  // close. Guarded by mu_.
  std::unordered_set<uint64_t> pending_;
};

// YCSB's SkewedLatestGenerator, the "latest" request distribution of
// workload D: a zipfian draw (theta 0.99) over the distance from the newest
// readable key, so the most recently inserted keys are the most popular,
// and the popular keys move along as inserts are acknowledged. With
// n = counter.Limit() keys readable, key n - 1 - i is drawn with probability
// about 1 / ((i + 1)^0.99 Zeta(n)): the newest key 1/Zeta(n) of the time
// (13% at n = 1000, 8% at n = 10^5), the newest 10 about 40% at n = 1000.
// Never a key at or above Limit().
//
// YCSB draws max - zipfian(max) with max the newest acknowledged key,
// which never yields key 0; this draws over all n keys, so key 0 can be
// drawn (as the least popular), and a single readable key is always drawn.
//
// Zeta(n) changes with every acknowledged insert, and summing it is O(n):
// it is exact up to kExactZetaItems (a table) and extended in O(1) beyond
// (Euler-Maclaurin), so a draw costs a few pow() calls, whatever n.
class SkewedLatestChooser final : public KeyChooser {
 public:
  static constexpr double kTheta = 0.99;
  static constexpr uint64_t kExactZetaItems = 1024;

  // `counter` must outlive the chooser and have start > 0 (there must be a
  // readable key).
  explicit SkewedLatestChooser(const AcknowledgedCounter* counter);

  // A key in [0, counter.Limit()), favouring the newest, one Rng draw.
  uint64_t Next(Rng& rng) const override;

  // Zeta(n, kTheta) (ZipfianGenerator::Zeta), in O(1): exact up to
  // kExactZetaItems, within 10^-12 relative beyond.
  double Zeta(uint64_t n) const;

 private:
  const AcknowledgedCounter* const counter_;
  // zeta_[i] = ZipfianGenerator::Zeta(i, kTheta), i <= kExactZetaItems.
  std::vector<double> zeta_;
};

}  // namespace rumor::bench

#endif  // RUMOR_BENCH_WORKLOAD_KEY_CHOOSER_H_
