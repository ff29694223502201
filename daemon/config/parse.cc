// Config text to a validated Config, one function per section. Pure: what
// the config points to (secrets, TLS files) is read by ResolveConfig.
#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

#include "daemon/config/internal.h"

namespace lagrouter::daemon {

using namespace config_internal;  // NOLINT(google-build-using-namespace): the parser's own toolkit

namespace {

void RequireValidName(const std::string& key, const std::string& name) {
  if (!ValidName(name)) Fail(key, "'" + name + "' must be 1-64 letters, digits, '-', '_' or '.'");
}

// "host:port" or "[v6]:port".
void LoadListenAddress(const Table& listen, Config& cfg) {
  const std::string address = GetString(listen, "listen", "address", false, "127.0.0.1:8432");
  const auto colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      std::from_chars(address.data() + colon + 1, address.data() + address.size(), port).ptr !=
          address.data() + address.size() ||
      port < 1 || port > 65535) {
    Fail("listen.address", "'" + address + "' must be host:port, e.g. \"127.0.0.1:8432\"");
  }
  cfg.listen_host = address.substr(0, colon);
  if (cfg.listen_host.size() > 2 && cfg.listen_host.front() == '[') {
    cfg.listen_host = cfg.listen_host.substr(1, cfg.listen_host.size() - 2);
  }
  cfg.listen_port = port;
}

void LoadListen(const Table& root, Config& cfg) {
  const Table* listen = Find(root, "listen");
  if (listen == nullptr) return;
  if (!listen->is_table()) Fail("listen", "must be a table");
  CheckKeys(
      *listen, "listen",
      {"address", "threads", "allow_unauthenticated", "tls_cert", "tls_key", "tls_client_ca"});
  LoadListenAddress(*listen, cfg);
  // "auto" (or omitted): one per usable core, set by ResolveConfig.
  const Table* threads = Find(*listen, "threads");
  if (threads == nullptr || (threads->is_string() && threads->as_string().str == "auto")) {
    cfg.http_threads = 0;
  } else if (threads->is_string()) {
    Fail("listen.threads", "'" + threads->as_string().str +
                               "' is not a number of event loops "
                               "(1-1024) or \"auto\"");
  } else {
    cfg.http_threads = static_cast<int>(GetInt(*listen, "listen", "threads", 0, 1, 1024));
  }
  cfg.allow_unauthenticated = GetBool(*listen, "listen", "allow_unauthenticated", false);
  cfg.tls_cert = GetString(*listen, "listen", "tls_cert", false);
  cfg.tls_key = GetString(*listen, "listen", "tls_key", false);
  cfg.tls_client_ca = GetString(*listen, "listen", "tls_client_ca", false);
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    Fail(cfg.tls_cert.empty() ? "listen.tls_cert" : "listen.tls_key",
         "HTTPS needs both tls_cert and tls_key");
  }
  if (!cfg.tls_client_ca.empty() && cfg.tls_cert.empty()) {
    Fail("listen.tls_client_ca", "mutual TLS needs HTTPS: set tls_cert and tls_key too");
  }
}

void LoadProbe(const Table& root, Config& cfg) {
  const Table* probe = Find(root, "probe");
  if (probe == nullptr) return;
  if (!probe->is_table()) Fail("probe", "must be a table");
  CheckKeys(*probe, "probe", {"interval", "timeout"});
  cfg.probe_interval = GetDuration(*probe, "probe", "interval", cfg.probe_interval);
  cfg.probe_timeout = GetDuration(*probe, "probe", "timeout", cfg.probe_timeout);
  if (cfg.probe_interval < std::chrono::milliseconds(10)) {
    Fail("probe.interval", "must be at least 10ms");
  }
  if (cfg.probe_timeout < std::chrono::milliseconds(10)) {
    Fail("probe.timeout", "must be at least 10ms");
  }
}

// The longest a request may be parked waiting for an on-demand probe; a
// stays well under the HTTP server's 30 s request timeout.
constexpr router::Duration kMaxWaitCeiling = std::chrono::seconds(10);

