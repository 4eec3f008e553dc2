#ifndef RUMOR_COMMON_VERSION_H_
#define RUMOR_COMMON_VERSION_H_

namespace rumor {

// Set by CMake from the project version.
inline constexpr char kVersion[] = RUMOR_VERSION;

}  // namespace rumor

#endif  // RUMOR_COMMON_VERSION_H_
