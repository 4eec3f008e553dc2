#include "storage/dvv.h"

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/hash.h"
#include "common/strings.h"

namespace rumor::storage {
namespace {

constexpr uint8_t kContextFormat = 1;
constexpr uint8_t kObjectFormat = 1;
constexpr uint8_t kKindValue = 0;
constexpr uint8_t kKindTombstone = 1;

uint32_t Checksum32(std::string_view bytes) {
  return static_cast<uint32_t>(Hash64(bytes, /*seed=*/0x72756d6f72));
}

absl::Status BadContext(std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "context is not a valid causal context (", AsAbsl(why),
      "); pass the context returned by get unchanged, or none"));
}

absl::Status Corrupt(std::string_view why) {
  return absl::DataLossError(absl::StrCat("corrupt stored object: ", AsAbsl(why)));
}

// Merge of one actor's history from two sets (see the header's invariant):
// the result keeps the dots above both sides' discarded prefixes.
void MergeEntry(DvvSet::Entry* mine, const DvvSet::Entry& theirs) {
  const uint64_t n1 = mine->counter, l1 = mine->values.size();
  const uint64_t n2 = theirs.counter, l2 = theirs.values.size();
  if (n1 >= n2) {
    mine->values.resize(std::min(l1, n1 - n2 + l2));
  } else {
    std::vector<Sibling> values(
        theirs.values.begin(),
        theirs.values.begin() + std::min(l2, n2 - n1 + l1));
    mine->values = std::move(values);
    mine->counter = n2;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// VersionVector

uint64_t VersionVector::Get(ActorId actor) const {
  auto it = std::lower_bound(
      entries_.cbegin(), entries_.cend(), actor,
      [](const auto& e, ActorId a) { return e.first < a; });
  return (it != entries_.end() && it->first == actor) ? it->second : 0;
}

void VersionVector::Set(ActorId actor, uint64_t counter) {
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), actor,
      [](const auto& e, ActorId a) { return e.first < a; });
  if (it != entries_.end() && it->first == actor) {
    if (counter == 0) {
      entries_.erase(it);
    } else {
      it->second = counter;
    }
  } else if (counter != 0) {
    entries_.insert(it, {actor, counter});
  }
}

void VersionVector::Merge(const VersionVector& other) {
  std::vector<std::pair<ActorId, uint64_t>> out;
  out.reserve(entries_.size() + other.entries_.size());
  auto a = entries_.cbegin();
  auto b = other.entries_.cbegin();
  while (a != entries_.cend() || b != other.entries_.cend()) {
    if (b == other.entries_.cend() ||
        (a != entries_.cend() && a->first < b->first)) {
      out.push_back(*a++);
    } else if (a == entries_.end() || b->first < a->first) {
      out.push_back(*b++);
    } else {
      out.push_back({a->first, std::max(a->second, b->second)});
      ++a, ++b;
    }
  }
  entries_ = std::move(out);
}

bool VersionVector::Descends(const VersionVector& other) const {
  for (const auto& [actor, counter] : other.entries_) {
    if (Get(actor) < counter) return false;
  }
  return true;
}

std::string VersionVector::Encode() const {
  if (entries_.empty()) return {};
  std::string out;
  out.push_back(static_cast<char>(kContextFormat));
  PutVarint64(&out, entries_.size());
  for (const auto& [actor, counter] : entries_) {
    PutFixed64BE(&out, actor);
    PutVarint64(&out, counter);
  }
  uint32_t sum = Checksum32(out);
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(sum >> (8 * i)));
  return out;
}

absl::StatusOr<VersionVector> VersionVector::Decode(std::string_view bytes) {
  VersionVector vv;
  if (bytes.empty()) return vv;
  if (bytes.size() < 1 + 1 + 4) return BadContext("too short");
  std::string_view body = bytes.substr(0, bytes.size() - 4);
  uint32_t sum = 0;
  for (size_t i = bytes.size() - 4; i < bytes.size(); ++i) {
    sum = (sum << 8) | static_cast<uint8_t>(bytes[i]);
  }
  if (sum != Checksum32(body)) return BadContext("checksum mismatch");
  if (static_cast<uint8_t>(body[0]) != kContextFormat) {
    return BadContext("unknown format version");
  }
  body.remove_prefix(1);
  uint64_t n;
  if (!GetVarint64(&body, &n)) return BadContext("truncated");
  if (n == 0 || n > kMaxContextActors) {
    return BadContext(absl::StrCat("has ", n, " actors; the limit is ",
                                   kMaxContextActors));
  }
  vv.entries_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t actor, counter;
    if (!GetFixed64BE(&body, &actor) || !GetVarint64(&body, &counter)) {
      return BadContext("truncated");
    }
    if (counter == 0) return BadContext("zero counter");
    if (!vv.entries_.empty() && vv.entries_.back().first >= actor) {
      return BadContext("actors out of order");
    }
    vv.entries_.push_back({actor, counter});
  }
  if (!body.empty()) return BadContext("trailing bytes");
  return vv;
}

// ---------------------------------------------------------------------------
// DvvSet

DvvSet::Entry* DvvSet::FindOrInsert(ActorId actor) {
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), actor,
      [](const Entry& e, ActorId a) { return e.actor < a; });
  if (it == entries_.end() || it->actor != actor) {
    it = entries_.insert(it, Entry{actor, 0, {}});
  }
  return &*it;
}

void DvvSet::Discard(const VersionVector& context) {
  for (const auto& [actor, counter] : context.entries()) {
    Entry* e = FindOrInsert(actor);
    // A context entry is a history with no values: merging it drops every
    // value it covers and raises the counter to at least its own.
    MergeEntry(e, Entry{actor, counter, {}});
  }
}

