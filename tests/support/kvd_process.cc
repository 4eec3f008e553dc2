#include "tests/support/kvd_process.h"

#include <signal.h>

#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "tests/support/wait.h"

namespace rumor::testing {

std::unique_ptr<KvdProcess> KvdProcess::Start(
    const std::string& kvd_bin, const std::string& data_dir,
    const std::string& log_path, const std::vector<std::string>& flags,
    int port, std::string* error, std::chrono::milliseconds timeout) {
  auto kvd = std::unique_ptr<KvdProcess>(new KvdProcess());
  std::string port_file = log_path + ".port";
  std::filesystem::remove(port_file);
  std::vector<std::string> argv = {
      kvd_bin, "--listen=127.0.0.1:" + std::to_string(port),
      "--data-dir=" + data_dir, "--port-file=" + port_file};
  argv.insert(argv.end(), flags.begin(), flags.end());
  kvd->log_path_ = log_path;
  kvd->process_ = Subprocess::Start(argv, log_path, log_path);
  bool up = WaitUntil(
      [&] {
        return std::filesystem::exists(port_file) || !kvd->process_->running();
      },
      timeout);
  if (!up || !kvd->process_->running()) {
    if (error != nullptr) {
      *error = "kvd did not start; its log:\n" + ReadFile(log_path);
    }
    return nullptr;
  }
  kvd->address_ = std::string(
      absl::StripTrailingAsciiWhitespace(ReadFile(port_file)));
  size_t colon = kvd->address_.rfind(':');
  if (!absl::SimpleAtoi(kvd->address_.substr(colon + 1), &kvd->port_)) {
    if (error != nullptr) *error = "bad port file: " + kvd->address_;
    return nullptr;
  }
  return kvd;
}

KvdProcess::~KvdProcess() {
  client_.reset();
  if (process_ && process_->running()) {
    process_->Signal(SIGCONT);  // in case a test left it stopped
    process_->Signal(SIGKILL);
    process_->Wait(std::chrono::seconds(10));
  }
}

client::Client& KvdProcess::client() {
  if (!client_) {
    client::ClientOptions o;
    o.server = address_;
    o.timeout = absl::Seconds(5);
    client_ = std::move(*client::Client::Connect(o));
  }
  return *client_;
}

}  // namespace rumor::testing
