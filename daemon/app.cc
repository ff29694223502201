#include "daemon/app.h"

#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "daemon/http_api.h"
#include "daemon/metrics.h"
#include "daemon/monitor.h"
#include "daemon/tls.h"
#include "daemon/version.h"

namespace lagrouter::daemon {

int RunDaemon(std::shared_ptr<const Config> config) {
  // Signals are taken synchronously by this thread; every thread started
  // below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Metrics metrics(*config);
  Monitor monitor(config, &metrics, RealProbes());
  HttpApi api(config, monitor, metrics);
  std::unique_ptr<httplib::Server> server_ptr;
  if (config->Tls()) {
    std::string tls_error;
    server_ptr = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
      auto ok = ConfigureServerTls(ctx, {config->tls_cert, config->tls_key, config->tls_client_ca});
      if (!ok) tls_error = ok.error();
      return ok.ok();
    });
    if (!server_ptr->is_valid()) {
      spdlog::error("cannot set up HTTPS: {}", tls_error.empty() ? "OpenSSL failed" : tls_error);
      return 2;
    }
  } else {
    server_ptr = std::make_unique<httplib::Server>();
  }
  httplib::Server& server = *server_ptr;
  api.Install(server);
  if (!BindServer(server, config->listen_host, config->listen_port)) {
    spdlog::error("cannot listen on {}:{} (in use, or not an address of this host)",
                  config->listen_host, config->listen_port);
    return 1;
  }
  monitor.Start();
  std::thread http([&server] { server.listen_after_bind(); });
  spdlog::info("lagrouter {} listening on {}://{}:{} ({} clusters, {} classes, probe every {} ms)",
               kVersion, config->Tls() ? "https" : "http", config->listen_host, config->listen_port,
               config->clusters.size(), config->classes.size(),
               router::ToMillis(config->probe_interval));
  if (config->AuthEnabled()) {
    spdlog::info("API authentication on: {} clients; /metrics {}, /healthz and /readyz {}",
                 config->clients.size(), config->protect_metrics ? "protected" : "open",
                 config->protect_health ? "protected" : "open");
  } else if (!config->tls_client_ca.empty()) {
    spdlog::info("no [[client]] configured; callers are authenticated by mutual TLS only");
  } else if (!IsLoopbackHost(config->listen_host)) {
    spdlog::warn(
        "no [[client]] configured and listening on {}: the API is open to anyone who can reach "
        "it (listen.allow_unauthenticated = true)",
        config->listen_host);
  }
  for (const auto& c : config->clusters) {
    const bool verifies = c.sslmode == "verify-full" ||
                          (c.sslmode == "verify-ca" && c.engine == router::Engine::kPostgres);
    const bool remote = std::any_of(c.servers.begin(), c.servers.end(),
                                    [](const ServerConfig& s) { return !IsLoopbackHost(s.host); });
    if (remote && !verifies) {
      spdlog::warn(
          "cluster={} sslmode={}: connections to its servers are not verified against a CA and "
          "host name; use sslmode = \"verify-full\" with sslrootcert (see docs/security.md)",
          c.name, c.sslmode.empty() ? "(default)" : c.sslmode);
    }
  }

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      spdlog::warn("SIGHUP: live config reload is not implemented yet; restart to apply changes");
      continue;
    }
    spdlog::info("signal {}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  server.stop();
  http.join();
  monitor.Stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace lagrouter::daemon
