// How a ring shares the key space, as operators see it (`kvcli ring`): each
// node's primary and replica share, the imbalance, and where one key lives.
// Pure functions; thread-safe.
#ifndef RUMOR_SERVER_RING_RING_REPORT_H_
#define RUMOR_SERVER_RING_RING_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "server/ring/ring.h"

namespace rumor::server {

struct OwnerShare {
  NodeId id = kNoNode;
  double share = 0;          // fraction of keys it owns as primary
  double replica_share = 0;  // fraction of keys it holds one of N replicas of
};

struct RingReport {
  size_t replicas = 0;  // N
  std::vector<OwnerShare> owners;  // every ring node, by id
  double imbalance = 1;            // largest primary share / smallest
  // Filled when a key was given: its ring position, its preference list
  // (the first N distinct owners clockwise) and the fallbacks after it.
  std::optional<uint64_t> position;
  std::vector<OwnerShare> preference_list;
  std::vector<OwnerShare> fallbacks;
};

RingReport ReportRing(const Ring& ring, size_t replicas,
                      std::optional<std::string_view> key = std::nullopt);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RING_RING_REPORT_H_
