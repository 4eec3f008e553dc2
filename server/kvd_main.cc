// kvd: one rumor node. See `kvd --help`.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/version.h"
#include "server/node.h"

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

}  // namespace

int main(int argc, char** argv) {
  rumor::server::NodeOptions options;
  std::string port_file;
  std::string log_level = "info";
  size_t max_key_bytes = options.limits.max_key_bytes;
  size_t max_value_bytes = options.limits.max_value_bytes;

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
  app.add_flag("--sync", options.sync,
               "fsync every write before acknowledging it (survives power "
               "loss, slower)")
      ->envname("RUMOR_SYNC");
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
  app.add_option("--port-file", port_file,
                 "write the advertised host:port to this file once serving")
      ->envname("RUMOR_PORT_FILE");
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

  // Block the shutdown signals before any thread starts, so every thread
  // inherits the mask and only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A peer closing a socket must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  auto node = rumor::server::Node::Start(options);
  if (!node.ok()) {
    std::fprintf(stderr, "kvd: %s\n", std::string(node.status().message()).c_str());
    return 1;
  }
  rumor::SetLogTag((*node)->address());
  if (!port_file.empty() &&
      !WriteFileAtomically(port_file, (*node)->address() + "\n")) {
    std::fprintf(stderr, "kvd: cannot write --port-file %s\n",
                 port_file.c_str());
    return 1;
  }

  int sig = 0;
  sigwait(&signals, &sig);
  RUMOR_LOG(INFO) << "received " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                  << "; send it again to exit at once";
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
