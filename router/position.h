// Replication positions of every engine, compared by containment: `Covers(r, p)`
// is true when a server at position r has every transaction of position p.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/result.h"
#include "router/gtid.h"

namespace lagrouter::router {

enum class Engine { kPostgres, kMysql };

// PostgreSQL WAL location, "16/B374D848" in text.
struct Lsn {
  uint64_t value = 0;
  bool operator==(const Lsn&) const = default;
};

// monostate = unknown. Positions of different kinds never cover each other.
using Position = std::variant<std::monostate, Lsn, MariadbGtid, MysqlGtidSet>;

Result<Lsn> ParseLsn(std::string_view text);
std::string ToString(Lsn lsn);

// Parses a client-supplied position (the `after=` parameter) for an engine:
// an LSN for postgres; a MariaDB GTID list or a MySQL GTID set for mysql.
Result<Position> ParsePosition(Engine engine, std::string_view text);

bool IsKnown(const Position& p);
bool Covers(const Position& r, const Position& p);
std::string ToString(const Position& p);

// Distance from r up to p, for people: WAL bytes for LSNs, missing
// transactions for GTIDs. Zero when r covers p or the kinds differ.
uint64_t Distance(const Position& r, const Position& p);

}  // namespace lagrouter::router
