#include "bench/workload/key_chooser.h"

#include <cmath>
#include <cstdint>

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

}  // namespace rumor::bench
