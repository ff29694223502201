#include "router/gtid.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lagrouter::router {
namespace {

constexpr char kA[] = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
constexpr char kAUpper[] = "3E11FA47-71CA-11E1-9E33-C80AA9429562";
constexpr char kB[] = "9f5b7c2e-0a4d-11ee-8a3b-0242ac120002";
constexpr char kC[] = "c0ffee00-1234-5678-9abc-def012345678";

std::string U(const char* uuid, const std::string& rest) {
  return std::string(uuid) + rest;
}

// ---------------------------------------------------------------- MariaDB

struct MariadbParseCase {
  std::string input;
  std::vector<MariadbGtid::Entry> want;
  std::string canonical;
};

class MariadbParseOk : public testing::TestWithParam<MariadbParseCase> {};

TEST_P(MariadbParseOk, Parses) {
  const auto& c = GetParam();
  auto got = ParseMariadbGtid(c.input);
  ASSERT_TRUE(got.ok()) << c.input << ": " << got.error();
  EXPECT_EQ(got->entries, c.want) << c.input;
  EXPECT_EQ(ToString(*got), c.canonical);
  // Round trip through the canonical text.
  auto again = ParseMariadbGtid(ToString(*got));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *got);
}

INSTANTIATE_TEST_SUITE_P(
    Gtid, MariadbParseOk,
    testing::Values(MariadbParseCase{"", {}, ""}, MariadbParseCase{"   ", {}, ""},
                    MariadbParseCase{"\n", {}, ""},
                    MariadbParseCase{"0-1-42", {{0, 1, 42}}, "0-1-42"},
                    MariadbParseCase{"0-1-0", {{0, 1, 0}}, "0-1-0"},
                    MariadbParseCase{"0-1-42,1-2-7", {{0, 1, 42}, {1, 2, 7}}, "0-1-42,1-2-7"},
                    // Sorted by domain whatever the input order.
                    MariadbParseCase{"5-3-9,1-2-7,0-1-42",
                                     {{0, 1, 42}, {1, 2, 7}, {5, 3, 9}},
                                     "0-1-42,1-2-7,5-3-9"},
                    // Whitespace around entries (hand-typed `after=` values, SHOW output).
                    MariadbParseCase{" 0-1-42 , 1-2-7\n", {{0, 1, 42}, {1, 2, 7}}, "0-1-42,1-2-7"},
                    MariadbParseCase{"0-1-42,\n1-2-7", {{0, 1, 42}, {1, 2, 7}}, "0-1-42,1-2-7"},
                    // Leading zeros are just digits.
                    MariadbParseCase{"00-01-0042", {{0, 1, 42}}, "0-1-42"},
                    // Limits: 32-bit domain and server id, 64-bit sequence.
                    MariadbParseCase{"4294967295-4294967295-18446744073709551615",
                                     {{4294967295u, 4294967295u, 18446744073709551615ull}},
                                     "4294967295-4294967295-18446744073709551615"}));

class MariadbParseBad : public testing::TestWithParam<std::string> {};

TEST_P(MariadbParseBad, Rejects) {
  auto got = ParseMariadbGtid(GetParam());
  ASSERT_FALSE(got.ok()) << GetParam();
  EXPECT_FALSE(got.error().empty());
}

INSTANTIATE_TEST_SUITE_P(Gtid, MariadbParseBad,
                         testing::Values("0-1-42,",              // trailing comma
                                         ",0-1-42",              // leading comma
                                         "0-1-42,,1-2-7",        // empty entry
                                         "0-1-42, ,1-2-7",       // blank entry
                                         "0-1-42,0-2-50",        // duplicate domain
                                         "0-1-42,1-1-3,0-1-42",  // duplicate, not adjacent
                                         "0-1", "0", "0-1-2-3", "0--1-2", "-0-1-2", "0-1-",
                                         "0-1-+5", "0-1--5", "0-1-0x10", "0-1-4a", "a-b-c",
                                         "0 -1-42",                      // space inside an entry
                                         "0-1-42;1-2-7",                 // wrong separator
                                         "4294967296-1-1",               // domain overflow
                                         "0-4294967296-1",               // server id overflow
                                         "0-1-18446744073709551616",     // seq overflow
                                         "0-1-99999999999999999999999",  // way over
                                         "junk", "0-1-42 junk", std::string("0-1-4\0002", 7)));

