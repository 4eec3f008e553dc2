#include "server/replication/coordinator.h"

#include <optional>
#include <string>

#include <pthread.h>

#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/executor.h"
#include "gtest/gtest.h"
#include "storage/mem_engine.h"
#include "tests/support/fault_engine.h"

namespace rumor::server {
namespace {

// A node alone: an empty ring, so it replicates every key itself.
ClusterViewSource Alone(NodeId self) {
  auto view = MakeClusterView(self, nullptr, 0, {});
  return [view] { return view; };
}

ReplicationConfig Config(Limits limits = {}) {
  ReplicationConfig c;
  c.limits = limits;
  return c;
}

bool WaitFor(const std::function<bool()>& cond,
             absl::Duration timeout = absl::Seconds(10)) {
  absl::Time end = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() >= end) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

class CoordinatorTest : public ::testing::Test {
 protected:
  CoordinatorTest()
      : engine_(storage::NewMemEngine()),
        store_(engine_.get()),
        coordinator_(&store_, /*hints=*/nullptr, /*actor=*/7,
                     Config(Limits{16, 64}), &inline_, Alone(7),
                     /*transport=*/nullptr) {}

  absl::StatusOr<ObjectView> Get(const std::string& key) {
    std::optional<absl::StatusOr<ObjectView>> out;
    coordinator_.Get(key, {}, [&](absl::StatusOr<ObjectView> r) { out = r; });
    EXPECT_TRUE(out.has_value()) << "inline executor must answer at once";
    return *out;
  }
  absl::StatusOr<ObjectView> Put(const std::string& key, const std::string& v,
                                 const std::string& ctx = "") {
    std::optional<absl::StatusOr<ObjectView>> out;
    coordinator_.Put(key, v, ctx, {}, /*return_body=*/true,
                     [&](absl::StatusOr<ObjectView> r) { out = r; });
    EXPECT_TRUE(out.has_value());
    return *out;
  }
  absl::Status Delete(const std::string& key, const std::string& ctx) {
    std::optional<absl::Status> out;
    coordinator_.Delete(key, ctx, {}, [&](absl::Status s) { out = s; });
    EXPECT_TRUE(out.has_value());
    return *out;
  }

  InlineExecutor inline_;
  std::unique_ptr<storage::Engine> engine_;
  storage::ObjectStore store_;
  Coordinator coordinator_;
};

TEST_F(CoordinatorTest, NeverWrittenKeyIsNotFoundWithEmptyContext) {
  auto v = Get("k");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->found);
  EXPECT_TRUE(v->values.empty());
  EXPECT_TRUE(v->context.empty());
}

TEST_F(CoordinatorTest, PutGetReplaceSiblingDelete) {
  ASSERT_TRUE(Put("greeting", "hello").ok());
  auto v = Get("greeting");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->found);
  EXPECT_EQ(v->values, std::vector<std::string>{"hello"});
  ASSERT_TRUE(Put("greeting", "hi", v->context).ok());
  ASSERT_TRUE(Put("greeting", "hey").ok());  // no context: sibling
  v = Get("greeting");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->values.size(), 2u);
  ASSERT_TRUE(Delete("greeting", v->context).ok());
  v = Get("greeting");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->found);
  EXPECT_FALSE(v->context.empty()) << "a tombstone keeps its history";
  // Writing with the tombstone's context replaces it cleanly.
  ASSERT_TRUE(Put("greeting", "back", v->context).ok());
  v = Get("greeting");
  EXPECT_EQ(v->values, std::vector<std::string>{"back"});
}

TEST_F(CoordinatorTest, BadInputIsInvalidArgumentAndChangesNothing) {
  ASSERT_TRUE(Put("k", "original").ok());
  auto before = Get("k");
  struct Case {
    std::string key, value, context, expect_in_message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "v", "", "empty"},
           {std::string(17, 'k'), "v", "", "limit is 16"},
           {"k", std::string(65, 'v'), "", "limit is 64"},
           {"k", "v", "not a context", "context"},
           {"k", "v", std::string(100 << 10, 'c'), "context"},
       }) {
    auto r = Put(c.key, c.value, c.context);
    ASSERT_FALSE(r.ok()) << c.expect_in_message;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect_in_message),
              absl::string_view::npos)
        << r.status();
  }
  EXPECT_FALSE(Get("").ok());
  EXPECT_FALSE(Delete("k", "garbage").ok());
  auto after = Get("k");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->values, before->values);
  EXPECT_EQ(after->context, before->context);
}

TEST_F(CoordinatorTest, LimitsAreInclusive) {
  EXPECT_TRUE(Put(std::string(16, 'k'), std::string(64, 'v')).ok());
  EXPECT_TRUE(Put("empty-value", "").ok());
}

