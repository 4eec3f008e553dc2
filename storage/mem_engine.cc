#include "storage/mem_engine.h"

#include <array>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace rumor::storage {
namespace {

class MemEngine final : public Engine {
 public:
  absl::Status Get(Column column, std::string_view key,
                   std::string* value) override {
    absl::ReaderMutexLock lock(&mu_);
    const auto& table = tables_[static_cast<int>(column)];
    auto it = table.find(key);
    if (it == table.end()) return absl::NotFoundError("");
    *value = it->second;
    return absl::OkStatus();
  }

  absl::Status Write(const WriteBatch& batch) override {
    absl::MutexLock lock(&mu_);
    for (const auto& op : batch.ops()) {
      auto& table = tables_[static_cast<int>(op.column)];
      if (op.is_delete) {
        table.erase(op.key);
      } else {
        table.insert_or_assign(op.key, op.value);
      }
    }
    return absl::OkStatus();
  }

  absl::Status Scan(Column column, std::string_view start,
                    std::string_view end,
                    absl::FunctionRef<bool(std::string_view, std::string_view)>
                        fn) override {
    // Copy the range under the lock so fn runs unlocked on a snapshot.
    std::vector<std::pair<std::string, std::string>> snapshot;
    {
      absl::ReaderMutexLock lock(&mu_);
      const auto& table = tables_[static_cast<int>(column)];
      for (auto it = table.lower_bound(start);
           it != table.end() && (end.empty() || it->first < end); ++it) {
        snapshot.emplace_back(it->first, it->second);
      }
    }
    for (const auto& [k, v] : snapshot) {
      if (!fn(k, v)) break;
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override { return absl::OkStatus(); }

 private:
  absl::Mutex mu_;
  std::array<std::map<std::string, std::string, std::less<>>, kNumColumns>
      tables_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Engine> NewMemEngine() { return std::make_unique<MemEngine>(); }

}  // namespace rumor::storage