TEST(MariadbGtid, ErrorQuotesInputShortly) {
  std::string huge(10000, '9');
  auto got = ParseMariadbGtid(huge);
  ASSERT_FALSE(got.ok());
  EXPECT_LT(got.error().size(), 400u);
}

struct MariadbCoverCase {
  std::string r;
  std::string p;
  bool covers;
  uint64_t missing;
};

class MariadbCovers : public testing::TestWithParam<MariadbCoverCase> {};

TEST_P(MariadbCovers, CoversAndMissing) {
  const auto& c = GetParam();
  auto r = ParseMariadbGtid(c.r);
  auto p = ParseMariadbGtid(c.p);
  ASSERT_TRUE(r.ok() && p.ok());
  EXPECT_EQ(Covers(*r, *p), c.covers) << "r=" << c.r << " p=" << c.p;
  EXPECT_EQ(Missing(*r, *p), c.missing) << "r=" << c.r << " p=" << c.p;
  EXPECT_EQ(Missing(*r, *p) == 0, c.covers);
}

INSTANTIATE_TEST_SUITE_P(
    Gtid, MariadbCovers,
    testing::Values(MariadbCoverCase{"", "", true, 0},             // nothing covers nothing
                    MariadbCoverCase{"0-1-5", "", true, 0},        // anything covers nothing
                    MariadbCoverCase{"", "0-1-5", false, 5},       // fresh replica
                    MariadbCoverCase{"0-1-5", "0-1-5", true, 0},   // equal
                    MariadbCoverCase{"0-1-6", "0-1-5", true, 0},   // ahead
                    MariadbCoverCase{"0-1-4", "0-1-5", false, 1},  // behind
                    // Server id does not matter: failover changes it, seq keeps counting.
                    MariadbCoverCase{"0-2-5", "0-1-5", true, 0},
                    MariadbCoverCase{"0-1-5", "0-2-6", false, 1},
                    // Multi-domain: every domain of p must be covered.
                    MariadbCoverCase{"0-1-10,1-2-10", "0-1-9,1-2-10", true, 0},
                    MariadbCoverCase{"0-1-10,1-2-9", "0-1-9,1-2-10", false, 1},
                    MariadbCoverCase{"0-1-10", "0-1-9,1-2-3", false, 3},  // r lacks domain 1
                    MariadbCoverCase{"0-1-10,7-3-1", "0-1-10", true, 0},  // r has an extra domain
                    MariadbCoverCase{"0-1-1,1-1-1", "0-1-11,1-1-21", false, 30},
                    MariadbCoverCase{"0-1-0", "0-1-18446744073709551615", false,
                                     18446744073709551615ull},
                    // Saturates rather than wrapping around.
                    MariadbCoverCase{"", "0-1-18446744073709551615,1-1-18446744073709551615", false,
                                     18446744073709551615ull}));

// ------------------------------------------------------------------ MySQL

struct MysqlParseCase {
  std::string input;
  std::string canonical;
};

class MysqlParseOk : public testing::TestWithParam<MysqlParseCase> {};

TEST_P(MysqlParseOk, ParsesToCanonical) {
  const auto& c = GetParam();
  auto got = ParseMysqlGtidSet(c.input);
  ASSERT_TRUE(got.ok()) << c.input << ": " << got.error();
  EXPECT_EQ(ToString(*got), c.canonical) << c.input;
  auto again = ParseMysqlGtidSet(ToString(*got));
  ASSERT_TRUE(again.ok()) << ToString(*got);
  EXPECT_EQ(*again, *got);
}

