// Judgements on a whole configuration, after its sections are parsed: the
// errors that need more than one section (CheckExposure, run by ParseConfig)
// and the warnings about a valid configuration (ConfigWarnings: logged by the
// daemon at start and on reload, printed by --check).
#include <algorithm>

#include "daemon/config/internal.h"

namespace lagrouter::daemon {

// An API anyone on the network can call must be a deliberate choice.
void config_internal::CheckExposure(const Config& cfg) {
  if (!cfg.AuthEnabled() && cfg.tls_client_ca.empty() && !cfg.allow_unauthenticated &&
      !IsLoopbackHost(cfg.listen_host)) {
    Fail("listen.address",
         "'" + cfg.listen_host + ":" + std::to_string(cfg.listen_port) +
             "' is reachable from other hosts, but no [[client]] is configured, so anyone who "
             "can reach it could use the API unauthenticated; configure [[client]] tokens (or "
             "listen.tls_client_ca for mutual TLS), or set listen.allow_unauthenticated = true "
             "to accept that");
  }
}

std::vector<std::string> ConfigWarnings(const Config& config) {
  std::vector<std::string> out;
  // Accepted by CheckExposure only with listen.allow_unauthenticated = true.
  if (!config.AuthEnabled() && config.tls_client_ca.empty() &&
      !IsLoopbackHost(config.listen_host)) {
    out.push_back("no [[client]] configured and listening on " + config.listen_host +
                  ": the API is open to anyone who can reach it (listen.allow_unauthenticated = "
                  "true)");
  }
  for (const auto& k : config.classes) {
    // Its bound passes the limit between any two probes: hysteresis would
    // hold its replicas back after every scheduled probe.
    if (k.max_staleness > router::Duration::zero() && k.max_staleness < 2 * config.probe_interval &&
        k.settle > router::Duration::zero()) {
      out.push_back("class=" + k.name + " max_staleness " +
                    std::to_string(router::ToMillis(k.max_staleness)) +
                    " ms is under two probe intervals: set settle = \"0s\" and ask with wait= (or "
                    "max_wait) so replicas can serve it (see docs/configuration.md)");
    }
  }
  for (const auto& c : config.clusters) {
    const bool verifies = c.sslmode == "verify-full" ||
                          (c.sslmode == "verify-ca" && c.engine == router::Engine::kPostgres);
    const bool remote = std::any_of(c.servers.begin(), c.servers.end(),
                                    [](const ServerConfig& s) { return !IsLoopbackHost(s.host); });
    if (remote && !verifies) {
      out.push_back("cluster=" + c.name +
                    " sslmode=" + (c.sslmode.empty() ? "(default)" : c.sslmode) +
                    ": connections to its servers are not verified against a CA and host name; "
                    "use sslmode = \"verify-full\" with sslrootcert (see docs/security.md)");
    }
  }
  return out;
}

}  // namespace lagrouter::daemon
