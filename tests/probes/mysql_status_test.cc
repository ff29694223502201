#include "probes/mysql_status.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "router/position.h"

namespace lagrouter::probes {
namespace {

std::string FixtureDir() {
#ifdef LAGROUTER_FIXTURES
  return std::string(LAGROUTER_FIXTURES) + "/";
#else
  std::string file = __FILE__;
  return file.substr(0, file.find_last_of('/') + 1) + "fixtures/";
#endif
}

// Reads the mysql client's vertical (\G) output: one Row per "*** N. row ***".
std::vector<Row> LoadRows(const std::string& name) {
  std::ifstream in(FixtureDir() + name);
  EXPECT_TRUE(in.good()) << "missing fixture " << FixtureDir() + name;
  static const std::regex kField(R"(^\s*([A-Za-z0-9_@.]+): ?(.*)$)");
  std::vector<Row> rows;
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.starts_with("***")) {
      rows.emplace_back();
      last.clear();
      continue;
    }
    if (rows.empty()) continue;
    std::smatch m;
    if (std::regex_match(line, m, kField)) {
      last = m[1];
      std::string value = m[2];
      rows.back()[last] = value == "NULL" ? std::nullopt : std::optional<std::string>(value);
    } else if (!last.empty() && rows.back()[last]) {
      *rows.back()[last] += "\n" + line;  // a multi-line GTID set
    }
  }
  return rows;
}

Row LoadRow(const std::string& name) {
  auto rows = LoadRows(name);
  EXPECT_EQ(rows.size(), 1u) << name;
  return rows.empty() ? Row{} : rows[0];
}

std::string Pos(const router::Position& p) {
  if (const auto* g = std::get_if<router::MariadbGtid>(&p)) {
    return "mariadb:" + router::ToString(*g);
  }
  if (const auto* s = std::get_if<router::MysqlGtidSet>(&p)) {
    return "mysql:" + router::ToString(*s);
  }
  return "unknown";
}

constexpr char kSrc[] = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
constexpr char kOther[] = "9f5b7c2e-0a4d-11ee-8a3b-0242ac120002";

Row MysqlVars(const std::string& executed, bool read_only = true) {
  return {{"version", "8.0.36"},    {"read_only", read_only ? "1" : "0"},
          {"super_read_only", "0"}, {"log_bin", "1"},
          {"gtid_mode", "ON"},      {"gtid_executed", executed}};
}

// ------------------------------------------------------ ParseReplicaStatus

struct FixtureCase {
  std::string file;
  ThreadState io;
  ThreadState sql;
  std::optional<int64_t> behind;
  std::string host;
  int port;
  int64_t io_errno;
  int64_t sql_errno;
};

class ReplicaStatusFixture : public testing::TestWithParam<FixtureCase> {};

TEST_P(ReplicaStatusFixture, Parses) {
  const auto& c = GetParam();
  auto rs = ParseReplicaStatus(LoadRow(c.file));
  ASSERT_TRUE(rs.ok()) << c.file << ": " << rs.error();
  EXPECT_EQ(rs->io_running, c.io);
  EXPECT_EQ(rs->sql_running, c.sql);
  EXPECT_EQ(rs->seconds_behind, c.behind);
  EXPECT_EQ(rs->source_host, c.host);
  EXPECT_EQ(rs->source_port, c.port);
  EXPECT_EQ(rs->last_io_errno, c.io_errno);
  EXPECT_EQ(rs->last_sql_errno, c.sql_errno);
  EXPECT_EQ(rs->last_io_error.empty(), c.io_errno == 0);
  EXPECT_EQ(rs->last_sql_error.empty(), c.sql_errno == 0);
  EXPECT_TRUE(rs->HasSource());
}

