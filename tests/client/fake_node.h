// In-process fake rumor nodes for the client's routing tests: a gRPC
// server on 127.0.0.1:0 implementing rumor.v1.KV and rumor.v1.Admin
// (RingLayout, Replicas) with the callback API, like server/rpc does, and
// gRPC's default health service, like kvd.
//
// A fake stores nothing. It records every KV request it receives, answers
// Get and Put (with return_body) with one value, its own address, so a test
// can tell which node answered, and puts the fake cluster's ring version in
// the "rumor-ring-version" initial-metadata header of every KV response.
// RingLayout answers with the cluster's current layout. Each behaviour can
// be changed while the node runs. Thread-safe.
#ifndef RUMOR_TESTS_CLIENT_FAKE_NODE_H_
#define RUMOR_TESTS_CLIENT_FAKE_NODE_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/admin.pb.h"

namespace rumor::testing {

// What every fake of a test shares: the ring layout they report.
class FakeCluster {
 public:
  void SetLayout(const v1::RingLayoutResponse& layout) {
    absl::MutexLock l(&mu_);
    layout_ = layout;
  }
  v1::RingLayoutResponse layout() const {
    absl::MutexLock l(&mu_);
    return layout_;
  }
  // Whether KV responses carry the ring version header (default yes).
  void SetSendVersion(bool send) {
    absl::MutexLock l(&mu_);
    send_version_ = send;
  }
  std::optional<uint64_t> version_header() const {
    absl::MutexLock l(&mu_);
    if (!send_version_) return std::nullopt;
    return layout_.version();
  }

 private:
  mutable absl::Mutex mu_;
  v1::RingLayoutResponse layout_ ABSL_GUARDED_BY(mu_);
  bool send_version_ ABSL_GUARDED_BY(mu_) = true;
};

class FakeNode {
 public:
  struct Request {
    std::string op;  // "get", "put" or "delete"
    std::string key;
    uint32_t r = 0;
    uint32_t w = 0;
  };

  // Starts serving on 127.0.0.1 (a free port); aborts the test binary if
  // the server cannot start.
  FakeNode(uint64_t id, FakeCluster* cluster);
  ~FakeNode();
  FakeNode(const FakeNode&) = delete;
  FakeNode& operator=(const FakeNode&) = delete;

  uint64_t id() const { return id_; }
  const std::string& address() const { return address_; }

  // Stops serving: afterwards connections to the address are refused.
  void Stop();

  // Every KV request received so far, in arrival order.
  std::vector<Request> requests() const;
  // Keys of the received requests of kind `op`.
  std::vector<std::string> keys(const std::string& op) const;
  int ring_layout_calls() const;

  // KV calls of kind `op` ("get", "put", "delete") are recorded, then
  // answered with `status` (OK restores normal answers).
  void FailWith(const std::string& op, grpc::Status status);
  // What gRPC's health service answers (SERVING from the start).
  void SetServing(bool serving);
  // RingLayout answers UNIMPLEMENTED, like a node that predates it.
  void SetRingLayoutUnimplemented(bool on);
  // RingLayout calls are held unanswered until ReleaseHeld() (or Stop).
  void SetHoldRingLayout(bool on);
  void ReleaseHeld();
  // What Replicas answers (and the keys it was asked about).
  void SetReplicas(const v1::ReplicasResponse& resp, grpc::Status status);
  std::vector<std::string> replicas_keys() const;

 private:
  class KvService;
  class AdminService;
  friend class KvService;
  friend class AdminService;

  // Records a request; returns the status to answer it with.
  grpc::Status Record(Request r);
  void AddVersionHeader(grpc::CallbackServerContext* ctx) const;

  const uint64_t id_;
  FakeCluster* const cluster_;
  std::string address_;
  std::unique_ptr<KvService> kv_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;

  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, grpc::Status>> failures_
      ABSL_GUARDED_BY(mu_);
  int ring_layout_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool ring_layout_unimplemented_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_ring_layout_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<grpc::ServerUnaryReactor*> held_ ABSL_GUARDED_BY(mu_);
  v1::ReplicasResponse replicas_ ABSL_GUARDED_BY(mu_);
  grpc::Status replicas_status_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> replicas_keys_ ABSL_GUARDED_BY(mu_);
};

// A layout of `nodes` with `tokens` pseudo-random tokens each (drawn from
// `seed`), `replicas` = N and every node alive.
v1::RingLayoutResponse MakeLayout(const std::vector<FakeNode*>& nodes,
                                  int tokens, uint32_t replicas,
                                  uint64_t version, uint64_t seed);

}  // namespace rumor::testing

#endif  // RUMOR_TESTS_CLIENT_FAKE_NODE_H_
