#include "daemon/app.h"

#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "daemon/http_api.h"
#include "daemon/metrics.h"
#include "daemon/monitor.h"
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
  httplib::Server server;
  api.Install(server);
  if (!BindServer(server, config->listen_host, config->listen_port)) {
    spdlog::error("cannot listen on {}:{} (in use, or not an address of this host)",
                  config->listen_host, config->listen_port);
    return 1;
  }
  monitor.Start();
  std::thread http([&server] { server.listen_after_bind(); });
  spdlog::info(
      "lagrouter {} listening on http://{}:{} ({} clusters, {} classes, probe every {} ms)",
      kVersion, config->listen_host, config->listen_port, config->clusters.size(),
      config->classes.size(), router::ToMillis(config->probe_interval));

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
