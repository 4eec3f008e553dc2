// Child processes for end-to-end tests: the built kvd and kvcli, started
// as a user would. A Subprocess kills (SIGKILL) and reaps its child when
// destroyed, so a failing test leaves nothing running.
#ifndef RUMOR_TESTS_SUPPORT_PROCESS_H_
#define RUMOR_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rumor::testing {

class Subprocess {
 public:
  // Starts argv[0] with the arguments; stdout and stderr go to the given
  // files (appended). stdin reads from `stdin_path` or /dev/null.
  static std::unique_ptr<Subprocess> Start(
      const std::vector<std::string>& argv, const std::string& stdout_path,
      const std::string& stderr_path, const std::string& stdin_path = "");
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for the child to exit. Returns its exit code (128+signal when
  // killed by a signal) or nullopt if it is still running at the deadline.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<int> exit_code_;
};

struct RunResult {
  int exit_code = -1;  // -1: timed out (and killed)
  std::string out;
  std::string err;
};

// Runs a command to completion with `stdin_data` on its stdin, killing it
// after `timeout`. Uses `scratch_dir` for the captured output.
RunResult Run(const std::vector<std::string>& argv,
              const std::string& scratch_dir, const std::string& stdin_data = "",
              std::chrono::milliseconds timeout = std::chrono::seconds(30));

std::string ReadFile(const std::string& path);

}  // namespace rumor::testing

#endif  // RUMOR_TESTS_SUPPORT_PROCESS_H_
