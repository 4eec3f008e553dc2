// Token claims: where a node joining the ring places its tokens. Pure
// functions of the ring and the node id; thread-safe.
#ifndef RUMOR_SERVER_RING_TOKEN_CLAIM_H_
#define RUMOR_SERVER_RING_TOKEN_CLAIM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/types.h"
#include "server/ring/ring.h"

namespace rumor::server {

// Chooses `count` tokens for a node joining a ring. An empty ring gets
// evenly spaced tokens at an offset derived from the node id; otherwise
// each token goes, greedily, where it best evens out both every node's
// primary share and its replica share (keys stored with `replicas`
// copies), so ownership and storage stay balanced as nodes join one at a
// time. Deterministic for a given ring and node id. Returns sorted tokens.
// Above 128 tokens per node (where claiming would take many seconds)
// returns RandomTokens, which are about as balanced at such counts.
std::vector<uint64_t> ClaimTokens(const Ring& ring, NodeId self, size_t count,
                                  size_t replicas = 3);

// `count` pseudo-random tokens derived from the node id (hash of id and
// index). The baseline that ClaimTokens improves on.
std::vector<uint64_t> RandomTokens(NodeId self, size_t count);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RING_TOKEN_CLAIM_H_
