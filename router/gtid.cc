#include "router/gtid.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <tuple>

#include "common/text.h"

namespace lagrouter::router {
namespace {

// Largest MySQL GNO (GNO_END - 1 in the server sources).
constexpr uint64_t kMaxGno = (uint64_t{1} << 63) - 1;
// MySQL 8.4 tags: 1-32 characters, [a-z_][a-z0-9_]*, case-insensitive.
constexpr size_t kMaxTagLength = 32;

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsHex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}
char Lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Splits on `sep`, keeping empty pieces so that "a,,b" and "a," are rejected.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// Strict unsigned decimal: digits only (no sign, no spaces), at most `max`.
bool ParseUnsigned(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool ParseUuid(std::string_view s, std::string* out) {
  if (s.size() != 36) return false;
  std::string uuid(s);
  for (size_t i = 0; i < uuid.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? uuid[i] != '-' : !IsHex(uuid[i])) return false;
    uuid[i] = Lower(uuid[i]);
  }
  *out = std::move(uuid);
  return true;
}

bool ParseTag(std::string_view s, std::string* out) {
  if (s.empty() || s.size() > kMaxTagLength) return false;
  std::string tag;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = Lower(s[i]);
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (i > 0 && IsDigit(c));
    if (!ok) return false;
    tag.push_back(c);
  }
  *out = std::move(tag);
  return true;
}

// Sorts and merges overlapping or adjacent intervals.
void Normalise(std::vector<MysqlGtidSet::Interval>* intervals) {
  auto& v = *intervals;
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.last) < std::tie(b.first, b.last);
  });
  std::vector<MysqlGtidSet::Interval> merged;
  for (const auto& iv : v) {
    // last <= kMaxGno < 2^64 - 1, so last + 1 cannot overflow.
    if (!merged.empty() && iv.first <= merged.back().last + 1) {
      merged.back().last = std::max(merged.back().last, iv.last);
    } else {
      merged.push_back(iv);
    }
  }
  v = std::move(merged);
}

const MariadbGtid::Entry* FindDomain(const MariadbGtid& g, uint32_t domain) {
  for (const auto& e : g.entries) {
    if (e.domain == domain) return &e;
  }
  return nullptr;
}

const MysqlGtidSet::Source* FindSource(const MysqlGtidSet& g, const std::string& uuid,
                                       const std::string& tag) {
  for (const auto& s : g.sources) {
    if (s.uuid == uuid && s.tag == tag) return &s;
  }
  return nullptr;
}

// Number of GNOs of [iv.first, iv.last] that are in `src` (whose intervals are
// disjoint, as parsing guarantees). Saturates instead of overflowing.
uint64_t Overlap(const MysqlGtidSet::Source* src, const MysqlGtidSet::Interval& iv) {
  if (src == nullptr) return 0;
  uint64_t n = 0;
  for (const auto& r : src->intervals) {
    uint64_t lo = std::max(r.first, iv.first);
    uint64_t hi = std::min(r.last, iv.last);
    if (lo <= hi) n += hi - lo + 1;
  }
  return n;
}

uint64_t Length(const MysqlGtidSet::Interval& iv) {
  return iv.last >= iv.first ? iv.last - iv.first + 1 : 0;
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

}  // namespace

Result<MariadbGtid> ParseMariadbGtid(std::string_view text) {
  MariadbGtid gtid;
  std::string_view all = Trim(text);
  // An empty list is a valid position: a server that has replicated nothing.
  if (all.empty()) return gtid;
  for (std::string_view raw : Split(all, ',')) {
    std::string_view item = Trim(raw);
    if (item.empty()) return MakeError("bad MariaDB GTID list " + Quote(text) + ": empty entry");
    std::vector<std::string_view> parts = Split(item, '-');
    uint64_t domain = 0, server_id = 0, seq = 0;
    if (parts.size() != 3 ||
        !ParseUnsigned(parts[0], std::numeric_limits<uint32_t>::max(), &domain) ||
        !ParseUnsigned(parts[1], std::numeric_limits<uint32_t>::max(), &server_id) ||
        !ParseUnsigned(parts[2], std::numeric_limits<uint64_t>::max(), &seq)) {
      return MakeError("bad MariaDB GTID " + Quote(item) + " in " + Quote(text) +
                       ": want domain-server_id-seq_no");
    }
    if (FindDomain(gtid, static_cast<uint32_t>(domain)) != nullptr) {
      return MakeError("bad MariaDB GTID list " + Quote(text) + ": domain " +
                       std::to_string(domain) + " appears twice");
    }
    gtid.entries.push_back({static_cast<uint32_t>(domain), static_cast<uint32_t>(server_id), seq});
  }
  std::sort(gtid.entries.begin(), gtid.entries.end(),
            [](const auto& a, const auto& b) { return a.domain < b.domain; });
  return gtid;
}

