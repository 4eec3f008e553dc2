// One suite, run against every Engine implementation.
#include "storage/engine.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "storage/mem_engine.h"
#include "storage/rocksdb_engine.h"
#include "absl/strings/str_cat.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace rumor::storage {
namespace {

struct MemFactory {
  std::unique_ptr<Engine> Open(const std::string&) { return NewMemEngine(); }
};

struct RocksFactory {
  std::unique_ptr<Engine> Open(const std::string& dir) {
    auto e = OpenRocksDbEngine(dir, RocksDbOptions{});
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }
};

template <typename F>
class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = factory_.Open(dir_.Sub("db"));
    ASSERT_NE(engine_, nullptr);
  }
  void Put(Column c, const std::string& k, const std::string& v) {
    WriteBatch b;
    b.Put(c, k, v);
    ASSERT_TRUE(engine_->Write(b).ok());
  }
  std::string GetOrDie(Column c, const std::string& k) {
    std::string v;
    absl::Status s = engine_->Get(c, k, &v);
    EXPECT_TRUE(s.ok()) << s;
    return v;
  }

  rumor::testing::TempDir dir_;
  F factory_;
  std::unique_ptr<Engine> engine_;
};

using Factories = ::testing::Types<MemFactory, RocksFactory>;
TYPED_TEST_SUITE(EngineTest, Factories);

TYPED_TEST(EngineTest, GetMissingIsNotFound) {
  std::string v;
  EXPECT_TRUE(absl::IsNotFound(this->engine_->Get(Column::kData, "nope", &v)));
}

TYPED_TEST(EngineTest, PutGetDeleteAndColumnsAreSeparate) {
  this->Put(Column::kData, "k", "data");
  this->Put(Column::kMeta, "k", "meta");
  EXPECT_EQ(this->GetOrDie(Column::kData, "k"), "data");
  EXPECT_EQ(this->GetOrDie(Column::kMeta, "k"), "meta");
  std::string v;
  EXPECT_TRUE(absl::IsNotFound(this->engine_->Get(Column::kHints, "k", &v)));
  WriteBatch del;
  del.Delete(Column::kData, "k");
  ASSERT_TRUE(this->engine_->Write(del).ok());
  EXPECT_TRUE(absl::IsNotFound(this->engine_->Get(Column::kData, "k", &v)));
  EXPECT_EQ(this->GetOrDie(Column::kMeta, "k"), "meta");
}

TYPED_TEST(EngineTest, BinaryKeysAndValues) {
  std::string k("a\0b\xff", 4), v("\0\0\x01\xfe", 4);
  this->Put(Column::kData, k, v);
  EXPECT_EQ(this->GetOrDie(Column::kData, k), v);
}

TYPED_TEST(EngineTest, BatchIsAppliedInOrder) {
  WriteBatch b;
  b.Put(Column::kData, "x", "1");
  b.Put(Column::kData, "x", "2");
  b.Put(Column::kData, "y", "3");
  b.Delete(Column::kData, "y");
  ASSERT_TRUE(this->engine_->Write(b).ok());
  EXPECT_EQ(this->GetOrDie(Column::kData, "x"), "2");
  std::string v;
  EXPECT_TRUE(absl::IsNotFound(this->engine_->Get(Column::kData, "y", &v)));
}

