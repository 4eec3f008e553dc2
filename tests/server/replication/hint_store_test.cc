// HintStore: the durable, bounded queue of writes held for nodes that were
// down. Its bounds are what keep a long outage (or a peer naming ever new
// owners) from filling the disk, and its counts must stay exact: they
// survive restarts and gate every new hint.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/replication/hint_store.h"
#include "storage/column_store.h"
#include "storage/dvv.h"
#include "storage/mem_engine.h"
#include "storage/object_store.h"

namespace rumor::server {
namespace {

using storage::DvvSet;
using storage::Sibling;
using storage::VersionVector;

// An object holding one value written by `actor`.
DvvSet Written(const std::string& value, storage::ActorId actor,
               const VersionVector& context = {}) {
  DvvSet d;
  EXPECT_TRUE(d.Update(context, Sibling::Value(value), actor).ok());
  return d;
}

class HintStoreTest : public ::testing::Test {
 protected:
  void Open(size_t max_per_owner) {
    hints_.reset();
    auto hs = HintStore::Open(column_.get(), max_per_owner);
    ASSERT_TRUE(hs.ok()) << hs.status();
    hints_ = std::move(*hs);
  }
  void SetUp() override {
    auto column =
        storage::ColumnStore::Open(engine_.get(), storage::Column::kHints);
    ASSERT_TRUE(column.ok()) << column.status();
    column_ = std::move(*column);
    Open(100);
  }

  std::optional<DvvSet> Get(NodeId owner, const std::string& key) {
    auto got = hints_->Get(owner, key);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::nullopt;
  }
  // Every key held for `owner`, by a scan in pages of `page`.
  std::vector<std::string> ScanAll(NodeId owner, size_t page) {
    std::vector<std::string> keys;
    std::string after;
    for (int pages = 0; pages < 10000; ++pages) {
      size_t visited = 0;
      auto last = hints_->Scan(owner, after, page,
                               [&](std::string_view key, std::string_view object) {
                                 EXPECT_TRUE(DvvSet::Decode(object).ok());
                                 keys.emplace_back(key);
                                 ++visited;
                               });
      EXPECT_TRUE(last.ok()) << last.status();
      if (!last.ok()) break;
      EXPECT_LE(visited, page) << "a page went past its limit";
      if (visited == 0) {
        EXPECT_TRUE(last->empty()) << "nothing visited, yet a last key";
        break;
      }
      EXPECT_EQ(*last, storage::DataKey(keys.back()))
          << "Scan must return the data key of the last hint visited";
      after = *last;
    }
    return keys;
  }

  std::unique_ptr<storage::Engine> engine_ = storage::NewMemEngine();
  std::unique_ptr<storage::ColumnStore> column_;
  std::unique_ptr<HintStore> hints_;
};

TEST_F(HintStoreTest, StoredHintIsReturnedForItsOwnerOnly) {
  DvvSet object = Written("v", 9);
  ASSERT_TRUE(hints_->Store(2, "k", object).ok());
  EXPECT_EQ(Get(2, "k"), object);
  EXPECT_EQ(Get(3, "k"), std::nullopt) << "a hint is held per owner";
  EXPECT_EQ(Get(2, "other"), std::nullopt);
  EXPECT_EQ(hints_->Counts(), (std::map<NodeId, uint64_t>{{2, 1}}));
}

// Tombstone reaping asks whether a key is hinted for anyone: a hint may
// carry an older value that hint replay would bring back.
TEST_F(HintStoreTest, HoldsAnyNamesKeysHintedForAnyOwner) {
  EXPECT_FALSE(hints_->HoldsAny("k"));
  ASSERT_TRUE(hints_->Store(2, "k", Written("v", 9)).ok());
  ASSERT_TRUE(hints_->Store(5, "j", Written("w", 9)).ok());
  EXPECT_TRUE(hints_->HoldsAny("k"));
  EXPECT_TRUE(hints_->HoldsAny("j"));
  EXPECT_FALSE(hints_->HoldsAny("other"));
}

// A long outage costs one object per key, not one per write: a second
// write merges (DVV sync) into the hint already held.
TEST_F(HintStoreTest, SecondStoreForTheSameKeyMergesAndDoesNotCountTwice) {
  DvvSet a = Written("a", 8);
  DvvSet b = Written("b", 9);  // concurrent with a
  ASSERT_TRUE(hints_->Store(2, "k", a).ok());
  ASSERT_TRUE(hints_->Store(2, "k", b).ok());
  DvvSet merged = a;
  merged.Merge(b);
  std::optional<DvvSet> got = Get(2, "k");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, merged);
  std::vector<std::string> values = got->LiveValues();
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<std::string>{"a", "b"}));
  // A write that supersedes both replaces them.
  DvvSet c = Written("c", 8, merged.Join());
  ASSERT_TRUE(hints_->Store(2, "k", c).ok());
  EXPECT_EQ(Get(2, "k")->LiveValues(), (std::vector<std::string>{"c"}));
  // Storing what is already there changes nothing.
  ASSERT_TRUE(hints_->Store(2, "k", a).ok());
  EXPECT_EQ(Get(2, "k")->LiveValues(), (std::vector<std::string>{"c"}));
  EXPECT_EQ(hints_->Counts(), (std::map<NodeId, uint64_t>{{2, 1}}));
  EXPECT_EQ(ScanAll(2, 10), (std::vector<std::string>{"k"}));
}

