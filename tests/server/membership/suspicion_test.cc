#include "server/membership/suspicion.h"

#include <cmath>

#include "gtest/gtest.h"

namespace rumor::server {
namespace {

const absl::Duration kMin = absl::Seconds(1), kMax = absl::Seconds(6);
const absl::Time kStart = absl::UnixEpoch() + absl::Hours(1);

TEST(SuspicionTest, TimeoutMath) {
  EXPECT_EQ(Suspicion::Timeout(0, 2, kMin, kMax), kMax);
  // log(2)/log(3) of the way from max to min.
  absl::Duration one = Suspicion::Timeout(1, 2, kMin, kMax);
  double expect = 6.0 - std::log(2.0) / std::log(3.0) * 5.0;
  EXPECT_NEAR(absl::ToDoubleSeconds(one), expect, 0.001);
  EXPECT_EQ(Suspicion::Timeout(2, 2, kMin, kMax), kMin);
  EXPECT_EQ(Suspicion::Timeout(9, 2, kMin, kMax), kMin);
  EXPECT_EQ(Suspicion::Timeout(0, 0, kMin, kMax), kMin)
      << "no confirmations expected: min at once";
}

TEST(SuspicionTest, IndependentConfirmationsShortenItDownToTheMinimum) {
  Suspicion s(kStart, kMin, kMax, /*expected=*/2, /*accuser=*/10);
  EXPECT_EQ(s.deadline(), kStart + kMax);
  EXPECT_FALSE(s.Confirm(10)) << "the first accuser again is no confirmation";
  EXPECT_FALSE(s.Confirm(kNoNode)) << "hearsay is no confirmation";
  EXPECT_EQ(s.deadline(), kStart + kMax);
  EXPECT_TRUE(s.Confirm(11));
  EXPECT_EQ(s.deadline(), kStart + Suspicion::Timeout(1, 2, kMin, kMax));
  EXPECT_FALSE(s.Confirm(11));
  EXPECT_TRUE(s.Confirm(12));
  EXPECT_EQ(s.deadline(), kStart + kMin);
  EXPECT_EQ(s.confirmations(), 2);
  EXPECT_FALSE(s.Confirm(13)) << "past the expected count nothing changes";
  EXPECT_EQ(s.confirmations(), 2);
}

TEST(SuspicionTest, WithNoConfirmationsExpectedItIsFixedAtTheMinimum) {
  Suspicion s(kStart, kMin, kMax, /*expected=*/0, kNoNode);
  EXPECT_EQ(s.deadline(), kStart + kMin);
  EXPECT_FALSE(s.Confirm(5));
  EXPECT_EQ(s.deadline(), kStart + kMin);
}

}  // namespace
}  // namespace rumor::server
