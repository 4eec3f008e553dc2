#include "server/node/node.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/service_type.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/executor.h"
#include "common/log.h"
#include "common/status.h"
#include "common/version.h"
#include "common/hash.h"
#include "server/membership/membership_runner.h"
#include "server/metrics/exposition.h"
#include "server/metrics/http_server.h"
#include "server/metrics/request_metrics.h"
#include "server/node/data_dir.h"
#include "server/node/node_meta.h"
#include "server/antientropy/anti_entropy.h"
#include "server/replication/cluster_view.h"
#include "server/replication/coordinator.h"
#include "server/replication/handoff.h"
#include "server/replication/hint_store.h"
#include "server/replication/placement.h"
#include "server/rpc/admin_service.h"
#include "server/rpc/kv_service.h"
#include "server/rpc/peer_codec.h"
#include "server/rpc/peer_service.h"
#include "server/rpc/peer_transport.h"
#include "server/rpc/replica_client.h"
#include "server/rpc/replica_service.h"
#include "server/rpc/tls.h"
#include "storage/column_store.h"
#include "storage/object_store.h"
#include "storage/rocksdb_engine.h"

namespace rumor::server {
namespace {

// The replication transport as the coordinator sees it from the start:
// calls fail as unreachable until the node knows its own address and the
// real client exists.
class TransportProxy final : public ReplicaTransport {
 public:
  void Set(ReplicaClient* client) { client_.store(client); }
  void Call(const std::string& address, ReplicaOp op, absl::Time deadline,
            ReplyCallback done) override {
    ReplicaClient* c = client_.load();
    if (c == nullptr) {
      ReplicaReply r;
      r.status = absl::UnavailableError("node is still starting");
      std::move(done)(std::move(r));
      return;
    }
    c->Call(address, std::move(op), deadline, std::move(done));
  }
  bool Reachable(const std::string& address) override {
    ReplicaClient* c = client_.load();
    return c != nullptr && c->Reachable(address);
  }

 private:
  std::atomic<ReplicaClient*> client_{nullptr};
};

// Membership's transport: gossip goes to the peer transport; a forgotten
// member's links are dropped from both transports.
class MembershipTransport final : public Transport {
 public:
  MembershipTransport(PeerTransport* peers, ReplicaClient* replicas)
      : peers_(peers), replicas_(replicas) {}
  void Send(const std::string& address, Message message) override {
    peers_->Send(address, std::move(message));
  }
  void Forget(const std::string& address) override {
    peers_->Forget(address);
    replicas_->Forget(address);
  }