using TS = ThreadState;
INSTANTIATE_TEST_SUITE_P(
    Fixtures, ReplicaStatusFixture,
    testing::Values(FixtureCase{"mariadb-10.11-replica-running.txt", TS::kYes, TS::kYes, 0,
                                "127.0.0.1", 3407, 0, 0},
                    // SQL thread stopped: the lag is NULL, never 0.
                    FixtureCase{"mariadb-10.11-replica-sql-stopped.txt", TS::kYes, TS::kNo,
                                std::nullopt, "127.0.0.1", 3407, 0, 0},
                    FixtureCase{"mariadb-10.11-replica-stopped.txt", TS::kNo, TS::kNo, std::nullopt,
                                "127.0.0.1", 3407, 0, 0},
                    FixtureCase{"mariadb-10.11-replica-io-connecting.txt", TS::kConnecting,
                                TS::kYes, std::nullopt, "127.0.0.1", 3499, 2003, 0},
                    FixtureCase{"mariadb-10.11-replica-sql-error.txt", TS::kYes, TS::kNo,
                                std::nullopt, "127.0.0.1", 3407, 0, 1062},
                    FixtureCase{"mysql-8.0-replica-running.txt", TS::kYes, TS::kYes, 0,
                                "10.20.0.11", 3306, 0, 0},
                    FixtureCase{"mysql-8.0-slave-status-io-connecting.txt", TS::kConnecting,
                                TS::kYes, std::nullopt, "10.20.0.11", 3306, 2003, 0},
                    FixtureCase{"mysql-8.4-replica-sql-stopped-tagged.txt", TS::kYes, TS::kNo,
                                std::nullopt, "mysql-a.internal", 3306, 0, 0}));

// The probe keeps only the columns ParseReplicaStatus reads: it parses them
// as it does the whole row.
TEST(ReplicaStatus, KeptColumnsParseAlike) {
  for (const char* file :
       {"mariadb-10.11-replica-running.txt", "mariadb-10.11-replica-sql-stopped.txt",
        "mariadb-10.11-replica-stopped.txt", "mariadb-10.11-replica-io-connecting.txt",
        "mariadb-10.11-replica-sql-error.txt", "mysql-8.0-replica-running.txt",
        "mysql-8.0-slave-status-io-connecting.txt", "mysql-8.4-replica-sql-stopped-tagged.txt"}) {
    const Row row = LoadRow(file);
    Row kept;
    for (const auto& [name, value] : row) {
      if (ReplicaStatusReads(name)) kept.emplace(name, value);
    }
    EXPECT_LT(kept.size(), row.size() / 2) << file;
    auto whole = ParseReplicaStatus(row);
    auto part = ParseReplicaStatus(kept);
    ASSERT_TRUE(whole.ok() && part.ok()) << file;
    EXPECT_EQ(*whole, *part) << file;
  }
  EXPECT_TRUE(ReplicaStatusReads("slave_io_running"));  // any case, as the parser finds it
}

TEST(ReplicaStatus, MariadbGtidColumns) {
  auto rs = ParseReplicaStatus(LoadRow("mariadb-10.11-replica-sql-stopped.txt"));
  ASSERT_TRUE(rs.ok()) << rs.error();
  EXPECT_EQ(rs->gtid_io_pos, "0-1-15");
  EXPECT_FALSE(rs->retrieved_gtid_set.has_value());
  EXPECT_FALSE(rs->executed_gtid_set.has_value());
}

TEST(ReplicaStatus, MysqlGtidColumnsKeepMySqlNewlines) {
  auto rs = ParseReplicaStatus(LoadRow("mysql-8.0-replica-running.txt"));
  ASSERT_TRUE(rs.ok()) << rs.error();
  EXPECT_EQ(rs->retrieved_gtid_set, std::string(kSrc) + ":1000-2345");
  EXPECT_EQ(rs->executed_gtid_set, std::string(kSrc) + ":1-2345,\n" + kOther + ":1-12");
  EXPECT_TRUE(rs->auto_position);
  EXPECT_EQ(rs->io_state, "Waiting for source to send event");
}

TEST(ReplicaStatus, ColumnNamesAnyCase) {
  Row row = {{"replica_io_running", "Yes"},
             {"REPLICA_SQL_RUNNING", "No"},
             {"seconds_behind_source", "7"},
             {"source_host", "db"}};
  auto rs = ParseReplicaStatus(row);
  ASSERT_TRUE(rs.ok()) << rs.error();
  EXPECT_EQ(rs->io_running, ThreadState::kYes);
  EXPECT_EQ(rs->sql_running, ThreadState::kNo);
  EXPECT_EQ(rs->seconds_behind, 7);
}