absl::StatusOr<uint64_t> DvvSet::Update(const VersionVector& context,
                                        Sibling value, ActorId actor) {
  if (context.Get(actor) == std::numeric_limits<uint64_t>::max()) {
    return absl::InvalidArgumentError(
        "context counter is at its maximum; no newer write can follow it");
  }
  Discard(context);
  Entry* e = FindOrInsert(actor);
  if (e->counter == std::numeric_limits<uint64_t>::max()) {
    return absl::InvalidArgumentError(
        "object counter is at its maximum; no newer write can follow it");
  }
  e->counter += 1;
  e->values.insert(e->values.begin(), std::move(value));
  return e->counter;
}

void DvvSet::Merge(const DvvSet& other) {
  if (&other == this) return;  // idempotent; and we move out of entries_
  std::vector<Entry> out;
  out.reserve(entries_.size() + other.entries_.size());
  auto a = entries_.begin();
  auto b = other.entries_.begin();
  while (a != entries_.cend() || b != other.entries_.cend()) {
    if (b == other.entries_.end() ||
        (a != entries_.end() && a->actor < b->actor)) {
      out.push_back(std::move(*a++));
    } else if (a == entries_.end() || b->actor < a->actor) {
      out.push_back(*b++);
    } else {
      Entry merged = std::move(*a++);
      MergeEntry(&merged, *b++);
      out.push_back(std::move(merged));
    }
  }
  entries_ = std::move(out);
}

VersionVector DvvSet::Join() const {
  VersionVector vv;
  for (const Entry& e : entries_) vv.Set(e.actor, e.counter);
  return vv;
}

std::vector<Sibling> DvvSet::Siblings() const {
  std::vector<Sibling> out;
  for (const Entry& e : entries_) {
    out.insert(out.end(), e.values.begin(), e.values.end());
  }
  return out;
}

std::vector<std::string> DvvSet::LiveValues() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) {
    for (const Sibling& s : e.values) {
      if (!s.tombstone) out.push_back(s.data);
    }
  }
  return out;
}

size_t DvvSet::SiblingCount() const {
  size_t n = 0;
  for (const Entry& e : entries_) n += e.values.size();
  return n;
}

bool DvvSet::HasLiveValue() const {
  for (const Entry& e : entries_) {
    for (const Sibling& s : e.values) {
      if (!s.tombstone) return true;
    }
  }
  return false;
}

std::string DvvSet::Encode() const {
  std::string out;
  out.push_back(static_cast<char>(kObjectFormat));
  PutVarint64(&out, entries_.size());
  for (const Entry& e : entries_) {
    PutFixed64BE(&out, e.actor);
    PutVarint64(&out, e.counter);
    PutVarint64(&out, e.values.size());
    for (const Sibling& s : e.values) {
      out.push_back(static_cast<char>(s.tombstone ? kKindTombstone : kKindValue));
      PutLengthPrefixed(&out, s.data);
    }
  }
  return out;
}

bool DvvSet::EncodedOnlyTombstones(std::string_view bytes) {
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != kObjectFormat) {
    return false;
  }
  bytes.remove_prefix(1);
  uint64_t n;
  if (!GetVarint64(&bytes, &n)) return false;
  uint64_t siblings = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t actor, counter, nvalues;
    if (!GetFixed64BE(&bytes, &actor) || !GetVarint64(&bytes, &counter) ||
        !GetVarint64(&bytes, &nvalues)) {
      return false;
    }
    for (uint64_t j = 0; j < nvalues; ++j) {
      if (bytes.empty()) return false;
      uint8_t kind = static_cast<uint8_t>(bytes[0]);
      bytes.remove_prefix(1);
      std::string_view data;
      if (kind != kKindTombstone || !GetLengthPrefixed(&bytes, &data)) {
        return false;
      }
      ++siblings;
    }
  }
  return siblings > 0 && bytes.empty();
}

absl::StatusOr<DvvSet> DvvSet::Decode(std::string_view bytes) {
  DvvSet set;
  if (bytes.empty()) return Corrupt("empty");
  if (static_cast<uint8_t>(bytes[0]) != kObjectFormat) {
    return Corrupt("unknown format version");
  }
  bytes.remove_prefix(1);
  uint64_t n;
  // Each entry takes at least 10 bytes: bounds allocation on garbage.
  if (!GetVarint64(&bytes, &n) || n > bytes.size() / 10) {
    return Corrupt("bad entry count");
  }
  set.entries_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    Entry e;
    uint64_t nvalues;
    if (!GetFixed64BE(&bytes, &e.actor) || !GetVarint64(&bytes, &e.counter) ||
        !GetVarint64(&bytes, &nvalues)) {
      return Corrupt("truncated entry");
    }
    if (e.counter == 0 || nvalues > e.counter || nvalues > bytes.size() / 2) {
      return Corrupt("bad counter or value count");
    }
    if (!set.entries_.empty() && set.entries_.back().actor >= e.actor) {
      return Corrupt("actors out of order");
    }
    e.values.reserve(nvalues);
    for (uint64_t j = 0; j < nvalues; ++j) {
      if (bytes.empty()) return Corrupt("truncated value");
      uint8_t kind = static_cast<uint8_t>(bytes[0]);
      bytes.remove_prefix(1);
      std::string_view data;
      if (kind > kKindTombstone || !GetLengthPrefixed(&bytes, &data)) {
        return Corrupt("bad value");
      }
      if (kind == kKindTombstone && !data.empty()) {
        return Corrupt("tombstone with data");
      }
      e.values.push_back(Sibling{kind == kKindTombstone, std::string(data)});
    }
    set.entries_.push_back(std::move(e));
  }
  if (!bytes.empty()) return Corrupt("trailing bytes");
  return set;
}

}  // namespace rumor::storage
