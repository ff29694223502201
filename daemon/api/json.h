// Minimal JSON writing for hand-built hot-path answers (/v1/route).
#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

namespace lagrouter::daemon {

inline void AppendJsonString(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  // Characters that need no escape are copied in runs, not one by one: names
  // and hosts rarely hold any that do.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

// The decimal digits of `n`, as std::to_string writes them, without its
// temporary string.
inline void AppendJsonNumber(std::string& out, std::integral auto n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, static_cast<size_t>(end - digits));
}

}  // namespace lagrouter::daemon
