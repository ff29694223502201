#include "daemon/config/config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include "daemon/config/internal.h"

namespace lagrouter::daemon {

bool ClientConfig::AllowsCluster(std::string_view cluster) const {
  return all_clusters || std::find(clusters.begin(), clusters.end(), cluster) != clusters.end();
}

bool ClientConfig::AllowsClass(std::string_view klass) const {
  return all_classes || std::find(classes.begin(), classes.end(), klass) != classes.end();
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  // 127.0.0.0/8 in dotted quad form.
  if (host.substr(0, 4) != "127.") return false;
  int parts = 0;
  for (size_t i = 0; i <= host.size();) {
    size_t j = host.find('.', i);
    if (j == std::string_view::npos) j = host.size();
    int v = -1;
    auto [ptr, ec] = std::from_chars(host.data() + i, host.data() + j, v);
    if (ec != std::errc() || ptr != host.data() + j || v < 0 || v > 255) return false;
    ++parts;
    i = j + 1;
  }
  return parts == 4;
}

router::Duration Config::HistoryHorizon() const {
  router::Duration horizon{0};
  for (const auto& c : classes) horizon = std::max(horizon, c.max_staleness);
  return horizon;
}

Result<void> config_internal::CheckOwnToken(const ClientConfig& client,
                                            std::span<const ClientConfig> earlier,
                                            bool files_read) {
  if (!files_read && client.token_file) return Ok();
  for (const auto& other : earlier) {
    if (!files_read && other.token_file) continue;
    if (DigestEqual(other.token_sha256, client.token_sha256)) {
      return MakeError("client." + client.name + ": has the same token as client '" + other.name +
                       "'; give every client its own");
    }
  }
  return Ok();
}

Result<Config> LoadConfigText(const std::string& text, const std::string& name) {
  LAGROUTER_ASSIGN_OR_RETURN(Config config, ParseConfig(text, name));
  LAGROUTER_RETURN_IF_ERROR(ResolveConfig(config));
  return config;
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeError(path + ": cannot open the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadConfigText(ss.str(), path);
}

}  // namespace lagrouter::daemon
