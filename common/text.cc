#include "common/text.h"

#include <algorithm>
#include <cctype>

namespace lagrouter {

std::string_view Trim(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Printable(std::string_view s, size_t limit) {
  std::string out;
  out.reserve(std::min(s.size(), limit) + 3);
  for (unsigned char c : s.substr(0, limit))
    out.push_back(c < 0x20 || c >= 0x7f ? '?' : static_cast<char>(c));
  if (s.size() > limit) out += "...";
  return out;
}

std::string Quote(std::string_view s) {
  return "'" + Printable(s, 64) + "'";
}

}  // namespace lagrouter
