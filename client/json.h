// Just enough JSON output for kvcli: string escaping with UTF-8 checking.
#ifndef RUMOR_CLIENT_JSON_H_
#define RUMOR_CLIENT_JSON_H_

#include <string>
#include <string_view>

namespace rumor::client {

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or values
// above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// `s` as a quoted JSON string. Invalid UTF-8 sequences become U+FFFD, so
// callers that need the exact bytes must check IsValidUtf8 first (kvcli
// points the user to --base64).
std::string JsonQuote(std::string_view s);

}  // namespace rumor::client

#endif  // RUMOR_CLIENT_JSON_H_
