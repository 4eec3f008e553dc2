// Static facts about a running node, as Admin.Status reports them. A plain
// struct, so that code needing only these facts (kvd's main) does not pull
// in the membership protocol's headers.
#ifndef RUMOR_SERVER_RPC_NODE_INFO_H_
#define RUMOR_SERVER_RPC_NODE_INFO_H_

#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "common/types.h"
#include "server/replication/limits.h"

namespace rumor::server {

// Static facts about a running node, reported by Admin.Status.
struct NodeInfo {
  NodeId id = kNoNode;
  std::string address;
  std::string data_dir;
  std::string cluster;
  bool sync = false;
  Limits limits;
  absl::Time started;
  absl::Duration probe_interval;
  size_t replicas = 3;
  size_t r = 2;
  size_t w = 2;
  uint64_t actor = 0;  // mints this node's dots
};

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_NODE_INFO_H_
