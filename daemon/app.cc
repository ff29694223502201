#include "daemon/app.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <thread>

#include "daemon/api/http_api.h"
#include "daemon/api/waits.h"
#include "daemon/http/server.h"
#include "daemon/metrics/metrics.h"
#include "daemon/monitor/discovery.h"
#include "daemon/monitor/monitor.h"
#include "daemon/version.h"

namespace lagrouter::daemon {

namespace {

// One running configuration: probes, metrics, API and its listener. A reload
// starts a new Instance beside the old one, then stops the old one.
struct Instance {
  std::shared_ptr<const Config> config;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<Monitor> monitor;
  std::unique_ptr<Waits> waits;
  std::unique_ptr<HttpApi> api;
  std::unique_ptr<HttpServer> server;

  ~Instance() {
    // Parked route requests are answered first, so the server's drain
    // writes them out; then no request is left waiting for a probe.
    if (waits) waits->Close();
    if (server) server->Stop();
    if (monitor) monitor->Stop();
  }
};

// The exit code of a daemon that could not start: 2, as for an invalid
// configuration, when the TLS files are unusable; 1 otherwise.
int ExitCode(StartError::Kind kind) {
  switch (kind) {
    case StartError::Kind::kTls: return 2;
    case StartError::Kind::kListen:
    case StartError::Kind::kEventLoop: break;
  }
  return 1;
}

// Builds and starts an Instance; on failure returns nullptr and says why.
// `discovery`: what member discovery saw, read by the API and the metrics;
// `previous`: the running instance on a reload (its listening socket is
// shared when the address stays the same).
std::unique_ptr<Instance> StartInstance(std::shared_ptr<const Config> config,
                                        ProcessCounters& counters, const DiscoveryBoards& discovery,
                                        StartError* error, const Instance* previous = nullptr) {
  auto in = std::make_unique<Instance>();
  in->config = config;
  in->metrics = std::make_unique<Metrics>(*config, counters, &discovery);
  in->monitor = std::make_unique<Monitor>(config, in->metrics.get(), RealProbes());
  in->waits = std::make_unique<Waits>(config, *in->monitor, *in->monitor, in->metrics.get());
  in->monitor->OnPublish([waits = in->waits.get()](size_t cluster) {
    waits->OnPublish(cluster, router::Clock::now());
  });
  in->api =
      std::make_unique<HttpApi>(config, *in->monitor, *in->metrics, in->waits.get(), &discovery);
  HttpServer::Options options;
  options.host = config->listen_host;
  options.port = config->listen_port;
  options.threads = config->http_threads;
  options.tls = config->Tls();
  options.tls_files = {config->tls_cert, config->tls_key, config->tls_client_ca};
  options.accept_errors = &counters.accept_errors;
  HttpApi* api = in->api.get();
  auto server = HttpServer::Bind(
      options, [api](const HttpRequest& req) { return api->Handle(req); },
      previous != nullptr ? previous->server.get() : nullptr);
  if (!server) {
    *error = {server.kind(), server.error()};
    return nullptr;
  }
  in->server = std::move(server).value();
  in->waits->Start();
  in->monitor->Start();
  return in;
}

// Starts accepting. A bound listener queues connections until then (and on a
// reload to the same address the old server keeps answering from the shared
// queue), so a reload can wait for its first probe cycle without refusing anyone.
void Serve(Instance& in) {
  in.server->Start();
}

void LogConfiguration(const Config& config) {
  spdlog::info(
      "lagrouter {} listening on {}://{}:{} ({} event loops, {} clusters, {} classes, probe every "
      "{} ms)",
      kVersion, config.Tls() ? "https" : "http", config.listen_host, config.listen_port,
      config.http_threads, config.clusters.size(), config.classes.size(),
      router::ToMillis(config.probe_interval));
  if (config.AuthEnabled()) {
    spdlog::info("API authentication on: {} clients; /metrics {}, /healthz and /readyz {}",
                 config.clients.size(), config.protect_metrics ? "protected" : "open",
                 config.protect_health ? "protected" : "open");
  } else if (!config.tls_client_ca.empty()) {
    spdlog::info("no [[client]] configured; callers are authenticated by mutual TLS only");
  }
  // What the configuration allows but probably does not mean (daemon/config/validate.cc).
  for (const auto& warning : ConfigWarnings(config)) spdlog::warn("{}", warning);
}

// Starts `config` beside the running instance and, once its first probe
// cycle is done (bounded), swaps it in; the old one drains and stops. False
// (and `error` says why) when it could not start: the running one stays.
bool Replace(std::unique_ptr<Instance>& running, std::shared_ptr<const Config> config,
             ProcessCounters& counters, const Discovery& discovery, std::string* error) {
  StartError start_error;
  auto next = StartInstance(config, counters, discovery, &start_error, running.get());
  if (!next) {
    *error = start_error.message;
    return false;
  }
  // Answer from real data at once: the old instance keeps serving while we
  // wait (bounded) for the first probe cycle.
  const auto deadline = router::Clock::now() + config->probe_timeout + 2 * config->probe_interval;
  while (!next->monitor->Ready() && router::Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Serve(*next);
  // Destroys the old instance: it drains (answers what is under way), then
  // closes its connections; its clients reconnect to the new one.
  std::swap(running, next);
  next.reset();
  return true;
}

// SIGHUP: the new configuration replaces the running one only when it is
// valid and its listener and first probe cycle are up; otherwise the running
// one stays, and the log says why. Discovering clusters keep the members
// they know (Discovery::Adopt).
void Reload(std::unique_ptr<Instance>& running, Discovery& discovery, ProcessCounters& counters) {
  const std::string path = running->config->path;
  auto loaded = LoadConfig(path);
  if (!loaded) {
    counters.reloads_rejected.fetch_add(1);
    spdlog::error("SIGHUP: reload rejected, keeping the running configuration: {}", loaded.error());
    return;
  }
  const bool same_listener = loaded->listen_host == running->config->listen_host &&
                             loaded->listen_port == running->config->listen_port;
  if (!same_listener && PortInUse(loaded->listen_host, loaded->listen_port)) {
    counters.reloads_rejected.fetch_add(1);
    spdlog::error("SIGHUP: reload rejected, keeping the running configuration: {}:{} is in use",
                  loaded->listen_host, loaded->listen_port);
    return;
  }
  auto config = discovery.Adopt(std::move(loaded).value());
  std::string error;
  if (!Replace(running, config, counters, discovery, &error)) {
    counters.reloads_rejected.fetch_add(1);
    discovery.Adopt(*running->config);  // back to the running file's clusters
    spdlog::error("SIGHUP: reload rejected, keeping the running configuration: {}", error);
    return;
  }
  counters.reloads_applied.fetch_add(1);
  spdlog::info("SIGHUP: configuration reloaded from {}", path);
  LogConfiguration(*running->config);
}

// True when every cluster of `a` has the same servers as in `b`.
bool SameMemberSets(const Config& a, const Config& b) {
  if (a.clusters.size() != b.clusters.size()) return false;
  for (size_t i = 0; i < a.clusters.size(); ++i) {
    if (!SameMembers(a.clusters[i].servers, b.clusters[i].servers)) return false;
  }
  return true;
}

// A discovering cluster's members changed: the members known now are probed
// by a new instance beside the running one, exactly as on a reload (the
// file is not re-read).
void ApplyDiscovered(std::unique_ptr<Instance>& running, Discovery& discovery,
                     ProcessCounters& counters) {
  auto config = discovery.Current();
  if (SameMemberSets(*config, *running->config)) return;
  std::string error;
  if (!Replace(running, config, counters, discovery, &error)) {
    spdlog::error("discovery: cannot start probing the new members, keeping the old set: {}",
                  error);
    return;
  }
  for (const auto& c : running->config->clusters) {
    if (!c.discovery.enabled()) continue;
    std::string names;
    for (const auto& s : c.servers) names += (names.empty() ? "" : ", ") + s.name;
    spdlog::info("cluster={} discovery: probing {} members ({})", c.name, c.servers.size(),
                 names.empty() ? "none" : names);
  }
}

}  // namespace

void TuneAllocator() {
  mallopt(M_MMAP_THRESHOLD, 16 * 1024);
}

int RunDaemon(std::shared_ptr<const Config> config) {
  TuneAllocator();
  // Signals are taken synchronously by this thread; every thread started
  // below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);  // the discovery thread: a member set changed
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Every open connection is a descriptor: take the hard limit, not the
  // usual soft 1024, so that connection bursts are not refused early.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  // A probe holds one connection per server, twice over during a reload (the
  // new configuration connects before the old lets go), plus the clients'.
  size_t servers = 0;
  for (const auto& c : config->clusters) servers += c.servers.size();
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && 2 * servers + 1024 > files.rlim_cur) {
    spdlog::warn(
        "{} servers need about {} file descriptors (two connections each during a reload, "
        "plus clients) but the limit is {}: raise it (systemd LimitNOFILE, ulimit -n)",
        servers, 2 * servers + 1024, files.rlim_cur);
  }