 private:
  PeerTransport* const peers_;
  ReplicaClient* const replicas_;
};

}  // namespace

struct Node::State final : public AdminBackend {
  // --- AdminBackend
  NodeInfo Info() const override {
    absl::MutexLock lock(&info_mu);
    return info;
  }
  std::vector<std::pair<std::string, uint64_t>> Values() const override {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const NodeValue& v : NodeValues()) out.push_back({v.name, v.value});
    for (const auto& [owner, count] : hints->Counts()) {
      out.push_back({"hints_for_" + NodeIdToString(owner), count});
    }
    return out;
  }
  // A named counter or gauge: one line of `kvcli status`, and on /metrics
  // rumor_<name> (with _total for a counter).
  struct NodeValue {
    std::string name;
    uint64_t value = 0;
    MetricType type = MetricType::kGauge;
    const char* help = "";
  };
  std::vector<NodeValue> NodeValues() const {
    constexpr MetricType kC = MetricType::kCounter;
    constexpr MetricType kG = MetricType::kGauge;
    storage::EngineStats es = engine->Stats();
    PeerTransportStats ts = peer_transport ? peer_transport->stats()
                                           : PeerTransportStats{};
    std::vector<NodeValue> out = {
        {"storage_wal_syncs", es.wal_syncs, kC, "Write-ahead log syncs."},
        {"storage_sst_bytes", es.sst_bytes, kG,
         "Bytes in RocksDB's table files."},
        {"storage_memtable_bytes", es.memtable_bytes, kG,
         "Bytes in RocksDB's memtables."},
        {"storage_pending_compaction_bytes", es.pending_compaction_bytes, kG,
         "Bytes RocksDB estimates compaction still has to rewrite."},
        {"storage_stall_micros", es.stall_micros, kC,
         "Microseconds RocksDB delayed or stopped writes for."},
        {"storage_writes_stopped", es.writes_stopped ? 1u : 0u, kG,
         "1 while RocksDB stops writes."},
        {"storage_disk_free_bytes", es.disk_free_bytes, kG,
         "Free bytes on the data directory's file system."},
        {"storage_writes_refused_disk_full", es.writes_refused_disk_full, kC,
         "Writes refused because the disk is below the free-space margin."},
        {"storage_queue_depth", storage_pool ? storage_pool->queued() : 0, kG,
         "Storage work waiting for the storage thread pool."},
        {"peer_frames_sent", ts.frames_sent, kC, "Gossip frames sent."},
        {"peer_frames_dropped", ts.frames_dropped, kC,
         "Gossip frames dropped (queue full or no stream)."},
        {"peer_streams_opened", ts.streams_opened, kC,
         "Gossip streams opened to peers (reconnects included)."},
        {"peer_stream_failures", ts.stream_failures, kC,
         "Gossip streams that failed."},
        {"peer_links", ts.links, kG, "Peers with a gossip link."},
        {"peer_links_forgotten", ts.links_forgotten, kC,
         "Gossip links dropped for departed members."},
        {"peer_links_expired", ts.links_expired, kC,
         "Idle gossip links closed."},
        {"peer_malformed_frames",
         peer_service ? peer_service->malformed_frames() : 0, kC,
         "Gossip frames from peers that did not decode (dropped)."},
    };
    CoordinatorStats cs = coordinator->stats();
    out.insert(out.end(), {
        {"requests_get", cs.gets, kC, "Gets coordinated."},
        {"requests_put", cs.puts, kC, "Puts coordinated."},
        {"requests_delete", cs.deletes, kC, "Deletes coordinated."},
        {"requests_forwarded", cs.forwarded, kC,
         "Requests forwarded to a replica of their key."},
        {"quorum_unavailable", cs.unavailable, kC,
         "Requests refused: too few replicas reachable for R or W."},
        {"quorum_timeouts", cs.timeouts, kC,
         "Requests whose quorum did not answer in time."},
        {"read_repairs", cs.read_repairs, kC,
         "Stale replicas updated by read repair."},
        {"hints_sent", cs.hints_sent, kC,
         "Writes sent to a fallback node as hints."},
        {"replica_writes_received", cs.replica_writes, kC,
         "Replica writes this node applied for a coordinator."},
        {"hints_stored", cs.hints_stored, kC,
         "Hints this node stored for other nodes."}});
    uint64_t total = 0;
    for (const auto& [owner, count] : hints->Counts()) total += count;
    out.push_back({"hints_held", total, kG, "Hints held for other nodes."});
    out.push_back({"hints_dropped", hints->dropped(), kC,
                   "Hints refused because their owner's queue was full."});
    if (handoff != nullptr) {
      HandoffStats hs = handoff->stats();
      out.insert(out.end(), {
          {"hints_delivered", hs.hints_delivered, kC,
           "Hints delivered to their owner."},
          {"hints_rehomed", hs.hints_rehomed, kC,
           "Hints sent to current replicas after their owner left."},
          {"handoff_keys_sent", hs.keys_sent, kC,
           "Keys sent to new owners by range handoff."},
          {"handoff_keys_dropped", hs.keys_dropped, kC,
           "Keys deleted after every new owner had them."},
          {"handoff_ranges_pending", hs.transfers_pending, kG,
           "Ranges still to hand off."},
          {"handoff_failures", hs.failures, kC,
           "Handoff batches that failed (retried)."},
          {"join_keys_pulled", hs.keys_pulled, kC,
           "Objects pulled while joining."},
          {"join_ranges_left", hs.bootstrap_ranges_left, kG,
           "Joining: ranges not pulled yet."}});
    }
    if (replica_client != nullptr) {
      ReplicaClientStats rs = replica_client->stats();
      out.insert(out.end(), {
          {"replica_calls", rs.calls, kC, "Replication calls made."},
          {"replica_frames_sent", rs.frames_sent, kC,
           "Replication frames sent."},
          {"replica_calls_failed", rs.failed, kC,
           "Replication calls that failed."},
          {"replica_calls_timed_out", rs.timed_out, kC,
           "Replication calls that timed out."},
          {"replica_streams_opened", rs.streams_opened, kC,
           "Replication streams opened (reconnects included)."}});
    }
    if (antientropy != nullptr) {
      AntiEntropy::State ae = antientropy->GetState();
      out.insert(out.end(), {
          {"aae_tree_ready", ae.ready ? 1u : 0u, kG,
           "1 once the anti-entropy hash tree is built."},
          {"aae_tree_keys_at_build", ae.build_keys, kG,
           "Keys in the hash tree when it was built."},
          {"aae_tree_bytes", ae.tree_bytes, kG,
           "Memory of the hash tree."},
          {"aae_exchanges", ae.counters.exchanges, kC,
           "Anti-entropy exchanges with peers."},
          {"aae_exchange_failures", ae.counters.exchange_failures, kC,
           "Anti-entropy exchanges that failed."},
          {"aae_keys_compared", ae.counters.keys_compared, kC,
           "Keys compared by anti-entropy."},
          {"aae_keys_repaired", ae.counters.keys_repaired, kC,
           "Keys repaired by anti-entropy."},
          {"aae_bytes", ae.counters.bytes, kC,
           "Bytes moved by anti-entropy repair."},
          {"aae_backoffs", ae.counters.backoffs, kC,
           "Times anti-entropy backed off for client load."},
          {"aae_rate_share_percent",
           static_cast<uint64_t>(ae.pacing.share * 100 + 0.5), kG,
           "Share of its rate limit anti-entropy runs at now."},
          {"aae_slowdowns", ae.pacing.slowdowns, kC,
           "Times client latency slowed anti-entropy down."},
          {"aae_latency_probes", ae.pacing.probes, kC,
           "Latency samples the repair governor took."},
          {"aae_tree_checks", ae.verify.runs, kC,
           "Verifications of the hash tree against the data."},
          {"aae_tree_segments_corrected", ae.verify.segments_corrected,
           kC, "Hash tree segments a verification corrected."},
          {"tombstones_pending", ae.reaping.pending, kG,
           "Tombstones waiting for their grace period to reap."},
          {"tombstones_reaped", ae.reaping.reaped, kC,
           "Tombstones removed everywhere."},
          {"tombstones_kept", ae.reaping.kept, kC,
           "Tombstones kept because a replica lacked them."}});
    }
    out.push_back({"actor_epoch", actor_epoch.load(), kG,
                   "This node's actor epoch (dots it writes)."});
    MembershipRunner* r = Runner();
    out.push_back({"cluster_joined", r != nullptr && r->Joined() ? 1u : 0u,
                   kG, "1 once the node knows the ring."});
    return out;
  }

