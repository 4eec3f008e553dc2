// Condition polling with a deadline: tests wait for what they need, never
// for a fixed time.
#ifndef RUMOR_TESTS_SUPPORT_WAIT_H_
#define RUMOR_TESTS_SUPPORT_WAIT_H_

#include <chrono>
#include <functional>
#include <thread>

namespace rumor::testing {

// Polls `cond` every `poll` until it returns true (returns true) or
// `timeout` passes (returns false).
inline bool WaitUntil(const std::function<bool()>& cond,
                      std::chrono::milliseconds timeout,
                      std::chrono::milliseconds poll =
                          std::chrono::milliseconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace rumor::testing

#endif  // RUMOR_TESTS_SUPPORT_WAIT_H_
