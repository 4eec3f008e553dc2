// Hinted handoff's queue: objects a fallback node holds for a preference-
// list node that was down when they were written (sloppy quorum), in the
// engine's hints column, keyed by owner then data key. One hint per owner
// and key: a second write for the same key merges into it (DVV sync), so a
// long outage costs one object per key, not one per write.
//
// Durable (the engine's sync setting) and bounded per owner. Thread-safe:
// per-key stripes make each read-merge-write atomic, like ObjectStore's.
#ifndef RUMOR_SERVER_REPLICATION_HINT_STORE_H_
#define RUMOR_SERVER_REPLICATION_HINT_STORE_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/types.h"
#include "storage/column_store.h"
#include "storage/dvv.h"

namespace rumor::server {

// What happened to the hints of one owner since this process started.
struct HintOwnerStats {
  uint64_t held = 0;       // hints held now (survives restarts)
  uint64_t stored = 0;     // writes that stored a new or changed hint
  uint64_t delivered = 0;  // deleted once delivered (or re-homed)
  uint64_t dropped = 0;    // refused: the owner's queue was full
};

class HintStore {
 public:
  // Counts the hints already in `hints` (one scan: they survive restarts).
  // `max_per_owner`: hints kept for one owner at most.
  static absl::StatusOr<std::unique_ptr<HintStore>> Open(
      storage::ColumnStore* hints, size_t max_per_owner);
  HintStore(const HintStore&) = delete;
  HintStore& operator=(const HintStore&) = delete;

  // Most owners hints are held for: a peer naming ever new owners cannot
  // fill the disk through the per-owner bound.
  static constexpr size_t kMaxOwners = 1024;

  // Merges `object` into the hint held for `owner`. RESOURCE_EXHAUSTED when
  // the owner already has max_per_owner hints and this key is not one of
  // them, or hints are held for kMaxOwners others already (nothing stored;
  // logged: a read repairs what the hint would have delivered).
  absl::Status Store(NodeId owner, std::string_view key,
                     const storage::DvvSet& object);
  // The hint held for `owner`, if any.
  absl::StatusOr<std::optional<storage::DvvSet>> Get(NodeId owner,
                                                     std::string_view key);
  // Calls fn(key, encoded_object) for up to `limit` hints of `owner`, in
  // key order, starting after `after` (a data key; empty: from the start).
  // Returns the data key of the last one visited (empty when none).
  absl::StatusOr<std::string> Scan(
      NodeId owner, std::string_view after, size_t limit,
      absl::FunctionRef<void(std::string_view key, std::string_view object)>
          fn);
  // Deletes the hint if its encoding is still `expected` (it was delivered
  // and nothing merged into it since). Returns whether it deleted.
  absl::StatusOr<bool> DeleteIfUnchanged(NodeId owner, std::string_view key,
                                         std::string_view expected);

  // Whether a hint for `key` is held for any owner (true as well when one
  // cannot be read: callers use it to decide that nothing is held).
  bool HoldsAny(std::string_view key);

  // Hints held per owner (owners with none are absent).
  std::map<NodeId, uint64_t> Counts() const;
  uint64_t dropped() const;  // refused because an owner's queue was full
  // Per owner, for the owners with hints held or activity since the start.
  // Activity is tracked for kMaxOwners owners at most; the rest is counted
  // under kNoNode.
  std::map<NodeId, HintOwnerStats> OwnerStats() const;

 private:
  HintStore(storage::ColumnStore* hints, size_t max_per_owner)
      : hints_(hints), max_per_owner_(max_per_owner) {}
  absl::Mutex& StripeFor(std::string_view hint_key);

  storage::ColumnStore* const hints_;
  const size_t max_per_owner_;
  static constexpr size_t kStripes = 256;
  std::array<absl::Mutex, kStripes> stripes_;
  mutable absl::Mutex counts_mu_;
  std::map<NodeId, uint64_t> counts_ ABSL_GUARDED_BY(counts_mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(counts_mu_) = 0;
  std::map<NodeId, HintOwnerStats> activity_ ABSL_GUARDED_BY(counts_mu_);
  HintOwnerStats& ActivityFor(NodeId owner)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(counts_mu_);
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_REPLICATION_HINT_STORE_H_
