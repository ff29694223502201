// libFuzzer target: daemon::ParsePatroniCluster and NextMembers on arbitrary
// answers of Patroni's GET /cluster. A manager's reply is input from the
// network: it must give members that lagrouter can probe, or an error, never
// a crash, an exception or a member set that drops what was known on a
// partial or failed answer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>

#include "daemon/monitor/discovery.h"

using lagrouter::daemon::DiscoveryState;
using lagrouter::daemon::ServerConfig;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const auto parsed = lagrouter::daemon::ParsePatroniCluster(body);
  if (parsed) {
    std::set<std::string> names;
    std::set<std::pair<std::string, int>> addresses;
    for (const auto& m : parsed->members) {
      if (m.name.empty() || m.host.empty() || m.port < 1 || m.port > 65535) std::abort();
      if (!names.insert(m.name).second || !addresses.insert({m.host, m.port}).second) std::abort();
    }
  } else if (parsed.error().empty()) {
    std::abort();  // an error says why
  }
  ServerConfig known;
  known.name = "known-1";
  known.host = "10.0.0.1";
  known.port = 5432;
  const auto step = lagrouter::daemon::NextMembers({known}, parsed);
  const bool kept = !step.servers.empty() &&
                    std::any_of(step.servers.begin(), step.servers.end(),
                                [](const ServerConfig& s) { return s.name == "known-1"; });
  if (step.state != DiscoveryState::kOk && !kept) std::abort();  // partial or none: nothing removed
  if (step.state == DiscoveryState::kOk && step.servers.empty()) std::abort();
  return 0;
}
