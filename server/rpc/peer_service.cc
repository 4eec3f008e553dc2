#include "server/rpc/peer_service.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "proto/peer.grpc.pb.h"
#include "common/status.h"
#include "server/membership/member_meta.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/peer_codec.h"

namespace rumor::server {

namespace {
class GossipReceiver;
}

struct PeerService::Impl final : public v1::Peer::CallbackService {
  PeerServiceOptions options;
  absl::Mutex mu;
  std::function<void(const Message&)> sink ABSL_GUARDED_BY(mu);
  // Open streams. Shutdown pins a receiver while it cancels the call
  // without the lock (gRPC may run the reactions inline), and the last of
  // OnDone and the unpin deletes it.
  struct Open {
    grpc::CallbackServerContext* ctx;
    int pins = 0;
    bool finished = false;  // Finish called: no cancelling needed any more
    std::optional<grpc::Status> deferred;  // Finish to call on unpin
  };
  std::map<GossipReceiver*, Open> open ABSL_GUARDED_BY(mu);
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  std::atomic<uint64_t> malformed{0};

  grpc::ServerReadReactor<v1::PeerFrame>* Gossip(
      grpc::CallbackServerContext* ctx, v1::PeerClose* resp) override;

  void Deliver(const Message& m) {
    std::function<void(const Message&)> s;
    {
      absl::MutexLock lock(&mu);
      s = sink;
    }
    if (s) s(m);
  }
};

namespace {

class GossipReceiver final : public grpc::ServerReadReactor<v1::PeerFrame> {
 public:
  GossipReceiver(PeerService::Impl* service, grpc::CallbackServerContext* ctx)
      : service_(service), ctx_(ctx) {
    {
      absl::MutexLock lock(&service_->mu);
      service_->open[this] = PeerService::Impl::Open{ctx, 0, false, std::nullopt};
    }
    // During shutdown, the next PeerService::Shutdown sweep cancels us.
    StartRead(&frame_);
  }

  // Finishes the call, unless Shutdown has us pinned (it is cancelling our
  // context and that context must stay alive): then Shutdown finishes us
  // when it unpins.
  void FinishOnce(grpc::Status status) {
    {
      absl::MutexLock lock(&service_->mu);
      auto& open = service_->open.at(this);
      if (open.finished) return;
      open.finished = true;
      if (open.pins > 0) {
        open.deferred = std::move(status);
        return;
      }
    }
    Finish(std::move(status));
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the peer closed its side, or the call was cancelled
      FinishOnce(grpc::Status::OK);
      return;
    }
    bool shutting_down;
    {
      absl::MutexLock lock(&service_->mu);
      shutting_down = service_->shut_down;
    }
    if (shutting_down) {
      FinishOnce(ToGrpcStatus(absl::UnavailableError("node shutting down")));
      return;
    }
    if (!hello_) {
      absl::Status refusal = CheckHello();
      if (!refusal.ok()) {
        RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
            << "refusing peer stream from " << ctx_->peer() << ": "
            << refusal.message();
        FinishOnce(ToGrpcStatus(refusal));
        return;
      }
      hello_ = true;
    } else if (frame_.has_swim()) {
      absl::StatusOr<Message> m = FromProto(frame_.swim());
      if (m.ok() && m->from != peer_id_) {
        m = absl::InvalidArgumentError("sender id differs from the stream's");
      }
      if (!m.ok()) {
        service_->malformed++;
        RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
            << "dropping malformed message from peer " << peer_address_
            << ": " << m.status().message();
      } else {
        service_->Deliver(*m);
      }
    } else {
      service_->malformed++;
      RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
          << "dropping unknown frame from peer " << peer_address_;
    }
    StartRead(&frame_);
  }

  void OnDone() override {
    // Only after Finish, which is never called while we are pinned.
    {
      absl::MutexLock lock(&service_->mu);
      service_->open.erase(this);
    }
    delete this;
  }

 private:
  absl::Status CheckHello() {
    if (!frame_.has_hello()) {
      return absl::InvalidArgumentError(
          "the first frame of a peer stream must be a hello");
    }
    const v1::PeerHello& h = frame_.hello();
    RUMOR_RETURN_IF_ERROR(server::CheckHello(h, service_->options.cluster));
    peer_id_ = h.node_id();
    peer_address_ = h.address();
    return absl::OkStatus();
  }

  PeerService::Impl* service_;
  grpc::CallbackServerContext* ctx_;
  v1::PeerFrame frame_;
  bool hello_ = false;
  NodeId peer_id_ = kNoNode;
  std::string peer_address_;
};

// A stream refused before it starts (no certificate from the cluster CA).
class RefusedGossip final : public grpc::ServerReadReactor<v1::PeerFrame> {
 public:
  explicit RefusedGossip(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerReadReactor<v1::PeerFrame>* PeerService::Impl::Gossip(
    grpc::CallbackServerContext* ctx, v1::PeerClose*) {
  if (options.authorizer != nullptr) {
    absl::Status s = options.authorizer->Check(*ctx, "gossip");
    if (!s.ok()) {
      RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
          << "refused a gossip stream from " << ctx->peer() << ": " << s;
      return new RefusedGossip(ToGrpcStatus(s));
    }
  }
  return new GossipReceiver(this, ctx);
}

PeerService::PeerService(PeerServiceOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

PeerService::~PeerService() = default;

grpc::Service* PeerService::service() { return impl_.get(); }

void PeerService::SetSink(std::function<void(const Message&)> sink) {
  absl::MutexLock lock(&impl_->mu);
  impl_->sink = std::move(sink);
}

void PeerService::Shutdown() {
  std::vector<std::pair<GossipReceiver*, grpc::CallbackServerContext*>> pinned;
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->shut_down = true;
    impl_->sink = nullptr;
    for (auto& [receiver, open] : impl_->open) {
      if (open.finished) continue;  // nothing to cancel; it may be freed soon
      ++open.pins;
      pinned.push_back({receiver, open.ctx});
    }
  }
  for (auto& [receiver, ctx] : pinned) ctx->TryCancel();
  for (auto& [receiver, ctx] : pinned) {
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&impl_->mu);
      auto& open = impl_->open.at(receiver);
      if (--open.pins == 0 && open.deferred) {
        finish = std::move(open.deferred);
        open.deferred.reset();
      }
    }
    if (finish) receiver->Finish(std::move(*finish));
  }
}

uint64_t PeerService::malformed_frames() const { return impl_->malformed; }

}  // namespace rumor::server