TEST(ReplicaStatus, NullSecondsBehindIsNeverZero) {
  for (const char* name : {"Seconds_Behind_Source", "Seconds_Behind_Master"}) {
    Row row = {{"Replica_IO_Running", "Yes"}, {"Replica_SQL_Running", "No"}, {name, std::nullopt}};
    auto rs = ParseReplicaStatus(row);
    ASSERT_TRUE(rs.ok()) << rs.error();
    EXPECT_FALSE(rs->seconds_behind.has_value()) << name;
  }
}

// Each case: one column of a good MySQL 8 row changed (nullopt value =
// NULL; "<absent>" = column removed). Must be an error, never a crash.
struct BadCase {
  std::string column;
  std::optional<std::string> value;
  std::string want_in_error;
};

class ReplicaStatusBad : public testing::TestWithParam<BadCase> {};

TEST_P(ReplicaStatusBad, Rejects) {
  const auto& c = GetParam();
  Row row = LoadRow("mysql-8.0-replica-running.txt");
  if (c.value == "<absent>") {
    row.erase(c.column);
  } else {
    row[c.column] = c.value;
  }
  auto rs = ParseReplicaStatus(row);
  ASSERT_FALSE(rs.ok()) << c.column << "=" << c.value.value_or("NULL");
  EXPECT_NE(rs.error().find(c.want_in_error), std::string::npos) << rs.error();
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, ReplicaStatusBad,
    testing::Values(BadCase{"Replica_IO_Running", "Maybe", "Replica_IO_Running"},
                    BadCase{"Replica_IO_Running", "", "Replica_IO_Running"},
                    BadCase{"Replica_IO_Running", std::nullopt, "Replica_IO_Running"},
                    BadCase{"Replica_IO_Running", "<absent>", "Replica_IO_Running"},
                    BadCase{"Replica_SQL_Running", "Connecting", "Replica_SQL_Running"},
                    BadCase{"Replica_SQL_Running", "1", "Replica_SQL_Running"},
                    BadCase{"Replica_SQL_Running", "<absent>", "Replica_SQL_Running"},
                    BadCase{"Seconds_Behind_Source", "abc", "Seconds_Behind_Source"},
                    BadCase{"Seconds_Behind_Source", "", "Seconds_Behind_Source"},
                    BadCase{"Seconds_Behind_Source", "-1", "Seconds_Behind_Source"},
                    BadCase{"Seconds_Behind_Source", "1.5", "Seconds_Behind_Source"},
                    BadCase{"Seconds_Behind_Source", "12abc", "Seconds_Behind_Source"},
                    BadCase{"Seconds_Behind_Source", "99999999999999999999",
                            "Seconds_Behind_Source"},
                    BadCase{"Source_Port", "70000", "Source_Port"},
                    BadCase{"Source_Port", "-1", "Source_Port"},
                    BadCase{"Source_Port", "http", "Source_Port"},
                    BadCase{"Last_IO_Errno", "x", "Last_IO_Errno"},
                    BadCase{"Last_SQL_Errno", "-5", "Last_SQL_Errno"},
                    BadCase{"Auto_Position", "2", "Auto_Position"}));

TEST(ReplicaStatus, ErrorQuotesHugeValuesShortly) {
  Row row = {{"Replica_IO_Running", std::string(100000, 'Y')}, {"Replica_SQL_Running", "Yes"}};
  auto rs = ParseReplicaStatus(row);
  ASSERT_FALSE(rs.ok());
  EXPECT_LT(rs.error().size(), 300u);
}

TEST(ReplicaStatus, EmptyRowIsAnError) {
  EXPECT_FALSE(ParseReplicaStatus(Row{}).ok());
}

// ------------------------------------------------------------ variables

TEST(MysqlVariables, MariadbFixtures) {
  auto primary = ParseMysqlVariables(LoadRow("mariadb-10.11-variables-primary.txt"));
  ASSERT_TRUE(primary.ok()) << primary.error();
  EXPECT_EQ(primary->flavor, MysqlFlavor::kMariadb);
  EXPECT_EQ(primary->version, "10.11.19-MariaDB-0+deb12u1-log");
  EXPECT_FALSE(primary->read_only);
  EXPECT_TRUE(primary->log_bin);
  EXPECT_EQ(primary->gtid_binlog_pos, "0-1-16");
  EXPECT_EQ(primary->gtid_slave_pos, "");
  auto replica = ParseMysqlVariables(LoadRow("mariadb-10.11-variables-replica.txt"));
  ASSERT_TRUE(replica.ok()) << replica.error();
  EXPECT_TRUE(replica->read_only);
  EXPECT_EQ(replica->gtid_slave_pos, "0-1-16");
}

