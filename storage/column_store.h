// One non-data column of an Engine (meta, hints), for the code that owns
// it. Versioned objects in the data column are reachable only through
// ObjectStore, whose per-key lock makes every read-modify-write atomic: a
// write that bypassed it could lose a concurrent update. A ColumnStore can
// never be made for the data column.
//
// Thread-safe (the engine is).
#ifndef RUMOR_STORAGE_COLUMN_STORE_H_
#define RUMOR_STORAGE_COLUMN_STORE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "storage/engine.h"

namespace rumor::storage {

class ColumnStore {
 public:
  // INVALID_ARGUMENT for Column::kData. `engine` must outlive the store.
  static absl::StatusOr<std::unique_ptr<ColumnStore>> Open(Engine* engine,
                                                           Column column);
  ColumnStore(const ColumnStore&) = delete;
  ColumnStore& operator=(const ColumnStore&) = delete;

  Column column() const { return column_; }

  // As Engine::Get, in this column.
  [[nodiscard]] absl::Status Get(std::string_view key, std::string* value);
  // Writes `batch`, every op of which must be in this column
  // (INVALID_ARGUMENT otherwise, nothing written).
  [[nodiscard]] absl::Status Write(const WriteBatch& batch);
  // One put, made durable (fsynced) before returning.
  [[nodiscard]] absl::Status PutSynced(std::string_view key,
                                       std::string_view value);
  // One delete, made durable before returning.
  [[nodiscard]] absl::Status DeleteSynced(std::string_view key);
  // As Engine::Scan, in this column.
  [[nodiscard]] absl::Status Scan(
      std::string_view start, std::string_view end,
      absl::FunctionRef<bool(std::string_view key, std::string_view value)>
          fn);

 private:
  ColumnStore(Engine* engine, Column column)
      : engine_(engine), column_(column) {}
  Engine* const engine_;
  const Column column_;
};

}  // namespace rumor::storage

#endif  // RUMOR_STORAGE_COLUMN_STORE_H_
