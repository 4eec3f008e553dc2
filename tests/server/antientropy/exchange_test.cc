// Exchange: the top-down comparison of two replicas over their shared
// ranges. Two in-memory replicas answer every request, so these tests pin
// what repair relies on: every difference inside the shared ranges is found
// and nothing outside them, the bytes follow the differences rather than
// the data, an exchange cut short or racing writes stays sane, and
// untrusted answers never crash it.
#include "server/antientropy/exchange.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "gtest/gtest.h"

namespace rumor::server {
namespace {

constexpr uint64_t kTop = std::numeric_limits<uint64_t>::max();
const std::vector<PositionRange> kFullRing = {{0, kTop}};
// Far more requests than any exchange below needs: a driver loop that hits
// it means the exchange did not terminate.
constexpr int kMaxRequests = 200000;

// A replica's contents by ring position; several keys may share one.
struct Replica {
  std::map<uint64_t, std::map<std::string, uint64_t>> at;

  void Put(uint64_t position, const std::string& key, uint64_t digest) {
    at[position][key] = digest;
  }
  void Erase(uint64_t position, const std::string& key) {
    auto it = at.find(position);
    if (it == at.end()) return;
    it->second.erase(key);
    if (it->second.empty()) at.erase(it);
  }
  std::optional<uint64_t> Get(uint64_t position, const std::string& key) const {
    auto it = at.find(position);
    if (it == at.end()) return std::nullopt;
    auto k = it->second.find(key);
    if (k == it->second.end()) return std::nullopt;
    return k->second;
  }
  // Bytes listing every key would take (the exchange's own measure).
  uint64_t ListingBytes() const {
    uint64_t bytes = 0;
    for (const auto& [position, keys] : at) {
      for (const auto& [key, digest] : keys) bytes += key.size() + 8;
    }
    return bytes;
  }
};

template <typename F>
void ForEachIn(const Replica& replica, const PositionRange& r, F&& f) {
  for (auto it = replica.at.lower_bound(r.from);
       it != replica.at.end() && it->first <= r.to; ++it) {
    for (const auto& [key, digest] : it->second) f(key, digest);
  }
}

// A key's contribution to a range hash: the key matters as well as the
// digest, so a key moving between two equal digests still shows.
uint64_t KeyHash(const std::string& key, uint64_t digest) {
  return Mix64(Hash64(key) ^ Mix64(digest));
}

std::vector<uint64_t> Hashes(const Replica& replica,
                             const std::vector<PositionRange>& ranges) {
  std::vector<uint64_t> out;
  for (const PositionRange& r : ranges) {
    uint64_t h = 0;
    ForEachIn(replica, r,
              [&](const std::string& k, uint64_t d) { h ^= KeyHash(k, d); });
    out.push_back(h);
  }
  return out;
}

std::vector<KeyDigest> Keys(const Replica& replica,
                            const std::vector<PositionRange>& ranges) {
  std::vector<KeyDigest> out;
  for (const PositionRange& r : ranges) {
    ForEachIn(replica, r, [&](const std::string& k, uint64_t d) {
      out.push_back({k, d});
    });
  }
  // The contract allows any order; hand it over scrambled.
  std::reverse(out.begin(), out.end());
  return out;
}

void Answer(const Replica& local, const Replica& remote,
            const Exchange::Request& request, Exchange& ex) {
  if (request.kind == Exchange::Request::Kind::kHashes) {
    ex.OnHashes(Hashes(local, request.ranges), Hashes(remote, request.ranges));
  } else {
    ex.OnKeys(Keys(local, request.ranges), Keys(remote, request.ranges));
  }
}

// What every request must satisfy: 1..max_ranges non-empty ranges, each
// inside one shared range (so nothing outside them is ever compared).
void CheckRequest(const Exchange::Request& request,
                  const std::vector<PositionRange>& shared,
                  size_t max_ranges) {
  EXPECT_GE(request.ranges.size(), 1u);
  EXPECT_LE(request.ranges.size(), max_ranges);
  for (const PositionRange& r : request.ranges) {
    EXPECT_LE(r.from, r.to);
    bool inside = std::any_of(shared.begin(), shared.end(), [&](auto& s) {
      return s.from <= r.from && r.to <= s.to;
    });
    EXPECT_TRUE(inside) << "range " << r.from << ".." << r.to
                        << " is outside the shared ranges";
  }
}

// Drives `ex` until done() or `max_requests` requests, checking each one;
// `after_round(n)` runs once the n-th request is answered (a test changes
// a replica there). Returns the requests made.
int Drive(Exchange& ex, const Replica& local, const Replica& remote,
          const std::vector<PositionRange>& shared, size_t max_ranges = 256,
          const std::function<void(int)>& after_round = {},
          int max_requests = kMaxRequests) {
  int requests = 0;
  while (!ex.done() && requests < max_requests) {
    std::optional<Exchange::Request> request = ex.Next();
    if (!request.has_value()) {
      ADD_FAILURE() << "Next() gave nothing before done()";
      break;
    }
    CheckRequest(*request, shared, max_ranges);
    EXPECT_FALSE(ex.Next().has_value()) << "two requests outstanding";
    Answer(local, remote, *request, ex);
    ++requests;
    if (after_round) after_round(requests);
  }
  return requests;
}

// The keys that differ between `a` and `b` within `shared`, found by brute
// force: the answer the exchange must reach.
std::vector<std::string> Differing(const Replica& a, const Replica& b,
                                   const std::vector<PositionRange>& shared) {
  std::map<std::string,
           std::pair<std::optional<uint64_t>, std::optional<uint64_t>>>
      seen;
  for (const PositionRange& r : shared) {
    ForEachIn(a, r, [&](auto& k, uint64_t d) { seen[k].first = d; });
    ForEachIn(b, r, [&](auto& k, uint64_t d) { seen[k].second = d; });
  }
  std::vector<std::string> out;
  for (const auto& [key, digests] : seen) {
    if (digests.first != digests.second) out.push_back(key);
  }
  return out;
}

uint64_t BasePosition(int i) { return Mix64(static_cast<uint64_t>(i)); }
std::string BaseKey(int i) { return absl::StrCat("key", i); }

// `n` keys at pseudo-random positions, plus one key at each end of the
// ring (Diverge changes those).
Replica MakeBase(int n) {
  Replica r;
  for (int i = 0; i < n; ++i) {
    r.Put(BasePosition(i), BaseKey(i), Mix64(static_cast<uint64_t>(i) ^ 77));
  }
  r.Put(0, "edge-lo", 1);
  r.Put(kTop, "edge-hi", 2);
  return r;
}

// Makes `k` keys differ between two copies of MakeBase(n), cycling through
// the ways replicas drift apart: a newer digest, a key missing on one side,
// an extra key on one side, and changes at both ends of the ring (several
// keys at position 0 and at 2^64-1).
void Diverge(Replica& local, Replica& remote, int n, int k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::set<int> used;
  auto pick = [&] {
    for (;;) {
      int i = static_cast<int>(rng() % static_cast<uint64_t>(n));
      if (used.insert(i).second) return i;
    }
  };
  for (int d = 0; d < k; ++d) {
    switch (d % 5) {
      case 0: {
        int i = pick();
        remote.Put(BasePosition(i), BaseKey(i), rng());
        break;
      }
      case 1: {
        int i = pick();
        remote.Erase(BasePosition(i), BaseKey(i));
        break;
      }
      case 2:
        remote.Put(rng(), absl::StrCat("extra", d), rng());
        break;
      case 3:
        if (d == 3) {
          remote.Put(0, "edge-lo", 100);
        } else {
          local.Put(0, absl::StrCat("lo", d), rng());
        }
        break;
      case 4:
        if (d == 4) {
          local.Erase(kTop, "edge-hi");
        } else {
          remote.Put(kTop, absl::StrCat("hi", d), rng());
        }
        break;
    }
  }
}

constexpr int kKeys = 100000;

TEST(ExchangeTest, IdenticalReplicasAgreeAfterOneHash) {
  const Replica local = MakeBase(kKeys);
  const Replica remote = local;
  Exchange ex(kFullRing);
  EXPECT_EQ(Drive(ex, local, remote, kFullRing), 1);
  EXPECT_TRUE(ex.done());
  EXPECT_FALSE(ex.failed());
  EXPECT_TRUE(ex.differing().empty());
  EXPECT_EQ(ex.stats().hash_requests, 1u);
  EXPECT_EQ(ex.stats().key_requests, 0u);
  EXPECT_EQ(ex.stats().ranges_hashed, 1u);
  // One range asked for (16) and one hash from each side (2 * 8).
  EXPECT_EQ(ex.stats().bytes, 32u);
  EXPECT_LT(ex.stats().bytes, 1024u);
  EXPECT_FALSE(ex.Next().has_value());
}

TEST(ExchangeTest, FindsExactlyTheDifferingKeysWithBytesFollowingThem) {
  const Replica base = MakeBase(kKeys);
  const uint64_t listing_all = 2 * base.ListingBytes();
  std::map<int, ExchangeStats> stats;
  for (int k : {1, 10, 100, 1000}) {
    SCOPED_TRACE(absl::StrCat("k=", k));
    Replica local = base;
    Replica remote = base;
    Diverge(local, remote, kKeys, k, /*seed=*/k);
    const std::vector<std::string> expected =
        Differing(local, remote, kFullRing);
    ASSERT_EQ(expected.size(), static_cast<size_t>(k));  // Diverge's own check

    Exchange ex(kFullRing);
    Drive(ex, local, remote, kFullRing);
    ASSERT_TRUE(ex.done());
    EXPECT_FALSE(ex.failed());
    EXPECT_EQ(ex.differing(), expected);
    stats[k] = ex.stats();
  }
  // One differing key: one differing branch per level of a 2^20-segment,
  // fanout-16 descent (1 + 5 levels of 16 siblings), then one listing.
  EXPECT_EQ(stats[1].ranges_hashed, 1u + 5 * 16);
  EXPECT_EQ(stats[1].hash_requests, 6u);
  EXPECT_EQ(stats[1].key_requests, 1u);
  EXPECT_LT(stats[1].bytes * 100, listing_all);
  // Shared upper levels make each further difference cheaper...
  EXPECT_LT(stats[10].bytes, 10 * stats[1].bytes);
  EXPECT_LT(stats[100].bytes, 100 * stats[1].bytes);
  EXPECT_LT(stats[1000].bytes, 1000 * stats[1].bytes);
  // ...and even 1% of the keys differing costs far less than listing all.
  EXPECT_LT(stats[1000].bytes * 2, listing_all);
  EXPECT_LT(stats[1].bytes, stats[10].bytes);
  EXPECT_LT(stats[10].bytes, stats[100].bytes);
  EXPECT_LT(stats[100].bytes, stats[1000].bytes);
}

TEST(ExchangeTest, ComparesOnlyInsidePartialDisjointAndWrappedRanges) {
  Replica local = MakeBase(kKeys);
  Replica remote = local;
  Diverge(local, remote, kKeys, 1000, /*seed=*/7);
  const PositionRange a{0x1234'5678'9abc'def0, 0x1a00'0000'0000'0007};
  const PositionRange b{0x8000'0000'0000'0001, 0x8fff'ffff'ffff'fffe};
  // One range across the top of the ring, given as two.
  const PositionRange wrap_hi{0xf000'0000'0000'0003, kTop};
  const PositionRange wrap_lo{0, 0x0100'0000'0000'0005};
  const std::vector<PositionRange> shared = {b, wrap_lo, a, wrap_hi};
  // Differences right at each unaligned boundary, and one position past it.
  for (const PositionRange& r : {a, b}) {
    local.Put(r.from, absl::StrCat("in-", r.from), 1);
    local.Put(r.from - 1, absl::StrCat("out-", r.from - 1), 1);
    remote.Put(r.to, absl::StrCat("in-", r.to), 1);
    remote.Put(r.to + 1, absl::StrCat("out-", r.to + 1), 1);
  }
  const std::vector<std::string> expected = Differing(local, remote, shared);
  ASSERT_GT(expected.size(), 10u);
  ASSERT_LT(expected.size(), Differing(local, remote, kFullRing).size());

  Exchange ex(shared);
  Drive(ex, local, remote, shared);
  ASSERT_TRUE(ex.done());
  EXPECT_FALSE(ex.failed());
  EXPECT_EQ(ex.differing(), expected);
  for (const std::string& key : ex.differing()) {
    EXPECT_NE(key.substr(0, 4), "out-") << key;
  }
  EXPECT_EQ(std::count_if(ex.differing().begin(), ex.differing().end(),
                          [](auto& k) { return k.substr(0, 3) == "in-"; }),
            4);
  // Both ends of the wrapped range were compared.
  EXPECT_TRUE(std::binary_search(ex.differing().begin(), ex.differing().end(),
                                 "edge-lo"));
}

TEST(ExchangeTest, InterruptedExchangeReportsASubsetAndARestartFindsAll) {
  Replica local = MakeBase(kKeys);
  Replica remote = local;
  Diverge(local, remote, kKeys, 1000, /*seed=*/11);
  const std::vector<std::string> expected =
      Differing(local, remote, kFullRing);

  ExchangeOptions options;
  options.max_ranges_per_request = 64;
  options.max_key_ranges_per_request = 64;
  Exchange cut(kFullRing, options);
  // Stop as soon as anything has been reported.
  for (int i = 0; i < kMaxRequests && cut.differing().empty(); ++i) {
    std::optional<Exchange::Request> request = cut.Next();
    ASSERT_TRUE(request.has_value());
    Answer(local, remote, *request, cut);
  }
  EXPECT_FALSE(cut.done());
  EXPECT_FALSE(cut.failed());
  EXPECT_FALSE(cut.differing().empty());
  EXPECT_LT(cut.differing().size(), expected.size());
  EXPECT_TRUE(std::is_sorted(cut.differing().begin(), cut.differing().end()));
  EXPECT_TRUE(std::includes(expected.begin(), expected.end(),
                            cut.differing().begin(), cut.differing().end()));

  Exchange again(kFullRing, options);
  Drive(again, local, remote, kFullRing, options.max_ranges_per_request);
  ASSERT_TRUE(again.done());
  EXPECT_EQ(again.differing(), expected);
}

TEST(ExchangeTest, ChangesAfterTheFirstRoundAreAllSeen) {
  Replica local = MakeBase(kKeys);
  Replica remote = local;
  Diverge(local, remote, kKeys, 100, /*seed=*/13);
  const std::vector<std::string> before = Differing(local, remote, kFullRing);

  Exchange ex(kFullRing);
  Drive(ex, local, remote, kFullRing, 256, [&](int round) {
    if (round != 1) return;
    // Repair one difference, create two new ones, change a key on both.
    local.Put(0, "edge-lo", 100);
    remote.Put(BasePosition(kKeys - 1), BaseKey(kKeys - 1), 12345);
    local.Put(BasePosition(kKeys - 2), "late", 1);
    local.Put(BasePosition(kKeys - 3), BaseKey(kKeys - 3), 5);
    remote.Put(BasePosition(kKeys - 3), BaseKey(kKeys - 3), 5);
  });
  ASSERT_TRUE(ex.done());
  EXPECT_FALSE(ex.failed());
  // The first round only learned that the whole ring differs, so no branch
  // was pruned before the change: the result is exactly the final state's.
  const std::vector<std::string> after = Differing(local, remote, kFullRing);
  ASSERT_NE(after, before);
  EXPECT_EQ(ex.differing(), after);
}

TEST(ExchangeTest, ChurnDuringTheExchangeTerminatesAndReportsOnlyRealDiffs) {
  constexpr int kSmall = 20000;
  Replica local = MakeBase(kSmall);
  Replica remote = local;
  Diverge(local, remote, kSmall, 200, /*seed=*/17);
  const std::vector<std::string> initial = Differing(local, remote, kFullRing);

  // Every state the replicas pass through: a reported key must differ in
  // one of them (the one its range was listed in).
  std::set<std::string> ever(initial.begin(), initial.end());
  std::set<std::string> touched;
  std::mt19937_64 rng(99);
  ExchangeOptions options;
  options.max_ranges_per_request = 32;  // more rounds, so more churn
  options.max_key_ranges_per_request = 32;
  Exchange ex(kFullRing, options);
  const int requests = Drive(
      ex, local, remote, kFullRing, options.max_ranges_per_request,
      [&](int) {
        for (int c = 0; c < 5; ++c) {
          int i = static_cast<int>(rng() % kSmall);
          touched.insert(BaseKey(i));
          Replica& side = rng() % 2 ? local : remote;
          switch (rng() % 3) {
            case 0:
              side.Put(BasePosition(i), BaseKey(i), rng());
              break;
            case 1:
              side.Erase(BasePosition(i), BaseKey(i));
              break;
            case 2:  // a repair: both sides agree again
              if (auto d = local.Get(BasePosition(i), BaseKey(i))) {
                remote.Put(BasePosition(i), BaseKey(i), *d);
              } else {
                remote.Erase(BasePosition(i), BaseKey(i));
              }
              break;
          }
          // Only the key just changed can have started to differ.
          if (local.Get(BasePosition(i), BaseKey(i)) !=
              remote.Get(BasePosition(i), BaseKey(i))) {
            ever.insert(BaseKey(i));
          }
        }
      });
  ASSERT_TRUE(ex.done());
  EXPECT_FALSE(ex.failed());
  EXPECT_LT(requests, 1000);
  for (const std::string& key : ex.differing()) {
    EXPECT_TRUE(ever.count(key)) << key << " never differed";
  }
  // Differences churn never touched keep their branches differing
  // throughout, so none of them can be missed.
  for (const std::string& key : initial) {
    if (touched.count(key)) continue;
    EXPECT_TRUE(std::binary_search(ex.differing().begin(),
                                   ex.differing().end(), key))
        << key << " missed";
  }
}

TEST(ExchangeTest, PeerWhoseHashesAlwaysDifferCannotStallIt) {
  ExchangeOptions options;
  options.segment_bits = 8;
  options.fanout = 16;
  Exchange ex(kFullRing, options);
  std::mt19937_64 rng(5);
  int requests = 0;
  while (!ex.done() && requests < kMaxRequests) {
    std::optional<Exchange::Request> request = ex.Next();
    ASSERT_TRUE(request.has_value());
    ++requests;
    if (request->kind == Exchange::Request::Kind::kHashes) {
      std::vector<uint64_t> remote;
      for (size_t i = 0; i < request->ranges.size(); ++i) {
        remote.push_back(rng() | 1);
      }
      ex.OnHashes(std::vector<uint64_t>(request->ranges.size(), 0), remote);
    } else {
      ex.OnKeys({}, {});
    }
  }
  ASSERT_TRUE(ex.done());
  EXPECT_FALSE(ex.failed());
  EXPECT_TRUE(ex.differing().empty());
  // The descent is bounded by the tree: 1 + 16 + 256 ranges hashed, the
  // 256 segments listed once each, 16 to a key request.
  EXPECT_EQ(ex.stats().ranges_hashed, 1u + 16 + 256);
  EXPECT_EQ(ex.stats().key_requests,
            256u / ExchangeOptions().max_key_ranges_per_request);
}

TEST(ExchangeTest, EmptySharedRangesAreDoneAtOnce) {
  Exchange ex({});
  EXPECT_TRUE(ex.done());
  EXPECT_FALSE(ex.failed());
  EXPECT_FALSE(ex.Next().has_value());
  EXPECT_TRUE(ex.differing().empty());
  EXPECT_EQ(ex.stats().bytes, 0u);
}

TEST(ExchangeTest, RequestsCarryOneKindAndAtMostTheLimit) {
  Replica local = MakeBase(kKeys);
  Replica remote = local;
  Diverge(local, remote, kKeys, 300, /*seed=*/3);
  ExchangeOptions options;
  options.max_ranges_per_request = 10;
  options.max_key_ranges_per_request = 10;
  Exchange ex(kFullRing, options);
  // Drive checks every request against the limit.
  Drive(ex, local, remote, kFullRing, 10);
  ASSERT_TRUE(ex.done());
  EXPECT_EQ(ex.differing(), Differing(local, remote, kFullRing));
  EXPECT_GE(ex.stats().key_requests, 30u);
}

TEST(ExchangeTest, WrongSizeHashAnswersFail) {
  for (int side = 0; side < 2; ++side) {
    SCOPED_TRACE(side == 0 ? "local short" : "remote long");
    Exchange ex({{0, 100}, {200, 300}});
    std::optional<Exchange::Request> request = ex.Next();
    ASSERT_TRUE(request.has_value());
    ASSERT_EQ(request->ranges.size(), 2u);
    if (side == 0) {
      ex.OnHashes({1}, {1, 2});
    } else {
      ex.OnHashes({1, 2}, {1, 2, 3});
    }
    EXPECT_TRUE(ex.failed());
    EXPECT_TRUE(ex.done());
    EXPECT_FALSE(ex.Next().has_value());
    // Later answers change nothing.
    ex.OnHashes({1, 2}, {3, 4});
    ex.OnKeys({{"a", 1}}, {});
    EXPECT_TRUE(ex.failed());
    EXPECT_TRUE(ex.differing().empty());
  }
}

TEST(ExchangeTest, AnswersNobodyAskedForFail) {
  {
    Exchange ex(kFullRing);
    ex.OnKeys({{"a", 1}}, {});  // before any request
    EXPECT_TRUE(ex.failed());
    EXPECT_TRUE(ex.done());
    EXPECT_TRUE(ex.differing().empty());
  }
  {
    Exchange ex(kFullRing);
    ex.OnHashes({}, {});  // before any request
    EXPECT_TRUE(ex.failed());
  }
  {
    Exchange ex(kFullRing);
    ASSERT_TRUE(ex.Next().has_value());  // kHashes
    ex.OnKeys({{"a", 1}}, {{"a", 2}});   // answer of the wrong kind
    EXPECT_TRUE(ex.failed());
    EXPECT_TRUE(ex.differing().empty());
  }
  {
    Exchange ex(kFullRing);
    ASSERT_TRUE(ex.Next().has_value());
    ex.OnHashes({1}, {2});
    EXPECT_FALSE(ex.failed());
    ex.OnHashes({1}, {2});  // the same answer twice
    EXPECT_TRUE(ex.failed());
  }
  {
    Exchange ex(kFullRing);
    ASSERT_TRUE(ex.Next().has_value());
    ex.OnHashes({7}, {7});
    ASSERT_TRUE(ex.done());
    EXPECT_FALSE(ex.failed());
    ex.OnKeys({}, {});  // after the end
    EXPECT_TRUE(ex.failed());
  }
}

TEST(ExchangeTest, DuplicateKeysInAnswersAreHandled) {
  // One range inside one segment: hashed first, listed once it differs.
  Exchange ex({{1000, 2000}});
  std::optional<Exchange::Request> request = ex.Next();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->kind, Exchange::Request::Kind::kHashes);
  ex.OnHashes({1}, {2});
  request = ex.Next();
  ASSERT_TRUE(request.has_value());
  ASSERT_EQ(request->kind, Exchange::Request::Kind::kKeys);
  EXPECT_EQ(request->ranges, (std::vector<PositionRange>{{1000, 2000}}));
  // The conflicting digests come last-equal on purpose: whichever digest a
  // side names last, it matches the other side's.
  ex.OnKeys({{"c", 3}, {"a", 1}, {"e", 6}, {"b", 2}, {"a", 1}, {"e", 5}},
            {{"b", 2}, {"a", 1}, {"e", 5}, {"b", 2}, {"c", 4}, {"c", 3},
             {"d", 5}});
  ASSERT_TRUE(ex.done());
  EXPECT_FALSE(ex.failed());
  // a, b: repeated with the same digest, equal; c, e: two digests on one
  // side; d: one side only.
  EXPECT_EQ(ex.differing(), (std::vector<std::string>{"c", "d", "e"}));
  EXPECT_EQ(ex.stats().keys_compared, 5u);
  // Requests 16 + 16, hashes 2 * 8, 13 one-byte keys with digests 13 * 9.
  EXPECT_EQ(ex.stats().bytes, 16u + 16 + 16 + 13 * 9);
}

TEST(ExchangeTest, AKeyNamedInTwoListingsIsReportedOnce) {
  // Two single-segment ranges, one per request: a peer that names the same
  // key in both answers (outside the range asked for, or because the key
  // moved) must not make it appear twice.
  ExchangeOptions options;
  options.max_ranges_per_request = 1;
  options.max_key_ranges_per_request = 1;
  Exchange ex({{1000, 2000}, {kTop - 100, kTop}}, options);
  int listings = 0;
  for (int i = 0; i < 10 && !ex.done(); ++i) {
    std::optional<Exchange::Request> request = ex.Next();
    ASSERT_TRUE(request.has_value());
    if (request->kind == Exchange::Request::Kind::kHashes) {
      ex.OnHashes({1}, {2});
    } else {
      ++listings;
      const uint64_t y = static_cast<uint64_t>(listings);
      ex.OnKeys({{"x", 1}, {"y", y}}, {{"x", 2}});
    }
  }
  ASSERT_TRUE(ex.done());
  EXPECT_FALSE(ex.failed());
  EXPECT_EQ(listings, 2);
  EXPECT_EQ(ex.differing(), (std::vector<std::string>{"x", "y"}));
}

TEST(ExchangeTest, ReversedRangeIsTakenAsAWrap) {
  Replica local;
  Replica remote;
  local.Put(kTop - 5, "top", 1);
  local.Put(5, "bottom", 1);
  local.Put(20, "outside", 1);
  Exchange ex({{kTop - 10, 10}});
  const std::vector<PositionRange> halves = {{kTop - 10, kTop}, {0, 10}};
  Drive(ex, local, remote, halves);
  ASSERT_TRUE(ex.done());
  EXPECT_EQ(ex.differing(), (std::vector<std::string>{"bottom", "top"}));
}

TEST(ExchangeTest, OutOfRangeOptionsStillFindEverything) {
  constexpr int kSmall = 2000;
  Replica local = MakeBase(kSmall);
  Replica remote = local;
  Diverge(local, remote, kSmall, 10, /*seed=*/21);
  const std::vector<std::string> expected =
      Differing(local, remote, kFullRing);
  struct Case {
    int bits;
    int fanout;
    uint64_t leaf;
    size_t max_ranges;
  };
  for (const Case& c : std::vector<Case>{{64, 0, 0, 0},
                                         {99, 1, 1, 4},
                                         {-3, 16, 1, 256},
                                         {0, 16, 0, 256},
                                         {1, 2, 1, 1},
                                         {8, 100, 4, 7}}) {
    SCOPED_TRACE(absl::StrCat("bits=", c.bits, " fanout=", c.fanout,
                              " leaf=", c.leaf, " max=", c.max_ranges));
    ExchangeOptions options{c.bits, c.fanout, c.leaf, c.max_ranges};
    Exchange ex(kFullRing, options);
    Drive(ex, local, remote, kFullRing, std::max<size_t>(c.max_ranges, 1));
    ASSERT_TRUE(ex.done());
    EXPECT_FALSE(ex.failed());
    EXPECT_EQ(ex.differing(), expected);
  }
}

// SplitRange and SegmentsSpanned.

uint64_t Seg(uint64_t s, int bits) { return s << (64 - bits); }

TEST(SplitRangeTest, FullRingSplitsIntoEqualAlignedParts) {
  for (int bits : {20, 64}) {
    SCOPED_TRACE(bits);
    std::vector<PositionRange> parts = SplitRange({0, kTop}, bits, 16);
    ASSERT_EQ(parts.size(), 16u);
    for (uint64_t i = 0; i < 16; ++i) {
      EXPECT_EQ(parts[i].from, i << 60);
      EXPECT_EQ(parts[i].to, (i << 60) + ((uint64_t{1} << 60) - 1));
    }
    EXPECT_EQ(parts.back().to, kTop);
  }
  EXPECT_EQ(SplitRange({0, kTop}, 1, 16),
            (std::vector<PositionRange>{{0, (uint64_t{1} << 63) - 1},
                                        {uint64_t{1} << 63, kTop}}));
  // fanout below 2 would never make progress; it is taken as 2.
  EXPECT_EQ(SplitRange({0, kTop}, 20, 1).size(), 2u);
  EXPECT_EQ(SplitRange({0, kTop}, 20, -5).size(), 2u);
}

TEST(SplitRangeTest, FewerSegmentsThanFanoutGiveOnePartEach) {
  const int bits = 20;
  const PositionRange r{Seg(5, bits) + 100, Seg(7, bits) + 3};
  EXPECT_EQ(SplitRange(r, bits, 16),
            (std::vector<PositionRange>{{r.from, Seg(6, bits) - 1},
                                        {Seg(6, bits), Seg(7, bits) - 1},
                                        {Seg(7, bits), r.to}}));
}

TEST(SplitRangeTest, SingleSegmentStaysWhole) {
  const int bits = 20;
  for (const PositionRange& r :
       {PositionRange{Seg(9, bits), Seg(10, bits) - 1},
        PositionRange{Seg(9, bits) + 7, Seg(9, bits) + 8},
        PositionRange{42, 42}, PositionRange{kTop, kTop},
        PositionRange{kTop - 5, kTop}}) {
    EXPECT_EQ(SplitRange(r, bits, 16), std::vector<PositionRange>{r});
    EXPECT_EQ(SegmentsSpanned(r, bits), 1u);
  }
}

TEST(SplitRangeTest, TopOfTheRing) {
  const int bits = 20;
  const uint64_t segments = uint64_t{1} << bits;
  // 17 segments into 16 parts: the first takes two.
  const PositionRange r{Seg(segments - 17, bits) + 1, kTop};
  std::vector<PositionRange> parts = SplitRange(r, bits, 16);
  ASSERT_EQ(parts.size(), 16u);
  EXPECT_EQ(parts[0], (PositionRange{r.from, Seg(segments - 15, bits) - 1}));
  EXPECT_EQ(parts[15], (PositionRange{Seg(segments - 1, bits), kTop}));
  // Every position its own segment.
  EXPECT_EQ(SplitRange({kTop - 9, kTop}, 64, 4),
            (std::vector<PositionRange>{{kTop - 9, kTop - 7},
                                        {kTop - 6, kTop - 4},
                                        {kTop - 3, kTop - 2},
                                        {kTop - 1, kTop}}));
}

TEST(SplitRangeTest, SegmentsSpanned) {
  EXPECT_EQ(SegmentsSpanned({0, kTop}, 20), uint64_t{1} << 20);
  EXPECT_EQ(SegmentsSpanned({0, kTop}, 1), 2u);
  EXPECT_EQ(SegmentsSpanned({0, kTop}, 0), 1u);
  // 2^64 does not fit: saturates.
  EXPECT_EQ(SegmentsSpanned({0, kTop}, 64), kTop);
  EXPECT_EQ(SegmentsSpanned({Seg(3, 20) - 1, Seg(3, 20)}, 20), 2u);
  EXPECT_EQ(SegmentsSpanned({Seg(3, 20), Seg(4, 20) - 1}, 20), 1u);
  EXPECT_EQ(SegmentsSpanned({kTop - 1, kTop}, 64), 2u);
  EXPECT_EQ(SegmentsSpanned({5, 4}, 20), 0u);  // not a range
  EXPECT_TRUE(SplitRange({5, 4}, 20, 16).empty());
}

// Checks every property SplitRange promises for one input.
void CheckSplit(const PositionRange& r, int bits, int fanout) {
  SCOPED_TRACE(absl::StrCat("r=", r.from, "..", r.to, " bits=", bits,
                            " fanout=", fanout));
  const std::vector<PositionRange> parts = SplitRange(r, bits, fanout);
  const uint64_t spanned = SegmentsSpanned(r, bits);
  ASSERT_FALSE(parts.empty());
  EXPECT_EQ(parts.size(), std::min<uint64_t>(spanned, fanout));
  EXPECT_EQ(parts.front().from, r.from);
  EXPECT_EQ(parts.back().to, r.to);
  const uint64_t mask = bits == 64 ? 0 : (uint64_t{1} << (64 - bits)) - 1;
  uint64_t total = 0;
  uint64_t smallest = kTop;
  uint64_t largest = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    ASSERT_LE(parts[i].from, parts[i].to);
    if (i > 0) {
      ASSERT_NE(parts[i - 1].to, kTop);
      EXPECT_EQ(parts[i].from, parts[i - 1].to + 1);  // no gap, no overlap
      EXPECT_EQ(parts[i].from & mask, 0u);            // on a segment start
    }
    const uint64_t s = SegmentsSpanned(parts[i], bits);
    total += s;
    smallest = std::min(smallest, s);
    largest = std::max(largest, s);
  }
  // Internal cuts on segment starts: no segment is counted twice.
  EXPECT_EQ(total, spanned);
  EXPECT_LE(largest - smallest, 1u);  // dealt out evenly
}

TEST(SplitRangeTest, RandomRangesAreCoveredExactly) {
  std::mt19937_64 rng(2024);
  for (int bits : {1, 4, 8, 20, 32}) {
    const uint64_t width = uint64_t{1} << (64 - bits);  // of one segment
    for (int i = 0; i < 3000; ++i) {
      uint64_t a = rng();
      uint64_t b = rng();
      switch (i % 6) {
        case 0:  // anywhere
          break;
        case 1:  // a few segments
          b = a + rng() % (width * 5);
          break;
        case 2:  // ends at the top of the ring
          b = kTop;
          break;
        case 3:  // starts at position 0
          a = 0;
          break;
        case 4:  // segment aligned
          a &= ~(width - 1);
          b = (b & ~(width - 1)) + (width - 1);
          break;
        case 5:  // tiny
          b = a + rng() % 3;
          break;
      }
      if (b < a) std::swap(a, b);
      for (int fanout : {2, 3, 16, 17, 64}) CheckSplit({a, b}, bits, fanout);
    }
  }
}

}  // namespace
}  // namespace rumor::server
