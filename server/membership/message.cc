#include "server/membership/message.h"

namespace rumor::server {

const char* MemberStatusName(MemberStatus s) {
  switch (s) {
    case MemberStatus::kAlive:
      return "alive";
    case MemberStatus::kSuspect:
      return "suspect";
    case MemberStatus::kDead:
      return "dead";
    case MemberStatus::kLeft:
      return "left";
  }
  return "unknown";
}

size_t ApproxSize(const Update& u) {
  size_t n = 2 + 9 + 10 + 9 + (u.meta_fingerprint ? 9 : 0);
  if (u.meta) {
    n += 4 + u.meta->address.size() + 9 * u.meta->tokens.size() + 10;
    for (const auto& [k, v] : u.meta->tags) n += 4 + k.size() + v.size();
  }
  return n;
}

size_t ApproxSize(const Message& m) {
  size_t n = 16 + 9 + m.from_address.size() + 9 + 10 + 9 +
             m.target_address.size();
  for (const auto& u : m.updates) n += ApproxSize(u);
  n += m.digests.size() * (2 + 9 + 10 + 2 + 9 + 10 + 2);
  n += m.want.size() * 9;
  for (const auto& s : m.state) {
    n += 2 + 9 + 10 + 2;
    if (s.meta) {
      n += 4 + s.meta->address.size() + 9 * s.meta->tokens.size() + 10;
      for (const auto& [k, v] : s.meta->tags) n += 4 + k.size() + v.size();
    }
  }
  return n;
}

}  // namespace rumor::server
