// Client requests by operation and outcome, with latency histograms: what
// /metrics shows as rumor_request_duration_seconds. Recording is lock-free
// (a few relaxed atomic additions), so the KV service records every
// request. Outcomes are the gRPC status code's name in lower case, with
// one addition: a get that found nothing is "not_found" though it
// succeeded, since a workload of misses looks nothing like one of hits.
#ifndef RUMOR_SERVER_METRICS_REQUEST_METRICS_H_
#define RUMOR_SERVER_METRICS_REQUEST_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "server/metrics/exposition.h"

namespace rumor::server {

enum class RequestOp { kGet = 0, kPut = 1, kDelete = 2 };

class RequestMetrics {
 public:
  // Upper bounds of the latency buckets, in microseconds (+Inf follows).
  static constexpr std::array<int64_t, 16> kBucketMicros = {
      250,    500,    1000,    2500,    5000,    10000,   25000,   50000,
      100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000};

  // `not_found`: a successful get that found no value.
  void Record(RequestOp op, absl::StatusCode code, bool not_found,
              int64_t micros);

  // Requests of `op` that ended with `code` so far (not_found ones are
  // counted under kNotFound).
  uint64_t Count(RequestOp op, absl::StatusCode code) const;

  // Writes the rumor_request_duration_seconds histogram family. The ok
  // outcome of every operation is always written, others once they occur.
  void Write(MetricsWriter* w) const;

 private:
  static constexpr int kOps = 3;
  static constexpr int kCodes = 17;  // absl::StatusCode 0..16
  static constexpr int kBuckets = kBucketMicros.size() + 1;
  struct Cell {
    std::array<std::atomic<uint64_t>, kBuckets> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_micros{0};
  };
  std::array<std::array<Cell, kCodes>, kOps> cells_;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_METRICS_REQUEST_METRICS_H_
