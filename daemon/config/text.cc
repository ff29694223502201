// The text-level parts of the config: the safety checks run before toml11
// sees the text, and durations ("250ms", "1m30s").
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <iterator>
#include <string>

#include "daemon/config/internal.h"

namespace lagrouter::daemon {
namespace config_internal {

// TOML is UTF-8. toml11 3.7 reads out of bounds while reporting invalid UTF-8
// inside a literal string (found by fuzz_config), so invalid input never
// reaches it. Returns the line of the first invalid sequence, or 0.
size_t InvalidUtf8Line(std::string_view text) {
  size_t line = 1;
  auto cont = [&](size_t i) {
    return i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
  };
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '\n') ++line;
      ++i;
      continue;
    }
    size_t n = 0;                   // continuation bytes
    unsigned lo = 0x80, hi = 0xBF;  // range of the first continuation byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return line;
    }
    if (i + 1 >= text.size()) return line;
    const auto first = static_cast<unsigned char>(text[i + 1]);
    if (first < lo || first > hi) return line;
    for (size_t k = 2; k <= n; ++k) {
      if (!cont(i + k)) return line;
    }
    i += n + 1;
  }
  return 0;
}

// toml11 parses arrays and inline tables recursively, so a deeply nested value
// overflows the stack, which no catch can stop (found by fuzz_config). Returns
// the line where brackets outside strings and comments nest deeper than
// `limit`, or 0.
size_t TooDeepLine(std::string_view text, int limit) {
  int depth = 0;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
    } else if (c == '#') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool triple = text.substr(i, 3) == std::string(3, c);
      i += triple ? 3 : 1;
      for (; i < text.size(); ++i) {
        if (text[i] == '\n') {
          ++line;
          if (!triple) break;  // a one-line string cannot span lines
        } else if (c == '"' && text[i] == '\\') {
          if (i + 1 < text.size() && text[i + 1] == '\n') ++line;
          ++i;  // an escaped character never closes the string
        } else if (text[i] == c && (!triple || text.substr(i, 3) == std::string(3, c))) {
          if (triple) i += 2;
          break;
        }
      }
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return line;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return 0;
}

}  // namespace config_internal

Result<router::Duration> ParseDuration(std::string_view text) {
  const std::string original(text);
  auto bad = [&original](const std::string& why) {
    return MakeError("'" + original + "' is not a duration (" + why +
                     "; use e.g. \"250ms\", \"5s\", \"1m30s\", \"1h\")");
  };
  if (text.empty()) return bad("empty");
  double total_ns = 0;
  while (!text.empty()) {
    size_t i = 0;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == 0) return bad("expected a number");
    double number = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
    if (ec != std::errc() || ptr != text.data() + i) return bad("bad number");
    text.remove_prefix(i);
    size_t u = 0;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) ++u;
    const std::string_view unit = text.substr(0, u);
    text.remove_prefix(u);
    struct Unit {
      std::string_view name;
      double ns;
    };
    static constexpr Unit kUnits[] = {{"ns", 1},   {"us", 1e3},   {"ms", 1e6},   {"s", 1e9},
                                      {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
    const auto* known = std::find_if(std::begin(kUnits), std::end(kUnits),
                                     [&](const Unit& k) { return k.name == unit; });
    if (known == std::end(kUnits)) {
      return bad(unit.empty() ? "missing unit" : "unknown unit '" + std::string(unit) + "'");
    }
    total_ns += number * known->ns;
  }
  if (!std::isfinite(total_ns) || total_ns > 365.0 * 86400e9) return bad("longer than a year");
  return router::Duration{static_cast<int64_t>(std::llround(total_ns))};
}

}  // namespace lagrouter::daemon
