// libFuzzer target: daemon::ParseConfig on arbitrary TOML. toml11 throws on bad
// input; ParseConfig must turn every failure into an error naming the problem
// and never let an exception (or a crash) escape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = lagrouter::daemon::ParseConfig(text, "fuzz.toml");
  if (config) {
    // A valid config is usable: it names clusters and classes.
    if (config->clusters.empty() || config->classes.empty()) std::abort();
  } else if (config.error().rfind("fuzz.toml", 0) != 0) {
    std::abort();  // the message names the file
  }
  return 0;
}
