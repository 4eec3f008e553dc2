#include "tests/client/fake_node.h"

#include <grpcpp/health_check_service_interface.h>

#include <cstdio>
#include <cstdlib>

#include "common/hash.h"
#include "proto/admin.grpc.pb.h"
#include "proto/kv.grpc.pb.h"

namespace rumor::testing {

class FakeNode::KvService final : public v1::KV::CallbackService {
 public:
  explicit KvService(FakeNode* node) : node_(node) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx,
                                const v1::GetRequest* req,
                                v1::GetResponse* resp) override {
    grpc::Status s = node_->Record(
        {"get", req->key(), req->options().r(), req->options().w()});
    if (s.ok()) {
      resp->set_found(true);
      resp->add_values(node_->address());
      resp->set_context("ctx");
    }
    return Finish(ctx, s);
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const v1::PutRequest* req,
                                v1::PutResponse* resp) override {
    grpc::Status s = node_->Record(
        {"put", req->key(), req->options().r(), req->options().w()});
    if (s.ok() && req->return_body()) {
      resp->add_values(node_->address());
      resp->set_context("ctx");
    }
    return Finish(ctx, s);
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const v1::DeleteRequest* req,
                                   v1::DeleteResponse*) override {
    grpc::Status s = node_->Record(
        {"delete", req->key(), req->options().r(), req->options().w()});
    return Finish(ctx, s);
  }

 private:
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx,
                                   const grpc::Status& s) {
    node_->AddVersionHeader(ctx);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(s);
    return reactor;
  }

  FakeNode* const node_;
};

class FakeNode::AdminService final : public v1::Admin::CallbackService {
 public:
  explicit AdminService(FakeNode* node) : node_(node) {}

  grpc::ServerUnaryReactor* RingLayout(grpc::CallbackServerContext* ctx,
                                       const v1::RingLayoutRequest*,
                                       v1::RingLayoutResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    {
      absl::MutexLock l(&node_->mu_);
      ++node_->ring_layout_calls_;
      if (node_->ring_layout_unimplemented_) {
        reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                     "RingLayout is not implemented"));
        return reactor;
      }
      *resp = node_->cluster_->layout();
      if (node_->hold_ring_layout_ && !node_->stopped_) {
        node_->held_.push_back(reactor);
        return reactor;
      }
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* Replicas(grpc::CallbackServerContext* ctx,
                                     const v1::ReplicasRequest* req,
                                     v1::ReplicasResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    grpc::Status s;
    {
      absl::MutexLock l(&node_->mu_);
      node_->replicas_keys_.push_back(req->key());
      *resp = node_->replicas_;
      s = node_->replicas_status_;
    }
    reactor->Finish(s);
    return reactor;
  }

 private:
  FakeNode* const node_;
};

FakeNode::FakeNode(uint64_t id, FakeCluster* cluster)
    : id_(id),
      cluster_(cluster),
      kv_(std::make_unique<KvService>(this)),
      admin_(std::make_unique<AdminService>(this)) {
  grpc::EnableDefaultHealthCheckService(true);  // as kvd does
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(kv_.get());
  builder.RegisterService(admin_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    std::fprintf(stderr, "fake node: cannot start a gRPC server\n");
    std::abort();
  }
  address_ = "127.0.0.1:" + std::to_string(port);
}

FakeNode::~FakeNode() { Stop(); }

void FakeNode::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  ReleaseHeld();
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::seconds(5));
  server_->Wait();
}

void FakeNode::SetServing(bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

void FakeNode::ReleaseHeld() {
  std::vector<grpc::ServerUnaryReactor*> held;
  {
    absl::MutexLock l(&mu_);
    held.swap(held_);
  }
  for (auto* reactor : held) reactor->Finish(grpc::Status::OK);
}

grpc::Status FakeNode::Record(Request r) {
  absl::MutexLock l(&mu_);
  std::string op = r.op;
  requests_.push_back(std::move(r));
  for (const auto& [failing_op, status] : failures_) {
    if (failing_op == op) return status;
  }
  return grpc::Status::OK;
}

void FakeNode::AddVersionHeader(grpc::CallbackServerContext* ctx) const {
  if (std::optional<uint64_t> v = cluster_->version_header()) {
    ctx->AddInitialMetadata("rumor-ring-version", std::to_string(*v));
  }
}

std::vector<FakeNode::Request> FakeNode::requests() const {
  absl::MutexLock l(&mu_);
  return requests_;
}

std::vector<std::string> FakeNode::keys(const std::string& op) const {
  absl::MutexLock l(&mu_);
  std::vector<std::string> out;
  for (const Request& r : requests_) {
    if (r.op == op) out.push_back(r.key);
  }
  return out;
}

int FakeNode::ring_layout_calls() const {
  absl::MutexLock l(&mu_);
  return ring_layout_calls_;
}

void FakeNode::FailWith(const std::string& op, grpc::Status status) {
  absl::MutexLock l(&mu_);
  for (auto it = failures_.begin(); it != failures_.end();) {
    it = it->first == op ? failures_.erase(it) : std::next(it);
  }
  if (!status.ok()) failures_.push_back({op, std::move(status)});
}

void FakeNode::SetRingLayoutUnimplemented(bool on) {
  absl::MutexLock l(&mu_);
  ring_layout_unimplemented_ = on;
}

void FakeNode::SetHoldRingLayout(bool on) {
  absl::MutexLock l(&mu_);
  hold_ring_layout_ = on;
}

void FakeNode::SetReplicas(const v1::ReplicasResponse& resp,
                           grpc::Status status) {
  absl::MutexLock l(&mu_);
  replicas_ = resp;
  replicas_status_ = std::move(status);
}

std::vector<std::string> FakeNode::replicas_keys() const {
  absl::MutexLock l(&mu_);
  return replicas_keys_;
}

v1::RingLayoutResponse MakeLayout(const std::vector<FakeNode*>& nodes,
                                  int tokens, uint32_t replicas,
                                  uint64_t version, uint64_t seed) {
  v1::RingLayoutResponse layout;
  layout.set_version(version);
  layout.set_replicas(replicas);
  uint64_t x = seed;
  for (FakeNode* n : nodes) {
    v1::RingNode* rn = layout.add_nodes();
    rn->set_id(n->id());
    rn->set_address(n->address());
    rn->set_status("alive");
    for (int i = 0; i < tokens; ++i) rn->add_tokens(Mix64(x++));
  }
  return layout;
}

}  // namespace rumor::testing
