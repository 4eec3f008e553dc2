#include "server/rpc/kv_service.h"

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "proto/kv.grpc.pb.h"
#include "server/rpc/grpc_status.h"

namespace rumor::server {
namespace {

std::string_view View(const std::string& s) { return s; }

RequestOptions FromProto(const v1::RequestOptions& o) {
  RequestOptions out;
  out.r = o.r();
  out.w = o.w();
  out.timeout = absl::Milliseconds(o.timeout_ms());
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
  KvService(Coordinator* coordinator, RequestTracker* tracker)
      : coordinator_(coordinator), tracker_(tracker) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx,
                                const v1::GetRequest* req,
                                v1::GetResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    if (!tracker_->Begin()) {
      reactor->Finish(ShuttingDown());
      return reactor;
    }
    coordinator_->Get(
        View(req->key()), FromProto(req->options()),
        [this, reactor, resp](absl::StatusOr<ObjectView> view) {
          if (view.ok()) {
            resp->set_found(view->found);
            FillValues(std::move(*view), resp->mutable_values(),
                       resp->mutable_context());
          }
          reactor->Finish(ToGrpcStatus(view.status()));
          tracker_->End();
        });
    return reactor;
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const v1::PutRequest* req,
                                v1::PutResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    if (!tracker_->Begin()) {
      reactor->Finish(ShuttingDown());
      return reactor;
    }
    bool return_body = req->return_body();
    coordinator_->Put(
        View(req->key()), View(req->value()), View(req->context()),
        FromProto(req->options()), return_body,
        [this, reactor, resp, return_body](absl::StatusOr<ObjectView> view) {
          if (view.ok() && return_body) {
            FillValues(std::move(*view), resp->mutable_values(),
                       resp->mutable_context());
          }
          reactor->Finish(ToGrpcStatus(view.status()));
          tracker_->End();
        });
    return reactor;
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const v1::DeleteRequest* req,
                                   v1::DeleteResponse*) override {
    auto* reactor = ctx->DefaultReactor();
    if (!tracker_->Begin()) {
      reactor->Finish(ShuttingDown());
      return reactor;
    }
    coordinator_->Delete(View(req->key()), View(req->context()),
                         FromProto(req->options()),
                         [this, reactor](absl::Status s) {
                           reactor->Finish(ToGrpcStatus(s));
                           tracker_->End();
                         });
    return reactor;
  }

 private:
  Coordinator* const coordinator_;
  RequestTracker* const tracker_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewKvService(Coordinator* coordinator,
                                            RequestTracker* tracker) {
  return std::make_unique<KvService>(coordinator, tracker);
}

}  // namespace rumor::server
