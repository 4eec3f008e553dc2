// The node-to-node operations of replication as plain C++ types (the wire
// format is peer.proto's ReplicaRequest/ReplicaResponse, converted in
// server/rpc/), and the transport that carries them. The coordinator, hint
// delivery and range handoff speak only these, so they run without a
// network in tests.
#ifndef RUMOR_SERVER_REPLICATION_REPLICA_OPS_H_
#define RUMOR_SERVER_REPLICATION_REPLICA_OPS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/types.h"

namespace rumor::server {

// Per-request tuning; zero means the node's default.
struct RequestOptions {
  uint32_t r = 0;
  uint32_t w = 0;
  absl::Duration timeout = absl::ZeroDuration();
};

// What a client sees of an object.
struct ObjectView {
  // False when the key was never written or only tombstones remain.
  bool found = false;
  // Live siblings in canonical order.
  std::vector<std::string> values;
  // Encoded causal context covering every sibling (tombstones included);
  // empty when the key was never written.
  std::string context;
};

struct ReplicaOp {
  enum class Kind : uint8_t {
    kStore,      // merge `object` into the local copy of `key`
    kFetch,      // the local copy of `key` (of the hint for hint_for if set)
    kStoreHint,  // merge `object` into the hint held for `hint_for`
    kForward,    // coordinate a client request here
    kScan,       // a page of the objects at positions scan_first..scan_last
    kTree,       // anti-entropy: hashes (or keys) of ranges of positions
    kReap,       // tombstone reaping: check, or remove, deleted keys
  };
  enum class Forwarded : uint8_t { kGet, kPut, kDelete };

  Kind kind = Kind::kStore;
  std::string key;
  std::string object;         // encoded DVV set (kStore, kStoreHint)
  NodeId hint_for = kNoNode;  // kFetch, kStoreHint
  // kForward only.
  Forwarded forwarded = Forwarded::kPut;
  std::string value;
  std::string context;
  RequestOptions options;
  bool return_body = false;
  // kScan only: positions scan_first..scan_last (inclusive, first <= last),
  // after `key` (empty: from the start), at most `limit` objects.
  uint64_t scan_first = 0;
  uint64_t scan_last = 0;
  uint32_t limit = 0;
  // kTree only: ranges of positions (first, last), inclusive; keys and
  // their objects' hashes instead of one hash per range; the asking
  // node's tree segment bits (the trees must match).
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  bool list_keys = false;
  uint32_t segment_bits = 0;
  // kReap only: the keys; with reap_remove, also the encoding hash
  // (ObjectStore::EncodingHash) each must still have to be removed.
  std::vector<std::string> keys;
  std::vector<uint64_t> expected;
  bool reap_remove = false;
};

// Most objects a scan page may ask for.
inline constexpr uint32_t kMaxScanLimit = 4096;
// Most ranges one tree query may carry, and most keys its answer may list.
inline constexpr size_t kMaxTreeRanges = 4096;
inline constexpr size_t kMaxTreeKeys = 65536;
// Most keys one reap request may carry.
inline constexpr size_t kMaxReapKeys = 1024;

struct ReplicaReply {
  absl::Status status;
  // kFetch: whether the key (or hint) exists, and its encoded object.
  bool found = false;
  std::string object;
  // kForward: the client's view of the result.
  ObjectView view;
  // kScan: (key, encoded object) in key order, and whether more follow.
  std::vector<std::pair<std::string, std::string>> entries;
  bool more = false;
  // kTree: one hash per range, or (key, object hash) of every key in them.
  std::vector<uint64_t> hashes;
  std::vector<std::pair<std::string, uint64_t>> keys;
  // kReap: per key, a check's answer is in `hashes` (the key's encoding
  // hash, 0 when absent) and `flags` (keep it: a hint for it is held, or
  // the node would not remove its copy yet); a removal's in `flags`
  // (whether it was removed).
  std::vector<bool> flags;
};

using ReplyCallback = absl::AnyInvocable<void(ReplicaReply) &&>;

// Carries ReplicaOps to other nodes. Thread-safe.
class ReplicaTransport {
 public:
  virtual ~ReplicaTransport() = default;
  // Sends `op` to the node at `address`. `done` runs exactly once, on some
  // other thread or inline: with the node's reply, or with UNAVAILABLE (the
  // node cannot be reached; the op may not have been delivered) or
  // DEADLINE_EXCEEDED (no reply by `deadline`; it may have been applied).
  // Never blocks.
  virtual void Call(const std::string& address, ReplicaOp op,
                    absl::Time deadline, ReplyCallback done) = 0;
  // False while the node at `address` is known to be unreachable (its
  // connection failed and has not recovered yet).
  virtual bool Reachable(const std::string& address) = 0;
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REPLICATION_REPLICA_OPS_H_
