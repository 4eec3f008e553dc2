// Executors run closures, possibly on other threads. Protocol cores hand work
// to an Executor instead of creating threads, so tests can run it inline.
#ifndef RUMOR_COMMON_EXECUTOR_H_
#define RUMOR_COMMON_EXECUTOR_H_

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace rumor {

// Thread-safe.
class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `fn` once, now or later, on this or another thread.
  virtual void Submit(absl::AnyInvocable<void() &&> fn) = 0;

  // Runs fn(true) once like Submit, or, when the executor's queue is full,
  // fn(false) at once on the calling thread: the caller then refuses the
  // work it was asked for (a full queue must not grow the heap without
  // limit). Executors without a bound always admit.
  virtual void SubmitOrRefuse(absl::AnyInvocable<void(bool admitted) &&> fn) {
    Submit([fn = std::move(fn)]() mutable { std::move(fn)(true); });
  }
};

// Runs every closure on the calling thread before Submit returns.
class InlineExecutor final : public Executor {
 public:
  void Submit(absl::AnyInvocable<void() &&> fn) override { std::move(fn)(); }
};

// A fixed set of named worker threads sharing one FIFO queue. Thread-safe.
// The destructor runs every closure already submitted, then joins.
class ThreadPool final : public Executor {
 public:
  // `max_queued`: closures waiting for a worker beyond which
  // SubmitOrRefuse refuses (0: no bound). Submit always queues.
  ThreadPool(int threads, std::string name, size_t max_queued = 0);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(absl::AnyInvocable<void() &&> fn) override;
  void SubmitOrRefuse(absl::AnyInvocable<void(bool) &&> fn) override;
  // Closures waiting for a worker.
  size_t queued() const;

 private:
  // Main loop of each worker: pop a closure, run it, until stopping and empty.
  void WorkerLoop();

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace rumor

#endif  // RUMOR_COMMON_EXECUTOR_H_