  // Everything /metrics shows, in Prometheus' text format.
  std::string RenderMetrics() const {
    MetricsWriter w;
    NodeInfo i = Info();
    w.Family("rumor_node_info", MetricType::kGauge,
             "Always 1; labels describe the node.");
    w.Sample("rumor_node_info",
             {{"node", NodeIdToString(i.id)},
              {"address", i.address},
              {"cluster", i.cluster},
              {"version", kVersion}},
             uint64_t{1});
    w.Gauge("rumor_uptime_seconds", "Seconds since the node started.",
            static_cast<uint64_t>(absl::ToInt64Seconds(
                SteadyClock::Get()->Now() - i.started)));
    w.Gauge("rumor_serving", "1 while the node serves clients (health).",
            serving.load() ? 1u : 0u);
    request_metrics.Write(&w);
    absl::StatusOr<MembershipSnapshot> ms = Membership();
    if (ms.ok()) {
      std::map<std::string, uint64_t> by_status = {
          {"alive", 0}, {"suspect", 0}, {"dead", 0}, {"left", 0}};
      for (const MemberState& m : ms->members) {
        ++by_status[MemberStatusName(m.status)];
      }
      w.Family("rumor_members", MetricType::kGauge,
               "Cluster members by status, as this node sees them (itself "
               "included).");
      for (const auto& [status, n] : by_status) {
        w.Sample("rumor_members", {{"status", status}}, n);
      }
      w.Gauge("rumor_local_health",
              "Lifeguard's local health awareness; 0 is healthy.",
              static_cast<uint64_t>(std::max(0, ms->awareness)));
      const MembershipStats& st = ms->stats;
      for (const NodeValue& v : std::initializer_list<NodeValue>{
               {"swim_probes_sent", st.probes_sent, MetricType::kCounter,
                "SWIM probes sent."},
               {"swim_acks_received", st.acks_received, MetricType::kCounter,
                "SWIM acks received."},
               {"swim_ping_reqs_sent", st.ping_reqs_sent,
                MetricType::kCounter, "Indirect probes requested."},
               {"swim_nacks_received", st.nacks_received,
                MetricType::kCounter, "Lifeguard nacks received."},
               {"swim_suspicions_raised", st.suspicions_raised,
                MetricType::kCounter, "Members this node suspected."},
               {"swim_suspicions_refuted", st.suspicions_refuted,
                MetricType::kCounter,
                "Suspicions of this node that it refuted."},
               {"swim_deaths_declared", st.deaths_declared,
                MetricType::kCounter, "Members this node declared dead."},
               {"swim_messages_sent", st.messages_sent, MetricType::kCounter,
                "Gossip messages sent."},
               {"swim_bytes_sent", st.bytes_sent, MetricType::kCounter,
                "Gossip bytes sent."},
               {"swim_messages_received", st.messages_received,
                MetricType::kCounter, "Gossip messages received."},
               {"swim_id_collisions", st.id_collisions, MetricType::kCounter,
                "Announcements of this node's id by another address."}}) {
        WriteValue(&w, v);
      }
    }
    std::map<NodeId, HintOwnerStats> hs = hints->OwnerStats();
    struct HintFamily {
      const char* name;
      MetricType type;
      const char* help;
      uint64_t HintOwnerStats::*field;
    };
    for (const HintFamily& f : {
             HintFamily{"rumor_hints_held_for", MetricType::kGauge,
                        "Hints held, per node they are for.",
                        &HintOwnerStats::held},
             HintFamily{"rumor_hints_stored_for_total", MetricType::kCounter,
                        "Hints stored, per node they are for.",
                        &HintOwnerStats::stored},
             HintFamily{"rumor_hints_delivered_for_total",
                        MetricType::kCounter,
                        "Hints delivered (or re-homed), per node they were "
                        "for.",
                        &HintOwnerStats::delivered},
             HintFamily{"rumor_hints_dropped_for_total", MetricType::kCounter,
                        "Hints refused because the queue of the node they "
                        "were for was full.",
                        &HintOwnerStats::dropped}}) {
      w.Family(f.name, f.type, f.help);
      for (const auto& [owner, stats] : hs) {
        w.Sample(f.name,
                 {{"target", owner == kNoNode ? std::string("other")
                                              : NodeIdToString(owner)}},
                 stats.*f.field);
      }
    }
    for (const NodeValue& v : NodeValues()) WriteValue(&w, v);
    return w.Take();
  }
  static void WriteValue(MetricsWriter* w, const NodeValue& v) {
    std::string name = absl::StrCat("rumor_", v.name);
    if (v.type == MetricType::kCounter) name += "_total";
    w->Family(name, v.type, v.help);
    w->Sample(name, {}, v.value);
  }
  // The admin service serves from BuildAndStart on; the runner exists only
  // once the bound address is known.
  MembershipRunner* Runner() const { return runner_ready.load(); }
  static absl::Status Starting() {
    return absl::UnavailableError("node is still starting; retry shortly");
  }
  absl::StatusOr<MembershipSnapshot> Membership() const override {
    MembershipRunner* r = Runner();
    if (r == nullptr) return Starting();
    MembershipSnapshot s;
    s.members = r->Members();
    s.self = r->Self();
    s.stats = r->Stats();
    s.awareness = r->Awareness();
    return s;
  }
  absl::StatusOr<std::shared_ptr<const Ring>> CurrentRing() const override {
    MembershipRunner* r = Runner();
    if (r == nullptr) return Starting();
    return r->CurrentRing();
  }
  absl::Status Leave() override {
    MembershipRunner* r = Runner();
    if (r == nullptr) return Starting();
    // A graceful leave never reduces the number of copies: every key, and
    // every hint kept for another node, goes to the replicas it has
    // without this node before the node says Left. It keeps serving
    // meanwhile; passes after the announcement catch what was written
    // during the first, and are retried until they succeed or
    // --leave-timeout passes. A node that has left but could not hand off
    // everything keeps running (nothing it holds is lost), and a second
    // `kvcli leave` tries again.
    auto ring_without_me = [&] {
      std::vector<RingMember> others;
      for (const RingMember& m :
           RingMembersOf(r->Members(), /*serving_only=*/true)) {
        if (m.id != id) others.push_back(m);
      }
      return std::make_shared<const Ring>(others);
    };
    bool already_left = r->Self().status == MemberStatus::kLeft;
    absl::Time last = absl::Now();
    auto progress = [&last](uint64_t sent, uint64_t scanned) {
      if (absl::Now() - last < absl::Seconds(5)) return;
      last = absl::Now();
      RUMOR_LOG(INFO) << "leaving: handed off " << sent << " copies of "
                      << scanned << " keys so far";
    };
    auto holds_data = [&] {
      bool holds = hints->Counts().size() > 0;
      IgnoreError(store->ScanPositions(  // an error reads as "has data"
          0, ~uint64_t{0}, [&](std::string_view, std::string_view) {
            holds = true;
            return false;
          }));
      return holds;
    };
    // One complete handoff pass, retried (against the ring as it is then:
    // a replica that went down meanwhile gets a fallback) until `end`.
    auto hand_off = [&](absl::Time end) -> absl::Status {
      absl::Status s = absl::OkStatus();
      while (true) {
        std::shared_ptr<const Ring> ring = ring_without_me();
        if (ring->empty()) {
          // Every other node left meanwhile (two leaving at once): nobody
          // is left to take what this node holds.
          if (!holds_data()) return absl::OkStatus();
          return absl::FailedPreconditionError(
              "no other node serves ring ranges any more (they left or are "
              "leaving): leaving would lose this node's data");
        }
        s = handoff->HandOffEverything(ring, end, progress);
        if (s.ok() || absl::Now() >= end || ShuttingDown()) return s;
        RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
            << "leaving: a handoff pass failed (" << s << "); retrying until "
            << absl::FormatTime(end);
        absl::SleepFor(absl::Seconds(1));
      }
    };
    if (ring_without_me()->empty()) {
      if (holds_data()) {
        return absl::FailedPreconditionError(
            "this node is the only one holding ring ranges: leaving would "
            "lose its data (stop it instead, or add nodes first)");
      }
    } else if (!already_left) {
      handoff->Stop();  // from here on the leave does the handing off
      RUMOR_LOG(INFO) << "leaving: handing every key to its replicas without "
                         "this node";
      absl::Status s = hand_off(absl::Now() + options.leave_timeout);
      if (!s.ok()) {
        handoff->Start();  // still a member: background handoff resumes
        return Annotate(s, "leave aborted, the node stays a member");
      }
    }
    absl::Status announced = absl::OkStatus();
    if (!already_left) {
      absl::Duration timeout =
          std::clamp(options.probe_interval * 10, absl::Seconds(2),
                     absl::Seconds(15));
      announced = r->Leave(timeout);
      if (!announced.ok() && !absl::IsDeadlineExceeded(announced)) {
        return announced;
      }
      handoff->Stop();
    }
    absl::Status again = hand_off(absl::Now() + options.leave_timeout);
    if (!again.ok()) {
      RUMOR_LOG(ERROR) << "leaving: could not hand off everything (" << again
                       << "); the node keeps running so nothing it holds is "
                          "lost. Fix the cause and run kvcli leave again";
      return Annotate(again,
                      "the node has left the ring but could not hand off "
                      "everything it holds; it keeps running so that nothing "
                      "is lost: fix the cause and run kvcli leave again");
    }
    RUMOR_LOG(INFO) << "leaving: handoff complete";
    stop_requested = true;  // kvd exits: it announced Left
    return announced;
  }
  bool ShuttingDown() {
    absl::MutexLock lock(&shutdown_mu);
    return shut_down;
  }
  absl::StatusOr<AntiEntropy::State> Aae() const override {
    if (antientropy == nullptr) return Starting();
    return antientropy->GetState();
  }
  absl::Status PauseAae(bool paused) override {
    if (antientropy == nullptr) return Starting();
    antientropy->SetPaused(paused);
    RUMOR_LOG(INFO) << "anti-entropy " << (paused ? "paused" : "resumed")
                    << " by an operator";
    return absl::OkStatus();
  }
  void Repair(NodeId peer, AntiEntropy::RunDone done) override {
    if (antientropy == nullptr) {
      std::move(done)(Starting());
      return;
    }
    AntiEntropy::State ae = antientropy->GetState();
    if (!ae.build_error.ok()) {
      std::move(done)(ae.build_error);
      return;
    }
    if (ae.paused) {
      std::move(done)(absl::FailedPreconditionError(
          "anti-entropy is paused on this node (kvcli aae --resume)"));
      return;
    }
    if (!ae.ready) {
      std::move(done)(absl::UnavailableError(
          "the anti-entropy hash tree is still being built (kvcli aae "
          "shows its progress); retry when it is ready"));
      return;
    }
    antientropy->RunNow(peer, std::move(done));
  }
  absl::Status Remove(NodeId node) override {
    MembershipRunner* r = Runner();
    if (r == nullptr) return Starting();
    return r->Remove(node);
  }

