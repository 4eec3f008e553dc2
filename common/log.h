// Minimal leveled logging to stderr (abseil 20220623 has no absl/log).
//
//   RUMOR_LOG(INFO) << "joined " << n << " members";
//   RUMOR_LOG_EVERY_SECONDS(WARNING, 10) << "dropping malformed message";
//
// Each statement becomes one write(2) of one line, so lines from threads
// and processes sharing a terminal do not interleave. Thread-safe.
#ifndef RUMOR_COMMON_LOG_H_
#define RUMOR_COMMON_LOG_H_

#include <atomic>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

namespace rumor {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Lines below `level` are dropped. Default kInfo; RUMOR_LOG_LEVEL env var
// (debug|info|warning|error) overrides at start-up.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();
// Parses "debug", "info", "warning", "error". Returns false otherwise.
bool ParseLogLevel(std::string_view name, LogLevel* level);
// A tag printed on every line, e.g. the node's address. Safe to call while
// other threads log (each line carries the old tag or the new one), but
// meant to be set at start-up, before other threads exist, and at most a
// few times: each call keeps its string for the life of the process.
void SetLogTag(std::string tag);

namespace log_internal {

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// True at most once per `seconds` for one call site.
bool EverySeconds(std::atomic<int64_t>* last_ns, double seconds);

struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace log_internal
}  // namespace rumor

#define RUMOR_LOG_LEVEL_DEBUG ::rumor::LogLevel::kDebug
#define RUMOR_LOG_LEVEL_INFO ::rumor::LogLevel::kInfo
#define RUMOR_LOG_LEVEL_WARNING ::rumor::LogLevel::kWarning
#define RUMOR_LOG_LEVEL_ERROR ::rumor::LogLevel::kError

#define RUMOR_LOG(level)                                                   \
  (RUMOR_LOG_LEVEL_##level < ::rumor::MinLogLevel())                      \
      ? (void)0                                                            \
      : ::rumor::log_internal::Voidify() &                                 \
            ::rumor::log_internal::LogMessage(RUMOR_LOG_LEVEL_##level,     \
                                              __FILE__, __LINE__)          \
                .stream()

// Like RUMOR_LOG with a level computed at run time.
#define RUMOR_LOG_AT(level_value)                                         \
  ((level_value) < ::rumor::MinLogLevel())                                \
      ? (void)0                                                           \
      : ::rumor::log_internal::Voidify() &                                \
            ::rumor::log_internal::LogMessage((level_value), __FILE__,    \
                                              __LINE__)                   \
                .stream()

#define RUMOR_LOG_EVERY_SECONDS(level, seconds)                          \
  if (static std::atomic<int64_t> rumor_log_last_{0};                    \
      !::rumor::log_internal::EverySeconds(&rumor_log_last_, (seconds))) { \
  } else                                                                 \
    RUMOR_LOG(level)

#endif  // RUMOR_COMMON_LOG_H_
