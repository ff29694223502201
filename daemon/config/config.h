// lagrouter's configuration: TOML (toml11), validated at start and on SIGHUP.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "daemon/config/secret.h"
#include "router/position.h"
#include "router/router.h"
#include "router/time.h"

namespace lagrouter::daemon {

struct ServerConfig {
  std::string name;
  std::string host;
  int port = 0;
  uint32_t weight = 1;
};

// Where a cluster's members come from: listed ([[cluster.server]]), or the
// HA manager (discovery = "patroni": GET /cluster of its REST API). Only the
// members come from the manager; roles always come from probing.
struct DiscoveryConfig {
  std::string kind;               // "" (listed) or "patroni"
  std::vector<std::string> urls;  // patroni_urls: "http://host:port", tried in order
  router::Duration interval = std::chrono::seconds(1);
  router::Duration timeout = std::chrono::seconds(1);

  bool enabled() const { return !kind.empty(); }
};

struct ClusterConfig {
  std::string name;
  router::Engine engine = router::Engine::kPostgres;
  std::string user;
  // Where the password comes from (at most one is set); ResolveConfig reads it.
  std::string password_env;   // the name of an environment variable
  std::string password_file;  // a file of mode 0600
  std::string password;       // set by ResolveConfig
  std::string database;       // postgres: dbname
  std::string sslmode, sslrootcert, sslcert, sslkey;
  // Listed, or (with discovery) the members discovered when this
  // configuration was started.
  std::vector<ServerConfig> servers;
  DiscoveryConfig discovery;  // what it last saw: Discovery::Status (not config)
};

// An application allowed to call the API ([[client]]). `clusters` and
// `classes` are required: an allowlist, or ["*"] for all.
struct ClientConfig {
  std::string name;
  // The bearer token's SHA-256; the token itself is never kept. Given as
  // token_sha256, or read from token_file (mode 0600) by ResolveConfig.
  Sha256Digest token_sha256{};
  std::optional<std::string> token_file;  // set: the token is in this file
  bool all_clusters = false;
  std::vector<std::string> clusters;
  bool all_classes = false;
  std::vector<std::string> classes;

  bool AllowsCluster(std::string_view cluster) const;
  bool AllowsClass(std::string_view klass) const;
};

struct Config {
  std::string path;
  std::string listen_host = "127.0.0.1";
  int listen_port = 8432;
  // HTTP event loops; 0 ("auto", the default) until ResolveConfig sets it to
  // the number of cores the process may run on, like nginx's
  // `worker_processes auto`: more loops than cores only add switching.
  int http_threads = 0;
  // No [[client]] and a non-loopback address: refused unless this is set.
  bool allow_unauthenticated = false;
  // HTTPS: both set, or neither; tls_client_ca adds mutual TLS.
  std::string tls_cert, tls_key, tls_client_ca;
  // API clients; when any is configured every /v1/ request needs a token.
  std::vector<ClientConfig> clients;
  // [auth]: also require a client token for /metrics, for /healthz and /readyz.
  bool protect_metrics = false;
  bool protect_health = false;
  router::Duration probe_interval = std::chrono::milliseconds(250);
  router::Duration probe_timeout = std::chrono::seconds(1);
  // [on_demand]: the longest any /v1/route request may wait for an on-demand
  // probe (caps `wait=` and each class's max_wait; 0 turns waiting off), and
  // how many on-demand probes each server may get per second.
  router::Duration max_wait = std::chrono::seconds(1);
  int on_demand_probes_per_second = 1000;
  std::string log_level = "info";
  std::vector<ClusterConfig> clusters;
  std::vector<router::QueryClass> classes;  // sorted by name

  bool AuthEnabled() const { return !clients.empty(); }
  bool Tls() const { return !tls_cert.empty(); }

  // The loosest class's limit: how much primary history must be kept.
  router::Duration HistoryHorizon() const;
};

// 127.0.0.0/8, ::1 and "localhost": reachable from this host only.
bool IsLoopbackHost(std::string_view host);

// "250ms", "5s", "1m30s", "1h", "0s", "1.5s". Strict: unknown units are errors.
Result<router::Duration> ParseDuration(std::string_view text);

// Loads a config file: reads, parses and resolves it. The error names the
// file, the key and the problem, e.g. "lagrouter.toml: class.reports.max_staleness: ...".
Result<Config> LoadConfig(const std::string& path);

// Text to a validated Config, touching nothing else: no environment, no
// secret or TLS files (passwords stay empty; token_file digests unset until
// ResolveConfig). `name` stands for the file in messages.
Result<Config> ParseConfig(const std::string& text, const std::string& name);

// Reads what the config points to: passwords (password_env, password_file),
// client tokens (token_file), and checks the TLS files; sets an "auto"
// listen.threads to UsableCores(). Messages as for LoadConfig, naming
// config.path.
Result<void> ResolveConfig(Config& config);

// The cores this process may run on (its CPU affinity), at least 1.
int UsableCores();

// ParseConfig, then ResolveConfig: what LoadConfig does with the file's text.
Result<Config> LoadConfigText(const std::string& text, const std::string& name);

// What is allowed but probably not meant, one message a warning: an API open
// to the network (allow_unauthenticated), a class under two probe intervals
// with settle > 0, a cluster with remote servers and no verified TLS. Judges
// the servers `config` lists (a discovering cluster's once discovered).
// Logged by the daemon at start and on reload, printed by --check.
std::vector<std::string> ConfigWarnings(const Config& config);

}  // namespace lagrouter::daemon
