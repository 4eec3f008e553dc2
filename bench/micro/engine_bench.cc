// Micro-benchmarks of the storage engines (storage/engine.h) and of the
// versioned-object read-modify-write on top of them (ObjectStore::Update).
// Each benchmark runs against MemEngine and against RocksDbEngine in a
// temporary directory that is removed afterwards.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "bench/micro/update_loop.h"
#include "storage/dvv.h"
#include "storage/engine.h"
#include "storage/mem_engine.h"
#include "storage/object_store.h"
#include "storage/rocksdb_engine.h"
#include "tests/support/temp_dir.h"

namespace rumor::storage {
namespace {

constexpr int kKeys = 10000;
constexpr size_t kValueBytes = 100;

enum class EngineKind { kMem, kRocksDb };

// An engine and, for RocksDB, the directory it lives in. The engine is
// closed before the directory is removed.
struct BenchEngine {
  std::unique_ptr<rumor::testing::TempDir> dir;
  std::unique_ptr<Engine> engine;
};

// Null engine (and the benchmark marked as failed) on error.
BenchEngine OpenEngine(EngineKind kind, benchmark::State& state) {
  BenchEngine e;
  if (kind == EngineKind::kMem) {
    e.engine = NewMemEngine();
    return e;
  }
  e.dir = std::make_unique<rumor::testing::TempDir>();
  auto engine = OpenRocksDbEngine(e.dir->Sub("db"), RocksDbOptions{});
  if (!engine.ok()) {
    state.SkipWithError(std::string(engine.status().message()).c_str());
    return e;
  }
  e.engine = *std::move(engine);
  return e;
}

std::vector<std::string> Keys() {
  std::vector<std::string> keys;
  keys.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) keys.push_back(absl::StrCat("user", i));
  return keys;
}

// One single-put batch per iteration, cycling over kKeys keys.
void BM_EnginePut(benchmark::State& state, EngineKind kind) {
  BenchEngine e = OpenEngine(kind, state);
  if (e.engine == nullptr) return;
  const std::vector<std::string> keys = Keys();
  const std::string value(kValueBytes, 'v');
  size_t i = 0;
  for (auto _ : state) {
    WriteBatch batch;
    batch.Put(Column::kData, keys[i++ % keys.size()], value);
    if (!e.engine->Write(batch).ok()) {
      state.SkipWithError("write failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_EnginePut, mem, EngineKind::kMem);
BENCHMARK_CAPTURE(BM_EnginePut, rocksdb, EngineKind::kRocksDb);

// Reads of present keys in a pseudo-random order (the memtable holds them
// all for RocksDB: this is the in-memory read path, not disk).
void BM_EngineGet(benchmark::State& state, EngineKind kind) {
  BenchEngine e = OpenEngine(kind, state);
  if (e.engine == nullptr) return;
  const std::vector<std::string> keys = Keys();
  const std::string value(kValueBytes, 'v');
  for (const auto& k : keys) {
    WriteBatch batch;
    batch.Put(Column::kData, k, value);
    if (!e.engine->Write(batch).ok()) {
      state.SkipWithError("load failed");
      return;
    }
  }
  std::string out;
  uint64_t i = 0;
  for (auto _ : state) {
    i = i * 6364136223846793005ULL + 1442695040888963407ULL;
    if (!e.engine->Get(Column::kData, keys[(i >> 33) % keys.size()], &out)
             .ok()) {
      state.SkipWithError("get failed");
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_EngineGet, mem, EngineKind::kMem);
BENCHMARK_CAPTURE(BM_EngineGet, rocksdb, EngineKind::kRocksDb);

// A client write as kvd runs it: read the object, DvvSet::Update with the
// context the previous write of the key returned, encode, write back, all
// under the key's stripe lock. Cycles over kKeys keys.
void BM_ObjectStoreUpdate(benchmark::State& state, EngineKind kind) {
  BenchEngine e = OpenEngine(kind, state);
  if (e.engine == nullptr) return;
  ObjectStore store(e.engine.get());
  bench::UpdateLoop(state, &store);
}
BENCHMARK_CAPTURE(BM_ObjectStoreUpdate, mem, EngineKind::kMem);
BENCHMARK_CAPTURE(BM_ObjectStoreUpdate, rocksdb, EngineKind::kRocksDb);

}  // namespace
}  // namespace rumor::storage
