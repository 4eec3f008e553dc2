#include "storage/object_store.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/hash.h"
#include "common/status.h"

namespace rumor::storage {

std::string DataKey(std::string_view user_key) {
  std::string k;
  k.reserve(8 + user_key.size());
  PutFixed64BE(&k, RingPosition(user_key));
  k.append(user_key);
  return k;
}

bool ParseDataKey(std::string_view data_key, uint64_t* position,
                  std::string_view* user_key) {
  if (!GetFixed64BE(&data_key, position)) return false;
  *user_key = data_key;
  return true;
}

absl::Mutex& ObjectStore::StripeFor(std::string_view data_key) {
  // The prefix is already a good hash of the user key.
  return stripes_[DecodeFixed64BE(data_key.data()) % kStripes];
}

absl::StatusOr<DvvSet> ObjectStore::ReadLocked(std::string_view data_key,
                                               bool cached_only,
                                               std::string* raw) {
  std::string local;
  std::string& bytes = raw != nullptr ? *raw : local;
  bytes.clear();
  absl::Status s = cached_only
                       ? engine_->GetIfCached(Column::kData, data_key, &bytes)
                       : engine_->Get(Column::kData, data_key, &bytes);
  if (absl::IsNotFound(s)) {
    bytes.clear();
    return DvvSet();
  }
  RUMOR_RETURN_IF_ERROR(s);
  return DvvSet::Decode(bytes);
}

void ObjectStore::Changed(std::string_view data_key, std::string_view before,
                          std::string_view after) {
  ObjectObserver* observer = observer_.load();
  if (observer == nullptr) return;
  uint64_t position;
  std::string_view user_key;
  if (!ParseDataKey(data_key, &position, &user_key) || user_key.empty()) {
    return;
  }
  observer->ObjectChanged(position, user_key, before, after);
}

absl::StatusOr<DvvSet> ObjectStore::Get(std::string_view key) {
  // A single engine read is atomic on its own; no stripe needed.
  return ReadLocked(DataKey(key));
}

absl::Status ObjectStore::CheckLimits(std::string_view key,
                                      const DvvSet& object,
                                      const std::string& encoded) const {
  size_t siblings = object.SiblingCount();
  if (siblings > limits_.max_siblings) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the write would leave ", siblings, " siblings; the limit is ",
        limits_.max_siblings,
        " (--max-siblings): read the key, merge its siblings and write the "
        "result back with the context you read"));
  }
  if (encoded.size() > limits_.max_object_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the write would make the object ", encoded.size(),
        " bytes; the limit is ", limits_.max_object_bytes,
        " (--max-object-bytes): read the key, resolve its siblings into one "
        "value and write it back with the context you read"));
  }
  if (siblings > limits_.warn_siblings) {
    RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
        << "key '" << absl::CHexEscape(AsAbsl(key.substr(0, 64))) << "' has "
        << siblings << " siblings (warning above " << limits_.warn_siblings
        << "): clients should resolve them";
  }
  return absl::OkStatus();
}

absl::StatusOr<DvvSet> ObjectStore::Update(
    std::string_view key, const VersionVector& context, Sibling value,
    absl::FunctionRef<ActorId()> actor) {
  std::string dk = DataKey(key);
  absl::MutexLock lock(&StripeFor(dk));
  std::string before;
  RUMOR_ASSIGN_OR_RETURN(DvvSet object, ReadLocked(dk, false, &before));
  RUMOR_RETURN_IF_ERROR(UpdateObject(&object, context, std::move(value),
                                     actor(), /*no_wait=*/false));
  std::string encoded = object.Encode();
  RUMOR_RETURN_IF_ERROR(CheckLimits(key, object, encoded));
  WriteBatch batch;
  batch.Put(Column::kData, dk, encoded);
  RUMOR_RETURN_IF_ERROR(engine_->Write(batch));
  Changed(dk, before, encoded);
  return object;
}

absl::Status ObjectStore::UpdateObject(DvvSet* object,
                                       const VersionVector& context,
                                       Sibling value, ActorId actor,
                                       bool no_wait) {
  // The actor holds no value of the key: its counter here may be below
  // dots it issued before the key was reaped. Raising it drops nothing
  // (no value of this actor to drop) and keeps the actor's dots
  // contiguous, as a DVV entry needs.
  bool holds_value = false;
  for (const DvvSet::Entry& e : object->entries()) {
    if (e.actor == actor) holds_value = !e.values.empty();
  }
  if (!holds_value) {
    if (no_wait && !floor_loaded_.load(std::memory_order_acquire)) {
      return WouldBlockError();
    }
    RUMOR_ASSIGN_OR_RETURN(uint64_t floor, DotFloor());
    if (floor > 0) {
      VersionVector above;
      above.Set(actor, floor);
      object->Discard(above);
    }
  }
  return object->Update(context, std::move(value), actor).status();
}