void LoadOnDemand(const Table& root, Config& cfg) {
  const Table* on_demand = Find(root, "on_demand");
  if (on_demand == nullptr) return;
  if (!on_demand->is_table()) Fail("on_demand", "must be a table");
  CheckKeys(*on_demand, "on_demand", {"max_wait", "probes_per_second"});
  cfg.max_wait = GetDuration(*on_demand, "on_demand", "max_wait", cfg.max_wait);
  if (cfg.max_wait > kMaxWaitCeiling) Fail("on_demand.max_wait", "must be at most 10s");
  cfg.on_demand_probes_per_second = static_cast<int>(GetInt(
      *on_demand, "on_demand", "probes_per_second", cfg.on_demand_probes_per_second, 1, 10000));
}

void LoadLog(const Table& root, Config& cfg) {
  const Table* log = Find(root, "log");
  if (log == nullptr) return;
  if (!log->is_table()) Fail("log", "must be a table");
  CheckKeys(*log, "log", {"level"});
  cfg.log_level = GetString(*log, "log", "level", false, "info");
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (!kLevels.count(cfg.log_level)) {
    Fail("log.level", "'" + cfg.log_level + "' is not one of trace, debug, info, warn, error");
  }
}

// password_env or password_file (names only; ResolveConfig reads them).
void LoadPasswordSource(const Table& c, const std::string& w, ClusterConfig& out) {
  if (Find(c, "password") != nullptr) {
    Fail(w + ".password", "literal passwords are not accepted; use password_env or password_file");
  }
  out.password_env = GetString(c, w, "password_env", false);
  out.password_file = GetString(c, w, "password_file", false);
  if (!out.password_env.empty() && !out.password_file.empty()) {
    Fail(w, "set password_env or password_file, not both");
  }
}

void LoadSsl(const Table& c, const std::string& w, ClusterConfig& out) {
  out.sslmode = GetString(c, w, "sslmode", false);
  static const std::set<std::string> kSslModes = {"disable", "allow",     "prefer",
                                                  "require", "verify-ca", "verify-full"};
  if (!out.sslmode.empty() && !kSslModes.count(out.sslmode)) {
    Fail(w + ".sslmode", "'" + out.sslmode +
                             "' is not one of disable, allow, prefer, require, verify-ca, "
                             "verify-full (verify-full recommended)");
  }
  out.sslrootcert = GetString(c, w, "sslrootcert", false);
  out.sslcert = GetString(c, w, "sslcert", false);
  out.sslkey = GetString(c, w, "sslkey", false);
}

// patroni_urls entries: "http://host:port" with an optional path prefix.
void CheckPatroniUrl(const std::string& key, const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    Fail(key,
         "'" + url + "': https is not supported for Patroni yet; use http:// on a trusted network");
  }
  if (url.rfind(scheme, 0) != 0) {
    Fail(key, "'" + url +
                  "' must be an http:// URL of Patroni's REST API, e.g. \"http://10.0.0.5:8008\"");
  }
  const std::string rest = url.substr(scheme.size());
  const std::string authority = rest.substr(0, rest.find('/'));
  const auto colon = authority.rfind(':');
  int port = 0;
  if (authority.empty() || colon == 0 || authority.find('@') != std::string::npos ||
      (colon != std::string::npos &&
       (std::from_chars(authority.data() + colon + 1, authority.data() + authority.size(), port)
                .ptr != authority.data() + authority.size() ||
        port < 1 || port > 65535))) {
    Fail(key, "'" + url + "' must be http://host[:port][/path], e.g. \"http://10.0.0.5:8008\"");
  }
}

