#include "storage/engine.h"

#include "absl/strings/cord.h"

namespace rumor::storage {
namespace {
constexpr char kWouldBlockPayload[] = "rumor.storage/would-block";
}  // namespace

absl::Status WouldBlockError() {
  absl::Status s = absl::UnavailableError("storage would block");
  s.SetPayload(kWouldBlockPayload, absl::Cord("1"));
  return s;
}

bool IsWouldBlock(const absl::Status& s) {
  return s.GetPayload(kWouldBlockPayload).has_value();
}

const char* ColumnName(Column c) {
  switch (c) {
    case Column::kData:
      return "data";
    case Column::kHints:
      return "hints";
    case Column::kMeta:
      return "meta";
  }
  return "unknown";
}

}  // namespace rumor::storage
