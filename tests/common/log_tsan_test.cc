// Built with ThreadSanitizer (tests/CMakeLists.txt): the log tag may be set
// while other threads log, as kvd does when it listens on port 0 and
// learns its address only after the node's threads have started.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "gtest/gtest.h"

namespace rumor {
namespace {

TEST(LogTsanTest, SettingTheTagWhileOtherThreadsLogIsNotADataRace) {
  // Log lines go to /dev/null; ThreadSanitizer reports go to stdout
  // (TSAN_OPTIONS=log_path=stdout) and fail the test's exit status.
  int saved = dup(STDERR_FILENO);
  int devnull = open("/dev/null", O_WRONLY);
  ASSERT_GE(devnull, 0);
  dup2(devnull, STDERR_FILENO);
  std::atomic<bool> stop{false};
  std::vector<std::thread> loggers;
  for (int t = 0; t < 3; ++t) {
    loggers.emplace_back([&stop, t] {
      for (int i = 0; i < 2000 && !stop.load(); ++i) {
        RUMOR_LOG(WARNING) << "thread " << t << " line " << i;
      }
    });
  }
  for (int i = 0; i < 50; ++i) SetLogTag("127.0.0.1:" + std::to_string(i));
  stop = true;
  for (auto& t : loggers) t.join();
  dup2(saved, STDERR_FILENO);
  close(devnull);
  close(saved);
  SUCCEED();
}

}  // namespace
}  // namespace rumor