// discovery = "patroni" with patroni_urls; the other discovery keys need it.
void LoadDiscovery(const Table& c, const std::string& w, ClusterConfig& out) {
  DiscoveryConfig& d = out.discovery;
  d.kind = GetString(c, w, "discovery", false);
  if (d.kind.empty()) {
    for (const char* key : {"patroni_urls", "discovery_interval", "discovery_timeout"}) {
      if (Find(c, key) != nullptr) Fail(w + "." + key, "needs discovery = \"patroni\"");
    }
    return;
  }
  if (d.kind != "patroni") {
    Fail(w + ".discovery", "'" + d.kind + "' is not a member source (known: patroni)");
  }
  if (Find(c, "server") != nullptr) {
    Fail(w + ".server",
         "members come from Patroni with discovery = \"patroni\"; remove the "
         "[[cluster.server]] entries, or remove discovery to list them");
  }
  const Table* urls = Find(c, "patroni_urls");
  if (urls == nullptr || !urls->is_array() || urls->as_array().empty()) {
    Fail(w + ".patroni_urls",
         "discovery = \"patroni\" needs a list of Patroni REST URLs, e.g. "
         "[\"http://10.0.0.5:8008\", \"http://10.0.0.6:8008\"]");
  }
  for (size_t i = 0; i < urls->as_array().size(); ++i) {
    const Table& u = urls->as_array()[i];
    const std::string key = w + ".patroni_urls[" + std::to_string(i) + "]";
    if (!u.is_string()) Fail(key, "must be a string");
    std::string url = u.as_string().str;
    CheckPatroniUrl(key, url);
    while (url.size() > 1 && url.back() == '/') url.pop_back();
    if (std::find(d.urls.begin(), d.urls.end(), url) != d.urls.end()) {
      Fail(key, "duplicate URL '" + url + "'");
    }
    d.urls.push_back(std::move(url));
  }
  d.interval = GetDuration(c, w, "discovery_interval", d.interval);
  d.timeout = GetDuration(c, w, "discovery_timeout", d.timeout);
  if (d.interval < std::chrono::milliseconds(100)) {
    Fail(w + ".discovery_interval", "must be at least 100ms");
  }
  if (d.timeout < std::chrono::milliseconds(10) || d.timeout > std::chrono::seconds(60)) {
    Fail(w + ".discovery_timeout", "must be between 10ms and 60s");
  }
}

void LoadServers(const Table& c, const std::string& w, ClusterConfig& out) {
  if (out.discovery.enabled()) return;  // filled in by discovery at run time
  const Table* servers = Find(c, "server");
  if (servers == nullptr || !servers->is_array() || servers->as_array().empty()) {
    Fail(w + ".server",
         "a cluster needs at least one [[cluster.server]], or discovery = \"patroni\" with "
         "patroni_urls");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < servers->as_array().size(); ++i) {
    const Table& s = servers->as_array()[i];
    const std::string sw = w + ".server[" + std::to_string(i) + "]";
    if (!s.is_table()) Fail(sw, "must be a table ([[cluster.server]])");
    CheckKeys(s, sw, {"name", "host", "port", "weight"});
    ServerConfig sc;
    sc.name = GetString(s, sw, "name", true);
    RequireValidName(sw + ".name", sc.name);
    if (!names.insert(sc.name).second) Fail(sw + ".name", "duplicate server '" + sc.name + "'");
    sc.host = GetString(s, sw, "host", true);
    if (sc.host.empty()) Fail(sw + ".host", "must not be empty");
    sc.port = static_cast<int>(GetInt(s, sw, "port", 0, 1, 65535, true));
    sc.weight = static_cast<uint32_t>(GetInt(s, sw, "weight", 1, 1, 1000));
    out.servers.push_back(std::move(sc));
  }
}

void LoadCluster(const Table& c, const std::string& where, ClusterConfig& out) {
  if (!c.is_table()) Fail(where, "must be a table ([[cluster]])");
  CheckKeys(c, where,
            {"name", "engine", "user", "password", "password_env", "password_file", "database",
             "sslmode", "sslrootcert", "sslcert", "sslkey", "server", "discovery", "patroni_urls",
             "discovery_interval", "discovery_timeout"});
  out.name = GetString(c, where, "name", true);
  RequireValidName(where + ".name", out.name);
  const std::string w = "cluster." + out.name;
  const std::string engine = GetString(c, w, "engine", true);
  if (engine == "postgres" || engine == "postgresql") {
    out.engine = router::Engine::kPostgres;
  } else if (engine == "mysql" || engine == "mariadb") {
    out.engine = router::Engine::kMysql;
  } else {
    Fail(w + ".engine", "'" + engine + "' is not an engine (known: postgres, mysql)");
  }
  out.user = GetString(c, w, "user", true);
  LoadPasswordSource(c, w, out);
  out.database =
      GetString(c, w, "database", false, out.engine == router::Engine::kPostgres ? "postgres" : "");
  LoadSsl(c, w, out);
  LoadDiscovery(c, w, out);
  LoadServers(c, w, out);
}

