#include "storage/column_store.h"

#include <string>
#include <type_traits>

#include "gtest/gtest.h"
#include "storage/mem_engine.h"
#include "storage/object_store.h"

namespace rumor::storage {
namespace {

// Objects are written only through ObjectStore, whose per-key lock makes
// each read-modify-write atomic. Nothing hands out the raw engine or a
// store of the data column that could bypass it.
template <typename T>
concept ExposesEngine = requires(T& t) { t.engine(); };

TEST(ColumnStoreTest, TheDataColumnIsReachableOnlyThroughTheObjectStore) {
  static_assert(!ExposesEngine<ObjectStore>,
                "ObjectStore must not hand out its engine");
  EXPECT_FALSE(ExposesEngine<ObjectStore>);
  auto engine = NewMemEngine();
  auto data = ColumnStore::Open(engine.get(), Column::kData);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ColumnStoreTest, WritesStayInTheirColumn) {
  auto engine = NewMemEngine();
  auto meta = ColumnStore::Open(engine.get(), Column::kMeta);
  ASSERT_TRUE(meta.ok());
  ASSERT_TRUE((*meta)->PutSynced("a", "1").ok());
  std::string v;
  ASSERT_TRUE((*meta)->Get("a", &v).ok());
  EXPECT_EQ(v, "1");
  EXPECT_TRUE(absl::IsNotFound(engine->Get(Column::kHints, "a", &v)));
  WriteBatch stray;
  stray.Put(Column::kMeta, "b", "2");
  stray.Put(Column::kData, "c", "3");
  absl::Status s = (*meta)->Write(stray);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::IsNotFound(engine->Get(Column::kMeta, "b", &v)))
      << "a refused batch writes nothing";
  EXPECT_TRUE(absl::IsNotFound(engine->Get(Column::kData, "c", &v)));
  int n = 0;
  ASSERT_TRUE((*meta)->Scan("", "", [&](std::string_view, std::string_view) {
                       ++n;
                       return true;
                     }).ok());
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace rumor::storage
