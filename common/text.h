// Text helpers shared by every part: trimming, case-insensitive comparison and
// safe echoing of untrusted text (requests, server replies) in messages.
#pragma once

#include <string>
#include <string_view>

namespace lagrouter {

// Without leading and trailing ASCII white space (space, \t, \n, \r, \f, \v).
std::string_view Trim(std::string_view s);

// ASCII case-insensitive equality ("Bearer" == "bearer").
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Printable ASCII only, so that a message stays valid UTF-8 (and valid JSON)
// whatever was sent: other bytes become '?'. At most `limit` bytes, then "...".
std::string Printable(std::string_view s, size_t limit);

// Untrusted text quoted for a message: 'text', printable, at most 64 bytes.
std::string Quote(std::string_view s);

}  // namespace lagrouter