void LoadClusters(const Table& root, Config& cfg) {
  const Table* clusters = Find(root, "cluster");
  if (clusters == nullptr || !clusters->is_array() || clusters->as_array().empty()) {
    Fail("cluster", "at least one [[cluster]] is required");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < clusters->as_array().size(); ++i) {
    ClusterConfig cc;
    LoadCluster(clusters->as_array()[i], "cluster[" + std::to_string(i) + "]", cc);
    if (!names.insert(cc.name).second) {
      Fail("cluster[" + std::to_string(i) + "].name", "duplicate cluster '" + cc.name + "'");
    }
    cfg.clusters.push_back(std::move(cc));
  }
}

void LoadClasses(const Table& root, Config& cfg) {
  const Table* classes = Find(root, "class");
  if (classes == nullptr || !classes->is_table() || classes->as_table().empty()) {
    Fail("class",
         "at least one query class is required, e.g. [class.reports] max_staleness = \"1h\"");
  }
  for (const auto& [name, c] : classes->as_table()) {
    const std::string w = "class." + name;
    if (!ValidName(name)) Fail(w, "class names are 1-64 letters, digits, '-', '_' or '.'");
    if (!c.is_table()) Fail(w, "must be a table");
    CheckKeys(
        c, w,
        {"max_staleness", "fallback", "settle", "check_margin", "max_wait", "strict_replicas"});
    router::QueryClass qc;
    qc.name = name;
    qc.max_staleness = GetDuration(c, w, "max_staleness", router::Duration{0}, true);
    qc.settle = GetDuration(c, w, "settle", std::chrono::seconds(1));
    qc.check_margin = GetDuration(c, w, "check_margin", router::Duration{0});
    if (qc.check_margin > router::Duration{0} && qc.check_margin >= qc.max_staleness) {
      Fail(w + ".check_margin",
           "must be less than max_staleness (" +
               std::to_string(router::ToMillis(qc.max_staleness)) +
               " ms): a replica must be able to pass the check; a 0s class is served by the "
               "primary only and needs no margin");
    }
    qc.strict_replicas = GetBool(c, w, "strict_replicas", false);
    if (qc.strict_replicas && qc.max_staleness > router::Duration{0}) {
      Fail(w + ".strict_replicas",
           "applies to a 0s class only (replicas serve a wider class by its bound)");
    }
    qc.max_wait = GetDuration(c, w, "max_wait", router::Duration{0});
    if (qc.max_wait > cfg.max_wait) {
      Fail(w + ".max_wait", "must be at most on_demand.max_wait (" +
                                std::to_string(router::ToMillis(cfg.max_wait)) + " ms)");
    }
    const std::string fallback = GetString(c, w, "fallback", false, "primary");
    if (fallback == "primary") {
      qc.fallback = router::Fallback::kPrimary;
    } else if (fallback == "error") {
      qc.fallback = router::Fallback::kError;
    } else {
      Fail(w + ".fallback", "'" + fallback + "' is not one of primary, error");
    }
    cfg.classes.push_back(std::move(qc));
  }
  std::sort(cfg.classes.begin(), cfg.classes.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
}

// token_sha256, or the name of a token_file (ResolveConfig reads it).
void LoadToken(const Table& c, const std::string& w, ClientConfig& out) {
  if (Find(c, "token") != nullptr) {
    Fail(w + ".token",
         "literal tokens are not accepted; use token_sha256 (sha256sum of the token) or "
         "token_file");
  }
  const bool has_hash = Find(c, "token_sha256") != nullptr;
  const bool has_file = Find(c, "token_file") != nullptr;
  if (has_hash == has_file) Fail(w, "set exactly one of token_sha256 or token_file");
  if (has_hash) {
    auto digest = ParseSha256Hex(GetString(c, w, "token_sha256", true));
    if (!digest) Fail(w + ".token_sha256", digest.error());
    out.token_sha256 = *digest;
  } else {
    out.token_file = GetString(c, w, "token_file", true);
  }
}

void LoadClient(const Table& c, const std::string& where, const Config& cfg, ClientConfig& out) {
  if (!c.is_table()) Fail(where, "must be a table ([[client]])");
  out.name = GetString(c, where, "name", true);
  RequireValidName(where + ".name", out.name);
  const std::string w = "client." + out.name;
  CheckKeys(c, w, {"name", "token", "token_sha256", "token_file", "clusters", "classes"});
  LoadToken(c, w, out);
  out.clusters = GetNameList(c, w, "clusters", "clusters", &out.all_clusters);
  for (const auto& name : out.clusters) {
    if (std::none_of(cfg.clusters.begin(), cfg.clusters.end(),
                     [&](const ClusterConfig& cc) { return cc.name == name; })) {
      Fail(w + ".clusters", "unknown cluster '" + name + "'");
    }
  }
  out.classes = GetNameList(c, w, "classes", "classes", &out.all_classes);
  for (const auto& name : out.classes) {
    if (std::none_of(cfg.classes.begin(), cfg.classes.end(),
                     [&](const router::QueryClass& qc) { return qc.name == name; })) {
      Fail(w + ".classes", "unknown class '" + name + "'");
    }
  }
}

void LoadClients(const Table& root, Config& cfg) {
  const Table* clients = Find(root, "client");
  if (clients == nullptr) return;
  if (!clients->is_array() || clients->as_array().empty()) {
    Fail("client", "must be an array of tables ([[client]])");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < clients->as_array().size(); ++i) {
    ClientConfig cc;
    LoadClient(clients->as_array()[i], "client[" + std::to_string(i) + "]", cfg, cc);
    if (!names.insert(cc.name).second) {
      Fail("client[" + std::to_string(i) + "].name", "duplicate client '" + cc.name + "'");
    }
    if (auto own = CheckOwnToken(cc, cfg.clients, false); !own) throw ConfigError{own.error()};
    cfg.clients.push_back(std::move(cc));
  }
}

void LoadAuth(const Table& root, Config& cfg) {
  const Table* auth = Find(root, "auth");
  if (auth == nullptr) return;
  if (!auth->is_table()) Fail("auth", "must be a table");
  CheckKeys(*auth, "auth", {"protect_metrics", "protect_health"});
  cfg.protect_metrics = GetBool(*auth, "auth", "protect_metrics", false);
  cfg.protect_health = GetBool(*auth, "auth", "protect_health", false);
  if ((cfg.protect_metrics || cfg.protect_health) && !cfg.AuthEnabled()) {
    Fail(cfg.protect_metrics ? "auth.protect_metrics" : "auth.protect_health",
         "needs at least one [[client]] whose token may be used");
  }
}

// An API anyone on the network can call must be a deliberate choice.
void CheckExposure(const Config& cfg) {
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

Config Load(const Table& root) {
  Config cfg;
  CheckKeys(root, "",
            {"listen", "probe", "on_demand", "log", "cluster", "class", "client", "auth"});
  LoadListen(root, cfg);
  LoadProbe(root, cfg);
  LoadOnDemand(root, cfg);
  LoadLog(root, cfg);
  LoadClusters(root, cfg);
  LoadClasses(root, cfg);
  LoadClients(root, cfg);
  LoadAuth(root, cfg);
  CheckExposure(cfg);
  return cfg;
}

}  // namespace

Result<Config> ParseConfig(const std::string& text, const std::string& name) {
  if (const size_t line = InvalidUtf8Line(text); line != 0) {
    return MakeError(name + ": line " + std::to_string(line) + ": not valid UTF-8");
  }
  constexpr int kMaxNesting = 64;
  if (const size_t line = TooDeepLine(text, kMaxNesting); line != 0) {
    return MakeError(name + ": line " + std::to_string(line) +
                     ": arrays and inline tables nested deeper than " +
                     std::to_string(kMaxNesting) + " levels");
  }
  try {
    std::istringstream in(text);
    const auto root = toml::parse(in, name);
    Config cfg = Load(root);
    cfg.path = name;
    return cfg;
  } catch (const ConfigError& e) {
    return MakeError(name + ": " + e.message);
  } catch (const std::exception& e) {
    // toml11's messages carry the line and a caret under the problem.
    return MakeError(name + ": " + e.what());
  }
}

}  // namespace lagrouter::daemon
