#include "server/node/node_meta.h"

#include "gtest/gtest.h"
#include "storage/column_store.h"
#include "storage/mem_engine.h"

namespace rumor::server {
namespace {

TEST(NodeMetaTest, NodeIdIsStableAndNonZero) {
  auto engine = storage::NewMemEngine();
  auto meta = *storage::ColumnStore::Open(engine.get(), storage::Column::kMeta);
  auto a = LoadOrCreateNodeId(meta.get());
  auto b = LoadOrCreateNodeId(meta.get());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, kNoNode);
  EXPECT_EQ(*a, *b);
}

// Incarnations are leased ahead: whatever the node announced (up to the
// mark it stored), a restart starts above it.
TEST(NodeMetaTest, RestartsAlwaysStartAboveEveryAnnouncedIncarnation) {
  auto engine = storage::NewMemEngine();
  auto meta = *storage::ColumnStore::Open(engine.get(), storage::Column::kMeta);
  auto first = NextIncarnation(meta.get());
  ASSERT_TRUE(first.ok());
  EXPECT_GT(first->mark, first->incarnation);
  // The node refutes many times; the mark is raised as it goes.
  uint64_t announced = first->incarnation;
  uint64_t mark = first->mark;
  for (int i = 0; i < 500; ++i) {
    ++announced;
    if (announced > mark) {
      mark = announced + kIncarnationLease;
      ASSERT_TRUE(StoreIncarnationMark(meta.get(), mark).ok());
    }
  }
  auto restart = NextIncarnation(meta.get());
  ASSERT_TRUE(restart.ok());
  EXPECT_GT(restart->incarnation, announced);
  auto again = NextIncarnation(meta.get());
  EXPECT_GT(again->incarnation, restart->mark);
}

TEST(NodeMetaTest, TheMarkIsNeverLowered) {
  auto engine = storage::NewMemEngine();
  auto meta = *storage::ColumnStore::Open(engine.get(), storage::Column::kMeta);
  ASSERT_TRUE(StoreIncarnationMark(meta.get(), 1000).ok());
  ASSERT_TRUE(StoreIncarnationMark(meta.get(), 10).ok());
  auto next = NextIncarnation(meta.get());
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->incarnation, 1001u);
}

TEST(NodeMetaTest, TokensRoundTrip) {
  auto engine = storage::NewMemEngine();
  auto meta = *storage::ColumnStore::Open(engine.get(), storage::Column::kMeta);
  auto none = LoadTokens(meta.get());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(StoreTokens(meta.get(), {3, 1, 0xffffffffffffffffULL}).ok());
  auto back = LoadTokens(meta.get());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (std::vector<uint64_t>{3, 1, 0xffffffffffffffffULL}));
}

}  // namespace
}  // namespace rumor::server