TEST(MysqlVariables, Rejects) {
  EXPECT_FALSE(ParseMysqlVariables(Row{}).ok());
  EXPECT_FALSE(ParseMysqlVariables(Row{{"version", std::nullopt}, {"read_only", "0"}}).ok());
  EXPECT_FALSE(ParseMysqlVariables(Row{{"version", "8.0.36"}}).ok());  // no read_only
  EXPECT_FALSE(ParseMysqlVariables(Row{{"version", "8.0.36"}, {"read_only", "maybe"}}).ok());
  EXPECT_FALSE(ParseMysqlVariables(Row{{"version", "8.0.36"}, {"read_only", std::nullopt}}).ok());
  EXPECT_FALSE(
      ParseMysqlVariables(Row{{"version", "8.0.36"}, {"read_only", "0"}, {"super_read_only", "2"}})
          .ok());
  EXPECT_TRUE(ParseMysqlVariables(Row{{"version", "8.0.36"}, {"read_only", "OFF"}}).ok());
}

struct FlavorCase {
  std::string version;
  MysqlFlavor want;
};

class Flavor : public testing::TestWithParam<FlavorCase> {};

TEST_P(Flavor, FromVersion) {
  EXPECT_EQ(FlavorFromVersion(GetParam().version), GetParam().want) << GetParam().version;
}

INSTANTIATE_TEST_SUITE_P(
    Versions, Flavor,
    testing::Values(FlavorCase{"10.11.19-MariaDB-0+deb12u1-log", MysqlFlavor::kMariadb},
                    FlavorCase{"5.5.5-10.11.6-MariaDB", MysqlFlavor::kMariadb},
                    FlavorCase{"11.4.2-mariadb", MysqlFlavor::kMariadb},
                    FlavorCase{"8.0.36", MysqlFlavor::kMysql},
                    FlavorCase{"8.4.0-commercial", MysqlFlavor::kMysql},
                    FlavorCase{"8.0.35-27-Percona Server", MysqlFlavor::kMysql},
                    FlavorCase{"", MysqlFlavor::kMysql}));

// --------------------------------------------------------------- grants

struct GrantsCase {
  std::vector<std::string> grants;
  bool superuser;
};

class Grants : public testing::TestWithParam<GrantsCase> {};

TEST_P(Grants, Superuser) {
  EXPECT_EQ(GrantsShowSuperuser(GetParam().grants), GetParam().superuser);
}

