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
// Routing (ClientOptions::routing). With Routing::kRing (the default) the
// client learns the ring from the seed node (`server`) on first use, and
// again whenever a KV response's "rumor-ring-version" header differs from
// the version it routes by (in the background: at most one refresh at a
// time, at most every 100 ms, a failed one retried after 1 s, asking the
// node that reported the new version first, then the seed, then any other
// node). It then sends each Get, Put and Delete straight to the first node
// of the key's preference list that is not known dead and whose connection
// is not failing, and to the seed when none is, or while the ring is not
// known yet. It keeps one gRPC channel per node address (at most the
// ring's nodes plus the seed), created on first use. Any node accepts any
// request, so routing only saves the cluster a hop: a stale ring is never
// wrong, just slower. With Routing::kAny everything goes to the seed.
// Admin calls (Status, Members, Ring, Leave, Remove, RingLayout, Replicas,
// Health) always go to the seed.
//
// Retries: a call is retried on the next candidate node (the next usable
// node of the preference list not tried yet, then the seed, then any other
// node of the ring), and only when that cannot duplicate anything. A call
// whose node could not be connected to (or its name resolved: nothing was
// sent) moves on as often as there are candidates, so ring addresses this
// client cannot reach (names private to a container network, say) end at
// the seed, which forwards. A Get is also retried once after any other
// UNAVAILABLE; a Put or Delete that may have been sent never is. Retries
// share the first attempt's deadline.
//
// Timeouts: a call that fails with DEADLINE_EXCEEDED or UNAVAILABLE after
// the request was sent has an unknown outcome: the write may or may not have
// been applied. Retrying a Put with the same context is safe in the sense
// that it cannot overwrite anything the first attempt did not also cover.
//
// Thread-safe: one Client may be shared by many threads. Async callbacks run
// on gRPC's threads and must not block (nor call the blocking methods). The
// destructor waits until every async callback has returned.
#ifndef RUMOR_CLIENT_CLIENT_H_
#define RUMOR_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
  // How Get, Put and Delete choose their node (see the top of this file):
  // kRing sends each straight to a replica of its key, kAny to `server`.
  enum class Routing { kRing, kAny };
  Routing routing = Routing::kRing;
  // TLS, for nodes started with --peer-ca: PEM contents (LoadClientTls
  // reads files). A `ca` turns TLS on and verifies every node against it;
  // `cert` and `key`, when set, are presented to nodes that require client
  // certificates (--tls-client-ca), or authorise leave/remove when they
  // come from the cluster CA.
  struct Tls {
    std::string ca, cert, key;
    // Verify nodes' certificates against this name instead of the host of
    // each address (e.g. through a forwarded port).
    std::string server_name;
  };
  Tls tls;
};

// Reads the PEM files of ClientOptions::Tls: `ca_path` (empty: plaintext,
// and the others must be empty too), `cert_path` and `key_path` (both or
// neither). INVALID_ARGUMENT naming the flag (--tls-ca, --tls-cert,
// --tls-key) when a file cannot be read or is not PEM.
absl::StatusOr<ClientOptions::Tls> LoadClientTls(const std::string& ca_path,
                                                 const std::string& cert_path,
                                                 const std::string& key_path);

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
  // Claimed tokens but still pulling its ranges from their replicas: it
  // gets writes for them already, and serves them once it has them all.
  bool joining = false;
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

// A node's answer to gRPC's standard health check (grpc.health.v1).
enum class ServingStatus { kUnknown, kServing, kNotServing, kServiceUnknown };

// "SERVING", "NOT_SERVING", ...: the protocol's own names.
const char* ServingStatusName(ServingStatus status);

// One node of the ring (Admin.RingLayout).
struct RingNode {
  uint64_t id = 0;
  std::string address;  // host:port clients reach it at
  std::string status;   // alive, suspect or dead (dead nodes keep ranges)
  std::vector<uint64_t> tokens;
};

// The ring as a client routes by it: every ring member's tokens. A key at
// RingPosition(key) (common/hash.h) belongs to the first token >= it
// (wrapping; ties between nodes broken by lower node id), and its
// preference list is the first `replicas` distinct nodes clockwise from
// there (client/ring_view.h computes it).
struct RingLayout {
  // Changes whenever ownership changes; KV responses carry the answering
  // node's current version.
  uint64_t version = 0;
  uint32_t replicas = 0;  // N
  std::vector<RingNode> nodes;
};

// One node's copy of a key (Admin.Replicas).
struct ReplicaCopy {
  uint64_t node = 0;
  std::string address;
  std::string status;     // as the asked node sees the member
  std::string role;       // "replica" (preference list) or "hint"
  uint64_t hint_for = 0;  // role "hint": the owner the copy is held for
  bool answered = false;  // false: the node could not be asked (see error)
  std::string error;
  bool holds = false;     // holds the key (a tombstone counts)
  std::vector<std::string> values;  // live values
  uint32_t tombstones = 0;
  // The copy's version vector: (actor node id, counter), in server order.
  std::vector<std::pair<uint64_t, uint64_t>> version;
};

// Where one key lives: every preference-list node's copy and the hints
// held for it.
struct ReplicaReport {
  uint64_t position = 0;  // the key's ring position
  uint32_t replicas = 0;  // N
  std::vector<ReplicaCopy> copies;
};

// One anti-entropy exchange with a peer (Admin.Aae, Admin.Repair).
struct AaeExchange {
  uint64_t peer = 0;
  std::string address;
  bool ok = false;
  std::string error;
  int64_t finished_unix_ms = 0;
  uint64_t took_ms = 0;
  uint64_t ranges = 0;
  uint64_t requests = 0;
  uint64_t keys_compared = 0;
  uint64_t differing = 0;
  uint64_t repaired_here = 0;  // keys the asked node took from the peer
  uint64_t repaired_peer = 0;  // keys the peer took from the asked node
  uint64_t bytes = 0;
  // What the exchange found in each shared range, in ring order.
  struct Range {
    uint64_t first = 0;  // ring positions first..last, inclusive
    uint64_t last = 0;
    uint64_t keys_compared = 0;
    uint64_t differing = 0;
    uint64_t repaired = 0;  // either way
  };
  std::vector<Range> per_range;
};

