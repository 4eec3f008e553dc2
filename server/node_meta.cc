#include "server/node_meta.h"

#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/status.h"

namespace rumor::server {
namespace {

constexpr char kFormatKey[] = "format";
constexpr char kFormat[] = "rumor-data-1";
constexpr char kNodeIdKey[] = "node_id";

}  // namespace

absl::StatusOr<NodeId> LoadOrCreateNodeId(storage::Engine* engine) {
  using storage::Column;
  std::string format;
  absl::Status s = engine->Get(Column::kMeta, kFormatKey, &format);
  if (s.ok() && format != kFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir holds format '", format, "'; this kvd reads '", kFormat,
        "'"));
  }
  if (!s.ok() && !absl::IsNotFound(s)) return s;

  std::string bytes;
  s = engine->Get(Column::kMeta, kNodeIdKey, &bytes);
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
  RUMOR_RETURN_IF_ERROR(engine->Write(batch));
  RUMOR_RETURN_IF_ERROR(engine->Sync());
  return id;
}

}  // namespace rumor::server