INSTANTIATE_TEST_SUITE_P(
    Lines, Grants,
    testing::Values(
        GrantsCase{{"GRANT BINLOG MONITOR, SLAVE MONITOR ON *.* TO `lagrouter`@`127.0.0.1` "
                    "IDENTIFIED BY PASSWORD '*2B63C96F5C28E592355DA529478228218A48C89F'"},
                   false},
        GrantsCase{{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"}, true},
        GrantsCase{{"GRANT USAGE ON *.* TO `x`@`%`", "GRANT ALL PRIVILEGES ON `shop`.* TO `x`@`%`"},
                   false},
        GrantsCase{{"GRANT PROCESS, SUPER, REPLICATION CLIENT ON *.* TO 'mon'@'%'"}, true},
        GrantsCase{{"grant super on *.* to mon@localhost"}, true},
        GrantsCase{{"GRANT REPLICATION CLIENT ON *.* TO `mon`@`%`",
                    "GRANT SUPER_READ_ONLY_ADMIN ON *.* TO `mon`@`%`"},
                   false},
        GrantsCase{{"GRANT SELECT ON *.* TO `mon`@`%`", "GRANT `dba` TO `mon`@`%`"}, false},
        GrantsCase{{"GRANT SUPER ON `shop`.* TO `x`@`%`"}, false}, GrantsCase{{}, false}));

// ------------------------------------------------------ ParseMysqlStatus

TEST(MysqlStatus, MariadbPrimary) {
  Sample s;
  auto r = ParseMysqlStatus(LoadRow("mariadb-10.11-variables-primary.txt"), {}, s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(s.role, Role::kPrimary);
  EXPECT_EQ(s.flavor, "mariadb");
  EXPECT_EQ(Pos(s.write_position), "mariadb:0-1-16");
  EXPECT_FALSE(router::IsKnown(s.replay_position));
  EXPECT_FALSE(s.replicating);
}

struct MariadbReplicaCase {
  std::string file;
  bool replicating;
  std::string state;
  std::optional<double> lag;
  std::string receive;
  bool has_error;
};

class MariadbReplica : public testing::TestWithParam<MariadbReplicaCase> {};

TEST_P(MariadbReplica, Sample) {
  const auto& c = GetParam();
  Sample s;
  auto r = ParseMysqlStatus(LoadRow("mariadb-10.11-variables-replica.txt"), LoadRows(c.file), s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(s.role, Role::kReplica);
  EXPECT_EQ(s.replicating, c.replicating);
  EXPECT_EQ(s.replication_state, c.state);
  EXPECT_EQ(s.reported_lag_seconds, c.lag);
  EXPECT_EQ(Pos(s.replay_position), "mariadb:0-1-16");
  EXPECT_EQ(Pos(s.receive_position), c.receive);
  EXPECT_FALSE(router::IsKnown(s.write_position));
  EXPECT_EQ(s.replication_error.empty(), !c.has_error) << s.replication_error;
  EXPECT_EQ(s.upstream.substr(0, 10), "127.0.0.1:");
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, MariadbReplica,
    testing::Values(MariadbReplicaCase{"mariadb-10.11-replica-running.txt", true, "io=Yes sql=Yes",
                                       0.0, "mariadb:0-1-16", false},
                    // STOP REPLICA SQL_THREAD: still replicating; the bound does the rest.
                    MariadbReplicaCase{"mariadb-10.11-replica-sql-stopped.txt", true,
                                       "io=Yes sql=No", std::nullopt, "mariadb:0-1-16", false},
                    // STOP REPLICA: not replicating, ineligible for every class.
                    MariadbReplicaCase{"mariadb-10.11-replica-stopped.txt", false, "io=No sql=No",
                                       std::nullopt, "mariadb:0-1-16", false},
                    MariadbReplicaCase{"mariadb-10.11-replica-io-connecting.txt", true,
                                       "io=Connecting sql=Yes", std::nullopt, "mariadb:0-1-16",
                                       true},
                    MariadbReplicaCase{"mariadb-10.11-replica-sql-error.txt", true, "io=Yes sql=No",
                                       std::nullopt, "mariadb:0-1-16", true}));

TEST(MysqlStatus, MariadbReceivePositionIsAheadOfReplay) {
  Row vars = LoadRow("mariadb-10.11-variables-replica.txt");
  vars["gtid_slave_pos"] = "0-1-10,1-2-3";
  Row rs = LoadRow("mariadb-10.11-replica-sql-stopped.txt");
  rs["Gtid_IO_Pos"] = "0-1-15,2-5-1";
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(vars, {rs}, s).ok());
  EXPECT_EQ(Pos(s.replay_position), "mariadb:0-1-10,1-2-3");
  EXPECT_EQ(Pos(s.receive_position), "mariadb:0-1-15,1-2-3,2-5-1");
}

TEST(MysqlStatus, SqlErrorIsReported) {
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(LoadRow("mariadb-10.11-variables-replica.txt"),
                               LoadRows("mariadb-10.11-replica-sql-error.txt"), s)
                  .ok());
  EXPECT_EQ(s.replication_error.rfind("SQL error 1062: Could not execute", 0), 0u)
      << s.replication_error;
}

TEST(MysqlStatus, Mysql80Replica) {
  Sample s;
  std::string executed = std::string(kSrc) + ":1-2345,\n" + kOther + ":1-12";
  auto r = ParseMysqlStatus(MysqlVars(executed), LoadRows("mysql-8.0-replica-running.txt"), s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(s.flavor, "mysql");
  EXPECT_EQ(s.version, "8.0.36");
  EXPECT_EQ(s.role, Role::kReplica);
  EXPECT_TRUE(s.replicating);
  EXPECT_EQ(s.replication_state, "io=Yes sql=Yes");
  EXPECT_EQ(s.reported_lag_seconds, 0.0);
  EXPECT_EQ(s.upstream, "10.20.0.11:3306");
  EXPECT_EQ(Pos(s.replay_position), "mysql:" + std::string(kSrc) + ":1-2345," + kOther + ":1-12");
  EXPECT_EQ(Pos(s.receive_position), Pos(s.replay_position));
}

TEST(MysqlStatus, Mysql80LegacyNamesConnecting) {
  Sample s;
  std::string executed = std::string(kSrc) + ":1-2345,\n" + kOther + ":1-12";
  auto r = ParseMysqlStatus(MysqlVars(executed),
                            LoadRows("mysql-8.0-slave-status-io-connecting.txt"), s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(s.role, Role::kReplica);
  EXPECT_TRUE(s.replicating);
  EXPECT_EQ(s.replication_state, "io=Connecting sql=Yes");
  EXPECT_FALSE(s.reported_lag_seconds.has_value());
  EXPECT_EQ(s.replication_error.rfind("IO error 2003: Error connecting to source", 0), 0u);
}

TEST(MysqlStatus, Mysql84TaggedSqlStopped) {
  Sample s;
  const std::string src = "8a94f357-aab4-11ee-bd1c-0242ac110002";
  Row vars = MysqlVars(src + ":1-1500:orders:1-17");
  vars["version"] = "8.4.0";
  auto r = ParseMysqlStatus(vars, LoadRows("mysql-8.4-replica-sql-stopped-tagged.txt"), s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(s.replicating);
  EXPECT_EQ(s.replication_state, "io=Yes sql=No");
  EXPECT_FALSE(s.reported_lag_seconds.has_value());
  EXPECT_EQ(Pos(s.replay_position), "mysql:" + src + ":1-1500:orders:1-17");
  // Received = executed plus the relay log.
  EXPECT_EQ(Pos(s.receive_position), "mysql:" + src + ":1-1507:orders:1-20");
}

TEST(MysqlStatus, MysqlPrimary) {
  Sample s;
  auto r = ParseMysqlStatus(MysqlVars(std::string(kSrc) + ":1-2345", false), {}, s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(s.role, Role::kPrimary);
  EXPECT_EQ(Pos(s.write_position), "mysql:" + std::string(kSrc) + ":1-2345");
}

TEST(MysqlStatus, SuperReadOnlyWithoutSourceIsUnknown) {
  Row vars = MysqlVars(std::string(kSrc) + ":1-5", false);
  vars["super_read_only"] = "1";
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(vars, {}, s).ok());
  EXPECT_EQ(s.role, Role::kUnknown);
  EXPECT_NE(s.replication_state.find("read-only"), std::string::npos);
  EXPECT_FALSE(router::IsKnown(s.write_position));
}

TEST(MysqlStatus, ReadOnlyWithoutSourceIsUnknown) {
  // A fenced old primary during failover: neither a primary nor a replica.
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(LoadRow("mariadb-10.11-variables-replica.txt"), {}, s).ok());
  EXPECT_EQ(s.role, Role::kUnknown);
  EXPECT_FALSE(s.replicating);
  EXPECT_FALSE(router::IsKnown(s.write_position));
  EXPECT_FALSE(router::IsKnown(s.replay_position));
}

TEST(MysqlStatus, RowWithoutSourceIsNotAReplica) {
  // RESET REPLICA (without ALL) can leave a row with no host.
  Row rs = LoadRow("mariadb-10.11-replica-stopped.txt");
  rs["Master_Host"] = "";
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(LoadRow("mariadb-10.11-variables-primary.txt"), {rs}, s).ok());
  EXPECT_EQ(s.role, Role::kPrimary);
}

TEST(MysqlStatus, WritableReplicaIsStillAReplica) {
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(LoadRow("mariadb-10.11-variables-primary.txt"),
                               LoadRows("mariadb-10.11-replica-running.txt"), s)
                  .ok());
  EXPECT_EQ(s.role, Role::kReplica);
}

TEST(MysqlStatus, SeveralChannelsUseTheFirst) {
  Row a = LoadRow("mysql-8.0-replica-running.txt");
  Row b = a;
  b["Channel_Name"] = "analytics";
  b["Replica_IO_Running"] = "No";
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(MysqlVars(std::string(kSrc) + ":1-5"), {a, b}, s).ok());
  EXPECT_TRUE(s.replicating);
  EXPECT_EQ(s.replication_state, "io=Yes sql=Yes (+1 more channels)");
}

TEST(MysqlStatus, GtidModeOffMeansUnknownPositions) {
  Row vars = MysqlVars("", false);
  vars["gtid_mode"] = "OFF";
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(vars, {}, s).ok());
  EXPECT_EQ(s.role, Role::kPrimary);
  EXPECT_FALSE(router::IsKnown(s.write_position));
  EXPECT_EQ(s.replication_state, "gtid_mode=OFF: positions unknown");

  Sample r;
  vars["read_only"] = "1";
  ASSERT_TRUE(ParseMysqlStatus(vars, LoadRows("mysql-8.0-replica-running.txt"), r).ok());
  EXPECT_EQ(r.role, Role::kReplica);
  EXPECT_FALSE(router::IsKnown(r.replay_position));
}

