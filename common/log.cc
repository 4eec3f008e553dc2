#include "common/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_format.h"
#include "common/strings.h"

namespace rumor {
namespace {

std::atomic<int>& MinLevel() {
  static std::atomic<int> level = [] {
    LogLevel l = LogLevel::kInfo;
    if (const char* env = std::getenv("RUMOR_LOG_LEVEL")) {
      LogLevel parsed;
      if (ParseLogLevel(env, &parsed)) l = parsed;
    }
    return static_cast<int>(l);
  }();
  return level;
}

// The tag is published by pointer: a reader sees either the old string or
// the new one, whole. Replaced strings are never freed (a reader may still
// hold one) but stay reachable in `Tags()`, so leak checkers see no leak; a
// process sets its tag once or twice.
std::deque<std::string>& Tags() {
  static auto* tags = new std::deque<std::string>(1);  // never destroyed
  return *tags;
}

absl::Mutex& TagsMutex() {
  static absl::Mutex mu(absl::kConstInit);
  return mu;
}

std::atomic<const std::string*>& Tag() {
  static std::atomic<const std::string*> tag{&Tags().front()};
  return tag;
}

}  // namespace

void SetMinLogLevel(LogLevel level) {
  MinLevel().store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel MinLogLevel() {
  return static_cast<LogLevel>(MinLevel().load(std::memory_order_relaxed));
}

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  std::string n = absl::AsciiStrToLower(AsAbsl(name));
  if (n == "debug") *level = LogLevel::kDebug;
  else if (n == "info") *level = LogLevel::kInfo;
  else if (n == "warning" || n == "warn") *level = LogLevel::kWarning;
  else if (n == "error") *level = LogLevel::kError;
  else return false;
  return true;
}

void SetLogTag(std::string tag) {
  absl::MutexLock lock(&TagsMutex());
  // push_back on a deque keeps every earlier element where it is.
  Tags().push_back(std::move(tag));
  Tag().store(&Tags().back(), std::memory_order_release);
}

namespace log_internal {

LogMessage::LogMessage(LogLevel level, const char* file, int line)
    : level_(level) {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  int millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          now.time_since_epoch())
          .count() %
      1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  static constexpr char kLevels[] = "DIWE";
  const char* base = std::strrchr(file, '/');
  base = base ? base + 1 : file;
  stream_ << absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %c ",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                             tm.tm_hour, tm.tm_min, tm.tm_sec, millis,
                             kLevels[static_cast<int>(level)]);
  const std::string& tag = *Tag().load(std::memory_order_acquire);
  if (!tag.empty()) stream_ << tag << ' ';
  stream_ << base << ':' << line << "] ";
}

LogMessage::~LogMessage() {
  (void)level_;
  std::string line = stream_.str();
  line.push_back('\n');
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;  // nowhere left to report a logging failure
    p += n;
    left -= static_cast<size_t>(n);
  }
}

bool EverySeconds(std::atomic<int64_t>* last_ns, double seconds) {
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  int64_t last = last_ns->load(std::memory_order_relaxed);
  int64_t period = static_cast<int64_t>(seconds * 1e9);
  if (last != 0 && now - last < period) return false;
  return last_ns->compare_exchange_strong(last, now);
}

}  // namespace log_internal
}  // namespace rumor
