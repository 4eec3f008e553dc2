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
#include <cstdint>
#include <string>
#include <string_view>

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

class ObjectStore {
 public:
  // `engine` must outlive the store.
  explicit ObjectStore(Engine* engine) : engine_(engine) {}
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // The key's object; an empty DvvSet when the key was never written.
  // DATA_LOSS if the stored bytes do not decode.
  absl::StatusOr<DvvSet> Get(std::string_view key);

  // A client write coordinated by `actor` (see DvvSet::Update). Returns the
  // object after the write. On error nothing is written.
  absl::StatusOr<DvvSet> Update(std::string_view key,
                                const VersionVector& context, Sibling value,
                                ActorId actor);

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
                                      const Sibling& value, ActorId actor);

 private:
  static constexpr size_t kStripes = 1024;
  absl::Mutex& StripeFor(std::string_view data_key);
  absl::StatusOr<DvvSet> ReadLocked(std::string_view data_key,
                                    bool cached_only = false);

  Engine* const engine_;
  std::array<absl::Mutex, kStripes> stripes_;
};

}  // namespace rumor::storage

#endif  // RUMOR_STORAGE_OBJECT_STORE_H_