absl::StatusOr<DvvSet> ObjectStore::TryGetNow(std::string_view key) {
  return ReadLocked(DataKey(key), /*cached_only=*/true);
}

absl::StatusOr<DvvSet> ObjectStore::TryUpdateNow(
    std::string_view key, const VersionVector& context, const Sibling& value,
    absl::FunctionRef<ActorId()> actor) {
  std::string dk = DataKey(key);
  absl::Mutex& stripe = StripeFor(dk);
  if (!stripe.TryLock()) return WouldBlockError();
  absl::StatusOr<DvvSet> result = [&]() -> absl::StatusOr<DvvSet> {
    std::string before;
    RUMOR_ASSIGN_OR_RETURN(DvvSet object,
                           ReadLocked(dk, /*cached_only=*/true, &before));
    RUMOR_RETURN_IF_ERROR(
        UpdateObject(&object, context, value, actor(), /*no_wait=*/true));
    std::string encoded = object.Encode();
    RUMOR_RETURN_IF_ERROR(CheckLimits(key, object, encoded));
    WriteBatch batch;
    batch.Put(Column::kData, dk, encoded);
    RUMOR_RETURN_IF_ERROR(engine_->WriteIfNoWait(batch));
    Changed(dk, before, encoded);
    return object;
  }();
  stripe.Unlock();
  return result;
}

absl::StatusOr<DvvSet> ObjectStore::MergeLocked(std::string_view dk,
                                                const DvvSet& remote,
                                                bool no_wait) {
  std::string before;
  RUMOR_ASSIGN_OR_RETURN(DvvSet object, ReadLocked(dk, no_wait, &before));
  DvvSet merged = object;
  merged.Merge(remote);
  if (merged == object) return object;
  std::string encoded = merged.Encode();
  WriteBatch batch;
  batch.Put(Column::kData, dk, encoded);
  RUMOR_RETURN_IF_ERROR(no_wait ? engine_->WriteIfNoWait(batch)
                                : engine_->Write(batch));
  Changed(dk, before, encoded);
  return merged;
}

absl::StatusOr<DvvSet> ObjectStore::Merge(std::string_view key,
                                          const DvvSet& remote) {
  std::string dk = DataKey(key);
  absl::MutexLock lock(&StripeFor(dk));
  return MergeLocked(dk, remote, /*no_wait=*/false);
}

absl::StatusOr<DvvSet> ObjectStore::TryMergeNow(std::string_view key,
                                                const DvvSet& remote) {
  std::string dk = DataKey(key);
  absl::Mutex& stripe = StripeFor(dk);
  if (!stripe.TryLock()) return WouldBlockError();
  absl::StatusOr<DvvSet> result = MergeLocked(dk, remote, /*no_wait=*/true);
  stripe.Unlock();
  return result;
}

absl::Status ObjectStore::ScanPositions(
    uint64_t from, uint64_t to,
    absl::FunctionRef<bool(std::string_view, std::string_view)> fn) {
  return ScanPositionsAfter(from, to, "", fn);
}

absl::Status ObjectStore::ScanPositionsAfter(
    uint64_t from, uint64_t to, std::string_view after,
    absl::FunctionRef<bool(std::string_view, std::string_view)> fn) {
  if (from > to) return absl::OkStatus();
  std::string start, end;
  PutFixed64BE(&start, from);
  if (!after.empty()) {
    std::string resume = DataKey(after);
    resume.push_back('\0');  // the smallest key past it
    start = std::max(start, resume);
  }
  // The first key past position `to`: position to+1, or the end of the
  // column when `to` is the last position.
  if (to != ~uint64_t{0}) PutFixed64BE(&end, to + 1);
  return engine_->Scan(
      Column::kData, start, end,
      [&](std::string_view data_key, std::string_view value) {
        uint64_t pos;
        std::string_view user_key;
        // The data identity (the empty key) and anything else that is not
        // a data key is skipped.
        if (!ParseDataKey(data_key, &pos, &user_key) || user_key.empty()) {
          return true;
        }
        return fn(user_key, value);
      });
}

uint64_t ObjectStore::EncodingHash(std::string_view encoded) {
  return Hash64(encoded, /*seed=*/0x68616e646f6666);
}

absl::StatusOr<bool> ObjectStore::DeleteIfUnchanged(std::string_view key,
                                                    std::string_view expected) {
  return DeleteIfUnchangedHash(key, EncodingHash(expected));
}

absl::StatusOr<bool> ObjectStore::ReadIfUnchangedLocked(std::string_view dk,
                                                        uint64_t expected_hash,
                                                        std::string* bytes) {
  absl::Status s = engine_->Get(Column::kData, dk, bytes);
  if (absl::IsNotFound(s)) return false;
  RUMOR_RETURN_IF_ERROR(s);
  return EncodingHash(*bytes) == expected_hash;
}