// The per-owner bound refuses new keys only: a newer write of a key
// already held must still merge, or the owner would get a stale hint.
TEST_F(HintStoreTest, PerOwnerBoundRefusesNewKeysButStillMergesExistingOnes) {
  Open(2);
  ASSERT_TRUE(hints_->Store(2, "k1", Written("1", 9)).ok());
  ASSERT_TRUE(hints_->Store(2, "k2", Written("2", 9)).ok());
  absl::Status s = hints_->Store(2, "k3", Written("3", 9));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(hints_->dropped(), 1u);
  EXPECT_EQ(Get(2, "k3"), std::nullopt) << "a refused hint was stored";
  EXPECT_EQ(hints_->Counts(), (std::map<NodeId, uint64_t>{{2, 2}}));

  DvvSet newer = Written("1b", 8);  // concurrent: a sibling
  ASSERT_TRUE(hints_->Store(2, "k1", newer).ok());
  std::vector<std::string> values = Get(2, "k1")->LiveValues();
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<std::string>{"1", "1b"}));
  EXPECT_EQ(hints_->dropped(), 1u);
  EXPECT_EQ(hints_->Counts(), (std::map<NodeId, uint64_t>{{2, 2}}));

  // Another owner has a bound of its own.
  EXPECT_TRUE(hints_->Store(3, "k3", Written("3", 9)).ok());
  EXPECT_EQ(ScanAll(2, 10).size(), 2u);
}

// A peer naming ever new owners must not get past the per-owner bound by
// spreading its hints: at most kMaxOwners owners hold hints at once. A
// slot frees up when an owner's last hint is delivered.
TEST_F(HintStoreTest, OwnersCapRefusesAHintForANewOwner) {
  Open(1);
  const NodeId kFirst = 1000;
  for (NodeId i = 0; i < HintStore::kMaxOwners; ++i) {
    ASSERT_TRUE(hints_->Store(kFirst + i, "k", Written("v", 9)).ok()) << i;
  }
  EXPECT_EQ(hints_->Counts().size(), HintStore::kMaxOwners);
  const NodeId kNew = kFirst + HintStore::kMaxOwners;
  absl::Status s = hints_->Store(kNew, "k", Written("v", 9));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(hints_->dropped(), 1u);
  EXPECT_EQ(Get(kNew, "k"), std::nullopt);
  // An owner already held still merges.
  EXPECT_TRUE(hints_->Store(kFirst, "k", Written("w", 8)).ok());
  EXPECT_EQ(Get(kFirst, "k")->LiveValues().size(), 2u);

  // Delivering one owner's only hint frees its slot.
  std::string encoded = Get(kFirst + 1, "k")->Encode();
  auto deleted = hints_->DeleteIfUnchanged(kFirst + 1, "k", encoded);
  ASSERT_TRUE(deleted.ok() && *deleted);
  EXPECT_TRUE(hints_->Store(kNew, "k", Written("v", 9)).ok());
  EXPECT_EQ(hints_->Counts().size(), HintStore::kMaxOwners);
}

// The bound is checked and taken atomically: writers racing with distinct
// new keys cannot all pass it together.
TEST_F(HintStoreTest, ConcurrentNewKeysNeverExceedThePerOwnerBound) {
  constexpr size_t kBound = 50;
  constexpr int kThreads = 8, kKeysEach = 40;
  Open(kBound);
  std::atomic<int> stored{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kKeysEach; ++i) {
        absl::Status s =
            hints_->Store(2, absl::StrCat("t", t, "-k", i), Written("v", 9));
        if (s.ok()) {
          ++stored;
        } else if (absl::IsResourceExhausted(s)) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(stored.load(), int{kBound});
  EXPECT_EQ(refused.load(), kThreads * kKeysEach - int{kBound});
  EXPECT_EQ(hints_->dropped(), uint64_t(refused.load()));
  EXPECT_EQ(hints_->Counts(), (std::map<NodeId, uint64_t>{{2, kBound}}));
  EXPECT_EQ(ScanAll(2, 7).size(), kBound) << "the counts and the column disagree";
}

// Counts are rebuilt from the column on open: after a restart the bound
// still holds for the hints kept before it.
TEST_F(HintStoreTest, CountsSurviveReopening) {
  Open(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(hints_->Store(2, absl::StrCat("k", i), Written("v", 9)).ok());
  }
  ASSERT_TRUE(hints_->Store(5, "k", Written("v", 9)).ok());
  const std::map<NodeId, uint64_t> before = hints_->Counts();
  ASSERT_EQ(before, (std::map<NodeId, uint64_t>{{2, 3}, {5, 1}}));

  Open(3);  // a new HintStore over the same column
  EXPECT_EQ(hints_->Counts(), before);
  absl::Status s = hints_->Store(2, "k9", Written("v", 9));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted)
      << "the bound forgot the hints held before the restart: " << s;
  EXPECT_TRUE(hints_->Store(5, "k9", Written("v", 9)).ok());
  EXPECT_EQ(Get(2, "k1"), Written("v", 9));
}