TEST(MysqlStatus, MariadbWithoutBinlogHasNoWritePosition) {
  Row vars = LoadRow("mariadb-10.11-variables-primary.txt");
  vars["log_bin"] = "0";
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(vars, {}, s).ok());
  EXPECT_EQ(s.role, Role::kPrimary);
  EXPECT_FALSE(router::IsKnown(s.write_position));
}

TEST(MysqlStatus, EmptyPositionsAreKnown) {
  // A fresh primary that has written nothing: empty, but known.
  Row vars = LoadRow("mariadb-10.11-variables-primary.txt");
  vars["gtid_binlog_pos"] = "";
  Sample s;
  ASSERT_TRUE(ParseMysqlStatus(vars, {}, s).ok());
  EXPECT_TRUE(router::IsKnown(s.write_position));
  EXPECT_EQ(Pos(s.write_position), "mariadb:");
}

struct BadStatusCase {
  std::string name;
  Row vars;
  std::vector<Row> replica_rows;
};

class MysqlStatusBad : public testing::TestWithParam<BadStatusCase> {};

TEST_P(MysqlStatusBad, Rejects) {
  Sample s;
  auto r = ParseMysqlStatus(GetParam().vars, GetParam().replica_rows, s);
  EXPECT_FALSE(r.ok()) << GetParam().name;
}

