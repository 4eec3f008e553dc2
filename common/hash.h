// Stable 64-bit hashing (XXH64). Values are part of the on-disk format and
// the wire protocol (ring positions, Merkle digests): never change them.
// Thread-safe.
#ifndef RUMOR_COMMON_HASH_H_
#define RUMOR_COMMON_HASH_H_

#include <cstdint>
#include <string_view>

namespace rumor {

uint64_t Hash64(std::string_view data, uint64_t seed = 0);

// Position of a user key on the consistent-hashing ring.
inline uint64_t RingPosition(std::string_view key) { return Hash64(key, 0); }

// Mixes a 64-bit integer into a well-distributed 64-bit value (splitmix64).
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace rumor

#endif  // RUMOR_COMMON_HASH_H_