INSTANTIATE_TEST_SUITE_P(
    Gtid, MysqlParseOk,
    testing::Values(
        MysqlParseCase{"", ""}, MysqlParseCase{" \n ", ""},
        MysqlParseCase{U(kA, ":1-5"), U(kA, ":1-5")}, MysqlParseCase{U(kA, ":7"), U(kA, ":7")},
        MysqlParseCase{U(kA, ":7-7"), U(kA, ":7")},
        // Upper-case uuids are canonicalised to lower case.
        MysqlParseCase{U(kAUpper, ":1-5"), U(kA, ":1-5")},
        MysqlParseCase{"3E11fa47-71Ca-11E1-9e33-C80AA9429562:1-5", U(kA, ":1-5")},
        // Gaps are kept; order and overlaps are normalised.
        MysqlParseCase{U(kA, ":1-5:11-18"), U(kA, ":1-5:11-18")},
        MysqlParseCase{U(kA, ":11-18:1-5"), U(kA, ":1-5:11-18")},
        MysqlParseCase{U(kA, ":1-5:3-8"), U(kA, ":1-8")},
        MysqlParseCase{U(kA, ":1-5:6-8"), U(kA, ":1-8")},  // adjacent merge
        MysqlParseCase{U(kA, ":1-5:7-8"), U(kA, ":1-5:7-8")},
        MysqlParseCase{U(kA, ":2-3:1-10"), U(kA, ":1-10")},
        // Several sources, sorted by uuid, as MySQL prints them with ",\n".
        MysqlParseCase{U(kB, ":1-3,\n") + U(kA, ":1-5"), U(kA, ":1-5,") + U(kB, ":1-3")},
        MysqlParseCase{U(kA, ":1-5,\n") + U(kB, ":1-3:5:9-12,\n") + U(kC, ":1"),
                       U(kA, ":1-5,") + U(kB, ":1-3:5:9-12,") + U(kC, ":1")},
        MysqlParseCase{U(kA, ":1-5, ") + U(kB, ":1-3\r\n"), U(kA, ":1-5,") + U(kB, ":1-3")},
        // The same uuid twice (upper and lower case): merged, as MySQL does.
        MysqlParseCase{U(kA, ":1-5,") + U(kAUpper, ":6-9:20"), U(kA, ":1-9:20")},
        // MySQL 8.4 tagged GTIDs.
        MysqlParseCase{U(kA, ":tag:1-5"), U(kA, ":tag:1-5")},
        MysqlParseCase{U(kA, ":TAG:1-5"), U(kA, ":tag:1-5")},
        MysqlParseCase{U(kA, ":1-5:tag:1-3"), U(kA, ":1-5:tag:1-3")},
        MysqlParseCase{U(kA, ":tag:1-3:4-9"), U(kA, ":tag:1-9")},
        MysqlParseCase{U(kA, ":b_tag:1:a_tag:2-4:7"), U(kA, ":a_tag:2-4:7:b_tag:1")},
        MysqlParseCase{U(kA, ":_x9:1"), U(kA, ":_x9:1")},
        MysqlParseCase{U(kA, ":tag:1-3,") + U(kA, ":1-2"), U(kA, ":1-2:tag:1-3")},
        MysqlParseCase{U(kA, ":abcdefghijklmnopqrstuvwxyz012345:1"),
                       U(kA, ":abcdefghijklmnopqrstuvwxyz012345:1")},
        // Largest GNO.
        MysqlParseCase{U(kA, ":1-9223372036854775807"), U(kA, ":1-9223372036854775807")}));

