// An Engine wrapper for tests that injects what a real disk does at its
// worst: non-blocking calls that would have to wait (a cache miss, a write
// stall), blocking calls held up (a disk stall) until a gate opens, and
// failing writes (a full disk). Everything else goes to the wrapped engine.
// Thread-safe.
#ifndef RUMOR_TESTS_SUPPORT_FAULT_ENGINE_H_
#define RUMOR_TESTS_SUPPORT_FAULT_ENGINE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "storage/engine.h"

namespace rumor::testing {

class FaultEngine final : public storage::Engine {
 public:
  explicit FaultEngine(std::unique_ptr<storage::Engine> base)
      : base_(std::move(base)) {}

  // GetIfCached / WriteIfNoWait answer WouldBlockError().
  void SetWouldBlock(bool reads, bool writes) {
    absl::MutexLock lock(&mu_);
    block_reads_ = reads;
    block_writes_ = writes;
  }
  // While closed, blocking Get and Write wait for OpenGate.
  void CloseGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = true;
  }
  // Calls waiting at the closed gate now.
  int waiting() const {
    absl::MutexLock lock(&mu_);
    return waiting_;
  }
  // Every write fails with `s` (OK: writes work again).
  void FailWrites(absl::Status s) {
    absl::MutexLock lock(&mu_);
    write_error_ = std::move(s);
  }
  int syncs() const {
    absl::MutexLock lock(&mu_);
    return syncs_;
  }

  absl::Status Get(storage::Column c, std::string_view key,
                   std::string* value) override {
    PassGate();
    return base_->Get(c, key, value);
  }
  absl::Status Write(const storage::WriteBatch& batch) override {
    PassGate();
    {
      absl::MutexLock lock(&mu_);
      if (!write_error_.ok()) return write_error_;
    }
    return base_->Write(batch);
  }
  absl::Status Scan(storage::Column c, std::string_view start,
                    std::string_view end,
                    absl::FunctionRef<bool(std::string_view, std::string_view)>
                        fn) override {
    return base_->Scan(c, start, end, fn);
  }
  absl::Status Sync() override {
    {
      absl::MutexLock lock(&mu_);
      ++syncs_;
    }
    return base_->Sync();
  }
  absl::Status GetIfCached(storage::Column c, std::string_view key,
                           std::string* value) override {
    {
      absl::MutexLock lock(&mu_);
      if (block_reads_ || !gate_open_) return storage::WouldBlockError();
    }
    return base_->GetIfCached(c, key, value);
  }
  absl::Status WriteIfNoWait(const storage::WriteBatch& batch) override {
    {
      absl::MutexLock lock(&mu_);
      if (block_writes_ || !gate_open_) return storage::WouldBlockError();
      if (!write_error_.ok()) return write_error_;
    }
    return base_->WriteIfNoWait(batch);
  }

 private:
  void PassGate() {
    absl::MutexLock lock(&mu_);
    ++waiting_;
    mu_.Await(absl::Condition(&gate_open_));
    --waiting_;
  }

  std::unique_ptr<storage::Engine> base_;
  mutable absl::Mutex mu_;
  bool block_reads_ ABSL_GUARDED_BY(mu_) = false;
  bool block_writes_ ABSL_GUARDED_BY(mu_) = false;
  bool gate_open_ ABSL_GUARDED_BY(mu_) = true;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int syncs_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status write_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rumor::testing

#endif  // RUMOR_TESTS_SUPPORT_FAULT_ENGINE_H_
