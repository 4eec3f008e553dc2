#include "server/node/node_meta.h"

#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/coding.h"
#include "common/hash.h"
#include "common/status.h"
#include "common/strings.h"
#include "server/membership/member_meta.h"

namespace rumor::server {
namespace {

constexpr char kFormatKey[] = "format";
constexpr char kFormat[] = "rumor-data-1";
constexpr char kNodeIdKey[] = "node_id";
constexpr char kIncarnationKey[] = "incarnation";
constexpr char kTokensKey[] = "tokens";
constexpr char kEpochKey[] = "actor_epoch";
constexpr char kCleanKey[] = "clean_shutdown";
constexpr char kDataIdentityKey[] = "data_identity";
constexpr char kPeersKey[] = "peers";
constexpr char kJoiningKey[] = "joining";

}  // namespace

absl::StatusOr<NodeId> LoadOrCreateNodeId(storage::ColumnStore* meta) {
  using storage::Column;
  std::string format;
  absl::Status s = meta->Get(kFormatKey, &format);
  if (s.ok() && format != kFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir holds format '", format, "'; this kvd reads '", kFormat,
        "'"));
  }
  if (!s.ok() && !absl::IsNotFound(s)) return s;

  std::string bytes;
  s = meta->Get(kNodeIdKey, &bytes);
  if (s.ok()) {
    if (bytes.size() != 8) {
      return absl::DataLossError("stored node id is not 8 bytes");
    }
    return DecodeFixed64BE(bytes.data());
  }
  if (!absl::IsNotFound(s)) return s;

  std::random_device rd;
  NodeId id = kNoNode;
  while (id == kNoNode) {
    id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  std::string encoded;
  PutFixed64BE(&encoded, id);
  storage::WriteBatch batch;
  batch.Put(Column::kMeta, kFormatKey, kFormat);
  batch.Put(Column::kMeta, kNodeIdKey, encoded);
  RUMOR_RETURN_IF_ERROR(meta->Write(batch));
  RUMOR_RETURN_IF_ERROR(meta->PutSynced(kFormatKey, kFormat));
  return id;
}

namespace {

absl::StatusOr<uint64_t> LoadIncarnationMark(storage::ColumnStore* meta) {
  std::string bytes;
  absl::Status s = meta->Get(kIncarnationKey, &bytes);
  if (absl::IsNotFound(s)) return uint64_t{0};
  RUMOR_RETURN_IF_ERROR(s);
  if (bytes.size() != 8) {
    return absl::DataLossError("stored incarnation mark is not 8 bytes");
  }
  return DecodeFixed64BE(bytes.data());
}

}  // namespace

absl::StatusOr<IncarnationStart> NextIncarnation(storage::ColumnStore* meta) {
  RUMOR_ASSIGN_OR_RETURN(uint64_t mark, LoadIncarnationMark(meta));
  if (mark >= (uint64_t{1} << 62) - 2 * kIncarnationLease) {
    // Unreachable by refutations (2^62 of them); only a corrupt or forged
    // value gets here, and peers would refuse every incarnation above it.
    return absl::DataLossError(absl::StrCat(
        "stored incarnation mark ", mark,
        " is implausibly high (the limit is 2^62): the meta column is "
        "corrupt"));
  }
  IncarnationStart start;
  start.incarnation = mark + 1;
  start.mark = start.incarnation + kIncarnationLease;
  RUMOR_RETURN_IF_ERROR(StoreIncarnationMark(meta, start.mark));
  return start;
}

absl::Status StoreIncarnationMark(storage::ColumnStore* meta, uint64_t mark) {
  RUMOR_ASSIGN_OR_RETURN(uint64_t stored, LoadIncarnationMark(meta));
  if (mark <= stored) return absl::OkStatus();
  std::string bytes;
  PutFixed64BE(&bytes, mark);
  return meta->PutSynced(kIncarnationKey, bytes);
}

absl::StatusOr<std::vector<uint64_t>> LoadTokens(storage::ColumnStore* meta) {
  std::string bytes;
  absl::Status s = meta->Get(kTokensKey, &bytes);
  if (absl::IsNotFound(s)) return std::vector<uint64_t>{};
  RUMOR_RETURN_IF_ERROR(s);
  if (bytes.size() % 8 != 0) {
    return absl::DataLossError("stored tokens are not a multiple of 8 bytes");
  }
  std::vector<uint64_t> tokens;
  for (size_t i = 0; i < bytes.size(); i += 8) {
    tokens.push_back(DecodeFixed64BE(bytes.data() + i));
  }
  return tokens;
}

absl::Status StoreTokens(storage::ColumnStore* meta,
                         const std::vector<uint64_t>& tokens) {
  std::string bytes;
  for (uint64_t t : tokens) PutFixed64BE(&bytes, t);
  return meta->PutSynced(kTokensKey, bytes);
}

