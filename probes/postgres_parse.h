// Parsing of the PostgreSQL probe's result rows, separate from libpq I/O.
#pragma once

#include <cstdint>
#include <vector>

#include "common/result.h"
#include "probes/probe.h"
#include "probes/row.h"

namespace lagrouter::probes {

// The one statement-pair the probe sends each cycle (one round trip).
extern const char* const kPostgresProbeQuery;

// The insert position points past a page header when the last record ended
// exactly at a page (or segment) boundary, e.g. 0/4000028 after a segment
// switch, while a caught-up standby's replay position is the boundary itself
// (0/4000000). No record bytes lie in between, so the two are equivalent: map
// the insert position back to the boundary, or an idle primary would make
// every caught-up replica look stale forever.
uint64_t NormalizeInsertLsn(uint64_t lsn, uint64_t block_size, uint64_t segment_size);

// Fills role, positions and replication state of `out` from the status row
// and the pg_stat_replication rows. Malformed values are an error.
Result<void> ParsePostgresStatus(const Row& status, const std::vector<Row>& senders, Sample& out);

}  // namespace lagrouter::probes
