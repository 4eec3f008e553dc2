// Versioned objects (DVV sets) stored in an Engine's data column.
//
// Thread-safe. Every read-modify-write of one key (Update, Merge) is atomic
// with respect to every other write of that key through the same store: a
// striped lock covers the read, the DVV operation and the engine write. It is
// the one lock in rumor held across disk I/O, on purpose: it is what makes
// the read-modify-write atomic, it is per key stripe, and it never covers a
// network call.
#ifndef RUMOR_STORAGE_OBJECT_STORE_H_
#define RUMOR_STORAGE_OBJECT_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/dvv.h"
#include "storage/engine.h"

namespace rumor::storage {

// Data-column key of a user key: its 64-bit ring position, big-endian, then
// the user key. A ring range is therefore one contiguous scan.
std::string DataKey(std::string_view user_key);
// Inverse of DataKey. False if `data_key` is shorter than the prefix.
bool ParseDataKey(std::string_view data_key, uint64_t* position,
                  std::string_view* user_key);

// Bounds on what a client write may make of an object (Riak's sibling
// limits). Merges from other replicas are never refused: refusing one would
// leave replicas diverged for good.
struct ObjectLimits {
  // Above this many siblings a write is logged as a warning.
  size_t warn_siblings = 25;
  // A write that would leave more siblings, or an object larger than
  // max_object_bytes (encoded), is refused with FAILED_PRECONDITION.
  size_t max_siblings = 100;
  size_t max_object_bytes = 32 << 20;
};

// Told of every change to a stored object, inside the key's critical
// section (the stripe lock of ObjectStore), after the engine write
// succeeded: so a change and the observer's record of it can never be
// reordered with another write of the same key. Anti-entropy's hash trees
// are kept this way. Called on many threads at once; must be fast and must
// not call back into the store.
class ObjectObserver {
 public:
  virtual ~ObjectObserver() = default;
  // `before` / `after`: the encoded object before and after the change;
  // empty when there was none (a new key) or none is left (a deletion).
  virtual void ObjectChanged(uint64_t position, std::string_view key,
                             std::string_view before,
                             std::string_view after) = 0;
};

class ObjectStore {
 public:
  // `engine` must outlive the store.
  // Reads the dot floor (see ReapIfUnchanged) at once; if that fails, the
  // first write that needs it reads it again and reports the error.
  explicit ObjectStore(Engine* engine, ObjectLimits limits = {})
      : engine_(engine), limits_(limits) {
    (void)DotFloor();
  }
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // The key's object; an empty DvvSet when the key was never written.
  // DATA_LOSS if the stored bytes do not decode.
  absl::StatusOr<DvvSet> Get(std::string_view key);

  // A client write coordinated by `actor` (see DvvSet::Update). Returns the
  // object after the write. On error nothing is written: FAILED_PRECONDITION
  // when the result would break the ObjectLimits (the message names the
  // limit and says how to resolve it).
  absl::StatusOr<DvvSet> Update(std::string_view key,
                                const VersionVector& context, Sibling value,
                                ActorId actor) {
    return Update(key, context, std::move(value), [actor] { return actor; });
  }
  // The same, with the actor read inside the key's critical section (an
  // actor that moves on, as at a handoff's epoch bump, is seen by every
  // write that takes the lock after the move).
  absl::StatusOr<DvvSet> Update(std::string_view key,
                                const VersionVector& context, Sibling value,
                                absl::FunctionRef<ActorId()> actor);

  // Merges another replica's copy into the local one (replication, read
  // repair, anti-entropy). Returns the merged object; writes only if the
  // merge changed the local copy.
  absl::StatusOr<DvvSet> Merge(std::string_view key, const DvvSet& remote);

  // Non-blocking forms of Get and Update for threads that must not wait
  // for the disk: WouldBlockError() (and nothing written) when they would
  // have to read from disk, stall, fsync, or wait for another writer of the
  // same key stripe. The caller then retries the blocking form elsewhere.
  absl::StatusOr<DvvSet> TryGetNow(std::string_view key);
  absl::StatusOr<DvvSet> TryUpdateNow(std::string_view key,
                                      const VersionVector& context,
                                      const Sibling& value, ActorId actor) {
    return TryUpdateNow(key, context, value, [actor] { return actor; });
  }
  absl::StatusOr<DvvSet> TryUpdateNow(std::string_view key,
                                      const VersionVector& context,
                                      const Sibling& value,
                                      absl::FunctionRef<ActorId()> actor);
  absl::StatusOr<DvvSet> TryMergeNow(std::string_view key,
                                     const DvvSet& remote);

  // Calls fn(user_key, encoded_object) for every object whose ring
  // position p satisfies from <= p <= to (no wrap-around: callers split a
  // range that wraps), in key order, on a consistent snapshot. Stops early
  // when fn returns false. fn must not call back into the store.
  [[nodiscard]] absl::Status ScanPositions(
      uint64_t from, uint64_t to,
      absl::FunctionRef<bool(std::string_view key, std::string_view object)>
          fn);
  // The same, resuming after the object of `after` (a key whose position
  // lies in from..to; empty: from the start).
  [[nodiscard]] absl::Status ScanPositionsAfter(
      uint64_t from, uint64_t to, std::string_view after,
      absl::FunctionRef<bool(std::string_view key, std::string_view object)>
          fn);

