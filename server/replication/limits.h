// Size limits on client requests. Thread-compatible value type.
#ifndef RUMOR_SERVER_REPLICATION_LIMITS_H_
#define RUMOR_SERVER_REPLICATION_LIMITS_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"

namespace rumor::server {

// Hard caps no configuration may exceed. The value cap stays well below the
// gRPC message limit the server sets (kMaxGrpcMessageBytes) so a request
// carrying a maximal key, value and context always fits.
inline constexpr size_t kHardMaxKeyBytes = 64 << 10;
inline constexpr size_t kHardMaxValueBytes = 32 << 20;
inline constexpr size_t kMaxGrpcMessageBytes = 64 << 20;
// A causal context never legitimately approaches this (it holds one entry
// per coordinating node).
inline constexpr size_t kMaxContextBytes = 64 << 10;

struct Limits {
  size_t max_key_bytes = 2048;
  size_t max_value_bytes = 1 << 20;

  // OK when both limits are positive and within the hard caps.
  absl::Status Validate() const;
  // INVALID_ARGUMENT naming the limit when `key` is empty or too long.
  absl::Status CheckKey(std::string_view key) const;
  absl::Status CheckValue(std::string_view value) const;
  absl::Status CheckContext(std::string_view context) const;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REPLICATION_LIMITS_H_
