#include "storage/object_store.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/hash.h"
#include "gtest/gtest.h"
#include "storage/mem_engine.h"
#include "storage/rocksdb_engine.h"
#include "tests/support/temp_dir.h"

namespace rumor::storage {
namespace {

TEST(DataKeyTest, PrefixIsBigEndianRingPosition) {
  std::string dk = DataKey("greeting");
  ASSERT_EQ(dk.size(), 8u + 8u);
  uint64_t pos;
  std::string_view user;
  ASSERT_TRUE(ParseDataKey(dk, &pos, &user));
  EXPECT_EQ(pos, RingPosition("greeting"));
  EXPECT_EQ(user, "greeting");
  // Keys sort by ring position first: a ring range is one scan.
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back(DataKey(std::to_string(i)));
  std::sort(keys.begin(), keys.end());
  uint64_t prev = 0;
  for (const auto& k : keys) {
    uint64_t p;
    std::string_view u;
    ASSERT_TRUE(ParseDataKey(k, &p, &u));
    EXPECT_GE(p, prev);
    prev = p;
  }
  EXPECT_FALSE(ParseDataKey("short", &pos, &user));
}

TEST(ObjectStoreTest, MissingKeyIsEmptyObject) {
  auto engine = NewMemEngine();
  ObjectStore store(engine.get());
  auto o = store.Get("nothing");
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->empty());
}

TEST(ObjectStoreTest, UpdateThenGetAndMergeWritesOnlyOnChange) {
  auto engine = NewMemEngine();
  ObjectStore store(engine.get());
  auto o = store.Update("k", {}, Sibling::Value("v1"), 1);
  ASSERT_TRUE(o.ok());
  auto g = store.Get("k");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, *o);

  DvvSet remote;
  ASSERT_TRUE(remote.Update({}, Sibling::Value("r"), 2).ok());
  auto m = store.Merge("k", remote);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->SiblingCount(), 2u);
  auto again = store.Merge("k", remote);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *m);
}

TEST(ObjectStoreTest, CorruptStoredBytesAreDataLoss) {
  auto engine = NewMemEngine();
  ObjectStore store(engine.get());
  WriteBatch b;
  b.Put(Column::kData, DataKey("k"), "\x07garbage");
  ASSERT_TRUE(engine->Write(b).ok());
  auto o = store.Get("k");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kDataLoss);
  // A write does not paper over corruption.
  EXPECT_FALSE(store.Update("k", {}, Sibling::Value("v"), 1).ok());
}

// Concurrent read-modify-write on one key: each writer reads the object,
// merges the sibling sets it sees into one value and writes it back with the
// context. Atomic RMW plus DVV means the final siblings together hold every
// item any writer added.
void RunConcurrentRmw(Engine* engine) {
  ObjectStore store(engine);
  constexpr int kThreads = 4, kPerThread = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto cur = store.Get("counter");
        ASSERT_TRUE(cur.ok());
        std::set<std::string> items;
        for (const auto& v : cur->LiveValues()) {
          for (auto part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
            items.insert(std::string(part));
          }
        }
        items.insert(std::to_string(t) + ":" + std::to_string(i));
        std::string joined;
        for (const auto& it : items) joined += it + ",";
        ASSERT_TRUE(store
                        .Update("counter", cur->Join(),
                                Sibling::Value(joined), /*actor=*/1)
                        .ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto final_obj = store.Get("counter");
  ASSERT_TRUE(final_obj.ok());
  EXPECT_LE(final_obj->SiblingCount(), static_cast<size_t>(kThreads));
  std::set<std::string> all;
  for (const auto& v : final_obj->LiveValues()) {
    for (auto part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      all.insert(std::string(part));
    }
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(ObjectStoreTest, ConcurrentReadModifyWriteLosesNothingMem) {
  auto engine = NewMemEngine();
  RunConcurrentRmw(engine.get());
}

TEST(ObjectStoreTest, ConcurrentReadModifyWriteLosesNothingRocksDb) {
  rumor::testing::TempDir dir;
  auto engine = OpenRocksDbEngine(dir.Sub("db"), RocksDbOptions{});
  ASSERT_TRUE(engine.ok());
  RunConcurrentRmw(engine->get());
}

TEST(ObjectStoreTest, NonBlockingFormsMatchTheBlockingOnes) {
  rumor::testing::TempDir dir;
  auto engine = OpenRocksDbEngine(dir.Sub("db"), RocksDbOptions{});
  ASSERT_TRUE(engine.ok());
  ObjectStore store(engine->get());
  auto w = store.TryUpdateNow("k", {}, Sibling::Value("v"), 1);
  ASSERT_TRUE(w.ok()) << w.status() << " (a memtable write need not wait)";
  auto r = store.TryGetNow("k");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, *w);
  auto blocking = store.Get("k");
  ASSERT_TRUE(blocking.ok());
  EXPECT_EQ(*blocking, *w);
  auto missing = store.TryGetNow("never");
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->empty());
}

TEST(ObjectStoreTest, SyncWritesAlwaysDeferAndWriteNothingInline) {
  rumor::testing::TempDir dir;
  RocksDbOptions opts;
  opts.sync = true;
  auto engine = OpenRocksDbEngine(dir.Sub("db"), opts);
  ASSERT_TRUE(engine.ok());
  ObjectStore store(engine->get());
  auto w = store.TryUpdateNow("k", {}, Sibling::Value("v"), 1);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(IsWouldBlock(w.status()));
  auto r = store.Get("k");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty()) << "a deferred write left nothing behind";
  ASSERT_TRUE(store.Update("k", {}, Sibling::Value("v"), 1).ok());
}

