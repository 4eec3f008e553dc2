// Debian 12 builds abseil with ABSL_OPTION_USE_STD_STRING_VIEW=0, so
// absl::string_view is a distinct type from std::string_view and absl's
// string functions (StrCat, StrSplit, ...) do not accept the latter. rumor's
// own interfaces use std::string_view; these convert at the boundary.
#ifndef RUMOR_COMMON_STRINGS_H_
#define RUMOR_COMMON_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace rumor {

inline absl::string_view AsAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view AsStd(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

}  // namespace rumor

#endif  // RUMOR_COMMON_STRINGS_H_
