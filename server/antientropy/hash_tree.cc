#include "server/antientropy/hash_tree.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/log.h"

namespace rumor::server {

namespace {
// How finely Build and Verify cut the ring (at most): each piece's scan
// holds writes off.
constexpr int kBuildPieceBits = 12;
// Seed of ObjectHash: unrelated to the ring position's hash.
constexpr uint64_t kObjectSeed = 0x616165747265650aULL;
}  // namespace

HashTree::HashTree(int segment_bits)
    : bits_(std::clamp(segment_bits, 1, 28)),
      shift_(64 - bits_),
      cells_size_((size_t{1} << bits_) + 1),
      cells_(new std::atomic<uint64_t>[cells_size_]) {
  for (size_t i = 0; i < cells_size_; ++i) {
    cells_[i].store(0, std::memory_order_relaxed);
  }
}

uint64_t HashTree::ObjectHash(std::string_view key, std::string_view encoded) {
  if (encoded.empty()) return 0;
  // The key's hash seeded with the object's: equal objects under different
  // keys, or the same key with different objects, hash apart.
  uint64_t h = Hash64(key, Hash64(encoded, kObjectSeed));
  return h == 0 ? 1 : h;  // 0 stands for "no object"
}

void HashTree::Apply(uint64_t position, uint64_t delta) {
  if (delta == 0) return;
  for (uint64_t i = SegmentOf(position) + 1; i < cells_size_; i += i & (~i + 1)) {
    cells_[i].fetch_xor(delta, std::memory_order_relaxed);
  }
}

void HashTree::ObjectChanged(uint64_t position, std::string_view key,
                             std::string_view before, std::string_view after) {
  // Runs under the key's stripe lock; Build moves built_below_ only while
  // it holds every stripe, so this read is exact.
  if (!ready_.load(std::memory_order_acquire) &&
      position >= built_below_.load(std::memory_order_acquire)) {
    return;
  }
  Apply(position, ObjectHash(key, before) ^ ObjectHash(key, after));
}

uint64_t HashTree::Prefix(uint64_t segment) const {
  uint64_t h = 0;
  for (uint64_t i = segment + 1; i > 0; i -= i & (~i + 1)) {
    h ^= cells_[i].load(std::memory_order_relaxed);
  }
  return h;
}

uint64_t HashTree::SegmentsHash(uint64_t first, uint64_t last) const {
  if (first > last || first >= segments()) return 0;
  last = std::min(last, segments() - 1);
  uint64_t h = Prefix(last);
  if (first > 0) h ^= Prefix(first - 1);
  return h;
}

int HashTree::PieceBits() const { return std::min(kBuildPieceBits, bits_); }

PositionRange HashTree::PieceRange(uint64_t piece) const {
  const int shift = 64 - PieceBits();
  const bool last = piece + 1 == uint64_t{1} << PieceBits();
  return {piece << shift, last ? ~uint64_t{0} : ((piece + 1) << shift) - 1};
}

absl::Status HashTree::Build(
    storage::ObjectStore* store,
    absl::FunctionRef<void(double, uint64_t)> progress,
    const std::atomic<bool>* stop, const EachObject& each) {
  const int piece_bits = PieceBits();
  const uint64_t pieces = uint64_t{1} << piece_bits;
  uint64_t keys = 0;
  for (uint64_t piece = 0; piece < pieces; ++piece) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      return absl::CancelledError("hash tree build stopped");
    }
    const PositionRange range = PieceRange(piece);
    const uint64_t from = range.from, to = range.to;
    absl::Status s = store->ScanPositionsExclusive(
        from, to,
        [&](std::string_view key, std::string_view object) {
          Apply(RingPosition(key), ObjectHash(key, object));
          if (each) each(key, object);
          ++keys;
          return true;
        },
        [&] {
          if (piece + 1 == pieces) {
            ready_.store(true, std::memory_order_release);
          } else {
            built_below_.store(to + 1, std::memory_order_release);
          }
        });
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("building the hash tree: ",
                                                 s.message()));
    }
    if (pieces < 64 || (piece + 1) % (pieces / 64) == 0) {
      progress(static_cast<double>(piece + 1) / pieces, keys);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<HashTree::VerifyResult> HashTree::Verify(
    storage::ObjectStore* store, uint64_t first_piece, uint64_t count,
    const EachObject& each) {
  if (!ready()) {
    return absl::FailedPreconditionError("the hash tree is not built yet");
  }
  const int piece_bits = PieceBits();
  const uint64_t pieces = uint64_t{1} << piece_bits;
  const uint64_t per_piece = uint64_t{1} << (bits_ - piece_bits);
  std::vector<uint64_t> fresh(per_piece);
  VerifyResult result;
  for (uint64_t piece = first_piece;
       piece < pieces && piece - first_piece < count; ++piece) {
    const PositionRange range = PieceRange(piece);
    const uint64_t from = range.from, to = range.to;
    const uint64_t first = SegmentOf(from);
    std::fill(fresh.begin(), fresh.end(), 0);
    // First without holding writes off: on a snapshot, compared with the
    // tree as it is now. A segment written meanwhile may look different;
    // only those are compared again, each with its writes held off.
    absl::Status s = store->ScanPositions(
        from, to, [&](std::string_view key, std::string_view object) {
          fresh[SegmentOf(RingPosition(key)) - first] ^=
              ObjectHash(key, object);
          if (each) each(key, object);
          ++result.keys;
          return true;
        });
    for (uint64_t i = 0; s.ok() && i < per_piece; ++i) {
      if (SegmentsHash(first + i, first + i) == fresh[i]) continue;
      uint64_t seg_from = SegmentStart(first + i);
      uint64_t seg_to = first + i + 1 == segments()
                            ? ~uint64_t{0}
                            : SegmentStart(first + i + 1) - 1;
      uint64_t exact = 0;
      s = store->ScanPositionsExclusive(
          seg_from, seg_to,
          [&](std::string_view key, std::string_view object) {
            exact ^= ObjectHash(key, object);
            return true;
          },
          [&] {
            uint64_t live = SegmentsHash(first + i, first + i);
            if (live != exact) {
              ++result.differing;
              Apply(seg_from, live ^ exact);
            }
          });
    }
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("checking the hash tree: ",
                                                 s.message()));
    }
  }
  return result;
}

