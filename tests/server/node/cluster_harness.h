// In-process clusters for replication tests: real Nodes (gRPC on
// 127.0.0.1, RocksDB in temp dirs) with fast timers, plus a way to look at
// each node's own copy of a key (a replication fetch, as a peer would).
// Every wait has a deadline.
#ifndef RUMOR_TESTS_SERVER_NODE_CLUSTER_HARNESS_H_
#define RUMOR_TESTS_SERVER_NODE_CLUSTER_HARNESS_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "proto/admin.grpc.pb.h"
#include "server/node/node.h"
#include "server/ring/ring.h"
#include "server/rpc/replica_client.h"
#include "storage/dvv.h"
#include "storage/rocksdb_engine.h"
#include "tests/support/temp_dir.h"

namespace rumor::server::testing {

// Polls `cond` every 20 ms until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& cond,
                    absl::Duration timeout = absl::Seconds(30)) {
  absl::Time end = absl::Now() + timeout;
  while (true) {
    if (cond()) return true;
    if (absl::Now() >= end) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

class Cluster {
 public:
  Cluster() {
    ReplicaClientOptions o;
    o.self = 0x7e57;
    o.self_address = "127.0.0.1:1";
    fetcher_ = std::make_unique<ReplicaClient>(o);
  }
  ~Cluster() {
    fetcher_->Shutdown();
    for (auto& n : nodes_) {
      if (n) n->Shutdown(absl::Seconds(1));
    }
  }

  // Options every test node starts with; `tweak` adjusts them.
  NodeOptions Options(int i) {
    NodeOptions o;
    o.listen = ports_.count(i) ? "127.0.0.1:" + std::to_string(ports_[i])
                               : "127.0.0.1:0";
    o.data_dir = dir_.Sub("node" + std::to_string(i));
    o.probe_interval = absl::Milliseconds(100);
    o.handoff_interval = absl::Milliseconds(100);
    o.handoff_settle = absl::Milliseconds(500);
    o.request_timeout = absl::Seconds(3);
    if (i > 0 && nodes_.size() > 0 && nodes_[0]) {
      o.seeds = {nodes_[0]->address()};
    } else if (i > 0) {
      for (auto& n : nodes_) {
        if (n) {
          o.seeds = {n->address()};
          break;
        }
      }
    }
    if (tweak_) tweak_(&o);
    return o;
  }
  void SetTweak(std::function<void(NodeOptions*)> tweak) {
    tweak_ = std::move(tweak);
  }

  // Starts (or restarts, on the same port and data dir) node i.
  Node* Start(int i) {
    if (static_cast<int>(nodes_.size()) <= i) nodes_.resize(i + 1);
    auto node = Node::Start(Options(i));
    EXPECT_TRUE(node.ok()) << node.status();
    if (!node.ok()) return nullptr;
    nodes_[i] = std::move(*node);
    std::string address = nodes_[i]->address();
    int port = 0;
    EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port));
    ports_[i] = port;
    clients_.erase(i);
    return nodes_[i].get();
  }
  void StartAll(int n) {
    for (int i = 0; i < n; ++i) ASSERT_NE(Start(i), nullptr);
  }
  // A clean stop (not a leave): the node keeps its ranges.
  void Stop(int i) {
    clients_.erase(i);
    nodes_[i]->Shutdown(absl::Seconds(1));
    nodes_[i].reset();
  }
  bool Running(int i) const {
    return i < static_cast<int>(nodes_.size()) && nodes_[i] != nullptr;
  }
  Node* node(int i) { return nodes_[i].get(); }
  std::string address(int i) {
    return "127.0.0.1:" + std::to_string(ports_[i]);
  }
  NodeId id(int i) { return ids_.count(i) ? ids_[i] : (ids_[i] = nodes_[i]->id()); }
  int size() const { return static_cast<int>(nodes_.size()); }

  // A client that sends everything to node i (no ring routing), so the
  // test decides which node coordinates.
  client::Client& client(int i) {
    auto& c = clients_[i];
    if (!c) {
      client::ClientOptions o;
      o.server = address(i);
      o.routing = client::ClientOptions::Routing::kAny;
      o.timeout = absl::Seconds(10);
      c = std::move(*client::Client::Connect(o));
    }
    return *c;
  }

  // A counter from node i's status, or -1.
  int64_t Value(int i, const std::string& name) {
    auto st = client(i).Status();
    if (!st.ok()) return -1;
    for (const auto& [n, v] : st->counters) {
      if (n == name) return static_cast<int64_t>(v);
    }
    return -1;
  }

  // The ring as node i reports it.
  std::shared_ptr<const Ring> RingAt(int i) {
    auto channel = grpc::CreateChannel(address(i),
                                       grpc::InsecureChannelCredentials());
    auto stub = v1::Admin::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::RingLayoutResponse resp;
    if (!stub->RingLayout(&ctx, v1::RingLayoutRequest(), &resp).ok()) {
      return nullptr;
    }
    std::vector<RingMember> members;
    for (const auto& n : resp.nodes()) {
      members.push_back(RingMember{n.id(), {n.tokens().begin(), n.tokens().end()}});
    }
    return std::make_shared<const Ring>(members);
  }

  // True when every running node sees a ring of exactly `ids`.
  // True when every running node reports exactly `ids` as ring members
  // and has joined its cluster (a restarted node refuses requests until a
  // peer answers it, even when it remembers the ring).
  bool RingIs(const std::set<NodeId>& ids) {
    for (int i = 0; i < size(); ++i) {
      if (!Running(i)) continue;
      if (Value(i, "cluster_joined") != 1) return false;
      auto ring = RingAt(i);
      if (!ring) return false;
      std::set<NodeId> seen;
      for (const auto& [t, id] : ring->tokens()) seen.insert(id);
      if (seen != ids) return false;
    }
    return true;
  }

  // Node i's own copy of `key` (nullopt: it could not be asked).
  std::optional<storage::DvvSet> Fetch(int i, const std::string& key,
                                       NodeId hint_for = kNoNode) {
    auto got = FetchMany(i, {key}, hint_for);
    return got[0];
  }
  // Deletes everything in stopped node i's data column, keeping its meta
  // column (its id, tokens and epochs): a lost or replaced data disk.
  // Returns how many entries it deleted.
  absl::StatusOr<size_t> WipeData(int i) {
    auto engine = storage::OpenRocksDbEngine(Options(i).data_dir + "/db",
                                             storage::RocksDbOptions{});
    if (!engine.ok()) return engine.status();
    storage::WriteBatch wipe;
    absl::Status s = (*engine)->Scan(
        storage::Column::kData, "", "",
        [&](std::string_view k, std::string_view) {
          wipe.Delete(storage::Column::kData, k);
          return true;
        });
    if (!s.ok()) return s;
    s = (*engine)->Write(wipe);
    if (!s.ok()) return s;
    return wipe.ops().size();
  }

  // Sends one replica op to node i, as a peer would, and waits for its
  // answer (10 s at most).
  ReplicaReply Call(int i, ReplicaOp op) {
    struct Wait {
      absl::Mutex mu;
      std::optional<ReplicaReply> result;
    };
    auto wait = std::make_shared<Wait>();  // outlives a late answer
    fetcher_->Call(address(i), std::move(op), absl::Now() + absl::Seconds(10),
                   [wait](ReplicaReply r) {
                     absl::MutexLock lock(&wait->mu);
                     wait->result = std::move(r);
                   });
    absl::MutexLock lock(&wait->mu);
    // The client answers every call by its deadline; the margin catches a
    // client that would not (the test then fails instead of hanging).
    if (!wait->mu.AwaitWithTimeout(
            absl::Condition(
                +[](std::optional<ReplicaReply>* r) { return r->has_value(); },
                &wait->result),
            absl::Seconds(20))) {
      ADD_FAILURE() << "no answer from node " << i << " within 20 s";
      ReplicaReply r;
      r.status = absl::DeadlineExceededError("no answer");
      return r;
    }
    return std::move(*wait->result);
  }
  // Merges `object` into node i's own copy of `key` (as a replica write
  // would), bypassing every coordinator: for planting divergent replicas.
  absl::Status Store(int i, const std::string& key,
                     const storage::DvvSet& object) {
    ReplicaOp op;
    op.kind = ReplicaOp::Kind::kStore;
    op.key = key;
    op.object = object.Encode();
    return Call(i, std::move(op)).status;
  }

  std::vector<std::optional<storage::DvvSet>> FetchMany(
      int i, const std::vector<std::string>& keys, NodeId hint_for = kNoNode) {
    std::vector<std::optional<storage::DvvSet>> out(keys.size());
    absl::Mutex mu;
    size_t left = keys.size();
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (size_t k = 0; k < keys.size(); ++k) {
      ReplicaOp op;
      op.kind = ReplicaOp::Kind::kFetch;
      op.key = keys[k];
      op.hint_for = hint_for;
      fetcher_->Call(address(i), op, deadline, [&, k](ReplicaReply r) {
        absl::MutexLock lock(&mu);
        if (r.status.ok()) {
          if (!r.found) {
            out[k] = storage::DvvSet();
          } else if (auto d = storage::DvvSet::Decode(r.object); d.ok()) {
            out[k] = std::move(*d);
          }
        }
        --left;
      });
    }
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](size_t* l) { return *l == 0; }, &left));
    return out;
  }

 private:
  rumor::testing::TempDir dir_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<int, int> ports_;
  std::map<int, NodeId> ids_;
  std::map<int, std::unique_ptr<client::Client>> clients_;
  std::unique_ptr<ReplicaClient> fetcher_;
  std::function<void(NodeOptions*)> tweak_;
};

