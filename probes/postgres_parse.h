// Parsing of the PostgreSQL probe's result rows, separate from libpq I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "probes/probe.h"
#include "probes/row.h"

namespace lagrouter::probes {

// What cannot change while a connection is open (the server's version and
// WAL geometry; the role's superuser flag and rights are read again on
// reconnecting): read once per connection, since pg_settings alone cost the
// server more than the rest of the probe (0.57 of 1.57 ms per probe).
extern const char* const kPostgresSettingsQuery;
struct PostgresSettings {
  std::string version;
  bool superuser = false;
  uint64_t wal_block_size = 0;
  uint64_t wal_segment_size = 0;
  bool reads_all_stats = false;  // sees every backend's transaction (pg_read_all_stats)
};

// Whether a server of `server_version` (PQserverVersion), probed by a role
// with or without pg_read_all_stats, can tell Sample::transactions.
inline bool TellsTransactions(int server_version, bool reads_all_stats) {
  return server_version >= 130000 && reads_all_stats;
}

// The statements the probe sends each cycle (one round trip): the status row
// and, with `senders`, the primary's senders; `with_settings`: a connection's
// first probe, the settings first. `transactions`: the status row also reads
// Sample::transactions; asked of servers last seen as primary that can tell
// (it costs the server about 0.15 ms per probe, which replicas are spared).
const std::string& PostgresProbeQuery(bool with_settings, bool transactions, bool senders);

// Depth::kPosition's statement: the role and its position, nothing else (no
// catalog, no view of other backends). A connection's first probe never uses it.
extern const char* const kPostgresPositionQuery;

// The insert position points past a page header when the last record ended
// exactly at a page (or segment) boundary, e.g. 0/4000028 after a segment
// switch, while a caught-up standby's replay position is the boundary itself
// (0/4000000). No record bytes lie in between, so the two are equivalent: map
// the insert position back to the boundary, or an idle primary would make
// every caught-up replica look stale forever.
uint64_t NormalizeInsertLsn(uint64_t lsn, uint64_t block_size, uint64_t segment_size);

// The settings row. Malformed values are an error.
Result<PostgresSettings> ParsePostgresSettings(const Row& row);

// Fills role, positions and replication state of `out` from the status row,
// the senders' rows and the connection's settings. Malformed values are an
// error.
Result<void> ParsePostgresStatus(const Row& status, const std::vector<Row>& senders,
                                 const PostgresSettings& settings, Sample& out);

// Fills role and the role's position of `out` (a position_only sample) from
// kPostgresPositionQuery's row. Malformed values are an error.
Result<void> ParsePostgresPosition(const Row& row, const PostgresSettings& settings, Sample& out);

}  // namespace lagrouter::probes