absl::StatusOr<uint64_t> RangeHash(const HashTree& tree,
                                   storage::ObjectStore* store,
                                   const PositionRange& r) {
  if (r.from > r.to) return uint64_t{0};
  uint64_t first = tree.SegmentOf(r.from);
  uint64_t last = tree.SegmentOf(r.to);
  // Whole segments: those r covers from start to end.
  uint64_t whole_first = tree.SegmentStart(first) == r.from ? first : first + 1;
  bool last_whole = last + 1 == tree.segments()
                        ? r.to == ~uint64_t{0}
                        : tree.SegmentStart(last + 1) - 1 == r.to;
  uint64_t h = 0;
  // The positions outside whole segments, scanned: at most two pieces,
  // each within one segment.
  auto scan = [&](uint64_t from, uint64_t to) -> absl::Status {
    return store->ScanPositions(
        from, to, [&](std::string_view key, std::string_view object) {
          h ^= HashTree::ObjectHash(key, object);
          return true;
        });
  };
  if (first == last && (whole_first != first || !last_whole)) {
    // Within one segment, not all of it.
    absl::Status s = scan(r.from, r.to);
    if (!s.ok()) return s;
    return h;
  }
  if (whole_first != first) {
    absl::Status s = scan(r.from, tree.SegmentStart(first + 1) - 1);
    if (!s.ok()) return s;
  }
  uint64_t whole_last = last;
  if (!last_whole) {
    absl::Status s = scan(tree.SegmentStart(last), r.to);
    if (!s.ok()) return s;
    if (last == 0) return h;
    whole_last = last - 1;
  }
  if (whole_first <= whole_last) h ^= tree.SegmentsHash(whole_first, whole_last);
  return h;
}

absl::Status ListKeys(storage::ObjectStore* store, const PositionRange& r,
                      size_t limit, std::vector<KeyDigest>* out,
                      size_t max_key_bytes) {
  absl::Status over;
  size_t bytes = 0;
  for (const KeyDigest& k : *out) bytes += k.key.size();
  absl::Status s = store->ScanPositions(
      r.from, r.to, [&](std::string_view key, std::string_view object) {
        bytes += key.size();
        if (out->size() >= limit || bytes > max_key_bytes) {
          over = absl::ResourceExhaustedError(absl::StrCat(
              "more than ", limit, " keys or ", max_key_bytes,
              " bytes of keys to list (positions ", r.from, "..", r.to,
              ")"));
          return false;
        }
        out->push_back({std::string(key), HashTree::ObjectHash(key, object)});
        return true;
      });
  if (!s.ok()) return s;
  return over;
}

}  // namespace rumor::server
