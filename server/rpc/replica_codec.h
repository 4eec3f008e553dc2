// Conversion between replication's plain ops (server/replication/
// replica_ops.h) and peer.proto's ReplicaRequest/ReplicaResponse, with
// validation: nothing a peer sends reaches the coordinator unchecked.
// Thread-safe (pure functions).
#ifndef RUMOR_SERVER_RPC_REPLICA_CODEC_H_
#define RUMOR_SERVER_RPC_REPLICA_CODEC_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "server/replication/replica_ops.h"

namespace rumor::v1 {
class ReplicaRequest;
class ReplicaResponse;
}  // namespace rumor::v1

namespace rumor::server {

void ToProto(const ReplicaOp& op, uint64_t id, v1::ReplicaRequest* out);
// INVALID_ARGUMENT naming the first problem found.
absl::StatusOr<ReplicaOp> FromProto(const v1::ReplicaRequest& in);

void ToProto(const ReplicaReply& reply, uint64_t id, v1::ReplicaResponse* out);
// A response that makes no sense becomes an INTERNAL status, not a crash.
ReplicaReply FromProto(const v1::ReplicaResponse& in);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_REPLICA_CODEC_H_