Result<MysqlGtidSet> ParseMysqlGtidSet(std::string_view text) {
  MysqlGtidSet set;
  std::string_view all = Trim(text);
  if (all.empty()) return set;
  for (std::string_view raw : Split(all, ',')) {
    std::string_view item = Trim(raw);
    auto bad = [&](const std::string& why) {
      return MakeError("bad MySQL GTID set " + Quote(text) + ": " + why);
    };
    if (item.empty()) return bad("empty entry");
    std::vector<std::string_view> parts = Split(item, ':');
    std::string uuid;
    if (!ParseUuid(parts[0], &uuid)) return bad("bad source uuid " + Quote(parts[0]));
    if (parts.size() < 2) return bad("no intervals after " + Quote(parts[0]));
    // A tag applies to the intervals after it: "uuid:1-5:tag:1-3:7".
    std::string tag;
    bool need_interval = false;
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string_view p = parts[i];
      if (!p.empty() && !IsDigit(p[0])) {
        if (need_interval) return bad("tag " + Quote(tag) + " has no intervals");
        if (!ParseTag(p, &tag)) return bad("bad tag " + Quote(p));
        need_interval = true;
        continue;
      }
      size_t dash = p.find('-');
      std::string_view a = p.substr(0, dash);
      std::string_view b = dash == std::string_view::npos ? a : p.substr(dash + 1);
      uint64_t first = 0, last = 0;
      if (!ParseUnsigned(a, kMaxGno, &first) || !ParseUnsigned(b, kMaxGno, &last)) {
        return bad("bad interval " + Quote(p));
      }
      if (first == 0) return bad("interval " + Quote(p) + " starts at 0");
      if (first > last) return bad("reversed interval " + Quote(p));
      need_interval = false;
      auto it = std::find_if(set.sources.begin(), set.sources.end(),
                             [&](const auto& s) { return s.uuid == uuid && s.tag == tag; });
      if (it == set.sources.end()) {
        set.sources.push_back({uuid, tag, {}});
        it = set.sources.end() - 1;
      }
      it->intervals.push_back({first, last});
    }
    if (need_interval) return bad("tag " + Quote(tag) + " has no intervals");
  }
  // The same uuid may appear in several entries (MySQL merges them too).
  for (auto& s : set.sources) Normalise(&s.intervals);
  std::sort(set.sources.begin(), set.sources.end(), [](const auto& a, const auto& b) {
    return std::tie(a.uuid, a.tag) < std::tie(b.uuid, b.tag);
  });
  return set;
}

bool Covers(const MariadbGtid& r, const MariadbGtid& p) {
  for (const auto& e : p.entries) {
    const MariadbGtid::Entry* have = FindDomain(r, e.domain);
    if (have == nullptr || have->seq < e.seq) return false;
  }
  return true;
}

bool Covers(const MysqlGtidSet& r, const MysqlGtidSet& p) {
  for (const auto& s : p.sources) {
    const MysqlGtidSet::Source* have = FindSource(r, s.uuid, s.tag);
    for (const auto& iv : s.intervals) {
      if (Overlap(have, iv) != Length(iv)) return false;
    }
  }
  return true;
}

uint64_t Missing(const MariadbGtid& r, const MariadbGtid& p) {
  uint64_t n = 0;
  for (const auto& e : p.entries) {
    const MariadbGtid::Entry* have = FindDomain(r, e.domain);
    uint64_t got = have == nullptr ? 0 : have->seq;
    if (got < e.seq) n = SaturatingAdd(n, e.seq - got);
  }
  return n;
}

uint64_t Missing(const MysqlGtidSet& r, const MysqlGtidSet& p) {
  uint64_t n = 0;
  for (const auto& s : p.sources) {
    const MysqlGtidSet::Source* have = FindSource(r, s.uuid, s.tag);
    for (const auto& iv : s.intervals) n = SaturatingAdd(n, Length(iv) - Overlap(have, iv));
  }
  return n;
}

std::string ToString(const MariadbGtid& g) {
  std::string out;
  for (const auto& e : g.entries) {
    if (!out.empty()) out += ',';
    out +=
        std::to_string(e.domain) + "-" + std::to_string(e.server_id) + "-" + std::to_string(e.seq);
  }
  return out;
}

// MySQL's own format, one entry per uuid with tagged intervals after the
// untagged ones: "uuid:1-5:tag:1-3,uuid2:7".
std::string ToString(const MysqlGtidSet& g) {
  std::string out;
  const std::string* last_uuid = nullptr;
  for (const auto& s : g.sources) {
    if (s.intervals.empty()) continue;
    if (last_uuid == nullptr || *last_uuid != s.uuid) {
      if (!out.empty()) out += ',';
      out += s.uuid;
      last_uuid = &s.uuid;
    }
    if (!s.tag.empty()) out += ":" + s.tag;
    for (const auto& iv : s.intervals) {
      out += ":" + std::to_string(iv.first);
      if (iv.last != iv.first) out += "-" + std::to_string(iv.last);
    }
  }
  return out;
}

}  // namespace lagrouter::router
