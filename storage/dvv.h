// Dotted version vector sets (Almeida et al., "Scalable and Accurate
// Causality Tracking for Eventually Consistent Stores", the DVVSet of Riak).
//
// A DvvSet holds every concurrent value (sibling) of one key. Each value is
// identified by a dot (actor, counter): the actor is the node that
// coordinated the write, the counter its per-key event number. Per actor the
// set keeps the highest counter seen and the values of a contiguous run of
// the most recent dots, newest first. That invariant makes merging a
// per-actor comparison of two integers and a truncation.
//
// Clients see the join of a DvvSet (a VersionVector) as an opaque causal
// context: a later write carrying it replaces exactly the values it covers.
// Concurrent writes, whose contexts do not cover each other, become
// siblings; no write is lost silently.
//
// Value types, not thread-safe; copy freely.
#ifndef RUMOR_STORAGE_DVV_H_
#define RUMOR_STORAGE_DVV_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace rumor::storage {

// The node id of a write's coordinator.
using ActorId = uint64_t;

// A causal context handed to clients rejects anything larger than this many
// actors: a real context has one entry per node that ever coordinated a write
// of the key.
inline constexpr size_t kMaxContextActors = 1024;

// actor -> highest counter seen. Entries sorted by actor; no zero counters.
class VersionVector {
 public:
  VersionVector() = default;

  // 0 when the actor is absent.
  uint64_t Get(ActorId actor) const;
  // Sets the actor's counter (0 removes it).
  void Set(ActorId actor, uint64_t counter);
  // Pointwise maximum.
  void Merge(const VersionVector& other);
  // True when every counter here is >= the other's.
  bool Descends(const VersionVector& other) const;

  bool empty() const { return entries_.empty(); }
  const std::vector<std::pair<ActorId, uint64_t>>& entries() const {
    return entries_;
  }

  // Canonical bytes: equal vectors encode equally. The empty vector encodes
  // to the empty string, so "no context" is simply "".
  std::string Encode() const;
  // Accepts only what Encode produces (checked by a checksum and structural
  // validation). Errors are INVALID_ARGUMENT: contexts come from clients.
  static absl::StatusOr<VersionVector> Decode(std::string_view bytes);

  bool operator==(const VersionVector&) const = default;

 private:
  std::vector<std::pair<ActorId, uint64_t>> entries_;
};

// One value written by a client, or the tombstone a delete leaves.
struct Sibling {
  bool tombstone = false;
  std::string data;  // empty for tombstones

  static Sibling Value(std::string data) { return {false, std::move(data)}; }
  static Sibling Tombstone() { return {true, {}}; }
  bool operator==(const Sibling&) const = default;
};

class DvvSet {
 public:
  struct Entry {
    ActorId actor = 0;
    // Highest event of this actor the set knows of (>= 1).
    uint64_t counter = 0;
    // values[i] carries the dot (actor, counter - i): newest first,
    // contiguous, at most `counter` long.
    std::vector<Sibling> values;
    bool operator==(const Entry&) const = default;
  };

  DvvSet() = default;

  // Drops the values whose dots `context` covers and raises counters to the
  // context's (the object now causally follows everything the context saw).
  void Discard(const VersionVector& context);

  // A client write coordinated by `actor`: Discard(context), then records
  // `value` under a fresh dot of `actor`. Returns that dot's counter.
  // INVALID_ARGUMENT if the counter would overflow (a forged context).
  absl::StatusOr<uint64_t> Update(const VersionVector& context, Sibling value,
                                  ActorId actor);

  // Sync: merges another replica's set into this one. Commutative,
  // associative and idempotent, so replicas converge whatever the order.
  void Merge(const DvvSet& other);

  // The causal context covering every value in the set.
  VersionVector Join() const;

  // Every sibling (tombstones included) in canonical order: actor
  // ascending, newest first.
  std::vector<Sibling> Siblings() const;
  // The non-tombstone siblings' data, in canonical order.
  std::vector<std::string> LiveValues() const;
  size_t SiblingCount() const;
  bool HasLiveValue() const;
  // No entries at all: the key was never written here.
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }

  // Canonical bytes: the same logical set always encodes to the same bytes.
  std::string Encode() const;
  // DATA_LOSS on anything Encode could not have produced.
  static absl::StatusOr<DvvSet> Decode(std::string_view bytes);
  // Whether `encoded` (an Encode result) holds siblings and all of them are
  // tombstones: a deleted key. Walks the bytes without allocating (it runs
  // on every write); false for anything malformed.
  static bool EncodedOnlyTombstones(std::string_view encoded);

  bool operator==(const DvvSet&) const = default;

 private:
  Entry* FindOrInsert(ActorId actor);

  std::vector<Entry> entries_;  // sorted by actor
};

}  // namespace rumor::storage

#endif  // RUMOR_STORAGE_DVV_H_
