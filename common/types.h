// Basic domain types shared by every layer.
#ifndef RUMOR_COMMON_TYPES_H_
#define RUMOR_COMMON_TYPES_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"

namespace rumor {

// A stable 64-bit node identity, generated once and persisted in the data
// directory. Zero is never a valid id.
using NodeId = uint64_t;
inline constexpr NodeId kNoNode = 0;

// Node ids print as 16 hex digits everywhere (logs, kvcli, docs).
inline std::string NodeIdToString(NodeId id) {
  return absl::StrFormat("%016x", id);
}

}  // namespace rumor

#endif  // RUMOR_COMMON_TYPES_H_