TYPED_TEST(EngineTest, ScanIsOrderedAndBounded) {
  for (std::string k : {"d", "a", "c", "b", "e"}) {
    this->Put(Column::kData, k, "v" + k);
  }
  this->Put(Column::kMeta, "bb", "other column");
  std::vector<std::string> keys;
  ASSERT_TRUE(this->engine_
                  ->Scan(Column::kData, "b", "e",
                         [&](std::string_view k, std::string_view v) {
                           EXPECT_EQ(v, "v" + std::string(k));
                           keys.emplace_back(k);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"b", "c", "d"}));
  keys.clear();
  ASSERT_TRUE(this->engine_
                  ->Scan(Column::kData, "", "",
                         [&](std::string_view k, std::string_view) {
                           keys.emplace_back(k);
                           return keys.size() < 2;
                         })
                  .ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b"}));
}

TYPED_TEST(EngineTest, ConcurrentWritersDoNotLoseWrites) {
  constexpr int kThreads = 4, kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch b;
        b.Put(Column::kData, std::to_string(t) + "/" + std::to_string(i), "v");
        EXPECT_TRUE(this->engine_->Write(b).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  int n = 0;
  ASSERT_TRUE(this->engine_
                  ->Scan(Column::kData, "", "",
                         [&](std::string_view, std::string_view) {
                           ++n;
                           return true;
                         })
                  .ok());
  EXPECT_EQ(n, kThreads * kPerThread);
}

TEST(RocksDbEngineTest, ReopenKeepsData) {
  rumor::testing::TempDir dir;
  for (int round = 0; round < 2; ++round) {
    auto e = OpenRocksDbEngine(dir.Sub("db"), RocksDbOptions{});
    ASSERT_TRUE(e.ok()) << e.status();
    if (round == 0) {
      WriteBatch b;
      b.Put(Column::kData, "k", "v");
      b.Put(Column::kMeta, "node_id", "42");
      ASSERT_TRUE((*e)->Write(b).ok());
    } else {
      std::string v;
      ASSERT_TRUE((*e)->Get(Column::kData, "k", &v).ok());
      EXPECT_EQ(v, "v");
      ASSERT_TRUE((*e)->Get(Column::kMeta, "node_id", &v).ok());
      EXPECT_EQ(v, "42");
    }
  }
}

// --sync means an fsync of the write-ahead log before each write returns;
// without it, writes are never synced on the way.
TEST(RocksDbEngineTest, SyncOptionFsyncsTheLogOnEveryWriteAndOnlyThen) {
  rumor::testing::TempDir dir;
  for (bool sync : {false, true}) {
    RocksDbOptions o;
    o.sync = sync;
    auto e = OpenRocksDbEngine(dir.Sub(sync ? "sync" : "nosync"), o);
    ASSERT_TRUE(e.ok()) << e.status();
    uint64_t before = (*e)->Stats().wal_syncs;
    constexpr int kWrites = 40;
    for (int i = 0; i < kWrites; ++i) {
      WriteBatch b;
      b.Put(Column::kData, "k" + std::to_string(i), "v");
      ASSERT_TRUE((*e)->Write(b).ok());
    }
    uint64_t syncs = (*e)->Stats().wal_syncs - before;
    if (sync) {
      EXPECT_GE(syncs, uint64_t{kWrites}) << "sync writes were not fsynced";
    } else {
      EXPECT_EQ(syncs, 0u) << "writes without --sync were fsynced";
    }
    ASSERT_TRUE((*e)->Sync().ok());
    EXPECT_GT((*e)->Stats().wal_syncs - before, syncs) << "Sync() syncs";
  }
}

// Below the free-space margin every write is refused before RocksDB sees
// it, and nothing is written; reads go on.
TEST(RocksDbEngineTest, WritesAreRefusedWhileTheDiskHasLessThanTheMarginFree) {
  rumor::testing::TempDir dir;
  {
    RocksDbOptions o;
    o.min_free_bytes = 1;  // any real filesystem has a byte free
    auto e = OpenRocksDbEngine(dir.Sub("roomy"), o);
    ASSERT_TRUE(e.ok()) << e.status();
    WriteBatch b;
    b.Put(Column::kData, "k", "v");
    ASSERT_TRUE((*e)->Write(b).ok());
    EXPECT_GT((*e)->Stats().disk_free_bytes, 0u);
    EXPECT_EQ((*e)->Stats().writes_refused_disk_full, 0u);
  }
  RocksDbOptions o;
  o.min_free_bytes = uint64_t{1} << 62;  // more than any disk has
  auto e = OpenRocksDbEngine(dir.Sub("full"), o);
  ASSERT_TRUE(e.ok()) << e.status();
  WriteBatch b;
  b.Put(Column::kData, "k", "v");
  absl::Status s = (*e)->Write(b);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("disk full"), absl::string_view::npos) << s;
  EXPECT_EQ((*e)->WriteIfNoWait(b).code(), absl::StatusCode::kResourceExhausted);
  std::string v;
  EXPECT_TRUE(absl::IsNotFound((*e)->Get(Column::kData, "k", &v)))
      << "a refused write was applied";
  EXPECT_EQ((*e)->Stats().writes_refused_disk_full, 2u);

  // What a node needs to start, refute and free space still passes: node
  // metadata, and batches that only delete (this disk has more than the
  // 16 MiB hard floor free).
  WriteBatch meta;
  meta.Put(Column::kMeta, "incarnation", "7");
  EXPECT_TRUE((*e)->Write(meta).ok());
  WriteBatch deletes;
  deletes.Delete(Column::kData, "k");
  deletes.Delete(Column::kHints, "h");
  EXPECT_TRUE((*e)->Write(deletes).ok());
  WriteBatch mixed;
  mixed.Put(Column::kMeta, "incarnation", "8");
  mixed.Put(Column::kData, "k", "v");
  EXPECT_EQ((*e)->Write(mixed).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE((*e)->Get(Column::kMeta, "incarnation", &v).ok());
  EXPECT_EQ(v, "7");
  EXPECT_EQ((*e)->Stats().writes_refused_disk_full, 3u);
}

// A write-ahead log is deleted only once every column family with writes
// in it has flushed them, and the hint and metadata families take few
// writes: one metadata write must not keep every later log alive. The
// logs stay within a few memtables however much the data family takes
// (with RocksDB's default limit, 16 logs of 1 MiB here).
TEST(RocksDbEngineTest, LogsKeptAliveByALittleWrittenColumnStayBounded) {
  rumor::testing::TempDir dir;
  const std::string path = dir.Sub("db");
  RocksDbOptions o;
  o.min_free_bytes = 0;
  o.write_buffer_bytes = 1 << 20;
  auto e = OpenRocksDbEngine(path, o);
  ASSERT_TRUE(e.ok()) << e.status();
  WriteBatch meta;
  meta.Put(Column::kMeta, "incarnation", "1");
  ASSERT_TRUE((*e)->Write(meta).ok());
  const std::string value(64 << 10, 'v');
  for (int i = 0; i < 256; ++i) {  // 16 MiB
    WriteBatch b;
    b.Put(Column::kData, absl::StrCat("k", i), value);
    ASSERT_TRUE((*e)->Write(b).ok()) << i;
  }
  auto log_bytes = [&] {
    uint64_t total = 0;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(path, ec)) {
      if (f.path().extension() != ".log") continue;
      std::error_code size_ec;  // a log deleted meanwhile counts 0
      uint64_t size = f.file_size(size_ec);
      if (!size_ec) total += size;
    }
    return total;
  };
  // Flushes and log deletions run in the background.
  bool bounded = rumor::testing::WaitUntil(
      [&] { return log_bytes() <= 6 * o.write_buffer_bytes; },
      std::chrono::seconds(20), std::chrono::milliseconds(50));
  EXPECT_TRUE(bounded) << log_bytes() << " bytes of write-ahead log kept";
  std::string v;
  ASSERT_TRUE((*e)->Get(Column::kMeta, "incarnation", &v).ok());
  EXPECT_EQ(v, "1");
  ASSERT_TRUE((*e)->Get(Column::kData, "k255", &v).ok());
  EXPECT_EQ(v, value);
}

TEST(RocksDbEngineTest, SecondOpenIsRefusedWhileLocked) {
  rumor::testing::TempDir dir;
  auto first = OpenRocksDbEngine(dir.Sub("db"), RocksDbOptions{});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = OpenRocksDbEngine(dir.Sub("db"), RocksDbOptions{});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("locked"), absl::string_view::npos);
}

TEST(RocksDbEngineTest, UnwritableDirectoryIsAClearError) {
  auto e = OpenRocksDbEngine("/proc/rumor-cannot-create/db", RocksDbOptions{});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("/proc/rumor-cannot-create/db"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace rumor::storage
