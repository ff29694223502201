// Parsing of the MySQL/MariaDB probe's result rows, separate from client I/O so
// that recorded rows (MySQL 8.0/8.4 and MariaDB column names) are unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "probes/probe.h"
#include "probes/row.h"

namespace lagrouter::probes {

enum class MysqlFlavor { kMariadb, kMysql };

// MariaDB says so in its version string ("10.11.6-MariaDB-0+deb12u1", or
// "5.5.5-10.11.6-MariaDB" through old proxies); anything else is MySQL.
MysqlFlavor FlavorFromVersion(std::string_view version);
const char* FlavorName(MysqlFlavor flavor);  // "mariadb" or "mysql"

// The probe's per-cycle SELECT of server variables for a flavor (one row,
// columns named as ParseMysqlVariables expects), without a trailing ';'.
const char* MysqlVariablesQuery(MysqlFlavor flavor);

// Replica_IO_Running / Slave_IO_Running values.
enum class ThreadState { kNo, kYes, kConnecting };
const char* ThreadStateName(ThreadState state);  // "No", "Yes", "Connecting"

// One row of SHOW REPLICA STATUS (MySQL >= 8.0.22 / MariaDB >= 10.5.1) or
// SHOW SLAVE STATUS, whichever naming the server used.
struct ReplicaStatus {
  ThreadState io_running = ThreadState::kNo;
  ThreadState sql_running = ThreadState::kNo;
  // NULL when the server cannot tell (SQL thread stopped, IO not connected).
  // NULL is never 0: a replica whose lag is unknown is not "caught up".
  std::optional<int64_t> seconds_behind;
  std::string source_host;  // empty when no source is configured
  int source_port = 0;
  std::string io_state;   // Replica_IO_State, e.g. "Waiting for source to send event"
  std::string sql_state;  // Replica_SQL_Running_State
  int64_t last_io_errno = 0;
  std::string last_io_error;
  int64_t last_sql_errno = 0;
  std::string last_sql_error;
  // MariaDB: Gtid_IO_Pos (last GTID the IO thread received).
  std::optional<std::string> gtid_io_pos;
  // MySQL: Retrieved_Gtid_Set, Executed_Gtid_Set, Auto_Position.
  std::optional<std::string> retrieved_gtid_set;
  std::optional<std::string> executed_gtid_set;
  bool auto_position = false;

  // A source is configured (RESET REPLICA without ALL may leave a row).
  bool HasSource() const { return !source_host.empty(); }
  bool operator==(const ReplicaStatus&) const = default;
};

Result<ReplicaStatus> ParseReplicaStatus(const Row& row);
// Whether ParseReplicaStatus reads the column (in any case).
bool ReplicaStatusReads(std::string_view column);

// The row of MysqlVariablesQuery().
struct MysqlVariables {
  std::string version;
  MysqlFlavor flavor = MysqlFlavor::kMysql;
  bool read_only = false;
  bool super_read_only = false;  // MySQL only
  bool log_bin = false;
  // MariaDB.
  std::optional<std::string> gtid_binlog_pos;
  std::optional<std::string> gtid_slave_pos;
  // MySQL.
  std::optional<std::string> gtid_executed;
  std::string gtid_mode;  // "ON" when GTIDs identify every transaction
};

Result<MysqlVariables> ParseMysqlVariables(const Row& row);

// True when SHOW GRANTS (for the current user) gives global SUPER or ALL.
bool GrantsShowSuperuser(const std::vector<std::string>& grants);

// Fills flavor, version, role, positions and replication state of `out` from
// the variables row and the replica status rows (empty: not a replica).
// Malformed values are an error and leave `out` partly filled.
//
// Role: a configured source (a replica status row with a host) makes a
// replica, whatever read_only says: its data follows its source. No source and
// writable makes a primary. No source and read-only (a fenced old primary in
// the middle of a failover, a stand-alone copy) is kUnknown, explained in
// replication_state: it is neither the write position nor a replicating copy.
Result<void> ParseMysqlStatus(const Row& variables, const std::vector<Row>& replica_rows,
                              Sample& out);

}  // namespace lagrouter::probes