Row With(Row row, const std::string& column, std::optional<std::string> value) {
  row[column] = std::move(value);
  return row;
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, MysqlStatusBad,
    testing::ValuesIn(std::vector<BadStatusCase>{
        {"mariadb primary bad binlog pos",
         With(LoadRow("mariadb-10.11-variables-primary.txt"), "gtid_binlog_pos", "0-1-16,"),
         {}},
        {"mariadb primary NULL binlog pos",
         With(LoadRow("mariadb-10.11-variables-primary.txt"), "gtid_binlog_pos", std::nullopt),
         {}},
        {"mariadb replica dup domain",
         With(LoadRow("mariadb-10.11-variables-replica.txt"), "gtid_slave_pos", "0-1-1,0-1-2"),
         LoadRows("mariadb-10.11-replica-running.txt")},
        {"mariadb replica bad io pos",
         LoadRow("mariadb-10.11-variables-replica.txt"),
         {With(LoadRow("mariadb-10.11-replica-running.txt"), "Gtid_IO_Pos", "junk")}},
        {"mariadb replica bad row",
         LoadRow("mariadb-10.11-variables-replica.txt"),
         {With(LoadRow("mariadb-10.11-replica-running.txt"), "Seconds_Behind_Master", "x")}},
        {"mysql primary reversed interval", MysqlVars(std::string(kSrc) + ":5-3", false), {}},
        {"mysql replica bad retrieved",
         MysqlVars(std::string(kSrc) + ":1-5"),
         {With(LoadRow("mysql-8.0-replica-running.txt"), "Retrieved_Gtid_Set", "x:1")}},
        {"mysql replica NULL executed",
         With(MysqlVars(""), "gtid_executed", std::nullopt),
         {With(LoadRow("mysql-8.0-replica-running.txt"), "Executed_Gtid_Set", std::nullopt)}},
        {"no version", Row{{"read_only", "0"}}, {}},
    }),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return n;
    });

}  // namespace
}  // namespace lagrouter::probes
