#include "server/replication/hint_store.h"

#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/log.h"
#include "common/status.h"
#include "storage/object_store.h"

namespace rumor::server {
namespace {

// owner (8 bytes, big-endian) || data key (ring position || user key).
std::string HintKey(NodeId owner, std::string_view key) {
  std::string k;
  PutFixed64BE(&k, owner);
  k.append(storage::DataKey(key));
  return k;
}

bool ParseHintKey(std::string_view hint_key, NodeId* owner,
                  std::string_view* key) {
  uint64_t pos;
  if (!GetFixed64BE(&hint_key, owner)) return false;
  return storage::ParseDataKey(hint_key, &pos, key) && !key->empty();
}

}  // namespace

absl::StatusOr<std::unique_ptr<HintStore>> HintStore::Open(
    storage::ColumnStore* hints, size_t max_per_owner) {
  std::unique_ptr<HintStore> store(new HintStore(hints, max_per_owner));
  std::map<NodeId, uint64_t> counts;
  RUMOR_RETURN_IF_ERROR(
      hints->Scan("", "", [&](std::string_view k, std::string_view) {
        NodeId owner;
        std::string_view key;
        if (ParseHintKey(k, &owner, &key)) ++counts[owner];
        return true;
      }));
  absl::MutexLock lock(&store->counts_mu_);
  store->counts_ = std::move(counts);
  return store;
}

absl::Mutex& HintStore::StripeFor(std::string_view hint_key) {
  // Bytes 8..15 are the key's ring position: already a good hash.
  return stripes_[DecodeFixed64BE(hint_key.data() + 8) % kStripes];
}

absl::Status HintStore::Store(NodeId owner, std::string_view key,
                              const storage::DvvSet& object) {
  std::string hk = HintKey(owner, key);
  absl::MutexLock lock(&StripeFor(hk));
  std::string bytes;
  absl::Status s = hints_->Get(hk, &bytes);
  storage::DvvSet merged;
  bool is_new = absl::IsNotFound(s);
  if (!is_new) {
    RUMOR_RETURN_IF_ERROR(s);
    RUMOR_ASSIGN_OR_RETURN(merged, storage::DvvSet::Decode(bytes));
  }
  if (is_new) {
    // The slot is taken before the write, so concurrent new keys cannot
    // pass the bound together; given back if the write fails.
    absl::MutexLock clock(&counts_mu_);
    auto it = counts_.find(owner);
    uint64_t held = it == counts_.end() ? 0 : it->second;
    if (held >= max_per_owner_ ||
        (it == counts_.end() && counts_.size() >= kMaxOwners)) {
      ++dropped_;
      ++ActivityFor(owner).dropped;
      RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
          << "hint queue for node " << NodeIdToString(owner) << " is full ("
          << (held >= max_per_owner_
                  ? absl::StrCat(max_per_owner_, " keys, --max-hints-per-node")
                  : absl::StrCat("hints held for ", kMaxOwners, " nodes"))
          << "); dropping hints for it: a read repairs what they would have "
             "delivered";
      return absl::ResourceExhaustedError(absl::StrCat(
          "hint queue for node ", NodeIdToString(owner), " is full"));
    }
    ++counts_[owner];
  }
  auto release = [&] {
    if (!is_new) return;
    absl::MutexLock clock(&counts_mu_);
    auto it = counts_.find(owner);
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  };
  if (!is_new) {
    storage::DvvSet before = merged;
    merged.Merge(object);
    if (merged == before) return absl::OkStatus();  // nothing new
  } else {
    merged.Merge(object);
  }
  storage::WriteBatch batch;
  batch.Put(storage::Column::kHints, hk, merged.Encode());
  absl::Status written = hints_->Write(batch);
  if (!written.ok()) {
    release();
    return written;
  }
  absl::MutexLock clock(&counts_mu_);
  ++ActivityFor(owner).stored;
  return written;
}

absl::StatusOr<std::optional<storage::DvvSet>> HintStore::Get(
    NodeId owner, std::string_view key) {
  std::string bytes;
  absl::Status s = hints_->Get(HintKey(owner, key), &bytes);
  if (absl::IsNotFound(s)) return std::optional<storage::DvvSet>();
  RUMOR_RETURN_IF_ERROR(s);
  RUMOR_ASSIGN_OR_RETURN(storage::DvvSet object, storage::DvvSet::Decode(bytes));
  return std::optional<storage::DvvSet>(std::move(object));
}

absl::StatusOr<std::string> HintStore::Scan(
    NodeId owner, std::string_view after, size_t limit,
    absl::FunctionRef<void(std::string_view, std::string_view)> fn) {
  if (limit == 0) return std::string();
  std::string start, end, last;
  PutFixed64BE(&start, owner);
  if (!after.empty()) {
    start.append(after);
    start.push_back('\0');  // strictly after
  }
  if (owner != ~uint64_t{0}) PutFixed64BE(&end, owner + 1);
  size_t n = 0;
  RUMOR_RETURN_IF_ERROR(hints_->Scan(
      start, end, [&](std::string_view hk, std::string_view value) {
        NodeId o;
        std::string_view key;
        if (ParseHintKey(hk, &o, &key) && o == owner) {
          fn(key, value);
          last.assign(hk.substr(8));
          ++n;
        }
        return n < limit;
      }));
  return last;
}

absl::StatusOr<bool> HintStore::DeleteIfUnchanged(NodeId owner,
                                                  std::string_view key,
                                                  std::string_view expected) {
  std::string hk = HintKey(owner, key);
  absl::MutexLock lock(&StripeFor(hk));
  std::string bytes;
  absl::Status s = hints_->Get(hk, &bytes);
  if (absl::IsNotFound(s)) return false;
  RUMOR_RETURN_IF_ERROR(s);
  if (bytes != expected) return false;
  storage::WriteBatch batch;
  batch.Delete(storage::Column::kHints, hk);
  RUMOR_RETURN_IF_ERROR(hints_->Write(batch));
  absl::MutexLock clock(&counts_mu_);
  auto it = counts_.find(owner);
  if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  ++ActivityFor(owner).delivered;
  return true;
}

bool HintStore::HoldsAny(std::string_view key) {
  for (const auto& [owner, count] : Counts()) {
    absl::StatusOr<std::optional<storage::DvvSet>> h = Get(owner, key);
    if (!h.ok() || h->has_value()) return true;
  }
  return false;
}

std::map<NodeId, uint64_t> HintStore::Counts() const {
  absl::MutexLock lock(&counts_mu_);
  return counts_;
}

uint64_t HintStore::dropped() const {
  absl::MutexLock lock(&counts_mu_);
  return dropped_;
}

HintOwnerStats& HintStore::ActivityFor(NodeId owner) {
  auto it = activity_.find(owner);
  if (it != activity_.end()) return it->second;
  if (activity_.size() >= kMaxOwners) owner = kNoNode;
  return activity_[owner];
}

std::map<NodeId, HintOwnerStats> HintStore::OwnerStats() const {
  absl::MutexLock lock(&counts_mu_);
  std::map<NodeId, HintOwnerStats> out = activity_;
  for (const auto& [owner, count] : counts_) out[owner].held = count;
  return out;
}

}  // namespace rumor::server
