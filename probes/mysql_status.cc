#include "probes/mysql_status.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <limits>

#include "common/text.h"
#include "router/gtid.h"

namespace lagrouter::probes {
namespace {

// Server text quoted for error messages; SQL NULL as NULL.
std::string Quote(const std::optional<std::string>& v) {
  return v ? lagrouter::Quote(*v) : "NULL";
}

// A column found under one of its names (MySQL 8 first, then legacy).
struct Column {
  const char* name = nullptr;  // the name it was found under
  const std::optional<std::string>* value = nullptr;
  bool present() const { return value != nullptr; }
  bool null() const { return value == nullptr || !value->has_value(); }
  std::string text() const { return null() ? std::string() : **value; }
};

Column Find(const Row& row, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = row.find(name);
    if (it != row.end()) return {name, &it->second};
  }
  // Drivers and proxies disagree on case now and then; accept any.
  for (const char* name : names) {
    for (const auto& [key, value] : row) {
      if (EqualsIgnoreCase(key, name)) return {name, &value};
    }
  }
  return {names.size() > 0 ? *names.begin() : "", nullptr};
}

Error Bad(std::string_view what, const Column& c, std::string_view want) {
  std::string got = c.present() ? "is " + Quote(*c.value) : std::string("is missing");
  return MakeError(std::string(what) + ": " + c.name + " " + got + ", want " + std::string(want));
}

// Integer column. Absent or NULL gives nullopt; anything but an integer in
// [min, max] is an error.
Result<std::optional<int64_t>> Int(std::string_view what, const Column& c, int64_t min,
                                   int64_t max) {
  if (c.null()) return std::optional<int64_t>();
  std::string_view s = Trim(**c.value);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v < min || v > max) {
    return Bad(what, c, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return std::optional<int64_t>(v);
}

// 0/1/ON/OFF (SELECT @@var gives 0/1; SHOW VARIABLES gives ON/OFF).
Result<bool> Bool(std::string_view what, const Column& c) {
  if (c.null()) return Bad(what, c, "0, 1, ON or OFF");
  std::string_view s = Trim(**c.value);
  if (s == "1" || EqualsIgnoreCase(s, "ON")) return true;
  if (s == "0" || EqualsIgnoreCase(s, "OFF")) return false;
  return Bad(what, c, "0, 1, ON or OFF");
}

Result<ThreadState> Thread(std::string_view what, const Column& c) {
  if (!c.present()) return MakeError(std::string(what) + ": no " + c.name + " column");
  if (!c.null()) {
    std::string_view s = Trim(**c.value);
    if (EqualsIgnoreCase(s, "Yes")) return ThreadState::kYes;
    if (EqualsIgnoreCase(s, "No")) return ThreadState::kNo;
    if (EqualsIgnoreCase(s, "Connecting")) return ThreadState::kConnecting;
  }
  return Bad(what, c, "Yes, No or Connecting");
}

std::optional<std::string> OptText(const Column& c) {
  if (c.null()) return std::nullopt;
  return std::string(Trim(**c.value));
}

// Receive position of a MariaDB replica: per domain, the later of what it has
// applied and what its IO thread has received.
router::MariadbGtid MaxPerDomain(router::MariadbGtid a, const router::MariadbGtid& b) {
  for (const auto& e : b.entries) {
    auto it = std::find_if(a.entries.begin(), a.entries.end(),
                           [&](const auto& x) { return x.domain == e.domain; });
    if (it == a.entries.end()) {
      a.entries.push_back(e);
    } else if (e.seq > it->seq) {
      *it = e;
    }
  }
  std::sort(a.entries.begin(), a.entries.end(),
            [](const auto& x, const auto& y) { return x.domain < y.domain; });
  return a;
}

std::string JoinErrors(const ReplicaStatus& rs) {
  std::string out;
  if (rs.last_io_errno != 0 || !rs.last_io_error.empty()) {
    out = "IO error " + std::to_string(rs.last_io_errno) + ": " + rs.last_io_error;
  }
  if (rs.last_sql_errno != 0 || !rs.last_sql_error.empty()) {
    if (!out.empty()) out += "; ";
    out += "SQL error " + std::to_string(rs.last_sql_errno) + ": " + rs.last_sql_error;
  }
  return out;
}

}  // namespace

MysqlFlavor FlavorFromVersion(std::string_view version) {
  constexpr std::string_view kMariadb = "mariadb";
  for (size_t i = 0; i + kMariadb.size() <= version.size(); ++i) {
    if (EqualsIgnoreCase(version.substr(i, kMariadb.size()), kMariadb)) {
      return MysqlFlavor::kMariadb;
    }
  }
  return MysqlFlavor::kMysql;
}

const char* FlavorName(MysqlFlavor flavor) {
  return flavor == MysqlFlavor::kMariadb ? "mariadb" : "mysql";
}

const char* MysqlVariablesQuery(MysqlFlavor flavor) {
  // System variables need no privilege; @@global. because the session value
  // of read_only-like variables is not what the server enforces.
  if (flavor == MysqlFlavor::kMariadb) {
    return "SELECT @@version AS version, @@global.read_only AS read_only, "
           "@@global.log_bin AS log_bin, @@global.gtid_binlog_pos AS gtid_binlog_pos, "
           "@@global.gtid_slave_pos AS gtid_slave_pos";
  }
  return "SELECT @@version AS version, @@global.read_only AS read_only, "
         "@@global.super_read_only AS super_read_only, @@global.log_bin AS log_bin, "
         "@@global.gtid_mode AS gtid_mode, @@global.gtid_executed AS gtid_executed";
}

const char* ThreadStateName(ThreadState state) {
  switch (state) {
    case ThreadState::kYes: return "Yes";
    case ThreadState::kConnecting: return "Connecting";
    case ThreadState::kNo: break;
  }
  return "No";
}

// Every name ParseReplicaStatus finds a column by: the probe keeps only these
// of SHOW REPLICA STATUS's ~60 columns (its rows stay between samples), so
// the two lists move together (ReplicaStatus.KeptColumnsParseAlike).
constexpr std::string_view kReplicaStatusColumns[] = {"Replica_IO_Running",
                                                      "Slave_IO_Running",
                                                      "Replica_SQL_Running",
                                                      "Slave_SQL_Running",
                                                      "Seconds_Behind_Source",
                                                      "Seconds_Behind_Master",
                                                      "Source_Host",
                                                      "Master_Host",
                                                      "Source_Port",
                                                      "Master_Port",
                                                      "Replica_IO_State",
                                                      "Slave_IO_State",
                                                      "Replica_SQL_Running_State",
                                                      "Slave_SQL_Running_State",
                                                      "Last_IO_Errno",
                                                      "Last_IO_Error",
                                                      "Last_SQL_Errno",
                                                      "Last_SQL_Error",
                                                      "Gtid_IO_Pos",
                                                      "Retrieved_Gtid_Set",
                                                      "Executed_Gtid_Set",
                                                      "Auto_Position"};

bool ReplicaStatusReads(std::string_view column) {
  // Any case, as Find accepts.
  return std::any_of(std::begin(kReplicaStatusColumns), std::end(kReplicaStatusColumns),
                     [column](std::string_view name) { return EqualsIgnoreCase(column, name); });
}

Result<ReplicaStatus> ParseReplicaStatus(const Row& row) {
  constexpr std::string_view kWhat = "SHOW REPLICA STATUS";
  ReplicaStatus rs;
  Column io = Find(row, {"Replica_IO_Running", "Slave_IO_Running"});
  Column sql = Find(row, {"Replica_SQL_Running", "Slave_SQL_Running"});
  LAGROUTER_ASSIGN_OR_RETURN(rs.io_running, Thread(kWhat, io));
  LAGROUTER_ASSIGN_OR_RETURN(rs.sql_running, Thread(kWhat, sql));
  // The SQL thread is only ever Yes or No.
  if (rs.sql_running == ThreadState::kConnecting) return Bad(kWhat, sql, "Yes or No");

  LAGROUTER_ASSIGN_OR_RETURN(
      rs.seconds_behind, Int(kWhat, Find(row, {"Seconds_Behind_Source", "Seconds_Behind_Master"}),
                             0, std::numeric_limits<int64_t>::max()));

  rs.source_host = std::string(Trim(Find(row, {"Source_Host", "Master_Host"}).text()));
  LAGROUTER_ASSIGN_OR_RETURN(const auto port,
                             Int(kWhat, Find(row, {"Source_Port", "Master_Port"}), 0, 65535));
  rs.source_port = static_cast<int>(port.value_or(0));

  rs.io_state = Find(row, {"Replica_IO_State", "Slave_IO_State"}).text();
  rs.sql_state = Find(row, {"Replica_SQL_Running_State", "Slave_SQL_Running_State"}).text();
  LAGROUTER_ASSIGN_OR_RETURN(const auto io_errno, Int(kWhat, Find(row, {"Last_IO_Errno"}), 0,
                                                      std::numeric_limits<int64_t>::max()));
  rs.last_io_errno = io_errno.value_or(0);
  rs.last_io_error = Find(row, {"Last_IO_Error"}).text();
  LAGROUTER_ASSIGN_OR_RETURN(const auto sql_errno, Int(kWhat, Find(row, {"Last_SQL_Errno"}), 0,
                                                       std::numeric_limits<int64_t>::max()));
  rs.last_sql_errno = sql_errno.value_or(0);
  rs.last_sql_error = Find(row, {"Last_SQL_Error"}).text();

  rs.gtid_io_pos = OptText(Find(row, {"Gtid_IO_Pos"}));
  rs.retrieved_gtid_set = OptText(Find(row, {"Retrieved_Gtid_Set"}));
  rs.executed_gtid_set = OptText(Find(row, {"Executed_Gtid_Set"}));
  Column auto_position = Find(row, {"Auto_Position"});
  if (!auto_position.null()) {
    LAGROUTER_ASSIGN_OR_RETURN(rs.auto_position, Bool(kWhat, auto_position));
  }
  return rs;
}

Result<MysqlVariables> ParseMysqlVariables(const Row& row) {
  constexpr std::string_view kWhat = "server variables";
  MysqlVariables v;
  Column version = Find(row, {"version", "@@version"});
  if (version.null() || Trim(**version.value).empty()) {
    return MakeError(std::string(kWhat) + ": no version");
  }
  v.version = std::string(Trim(**version.value));
  v.flavor = FlavorFromVersion(v.version);

  LAGROUTER_ASSIGN_OR_RETURN(v.read_only,
                             Bool(kWhat, Find(row, {"read_only", "@@global.read_only"})));
  Column super_read_only = Find(row, {"super_read_only", "@@global.super_read_only"});
  if (super_read_only.present()) {
    LAGROUTER_ASSIGN_OR_RETURN(v.super_read_only, Bool(kWhat, super_read_only));
  }
  Column log_bin = Find(row, {"log_bin", "@@global.log_bin"});
  if (log_bin.present()) {
    LAGROUTER_ASSIGN_OR_RETURN(v.log_bin, Bool(kWhat, log_bin));
  }
  v.gtid_binlog_pos = OptText(Find(row, {"gtid_binlog_pos", "@@global.gtid_binlog_pos"}));
  v.gtid_slave_pos = OptText(Find(row, {"gtid_slave_pos", "@@global.gtid_slave_pos"}));
  v.gtid_executed = OptText(Find(row, {"gtid_executed", "@@global.gtid_executed"}));
  v.gtid_mode = std::string(Trim(Find(row, {"gtid_mode", "@@global.gtid_mode"}).text()));
  return v;
}

bool GrantsShowSuperuser(const std::vector<std::string>& grants) {
  for (const std::string& g : grants) {
    std::string_view s = Trim(g);
    if (s.size() < 6 || !EqualsIgnoreCase(s.substr(0, 6), "GRANT ")) continue;
    // Only global privileges make a superuser: "GRANT <privs> ON *.* TO ...".
    std::string upper(s);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    size_t on = upper.find(" ON *.* TO ");
    if (on == std::string::npos) on = upper.find(" ON `*`.`*` TO ");
    if (on == std::string::npos) continue;
    std::string_view privs = std::string_view(upper).substr(6, on - 6);
    while (!privs.empty()) {
      size_t comma = privs.find(',');
      std::string_view p = Trim(privs.substr(0, comma));
      if (p == "SUPER" || p == "ALL" || p == "ALL PRIVILEGES") return true;
      if (comma == std::string_view::npos) break;
      privs.remove_prefix(comma + 1);
    }
  }
  return false;
}

namespace {

Result<router::Position> MysqlPosition(const std::string& text, const char* name) {
  LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(auto set, router::ParseMysqlGtidSet(text),
                                     std::string(name) + ": ");
  return router::Position{std::move(set)};
}

Result<router::Position> MariadbPosition(const std::string& text, const char* name) {
  LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(auto gtid, router::ParseMariadbGtid(text),
                                     std::string(name) + ": ");
  return router::Position{std::move(gtid)};
}

// Multi-source MySQL returns one row per channel; the first with a source
// decides (lagrouter follows one upstream per server). `other_channels`
// counts the rest.
Result<std::optional<ReplicaStatus>> FirstSource(const std::vector<Row>& replica_rows,
                                                 int* other_channels) {
  std::optional<ReplicaStatus> rs;
  *other_channels = 0;
  for (const Row& row : replica_rows) {
    LAGROUTER_ASSIGN_OR_RETURN(ReplicaStatus parsed, ParseReplicaStatus(row));
    if (!parsed.HasSource()) continue;
    if (rs) {
      ++*other_channels;
    } else {
      rs = std::move(parsed);
    }
  }
  return rs;
}

// What the variables say about GTIDs, shared by both roles.
struct GtidContext {
  bool mariadb = false;
  bool mysql_gtids = false;  // MySQL with gtid_mode=ON
  std::string note;          // why positions are unknown, if they are
};

Result<void> FillReplicaPositions(const MysqlVariables& vars, const ReplicaStatus& rs,
                                  const GtidContext& gtids, Sample& out) {
  if (gtids.mariadb) {
    if (!vars.gtid_slave_pos) return MakeError("server variables: gtid_slave_pos is NULL");
    LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(router::MariadbGtid replay,
                                       router::ParseMariadbGtid(*vars.gtid_slave_pos),
                                       "gtid_slave_pos: ");
    router::MariadbGtid received = replay;
    if (rs.gtid_io_pos && !rs.gtid_io_pos->empty()) {
      LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(
          const router::MariadbGtid io, router::ParseMariadbGtid(*rs.gtid_io_pos), "Gtid_IO_Pos: ");
      received = MaxPerDomain(std::move(received), io);
    }
    out.replay_position = std::move(replay);
    out.receive_position = std::move(received);
  } else if (gtids.mysql_gtids) {
    std::optional<std::string> executed = vars.gtid_executed;
    if (!executed) executed = rs.executed_gtid_set;
    if (!executed) return MakeError("gtid_executed is NULL");
    LAGROUTER_ASSIGN_OR_RETURN(router::Position replay, MysqlPosition(*executed, "gtid_executed"));
    // Retrieved_Gtid_Set covers only the relay log; what the replica has
    // received is that plus what it has already executed. Parsing the two
    // joined by a comma merges them.
    std::string received_text = *executed;
    if (rs.retrieved_gtid_set && !rs.retrieved_gtid_set->empty()) {
      if (!Trim(received_text).empty()) received_text += ",";
      received_text += *rs.retrieved_gtid_set;
    }
    LAGROUTER_ASSIGN_OR_RETURN(router::Position received,
                               MysqlPosition(received_text, "Retrieved_Gtid_Set"));
    out.replay_position = std::move(replay);
    out.receive_position = std::move(received);
  }
  return Ok();
}

Result<void> FillReplica(const MysqlVariables& vars, const ReplicaStatus& rs, int other_channels,
                         const GtidContext& gtids, Sample& out) {
  out.role = Role::kReplica;
  // Only a deliberately stopped (or failed) IO thread means "not replicating";
  // a stopped SQL thread leaves it replicating and the bound grows instead.
  out.replicating = rs.io_running != ThreadState::kNo;
  out.replication_state = std::string("io=") + ThreadStateName(rs.io_running) +
                          " sql=" + ThreadStateName(rs.sql_running);
  if (other_channels > 0) {
    out.replication_state += " (+" + std::to_string(other_channels) + " more channels)";
  }
  if (!gtids.note.empty()) out.replication_state += "; " + gtids.note;
  out.replication_error = JoinErrors(rs);
  out.upstream = rs.source_host + ":" + std::to_string(rs.source_port);
  if (rs.seconds_behind) out.reported_lag_seconds = static_cast<double>(*rs.seconds_behind);
  return FillReplicaPositions(vars, rs, gtids, out);
}

Result<void> FillPrimary(const MysqlVariables& vars, const GtidContext& gtids, Sample& out) {
  out.role = Role::kPrimary;
  out.replication_state = gtids.note;
  if (gtids.mariadb) {
    // Without a binlog gtid_binlog_pos never moves, so it proves nothing.
    if (!vars.log_bin) {
      out.replication_state = "log_bin=OFF: write position unknown";
      return Ok();
    }
    if (!vars.gtid_binlog_pos) return MakeError("server variables: gtid_binlog_pos is NULL");
    LAGROUTER_ASSIGN_OR_RETURN(out.write_position,
                               MariadbPosition(*vars.gtid_binlog_pos, "gtid_binlog_pos"));
  } else if (gtids.mysql_gtids) {
    if (!vars.gtid_executed) return MakeError("server variables: gtid_executed is NULL");
    LAGROUTER_ASSIGN_OR_RETURN(out.write_position,
                               MysqlPosition(*vars.gtid_executed, "gtid_executed"));
  }
  return Ok();
}

}  // namespace

Result<void> ParseMysqlStatus(const Row& variables, const std::vector<Row>& replica_rows,
                              Sample& out) {
  LAGROUTER_ASSIGN_OR_RETURN(const MysqlVariables vars, ParseMysqlVariables(variables));
  out.flavor = FlavorName(vars.flavor);
  out.version = vars.version;
  int other_channels = 0;
  LAGROUTER_ASSIGN_OR_RETURN(const std::optional<ReplicaStatus> rs,
                             FirstSource(replica_rows, &other_channels));

  // MySQL without gtid_mode=ON has anonymous transactions: gtid_executed then
  // says nothing about what a server has, so the position is unknown.
  GtidContext gtids;
  gtids.mariadb = vars.flavor == MysqlFlavor::kMariadb;
  gtids.mysql_gtids = !gtids.mariadb && EqualsIgnoreCase(vars.gtid_mode, "ON");
  if (!gtids.mariadb && !gtids.mysql_gtids) {
    gtids.note = "gtid_mode=" + (vars.gtid_mode.empty() ? std::string("?") : vars.gtid_mode) +
                 ": positions unknown";
  }

  if (rs) return FillReplica(vars, *rs, other_channels, gtids, out);
  if (!vars.read_only && !vars.super_read_only) return FillPrimary(vars, gtids, out);
  out.role = Role::kUnknown;
  out.replication_state = "read-only with no replication source";
  if (!gtids.note.empty()) out.replication_state += "; " + gtids.note;
  return Ok();
}

}  // namespace lagrouter::probes