// The ids of the cluster's nodes `which`.
inline std::set<NodeId> Ids(Cluster& c, std::vector<int> which) {
  std::set<NodeId> out;
  for (int i : which) out.insert(c.id(i));
  return out;
}

// Writes keys prefix0..prefix<n-1> through node `via`, each with the value
// "value-" + key (no context); fails the test on any error.
inline std::vector<std::string> WriteKeys(Cluster& c, int via, int n,
                                          const std::string& prefix) {
  std::vector<std::string> keys;
  for (int k = 0; k < n; ++k) {
    std::string key = prefix + std::to_string(k);
    absl::Status s = c.client(via).Put(key, "value-" + key, "").status();
    EXPECT_TRUE(s.ok()) << key << ": " << s;
    keys.push_back(key);
  }
  return keys;
}

// The same through PutAsync, `window` writes in flight at a time: for
// tests that need many keys. Fails the test (and stops) on a write that
// fails or does not finish within 60 s.
inline std::vector<std::string> WriteKeysConcurrently(
    Cluster& c, int via, int n, const std::string& prefix, int window = 64) {
  struct Flight {
    absl::Mutex mu;
    int in_flight ABSL_GUARDED_BY(mu) = 0;
    int failed ABSL_GUARDED_BY(mu) = 0;
    absl::Status first ABSL_GUARDED_BY(mu);
  };
  auto flight = std::make_shared<Flight>();  // outlives a late answer
  std::vector<std::string> keys;
  client::CallOptions opts;
  opts.timeout = absl::Seconds(10);
  auto drained_to = [&](int most) {
    absl::MutexLock lock(&flight->mu);
    auto below = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(flight->mu) {
      return flight->in_flight <= most;
    };
    return flight->mu.AwaitWithTimeout(absl::Condition(&below),
                                       absl::Seconds(60)) &&
           flight->failed == 0;
  };
  for (int k = 0; k < n; ++k) {
    if (!drained_to(window - 1)) break;
    std::string key = prefix + std::to_string(k);
    {
      absl::MutexLock lock(&flight->mu);
      ++flight->in_flight;
    }
    c.client(via).PutAsync(key, "value-" + key, "", opts, false,
                           [flight](absl::StatusOr<client::Object> r) {
                             absl::MutexLock lock(&flight->mu);
                             --flight->in_flight;
                             if (!r.ok() && flight->failed++ == 0) {
                               flight->first = r.status();
                             }
                           });
    keys.push_back(std::move(key));
  }
  bool done = drained_to(0);
  absl::MutexLock lock(&flight->mu);
  EXPECT_TRUE(done && flight->failed == 0)
      << flight->failed << " writes failed, the first: " << flight->first
      << "; " << flight->in_flight << " unfinished";
  return keys;
}

}  // namespace rumor::server::testing

#endif  // RUMOR_TESTS_SERVER_NODE_CLUSTER_HARNESS_H_
