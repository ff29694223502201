#include "router/position.h"

#include <cctype>
#include <charconv>

#include "common/text.h"

namespace lagrouter::router {
namespace {

Result<uint32_t> ParseHex32(std::string_view text) {
  if (text.empty() || text.size() > 8) return MakeError("expected 1 to 8 hex digits");
  uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return MakeError("'" + std::string(text) + "' is not hexadecimal");
  }
  return value;
}

}  // namespace

Result<Lsn> ParseLsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return MakeError("an LSN looks like '16/B374D848' (two hex numbers around '/')");
  }
  auto hi = ParseHex32(text.substr(0, slash));
  auto lo = ParseHex32(text.substr(slash + 1));
  if (!hi || !lo) {
    return MakeError("an LSN looks like '16/B374D848' (two hex numbers around '/'), got '" +
                     std::string(text.substr(0, 40)) + "'");
  }
  return Lsn{(uint64_t{*hi} << 32) | *lo};
}

std::string ToString(Lsn lsn) {
  char buf[24];
  auto* end = std::to_chars(buf, buf + sizeof buf, lsn.value >> 32, 16).ptr;
  *end++ = '/';
  end = std::to_chars(end, buf + sizeof buf, lsn.value & 0xffffffffu, 16).ptr;
  std::string out(buf, end);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Result<Position> ParsePosition(Engine engine, std::string_view text) {
  if (engine == Engine::kPostgres) {
    LAGROUTER_ASSIGN_OR_RETURN(const Lsn lsn, ParseLsn(text));
    return Position{lsn};
  }
  // Whitespace alone would parse as an empty GTID list, which prints as "" and
  // is then rejected: reject it here too.
  if (Trim(text).empty()) {
    return MakeError("empty GTID position");
  }
  // A MySQL GTID set names source UUIDs ("uuid:1-5"); MariaDB's has none.
  if (text.find(':') != std::string_view::npos) {
    LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(auto set, ParseMysqlGtidSet(text), "bad MySQL GTID set: ");
    return Position{std::move(set)};
  }
  LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(auto gtid, ParseMariadbGtid(text),
                                     "bad MariaDB GTID position: ");
  return Position{std::move(gtid)};
}

bool IsKnown(const Position& p) {
  return !std::holds_alternative<std::monostate>(p);
}

bool Covers(const Position& r, const Position& p) {
  if (r.index() != p.index()) return false;
  if (const auto* rl = std::get_if<Lsn>(&r)) return rl->value >= std::get<Lsn>(p).value;
  if (const auto* rm = std::get_if<MariadbGtid>(&r)) return Covers(*rm, std::get<MariadbGtid>(p));
  if (const auto* rs = std::get_if<MysqlGtidSet>(&r)) return Covers(*rs, std::get<MysqlGtidSet>(p));
  return false;  // unknown covers nothing and is covered by nothing
}

uint64_t Distance(const Position& r, const Position& p) {
  if (r.index() != p.index()) return 0;
  if (const auto* rl = std::get_if<Lsn>(&r)) {
    const auto pv = std::get<Lsn>(p).value;
    return pv > rl->value ? pv - rl->value : 0;
  }
  if (const auto* rm = std::get_if<MariadbGtid>(&r)) return Missing(*rm, std::get<MariadbGtid>(p));
  if (const auto* rs = std::get_if<MysqlGtidSet>(&r)) {
    return Missing(*rs, std::get<MysqlGtidSet>(p));
  }
  return 0;
}

std::string ToString(const Position& p) {
  if (const auto* l = std::get_if<Lsn>(&p)) return ToString(*l);
  if (const auto* m = std::get_if<MariadbGtid>(&p)) return ToString(*m);
  if (const auto* s = std::get_if<MysqlGtidSet>(&p)) return ToString(*s);
  return "";
}

}  // namespace lagrouter::router