  // Deletes the key's object if its stored encoding is still `expected`
  // (it was handed to its new owners and nothing changed it since).
  // Returns whether it deleted.
  absl::StatusOr<bool> DeleteIfUnchanged(std::string_view key,
                                         std::string_view expected);
  // The same, comparing a hash of the encoding (EncodingHash) instead of
  // the bytes, for callers that cannot keep whole objects around.
  absl::StatusOr<bool> DeleteIfUnchangedHash(std::string_view key,
                                             uint64_t expected_hash);
  static uint64_t EncodingHash(std::string_view encoded);

  // Tombstone reaping: removes the key's object if it is a deleted key
  // (every sibling a tombstone) whose encoding still hashes to
  // `expected_hash`, and no counter in it exceeds kMaxReapCounter. Returns
  // whether it removed it. The counter of `actor` (the node's current
  // actor) in the removed object raises the store's dot floor, in the same
  // engine write; a client write by an actor that holds no value of the
  // key (a key the store does not hold, or re-created by a merge) starts
  // that actor's counter above the floor, so no dot issued before a
  // removal is issued again for the key (a client still holding a context
  // from before the delete would otherwise discard the newer value).
  absl::StatusOr<bool> ReapIfUnchanged(std::string_view key,
                                       uint64_t expected_hash, ActorId actor);
  // Counters above this are left alone by reaping: only a forged context
  // gets there, and it must not raise the floor near overflow.
  static constexpr uint64_t kMaxReapCounter = uint64_t{1} << 48;
  // The current dot floor (0 until a reap); loaded from the engine once.
  absl::StatusOr<uint64_t> DotFloor();

  // A random identity of the data column, kept inside it (under a key no
  // user key can produce): it vanishes with the data, which is how a node
  // notices that its data was wiped while its id survived. Empty when the
  // column has none yet.
  absl::StatusOr<std::string> DataIdentity();
  [[nodiscard]] absl::Status SetDataIdentity(std::string_view identity);

  const ObjectLimits& limits() const { return limits_; }

  // Sets the observer of every later change (nullptr: none). Set it before
  // writes start or while none runs; the observer must outlive its use.
  void SetObserver(ObjectObserver* observer) { observer_.store(observer); }

  // ScanPositions with every write to the store held off while it runs,
  // and `then` called before writes resume: what fn saw and whatever
  // `then` records happen atomically with respect to every write. For
  // building a hash tree from the data while writes go on, one small range
  // at a time (writes wait for the whole scan: keep ranges small).
  [[nodiscard]] absl::Status ScanPositionsExclusive(
      uint64_t from, uint64_t to,
      absl::FunctionRef<bool(std::string_view key, std::string_view object)>
          fn,
      absl::FunctionRef<void()> then)
      // Locks taken in a loop over an array: beyond what the analysis
      // follows.
      ABSL_NO_THREAD_SAFETY_ANALYSIS;

 private:
  static constexpr size_t kStripes = 1024;
  absl::Mutex& StripeFor(std::string_view data_key);
  // The stored object; `raw`, if given, receives its encoding (empty when
  // there is none).
  absl::StatusOr<DvvSet> ReadLocked(std::string_view data_key,
                                    bool cached_only = false,
                                    std::string* raw = nullptr);
  // Tells the observer, if any, of a change made with the stripe held.
  void Changed(std::string_view data_key, std::string_view before,
               std::string_view after);
  absl::Status CheckLimits(std::string_view key, const DvvSet& object,
                           const std::string& encoded) const;
  // The read-merge-write of Merge and TryMergeNow, with the stripe held.
  absl::StatusOr<DvvSet> MergeLocked(std::string_view data_key,
                                     const DvvSet& remote, bool no_wait);
  // Reads the key's stored bytes into `bytes` (stripe held); whether the
  // key exists with that encoding hash.
  absl::StatusOr<bool> ReadIfUnchangedLocked(std::string_view data_key,
                                             uint64_t expected_hash,
                                             std::string* bytes);
  // A client write into `object` (read with the stripe held) by `actor`:
  // above the dot floor when the key is not held.
  absl::Status UpdateObject(DvvSet* object, const VersionVector& context,
                            Sibling value, ActorId actor, bool no_wait);

  Engine* const engine_;
  const ObjectLimits limits_;
  std::array<absl::Mutex, kStripes> stripes_;
  std::atomic<ObjectObserver*> observer_{nullptr};
  absl::Mutex floor_mu_;  // loading and raising the dot floor
  std::atomic<bool> floor_loaded_{false};
  std::atomic<uint64_t> floor_{0};
};

}  // namespace rumor::storage

#endif  // RUMOR_STORAGE_OBJECT_STORE_H_
