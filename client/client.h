// rumor::client::Client — the C++ client library of rumor.
//
//   auto client = rumor::client::Client::Connect({.server = "127.0.0.1:7379"});
//   auto obj = (*client)->Get("greeting");           // values + context
//   (*client)->Put("greeting", "hi", obj->context);  // replaces what obj held
//
// Every key holds a set of sibling values: writes that did not see each
// other (their contexts did not cover each other) are all kept. A Get
// returns every sibling and a causal context; pass that context to the next
// Put or Delete to replace exactly the values you read. A Put without a
// context adds a sibling.
//
// Timeouts: a call that fails with DEADLINE_EXCEEDED or UNAVAILABLE after
// the request was sent has an unknown outcome: the write may or may not have
// been applied. Retrying a Put with the same context is safe in the sense
// that it cannot overwrite anything the first attempt did not also cover.
//
// Thread-safe: one Client may be shared by many threads. Async callbacks run
// on gRPC's threads and must not block.
#ifndef RUMOR_CLIENT_CLIENT_H_
#define RUMOR_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rumor::client {

// Merges sibling values into one. Called only with two or more siblings.
using Resolver = std::function<std::string(const std::vector<std::string>&)>;

struct ClientOptions {
  // host:port of any rumor node.
  std::string server = "127.0.0.1:7379";
  // Deadline of a call when CallOptions does not set one.
  absl::Duration timeout = absl::Seconds(5);
  // When set, Get resolves siblings with it and writes the result back
  // (with the read context), so the key converges to one value.
  Resolver resolver;
};

struct CallOptions {
  // Zero: ClientOptions::timeout.
  absl::Duration timeout = absl::ZeroDuration();
  // Replicas that must answer / acknowledge; zero: the node's default.
  uint32_t r = 0;
  uint32_t w = 0;
};

struct Object {
  // False when the key was never written or was deleted.
  bool found = false;
  // Every sibling, in a stable order.
  std::vector<std::string> values;
  // Opaque causal context; empty when the key was never written.
  std::string context;
};

struct NodeStatus {
  uint64_t node_id = 0;
  std::string address;
  std::string version;
  uint64_t uptime_seconds = 0;
  std::string data_dir;
  bool sync_writes = false;
  uint32_t max_key_bytes = 0;
  uint32_t max_value_bytes = 0;
  std::string cluster;
  uint64_t incarnation = 0;
  uint32_t members_alive = 0;
  uint32_t members_total = 0;
  uint32_t local_health = 0;  // Lifeguard's awareness score; 0 is healthy
  uint32_t probe_interval_ms = 0;
  // Counters and gauges: membership, storage (storage_*), the storage
  // queue, the peer transport (peer_*), in a stable order.
  std::vector<std::pair<std::string, uint64_t>> counters;
};

struct Member {
  uint64_t id = 0;
  std::string address;
  std::string status;  // alive, suspect, dead or left
  uint64_t incarnation = 0;
  std::vector<std::pair<std::string, std::string>> tags;
  uint32_t tokens = 0;
};

struct RingOwner {
  uint64_t id = 0;
  std::string address;
  std::string status;
  uint32_t tokens = 0;
  double share = 0;          // of keys owned as primary
  double replica_share = 0;  // of keys it holds one of N replicas of
};

struct RingInfo {
  uint32_t replicas = 0;
  std::vector<RingOwner> owners;
  double imbalance = 0;  // largest share / smallest
  // Filled when a key was given.
  uint64_t position = 0;
  std::vector<RingOwner> preference_list;
  std::vector<RingOwner> fallbacks;
};

class Client {
 public:
  using ObjectCallback = absl::AnyInvocable<void(absl::StatusOr<Object>) &&>;
  using DoneCallback = absl::AnyInvocable<void(absl::Status) &&>;

  // Creates a client for `options.server`. Connection happens lazily: an
  // unreachable server shows up as UNAVAILABLE on the first call.
  // INVALID_ARGUMENT for an empty server address.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Every sibling of `key` and their context. With a resolver configured,
  // two or more siblings are merged and written back first. NOT_FOUND is
  // not an error: check Object::found.
  absl::StatusOr<Object> Get(std::string_view key, const CallOptions& opts = {});

  // Writes `value`, replacing the siblings `context` covers ("" for none).
  // With `return_body`, returns the object after the write (its context
  // then covers every returned sibling); otherwise an empty Object.
  absl::StatusOr<Object> Put(std::string_view key, std::string_view value,
                             std::string_view context,
                             const CallOptions& opts = {},
                             bool return_body = false);

  // Deletes the siblings `context` covers. Siblings written concurrently
  // (not covered) survive.
  absl::Status Delete(std::string_view key, std::string_view context,
                      const CallOptions& opts = {});

  // Asynchronous forms: `done` runs exactly once, on a gRPC thread. The
  // resolver is not applied by GetAsync.
  void GetAsync(std::string_view key, const CallOptions& opts,
                ObjectCallback done);
  void PutAsync(std::string_view key, std::string_view value,
                std::string_view context, const CallOptions& opts,
                bool return_body, ObjectCallback done);
  void DeleteAsync(std::string_view key, std::string_view context,
                   const CallOptions& opts, DoneCallback done);

  // The node's self-description (Admin.Status).
  absl::StatusOr<NodeStatus> Status(const CallOptions& opts = {});
  // The cluster's members as the node sees them, sorted by id.
  absl::StatusOr<std::vector<Member>> Members(const CallOptions& opts = {});
  // Ring ownership; with a key, also its preference list and fallbacks.
  absl::StatusOr<RingInfo> Ring(const std::string* key = nullptr,
                                const CallOptions& opts = {});
  // Asks the node to leave the cluster gracefully and shut down. Returns
  // whether the announcement was confirmed spread before it stopped.
  absl::StatusOr<bool> Leave(const CallOptions& opts = {});
  // Marks a dead member as removed from the ring.
  absl::Status Remove(uint64_t node_id, const CallOptions& opts = {});

  const std::string& server() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rumor::client

#endif  // RUMOR_CLIENT_CLIENT_H_
