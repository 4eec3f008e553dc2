#include "storage/dvv.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rumor::storage {
namespace {

constexpr ActorId kA = 0xa, kB = 0xb, kC = 0xc;

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(VersionVectorTest, GetSetMergeDescends) {
  VersionVector a, b;
  a.Set(kA, 3);
  a.Set(kB, 1);
  b.Set(kB, 4);
  b.Set(kC, 2);
  EXPECT_EQ(a.Get(kA), 3u);
  EXPECT_EQ(a.Get(kC), 0u);
  EXPECT_FALSE(a.Descends(b));
  VersionVector m = a;
  m.Merge(b);
  EXPECT_EQ(m.Get(kA), 3u);
  EXPECT_EQ(m.Get(kB), 4u);
  EXPECT_EQ(m.Get(kC), 2u);
  EXPECT_TRUE(m.Descends(a));
  EXPECT_TRUE(m.Descends(b));
  a.Set(kA, 0);
  EXPECT_EQ(a.entries().size(), 1u);
}

TEST(VersionVectorTest, EncodeRoundTripsAndEmptyIsEmptyString) {
  EXPECT_EQ(VersionVector().Encode(), "");
  auto empty = VersionVector::Decode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  VersionVector v;
  v.Set(kB, 300);
  v.Set(kA, 1);
  v.Set(~0ULL, ~0ULL);
  auto back = VersionVector::Decode(v.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, v);
}

TEST(VersionVectorTest, DecodeRejectsGarbageAndTampering) {
  VersionVector v;
  v.Set(kA, 7);
  std::string good = v.Encode();
  for (std::string bad :
       {std::string("x"), std::string("hello world"), std::string(64, '\0'),
        good.substr(0, good.size() - 1), good + "z"}) {
    auto r = VersionVector::Decode(bad);
    ASSERT_FALSE(r.ok()) << "accepted " << bad.size() << " bytes";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("context"), absl::string_view::npos);
  }
  // Flip every single bit: the checksum must catch each one.
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string t = good;
    t[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_FALSE(VersionVector::Decode(t).ok()) << "bit " << i;
  }
}

TEST(DvvSetTest, UpdateWithContextReplaces) {
  DvvSet s;
  ASSERT_TRUE(s.Update({}, Sibling::Value("hello"), kA).ok());
  EXPECT_EQ(s.LiveValues(), std::vector<std::string>{"hello"});
  ASSERT_TRUE(s.Update(s.Join(), Sibling::Value("hi"), kA).ok());
  EXPECT_EQ(s.LiveValues(), std::vector<std::string>{"hi"});
  EXPECT_EQ(s.Join().Get(kA), 2u);
}

TEST(DvvSetTest, UpdateWithoutContextAddsSibling) {
  DvvSet s;
  ASSERT_TRUE(s.Update({}, Sibling::Value("hi"), kA).ok());
  ASSERT_TRUE(s.Update({}, Sibling::Value("hey"), kA).ok());
  EXPECT_EQ(Sorted(s.LiveValues()), (std::vector<std::string>{"hey", "hi"}));
  // A context covering both resolves them.
  ASSERT_TRUE(s.Update(s.Join(), Sibling::Value("merged"), kB).ok());
  EXPECT_EQ(s.LiveValues(), std::vector<std::string>{"merged"});
}

TEST(DvvSetTest, StaleContextKeepsConcurrentWrite) {
  DvvSet s;
  ASSERT_TRUE(s.Update({}, Sibling::Value("v1"), kA).ok());
  VersionVector ctx = s.Join();  // two clients read v1
  ASSERT_TRUE(s.Update(ctx, Sibling::Value("x"), kA).ok());
  ASSERT_TRUE(s.Update(ctx, Sibling::Value("y"), kA).ok());
  // Both writes saw v1 and neither saw the other: both survive, v1 goes.
  EXPECT_EQ(Sorted(s.LiveValues()), (std::vector<std::string>{"x", "y"}));
}

