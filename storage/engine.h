// The storage engine contract: an ordered byte-string store with three
// column families and atomic batched writes. Implementations:
// RocksDbEngine (storage/rocksdb_engine.h) for real nodes and MemEngine
// (storage/mem_engine.h) for tests and the simulator. Both pass the same
// test suite (tests/storage/engine_test.cc).
//
// Engines know nothing of versioned objects, rings or peers.
// All implementations are thread-safe.
#ifndef RUMOR_STORAGE_ENGINE_H_
#define RUMOR_STORAGE_ENGINE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace rumor::storage {

enum class Column : uint8_t {
  kData = 0,   // versioned objects, keyed by DataKey()
  kHints = 1,  // hinted-handoff queue
  kMeta = 2,   // node id, tokens, incarnation, anti-entropy state
};
inline constexpr int kNumColumns = 3;
const char* ColumnName(Column c);

// A set of writes applied atomically by Engine::Write.
class WriteBatch {
 public:
  struct Op {
    Column column;
    bool is_delete;
    std::string key;
    std::string value;
  };

  void Put(Column c, std::string_view key, std::string_view value) {
    ops_.push_back(Op{c, false, std::string(key), std::string(value)});
  }
  void Delete(Column c, std::string_view key) {
    ops_.push_back(Op{c, true, std::string(key), {}});
  }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }

 private:
  std::vector<Op> ops_;
};

// What an engine reports about itself, for operators (kvcli status and
// metrics). Zero where an engine has nothing to report.
struct EngineStats {
  uint64_t wal_syncs = 0;          // write-ahead log fsyncs since open
  uint64_t sst_bytes = 0;          // on-disk table files, all columns
  uint64_t memtable_bytes = 0;     // in-memory write buffers
  uint64_t pending_compaction_bytes = 0;  // estimated compaction debt
  uint64_t stall_micros = 0;       // writes delayed or stopped, since open
  bool writes_stopped = false;     // a write stall is in effect now
  uint64_t disk_free_bytes = 0;    // on the database's filesystem, last read
  uint64_t writes_refused_disk_full = 0;  // since open
};

class Engine {
 public:
  Engine() = default;
  virtual ~Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // On OK, *value holds the stored value. NOT_FOUND if the key is absent
  // (*value is then unspecified). Other errors are I/O failures.
  [[nodiscard]] virtual absl::Status Get(Column column, std::string_view key,
                                         std::string* value) = 0;

  // Applies every op of `batch` or none. When the engine was opened with
  // sync writes, the batch is durable on disk before this returns;
  // otherwise it survives a process crash but not necessarily a power loss.
  [[nodiscard]] virtual absl::Status Write(const WriteBatch& batch) = 0;

  // Calls fn(key, value) for each entry with start <= key < end, in key
  // order, on a consistent snapshot; an empty `end` means "to the end".
  // Stops early when fn returns false. fn must not call back into the
  // engine.
  [[nodiscard]] virtual absl::Status Scan(
      Column column, std::string_view start, std::string_view end,
      absl::FunctionRef<bool(std::string_view key, std::string_view value)>
          fn) = 0;

  // Makes every write that returned before this call durable.
  [[nodiscard]] virtual absl::Status Sync() = 0;

  virtual EngineStats Stats() { return {}; }

  // Non-blocking forms, for callers on threads that must not wait for the
  // disk (gRPC's). They return WouldBlockError() instead of doing I/O: a
  // read that misses the memtable and cache, a write that would stall or
  // fsync. Nothing is written then. The defaults suit engines that never
  // block.
  [[nodiscard]] virtual absl::Status GetIfCached(Column column,
                                                 std::string_view key,
                                                 std::string* value) {
    return Get(column, key, value);
  }
  [[nodiscard]] virtual absl::Status WriteIfNoWait(const WriteBatch& batch) {
    return Write(batch);
  }
};

// The status of a non-blocking call that would have had to wait.
absl::Status WouldBlockError();
bool IsWouldBlock(const absl::Status& s);

}  // namespace rumor::storage

#endif  // RUMOR_STORAGE_ENGINE_H_
