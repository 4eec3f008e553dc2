#include "server/membership/broadcast_queue.h"

#include "gtest/gtest.h"

namespace rumor::server {
namespace {

Update Suspect(NodeId node, uint64_t incarnation) {
  Update u;
  u.kind = MemberStatus::kSuspect;
  u.node = node;
  u.incarnation = incarnation;
  u.from = 99;
  return u;
}

Update Alive(NodeId node, uint64_t incarnation) {
  Update u;
  u.kind = MemberStatus::kAlive;
  u.node = node;
  u.incarnation = incarnation;
  u.from = node;
  u.meta_fingerprint = 7;
  return u;
}

constexpr size_t kBudget = 1 << 20;

TEST(BroadcastQueueTest, ANewerUpdateReplacesTheOlderOneAboutTheSameMember) {
  BroadcastQueue q;
  q.Enqueue(Suspect(1, 3));
  q.Enqueue(Alive(1, 4));
  EXPECT_EQ(q.size(), 1u);
  std::vector<Update> out = q.Take(kBudget, 10, kBudget, 5);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, MemberStatus::kAlive);
  EXPECT_EQ(out[0].incarnation, 4u);
}

TEST(BroadcastQueueTest, EachUpdateIsSentRetransmitLimitTimesThenDropped) {
  BroadcastQueue q;
  q.Enqueue(Suspect(1, 1));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(q.Pending(1));
    EXPECT_EQ(q.Take(kBudget, 10, kBudget, 3).size(), 1u);
  }
  EXPECT_FALSE(q.Pending(1));
  EXPECT_TRUE(q.Take(kBudget, 10, kBudget, 3).empty());
}

TEST(BroadcastQueueTest, LeastTransmittedFirstAndGoodNewsFirstAmongEquals) {
  BroadcastQueue q;
  q.Enqueue(Suspect(1, 1));
  ASSERT_EQ(q.Take(kBudget, 1, kBudget, 10).size(), 1u);  // 1 sent once
  q.Enqueue(Suspect(2, 1));
  q.Enqueue(Alive(3, 1));
  std::vector<Update> out = q.Take(kBudget, 3, kBudget, 10);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].node, 3u) << "never sent, and good news";
  EXPECT_EQ(out[1].node, 2u) << "never sent";
  EXPECT_EQ(out[2].node, 1u) << "sent once already";
}

TEST(BroadcastQueueTest, BudgetAndCountBoundEachMessage) {
  BroadcastQueue q;
  for (NodeId n = 1; n <= 20; ++n) q.Enqueue(Suspect(n, 1));
  EXPECT_EQ(q.Take(kBudget, 5, kBudget, 10).size(), 5u);
  size_t one = ApproxSize(Suspect(1, 1));
  std::vector<Update> out = q.Take(3 * one, 100, kBudget, 10);
  EXPECT_LE(out.size(), 3u);
  EXPECT_GE(out.size(), 1u);
}

TEST(BroadcastQueueTest, AnUpdateTooLargeToRideAlongAgesOutWithoutBlocking) {
  BroadcastQueue q;
  Update big = Alive(1, 1);
  MemberMeta meta;
  meta.address = "127.0.0.1:1";
  for (uint64_t t = 0; t < 1000; ++t) meta.tokens.push_back(t);
  big.meta = MakeMeta(meta);
  q.Enqueue(big);
  q.Enqueue(Suspect(2, 1));
  size_t max_update = 200;
  ASSERT_GT(ApproxSize(big), max_update);
  std::vector<Update> out = q.Take(kBudget, 10, max_update, 2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].node, 2u);
  out = q.Take(kBudget, 10, max_update, 2);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_FALSE(q.Pending(1)) << "counted as sent twice: gone";
}

TEST(BroadcastQueueTest, ForgetDropsThePendingUpdate) {
  BroadcastQueue q;
  q.Enqueue(Suspect(1, 1));
  q.Enqueue(Suspect(2, 1));
  q.Forget(1);
  EXPECT_FALSE(q.Pending(1));
  std::vector<Update> out = q.Take(kBudget, 10, kBudget, 5);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].node, 2u);
}

}  // namespace
}  // namespace rumor::server