  absl::StatusOr<RingLayoutInfo> Layout() const override {
    std::shared_ptr<const ClusterView> v = View();
    RingLayoutInfo out;
    out.version = v->ring_version;
    out.replicas = options.replicas;
    std::map<NodeId, RingLayoutInfo::Node> by_id;
    for (const auto& [token, node] : v->ring->tokens()) {
      RingLayoutInfo::Node& n = by_id[node];
      n.id = node;
      n.tokens.push_back(token);
      if (const ClusterView::Node* m = v->Find(node)) {
        n.address = m->address;
        n.status = m->status;
      }
    }
    for (auto& [node, n] : by_id) out.nodes.push_back(std::move(n));
    return out;
  }

  void Replicas(std::string key,
                std::function<void(absl::StatusOr<ReplicaReport>)> done) override;

  // The cluster as replication sees it, rebuilt when membership changes.
  std::shared_ptr<const ClusterView> View() const {
    MembershipRunner* r = Runner();
    absl::MutexLock lock(&view_mu);
    if (r == nullptr) {
      if (!view) view = MakeClusterView(id, nullptr, 0, {}, /*joined=*/false);
      return view;
    }
    MembershipRunner::Versions v = r->CurrentVersions();
    if (view && view_versions.state == v.state && view_versions.ring == v.ring &&
        view_versions.joined == v.joined && view->ring_version == v.ring &&
        view_from_runner) {
      return view;
    }
    auto [serving, full] = r->Rings();
    view = MakeClusterView(id, serving, v.ring, r->Members(), v.joined, full);
    view_versions = v;
    view_from_runner = true;
    return view;
  }

  NodeOptions options;
  NodeId id = kNoNode;
  std::string address;
  std::atomic<bool> stop_requested{false};
  mutable absl::Mutex info_mu;
  NodeInfo info ABSL_GUARDED_BY(info_mu);

  // Declaration order is destruction order reversed: the server goes first,
  // the data dir lock last.
  std::unique_ptr<DataDir> data_dir;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<storage::ColumnStore> meta;  // node id, incarnation, tokens
  std::unique_ptr<storage::ObjectStore> store;
  std::unique_ptr<storage::ColumnStore> hints_column;
  std::unique_ptr<HintStore> hints;
  ActorStart actor;  // as started
  // The current epoch: range handoff moves it on (BumpActorEpoch).
  std::atomic<uint64_t> actor_epoch{0};
  absl::Mutex epoch_mu;  // serializes bumps
  std::unique_ptr<Executor> storage_executor;
  ThreadPool* storage_pool = nullptr;  // storage_executor, when a pool
  TransportProxy replica_transport;
  std::unique_ptr<Coordinator> coordinator;
  // Before antientropy, which reads its latency counts.
  RequestTracker requests;
  std::unique_ptr<AntiEntropy> antientropy;
  std::unique_ptr<PeerService> peer_service;
  std::unique_ptr<ReplicaService> replica_service;
  std::unique_ptr<PeerTransport> peer_transport;
  std::unique_ptr<ReplicaClient> replica_client;
  std::unique_ptr<MembershipTransport> membership_transport;
  std::unique_ptr<HandoffRunner> handoff;
  std::unique_ptr<MembershipRunner> runner;
  std::atomic<MembershipRunner*> runner_ready{nullptr};
  // Client requests by operation and outcome (the KV service records).
  RequestMetrics request_metrics;
  std::unique_ptr<grpc::Service> kv_service;
  std::unique_ptr<grpc::Service> admin_service;
  std::unique_ptr<grpc::Server> server;
  // Whether clients are served: the node knows its ring and is not
  // draining. Drives gRPC health (see HealthLoop).
  std::atomic<bool> serving{false};
  absl::Mutex health_mu;
  bool health_stop ABSL_GUARDED_BY(health_mu) = false;
  std::thread health_thread;
  std::unique_ptr<MetricsHttpServer> metrics_server;  // --metrics