  // The listener allows SO_REUSEPORT for reloads: refuse to share the port
  // with another process at start.
  if (PortInUse(config->listen_host, config->listen_port)) {
    spdlog::error("cannot listen on {}:{}: the address is in use", config->listen_host,
                  config->listen_port);
    return ExitCode(StartError::Kind::kListen);
  }
  // Discovering clusters are asked for their members once before the
  // first probes start (bounded by discovery_timeout per URL).
  Discovery discovery(FetchHttp());
  config = discovery.Adopt(*config);
  StartError error;
  ProcessCounters counters;  // outlive every configuration
  auto running = StartInstance(config, counters, discovery, &error);
  if (!running) {
    spdlog::error("{}", error.message);
    return ExitCode(error.kind);
  }
  Serve(*running);
  LogConfiguration(*config);
  const pthread_t main_thread = pthread_self();
  discovery.Start([main_thread] { pthread_kill(main_thread, SIGUSR1); });

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      Reload(running, discovery, counters);
      continue;
    }
    if (sig == SIGUSR1) {
      ApplyDiscovered(running, discovery, counters);
      continue;
    }
    spdlog::info("signal {}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  discovery.Stop();
  running.reset();  // stops accepting, drains (answers what is under way), stops the probes
  spdlog::info("stopped");
  return 0;
}

}  // namespace lagrouter::daemon
