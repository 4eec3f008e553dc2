#include "server/rpc/kv_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "absl/time/time.h"
#include "proto/kv.grpc.pb.h"
#include "server/rpc/grpc_status.h"

namespace rumor::server {
namespace {

std::string_view View(const std::string& s) { return s; }

// The request's options; its budget is also capped by the client's own
// deadline (less a margin for the answer to travel back), so a slow quorum
// is reported as such rather than as the client's own timeout.
RequestOptions FromProto(const v1::RequestOptions& o,
                         grpc::CallbackServerContext* ctx) {
  RequestOptions out;
  out.r = o.r();
  out.w = o.w();
  out.timeout = absl::Milliseconds(o.timeout_ms());
  absl::Time client_deadline = absl::FromChrono(ctx->deadline());
  if (client_deadline < absl::InfiniteFuture()) {
    absl::Duration left =
        client_deadline - absl::Now() - absl::Milliseconds(50);
    left = std::max(left, absl::Milliseconds(1));
    if (out.timeout == absl::ZeroDuration() || left < out.timeout) {
      out.timeout = left;
    }
  }
  return out;
}

void FillValues(ObjectView view,
                google::protobuf::RepeatedPtrField<std::string>* values,
                std::string* context) {
  for (auto& v : view.values) values->Add(std::move(v));
  *context = std::move(view.context);
}

grpc::Status ShuttingDown() {
  return ToGrpcStatus(
      absl::UnavailableError("node is shutting down; retry on another node"));
}

class KvService final : public v1::KV::CallbackService {
 public:
  KvService(Coordinator* coordinator, RequestTracker* tracker,
            RequestMetrics* metrics, std::function<uint64_t()> ring_version)
      : coordinator_(coordinator),
        tracker_(tracker),
        metrics_(metrics),
        ring_version_(std::move(ring_version)) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx,
                                const v1::GetRequest* req,
                                v1::GetResponse* resp) override {
    ctx->AddInitialMetadata("rumor-ring-version",
                            std::to_string(ring_version_()));
    auto* reactor = ctx->DefaultReactor();
    if (!tracker_->Begin()) {
      Refused(RequestOp::kGet);
      reactor->Finish(ShuttingDown());
      return reactor;
    }
    auto started = std::chrono::steady_clock::now();
    coordinator_->Get(
        View(req->key()), FromProto(req->options(), ctx),
        [this, reactor, resp, started](absl::StatusOr<ObjectView> view) {
          Record(RequestOp::kGet, view.status(), view.ok() && !view->found,
                 started);
          if (view.ok()) {
            resp->set_found(view->found);
            FillValues(std::move(*view), resp->mutable_values(),
                       resp->mutable_context());
          }
          reactor->Finish(ToGrpcStatus(view.status()));
          tracker_->End(started);
        });
    return reactor;
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const v1::PutRequest* req,
                                v1::PutResponse* resp) override {
    ctx->AddInitialMetadata("rumor-ring-version",
                            std::to_string(ring_version_()));
    auto* reactor = ctx->DefaultReactor();
    if (!tracker_->Begin()) {
      Refused(RequestOp::kPut);
      reactor->Finish(ShuttingDown());
      return reactor;
    }
    bool return_body = req->return_body();
    auto started = std::chrono::steady_clock::now();
    coordinator_->Put(
        View(req->key()), View(req->value()), View(req->context()),
        FromProto(req->options(), ctx), return_body,
        [this, reactor, resp, return_body,
         started](absl::StatusOr<ObjectView> view) {
          Record(RequestOp::kPut, view.status(), false, started);
          if (view.ok() && return_body) {
            FillValues(std::move(*view), resp->mutable_values(),
                       resp->mutable_context());
          }
          reactor->Finish(ToGrpcStatus(view.status()));
          tracker_->End(started);
        });
    return reactor;
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const v1::DeleteRequest* req,
                                   v1::DeleteResponse*) override {
    ctx->AddInitialMetadata("rumor-ring-version",
                            std::to_string(ring_version_()));
    auto* reactor = ctx->DefaultReactor();
    if (!tracker_->Begin()) {
      Refused(RequestOp::kDelete);
      reactor->Finish(ShuttingDown());
      return reactor;
    }
    auto started = std::chrono::steady_clock::now();
    coordinator_->Delete(View(req->key()), View(req->context()),
                         FromProto(req->options(), ctx),
                         [this, reactor, started](absl::Status s) {
                           Record(RequestOp::kDelete, s, false, started);
                           reactor->Finish(ToGrpcStatus(s));
                           tracker_->End(started);
                         });
    return reactor;
  }

 private:
  void Record(RequestOp op, const absl::Status& s, bool not_found,
              std::chrono::steady_clock::time_point started) {
    metrics_->Record(op, s.code(), not_found,
                     std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::steady_clock::now() - started)
                         .count());
  }
  void Refused(RequestOp op) {
    metrics_->Record(op, absl::StatusCode::kUnavailable, false, 0);
  }

  Coordinator* const coordinator_;
  RequestTracker* const tracker_;
  RequestMetrics* const metrics_;
  const std::function<uint64_t()> ring_version_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewKvService(
    Coordinator* coordinator, RequestTracker* tracker,
    RequestMetrics* metrics, std::function<uint64_t()> ring_version) {
  return std::make_unique<KvService>(coordinator, tracker, metrics,
                                     std::move(ring_version));
}

}  // namespace rumor::server
