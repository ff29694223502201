#include "router/position.h"

#include <gtest/gtest.h>

namespace lagrouter::router {
namespace {

TEST(Lsn, ParsesAndPrints) {
  struct Case {
    const char* text;
    uint64_t value;
    const char* printed;
  };
  const Case cases[] = {
      {"0/0", 0, "0/0"},
      {"16/B374D848", (uint64_t{0x16} << 32) | 0xB374D848, "16/B374D848"},
      {"0/3000060", 0x3000060, "0/3000060"},
      {"ffffffff/ffffffff", ~uint64_t{0}, "FFFFFFFF/FFFFFFFF"},
      {"a/b", (uint64_t{0xa} << 32) | 0xb, "A/B"},
  };
  for (const auto& c : cases) {
    auto lsn = ParseLsn(c.text);
    ASSERT_TRUE(lsn.ok()) << c.text << ": " << lsn.error();
    EXPECT_EQ(lsn->value, c.value) << c.text;
    EXPECT_EQ(ToString(*lsn), c.printed);
  }
}

TEST(Lsn, RejectsMalformed) {
  for (const char* text : {"", "/", "0/", "/0", "16B374D848", "0/123456789", "g/0", "0/0x1", "-1/0",
                           "0/0/0", " 0/0", "0/0 ", "123456789/0", "0/+1"}) {
    auto lsn = ParseLsn(text);
    EXPECT_FALSE(lsn.ok()) << "accepted '" << text << "'";
    if (!lsn.ok()) {
      EXPECT_NE(lsn.error().find("LSN"), std::string::npos);
    }
  }
}

TEST(Position, CoversComparesLsns) {
  const Position a = Lsn{100}, b = Lsn{200};
  EXPECT_TRUE(Covers(b, a));
  EXPECT_TRUE(Covers(a, a));
  EXPECT_FALSE(Covers(a, b));
  EXPECT_EQ(Distance(a, b), 100u);
  EXPECT_EQ(Distance(b, a), 0u);
}

TEST(Position, UnknownCoversNothingAndIsCoveredByNothing) {
  const Position unknown;
  const Position lsn = Lsn{0};
  EXPECT_FALSE(IsKnown(unknown));
  EXPECT_FALSE(Covers(unknown, lsn));
  EXPECT_FALSE(Covers(lsn, unknown));
  EXPECT_FALSE(Covers(unknown, unknown));
}

TEST(Position, KindsNeverCoverEachOther) {
  auto gtid = ParsePosition(Engine::kMysql, "0-1-5");
  ASSERT_TRUE(gtid.ok()) << gtid.error();
  const Position lsn = Lsn{~uint64_t{0}};
  EXPECT_FALSE(Covers(lsn, *gtid));
  EXPECT_FALSE(Covers(*gtid, lsn));
}

TEST(Position, ParsesByEngine) {
  EXPECT_TRUE(ParsePosition(Engine::kPostgres, "0/16B3748").ok());
  EXPECT_FALSE(ParsePosition(Engine::kPostgres, "0-1-5").ok());
  EXPECT_FALSE(ParsePosition(Engine::kMysql, "").ok());
  EXPECT_FALSE(ParsePosition(Engine::kMysql, " \t").ok());  // found by fuzz_position
  EXPECT_FALSE(ParsePosition(Engine::kMysql, "0/16B3748").ok());
  auto mysql = ParsePosition(Engine::kMysql, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5");
  ASSERT_TRUE(mysql.ok()) << mysql.error();
  EXPECT_TRUE(std::holds_alternative<MysqlGtidSet>(*mysql));
}

}  // namespace
}  // namespace lagrouter::router

namespace lagrouter::router {
namespace {

// Found by fuzz_position: "\v" is white space to the GTID parsers, so it must
// be an empty (refused) position here too, not a set that prints as "".
TEST(ParsePosition, AnyWhiteSpaceAloneIsAnEmptyGtidPosition) {
  for (const char* text : {" ", "\t", "\v", "\f", " \r\n"}) {
    EXPECT_FALSE(ParsePosition(Engine::kMysql, text).ok()) << static_cast<int>(text[0]);
  }
}

}  // namespace
}  // namespace lagrouter::router
