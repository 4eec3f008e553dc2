// Micro-benchmarks of anti-entropy's hash tree: what a write pays for
// keeping it (ObjectStore::Update with the tree as its observer, against
// engine_bench's BM_ObjectStoreUpdate without), one fold, the check for a
// deleted key every write makes, and the hash of a range.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "bench/micro/update_loop.h"
#include "server/antientropy/hash_tree.h"
#include "storage/mem_engine.h"
#include "storage/object_store.h"
#include "storage/rocksdb_engine.h"
#include "tests/support/temp_dir.h"

namespace rumor::server {
namespace {

using storage::ActorId;
using storage::Sibling;
using storage::VersionVector;

// The same loop as BM_ObjectStoreUpdate, with or without a tree kept.
void BM_UpdateKeepingTree(benchmark::State& state, bool rocksdb, bool tree) {
  std::unique_ptr<rumor::testing::TempDir> dir;
  std::unique_ptr<storage::Engine> engine;
  if (rocksdb) {
    dir = std::make_unique<rumor::testing::TempDir>();
    auto opened =
        storage::OpenRocksDbEngine(dir->Sub("db"), storage::RocksDbOptions{});
    if (!opened.ok()) {
      state.SkipWithError(std::string(opened.status().message()).c_str());
      return;
    }
    engine = *std::move(opened);
  } else {
    engine = storage::NewMemEngine();
  }
  storage::ObjectStore store(engine.get());
  HashTree hash_tree;
  if (tree) {
    store.SetObserver(&hash_tree);
    if (!hash_tree.Build(&store, [](double, uint64_t) {}).ok()) {
      state.SkipWithError("tree build failed");
      return;
    }
  }
  bench::UpdateLoop(state, &store);
  store.SetObserver(nullptr);
}
BENCHMARK_CAPTURE(BM_UpdateKeepingTree, mem_no_tree, false, false);
BENCHMARK_CAPTURE(BM_UpdateKeepingTree, mem_tree, false, true);
BENCHMARK_CAPTURE(BM_UpdateKeepingTree, rocksdb_no_tree, true, false);
BENCHMARK_CAPTURE(BM_UpdateKeepingTree, rocksdb_tree, true, true);

// One change folded in: two object hashes and 20 atomic XORs.
void BM_TreeObjectChanged(benchmark::State& state) {
  HashTree tree;
  auto engine = storage::NewMemEngine();
  storage::ObjectStore store(engine.get());
  (void)tree.Build(&store, [](double, uint64_t) {});
  const std::string before(120, 'a'), after(120, 'b');
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    tree.ObjectChanged(rng(), "user12345", before, after);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TreeObjectChanged);

// What tombstone reaping adds to every write: the observer reads the old
// and the new encoding to see whether the key is (or was) deleted. A live
// object of 3 actors with a 100-byte value, and a tombstone of 3 actors.
void BM_EncodedOnlyTombstones(benchmark::State& state, bool deleted) {
  storage::DvvSet obj;
  for (ActorId a = 1; a <= 3; ++a) {
    (void)obj.Update(obj.Join(), Sibling::Value(std::string(100, 'v')), a);
  }
  if (deleted) (void)obj.Update(obj.Join(), Sibling::Tombstone(), 1);
  const std::string encoded = obj.Encode();
  for (auto _ : state) {
    benchmark::DoNotOptimize(storage::DvvSet::EncodedOnlyTombstones(encoded));
  }
}
BENCHMARK_CAPTURE(BM_EncodedOnlyTombstones, live, false);
BENCHMARK_CAPTURE(BM_EncodedOnlyTombstones, deleted, true);

// The hash of an arbitrary run of segments: two prefix queries.
void BM_TreeSegmentsHash(benchmark::State& state) {
  HashTree tree;
  std::mt19937_64 rng(2);
  for (int i = 0; i < 100000; ++i) tree.Apply(rng(), rng());
  for (auto _ : state) {
    uint64_t a = rng() % tree.segments(), b = rng() % tree.segments();
    benchmark::DoNotOptimize(tree.SegmentsHash(std::min(a, b), std::max(a, b)));
  }
}
BENCHMARK(BM_TreeSegmentsHash);

}  // namespace
}  // namespace rumor::server
