#include "server/replication/limits.h"

#include "absl/strings/str_cat.h"

namespace rumor::server {

absl::Status Limits::Validate() const {
  if (max_key_bytes == 0 || max_key_bytes > kHardMaxKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max key size must be 1..", kHardMaxKeyBytes,
                     " bytes, got ", max_key_bytes));
  }
  if (max_value_bytes == 0 || max_value_bytes > kHardMaxValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max value size must be 1..", kHardMaxValueBytes,
                     " bytes, got ", max_value_bytes));
  }
  return absl::OkStatus();
}

absl::Status Limits::CheckKey(std::string_view key) const {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key is empty; keys are 1 to ", max_key_bytes, " bytes"));
  }
  if (key.size() > max_key_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("key is ", key.size(), " bytes; the limit is ",
                     max_key_bytes, " bytes (--max-key-bytes)"));
  }
  return absl::OkStatus();
}

absl::Status Limits::CheckValue(std::string_view value) const {
  if (value.size() > max_value_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("value is ", value.size(), " bytes; the limit is ",
                     max_value_bytes, " bytes (--max-value-bytes)"));
  }
  return absl::OkStatus();
}

absl::Status Limits::CheckContext(std::string_view context) const {
  if (context.size() > kMaxContextBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("context is ", context.size(), " bytes; the limit is ",
                     kMaxContextBytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace rumor::server