TEST(LimitsTest, ValidateEnforcesHardCaps) {
  EXPECT_TRUE(Limits{}.Validate().ok());
  EXPECT_FALSE((Limits{0, 10}).Validate().ok());
  EXPECT_FALSE((Limits{kHardMaxKeyBytes + 1, 10}).Validate().ok());
  EXPECT_FALSE((Limits{10, kHardMaxValueBytes + 1}).Validate().ok());
}

// The deferred path: reads that miss the cache and writes that would stall
// leave the calling (gRPC) thread for the storage pool, and still answer
// correctly.
TEST(CoordinatorPoolTest, OperationsThatWouldBlockCompleteOnTheStoragePool) {
  testing::FaultEngine engine(storage::NewMemEngine());
  storage::ObjectStore store(&engine);
  ThreadPool pool(1, "storage");
  Coordinator coordinator(&store, nullptr, 7, Config(), &pool, Alone(7), nullptr);
  engine.SetWouldBlock(/*reads=*/true, /*writes=*/true);
  const std::thread::id caller = std::this_thread::get_id();

  absl::Notification put_done;
  std::thread::id put_thread;
  absl::Status put_status;
  coordinator.Put("k", "v1", "", {}, /*return_body=*/false,
                  [&](absl::StatusOr<ObjectView> r) {
                    put_status = r.status();
                    put_thread = std::this_thread::get_id();
                    put_done.Notify();
                  });
  ASSERT_TRUE(put_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(put_status.ok()) << put_status;
  EXPECT_NE(put_thread, caller) << "a write that would stall ran inline";

  absl::Notification get_done;
  std::thread::id get_thread;
  absl::StatusOr<ObjectView> got = absl::UnknownError("unset");
  coordinator.Get("k", {}, [&](absl::StatusOr<ObjectView> r) {
    got = std::move(r);
    get_thread = std::this_thread::get_id();
    get_done.Notify();
  });
  ASSERT_TRUE(get_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->values, std::vector<std::string>{"v1"});
  EXPECT_NE(get_thread, caller) << "a read that missed the cache ran inline";

  // Without would-block, both complete on the calling thread.
  engine.SetWouldBlock(false, false);
  std::thread::id inline_thread;
  coordinator.Get("k", {}, [&](absl::StatusOr<ObjectView> r) {
    EXPECT_TRUE(r.ok());
    inline_thread = std::this_thread::get_id();
  });
  EXPECT_EQ(inline_thread, caller);
}

// A disk stall fills the storage queue: requests beyond its bound are
// refused at once with RESOURCE_EXHAUSTED (retryable, nothing written)
// instead of queueing their values without limit.
TEST(CoordinatorPoolTest, AFullStorageQueueRefusesInsteadOfGrowing) {
  testing::FaultEngine engine(storage::NewMemEngine());
  storage::ObjectStore store(&engine);
  engine.SetWouldBlock(true, true);
  engine.CloseGate();  // the disk stalls
  constexpr int kQueue = 2, kRequests = 6;
  auto pool = std::make_unique<ThreadPool>(1, "storage", kQueue);
  Coordinator coordinator(&store, nullptr, 7, Config(), pool.get(), Alone(7),
                          nullptr);
  absl::Mutex mu;
  std::vector<absl::Status> results;
  // Keys and values must outlive the calls (the coordinator's contract).
  std::vector<std::string> keys;
  for (int i = 0; i < kRequests; ++i) keys.push_back("k" + std::to_string(i));
  for (int i = 0; i < kRequests; ++i) {
    if (i == 1) {
      // The first one holds the only worker at the gate.
      ASSERT_TRUE(WaitFor([&] { return engine.waiting() == 1; }));
    }
    coordinator.Put(keys[i], "v", "", {}, false,
                    [&](absl::StatusOr<ObjectView> r) {
                      absl::MutexLock lock(&mu);
                      results.push_back(r.status());
                    });
  }
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(results.size(), size_t{kRequests - 1 - kQueue})
        << "only the refusals answer while the disk stalls";
    for (const absl::Status& s : results) {
      EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    }
  }
  engine.OpenGate();
  pool.reset();  // drains what was admitted
  absl::MutexLock lock(&mu);
  ASSERT_EQ(results.size(), size_t{kRequests});
  int ok = 0;
  for (const absl::Status& s : results) ok += s.ok();
  EXPECT_EQ(ok, 1 + kQueue) << "the running one and the queued ones succeed";
  // The refused writes left nothing behind.
  for (int i = 1 + kQueue; i < kRequests; ++i) {
    std::string bytes;
    absl::Status s = engine.Get(storage::Column::kData,
                                storage::DataKey("k" + std::to_string(i)),
                                &bytes);
    EXPECT_TRUE(absl::IsNotFound(s)) << "k" << i << ": " << s;
  }
}

}  // namespace
}  // namespace rumor::server
