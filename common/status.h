// Small helpers around absl::Status that abseil 20220623 does not ship.
//
// Errors cross module boundaries only as absl::Status / absl::StatusOr<T>.
// Their codes map one-to-one onto gRPC codes (see server/rpc/grpc_status.h and
// client/grpc_status.h, the only two places that convert).
#ifndef RUMOR_COMMON_STATUS_H_
#define RUMOR_COMMON_STATUS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RUMOR_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    ::absl::Status rumor_status_ = (expr);          \
    if (!rumor_status_.ok()) return rumor_status_;  \
  } while (0)

#define RUMOR_STATUS_CONCAT_INNER_(a, b) a##b
#define RUMOR_STATUS_CONCAT_(a, b) RUMOR_STATUS_CONCAT_INNER_(a, b)

// `lhs = value of expr` if expr (an absl::StatusOr<T>) is OK; otherwise
// returns its status from the enclosing function. lhs may be a declaration.
#define RUMOR_ASSIGN_OR_RETURN(lhs, expr)                                    \
  RUMOR_ASSIGN_OR_RETURN_IMPL_(RUMOR_STATUS_CONCAT_(rumor_sor_, __LINE__), \
                               lhs, expr)
#define RUMOR_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

namespace rumor {

// The one searchable way to drop a Status on purpose. Say why at the call
// site, e.g. `IgnoreError(file.Close());  // best effort on shutdown`.
inline void IgnoreError(const absl::Status&) {}

// Prefixes a non-OK status's message with `context`, keeping the code.
inline absl::Status Annotate(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), std::string(context) + ": " +
                                    std::string(s.message()));
}

}  // namespace rumor

#endif  // RUMOR_COMMON_STATUS_H_
