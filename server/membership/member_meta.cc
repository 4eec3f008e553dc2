#include "server/membership/member_meta.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/strings.h"

namespace rumor::server {

MetaPtr MakeMeta(MemberMeta meta) {
  std::sort(meta.tokens.begin(), meta.tokens.end());
  meta.tokens.erase(std::unique(meta.tokens.begin(), meta.tokens.end()),
                    meta.tokens.end());
  std::sort(meta.tags.begin(), meta.tags.end());
  std::string bytes = meta.address;
  bytes.push_back('\0');
  for (uint64_t t : meta.tokens) {
    bytes.append(reinterpret_cast<const char*>(&t), sizeof(t));
  }
  for (const auto& [k, v] : meta.tags) {
    bytes.append(k);
    bytes.push_back('\0');
    bytes.append(v);
    bytes.push_back('\0');
  }
  bytes.append(reinterpret_cast<const char*>(&meta.version), sizeof(meta.version));
  bytes.push_back(meta.joining ? 'j' : 's');
  meta.fingerprint = Hash64(bytes, 0x6d657461) | 1;  // never 0
  return std::make_shared<const MemberMeta>(std::move(meta));
}

bool ValidHost(std::string_view host) {
  if (host.empty()) return false;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    for (char c : host.substr(1, host.size() - 2)) {
      // hex digits, separators, and an alphanumeric zone after '%'
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != ':' &&
          c != '.' && c != '%') {
        return false;
      }
    }
    return true;
  }
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

absl::Status CheckHostPort(std::string_view address, std::string_view what,
                           int min_port) {
  if (address.size() > kMaxAddressBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), " is over ", kMaxAddressBytes, " bytes"));
  }
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string_view::npos ||
      !ValidHost(address.substr(0, colon)) ||
      !absl::SimpleAtoi(AsAbsl(address.substr(colon + 1)), &port) ||
      port < min_port || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), " '", absl::CHexEscape(AsAbsl(address)),
                     "' is not host:port (a name, IPv4 or [IPv6] address, "
                     "and a port ", min_port, "..65535)"));
  }
  return absl::OkStatus();
}

absl::Status CheckTag(std::string_view key, std::string_view value) {
  if (key.empty() || key.size() > kMaxTagBytes || value.size() > kMaxTagBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "member tag key must be 1..", kMaxTagBytes, " bytes and its value at most ",
        kMaxTagBytes));
  }
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-' && c != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("member tag key '", absl::CHexEscape(AsAbsl(key)),
                       "' may hold only letters, digits and . _ - /"));
    }
  }
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat("member tag '", AsAbsl(key), "' value '",
                       absl::CHexEscape(AsAbsl(value)),
                       "' may hold only printable ASCII"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckClusterName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 128;
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster name '", absl::CHexEscape(AsAbsl(name)),
                     "' must be 1..128 letters, digits, '.', '_' or '-'"));
  }
  return absl::OkStatus();
}

}  // namespace rumor::server