absl::StatusOr<bool> ObjectStore::DeleteIfUnchangedHash(std::string_view key,
                                                        uint64_t expected_hash) {
  std::string dk = DataKey(key);
  absl::MutexLock lock(&StripeFor(dk));
  std::string bytes;
  RUMOR_ASSIGN_OR_RETURN(bool unchanged,
                         ReadIfUnchangedLocked(dk, expected_hash, &bytes));
  if (!unchanged) return false;
  WriteBatch batch;
  batch.Delete(Column::kData, dk);
  RUMOR_RETURN_IF_ERROR(engine_->Write(batch));
  Changed(dk, bytes, "");
  return true;
}

absl::Status ObjectStore::ScanPositionsExclusive(
    uint64_t from, uint64_t to,
    absl::FunctionRef<bool(std::string_view, std::string_view)> fn,
    absl::FunctionRef<void()> then) {
  // Every stripe, in index order (no other path holds two stripes, so the
  // order cannot deadlock).
  for (absl::Mutex& m : stripes_) m.Lock();
  absl::Status s = ScanPositions(from, to, fn);
  if (s.ok()) then();
  for (auto it = stripes_.rbegin(); it != stripes_.rend(); ++it) it->Unlock();
  return s;
}

// The empty key: every data key is a ring position (8 bytes) followed by a
// non-empty user key, so no user key can collide with it.
constexpr char kDataIdentityKey[] = "";
// The dot floor (8 bytes, big-endian), under a key shorter than any data
// key too; it sorts before every data key, so scans never see it.
constexpr std::string_view kDotFloorKey("\0", 1);

absl::StatusOr<uint64_t> ObjectStore::DotFloor() {
  if (floor_loaded_.load(std::memory_order_acquire)) {
    return floor_.load(std::memory_order_acquire);
  }
  absl::MutexLock lock(&floor_mu_);
  if (!floor_loaded_.load(std::memory_order_acquire)) {
    std::string bytes;
    absl::Status s = engine_->Get(Column::kData, kDotFloorKey, &bytes);
    uint64_t floor = 0;
    if (s.ok()) {
      std::string_view in = bytes;
      if (!GetFixed64BE(&in, &floor) || !in.empty()) {
        return absl::DataLossError("the stored dot floor is not 8 bytes");
      }
    } else if (!absl::IsNotFound(s)) {
      return s;
    }
    floor_.store(floor, std::memory_order_release);
    floor_loaded_.store(true, std::memory_order_release);
  }
  return floor_.load(std::memory_order_acquire);
}

absl::StatusOr<bool> ObjectStore::ReapIfUnchanged(std::string_view key,
                                                  uint64_t expected_hash,
                                                  ActorId actor) {
  // Loaded before the stripe is taken (loading takes floor_mu_).
  RUMOR_RETURN_IF_ERROR(DotFloor().status());
  std::string dk = DataKey(key);
  absl::MutexLock lock(&StripeFor(dk));
  std::string bytes;
  RUMOR_ASSIGN_OR_RETURN(bool unchanged,
                         ReadIfUnchangedLocked(dk, expected_hash, &bytes));
  if (!unchanged || !DvvSet::EncodedOnlyTombstones(bytes)) return false;
  RUMOR_ASSIGN_OR_RETURN(DvvSet object, DvvSet::Decode(bytes));
  uint64_t highest = 0;
  for (const DvvSet::Entry& e : object.entries()) {
    if (e.counter > kMaxReapCounter) return false;
    if (e.actor == actor) highest = e.counter;
  }
  // Raised (and written) under floor_mu_, so two stripes reaping at once
  // cannot write the lower floor last.
  absl::MutexLock floor_lock(&floor_mu_);
  WriteBatch batch;
  batch.Delete(Column::kData, dk);
  bool raise = highest > floor_.load(std::memory_order_acquire);
  if (raise) {
    std::string encoded;
    PutFixed64BE(&encoded, highest);
    batch.Put(Column::kData, kDotFloorKey, encoded);
  }
  RUMOR_RETURN_IF_ERROR(engine_->Write(batch));
  if (raise) floor_.store(highest, std::memory_order_release);
  Changed(dk, bytes, "");
  return true;
}

absl::StatusOr<std::string> ObjectStore::DataIdentity() {
  std::string bytes;
  absl::Status s = engine_->Get(Column::kData, kDataIdentityKey, &bytes);
  if (absl::IsNotFound(s)) return std::string();
  RUMOR_RETURN_IF_ERROR(s);
  return bytes;
}

absl::Status ObjectStore::SetDataIdentity(std::string_view identity) {
  WriteBatch batch;
  batch.Put(Column::kData, kDataIdentityKey, identity);
  RUMOR_RETURN_IF_ERROR(engine_->Write(batch));
  return engine_->Sync();
}

}  // namespace rumor::storage
