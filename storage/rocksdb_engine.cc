#include "storage/rocksdb_engine.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/statistics.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace rumor::storage {
namespace {

// Below the margin, metadata and delete-only batches still pass until this
// much is left: enough for a node to start and refute, never enough for
// RocksDB's log to meet a full disk.
constexpr uint64_t kHardFloorBytes = 16ull << 20;

// The one place a rocksdb::Status becomes an absl::Status.
absl::Status FromRocksDb(const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = s.ToString();
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(msg);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(msg);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(msg);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(msg);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
      return absl::UnavailableError(msg);
    case rocksdb::Status::kIOError:
      if (s.subcode() == rocksdb::Status::kNoSpace) {
        return absl::ResourceExhaustedError(msg);
      }
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

class RocksDbEngine final : public Engine {
 public:
  RocksDbEngine(std::unique_ptr<rocksdb::DB> db,
                std::vector<rocksdb::ColumnFamilyHandle*> handles,
                std::string dir, const RocksDbOptions& options,
                std::shared_ptr<rocksdb::Statistics> statistics)
      : db_(std::move(db)),
        handles_(std::move(handles)),
        statistics_(std::move(statistics)),
        dir_(std::move(dir)),
        min_free_bytes_(options.min_free_bytes) {
    write_options_.sync = options.sync;
    free_bytes_.store(ReadFreeBytes(), std::memory_order_relaxed);
    checked_at_ns_.store(NowNanos(), std::memory_order_relaxed);
  }

  ~RocksDbEngine() override {
    // Flush the WAL so a clean shutdown never depends on recovery.
    IgnoreError(FromRocksDb(db_->FlushWAL(/*sync=*/true)));  // best effort
    for (auto* h : handles_) {
      IgnoreError(FromRocksDb(db_->DestroyColumnFamilyHandle(h)));
    }
    IgnoreError(FromRocksDb(db_->Close()));  // logged by RocksDB itself
  }

  absl::Status Get(Column column, std::string_view key,
                   std::string* value) override {
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Handle(column),
                                 rocksdb::Slice(key.data(), key.size()), value);
    if (s.IsNotFound()) return absl::NotFoundError("");
    return FromRocksDb(s);
  }

  absl::Status Write(const WriteBatch& batch) override {
    RUMOR_RETURN_IF_ERROR(CheckSpace(batch));
    rocksdb::WriteBatch wb;
    RUMOR_RETURN_IF_ERROR(ToRocksDb(batch, &wb));
    return Checked(FromRocksDb(db_->Write(write_options_, &wb)));
  }

  absl::Status Scan(Column column, std::string_view start,
                    std::string_view end,
                    absl::FunctionRef<bool(std::string_view, std::string_view)>
                        fn) override {
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(end.data(), end.size());
    if (!end.empty()) ro.iterate_upper_bound = &upper;
    // Range scans (handoff, Merkle rebuilds) should not evict the hot set.
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, Handle(column)));
    for (it->Seek(rocksdb::Slice(start.data(), start.size())); it->Valid();
         it->Next()) {
      rocksdb::Slice k = it->key(), v = it->value();
      if (!fn(std::string_view(k.data(), k.size()),
              std::string_view(v.data(), v.size()))) {
        break;
      }
    }
    return FromRocksDb(it->status());
  }

  absl::Status Sync() override { return FromRocksDb(db_->FlushWAL(true)); }

  EngineStats Stats() override {
    EngineStats out;
    out.wal_syncs = statistics_->getTickerCount(rocksdb::WAL_FILE_SYNCED);
    out.stall_micros = statistics_->getTickerCount(rocksdb::STALL_MICROS);
    auto sum = [this](const std::string& property) {
      uint64_t total = 0;
      for (auto* h : handles_) {
        uint64_t v = 0;
        if (db_->GetIntProperty(h, property, &v)) total += v;
      }
      return total;
    };
    out.sst_bytes = sum(rocksdb::DB::Properties::kTotalSstFilesSize);
    out.memtable_bytes = sum(rocksdb::DB::Properties::kCurSizeAllMemTables);
    out.pending_compaction_bytes =
        sum(rocksdb::DB::Properties::kEstimatePendingCompactionBytes);
    out.writes_stopped = sum(rocksdb::DB::Properties::kIsWriteStopped) > 0;
    out.disk_free_bytes = free_bytes_.load(std::memory_order_relaxed);
    out.writes_refused_disk_full = refused_.load(std::memory_order_relaxed);
    return out;
  }

  absl::Status GetIfCached(Column column, std::string_view key,
                           std::string* value) override {
    rocksdb::ReadOptions ro;
    ro.read_tier = rocksdb::kBlockCacheTier;  // memtable and cache only
    rocksdb::Status s = db_->Get(ro, Handle(column),
                                 rocksdb::Slice(key.data(), key.size()), value);
    if (s.IsIncomplete()) return WouldBlockError();
    if (s.IsNotFound()) return absl::NotFoundError("");
    return FromRocksDb(s);
  }

  absl::Status WriteIfNoWait(const WriteBatch& batch) override {
    if (write_options_.sync) return WouldBlockError();  // an fsync waits
    RUMOR_RETURN_IF_ERROR(CheckSpace(batch));
    rocksdb::WriteBatch wb;
    RUMOR_RETURN_IF_ERROR(ToRocksDb(batch, &wb));
    rocksdb::WriteOptions wo = write_options_;
    wo.no_slowdown = true;  // Incomplete instead of a write stall
    rocksdb::Status s = db_->Write(wo, &wb);
    if (s.IsIncomplete()) return WouldBlockError();
    return Checked(FromRocksDb(s));
  }

 private:
  static int64_t NowNanos() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // Free bytes for unprivileged users on the database's filesystem; the
  // largest value when it cannot be read (the check then lets writes by).
  uint64_t ReadFreeBytes() {
    struct statvfs st;
    if (statvfs(dir_.c_str(), &st) != 0) {
      if (!statvfs_failed_.exchange(true)) {
        RUMOR_LOG(WARNING) << "cannot read the free space of " << dir_ << ": "
                           << std::strerror(errno)
                           << "; writes are not held back when it runs low";
      }
      return std::numeric_limits<uint64_t>::max();
    }
    return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }

  // RESOURCE_EXHAUSTED while the disk has less than min_free_bytes_ free.
  // Node metadata (incarnation leases, tokens, peers) and batches of
  // deletes only (tombstone reaping, handing data off), which a node needs
  // to start, to refute a suspicion and to free space, pass until the disk
  // is down to the last kHardFloorBytes (or the margin, if smaller). One
  // caller at a time re-reads the free space, at most every 100 ms, and at
  // once after a write failed.
  absl::Status CheckSpace(const WriteBatch& batch) {
    if (min_free_bytes_ == 0) return absl::OkStatus();
    int64_t now = NowNanos();
    int64_t last = checked_at_ns_.load(std::memory_order_relaxed);
    if ((now - last >= 100'000'000 ||
         recheck_.load(std::memory_order_relaxed)) &&
        checked_at_ns_.compare_exchange_strong(last, now,
                                               std::memory_order_relaxed)) {
      recheck_.store(false, std::memory_order_relaxed);
      free_bytes_.store(ReadFreeBytes(), std::memory_order_relaxed);
    }
    uint64_t free = free_bytes_.load(std::memory_order_relaxed);
    if (free >= min_free_bytes_) return absl::OkStatus();
    bool essential = true;
    for (const auto& op : batch.ops()) {
      if (op.column != Column::kMeta && !op.is_delete) essential = false;
    }
    if (essential && free >= std::min(min_free_bytes_, kHardFloorBytes)) {
      return absl::OkStatus();
    }
    refused_.fetch_add(1, std::memory_order_relaxed);
    std::string msg = absl::StrCat(
        "disk full: ", free >> 20, " MiB free on the filesystem of ", dir_,
        ", below the ", min_free_bytes_ >> 20,
        " MiB kvd keeps free (--min-free-disk-mb); nothing was written. "
        "Writes resume once space is freed");
    RUMOR_LOG_EVERY_SECONDS(WARNING, 10) << "refusing writes: " << msg;
    return absl::ResourceExhaustedError(msg);
  }

  // A write RocksDB failed: read the free space again before the next one.
  absl::Status Checked(absl::Status s) {
    if (!s.ok()) recheck_.store(true, std::memory_order_relaxed);
    return s;
  }

  absl::Status ToRocksDb(const WriteBatch& batch, rocksdb::WriteBatch* wb) {
    for (const auto& op : batch.ops()) {
      rocksdb::Status s =
          op.is_delete ? wb->Delete(Handle(op.column), op.key)
                       : wb->Put(Handle(op.column), op.key, op.value);
      RUMOR_RETURN_IF_ERROR(FromRocksDb(s));
    }
    return absl::OkStatus();
  }

  rocksdb::ColumnFamilyHandle* Handle(Column c) {
    // handles_[0] is RocksDB's mandatory "default" family, unused by rumor.
    return handles_[static_cast<int>(c) + 1];
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::shared_ptr<rocksdb::Statistics> statistics_;
  rocksdb::WriteOptions write_options_;
  const std::string dir_;
  const uint64_t min_free_bytes_;
  std::atomic<uint64_t> free_bytes_{0};
  std::atomic<int64_t> checked_at_ns_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<bool> recheck_{false};
  std::atomic<bool> statvfs_failed_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> OpenRocksDbEngine(
    const std::string& dir, const RocksDbOptions& options) {
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 5;
  // A log can be deleted only once every column family with writes in it
  // has flushed them. The data family switches memtables often; the hint
  // and metadata families take a few small writes and flush rarely, so
  // each data memtable left behind a log of about 35 MiB (preallocated)
  // that nothing deleted: a chaos run found 4 of them on a node, which
  // took its 512 MB disk below the free-space margin and stopped every
  // write, repair and hint delivery to it. Past this total, RocksDB
  // flushes the families that hold the oldest log alive (three memtables:
  // with two, a forced switch could leave the data family two memtables
  // to flush and stop writes).
  db_options.max_total_wal_size = 3 * options.write_buffer_bytes;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Tickers only (WAL syncs, stalls): no histograms or timers on the write
  // path.
  db_options.statistics = rocksdb::CreateDBStatistics();
  db_options.statistics->set_stats_level(rocksdb::kExceptHistogramOrTimers);

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.format_version = 5;

  rocksdb::ColumnFamilyOptions cf_options(db_options);
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.write_buffer_size = options.write_buffer_bytes;
  cf_options.compression = rocksdb::kNoCompression;

  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (int i = 0; i < kNumColumns; ++i) {
    families.emplace_back(ColumnName(static_cast<Column>(i)), cf_options);
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, dir, families, &handles, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && absl::StrContains(s.ToString(), "lock")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database ", dir, " is locked: another process has it open (",
          s.ToString(), ")"));
    }
    return Annotate(FromRocksDb(s), absl::StrCat("opening database ", dir));
  }
  return std::unique_ptr<Engine>(new RocksDbEngine(
      std::unique_ptr<rocksdb::DB>(raw), std::move(handles), dir, options,
      db_options.statistics));
}

}  // namespace rumor::storage
