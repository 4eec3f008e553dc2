// Anti-entropy's hash tree over ring positions (TicTac AAE's idea): the
// ring is cut into 2^segment_bits fixed segments; a segment's hash is the
// XOR of ObjectHash(key, object) over its keys. XOR makes the tree
// incremental: a write XORs out the old object's hash and XORs in the new
// one, inside the key's critical section (ObjectObserver), so the tree is
// never rebuilt in steady state.
//
// Levels above the segments are a Fenwick (binary indexed) tree of XORs,
// so the hash of ANY run of segments is two prefix queries, O(segment_bits)
// reads: ranges of ownership need not align with a fixed branching.
// Cells are atomics updated with fetch_xor (XOR commutes, so concurrent
// writers need no lock); a reader racing a writer may see a hash that
// mixes before and after, which only makes an exchange look at a range
// once more.
#ifndef RUMOR_SERVER_ANTIENTROPY_HASH_TREE_H_
#define RUMOR_SERVER_ANTIENTROPY_HASH_TREE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/antientropy/exchange.h"
#include "storage/object_store.h"

namespace rumor::server {

class HashTree final : public storage::ObjectObserver {
 public:
  // segment_bits in 1..28 (2^28 segments take 2 GiB; 20, the default,
  // 8 MiB).
  explicit HashTree(int segment_bits = 20);

  // The hash of one stored object; 0 for none (an empty encoding).
  static uint64_t ObjectHash(std::string_view key, std::string_view encoded);

  // storage::ObjectObserver: folds a change in. Ignored for positions the
  // build has not reached yet (the build's scan will see the new object).
  void ObjectChanged(uint64_t position, std::string_view key,
                     std::string_view before, std::string_view after) override;

  // Fills the tree from the store's data, one small range at a time with
  // writes held off for that range's scan only (ObjectStore::
  // ScanPositionsExclusive), while the tree already follows writes below
  // the build's position. The tree must be the store's observer (or
  // receive its changes) before this starts. `progress(fraction, keys)` is
  // called about every 1/64 of the ring; `stop` (if set) ends the build
  // early with CANCELLED. `each`, if set, sees every object scanned.
  using EachObject =
      std::function<void(std::string_view key, std::string_view object)>;
  absl::Status Build(storage::ObjectStore* store,
                     absl::FunctionRef<void(double fraction, uint64_t keys)>
                         progress,
                     const std::atomic<bool>* stop = nullptr,
                     const EachObject& each = nullptr);

  // The slow check that catches drift (a bug, a disk that changed under
  // the store), run a step at a time: the ring is cut into VerifyPieces()
  // pieces; for pieces first..first+count-1 it rebuilds every segment's
  // hash from a scan of the data (a snapshot, writes going on), compares
  // it with the tree's, and scans each segment that differs again with
  // every write held off (ScanPositionsExclusive), correcting the tree if
  // it still differs: in steady state writes wait only for the rescans of
  // the few segments written during the check, each one segment long.
  // Only on a ready tree.
  struct VerifyResult {
    uint64_t keys = 0;       // objects scanned
    uint64_t differing = 0;  // segments found wrong (and corrected)
  };
  uint64_t VerifyPieces() const { return uint64_t{1} << PieceBits(); }
  absl::StatusOr<VerifyResult> Verify(storage::ObjectStore* store,
                                      uint64_t first, uint64_t count,
                                      const EachObject& each = nullptr);

  // True once Build finished: every hash reflects every object.
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  int segment_bits() const { return bits_; }
  uint64_t segments() const { return uint64_t{1} << bits_; }
  uint64_t SegmentOf(uint64_t position) const { return position >> shift_; }
  uint64_t SegmentStart(uint64_t segment) const { return segment << shift_; }
  // XOR of the segments first..last (inclusive).
  uint64_t SegmentsHash(uint64_t first, uint64_t last) const;
  // Bytes the tree's cells take.
  size_t MemoryBytes() const { return cells_size_ * sizeof(uint64_t); }

  // For tests: adds `delta` to the segment holding `position`, as a change
  // would.
  void Apply(uint64_t position, uint64_t delta);

 private:
  uint64_t Prefix(uint64_t segment) const;  // XOR of segments 0..segment
  // Build's and Verify's unit of work: the ring cut into 2^PieceBits()
  // pieces, each a whole number of segments.
  int PieceBits() const;
  // Positions of piece `piece` (of 2^PieceBits()), inclusive.
  PositionRange PieceRange(uint64_t piece) const;

  const int bits_;
  const int shift_;
  const size_t cells_size_;
  // Fenwick tree, 1-based: cells_[i] covers segments (i - lowbit(i), i].
  std::unique_ptr<std::atomic<uint64_t>[]> cells_;
  // While building: positions below this are followed (0: none yet).
  std::atomic<uint64_t> built_below_{0};
  std::atomic<bool> ready_{false};
};

// The XOR of ObjectHash over the store's keys at positions r.from..r.to:
// whole segments from the tree, the partial segments at either end by
// scanning the store.
absl::StatusOr<uint64_t> RangeHash(const HashTree& tree,
                                   storage::ObjectStore* store,
                                   const PositionRange& r);

// Every key at positions r.from..r.to with its ObjectHash, in key order,
// appended to `out`. Fails with RESOURCE_EXHAUSTED once `out` would hold
// more than `limit` keys or `max_key_bytes` bytes of keys (a range that
// large should have been split).
absl::Status ListKeys(storage::ObjectStore* store, const PositionRange& r,
                      size_t limit, std::vector<KeyDigest>* out,
                      size_t max_key_bytes = 16 << 20);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_ANTIENTROPY_HASH_TREE_H_