TEST(ObjectStoreTest, BusyStripeDefersInsteadOfWaiting) {
  auto engine = NewMemEngine();
  ObjectStore store(engine.get());
  std::atomic<bool> holding{false}, release{false};
  // Another writer sits in the key's stripe (a slow fsync, say): a blocking
  // update through an engine whose Write waits until we let it go.
  class GatedEngine final : public Engine {
   public:
    explicit GatedEngine(Engine* inner, std::atomic<bool>* holding,
                         std::atomic<bool>* release)
        : inner_(inner), holding_(holding), release_(release) {}
    absl::Status Get(Column c, std::string_view k, std::string* v) override {
      return inner_->Get(c, k, v);
    }
    absl::Status Write(const WriteBatch& b) override {
      *holding_ = true;
      while (!*release_) std::this_thread::yield();
      return inner_->Write(b);
    }
    absl::Status Scan(Column c, std::string_view s, std::string_view e,
                      absl::FunctionRef<bool(std::string_view, std::string_view)>
                          fn) override {
      return inner_->Scan(c, s, e, fn);
    }
    absl::Status Sync() override { return inner_->Sync(); }
    absl::Status WriteIfNoWait(const WriteBatch& b) override {
      return inner_->Write(b);
    }

   private:
    Engine* inner_;
    std::atomic<bool>* holding_;
    std::atomic<bool>* release_;
  };
  GatedEngine gated(engine.get(), &holding, &release);
  ObjectStore gated_store(&gated);
  std::thread slow([&] {
    EXPECT_TRUE(gated_store.Update("k", {}, Sibling::Value("slow"), 1).ok());
  });
  while (!holding) std::this_thread::yield();
  auto now = gated_store.TryUpdateNow("k", {}, Sibling::Value("fast"), 1);
  EXPECT_TRUE(IsWouldBlock(now.status())) << now.status();
  release = true;
  slow.join();
  auto after = gated_store.TryUpdateNow("k", {}, Sibling::Value("fast"), 1);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->SiblingCount(), 2u);
}

