#include "server/replication/coordinator.h"

#include <optional>
#include <string>

#include "common/executor.h"
#include "gtest/gtest.h"
#include "storage/mem_engine.h"

namespace rumor::server {
namespace {

class CoordinatorTest : public ::testing::Test {
 protected:
  CoordinatorTest()
      : engine_(storage::NewMemEngine()),
        store_(engine_.get()),
        coordinator_(&store_, /*self=*/7, Limits{16, 64}, &inline_) {}

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

}  // namespace
}  // namespace rumor::server