absl::StatusOr<bool> LoadJoining(storage::ColumnStore* meta) {
  std::string bytes;
  absl::Status s = meta->Get(kJoiningKey, &bytes);
  if (absl::IsNotFound(s)) return false;
  RUMOR_RETURN_IF_ERROR(s);
  return bytes == "1";
}

absl::Status StoreJoining(storage::ColumnStore* meta, bool joining) {
  if (!joining) return meta->DeleteSynced(kJoiningKey);
  return meta->PutSynced(kJoiningKey, "1");
}

uint64_t ActorOf(NodeId id, uint64_t epoch) {
  uint64_t actor = Mix64(id ^ Mix64(epoch + 0x65706f6368));
  return actor == 0 ? 1 : actor;
}

absl::StatusOr<ActorStart> StartActorEpoch(storage::ColumnStore* meta,
                                           storage::ObjectStore* store,
                                           NodeId id) {
  auto load = [&](const char* key) -> absl::StatusOr<std::string> {
    std::string bytes;
    absl::Status s = meta->Get(key, &bytes);
    if (absl::IsNotFound(s)) return std::string();
    RUMOR_RETURN_IF_ERROR(s);
    return bytes;
  };
  ActorStart start;
  RUMOR_ASSIGN_OR_RETURN(std::string epoch_bytes, load(kEpochKey));
  if (!epoch_bytes.empty()) {
    if (epoch_bytes.size() != 8) {
      return absl::DataLossError("stored actor epoch is not 8 bytes");
    }
    start.epoch = DecodeFixed64BE(epoch_bytes.data());
  }
  RUMOR_ASSIGN_OR_RETURN(std::string clean, load(kCleanKey));
  RUMOR_ASSIGN_OR_RETURN(std::string expected_identity, load(kDataIdentityKey));
  RUMOR_ASSIGN_OR_RETURN(std::string identity, store->DataIdentity());
  bool data_lost = identity.empty() || identity != expected_identity;
  if (data_lost) {
    start.bumped_because = expected_identity.empty()
                               ? "first start"
                               : "the data column was lost or replaced";
  } else if (clean != epoch_bytes) {
    start.bumped_because = "the last shutdown was not clean";
  }
  if (!start.bumped_because.empty()) {
    ++start.epoch;
    std::string bytes;
    PutFixed64BE(&bytes, start.epoch);
    RUMOR_RETURN_IF_ERROR(meta->PutSynced(kEpochKey, bytes));
  }
  if (data_lost) {
    std::random_device rd;
    std::string fresh;
    PutFixed64BE(&fresh, (static_cast<uint64_t>(rd()) << 32) ^ rd());
    PutFixed64BE(&fresh, (static_cast<uint64_t>(rd()) << 32) ^ rd());
    RUMOR_RETURN_IF_ERROR(store->SetDataIdentity(fresh));
    RUMOR_RETURN_IF_ERROR(meta->PutSynced(kDataIdentityKey, fresh));
  }
  // From here on a crash is unclean until the next clean shutdown says
  // otherwise.
  if (!clean.empty()) RUMOR_RETURN_IF_ERROR(meta->DeleteSynced(kCleanKey));
  start.actor = ActorOf(id, start.epoch);
  return start;
}

absl::StatusOr<std::vector<std::string>> LoadPeers(
    storage::ColumnStore* meta) {
  std::string bytes;
  absl::Status s = meta->Get(kPeersKey, &bytes);
  if (absl::IsNotFound(s)) return std::vector<std::string>{};
  RUMOR_RETURN_IF_ERROR(s);
  std::vector<std::string> out;
  for (absl::string_view a : absl::StrSplit(bytes, '\n', absl::SkipEmpty())) {
    if (CheckHostPort(AsStd(a), "peer", 1).ok()) out.emplace_back(a);
  }
  return out;
}

absl::Status StorePeers(storage::ColumnStore* meta,
                        const std::vector<std::string>& addresses) {
  return meta->PutSynced(kPeersKey, absl::StrJoin(addresses, "\n"));
}

absl::StatusOr<uint64_t> BumpActorEpoch(storage::ColumnStore* meta,
                                        uint64_t epoch) {
  std::string bytes;
  PutFixed64BE(&bytes, epoch + 1);
  RUMOR_RETURN_IF_ERROR(meta->PutSynced(kEpochKey, bytes));
  return epoch + 1;
}

absl::Status MarkCleanShutdown(storage::ColumnStore* meta, uint64_t epoch) {
  std::string bytes;
  PutFixed64BE(&bytes, epoch);
  return meta->PutSynced(kCleanKey, bytes);
}

}  // namespace rumor::server
