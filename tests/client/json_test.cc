#include "client/json.h"

#include "gtest/gtest.h"

namespace rumor::client {
namespace {

TEST(JsonTest, QuotesAndEscapes) {
  EXPECT_EQ(JsonQuote("hello"), "\"hello\"");
  EXPECT_EQ(JsonQuote("a\"b\\c\n\t"), "\"a\\\"b\\\\c\\n\\t\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\0", 2)), "\"\\u0001\\u0000\"");
  EXPECT_EQ(JsonQuote("h\xc3\xa9llo \xe2\x82\xac"), "\"h\xc3\xa9llo \xe2\x82\xac\"");
}

TEST(JsonTest, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));  // emoji
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  EXPECT_EQ(JsonQuote("\xff" "a"), "\"\\ufffda\"");
}

}  // namespace
}  // namespace rumor::client
