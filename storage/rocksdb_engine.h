// The RocksDB-backed Engine used by real nodes. Thread-safe.
//
// One RocksDB database with a column family per storage::Column. RocksDB
// holds an exclusive lock on the directory while open, so a second process
// cannot open the same database.
#ifndef RUMOR_STORAGE_ROCKSDB_ENGINE_H_
#define RUMOR_STORAGE_ROCKSDB_ENGINE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/engine.h"

namespace rumor::storage {

struct RocksDbOptions {
  // fsync the write-ahead log before every Write returns. Off: writes
  // survive a process crash (SIGKILL) but the last ones may be lost on power
  // failure.
  bool sync = false;
  // Shared LRU cache for data blocks.
  size_t block_cache_bytes = 64 << 20;
  // Writes are refused with RESOURCE_EXHAUSTED, before RocksDB sees them,
  // while the filesystem holding the database has less free space than
  // this (read at most every 100 ms); 0: never. RocksDB then never runs
  // out of space in the middle of a write-ahead log append: RocksDB 7.8
  // cannot recover from that without a restart (its log writer keeps the
  // error, and Debian's build asserts on the next append), while memtable
  // flushes and compactions that meet a full disk are retried once space
  // is back. The margin must hold the memtables' flushes. Batches that only
  // touch node metadata or only delete (what a node needs to start, refute
  // a suspicion and free space) pass until 16 MiB are left.
  uint64_t min_free_bytes = 256ull << 20;
  // Each column family's memtable. The write-ahead logs are limited to
  // three times this: beyond it RocksDB flushes whichever column families
  // still hold the oldest log alive, so the logs take at most about 4.1
  // times this on disk (the limit, plus the current log, preallocated at
  // 1.1 times). Below three, a forced flush could catch the data family
  // with both its memtables full and stop writes. (RocksDB's default, four
  // times every family's memtables, let logs kept alive by the little-
  // written hint and metadata families grow to about 1 GiB.)
  size_t write_buffer_bytes = 32 << 20;
};

// Opens (creating if needed) the database in `dir`. FAILED_PRECONDITION
// when another process holds it open, with a message saying so.
absl::StatusOr<std::unique_ptr<Engine>> OpenRocksDbEngine(
    const std::string& dir, const RocksDbOptions& options);

}  // namespace rumor::storage

#endif  // RUMOR_STORAGE_ROCKSDB_ENGINE_H_