// Hint delivery pages through an owner's hints: each must be visited
// exactly once, in key order, and never one of another owner's.
TEST_F(HintStoreTest, ScanPagesVisitEveryHintOnceInKeyOrder) {
  constexpr NodeId kLast = ~NodeId{0};  // the last owner has no upper bound
  std::vector<std::string> keys;
  for (int i = 0; i < 23; ++i) keys.push_back(absl::StrCat("key-", i));
  for (NodeId owner : {NodeId{2}, kLast}) {
    for (const std::string& k : keys) {
      ASSERT_TRUE(hints_->Store(owner, k, Written(k, 9)).ok());
    }
  }
  // Neighbouring owners, whose hints must not leak into the scan.
  ASSERT_TRUE(hints_->Store(1, "key-0", Written("x", 9)).ok());
  ASSERT_TRUE(hints_->Store(3, "key-0", Written("x", 9)).ok());
  ASSERT_TRUE(hints_->Store(kLast - 1, "zzz", Written("x", 9)).ok());

  // Key order is data-key order: ring position, then the key.
  std::vector<std::string> expected = keys;
  std::sort(expected.begin(), expected.end(),
            [](const std::string& a, const std::string& b) {
              return storage::DataKey(a) < storage::DataKey(b);
            });
  for (NodeId owner : {NodeId{2}, kLast}) {
    for (size_t page : {1u, 4u, 23u, 100u}) {
      SCOPED_TRACE(absl::StrCat("owner ", owner, " page ", page));
      EXPECT_EQ(ScanAll(owner, page), expected);
    }
  }
  EXPECT_TRUE(ScanAll(4, 5).empty()) << "an owner without hints";
  // The objects visited are the ones stored.
  std::map<std::string, std::string> seen;
  auto last = hints_->Scan(2, "", 100, [&](std::string_view k, std::string_view o) {
    seen[std::string(k)] = std::string(o);
  });
  ASSERT_TRUE(last.ok());
  for (const std::string& k : keys) EXPECT_EQ(seen[k], Written(k, 9).Encode()) << k;
}

// A delivered hint is deleted only if nothing merged into it since it was
// read for delivery: the newer write must survive to be delivered too.
TEST_F(HintStoreTest, DeleteIfUnchangedDeletesOnlyTheDeliveredEncoding) {
  ASSERT_TRUE(hints_->Store(2, "k", Written("a", 9)).ok());
  ASSERT_TRUE(hints_->Store(2, "other", Written("o", 9)).ok());
  const std::string delivered = Get(2, "k")->Encode();
  ASSERT_TRUE(hints_->Store(2, "k", Written("b", 8)).ok());  // merged since
  auto r = hints_->DeleteIfUnchanged(2, "k", delivered);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(*r);
  ASSERT_TRUE(Get(2, "k").has_value());
  EXPECT_EQ(hints_->Counts(), (std::map<NodeId, uint64_t>{{2, 2}}));

  const std::string current = Get(2, "k")->Encode();
  r = hints_->DeleteIfUnchanged(2, "k", current);
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(Get(2, "k"), std::nullopt);
  EXPECT_EQ(hints_->Counts(), (std::map<NodeId, uint64_t>{{2, 1}}));

  // Gone already, or never there: nothing to delete, counts untouched.
  r = hints_->DeleteIfUnchanged(2, "k", current);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  r = hints_->DeleteIfUnchanged(7, "k", current);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(hints_->Counts(), (std::map<NodeId, uint64_t>{{2, 1}}));

  // The owner's last hint: the owner leaves Counts (no zero entries, which
  // would hold an owner slot forever).
  r = hints_->DeleteIfUnchanged(2, "other", Get(2, "other")->Encode());
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_TRUE(hints_->Counts().empty());
  EXPECT_TRUE(ScanAll(2, 10).empty());
}

}  // namespace
}  // namespace rumor::server