// A node's anti-entropy state (Admin.Aae).
struct AaeStatus {
  bool tree_ready = false;
  double build_progress = 0;
  uint64_t build_keys = 0;
  uint64_t build_ms = 0;
  uint64_t tree_bytes = 0;
  uint64_t interval_ms = 0;
  uint64_t exchanges_total = 0;
  uint64_t exchange_failures = 0;
  uint64_t keys_repaired = 0;
  std::vector<AaeExchange> exchanges;  // the last per peer
  // Tombstone reaping (grace 0: tombstones are kept for good).
  uint64_t tombstone_grace_ms = 0;
  uint64_t tombstones_pending = 0;
  uint64_t tombstones_reaped = 0;
  uint64_t tombstones_kept = 0;
  std::string reaping_paused;  // why the last pass reaped nothing
  // The periodic check of the tree against the data (interval 0: never).
  uint64_t verify_interval_ms = 0;
  uint64_t verify_runs = 0;
  bool verify_running = false;
  double verify_progress = 0;
  uint64_t verify_segments_corrected = 0;
  int64_t verify_finished_unix_ms = 0;
  // Repair paced by client latency.
  bool pacing = false;
  double rate_share = 1;  // of the rate limits
  uint64_t baseline_latency_us = 0;
  uint64_t recent_latency_us = 0;
  uint64_t slowdowns = 0;
  uint64_t latency_probes = 0;
  bool paused = false;  // by an operator (PauseAae)
};

class Client {
 public:
  using ObjectCallback = absl::AnyInvocable<void(absl::StatusOr<Object>) &&>;
  using DoneCallback = absl::AnyInvocable<void(absl::Status) &&>;

  // Creates a client for `options.server` (the seed). Connection happens
  // lazily: an unreachable server shows up as UNAVAILABLE on the first call.
  // INVALID_ARGUMENT for an empty server address. With Routing::kRing the
  // first KV call starts fetching the ring in the background (it is itself
  // sent to the seed); call RefreshRing first to route it already.
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
  // The ring as the seed sees it (Admin.RingLayout), for display; routing
  // does not use this answer (see RefreshRing). UNIMPLEMENTED from a node
  // that predates client routing.
  absl::StatusOr<client::RingLayout> RingLayout(const CallOptions& opts = {});
  // Every preference-list node's copy of `key` and the hints held for it,
  // gathered by the seed (Admin.Replicas). A node the seed could not ask
  // is listed with answered == false and its error.
  absl::StatusOr<ReplicaReport> Replicas(std::string_view key,
                                         const CallOptions& opts = {});
  // The node's anti-entropy tree and its last exchange with each peer.
  absl::StatusOr<AaeStatus> Aae(const CallOptions& opts = {});
  // Runs anti-entropy exchanges on the node now, with `peer` (a node id;
  // 0: every peer sharing ranges with it), and returns what they
  // compared and repaired. May take as long as the repairs do: give it a
  // long enough timeout.
  absl::StatusOr<std::vector<AaeExchange>> Repair(uint64_t peer,
                                                  const CallOptions& opts = {});
  // Pauses or resumes the node's own anti-entropy work (exchanges,
  // repairs, tree check, reaping); not kept across the node's restart.
  absl::Status PauseAae(bool paused, const CallOptions& opts = {});

  // The seed's answer to gRPC's standard health check
  // (grpc.health.v1.Health/Check) about `service` ("" : the node as a
  // whole; or "rumor.v1.KV", "rumor.v1.Admin", ...): kServing once the
  // node serves, kNotServing while it starts (has not yet learnt its ring:
  // the whole node and rumor.v1.KV) or shuts down. An error when it cannot
  // be asked: UNAVAILABLE (cannot reach it), DEADLINE_EXCEEDED,
  // UNIMPLEMENTED (a server without the health service), NOT_FOUND (a
  // service name the node does not know).
  absl::StatusOr<ServingStatus> Health(const CallOptions& opts = {}) {
    return Health("", opts);
  }
  absl::StatusOr<ServingStatus> Health(const std::string& service,
                                       const CallOptions& opts = {});

  // Routing. With Routing::kRing: fetches the ring now, from the seed (or,
  // if it cannot be reached, from the other nodes of the ring already
  // known, in turn), and routes by it from then on. Blocks until that
  // refresh (or one already in flight, which it joins) ends; returns its
  // error when no node answered, e.g. UNAVAILABLE, or UNIMPLEMENTED from a
  // node without RingLayout (calls then keep going to the seed). A refresh
  // this call starts gives each node it asks the timeout of `opts`. With
  // Routing::kAny: OK at once, nothing is fetched.
  absl::Status RefreshRing(const CallOptions& opts = {});
  // The version of the ring calls are routed by; nullopt before one is
  // known (and always with Routing::kAny).
  std::optional<uint64_t> RingVersion() const;
  // KV calls (Get, Put, Delete; retries included) each node address
  // answered since Connect: successes and the node's own errors. Attempts
  // that ended UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED are not counted
  // (the node may never have seen them). Sorted by address; addresses
  // that answered nothing are left out.
  std::vector<std::pair<std::string, uint64_t>> RequestsByAddress() const;

  // The seed address (ClientOptions::server).
  const std::string& server() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rumor::client

#endif  // RUMOR_CLIENT_CLIENT_H_
