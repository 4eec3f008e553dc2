// Reading PEM files named by flags: kvd's certificate flags and the
// clients' TLS options share the checks and the wording of the errors.
#ifndef RUMOR_COMMON_PEM_H_
#define RUMOR_COMMON_PEM_H_

#include <string>

#include "absl/status/statusor.h"

namespace rumor {

// The contents of `path`; INVALID_ARGUMENT naming `flag` ("--peer-ca=PATH:
// ...") when it cannot be read or holds no PEM block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const char* flag);

}  // namespace rumor

#endif  // RUMOR_COMMON_PEM_H_