TEST(DvvSetTest, TombstoneHidesValueButKeepsHistory) {
  DvvSet s;
  ASSERT_TRUE(s.Update({}, Sibling::Value("v"), kA).ok());
  ASSERT_TRUE(s.Update(s.Join(), Sibling::Tombstone(), kA).ok());
  EXPECT_FALSE(s.HasLiveValue());
  EXPECT_EQ(s.SiblingCount(), 1u);
  EXPECT_TRUE(s.Siblings()[0].tombstone);
  // A write concurrent with the delete survives it.
  DvvSet t;
  ASSERT_TRUE(t.Update({}, Sibling::Value("v"), kA).ok());
  VersionVector ctx = t.Join();
  ASSERT_TRUE(t.Update({}, Sibling::Value("concurrent"), kA).ok());
  ASSERT_TRUE(t.Update(ctx, Sibling::Tombstone(), kA).ok());
  EXPECT_EQ(t.LiveValues(), std::vector<std::string>{"concurrent"});
}

TEST(DvvSetTest, ContextFromOtherReplicaDiscardsRemoteValuesOnMerge) {
  // Replica 1 coordinated "x" and replicated it to replica 2. A client read
  // x from replica 2 and overwrote it through replica 2. When replica 1's
  // stale copy is merged back, x must not resurrect.
  DvvSet r1;
  ASSERT_TRUE(r1.Update({}, Sibling::Value("x"), kA).ok());
  DvvSet r2 = r1;
  ASSERT_TRUE(r2.Update(r2.Join(), Sibling::Value("y"), kB).ok());
  DvvSet m = r1;
  m.Merge(r2);
  EXPECT_EQ(m.LiveValues(), std::vector<std::string>{"y"});
  // And a context carrying actors this replica never saw still discards
  // them later.
  DvvSet fresh;
  ASSERT_TRUE(fresh.Update(r1.Join(), Sibling::Value("z"), kC).ok());
  fresh.Merge(r1);
  EXPECT_EQ(fresh.LiveValues(), std::vector<std::string>{"z"});
}

TEST(DvvSetTest, EncodingIsCanonicalAndRoundTrips) {
  DvvSet a, b;
  // Build the same logical set through different operation orders.
  DvvSet base;
  ASSERT_TRUE(base.Update({}, Sibling::Value("1"), kA).ok());
  DvvSet x = base, y = base;
  ASSERT_TRUE(x.Update(base.Join(), Sibling::Value("2"), kB).ok());
  ASSERT_TRUE(y.Update(base.Join(), Sibling::Tombstone(), kC).ok());
  a = x;
  a.Merge(y);
  b = y;
  b.Merge(x);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.Encode(), b.Encode());
  auto back = DvvSet::Decode(a.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, a);
}

TEST(DvvSetTest, DecodeRejectsCorruptBytes) {
  DvvSet s;
  ASSERT_TRUE(s.Update({}, Sibling::Value("value"), kA).ok());
  std::string good = s.Encode();
  for (size_t len = 0; len < good.size(); ++len) {
    auto r = DvvSet::Decode(good.substr(0, len));
    EXPECT_FALSE(r.ok()) << "prefix " << len;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
    }
  }
  EXPECT_FALSE(DvvSet::Decode(good + "x").ok());
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    (void)DvvSet::Decode(junk);  // must not crash or allocate wildly
  }
}

TEST(DvvSetTest, UpdateRejectsCounterOverflow) {
  VersionVector ctx;
  ctx.Set(kA, ~0ULL);
  DvvSet s;
  auto r = s.Update(ctx, Sibling::Value("v"), kA);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

// Property test: replicas apply random client writes with random (possibly
// stale) contexts and merge in random orders. Merge must be commutative,
// associative and idempotent, and every write must be either a current
// sibling or covered by a context of a later write that saw it.
TEST(DvvSetTest, RandomReplicaHistoriesConverge) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    std::mt19937_64 rng(seed);
    const ActorId actors[] = {kA, kB, kC};
    std::vector<DvvSet> replicas(3);
    // What clients have read: a context and the values it came with.
    std::vector<std::pair<VersionVector, std::vector<std::string>>> seen;
    seen.push_back({});
    std::set<std::string> written;
    std::set<std::string> overwritten;  // covered by a later write's context
    for (int step = 0; step < 60; ++step) {
      int r = rng() % 3;
      switch (rng() % 3) {
        case 0: {  // client read: remember the context and the values
          seen.push_back({replicas[r].Join(), replicas[r].LiveValues()});
          break;
        }
        case 1: {  // client write with some context it has read
          const auto& [ctx, values] = seen[rng() % seen.size()];
          std::string v = "s" + std::to_string(seed) + "w" + std::to_string(step);
          // The client saw these values and replaces them on purpose.
          overwritten.insert(values.begin(), values.end());
          ASSERT_TRUE(
              replicas[r].Update(ctx, Sibling::Value(v), actors[r]).ok());
          written.insert(v);
          break;
        }
        case 2: {  // anti-entropy between two replicas
          int o = rng() % 3;
          replicas[r].Merge(replicas[o]);
          break;
        }
      }
    }
    DvvSet ab = replicas[0];
    ab.Merge(replicas[1]);
    DvvSet ba = replicas[1];
    ba.Merge(replicas[0]);
    ASSERT_EQ(ab, ba) << "merge not commutative, seed " << seed;
    DvvSet abc = ab;
    abc.Merge(replicas[2]);
    DvvSet bc = replicas[1];
    bc.Merge(replicas[2]);
    DvvSet a_bc = replicas[0];
    a_bc.Merge(bc);
    ASSERT_EQ(abc, a_bc) << "merge not associative, seed " << seed;
    DvvSet twice = abc;
    twice.Merge(abc);
    ASSERT_EQ(twice, abc) << "merge not idempotent, seed " << seed;
    ASSERT_EQ(abc.Encode(), a_bc.Encode());
    // No write vanished without a context covering it.
    std::vector<std::string> live = abc.LiveValues();
    std::set<std::string> live_set(live.begin(), live.end());
    for (const std::string& w : written) {
      EXPECT_TRUE(live_set.count(w) || overwritten.count(w))
          << "write " << w << " lost, seed " << seed;
    }
  }
}

