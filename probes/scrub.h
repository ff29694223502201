// Error texts of probes go to logs, metric labels and the API: a password
// must never be in one. Servers and client libraries do not echo passwords
// today; this holds whatever a future one does.
#pragma once

#include <string>
#include <string_view>

namespace lagrouter::probes {

// `text` with every occurrence of `secret` replaced by "***"; unchanged when
// `secret` is empty.
std::string ScrubSecret(std::string text, std::string_view secret);

}  // namespace lagrouter::probes
