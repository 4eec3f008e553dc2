#include "server/antientropy/exchange.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <utility>

namespace rumor::server {
namespace {

constexpr uint64_t kMaxPosition = std::numeric_limits<uint64_t>::max();

// Bytes one range takes in a request: two positions.
constexpr uint64_t kRangeBytes = 16;
// Bytes one hash or one digest takes in an answer.
constexpr uint64_t kHashBytes = 8;

// segment_bits outside 0..64 would make the shifts below undefined; clamping
// keeps a misconfigured exchange well defined (and terminating) instead.
int ClampBits(int segment_bits) { return std::clamp(segment_bits, 0, 64); }

// The segment holding `position`. With 0 bits the whole ring is one segment,
// and a shift by 64 would be undefined, hence the special case.
uint64_t SegmentOf(uint64_t position, int bits) {
  return bits == 0 ? 0 : position >> (64 - bits);
}

uint64_t SegmentStart(uint64_t segment, int bits) {
  return bits == 0 ? 0 : segment << (64 - bits);
}

// Splits a range given with from > to (a wrap the caller did not split, in
// breach of the contract) into its two halves rather than dropping it: the
// keys in it are still shared and still worth comparing.
void AppendNormalized(const PositionRange& r, std::vector<PositionRange>& out) {
  if (r.from <= r.to) {
    out.push_back(r);
    return;
  }
  out.push_back({r.from, kMaxPosition});
  out.push_back({0, r.to});
}

}  // namespace

uint64_t SegmentsSpanned(const PositionRange& r, int segment_bits) {
  if (r.from > r.to) return 0;
  const int bits = ClampBits(segment_bits);
  const uint64_t span = SegmentOf(r.to, bits) - SegmentOf(r.from, bits);
  // Only with 64 bits and the full ring is the true count 2^64; saturating
  // keeps it "more than any leaf threshold", which is all callers need.
  return span == kMaxPosition ? kMaxPosition : span + 1;
}

std::vector<PositionRange> SplitRange(const PositionRange& r, int segment_bits,
                                      int fanout) {
  if (r.from > r.to) return {};
  const int bits = ClampBits(segment_bits);
  const uint64_t first = SegmentOf(r.from, bits);
  // Segments spanned minus one: unlike the count itself, it always fits.
  const uint64_t last_offset = SegmentOf(r.to, bits) - first;
  const uint64_t max_parts = static_cast<uint64_t>(std::max(fanout, 2));
  const uint64_t parts =
      last_offset >= max_parts - 1 ? max_parts : last_offset + 1;
  if (parts == 1) return {r};

  // Deal the spanned segments (count = last_offset + 1) out as evenly as
  // possible: every part gets `per_part`, the first `extra` one more. Derived
  // from last_offset so that a 2^64-segment count never has to be held.
  uint64_t per_part = last_offset / parts;
  uint64_t extra = last_offset % parts + 1;
  if (extra == parts) {
    ++per_part;
    extra = 0;
  }

  std::vector<PositionRange> out;
  out.reserve(parts);
  uint64_t offset = 0;  // of the current part's first segment from `first`
  for (uint64_t i = 0; i < parts; ++i) {
    const uint64_t from = i == 0 ? r.from : SegmentStart(first + offset, bits);
    offset += per_part + (i < extra ? 1 : 0);
    // The next part starts on a segment boundary strictly inside r, so the
    // "- 1" cannot wrap; the last part ends where r does.
    const uint64_t to =
        i + 1 == parts ? r.to : SegmentStart(first + offset, bits) - 1;
    out.push_back({from, to});
  }
  return out;
}

Exchange::Exchange(std::vector<PositionRange> shared, ExchangeOptions options)
    : options_(options) {
  // Normalize the options once so that no answer, however odd, can stall
  // the descent: a split must always make progress (fanout >= 2), a range
  // of one segment must be listed rather than split (leaf_segments >= 1),
  // and every request must carry at least one range.
  options_.segment_bits = ClampBits(options_.segment_bits);
  options_.fanout = std::max(options_.fanout, 2);
  options_.leaf_segments = std::max<uint64_t>(options_.leaf_segments, 1);
  options_.max_ranges_per_request =
      std::max<size_t>(options_.max_ranges_per_request, 1);
  options_.max_key_ranges_per_request =
      std::max<size_t>(options_.max_key_ranges_per_request, 1);

  // Every shared range is hashed first, even one narrow enough to list:
  // identical replicas then settle with one hash per range, whatever the
  // ranges' widths.
  std::vector<PositionRange> normalized;
  for (const PositionRange& r : shared) AppendNormalized(r, normalized);
  to_hash_.assign(normalized.begin(), normalized.end());
}

bool Exchange::done() const {
  return failed_ ||
         (!outstanding_.has_value() && to_hash_.empty() && to_list_.empty());
}

std::optional<Exchange::Request> Exchange::Next() {
  if (done() || outstanding_.has_value()) return std::nullopt;
  // Listing first: it settles branches for good, so an exchange cut short
  // has reported as much as it can, and the listing queue stays short.
  const bool list = !to_list_.empty();
  std::deque<PositionRange>& queue = list ? to_list_ : to_hash_;
  const size_t count =
      std::min(queue.size(), list ? options_.max_key_ranges_per_request
                                  : options_.max_ranges_per_request);

  Request request;
  request.kind = list ? Request::Kind::kKeys : Request::Kind::kHashes;
  request.ranges.assign(queue.begin(), queue.begin() + count);
  queue.erase(queue.begin(), queue.begin() + count);

  if (list) {
    ++stats_.key_requests;
  } else {
    ++stats_.hash_requests;
    stats_.ranges_hashed += count;
  }
  stats_.bytes += kRangeBytes * count;
  outstanding_ = request;
  return request;
}

void Exchange::Fail() {
  failed_ = true;
  outstanding_.reset();
}

void Exchange::OnHashes(const std::vector<uint64_t>& local,
                        const std::vector<uint64_t>& remote) {
  // An answer nobody asked for (or of the wrong kind) means the driver or
  // the peer is confused; continuing could report keys from ranges that
  // were never shared, so the exchange stops.
  if (failed_ || !outstanding_.has_value() ||
      outstanding_->kind != Request::Kind::kHashes) {
    Fail();
    return;
  }
  stats_.bytes += kHashBytes * (local.size() + remote.size());
  const std::vector<PositionRange>& ranges = outstanding_->ranges;
  if (local.size() != ranges.size() || remote.size() != ranges.size()) {
    Fail();
    return;
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (local[i] == remote[i]) continue;  // this branch agrees: pruned
    const PositionRange& r = ranges[i];
    if (SegmentsSpanned(r, options_.segment_bits) <= options_.leaf_segments) {
      to_list_.push_back(r);
      continue;
    }
    // Appended behind the current level (breadth first) so that requests
    // fill up with ranges of one level, keeping round trips ~ tree depth.
    for (const PositionRange& part :
         SplitRange(r, options_.segment_bits, options_.fanout)) {
      to_hash_.push_back(part);
    }
  }
  outstanding_.reset();
}

void Exchange::OnKeys(const std::vector<KeyDigest>& local,
                      const std::vector<KeyDigest>& remote) {
  if (failed_ || !outstanding_.has_value() ||
      outstanding_->kind != Request::Kind::kKeys) {
    Fail();
    return;
  }
  outstanding_.reset();

  // Per key, what each side said. A side naming one key twice with
  // different digests holds no single version we could call "equal", so
  // such a key counts as differing and repair sorts it out.
  struct Seen {
    std::optional<uint64_t> local;
    std::optional<uint64_t> remote;
    bool conflict = false;
  };
  std::map<std::string, Seen> seen;
  auto record = [&](const std::vector<KeyDigest>& answer,
                    std::optional<uint64_t> Seen::*side) {
    for (const KeyDigest& kd : answer) {
      stats_.bytes += kd.key.size() + kHashBytes;
      Seen& s = seen[kd.key];
      std::optional<uint64_t>& digest = s.*side;
      if (digest.has_value() && *digest != kd.digest) s.conflict = true;
      digest = kd.digest;
    }
  };
  record(local, &Seen::local);
  record(remote, &Seen::remote);
  stats_.keys_compared += seen.size();

  // std::map iterates in key order, so `found` comes out sorted and can be
  // merged into differing_ without sorting it all again.
  std::vector<std::string> found;
  for (auto& [key, s] : seen) {
    if (s.conflict || s.local != s.remote) found.push_back(key);
  }
  if (found.empty()) return;
  const auto middle = static_cast<std::ptrdiff_t>(differing_.size());
  differing_.insert(differing_.end(), std::make_move_iterator(found.begin()),
                    std::make_move_iterator(found.end()));
  std::inplace_merge(differing_.begin(), differing_.begin() + middle,
                     differing_.end());
  // Ranges never overlap, but a peer may name a key outside the range asked
  // for; reporting it twice would still be wrong.
  differing_.erase(std::unique(differing_.begin(), differing_.end()),
                   differing_.end());
}

}  // namespace rumor::server
