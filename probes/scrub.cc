#include "probes/scrub.h"

namespace lagrouter::probes {

std::string ScrubSecret(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  static constexpr std::string_view kMask = "***";
  for (size_t pos = 0; (pos = text.find(secret, pos)) != std::string::npos; pos += kMask.size()) {
    text.replace(pos, secret.size(), kMask);
  }
  return text;
}

}  // namespace lagrouter::probes