// The sibling-explosion scenario of riak_test at the object level: two
// writers interleave read-modify-write with contexts that are always one
// write stale. DVV keeps at most one sibling per concurrent writer.
TEST(DvvSetTest, InterleavedStaleWritersNeverExplode) {
  DvvSet s;
  VersionVector ctx_a, ctx_b;
  for (int i = 0; i < 100; ++i) {
    ctx_a = s.Join();
    ctx_b = s.Join();
    ASSERT_TRUE(
        s.Update(ctx_a, Sibling::Value("a" + std::to_string(i)), kA).ok());
    ASSERT_TRUE(
        s.Update(ctx_b, Sibling::Value("b" + std::to_string(i)), kA).ok());
    ASSERT_LE(s.SiblingCount(), 2u);
    EXPECT_EQ(Sorted(s.LiveValues()),
              (std::vector<std::string>{"a" + std::to_string(i),
                                        "b" + std::to_string(i)}));
  }
}

// Tombstone reaping finds deleted keys from their encoding on every write:
// only sets whose every sibling is a tombstone qualify.
TEST(DvvSetTest, EncodedOnlyTombstonesMatchesTheDecodedSet) {
  DvvSet s;
  EXPECT_FALSE(DvvSet::EncodedOnlyTombstones(""));
  EXPECT_FALSE(DvvSet::EncodedOnlyTombstones(s.Encode()));  // no siblings
  ASSERT_TRUE(s.Update({}, Sibling::Value("v"), kA).ok());
  EXPECT_FALSE(DvvSet::EncodedOnlyTombstones(s.Encode()));
  DvvSet concurrent = s;
  ASSERT_TRUE(s.Update(s.Join(), Sibling::Tombstone(), kA).ok());
  EXPECT_TRUE(DvvSet::EncodedOnlyTombstones(s.Encode()));
  // A tombstone beside a concurrent live value is not a deleted key.
  ASSERT_TRUE(concurrent.Update({}, Sibling::Value("w"), kB).ok());
  DvvSet mixed = s;
  mixed.Merge(concurrent);
  ASSERT_TRUE(mixed.HasLiveValue());
  EXPECT_FALSE(DvvSet::EncodedOnlyTombstones(mixed.Encode()));
  // Two concurrent tombstones are.
  DvvSet other;
  ASSERT_TRUE(other.Update({}, Sibling::Tombstone(), kB).ok());
  DvvSet both = s;
  both.Merge(other);
  EXPECT_EQ(both.SiblingCount(), 2u);
  EXPECT_TRUE(DvvSet::EncodedOnlyTombstones(both.Encode()));
  // Truncated or extended encodings are not.
  std::string enc = both.Encode();
  for (size_t cut = 0; cut < enc.size(); ++cut) {
    EXPECT_FALSE(DvvSet::EncodedOnlyTombstones(enc.substr(0, cut))) << cut;
  }
  EXPECT_FALSE(DvvSet::EncodedOnlyTombstones(enc + "x"));
}

}  // namespace
}  // namespace rumor::storage