  // gRPC health per service: the client API (and the server as a whole,
  // "") serves once the node knows its ring, since until then it refuses
  // every request; Admin, Peer and Replica serve from the start, as a
  // node joins through them. All go NOT_SERVING when the node drains.
  void UpdateHealth() {
    bool now = View()->joined;
    if (now == serving.load()) return;
    grpc::HealthCheckServiceInterface* h = server->GetHealthCheckService();
    h->SetServingStatus("", now);
    h->SetServingStatus(kKvServiceName, now);
    serving.store(now);
  }
  void HealthLoop() {
    for (;;) {
      {
        absl::MutexLock lock(&health_mu);
        health_mu.AwaitWithTimeout(absl::Condition(&health_stop),
                                   absl::Milliseconds(100));
        if (health_stop) return;
      }
      UpdateHealth();
    }
  }
  static constexpr const char* kKvServiceName = "rumor.v1.KV";

  absl::Mutex shutdown_mu;
  bool shut_down ABSL_GUARDED_BY(shutdown_mu) = false;

  mutable absl::Mutex view_mu;
  mutable std::shared_ptr<const ClusterView> view ABSL_GUARDED_BY(view_mu);
  mutable MembershipRunner::Versions view_versions ABSL_GUARDED_BY(view_mu);
  mutable bool view_from_runner ABSL_GUARDED_BY(view_mu) = false;
};

void Node::State::Replicas(
    std::string key, std::function<void(absl::StatusOr<ReplicaReport>)> done) {
  if (absl::Status s = options.limits.CheckKey(key); !s.ok()) {
    done(s);
    return;
  }
  std::shared_ptr<const ClusterView> v = View();
  if (!v->joined) {
    done(absl::UnavailableError(
        "this node has not joined its cluster yet (no seed or remembered "
        "ring member has answered); ask another node"));
    return;
  }
  uint64_t position = RingPosition(key);
  auto reachable = [this](const std::string& a) {
    return replica_transport.Reachable(a);
  };
  Placement p = PlaceKey(*v, position, options.replicas, reachable);
  // Every preference-list node's copy, and any hint any ring node (one of
  // them included: a coordinator keeps hints for replicas that are down)
  // holds for one of them.
  struct Ask {
    NodeId node;
    NodeId hint_for;
  };
  std::vector<Ask> asks;
  for (NodeId id : p.preference) asks.push_back({id, kNoNode});
  std::set<NodeId> ring_nodes;
  for (const auto& [token, node] : v->ring->tokens()) ring_nodes.insert(node);
  for (NodeId node : ring_nodes) {
    for (NodeId owner : p.preference) {
      if (owner != node) asks.push_back({node, owner});
    }
  }
  struct Gather {
    absl::Mutex mu;
    size_t left = 0;
    ReplicaReport report;
    std::function<void(absl::StatusOr<ReplicaReport>)> done;
  };
  auto g = std::make_shared<Gather>();
  g->report.position = position;
  g->report.replicas = p.n;
  g->report.copies.resize(asks.size());
  g->left = asks.size();
  g->done = std::move(done);
  auto finish = [g](size_t i, ReplicaCopyInfo copy) {
    bool last;
    {
      absl::MutexLock lock(&g->mu);
      g->report.copies[i] = std::move(copy);
      last = --g->left == 0;
    }
    if (!last) return;
    // Hints are listed only where one exists.
    ReplicaReport out = std::move(g->report);
    std::vector<ReplicaCopyInfo> kept;
    for (ReplicaCopyInfo& c : out.copies) {
      if (c.hint_for == kNoNode || c.holds) kept.push_back(std::move(c));
    }
    out.copies = std::move(kept);
    g->done(std::move(out));
  };
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (size_t i = 0; i < asks.size(); ++i) {
    ReplicaCopyInfo base;
    base.node = asks[i].node;
    base.hint_for = asks[i].hint_for;
    if (const ClusterView::Node* n = v->Find(base.node)) {
      base.address = n->address;
      base.status = n->status;
    }
    auto fill = [finish, i, base](ReplicaReply reply) mutable {
      ReplicaCopyInfo c = std::move(base);
      if (!reply.status.ok()) {
        c.error = std::string(reply.status.message());
      } else {
        c.answered = true;
        c.holds = reply.found;
        if (reply.found) {
          absl::StatusOr<storage::DvvSet> object =
              storage::DvvSet::Decode(reply.object);
          if (!object.ok()) {
            c.error = "sent a corrupt object";
          } else {
            for (const storage::Sibling& sib : object->Siblings()) {
              if (sib.tombstone) {
                ++c.tombstones;
              } else {
                c.values.push_back(sib.data);
              }
            }
            storage::VersionVector version = object->Join();
            for (const auto& [actor, counter] : version.entries()) {
              c.version.push_back({actor, counter});
            }
          }
        }
      }
      finish(i, std::move(c));
    };
    ReplicaOp op;
    op.kind = ReplicaOp::Kind::kFetch;
    op.key = key;
    op.hint_for = asks[i].hint_for;
    if (base.node == id) {
      coordinator->Serve(std::move(op), std::move(fill));
    } else if (base.address.empty()) {
      ReplicaReply r;
      r.status = absl::NotFoundError("unknown member");
      fill(std::move(r));
    } else {
      replica_transport.Call(base.address, std::move(op), deadline,
                             std::move(fill));
    }
  }
}

