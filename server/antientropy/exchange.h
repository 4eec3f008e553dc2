// One anti-entropy exchange between two replicas, sans-I/O: which ranges of
// ring positions to compare next and, from both sides' answers, which keys
// differ. The driver (server/antientropy/) asks both sides the same
// question (the local side directly, the peer over the replication
// stream), feeds both answers back, and repeats until done().
//
// The comparison is top-down over the hash tree's segments (HashTree): a
// range whose hashes differ is split into up to `fanout` sub-ranges at
// segment boundaries and compared again; a range no wider than one segment
// (or `leaf_segments`) is compared key by key (KeyDigest). Only differing
// branches are followed, so the bytes grow like k * log(n) for k differing
// keys among n, and identical replicas agree after one hash per range.
#ifndef RUMOR_SERVER_ANTIENTROPY_EXCHANGE_H_
#define RUMOR_SERVER_ANTIENTROPY_EXCHANGE_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace rumor::server {

// Ring positions from..to, both inclusive (from <= to: a range that wraps
// is given as two).
struct PositionRange {
  uint64_t from = 0;
  uint64_t to = 0;
  bool operator==(const PositionRange&) const = default;
};

// One key of a range and a hash of its stored object (ObjectHash).
struct KeyDigest {
  std::string key;
  uint64_t digest = 0;
  bool operator==(const KeyDigest&) const = default;
};

struct ExchangeOptions {
  // Segments of the ring: 2^segment_bits, segment s covering positions
  // s << (64 - segment_bits) up to the next segment's start - 1. Must match
  // the HashTree's.
  int segment_bits = 20;
  // Sub-ranges a differing range is split into.
  int fanout = 16;
  // A range spanning at most this many segments (partial ones counted) is
  // compared key by key instead of split further.
  uint64_t leaf_segments = 1;
  // Most ranges in one request (the rest wait for the next request).
  size_t max_ranges_per_request = 256;
  // Most leaf ranges in one key listing: each lists every key of up to a
  // segment, so fewer of them keep an answer small on large data sets.
  size_t max_key_ranges_per_request = 16;
};

struct ExchangeStats {
  uint64_t hash_requests = 0;  // requests of kind kHashes
  uint64_t key_requests = 0;   // requests of kind kKeys
  uint64_t ranges_hashed = 0;  // ranges compared by hash
  uint64_t keys_compared = 0;  // distinct keys seen in key requests
  // Bytes both sides' answers would take on the wire: 8 per hash, key size
  // + 8 per key digest (requests: 16 per range).
  uint64_t bytes = 0;
};

class Exchange {
 public:
  struct Request {
    enum class Kind { kHashes, kKeys };
    Kind kind = Kind::kHashes;
    std::vector<PositionRange> ranges;
  };

  // `shared`: the ranges both replicas hold; need not be sorted, must not
  // overlap.
  Exchange(std::vector<PositionRange> shared, ExchangeOptions options = {});

  // The next question for both sides, or nullopt when done() or when the
  // last request has not been answered yet (one request at a time).
  std::optional<Request> Next();

  // Answers to the last kHashes request: one hash per range, in request
  // order, from this side and from the peer. A size mismatch fails the
  // exchange (failed() true, done() true).
  void OnHashes(const std::vector<uint64_t>& local,
                const std::vector<uint64_t>& remote);
  // Answers to the last kKeys request: every key in the request's ranges
  // with its digest, from each side, in any order.
  void OnKeys(const std::vector<KeyDigest>& local,
              const std::vector<KeyDigest>& remote);

  bool done() const;
  bool failed() const { return failed_; }
  // Keys whose digests differ, or that only one side holds, sorted, each
  // once. Complete once done().
  const std::vector<std::string>& differing() const { return differing_; }
  const ExchangeStats& stats() const { return stats_; }

 private:
  // Marks the exchange failed and forgets the outstanding request.
  void Fail();

  ExchangeOptions options_;
  std::deque<PositionRange> to_hash_;
  std::deque<PositionRange> to_list_;
  std::optional<Request> outstanding_;
  std::vector<std::string> differing_;
  ExchangeStats stats_;
  bool failed_ = false;
};

// Splits `r` into at most `fanout` contiguous sub-ranges that begin and end
// on segment boundaries wherever `r` does not (exposed for tests).
std::vector<PositionRange> SplitRange(const PositionRange& r, int segment_bits,
                                      int fanout);
// Segments `r` touches, partial ones included.
uint64_t SegmentsSpanned(const PositionRange& r, int segment_bits);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_ANTIENTROPY_EXCHANGE_H_
