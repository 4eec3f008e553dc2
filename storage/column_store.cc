#include "storage/column_store.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace rumor::storage {

absl::StatusOr<std::unique_ptr<ColumnStore>> ColumnStore::Open(Engine* engine,
                                                               Column column) {
  if (column == Column::kData) {
    return absl::InvalidArgumentError(
        "the data column is reachable only through ObjectStore");
  }
  return std::unique_ptr<ColumnStore>(new ColumnStore(engine, column));
}

absl::Status ColumnStore::Get(std::string_view key, std::string* value) {
  return engine_->Get(column_, key, value);
}

absl::Status ColumnStore::Write(const WriteBatch& batch) {
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.column != column_) {
      return absl::InvalidArgumentError(
          absl::StrCat("a write to column ", ColumnName(op.column),
                       " through the store of column ", ColumnName(column_)));
    }
  }
  return engine_->Write(batch);
}

absl::Status ColumnStore::PutSynced(std::string_view key,
                                    std::string_view value) {
  WriteBatch batch;
  batch.Put(column_, key, value);
  RUMOR_RETURN_IF_ERROR(engine_->Write(batch));
  return engine_->Sync();
}

absl::Status ColumnStore::DeleteSynced(std::string_view key) {
  WriteBatch batch;
  batch.Delete(column_, key);
  RUMOR_RETURN_IF_ERROR(engine_->Write(batch));
  return engine_->Sync();
}

absl::Status ColumnStore::Scan(
    std::string_view start, std::string_view end,
    absl::FunctionRef<bool(std::string_view, std::string_view)> fn) {
  return engine_->Scan(column_, start, end, fn);
}

}  // namespace rumor::storage
