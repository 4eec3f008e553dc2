#include "server/admin_service.h"

#include <grpcpp/grpcpp.h>

#include "common/clock.h"
#include "proto/admin.grpc.pb.h"
#include "common/version.h"

namespace rumor::server {
namespace {

class AdminService final : public v1::Admin::CallbackService {
 public:
  explicit AdminService(const AdminBackend* backend) : backend_(backend) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const v1::StatusRequest*,
                                   v1::StatusResponse* resp) override {
    NodeInfo info = backend_->Info();
    resp->set_node_id(info.id);
    resp->set_address(info.address);
    resp->set_version(kVersion);
    resp->set_uptime_seconds(
        absl::ToInt64Seconds(SteadyClock::Get()->Now() - info.started));
    resp->set_data_dir(info.data_dir);
    resp->set_sync_writes(info.sync);
    resp->set_max_key_bytes(info.limits.max_key_bytes);
    resp->set_max_value_bytes(info.limits.max_value_bytes);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const AdminBackend* const backend_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewAdminService(const AdminBackend* backend) {
  return std::make_unique<AdminService>(backend);
}

}  // namespace rumor::server
