// Real kvd processes for multi-process tests, each on 127.0.0.1 with a port
// chosen by the OS (or a given one), its own data dir and log file. A
// KvdProcess SIGKILLs its process when destroyed, so failing tests leave
// nothing behind.
#ifndef RUMOR_TESTS_SUPPORT_KVD_PROCESS_H_
#define RUMOR_TESTS_SUPPORT_KVD_PROCESS_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "tests/support/process.h"

namespace rumor::testing {

class KvdProcess {
 public:
  // Starts `kvd_bin` with --data-dir=data_dir, --listen=127.0.0.1:<port>
  // (0: any), --port-file and `flags`, and waits (up to `timeout`) until it
  // serves. On failure returns nullptr and sets *error (with the log).
  static std::unique_ptr<KvdProcess> Start(
      const std::string& kvd_bin, const std::string& data_dir,
      const std::string& log_path, const std::vector<std::string>& flags,
      int port = 0, std::string* error = nullptr,
      std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~KvdProcess();

  const std::string& address() const { return address_; }
  int port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  const std::string& log_path() const { return log_path_; }
  std::string Log() const { return ReadFile(log_path_); }
  Subprocess& process() { return *process_; }
  // A client for this node (created on first use).
  client::Client& client();

  void Signal(int sig) { process_->Signal(sig); }
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    return process_->Wait(timeout);
  }

 private:
  KvdProcess() = default;
  std::unique_ptr<Subprocess> process_;
  std::string address_;
  int port_ = 0;
  std::string log_path_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace rumor::testing

#endif  // RUMOR_TESTS_SUPPORT_KVD_PROCESS_H_
