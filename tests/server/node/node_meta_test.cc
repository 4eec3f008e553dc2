#include "server/node/node_meta.h"

#include "gtest/gtest.h"
#include "storage/column_store.h"
#include "storage/mem_engine.h"
#include "storage/object_store.h"

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

// The actor epoch (kv679): kept across a clean restart, moved on after an
// unclean one, after the data column was lost or replaced, and on demand
// (range handoff before it drops keys); the actor changes with the epoch.
TEST(NodeMetaTest, TheActorEpochMovesOnExactlyWhenDotsCouldRepeat) {
  auto engine = storage::NewMemEngine();
  auto meta = *storage::ColumnStore::Open(engine.get(), storage::Column::kMeta);
  storage::ObjectStore store(engine.get());
  const NodeId id = 0x1234;
  auto first = StartActorEpoch(meta.get(), &store, id);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->bumped_because, "first start");
  EXPECT_NE(first->actor, 0u);
  EXPECT_EQ(first->actor, ActorOf(id, first->epoch));

  // A clean shutdown keeps it.
  ASSERT_TRUE(MarkCleanShutdown(meta.get(), first->epoch).ok());
  auto clean = StartActorEpoch(meta.get(), &store, id);
  ASSERT_TRUE(clean.ok());
  EXPECT_EQ(clean->epoch, first->epoch);
  EXPECT_EQ(clean->actor, first->actor);
  EXPECT_TRUE(clean->bumped_because.empty());

  // No clean-shutdown record (a crash): moved on.
  auto crashed = StartActorEpoch(meta.get(), &store, id);
  ASSERT_TRUE(crashed.ok());
  EXPECT_EQ(crashed->epoch, clean->epoch + 1);
  EXPECT_NE(crashed->actor, clean->actor);
  EXPECT_EQ(crashed->bumped_because, "the last shutdown was not clean");

  // A clean record of an older epoch does not count.
  ASSERT_TRUE(MarkCleanShutdown(meta.get(), crashed->epoch - 1).ok());
  auto stale = StartActorEpoch(meta.get(), &store, id);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->epoch, crashed->epoch + 1);

  // The data column replaced (its identity differs), even after a clean
  // shutdown: moved on.
  ASSERT_TRUE(MarkCleanShutdown(meta.get(), stale->epoch).ok());
  ASSERT_TRUE(store.SetDataIdentity("someone else's data").ok());
  auto replaced = StartActorEpoch(meta.get(), &store, id);
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(replaced->epoch, stale->epoch + 1);
  EXPECT_EQ(replaced->bumped_because, "the data column was lost or replaced");

  // On demand, durably: the next start continues from there.
  auto bumped = BumpActorEpoch(meta.get(), replaced->epoch);
  ASSERT_TRUE(bumped.ok());
  EXPECT_EQ(*bumped, replaced->epoch + 1);
  ASSERT_TRUE(MarkCleanShutdown(meta.get(), *bumped).ok());
  auto after = StartActorEpoch(meta.get(), &store, id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->epoch, *bumped);
  EXPECT_TRUE(after->bumped_because.empty());
}

TEST(NodeMetaTest, RememberedPeersRoundTripAndSkipWhatIsNotAnAddress) {
  auto engine = storage::NewMemEngine();
  auto meta = *storage::ColumnStore::Open(engine.get(), storage::Column::kMeta);
  auto none = LoadPeers(meta.get());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(StorePeers(meta.get(), {"10.0.0.1:7379", "[::1]:7380"}).ok());
  auto back = LoadPeers(meta.get());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (std::vector<std::string>{"10.0.0.1:7379", "[::1]:7380"}));
  // A corrupt entry is skipped, not trusted as a gRPC target.
  ASSERT_TRUE(meta->PutSynced("peers", "10.0.0.1:7379\nunix:/tmp/x\n\x01").ok());
  back = LoadPeers(meta.get());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, std::vector<std::string>{"10.0.0.1:7379"});
  ASSERT_TRUE(StorePeers(meta.get(), {}).ok());
  EXPECT_TRUE(LoadPeers(meta.get())->empty());
}

TEST(NodeMetaTest, JoiningIsRememberedUntilCleared) {
  auto engine = storage::NewMemEngine();
  auto meta = *storage::ColumnStore::Open(engine.get(), storage::Column::kMeta);
  EXPECT_FALSE(*LoadJoining(meta.get()));
  ASSERT_TRUE(StoreJoining(meta.get(), true).ok());
  EXPECT_TRUE(*LoadJoining(meta.get()));
  ASSERT_TRUE(StoreJoining(meta.get(), false).ok());
  EXPECT_FALSE(*LoadJoining(meta.get()));
}

}  // namespace
}  // namespace rumor::server
