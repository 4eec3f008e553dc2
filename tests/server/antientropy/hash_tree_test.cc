#include "server/antientropy/hash_tree.h"

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/hash.h"
#include "gtest/gtest.h"
#include "storage/mem_engine.h"
#include "storage/object_store.h"
#include "storage/rocksdb_engine.h"
#include "tests/support/temp_dir.h"

namespace rumor::server {
namespace {

using storage::DvvSet;
using storage::ObjectStore;
using storage::Sibling;
using storage::VersionVector;

constexpr int kBits = 10;  // small, so every segment can be compared

// A tree built from nothing but a full scan of the store.
std::unique_ptr<HashTree> Rebuilt(ObjectStore* store) {
  auto tree = std::make_unique<HashTree>(kBits);
  EXPECT_TRUE(tree->Build(store, [](double, uint64_t) {}).ok());
  return tree;
}

// Every segment of `a` equals `b`'s; returns how many differ.
int DifferingSegments(const HashTree& a, const HashTree& b) {
  int differ = 0;
  for (uint64_t s = 0; s < a.segments(); ++s) {
    if (a.SegmentsHash(s, s) != b.SegmentsHash(s, s)) ++differ;
  }
  return differ;
}

// A random mix of client writes, tombstones, merges of other replicas'
// copies and handoff deletions.
void RandomWrites(ObjectStore* store, std::mt19937_64& rng, int count,
                  int keyspace) {
  for (int i = 0; i < count; ++i) {
    std::string key = "k" + std::to_string(rng() % keyspace);
    switch (rng() % 5) {
      case 0:
      case 1:
        ASSERT_TRUE(store
                        ->Update(key, VersionVector(),
                                 Sibling::Value("v" + std::to_string(i)),
                                 /*actor=*/1 + rng() % 3)
                        .ok());
        break;
      case 2: {
        auto got = store->Get(key);
        ASSERT_TRUE(got.ok());
        ASSERT_TRUE(store
                        ->Update(key, got->Join(), Sibling::Tombstone(),
                                 /*actor=*/1)
                        .ok());
        break;
      }
      case 3: {
        DvvSet remote;
        ASSERT_TRUE(remote
                        .Update(VersionVector(),
                                Sibling::Value("r" + std::to_string(i)),
                                /*actor=*/100 + rng() % 3)
                        .ok());
        ASSERT_TRUE(store->Merge(key, remote).ok());
        break;
      }
      case 4: {
        auto got = store->Get(key);
        ASSERT_TRUE(got.ok());
        if (!got->empty()) {
          ASSERT_TRUE(store->DeleteIfUnchanged(key, got->Encode()).ok());
        }
        break;
      }
    }
  }
}

TEST(HashTreeTest, ObjectHashIsZeroOnlyForNoObject) {
  EXPECT_EQ(HashTree::ObjectHash("k", ""), 0u);
  EXPECT_NE(HashTree::ObjectHash("k", "x"), 0u);
  EXPECT_NE(HashTree::ObjectHash("k", "x"), HashTree::ObjectHash("j", "x"));
  EXPECT_NE(HashTree::ObjectHash("k", "x"), HashTree::ObjectHash("k", "y"));
}

TEST(HashTreeTest, SegmentsHashIsTheXorOfItsSegments) {
  HashTree tree(8);
  std::mt19937_64 rng(7);
  std::vector<uint64_t> seg(tree.segments(), 0);
  for (int i = 0; i < 2000; ++i) {
    uint64_t pos = rng(), delta = rng();
    tree.Apply(pos, delta);
    seg[tree.SegmentOf(pos)] ^= delta;
  }
  for (int i = 0; i < 2000; ++i) {
    uint64_t a = rng() % tree.segments(), b = rng() % tree.segments();
    if (a > b) std::swap(a, b);
    uint64_t want = 0;
    for (uint64_t s = a; s <= b; ++s) want ^= seg[s];
    ASSERT_EQ(tree.SegmentsHash(a, b), want) << a << ".." << b;
  }
  EXPECT_EQ(tree.SegmentsHash(5, 4), 0u);
}

// The tree kept by writes equals one rebuilt from a full scan, after a
// random mix of puts, tombstones, merges and deletions.
TEST(HashTreeTest, IncrementalTreeEqualsARebuiltOne) {
  auto engine = storage::NewMemEngine();
  ObjectStore store(engine.get());
  HashTree tree(kBits);
  store.SetObserver(&tree);
  ASSERT_TRUE(tree.Build(&store, [](double, uint64_t) {}).ok());
  ASSERT_TRUE(tree.ready());
  std::mt19937_64 rng(42);
  RandomWrites(&store, rng, 20000, 3000);
  store.SetObserver(nullptr);
  auto rebuilt = Rebuilt(&store);
  EXPECT_EQ(DifferingSegments(tree, *rebuilt), 0);
  EXPECT_NE(rebuilt->SegmentsHash(0, rebuilt->segments() - 1), 0u)
      << "the data hashes to nothing: the comparison proves nothing";
}

// A tree built while writers run (as at a node's start) ends equal to a
// rebuild: writes below the build's position are folded in, writes above
// it are left to the scan. Restarts are covered by reopening the engine.
TEST(HashTreeTest, BuildWhileWritingAndAcrossRestartsEqualsARebuild) {
  rumor::testing::TempDir dir;
  std::mt19937_64 rng(9);
  for (int restart = 0; restart < 3; ++restart) {
    auto engine = storage::OpenRocksDbEngine(dir.path() + "/db",
                                             storage::RocksDbOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    ObjectStore store(engine->get());
    RandomWrites(&store, rng, 3000, 2000);  // before the tree exists
    HashTree tree(kBits);
    store.SetObserver(&tree);
    std::atomic<bool> done{false};
    std::atomic<int> batches{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 2; ++w) {
      writers.emplace_back([&, w] {
        std::mt19937_64 r(restart * 10 + w);
        while (!done.load()) {
          RandomWrites(&store, r, 5, 2000);  // small: counted often
          ++batches;
        }
      });
    }
    // Wait for the writers to be going, then count what they do while the
    // tree is built: the race is only tested if they overlap it.
    while (batches.load() == 0) std::this_thread::yield();
    int progress_calls = 0;
    int before = batches.load();
    ASSERT_TRUE(tree.Build(&store, [&](double, uint64_t) { ++progress_calls; })
                    .ok());
    EXPECT_GT(batches.load() - before, 1)
        << "no write overlapped the build: the test proved nothing";
    EXPECT_EQ(progress_calls, 64);
    RandomWrites(&store, rng, 500, 2000);  // after the build, while ready
    done = true;
    for (auto& t : writers) t.join();
    store.SetObserver(nullptr);
    auto rebuilt = Rebuilt(&store);
    ASSERT_EQ(DifferingSegments(tree, *rebuilt), 0) << "restart " << restart;
  }
}

// Without the observer, a write leaves the tree stale: the comparison
// above can fail.
TEST(HashTreeTest, AWriteTheTreeDidNotSeeShowsUp) {
  auto engine = storage::NewMemEngine();
  ObjectStore store(engine.get());
  HashTree tree(kBits);
  store.SetObserver(&tree);
  ASSERT_TRUE(tree.Build(&store, [](double, uint64_t) {}).ok());
  ASSERT_TRUE(store.Update("a", VersionVector(), Sibling::Value("1"), 1).ok());
  store.SetObserver(nullptr);
  ASSERT_TRUE(store.Update("a", VersionVector(), Sibling::Value("2"), 1).ok());
  auto rebuilt = Rebuilt(&store);
  EXPECT_EQ(DifferingSegments(tree, *rebuilt), 1);
}

// The slow rebuild-and-compare finds drift the observer missed (here a
// write made with the observer off, and a segment flipped in memory),
// corrects it, and finds nothing on a second run. It also works while
// writes go on: what it compares is held still piece by piece.
TEST(HashTreeTest, VerifyFindsAndCorrectsDrift) {
  auto engine = storage::NewMemEngine();
  ObjectStore store(engine.get());
  HashTree tree(kBits);
  store.SetObserver(&tree);
  ASSERT_TRUE(tree.Build(&store, [](double, uint64_t) {}).ok());
  std::mt19937_64 rng(11);
  RandomWrites(&store, rng, 2000, 500);
  store.SetObserver(nullptr);
  ASSERT_TRUE(store.Update("drift", VersionVector(), Sibling::Value("x"), 1)
                  .ok());
  store.SetObserver(&tree);
  tree.Apply(tree.SegmentStart(7), 0x1234);
  ASSERT_GE(DifferingSegments(tree, *Rebuilt(&store)), 1);

  std::atomic<bool> writing{true};
  std::thread writer([&] {
    std::mt19937_64 wrng(12);
    for (int i = 0; i < 200 && writing.load(); ++i) {
      RandomWrites(&store, wrng, 10, 500);
    }
  });
  // In steps, as the anti-entropy thread runs it.
  auto verify_all = [&]() -> absl::StatusOr<HashTree::VerifyResult> {
    HashTree::VerifyResult total;
    for (uint64_t p = 0; p < tree.VerifyPieces(); p += 100) {
      auto step = tree.Verify(&store, p, 100);
      if (!step.ok()) return step.status();
      total.keys += step->keys;
      total.differing += step->differing;
    }
    return total;
  };
  auto found = verify_all();
  writing = false;
  writer.join();
  ASSERT_TRUE(found.ok()) << found.status();
  // The unseen write's segment and segment 7 (unless they are one).
  EXPECT_GE(found->differing,
            tree.SegmentOf(RingPosition("drift")) == 7 ? 1u : 2u);
  EXPECT_GT(found->keys, 0u);
  EXPECT_EQ(DifferingSegments(tree, *Rebuilt(&store)), 0);
  auto again = verify_all();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->differing, 0u);
}

TEST(HashTreeTest, VerifyRefusesATreeNotBuilt) {
  auto engine = storage::NewMemEngine();
  ObjectStore store(engine.get());
  HashTree tree(kBits);
  auto found = tree.Verify(&store, 0, tree.VerifyPieces());
  EXPECT_EQ(found.status().code(), absl::StatusCode::kFailedPrecondition);
}

// RangeHash over arbitrary (not segment aligned) ranges equals the XOR of
// ObjectHash over the keys in them.
TEST(HashTreeTest, RangeHashMatchesBruteForceOnUnalignedRanges) {
  auto engine = storage::NewMemEngine();
  ObjectStore store(engine.get());
  HashTree tree(6);  // few segments: many keys per segment
  store.SetObserver(&tree);
  ASSERT_TRUE(tree.Build(&store, [](double, uint64_t) {}).ok());
  std::map<uint64_t, uint64_t> by_position;  // position -> XOR of hashes
  for (int i = 0; i < 3000; ++i) {
    std::string key = "key" + std::to_string(i);
    auto obj = store.Update(key, VersionVector(), Sibling::Value("v"), 1);
    ASSERT_TRUE(obj.ok());
    by_position[RingPosition(key)] ^= HashTree::ObjectHash(key, obj->Encode());
  }
  auto brute = [&](uint64_t from, uint64_t to) {
    uint64_t h = 0;
    for (auto it = by_position.lower_bound(from);
         it != by_position.end() && it->first <= to; ++it) {
      h ^= it->second;
    }
    return h;
  };
  std::mt19937_64 rng(3);
  std::vector<PositionRange> ranges = {
      {0, ~uint64_t{0}}, {0, 0}, {~uint64_t{0}, ~uint64_t{0}},
      {tree.SegmentStart(3), tree.SegmentStart(9) - 1},
      {tree.SegmentStart(3) + 1, tree.SegmentStart(9)},
      {tree.SegmentStart(63), ~uint64_t{0}},
      {tree.SegmentStart(5) + 10, tree.SegmentStart(5) + 1000000}};
  for (int i = 0; i < 500; ++i) {
    uint64_t a = rng(), b = rng();
    if (a > b) std::swap(a, b);
    ranges.push_back({a, b});
  }
  for (const PositionRange& r : ranges) {
    auto h = RangeHash(tree, &store, r);
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_EQ(*h, brute(r.from, r.to)) << r.from << ".." << r.to;
  }
}

TEST(HashTreeTest, ListKeysStopsAtItsLimit) {
  auto engine = storage::NewMemEngine();
  ObjectStore store(engine.get());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store
                    .Update("k" + std::to_string(i), VersionVector(),
                            Sibling::Value("v"), 1)
                    .ok());
  }
  std::vector<KeyDigest> keys;
  ASSERT_TRUE(ListKeys(&store, {0, ~uint64_t{0}}, 100, &keys).ok());
  EXPECT_EQ(keys.size(), 50u);
  keys.clear();
  absl::Status s = ListKeys(&store, {0, ~uint64_t{0}}, 10, &keys);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
}

}  // namespace
}  // namespace rumor::server
