#include "bench/workload/key_chooser.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <mutex>

namespace rumor::bench {

uint64_t FnvHash64(uint64_t value) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (int i = 0; i < 8; ++i) {
    hash ^= value & 0xff;
    value >>= 8;
    hash *= 1099511628211ULL;
  }
  int64_t s = static_cast<int64_t>(hash);
  return s < 0 ? 0 - static_cast<uint64_t>(s) : static_cast<uint64_t>(s);
}

uint64_t UniformChooser::Next(Rng& rng) const { return rng.Uniform(records_); }

ZipfianGenerator::ZipfianGenerator(uint64_t items, double theta, double zetan)
    : items_(static_cast<double>(items)),
      zetan_(zetan),
      alpha_(1.0 / (1.0 - theta)),
      one_plus_half_pow_theta_(1.0 + std::pow(0.5, theta)) {
  eta_ = (1.0 - std::pow(2.0 / items_, 1.0 - theta)) /
         (1.0 - Zeta(2, theta) / zetan_);
}

double ZipfianGenerator::Zeta(uint64_t n, double theta) {
  double sum = 0;
  for (uint64_t i = 1; i <= n; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i), theta);
  }
  return sum;
}

uint64_t ZipfianGenerator::Next(Rng& rng) const {
  double u = rng.NextDouble();
  double uz = u * zetan_;
  if (uz < 1.0) return 0;
  if (uz < one_plus_half_pow_theta_) return 1;
  return static_cast<uint64_t>(items_ *
                               std::pow(eta_ * u - eta_ + 1.0, alpha_));
}

ScrambledZipfianChooser::ScrambledZipfianChooser(uint64_t records)
    : records_(records), zipfian_(kItemCount + 1, kTheta, kZetan) {}

uint64_t ScrambledZipfianChooser::Next(Rng& rng) const {
  return FnvHash64(zipfian_.Next(rng)) % records_;
}

void AcknowledgedCounter::Acknowledge(uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t limit = limit_.load(std::memory_order_relaxed);
  if (n < limit) return;
  if (n != limit) {
    pending_.insert(n);
    return;
  }
  // n closes the gap at the limit: move past it and every number that was
  // acknowledged ahead of it.
  ++limit;
  while (!pending_.empty() && pending_.erase(limit) > 0) ++limit;
  limit_.store(limit, std::memory_order_release);
}

SkewedLatestChooser::SkewedLatestChooser(const AcknowledgedCounter* counter)
    : counter_(counter) {
  zeta_.reserve(kExactZetaItems + 1);
  double sum = 0;
  zeta_.push_back(sum);
  for (uint64_t i = 1; i <= kExactZetaItems; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i), kTheta);
    zeta_.push_back(sum);
  }
}

double SkewedLatestChooser::Zeta(uint64_t n) const {
  if (n <= kExactZetaItems) return zeta_[n];
  // Euler-Maclaurin from m = kExactZetaItems, with f(x) = x^-theta:
  //   sum_{i=m+1..n} f(i) = integral_m^n f + (f(n) - f(m)) / 2
  //                         + (f'(n) - f'(m)) / 12 - ...
  // The next term is about f'''(m) / 720, below 10^-11, against a Zeta of
  // at least 7.
  const double m = static_cast<double>(kExactZetaItems);
  const double x = static_cast<double>(n);
  auto f = [](double v) { return std::pow(v, -kTheta); };
  auto df = [](double v, double fv) { return -kTheta * fv / v; };
  const double fm = f(m), fx = f(x);
  double integral = (fx * x - fm * m) / (1 - kTheta);  // x^(1-theta) = f(x) x
  return zeta_[kExactZetaItems] + integral + (fx - fm) / 2 +
         (df(x, fx) - df(m, fm)) / 12;
}

uint64_t SkewedLatestChooser::Next(Rng& rng) const {
  uint64_t n = counter_->Limit();
  assert(n > 0);
  if (n == 1) {
    rng.Next();  // one draw per key, like the other choosers
    return 0;
  }
  // A generator per draw: n moves with every acknowledged insert, and the
  // chooser is shared by every slot, so it keeps nothing between draws
  // (building one is a few pow() calls).
  ZipfianGenerator zipfian(n, kTheta, Zeta(n));
  // The zipfian may return n itself (see ZipfianGenerator::Next).
  uint64_t distance = std::min(zipfian.Next(rng), n - 1);
  return n - 1 - distance;
}

}  // namespace rumor::bench
