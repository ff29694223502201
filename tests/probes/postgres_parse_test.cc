#include "probes/postgres_parse.h"

#include <gtest/gtest.h>

namespace lagrouter::probes {
namespace {

// Rows as PostgreSQL 15 returned them to the probe query (recorded on the
// project's test cluster).
Row PrimaryRow() {
  return {{"in_recovery", "f"},
          {"write_lsn", "0/4000028"},
          {"replay_lsn", std::nullopt},
          {"receive_lsn", std::nullopt},
          {"paused", "f"},
          {"receiver_status", std::nullopt},
          {"upstream", std::nullopt}};
}

Row StandbyRow() {
  return {{"in_recovery", "t"},
          {"write_lsn", std::nullopt},
          {"replay_lsn", "0/4000000"},
          {"receive_lsn", "0/4000000"},
          {"paused", "f"},
          {"receiver_status", "streaming"},
          {"upstream", "127.0.0.1:5441"}};
}

Row SettingsRow() {
  return {{"version", "15.20 (Debian 15.20-0+deb12u1)"},
          {"superuser", "f"},
          {"wal_block_size", "8192"},
          {"wal_segment_size", "16777216"},
          {"reads_all_stats", "t"}};
}

PostgresSettings Settings() {
  return ParsePostgresSettings(SettingsRow()).value();
}

std::vector<Row> Senders() {
  return {{{"application_name", "pg-b"},
           {"client_addr", "127.0.0.1"},
           {"state", "streaming"},
           {"replay_lsn", "0/4000000"},
           {"replay_lag", "0.000512"}},
          {{"application_name", "pg-c"},
           {"client_addr", "127.0.0.1"},
           {"state", "streaming"},
           {"replay_lsn", "0/3FFFF00"},
           {"replay_lag", std::nullopt}}};
}

TEST(PostgresParse, Primary) {
  Sample s;
  auto r = ParsePostgresStatus(PrimaryRow(), Senders(), Settings(), s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(s.role, Role::kPrimary);
  // The insert position just past the segment's long page header is the
  // boundary a caught-up standby reports.
  EXPECT_EQ(router::ToString(s.write_position), "0/4000000");
  ASSERT_EQ(s.downstream.size(), 2u);
  EXPECT_EQ(s.downstream[0].application_name, "pg-b");
  EXPECT_DOUBLE_EQ(*s.downstream[0].replay_lag_seconds, 0.000512);
  EXPECT_FALSE(s.downstream[1].replay_lag_seconds.has_value());  // NULL is not 0
  EXPECT_FALSE(s.superuser);
}

TEST(PostgresParse, Standby) {
  Sample s;
  auto r = ParsePostgresStatus(StandbyRow(), {}, Settings(), s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(s.role, Role::kReplica);
  EXPECT_TRUE(s.replicating);
  EXPECT_FALSE(s.replay_paused);
  EXPECT_EQ(router::ToString(s.replay_position), "0/4000000");
  EXPECT_EQ(s.upstream, "127.0.0.1:5441");
}

TEST(PostgresParse, StandbyStates) {
  struct Case {
    std::optional<std::string> receiver;
    std::optional<std::string> paused;
    bool replicating;
    bool is_paused;
  };
  const Case cases[] = {
      {"streaming", "f", true, false},   {"streaming", "t", true, true},
      {std::nullopt, "f", false, false},  // no WAL receiver (primary gone)
      {"waiting", "f", false, false},    {"starting", "f", false, false},
  };
  for (const auto& c : cases) {
    auto row = StandbyRow();
    row["receiver_status"] = c.receiver;
    row["paused"] = c.paused;
    Sample s;
    ASSERT_TRUE(ParsePostgresStatus(row, {}, Settings(), s).ok());
    EXPECT_EQ(s.replicating, c.replicating) << c.receiver.value_or("NULL");
    EXPECT_EQ(s.replay_paused, c.is_paused);
  }
}

TEST(PostgresParse, StandbyThatNeverReplayedHasUnknownPosition) {
  auto row = StandbyRow();
  row["replay_lsn"] = std::nullopt;
  Sample s;
  ASSERT_TRUE(ParsePostgresStatus(row, {}, Settings(), s).ok());
  EXPECT_FALSE(router::IsKnown(s.replay_position));
}

TEST(PostgresParse, RejectsMalformedReplies) {
  struct Case {
    const char* column;
    std::optional<std::string> value;
  };
  const Case cases[] = {
      {"in_recovery", "yes"},      {"in_recovery", std::nullopt}, {"write_lsn", "garbage"},
      {"write_lsn", std::nullopt}, {"paused", "maybe"},
  };
  for (const auto& c : cases) {
    auto row = PrimaryRow();
    row[c.column] = c.value;
    Sample s;
    EXPECT_FALSE(ParsePostgresStatus(row, {}, Settings(), s).ok()) << c.column;
  }
  auto standby = StandbyRow();
  standby["replay_lsn"] = "1/2/3";
  Sample s;
  EXPECT_FALSE(ParsePostgresStatus(standby, {}, Settings(), s).ok());
  auto missing = PrimaryRow();
  missing.erase("paused");
  EXPECT_FALSE(ParsePostgresStatus(missing, {}, Settings(), s).ok());
  auto senders = Senders();
  senders[0]["replay_lag"] = "soon";
  EXPECT_FALSE(ParsePostgresStatus(PrimaryRow(), senders, Settings(), s).ok());
}

// PostgreSQL 13 and later, asked of a primary: its transactions.
TEST(PostgresParse, Transactions) {
  Sample s;
  ASSERT_TRUE(ParsePostgresStatus(PrimaryRow(), {}, Settings(), s).ok());
  EXPECT_FALSE(s.transactions) << "not asked";
  auto row = PrimaryRow();
  row["next_xid"] = "281943";
  row["oldest_active_xid"] = "281941";
  ASSERT_TRUE(ParsePostgresStatus(row, {}, Settings(), s).ok());
  ASSERT_TRUE(s.transactions);
  EXPECT_EQ(s.transactions->next_xid, 281943u);
  EXPECT_EQ(s.transactions->oldest_active_xid, 281941u);
  row["oldest_active_xid"] = std::nullopt;  // none active
  s = Sample{};
  ASSERT_TRUE(ParsePostgresStatus(row, {}, Settings(), s).ok());
  ASSERT_TRUE(s.transactions);
  EXPECT_EQ(s.transactions->oldest_active_xid, std::nullopt);
  for (const char* column : {"next_xid", "oldest_active_xid"}) {
    for (const char* bad : {"-1", "many", ""}) {
      auto broken = row;
      broken[column] = bad;
      EXPECT_FALSE(ParsePostgresStatus(broken, {}, Settings(), s).ok()) << column << " " << bad;
    }
  }
}

TEST(PostgresParse, Settings) {
  auto settings = ParsePostgresSettings(SettingsRow());
  ASSERT_TRUE(settings.ok()) << settings.error();
  EXPECT_EQ(settings->version, "15.20 (Debian 15.20-0+deb12u1)");
  EXPECT_FALSE(settings->superuser);
  EXPECT_EQ(settings->wal_block_size, 8192u);
  EXPECT_EQ(settings->wal_segment_size, 16777216u);
  EXPECT_TRUE(settings->reads_all_stats);
  const std::pair<const char*, std::optional<std::string>> bad[] = {
      {"wal_block_size", "0"},
      {"wal_block_size", std::nullopt},
      {"wal_segment_size", "x"},
      {"reads_all_stats", std::nullopt}};
  for (const auto& [column, value] : bad) {
    auto row = SettingsRow();
    row[column] = value;
    EXPECT_FALSE(ParsePostgresSettings(row).ok()) << column;
  }
  auto missing = SettingsRow();
  missing.erase("version");
  EXPECT_FALSE(ParsePostgresSettings(missing).ok());
}

TEST(PostgresParse, NormalizeInsertLsn) {
  constexpr uint64_t kBlock = 8192, kSeg = 16 << 20;
  struct Case {
    uint64_t in, out;
  };
  const Case cases[] = {
      {0x4000028, 0x4000000},  // segment start: long header
      {0x4002018, 0x4002000},  // page start: short header
      {0x4002000, 0x4002000},  // already a boundary
      {0x4000060, 0x4000060},  // mid-page
      {0x4002019, 0x4002019},
      {0x4000018,
       0x4000018},  // 24 bytes into a segment is inside the long header: not a page start
  };
  for (const auto& c : cases)
    EXPECT_EQ(NormalizeInsertLsn(c.in, kBlock, kSeg), c.out) << std::hex << c.in;
}

}  // namespace
}  // namespace lagrouter::probes
