// kvd: one rumor node. See `kvd --help`.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/version.h"
#include "server/node/node.h"

namespace {

// Writes `content` to `path` atomically (temp file + rename), so a reader
// polling for the file never sees it half-written.
bool WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// "200ms", "1.5s", or a bare number of seconds.
bool ParseDurationFlag(const std::string& text, absl::Duration* d) {
  double seconds;
  if (absl::SimpleAtod(text, &seconds)) {
    *d = absl::Seconds(seconds);
    return true;
  }
  return absl::ParseDuration(text, d);
}

}  // namespace

int main(int argc, char** argv) {
  rumor::server::NodeOptions options;
  std::string port_file;
  std::string log_level = "info";
  size_t max_key_bytes = options.limits.max_key_bytes;
  size_t max_value_bytes = options.limits.max_value_bytes;
  uint64_t min_free_disk_mb = options.min_free_disk_bytes >> 20;
  std::string seeds, tags;
  std::string probe_interval = "1s", probe_timeout, push_pull_interval = "30s";
  std::string forget_departed_after = "24h";
  std::string request_timeout = "4s", handoff_interval = "1s",
              handoff_settle = "3s", leave_timeout = "10m",
              aae_interval = "10s", tombstone_grace = "1h",
              aae_verify_interval = "168h";
  bool lifeguard = true;

  CLI::App app{
      "kvd: a rumor node, a Dynamo-style replicated key-value store.\n"
      "Every flag can also be set by an environment variable RUMOR_<FLAG>,\n"
      "e.g. RUMOR_DATA_DIR for --data-dir.",
      "kvd"};
  app.set_version_flag("--version", std::string("kvd ") + rumor::kVersion);
  app.add_option("--listen", options.listen,
                 "host:port to serve clients and peers on (port 0 picks one)")
      ->envname("RUMOR_LISTEN")
      ->capture_default_str();
  app.add_option("--advertise", options.advertise,
                 "host:port others use to reach this node "
                 "(default: the listen address)")
      ->envname("RUMOR_ADVERTISE");
  app.add_option("--data-dir", options.data_dir,
                 "directory for this node's data; one kvd per directory")
      ->envname("RUMOR_DATA_DIR")
      ->capture_default_str();
  app.add_option("--metrics", options.metrics,
                 "host:port to serve Prometheus metrics on, at /metrics over "
                 "plain HTTP (default: none; e.g. 127.0.0.1:9100)")
      ->envname("RUMOR_METRICS");
  app.add_option("--peer-ca", options.tls.peer_ca,
                 "PEM file of the cluster CA: turns on TLS. Peers must "
                 "present a certificate from it to gossip, replicate or call "
                 "leave/remove (docs: scripts/make-certs.sh makes one)")
      ->envname("RUMOR_PEER_CA");
  app.add_option("--peer-cert", options.tls.peer_cert,
                 "PEM certificate from the cluster CA this node presents to "
                 "peers (and to clients, without --tls-cert)")
      ->envname("RUMOR_PEER_CERT");
  app.add_option("--peer-key", options.tls.peer_key,
                 "PEM private key of --peer-cert")
      ->envname("RUMOR_PEER_KEY");
  app.add_option("--tls-cert", options.tls.tls_cert,
                 "PEM certificate to serve clients with instead of "
                 "--peer-cert (issued by the cluster CA too: peers verify "
                 "it); needs the --peer-* flags")
      ->envname("RUMOR_TLS_CERT");
  app.add_option("--tls-key", options.tls.tls_key,
                 "PEM private key of --tls-cert")
      ->envname("RUMOR_TLS_KEY");
  app.add_option("--tls-client-ca", options.tls.tls_client_ca,
                 "PEM file of the CA whose certificates clients must "
                 "present (mutual TLS); default: clients need none")
      ->envname("RUMOR_TLS_CLIENT_CA");
  app.add_flag("--sync", options.sync,
               "fsync every write before acknowledging it (survives power "
               "loss, slower)")
      ->envname("RUMOR_SYNC");
  app.add_option("--min-free-disk-mb", min_free_disk_mb,
                 "refuse writes (RESOURCE_EXHAUSTED, retryable) while the "
                 "data directory's filesystem has less free space than this, "
                 "in MiB, so the database never fills it (0: never refuse; "
                 "a disk that then fills can abort kvd, a RocksDB 7.8 "
                 "defect)")
      ->envname("RUMOR_MIN_FREE_DISK_MB")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--max-key-bytes", max_key_bytes,
                 "largest key accepted, in bytes (hard cap 65536)")
      ->envname("RUMOR_MAX_KEY_BYTES")
      ->capture_default_str();
  app.add_option("--max-value-bytes", max_value_bytes,
                 "largest value accepted, in bytes (hard cap 33554432)")
      ->envname("RUMOR_MAX_VALUE_BYTES")
      ->capture_default_str();
  app.add_option("--storage-threads", options.storage_threads,
                 "threads running disk operations (0: on the RPC threads)")
      ->envname("RUMOR_STORAGE_THREADS")
      ->capture_default_str();
  app.add_option("--storage-queue", options.storage_queue,
                 "disk operations that may wait for a storage thread; beyond "
                 "that requests fail with RESOURCE_EXHAUSTED (retryable)")
      ->envname("RUMOR_STORAGE_QUEUE")
      ->capture_default_str();
  app.add_option("--port-file", port_file,
                 "write the advertised host:port to this file once serving")
      ->envname("RUMOR_PORT_FILE");
  app.add_option("--seeds", seeds,
                 "comma-separated host:port of nodes to join through; none "
                 "starts a new cluster (a restart also rejoins through the "
                 "ring members it remembers)")
      ->envname("RUMOR_SEEDS");
  app.add_flag("--forget-peers", options.forget_peers,
               "drop the remembered ring members at start: a node that "
               "remembers peers refuses reads and writes until one of them "
               "(or a seed) answers, so use this when they are gone for good")
      ->envname("RUMOR_FORGET_PEERS");
  app.add_option("--cluster", options.cluster,
                 "cluster name; nodes only talk to peers of the same name")
      ->envname("RUMOR_CLUSTER")
      ->capture_default_str();
  app.add_option("--probe-interval", probe_interval,
                 "failure-detection period, e.g. 1s or 200ms")
      ->envname("RUMOR_PROBE_INTERVAL")
      ->capture_default_str();
  app.add_option("--probe-timeout", probe_timeout,
                 "wait for a direct ack before asking others (default 40% "
                 "of the probe interval)")
      ->envname("RUMOR_PROBE_TIMEOUT");
  app.add_option("--indirect-checks", options.indirect_checks,
                 "members asked to ping a member that missed its ack")
      ->envname("RUMOR_INDIRECT_CHECKS")
      ->capture_default_str();
  app.add_option("--retransmit-mult", options.retransmit_mult,
                 "lambda: each update is gossiped lambda*ln(N+1) times")
      ->envname("RUMOR_RETRANSMIT_MULT")
      ->capture_default_str();
  app.add_option("--suspicion-mult", options.suspicion_mult,
                 "minimum suspicion timeout, in probe intervals times log10(N)")
      ->envname("RUMOR_SUSPICION_MULT")
      ->capture_default_str();
  app.add_option("--push-pull-interval", push_pull_interval,
                 "state sync (digests, then the difference) with a random "
                 "member; stretched with log2(N) above 32 members")
      ->envname("RUMOR_PUSH_PULL_INTERVAL")
      ->capture_default_str();
  app.add_option("--forget-departed-after", forget_departed_after,
                 "forget members that left (or died owning no ring tokens) "
                 "this long ago, e.g. 24h")
      ->envname("RUMOR_FORGET_DEPARTED_AFTER")
      ->capture_default_str();
  app.add_option("--lifeguard", lifeguard,
                 "Lifeguard refinements of SWIM (false: plain SWIM)")
      ->envname("RUMOR_LIFEGUARD")
      ->capture_default_str();
  app.add_option("--tokens", options.tokens,
                 "ring tokens this node claims when it first joins")
      ->envname("RUMOR_TOKENS")
      ->capture_default_str();
  app.add_option("--tags", tags, "member tags, e.g. zone=a,rack=3")
      ->envname("RUMOR_TAGS");
  app.add_option("--replicas", options.replicas, "replicas per key (N)")
      ->envname("RUMOR_REPLICAS")
      ->capture_default_str();
  app.add_option("--r", options.r,
                 "replies a read waits for, unless a request says (1..N)")
      ->envname("RUMOR_R")
      ->capture_default_str();
  app.add_option("--w", options.w,
                 "acknowledgements a write waits for, unless a request says "
                 "(1..N)")
      ->envname("RUMOR_W")
      ->capture_default_str();
  app.add_option("--request-timeout", request_timeout,
                 "budget of a request that sets none, e.g. 4s")
      ->envname("RUMOR_REQUEST_TIMEOUT")
      ->capture_default_str();
  app.add_option("--warn-siblings", options.warn_siblings,
                 "log a warning when a write leaves more siblings than this")
      ->envname("RUMOR_WARN_SIBLINGS")
      ->capture_default_str();
  app.add_option("--max-siblings", options.max_siblings,
                 "refuse writes that would leave more siblings than this")
      ->envname("RUMOR_MAX_SIBLINGS")
      ->capture_default_str();
  app.add_option("--max-object-bytes", options.max_object_bytes,
                 "refuse writes that would make an object (all siblings) "
                 "larger than this")
      ->envname("RUMOR_MAX_OBJECT_BYTES")
      ->capture_default_str();
  app.add_option("--hinted-handoff", options.hinted_handoff,
                 "sloppy quorum with hints for down replicas (false: writes "
                 "just miss them until a read repairs them; for testing)")
      ->envname("RUMOR_HINTED_HANDOFF")
      ->capture_default_str();
  app.add_option("--max-hints-per-node", options.max_hints_per_node,
                 "hints kept for one down node; beyond, they are dropped "
                 "(logged; a read repairs those keys)")
      ->envname("RUMOR_MAX_HINTS_PER_NODE")
      ->capture_default_str();
  app.add_option("--handoff-interval", handoff_interval,
                 "how often hint delivery and range handoff look for work")
      ->envname("RUMOR_HANDOFF_INTERVAL")
      ->capture_default_str();
  app.add_option("--handoff-settle", handoff_settle,
                 "how long the ring must be stable before ranges move")
      ->envname("RUMOR_HANDOFF_SETTLE")
      ->capture_default_str();
  app.add_option("--leave-timeout", leave_timeout,
                 "longest a graceful leave may take to hand its data off")
      ->envname("RUMOR_LEAVE_TIMEOUT")
      ->capture_default_str();
  app.add_option("--aae-interval", aae_interval,
                 "anti-entropy: how often to compare the ranges shared with "
                 "the next peer and repair what differs (0: only on "
                 "kvcli repair)")
      ->envname("RUMOR_AAE_INTERVAL")
      ->capture_default_str();
  app.add_option("--aae-keys-per-second", options.aae_keys_per_second,
                 "anti-entropy: most keys repaired per second (0: no limit)")
      ->envname("RUMOR_AAE_KEYS_PER_SECOND")
      ->capture_default_str();
  app.add_option("--aae-bytes-per-second", options.aae_bytes_per_second,
                 "anti-entropy: most object bytes moved per second by "
                 "repairs (0: no limit)")
      ->envname("RUMOR_AAE_BYTES_PER_SECOND")
      ->capture_default_str();
  app.add_option("--aae-latency-tolerance", options.aae_latency_tolerance,
                 "anti-entropy: how much repair may raise the mean latency "
                 "of client requests (0.05: 5%) before it slows below its "
                 "limits; checked against pauses in repair (0: repair runs "
                 "at its limits)")
      ->envname("RUMOR_AAE_LATENCY_TOLERANCE")
      ->capture_default_str();
  app.add_option("--tombstone-grace", tombstone_grace,
                 "keep a deleted key's tombstone at least this long; it is "
                 "removed only once every node holding the key holds the "
                 "same tombstone and no node is down (0: keep tombstones "
                 "for good)")
      ->envname("RUMOR_TOMBSTONE_GRACE")
      ->capture_default_str();
  app.add_option("--aae-verify-interval", aae_verify_interval,
                 "anti-entropy: how often to check the hash tree against a "
                 "slow scan of the data, correcting drift (0: never)")
      ->envname("RUMOR_AAE_VERIFY_INTERVAL")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "debug, info, warning or error")
      ->envname("RUMOR_LOG_LEVEL")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "kvd: %s (see kvd --help)\n", e.what());
    return 2;
  }
  rumor::LogLevel level;
  if (!rumor::ParseLogLevel(log_level, &level)) {
    std::fprintf(stderr, "kvd: unknown --log-level '%s' (see kvd --help)\n",
                 log_level.c_str());
    return 2;
  }
  rumor::SetMinLogLevel(level);
  options.limits.max_key_bytes = max_key_bytes;
  options.limits.max_value_bytes = max_value_bytes;
  options.min_free_disk_bytes = min_free_disk_mb << 20;
  for (auto seed : absl::StrSplit(seeds, ',', absl::SkipWhitespace())) {
    options.seeds.emplace_back(absl::StripAsciiWhitespace(seed));
  }
  for (auto tag : absl::StrSplit(tags, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(tag, absl::MaxSplits('=', 1));
    if (kv.first.empty()) {
      std::fprintf(stderr, "kvd: --tags wants key=value pairs, got '%s'\n",
                   std::string(tag).c_str());
      return 2;
    }
    options.tags.push_back(std::move(kv));
  }
  options.lifeguard = lifeguard;
  struct DurationFlag {
    const char* name;
    const std::string& text;
    absl::Duration* out;
  };
  for (const DurationFlag& f :
       {DurationFlag{"--probe-interval", probe_interval, &options.probe_interval},
        DurationFlag{"--probe-timeout", probe_timeout, &options.probe_timeout},
        DurationFlag{"--push-pull-interval", push_pull_interval,
                     &options.push_pull_interval},
        DurationFlag{"--forget-departed-after", forget_departed_after,
                     &options.forget_departed_after},
        DurationFlag{"--request-timeout", request_timeout,
                     &options.request_timeout},
        DurationFlag{"--handoff-interval", handoff_interval,
                     &options.handoff_interval},
        DurationFlag{"--handoff-settle", handoff_settle,
                     &options.handoff_settle},
        DurationFlag{"--leave-timeout", leave_timeout,
                     &options.leave_timeout}}) {
    if (f.text.empty()) continue;
    if (!ParseDurationFlag(f.text, f.out) || *f.out <= absl::ZeroDuration()) {
      std::fprintf(stderr,
                   "kvd: %s must be a positive duration like 1s or 200ms, "
                   "got '%s'\n",
                   f.name, f.text.c_str());
      return 2;
    }
  }
  if (!ParseDurationFlag(aae_interval, &options.aae_interval) ||
      options.aae_interval < absl::ZeroDuration()) {
    std::fprintf(stderr,
                 "kvd: --aae-interval must be a duration like 10s or 0 (off), "
                 "got '%s'\n",
                 aae_interval.c_str());
    return 2;
  }
  for (auto [name, text, out] :
       {std::tuple{"--tombstone-grace", &tombstone_grace,
                   &options.tombstone_grace},
        std::tuple{"--aae-verify-interval", &aae_verify_interval,
                   &options.aae_verify_interval}}) {
    if (!ParseDurationFlag(*text, out) || *out < absl::ZeroDuration()) {
      std::fprintf(stderr,
                   "kvd: %s must be a duration like 1h or 30m, or 0 (off), "
                   "got '%s'\n",
                   name, text->c_str());
      return 2;
    }
  }
  if (options.tombstone_grace > absl::ZeroDuration() &&
      options.tombstone_grace < absl::Minutes(1)) {
    // Safe by the confirmation, but the grace is what covers a replica
    // write still in flight from before a delete.
    std::fprintf(stderr,
                 "kvd: warning: --tombstone-grace=%s is short; keep it well "
                 "above --request-timeout (a minute or more) outside tests\n",
                 tombstone_grace.c_str());
  }
  // Debian builds abseil with deadlock detection on every Mutex lock; it
  // costs a few percent of a node's CPU for nothing in production.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Block the shutdown signals before any thread starts, so every thread
  // inherits the mask and only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A peer closing a socket must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  // Every log line names the node, from the first one on: the tag is set
  // before any thread starts whenever the address is known up front (an
  // --advertise, or a --listen with a real port). Only with port 0 is the
  // address known after the start (SetLogTag is safe then too).
  std::string early_tag = options.advertise;
  if (early_tag.empty() && !absl::EndsWith(options.listen, ":0")) {
    early_tag = options.listen;
  }
  if (!early_tag.empty()) rumor::SetLogTag(early_tag);
  auto node = rumor::server::Node::Start(options);
  if (!node.ok()) {
    std::fprintf(stderr, "kvd: %s\n", std::string(node.status().message()).c_str());
    return 1;
  }
  if ((*node)->address() != early_tag) rumor::SetLogTag((*node)->address());
  if (!port_file.empty() &&
      !WriteFileAtomically(port_file, (*node)->address() + "\n")) {
    std::fprintf(stderr, "kvd: cannot write --port-file %s\n",
                 port_file.c_str());
    return 1;
  }

  // Wait for a signal, or for the node to ask to stop (it left).
  int sig = 0;
  timespec poll = {0, 100 * 1000 * 1000};
  while (true) {
    sig = sigtimedwait(&signals, nullptr, &poll);
    if (sig > 0) break;
    if ((*node)->StopRequested()) break;
    if (absl::Status fatal = (*node)->FatalError(); !fatal.ok()) {
      (*node)->Shutdown(absl::ZeroDuration());
      std::fprintf(stderr, "kvd: %s\n", std::string(fatal.message()).c_str());
      return 1;
    }
  }
  if (sig > 0) {
    RUMOR_LOG(INFO) << "received " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                    << "; send it again to exit at once";
  } else {
    RUMOR_LOG(INFO) << "left the cluster; stopping";
  }
  // A second signal exits immediately. Acknowledged writes are in the
  // write-ahead log already, so even that loses none.
  std::thread force([&signals] {
    int again = 0;
    sigwait(&signals, &again);
    std::fprintf(stderr, "kvd: second signal, exiting now\n");
    _exit(1);
  });
  force.detach();
  (*node)->Shutdown();
  node->reset();
  return 0;
}
