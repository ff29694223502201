// GTID positions of MariaDB (domain-server-seq lists) and MySQL (uuid:interval
// sets). Parsed strictly: malformed input is an error, never a guess.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace lagrouter::router {

// MariaDB gtid_binlog_pos / gtid_slave_pos, e.g. "0-1-42,1-2-7".
// At most one entry per domain; entries sorted by domain.
struct MariadbGtid {
  struct Entry {
    uint32_t domain = 0;
    uint32_t server_id = 0;
    uint64_t seq = 0;
    bool operator==(const Entry&) const = default;
  };
  std::vector<Entry> entries;
  bool operator==(const MariadbGtid&) const = default;
};

// MySQL gtid_executed, e.g. "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18,
// 9f...:1-3" (MySQL 8.4 tags: "uuid:tag:1-5"). Normalised: sources sorted,
// uuids lower-case, intervals sorted, merged, non-overlapping.
struct MysqlGtidSet {
  struct Interval {
    uint64_t first = 0;  // inclusive
    uint64_t last = 0;   // inclusive
    bool operator==(const Interval&) const = default;
  };
  struct Source {
    std::string uuid;  // lower-case canonical 8-4-4-4-12
    std::string tag;   // empty when untagged
    std::vector<Interval> intervals;
    bool operator==(const Source&) const = default;
  };
  std::vector<Source> sources;
  bool operator==(const MysqlGtidSet&) const = default;
};

Result<MariadbGtid> ParseMariadbGtid(std::string_view text);
Result<MysqlGtidSet> ParseMysqlGtidSet(std::string_view text);

// True when every transaction of `p` is in `r` (p <= r): per domain for
// MariaDB (r has the domain with seq >= p's), set containment for MySQL.
bool Covers(const MariadbGtid& r, const MariadbGtid& p);
bool Covers(const MysqlGtidSet& r, const MysqlGtidSet& p);

// Transactions in `p` missing from `r` (for people, never for routing).
uint64_t Missing(const MariadbGtid& r, const MariadbGtid& p);
uint64_t Missing(const MysqlGtidSet& r, const MysqlGtidSet& p);

std::string ToString(const MariadbGtid& g);
std::string ToString(const MysqlGtidSet& g);

}  // namespace lagrouter::router
