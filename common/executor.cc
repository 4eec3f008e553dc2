#include "common/executor.h"

#include <pthread.h>

namespace rumor {

ThreadPool::ThreadPool(int threads, std::string name, size_t max_queued)
    : max_queued_(max_queued) {
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
    // Linux limits thread names to 15 characters.
    std::string thread_name = (name + std::to_string(i)).substr(0, 15);
    pthread_setname_np(workers_.back().native_handle(), thread_name.c_str());
  }
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (auto& t : workers_) t.join();
}

void ThreadPool::Submit(absl::AnyInvocable<void() &&> fn) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
}

void ThreadPool::SubmitOrRefuse(absl::AnyInvocable<void(bool) &&> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (max_queued_ == 0 || queue_.size() < max_queued_) {
      queue_.push_back([fn = std::move(fn)]() mutable { std::move(fn)(true); });
      return;
    }
  }
  std::move(fn)(false);
}

size_t ThreadPool::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void ThreadPool::WorkerLoop() {
  while (true) {
    absl::AnyInvocable<void() &&> fn;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping and drained
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(fn)();
  }
}

}  // namespace rumor
