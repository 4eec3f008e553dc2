#include "storage/object_store.h"

#include "common/coding.h"
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
                                               bool cached_only) {
  std::string bytes;
  absl::Status s = cached_only
                       ? engine_->GetIfCached(Column::kData, data_key, &bytes)
                       : engine_->Get(Column::kData, data_key, &bytes);
  if (absl::IsNotFound(s)) return DvvSet();
  RUMOR_RETURN_IF_ERROR(s);
  return DvvSet::Decode(bytes);
}

absl::StatusOr<DvvSet> ObjectStore::Get(std::string_view key) {
  // A single engine read is atomic on its own; no stripe needed.
  return ReadLocked(DataKey(key));
}

absl::StatusOr<DvvSet> ObjectStore::Update(std::string_view key,
                                           const VersionVector& context,
                                           Sibling value, ActorId actor) {
  std::string dk = DataKey(key);
  absl::MutexLock lock(&StripeFor(dk));
  RUMOR_ASSIGN_OR_RETURN(DvvSet object, ReadLocked(dk));
  RUMOR_RETURN_IF_ERROR(
      object.Update(context, std::move(value), actor).status());
  WriteBatch batch;
  batch.Put(Column::kData, dk, object.Encode());
  RUMOR_RETURN_IF_ERROR(engine_->Write(batch));
  return object;
}

absl::StatusOr<DvvSet> ObjectStore::TryGetNow(std::string_view key) {
  return ReadLocked(DataKey(key), /*cached_only=*/true);
}

absl::StatusOr<DvvSet> ObjectStore::TryUpdateNow(std::string_view key,
                                                 const VersionVector& context,
                                                 const Sibling& value,
                                                 ActorId actor) {
  std::string dk = DataKey(key);
  absl::Mutex& stripe = StripeFor(dk);
  if (!stripe.TryLock()) return WouldBlockError();
  absl::StatusOr<DvvSet> result = [&]() -> absl::StatusOr<DvvSet> {
    RUMOR_ASSIGN_OR_RETURN(DvvSet object, ReadLocked(dk, /*cached_only=*/true));
    RUMOR_RETURN_IF_ERROR(object.Update(context, value, actor).status());
    WriteBatch batch;
    batch.Put(Column::kData, dk, object.Encode());
    RUMOR_RETURN_IF_ERROR(engine_->WriteIfNoWait(batch));
    return object;
  }();
  stripe.Unlock();
  return result;
}

absl::StatusOr<DvvSet> ObjectStore::Merge(std::string_view key,
                                          const DvvSet& remote) {
  std::string dk = DataKey(key);
  absl::MutexLock lock(&StripeFor(dk));
  RUMOR_ASSIGN_OR_RETURN(DvvSet object, ReadLocked(dk));
  DvvSet merged = object;
  merged.Merge(remote);
  if (merged == object) return object;
  WriteBatch batch;
  batch.Put(Column::kData, dk, merged.Encode());
  RUMOR_RETURN_IF_ERROR(engine_->Write(batch));
  return merged;
}

}  // namespace rumor::storage