absl::StatusOr<std::unique_ptr<Node>> Node::Start(const NodeOptions& options) {
  RUMOR_RETURN_IF_ERROR(ValidateOptions(options));
  RUMOR_ASSIGN_OR_RETURN(HostPort listen,
                         ParseHostPort(options.listen, "listen address"));
  // Certificates are checked before anything is opened or bound.
  RUMOR_ASSIGN_OR_RETURN(NodeCredentials creds,
                         LoadNodeCredentials(options.tls));
  // The metrics port too: bound now, served once the node is up.
  std::unique_ptr<MetricsHttpServer> metrics;
  HostPort mhp;
  if (!options.metrics.empty()) {
    RUMOR_ASSIGN_OR_RETURN(mhp,
                           ParseHostPort(options.metrics, "metrics address"));
    MetricsHttpOptions mo;
    mo.host = mhp.host;
    mo.port = mhp.port;
    RUMOR_ASSIGN_OR_RETURN(metrics, MetricsHttpServer::Bind(mo));
  }

  auto st = std::make_unique<State>();
  st->options = options;
  if (st->options.probe_timeout == absl::ZeroDuration()) {
    st->options.probe_timeout = options.probe_interval * 0.4;
  }
  RUMOR_ASSIGN_OR_RETURN(st->data_dir, DataDir::Open(options.data_dir));
  storage::RocksDbOptions db_options;
  db_options.sync = options.sync;
  db_options.min_free_bytes = options.min_free_disk_bytes;
  RUMOR_ASSIGN_OR_RETURN(
      st->engine, storage::OpenRocksDbEngine(st->data_dir->db_path(), db_options));
  RUMOR_ASSIGN_OR_RETURN(
      st->meta, storage::ColumnStore::Open(st->engine.get(), storage::Column::kMeta));
  RUMOR_ASSIGN_OR_RETURN(st->id, LoadOrCreateNodeId(st->meta.get()));
  RUMOR_ASSIGN_OR_RETURN(IncarnationStart incarnation,
                         NextIncarnation(st->meta.get()));
  RUMOR_ASSIGN_OR_RETURN(std::vector<uint64_t> tokens, LoadTokens(st->meta.get()));
  RUMOR_ASSIGN_OR_RETURN(bool joining, LoadJoining(st->meta.get()));
  if (options.forget_peers) {
    RUMOR_RETURN_IF_ERROR(StorePeers(st->meta.get(), {}));
  }
  RUMOR_ASSIGN_OR_RETURN(std::vector<std::string> peers,
                         LoadPeers(st->meta.get()));
  storage::ObjectLimits object_limits;
  object_limits.warn_siblings = options.warn_siblings;
  object_limits.max_siblings = options.max_siblings;
  object_limits.max_object_bytes = options.max_object_bytes;
  st->store = std::make_unique<storage::ObjectStore>(st->engine.get(),
                                                     object_limits);
  RUMOR_ASSIGN_OR_RETURN(st->actor,
                         StartActorEpoch(st->meta.get(), st->store.get(), st->id));
  st->actor_epoch = st->actor.epoch;
  if (!st->actor.bumped_because.empty()) {
    RUMOR_LOG(INFO) << "actor epoch " << st->actor.epoch << " ("
                    << st->actor.bumped_because
                    << "): new writes carry fresh dots";
  }
  RUMOR_ASSIGN_OR_RETURN(st->hints_column,
                         storage::ColumnStore::Open(st->engine.get(),
                                                    storage::Column::kHints));
  RUMOR_ASSIGN_OR_RETURN(st->hints, HintStore::Open(st->hints_column.get(),
                                                    options.max_hints_per_node));
  if (options.storage_threads == 0) {
    st->storage_executor = std::make_unique<InlineExecutor>();
  } else {
    auto pool = std::make_unique<ThreadPool>(options.storage_threads,
                                             "storage", options.storage_queue);
    st->storage_pool = pool.get();
    st->storage_executor = std::move(pool);
  }
  State* raw = st.get();
  ReplicationConfig rc;
  rc.n = options.replicas;
  rc.r = options.r;
  rc.w = options.w;
  rc.timeout = options.request_timeout;
  rc.limits = options.limits;
  rc.hinted_handoff = options.hinted_handoff;
  st->coordinator = std::make_unique<Coordinator>(
      st->store.get(), st->hints.get(), st->actor.actor, rc,
      st->storage_executor.get(), [raw] { return raw->View(); },
      &st->replica_transport);
  // Anti-entropy's tree follows every write from here on (it becomes the
  // store's observer); it is built from the data once Start runs.
  AntiEntropyOptions aeo;
  aeo.self = st->id;
  aeo.replicas = options.replicas;
  aeo.interval = options.aae_interval;
  aeo.max_keys_per_second = options.aae_keys_per_second;
  aeo.max_bytes_per_second = options.aae_bytes_per_second;
  aeo.tombstone_grace = options.tombstone_grace;
  // The actor the coordinator writes with now (an epoch bump moves it).
  aeo.actor = [raw] { return raw->coordinator->actor(); };
  aeo.verify_interval = options.aae_verify_interval;
  {
    HintStore* hints = st->hints.get();
    aeo.holds_hint = [hints](std::string_view key) {
      return hints->HoldsAny(key);
    };
  }
  if (st->storage_pool != nullptr && options.storage_queue > 0) {
    // Client requests waiting for the disk: repair waits for them.
    ThreadPool* pool = st->storage_pool;
    size_t busy_at = std::max<size_t>(1, options.storage_queue / 4);
    aeo.foreground_busy = [pool, busy_at] { return pool->queued() >= busy_at; };
  }
  if (options.aae_latency_tolerance > 0) {
    // Client requests and their latency, as the KV service counts them.
    RequestTracker* requests = &st->requests;
    aeo.foreground = [requests] {
      return ForegroundSample{requests->finished(), requests->latency_us()};
    };
    aeo.governor.tolerance = options.aae_latency_tolerance;
  }
  st->antientropy = std::make_unique<AntiEntropy>(
      st->store.get(), &st->replica_transport, st->storage_executor.get(),
      [raw] { return raw->View(); }, aeo);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, creds.server, &port);
  // gRPC sets SO_REUSEPORT by default, which would let a second kvd bind the
  // same port and silently split the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Peers send keepalive pings on idle gossip streams.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxGrpcMessageBytes));
  st->kv_service =
      NewKvService(st->coordinator.get(), &st->requests, &st->request_metrics,
                   [raw] { return raw->View()->ring_version; });
  builder.RegisterService(st->kv_service.get());
  st->admin_service =
      NewAdminService(st.get(), &st->requests, creds.authorizer);
  builder.RegisterService(st->admin_service.get());
  st->peer_service = std::make_unique<PeerService>(
      PeerServiceOptions{st->id, options.cluster, creds.authorizer});
  builder.RegisterService(st->peer_service->service());
  st->replica_service = std::make_unique<ReplicaService>(
      options.cluster, [raw](ReplicaOp op, ReplyCallback done) {
        if (op.kind == ReplicaOp::Kind::kTree ||
            op.kind == ReplicaOp::Kind::kReap) {
          raw->antientropy->Serve(std::move(op), std::move(done));
          return;
        }
        raw->coordinator->Serve(std::move(op), std::move(done));
      },
      creds.authorizer);
  builder.RegisterService(st->replica_service->service());
  st->server = builder.BuildAndStart();
  if (st->server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen,
        ": address in use or not available on this host"));
  }
  {
    // gRPC's default health service starts out SERVING for "" and knows no
    // service names; HealthLoop turns the client API on once it can serve.
    grpc::HealthCheckServiceInterface* h = st->server->GetHealthCheckService();
    h->SetServingStatus("", false);
    h->SetServingStatus(State::kKvServiceName, false);
    for (const char* name : {"rumor.v1.Admin", "rumor.v1.Peer",
                             "rumor.v1.Replica", "grpc.health.v1.Health"}) {
      h->SetServingStatus(name, true);
    }
  }
  st->address = options.advertise.empty()
                    ? absl::StrCat(listen.host, ":", port)
                    : options.advertise;
  {
    absl::MutexLock lock(&st->info_mu);
    st->info.id = st->id;
    st->info.address = st->address;
    st->info.data_dir = options.data_dir;
    st->info.cluster = options.cluster;
    st->info.sync = options.sync;
    st->info.limits = options.limits;
    st->info.started = SteadyClock::Get()->Now();
    st->info.probe_interval = options.probe_interval;
    st->info.replicas = options.replicas;
    st->info.r = options.r;
    st->info.w = options.w;
    st->info.actor = st->actor.actor;
  }

  // Membership.
  PeerTransportOptions pto;
  pto.self = st->id;
  pto.self_address = st->address;
  pto.cluster = options.cluster;
  pto.credentials = creds.peer_channel;
  st->peer_transport = std::make_unique<PeerTransport>(pto);
  ReplicaClientOptions rco;
  rco.self = st->id;
  rco.self_address = st->address;
  rco.cluster = options.cluster;
  rco.credentials = creds.peer_channel;
  st->replica_client = std::make_unique<ReplicaClient>(rco);
  st->replica_transport.Set(st->replica_client.get());
  st->membership_transport = std::make_unique<MembershipTransport>(
      st->peer_transport.get(), st->replica_client.get());
  MembershipRunnerOptions mro;
  MembershipConfig& mc = mro.config;
  mc.self = st->id;
  mc.meta.address = st->address;
  mc.meta.tokens = tokens;
  mc.meta.joining = joining && !tokens.empty();
  mc.meta.tags = options.tags;
  mc.meta.tags.push_back({"version", kVersion});
  mc.incarnation = incarnation.incarnation;
  mc.incarnation_ceiling = incarnation.mark;
  mc.probe_interval = options.probe_interval;
  mc.probe_timeout = st->options.probe_timeout;
  mc.indirect_checks = options.indirect_checks;
  mc.retransmit_mult = options.retransmit_mult;
  mc.suspicion_mult = options.suspicion_mult;
  mc.push_pull_interval = options.push_pull_interval;
  mc.forget_departed_after = options.forget_departed_after;
  mc.join_retry_interval = std::max(options.probe_interval, absl::Milliseconds(200));
  mc.lifeguard = options.lifeguard;
  mc.seed = st->id ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  // A restart rejoins through the ring members it remembers too: until one
  // answers it does not know the ring, so it serves no request (see
  // ClusterView::joined) instead of taking every key for itself.
  mro.seeds = options.seeds;
  size_t remembered = 0;
  for (const std::string& p : peers) {
    if (p != st->address &&
        std::find(mro.seeds.begin(), mro.seeds.end(), p) == mro.seeds.end()) {
      mro.seeds.push_back(p);
      ++remembered;
    }
  }
  mro.tokens = options.tokens;
  mro.replicas = options.replicas;
  mro.incarnation_lease = kIncarnationLease;
  mro.claim_settle = std::max(options.probe_interval, absl::Milliseconds(300));
  mro.claim_timeout = std::max(options.probe_interval * 20, absl::Seconds(3));
  MembershipRunnerHooks hooks;
  hooks.persist_incarnation_mark = [raw](uint64_t mark) {
    return StoreIncarnationMark(raw->meta.get(), mark);
  };
  hooks.tokens_claimed = [raw](const std::vector<uint64_t>& t, bool joining) {
    // The joining flag first: tokens without it would be served at once.
    RUMOR_RETURN_IF_ERROR(StoreJoining(raw->meta.get(), joining));
    return StoreTokens(raw->meta.get(), t);
  };
  hooks.peers_changed = [raw](const std::vector<std::string>& addresses) {
    return StorePeers(raw->meta.get(), addresses);
  };
  st->runner = std::make_unique<MembershipRunner>(
      mro, st->membership_transport.get(), SteadyClock::Get(),
      std::move(hooks));
  st->peer_service->SetSink([raw](const Message& m) { raw->runner->Deliver(m); });
  st->runner->Start();
  st->runner_ready.store(st->runner.get());

  HandoffOptions ho;
  ho.n = options.replicas;
  ho.interval = options.handoff_interval;
  ho.settle = options.handoff_settle;
  ho.bootstrap_sources =
      options.replicas >= options.w ? options.replicas - options.w + 1 : 1;
  ho.on_bootstrapped = [raw]() -> absl::Status {
    // What was pulled is durable before the node says it serves it.
    RUMOR_RETURN_IF_ERROR(raw->engine->Sync());
    RUMOR_RETURN_IF_ERROR(StoreJoining(raw->meta.get(), false));
    raw->runner->AnnounceServing();
    return absl::OkStatus();
  };
  ho.before_drop = [raw]() -> absl::Status {
    absl::MutexLock lock(&raw->epoch_mu);
    RUMOR_ASSIGN_OR_RETURN(uint64_t epoch,
                           BumpActorEpoch(raw->meta.get(), raw->actor_epoch));
    raw->actor_epoch = epoch;
    raw->coordinator->SetActor(ActorOf(raw->id, epoch));
    {
      absl::MutexLock info_lock(&raw->info_mu);
      raw->info.actor = ActorOf(raw->id, epoch);
    }
    RUMOR_LOG(INFO) << "actor epoch " << epoch
                    << " (range handoff drops keys): new writes carry fresh "
                       "dots";
    return absl::OkStatus();
  };
  st->handoff = std::make_unique<HandoffRunner>(
      ho, st->store.get(), st->hints.get(), [raw] { return raw->View(); },
      &st->replica_transport);
  st->handoff->Start();
  st->antientropy->Start();

  // A node that starts a new cluster serves at once: no poll in between.
  raw->UpdateHealth();
  st->health_thread = std::thread([raw] { raw->HealthLoop(); });
  std::unique_ptr<Node> node(new Node(std::move(st)));
  std::string metrics_note;
  if (metrics != nullptr) {
    // Served last: rendering reads every part of the node.
    metrics->Serve([raw] { return raw->RenderMetrics(); });
    metrics_note = absl::StrCat(", metrics on http://", mhp.host, ":",
                                metrics->port(), "/metrics");
    raw->metrics_server = std::move(metrics);
  }
  RUMOR_LOG(INFO) << "node " << NodeIdToString(raw->id) << " (incarnation "
                  << incarnation.incarnation << ") serving on " << options.listen
                  << " (port " << port << "), advertising " << raw->address
                  << ", data in " << options.data_dir
                  << (options.sync ? ", fsync per write" : "")
                  << (creds.secure()
                          ? options.tls.tls_client_ca.empty()
                                ? ", TLS (peers: mutual TLS)"
                                : ", mutual TLS for clients and peers"
                          : "")
                  << metrics_note
                  << (!options.seeds.empty()
                          ? ", joining through seeds"
                          : remembered > 0
                                ? absl::StrCat(", rejoining through ", remembered,
                                               " remembered ring member(s)")
                                : std::string(", starting a new cluster"));
  return node;
}