// Reaping removes only a deleted key still as the reaper saw it, and a
// key written again afterwards gets dots above every counter it had: a
// client holding a context from before the delete cannot discard the new
// value (kv679's dot reuse). The floor survives a new store on the same
// engine (a restart).
TEST(ObjectStoreTest, ReapRemovesOnlyUnchangedTombstonesAndNeverReusesADot) {
  rumor::testing::TempDir dir;
  auto engine = OpenRocksDbEngine(dir.Sub("db"), RocksDbOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  const ActorId kActor = 7;
  VersionVector old_context;
  {
    ObjectStore store(engine->get());
    for (int i = 0; i < 5; ++i) {
      auto o = store.Update("k", old_context, Sibling::Value("v"), kActor);
      ASSERT_TRUE(o.ok());
      old_context = o->Join();
    }
    ASSERT_EQ(old_context.Get(kActor), 5u);
    auto live = store.Get("k");
    uint64_t live_hash = ObjectStore::EncodingHash(live->Encode());
    EXPECT_FALSE(*store.ReapIfUnchanged("k", live_hash, kActor)) << "a live value";
    auto deleted =
        store.Update("k", old_context, Sibling::Tombstone(), kActor);
    ASSERT_TRUE(deleted.ok());
    uint64_t hash = ObjectStore::EncodingHash(deleted->Encode());
    EXPECT_FALSE(*store.ReapIfUnchanged("k", hash + 1, kActor)) << "changed since";
    EXPECT_FALSE(*store.ReapIfUnchanged("absent", hash, kActor));
    EXPECT_TRUE(*store.ReapIfUnchanged("k", hash, kActor));
    EXPECT_TRUE(store.Get("k")->empty());
    EXPECT_EQ(*store.DotFloor(), 6u);
    // The floor is not a data key: scans do not see it.
    int seen = 0;
    ASSERT_TRUE(store
                    .ScanPositions(0, ~uint64_t{0},
                                   [&](std::string_view, std::string_view) {
                                     ++seen;
                                     return true;
                                   })
                    .ok());
    EXPECT_EQ(seen, 0);
  }
  ObjectStore store(engine->get());  // as after a restart
  auto fresh = store.Update("k", {}, Sibling::Value("new"), kActor);
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(fresh->Join().Get(kActor), 6u);
  // The stale writer's context covers dots up to 5 only.
  auto stale = store.Update("k", old_context, Sibling::Value("stale"), kActor);
  ASSERT_TRUE(stale.ok());
  std::vector<std::string> values = stale->LiveValues();
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<std::string>{"new", "stale"}));
}

// A reaped key can come back by a merge (another coordinator's write, a
// repair) carrying none of this actor's values, or only a stale context
// entry of it: the actor's next dot still starts above the floor. An
// object whose counters only a forged context could reach is not reaped
// (the floor must not climb near overflow).
TEST(ObjectStoreTest, TheDotFloorHoldsForKeysRecreatedByAMerge) {
  auto engine = NewMemEngine();
  ObjectStore store(engine.get());
  const ActorId kActor = 7, kOther = 8;
  VersionVector ctx;
  for (int i = 0; i < 4; ++i) {
    ctx = store.Update("k", ctx, Sibling::Value("v"), kActor)->Join();
  }
  auto deleted = store.Update("k", ctx, Sibling::Tombstone(), kActor);
  ASSERT_TRUE(deleted.ok());
  ASSERT_TRUE(*store.ReapIfUnchanged(
      "k", ObjectStore::EncodingHash(deleted->Encode()), kActor));
  ASSERT_EQ(*store.DotFloor(), 5u);
  // Another coordinator's write, made with a stale context {kActor: 2}.
  DvvSet theirs;
  VersionVector stale;
  stale.Set(kActor, 2);
  ASSERT_TRUE(theirs.Update(stale, Sibling::Value("theirs"), kOther).ok());
  ASSERT_TRUE(store.Merge("k", theirs).ok());
  auto mine = store.Update("k", {}, Sibling::Value("mine"), kActor);
  ASSERT_TRUE(mine.ok());
  EXPECT_GT(mine->Join().Get(kActor), 5u);
  EXPECT_EQ(mine->LiveValues().size(), 2u) << "the merged value stays";

  // Forged: a counter far past anything real.
  VersionVector forged;
  forged.Set(kActor, ObjectStore::kMaxReapCounter + 1);
  auto f = store.Update("f", forged, Sibling::Tombstone(), kOther);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(*store.ReapIfUnchanged(
      "f", ObjectStore::EncodingHash(f->Encode()), kActor));
  EXPECT_EQ(*store.DotFloor(), 5u);
}

}  // namespace
}  // namespace rumor::storage
