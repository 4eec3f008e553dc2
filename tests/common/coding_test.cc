#include "common/coding.h"

#include <limits>
#include <string>
#include <vector>

#include "common/hash.h"
#include "gtest/gtest.h"

namespace rumor {
namespace {

TEST(CodingTest, VarintRoundTrip) {
  for (uint64_t v : std::vector<uint64_t>{0ULL, 1ULL, 127ULL, 128ULL, 300ULL, 1ULL << 35,
                     std::numeric_limits<uint64_t>::max()}) {
    std::string buf;
    PutVarint64(&buf, v);
    std::string_view in = buf;
    uint64_t out;
    ASSERT_TRUE(GetVarint64(&in, &out));
    EXPECT_EQ(out, v);
    EXPECT_TRUE(in.empty());
  }
}

TEST(CodingTest, VarintRejectsTruncatedAndOverlong) {
  std::string_view truncated("\x80\x80", 2);
  uint64_t v;
  EXPECT_FALSE(GetVarint64(&truncated, &v));
  std::string overlong(10, '\xff');
  overlong.push_back('\x01');
  std::string_view in = overlong;
  EXPECT_FALSE(GetVarint64(&in, &v));
  std::string overflow(9, '\xff');
  overflow.push_back('\x02');  // bit 64 set
  in = overflow;
  EXPECT_FALSE(GetVarint64(&in, &v));
}

TEST(CodingTest, Fixed64IsBigEndianSoBytesSortLikeNumbers) {
  std::string a, b;
  PutFixed64BE(&a, 0x0100);
  PutFixed64BE(&b, 0x00ff);
  EXPECT_GT(a, b);
  EXPECT_EQ(DecodeFixed64BE(a.data()), 0x0100u);
}

TEST(CodingTest, LengthPrefixedRejectsOverrun) {
  std::string buf;
  PutVarint64(&buf, 10);
  buf += "abc";
  std::string_view in = buf, out;
  EXPECT_FALSE(GetLengthPrefixed(&in, &out));
}

// Ring positions are part of the on-disk format and the wire protocol: a
// change of hash function would silently move every key.
TEST(HashTest, RingPositionIsStable) {
  EXPECT_EQ(RingPosition(""), 0xef46db3751d8e999ULL);  // XXH64("", 0)
  EXPECT_EQ(RingPosition("greeting"), RingPosition(std::string("greeting")));
  EXPECT_NE(RingPosition("a"), RingPosition("b"));
}

}  // namespace
}  // namespace rumor