int Node::metrics_port() const {
  return state_->metrics_server ? state_->metrics_server->port() : 0;
}

absl::Status Node::FatalError() const {
  // A node whose id another live process announces while it joins must
  // not run: it would fight that process over one identity. Once it has
  // been a member for a while, the newcomer is the other one, and it exits.
  MembershipStats stats = state_->runner->Stats();
  if (stats.id_collisions == 0) return absl::OkStatus();
  absl::Duration up = SteadyClock::Get()->Now() - Info().started;
  if (up > std::max(state_->options.probe_interval * 10, absl::Seconds(2))) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "node id ", NodeIdToString(state_->id), " is already announced by ",
      state_->runner->CollisionAddress(),
      "; was this data dir copied from another node? (if this node merely "
      "moved to a new address, wait until the old one is declared dead)"));
}

NodeInfo Node::Info() const { return state_->Info(); }

Node::Node(std::unique_ptr<State> state) : state_(std::move(state)) {}

Node::~Node() { Shutdown(); }

void Node::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&state_->shutdown_mu);
    if (state_->shut_down) return;
    state_->shut_down = true;
  }
  RUMOR_LOG(INFO) << "shutting down: draining requests for up to " << grace;
  {
    absl::MutexLock lock(&state_->health_mu);
    state_->health_stop = true;
  }
  if (state_->health_thread.joinable()) state_->health_thread.join();
  state_->serving.store(false);
  // Every service name, not only "": load balancers stop sending first.
  state_->server->GetHealthCheckService()->SetServingStatus(false);
  // Background handoff stops (whatever it had not finished resumes on the
  // next start). Gossip stops next; peers will notice and suspect us (a
  // restart is not a leave: our ranges stay ours).
  state_->handoff->Shutdown();
  state_->runner->Stop();
  state_->peer_transport->Shutdown();
  // Client requests in flight get the grace period; new ones are refused.
  // gRPC's own Shutdown would also wait that long for idle client
  // connections to go away, so it gets only a short deadline afterwards.
  if (!state_->requests.Drain(grace)) {
    RUMOR_LOG(WARNING) << "requests still in flight after " << grace
                       << "; cancelling them";
  }
  // Replication calls still waiting (for requests cut off above) end now.
  state_->replica_client->Shutdown();
  // Anti-entropy's exchange in progress ends at its next step (its calls
  // just failed); it answers no more tree queries' storage work after the
  // executor below drains.
  state_->antientropy->Stop();
  // Peers keep gossip streams open to us and may open new ones until the
  // server stops accepting calls: end them in sweeps while it stops.
  // Metrics read the storage pool, which goes away below.
  if (state_->metrics_server) state_->metrics_server->Stop();
  std::atomic<bool> drained{false};
  std::thread sweeper([this, &drained] {
    while (!drained.load()) {
      state_->peer_service->Shutdown();
      state_->replica_service->Shutdown();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  state_->server->Shutdown(
      absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  state_->server->Wait();
  drained = true;
  sweeper.join();
  // Storage work queued by requests that already finished or were
  // cancelled runs to completion before the engine closes.
  state_->storage_pool = nullptr;
  state_->storage_executor.reset();
  absl::Status s = state_->engine->Sync();
  if (!s.ok()) {
    RUMOR_LOG(ERROR) << "flushing the write-ahead log: " << s;
    return;  // not clean: the next start takes a new actor epoch
  }
  s = MarkCleanShutdown(state_->meta.get(), state_->actor_epoch.load());
  if (!s.ok()) RUMOR_LOG(ERROR) << "recording the clean shutdown: " << s;
  RUMOR_LOG(INFO) << "shut down cleanly";
}

NodeId Node::id() const { return state_->id; }
const std::string& Node::address() const { return state_->address; }
bool Node::StopRequested() const { return state_->stop_requested; }

}  // namespace rumor::server