TEST(MysqlGtidSet, NormalisedStructure) {
  auto got = ParseMysqlGtidSet(U(kB, ":9-12:1-3,\n") + U(kAUpper, ":x:4,") + U(kA, ":1-5"));
  ASSERT_TRUE(got.ok()) << got.error();
  ASSERT_EQ(got->sources.size(), 3u);
  EXPECT_EQ(got->sources[0].uuid, kA);
  EXPECT_EQ(got->sources[0].tag, "");
  EXPECT_EQ(got->sources[0].intervals, (std::vector<MysqlGtidSet::Interval>{{1, 5}}));
  EXPECT_EQ(got->sources[1].uuid, kA);
  EXPECT_EQ(got->sources[1].tag, "x");
  EXPECT_EQ(got->sources[1].intervals, (std::vector<MysqlGtidSet::Interval>{{4, 4}}));
  EXPECT_EQ(got->sources[2].uuid, kB);
  EXPECT_EQ(got->sources[2].intervals, (std::vector<MysqlGtidSet::Interval>{{1, 3}, {9, 12}}));
}

class MysqlParseBad : public testing::TestWithParam<std::string> {};

TEST_P(MysqlParseBad, Rejects) {
  auto got = ParseMysqlGtidSet(GetParam());
  ASSERT_FALSE(got.ok()) << GetParam();
  EXPECT_FALSE(got.error().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Gtid, MysqlParseBad,
    testing::Values(U(kA, ":1-5,"),                    // trailing comma
                    U(kA, ":1-5,\n"),                  // trailing comma and newline
                    "," + U(kA, ":1-5"),               // leading comma
                    U(kA, ":1-5,,") + U(kB, ":1"),     // empty entry
                    U(kA, ":5-3"),                     // reversed interval
                    U(kA, ":0"), U(kA, ":0-5"),        // GNO 0 does not exist
                    U(kA, ":1-9223372036854775808"),   // over the largest GNO
                    U(kA, ":1-18446744073709551616"),  // over 64 bits
                    U(kA, ":99999999999999999999999"),
                    std::string(kA),  // no intervals
                    U(kA, ":"), U(kA, ":1-5:"), U(kA, "::1-5"), U(kA, ":1-"), U(kA, ":-5"),
                    U(kA, ":1--5"), U(kA, ":1-2-3"), U(kA, ":+1"), U(kA, ":1-5 junk"),
                    U(kA, ": 1-5"), U(kA, " :1-5"), U(kA, ":tag"),  // tag without intervals
                    U(kA, ":1-5:tag"),                              // trailing tag
                    U(kA, ":t1:t2:1"),                              // tag followed by a tag
                    U(kA, ":9tag:1"),                               // tags start with a letter or _
                    U(kA, ":t-g:1"), U(kA, ":t g:1"),
                    U(kA, ":abcdefghijklmnopqrstuvwxyz0123456:1"),  // 33-char tag
                    "3e11fa47-71ca-11e1-9e33-c80aa942956:1-5",      // uuid too short
                    "3e11fa47-71ca-11e1-9e33-c80aa94295622:1-5",    // uuid too long
                    "3e11fa4771ca-11e1-9e33-c80aa9429562-:1-5",     // dashes misplaced
                    "3g11fa47-71ca-11e1-9e33-c80aa9429562:1-5",     // not hex
                    "1-5", "0-1-42",  // a MariaDB GTID is not a MySQL set
                    "junk", U(kA, ":1-5;") + U(kB, ":1")));

struct MysqlCoverCase {
  std::string r;
  std::string p;
  bool covers;
  uint64_t missing;
};

class MysqlCovers : public testing::TestWithParam<MysqlCoverCase> {};

TEST_P(MysqlCovers, CoversAndMissing) {
  const auto& c = GetParam();
  auto r = ParseMysqlGtidSet(c.r);
  auto p = ParseMysqlGtidSet(c.p);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(Covers(*r, *p), c.covers) << "r=" << c.r << " p=" << c.p;
  EXPECT_EQ(Missing(*r, *p), c.missing) << "r=" << c.r << " p=" << c.p;
  EXPECT_EQ(Missing(*r, *p) == 0, c.covers);
}

INSTANTIATE_TEST_SUITE_P(
    Gtid, MysqlCovers,
    testing::Values(
        MysqlCoverCase{"", "", true, 0}, MysqlCoverCase{U(kA, ":1-5"), "", true, 0},
        MysqlCoverCase{"", U(kA, ":1-5"), false, 5},
        MysqlCoverCase{U(kA, ":1-5"), U(kA, ":1-5"), true, 0},
        MysqlCoverCase{U(kA, ":1-9"), U(kA, ":1-5"), true, 0},
        MysqlCoverCase{U(kA, ":1-4"), U(kA, ":1-5"), false, 1},
        // Upper case on one side only.
        MysqlCoverCase{U(kAUpper, ":1-9"), U(kA, ":1-5"), true, 0},
        // Gaps: a replica missing a middle transaction does not cover.
        MysqlCoverCase{U(kA, ":1-3:5-9"), U(kA, ":1-9"), false, 1},
        MysqlCoverCase{U(kA, ":1-9"), U(kA, ":1-3:5-9"), true, 0},
        MysqlCoverCase{U(kA, ":1-3:5-9"), U(kA, ":1-3:5-9"), true, 0},
        MysqlCoverCase{U(kA, ":1-3:7-9"), U(kA, ":2-8"), false, 3},
        MysqlCoverCase{U(kA, ":5-9"), U(kA, ":1-3"), false, 3},
        // Several sources: every one of p's must be covered.
        MysqlCoverCase{U(kA, ":1-5,") + U(kB, ":1-3"), U(kA, ":1-5,") + U(kB, ":1-3"), true, 0},
        MysqlCoverCase{U(kA, ":1-5,") + U(kB, ":1-3"), U(kB, ":1-3"), true, 0},
        MysqlCoverCase{U(kA, ":1-5,") + U(kB, ":1-2"), U(kA, ":1-5,") + U(kB, ":1-3"), false, 1},
        MysqlCoverCase{U(kA, ":1-5"), U(kA, ":1-5,") + U(kB, ":1-3"), false, 3},
        MysqlCoverCase{U(kA, ":1-5,") + U(kC, ":1-100"), U(kA, ":1-6,") + U(kB, ":1-3"), false, 4},
        // Tags are separate sources: untagged 1-5 does not cover tagged 1-5.
        MysqlCoverCase{U(kA, ":1-5"), U(kA, ":t:1-5"), false, 5},
        MysqlCoverCase{U(kA, ":1-5:t:1-5"), U(kA, ":t:1-5"), true, 0},
        MysqlCoverCase{U(kA, ":1-5:t:1-5"), U(kA, ":1-5:t:1-6:u:1"), false, 2},
        // Huge sets saturate Missing rather than wrapping.
        MysqlCoverCase{"",
                       U(kA, ":1-9223372036854775807,") + U(kB, ":1-9223372036854775807,") +
                           U(kC, ":1-9223372036854775807"),
                       false, 18446744073709551615ull}));

TEST(MysqlGtidSet, CoversUnmergedAdjacentIntervals) {
  // Sets built by hand (not parsed) may hold adjacent intervals unmerged.
  MysqlGtidSet r{{{kA, "", {{1, 3}, {4, 9}}}}};
  MysqlGtidSet p{{{kA, "", {{2, 8}}}}};
  EXPECT_TRUE(Covers(r, p));
  EXPECT_EQ(Missing(r, p), 0u);
}

TEST(MysqlGtidSet, ErrorQuotesInputShortly) {
  std::string huge = U(kA, ":") + std::string(10000, '1');
  auto got = ParseMysqlGtidSet(huge);
  ASSERT_FALSE(got.ok());
  EXPECT_LT(got.error().size(), 400u);
}

}  // namespace
}  // namespace lagrouter::router
