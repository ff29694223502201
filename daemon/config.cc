#include "daemon/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <toml.hpp>

#include "daemon/tls.h"

namespace lagrouter::daemon {
namespace {

using router::Duration;

// Validation failure inside the loader; turned into a Result at the boundary.
struct ConfigError {
  std::string message;
};

[[noreturn]] void Fail(const std::string& key, const std::string& problem) {
  throw ConfigError{key + ": " + problem};
}

using Table = toml::value;

void CheckKeys(const Table& t, const std::string& where, std::initializer_list<const char*> known) {
  for (const auto& entry : t.as_table()) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
    const std::string& key = entry.first;
    if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) ==
        known.end()) {
      std::string list;
      for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
      Fail(where.empty() ? key : where + "." + key, "unknown key (known here: " + list + ")");
    }
  }
}

const Table* Find(const Table& t, const char* key) {
  const auto& table = t.as_table();
  auto it = table.find(key);
  return it == table.end() ? nullptr : &it->second;
}

std::string Join(const std::string& where, const char* key) {
  return where.empty() ? key : where + "." + key;
}

std::string GetString(const Table& t, const std::string& where, const char* key, bool required,
                      const std::string& fallback = "") {
  const Table* v = Find(t, key);
  if (v == nullptr) {
    if (required) Fail(Join(where, key), "missing (a string is required)");
    return fallback;
  }
  if (!v->is_string()) Fail(Join(where, key), "must be a string");
  return v->as_string().str;
}

int64_t GetInt(const Table& t, const std::string& where, const char* key, int64_t fallback,
               int64_t lo, int64_t hi, bool required = false) {
  const Table* v = Find(t, key);
  if (v == nullptr) {
    if (required) Fail(Join(where, key), "missing (an integer is required)");
    return fallback;
  }
  if (!v->is_integer()) Fail(Join(where, key), "must be an integer");
  const int64_t i = v->as_integer();
  if (i < lo || i > hi) {
    Fail(Join(where, key), "must be from " + std::to_string(lo) + " to " + std::to_string(hi) +
                               ", got " + std::to_string(i));
  }
  return i;
}

Duration GetDuration(const Table& t, const std::string& where, const char* key, Duration fallback,
                     bool required = false) {
  const Table* v = Find(t, key);
  if (v == nullptr) {
    if (required) Fail(Join(where, key), "missing (a duration like \"250ms\", \"5s\", \"1h\")");
    return fallback;
  }
  if (!v->is_string()) {
    Fail(Join(where, key), "must be a duration string like \"250ms\", \"5s\" or \"1h\"");
  }
  auto d = ParseDuration(v->as_string().str);
  if (!d) Fail(Join(where, key), d.error());
  return *d;
}

std::string ReadSecretFile(const std::string& key, const std::string& path) {
  auto secret = ReadPrivateFile(path);
  if (!secret) Fail(key, secret.error());
  return std::move(secret).value();
}

bool GetBool(const Table& t, const std::string& where, const char* key, bool fallback) {
  const Table* v = Find(t, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) Fail(Join(where, key), "must be true or false");
  return v->as_boolean();
}

// A required list of names; ["*"] alone means all (returned as *all).
std::vector<std::string> GetNameList(const Table& t, const std::string& where, const char* key,
                                     const char* what, bool* all) {
  const Table* v = Find(t, key);
  const std::string k = Join(where, key);
  if (v == nullptr) {
    Fail(k, std::string("missing: list the ") + what + " this client may use, or [\"*\"] for all");
  }
  if (!v->is_array()) Fail(k, std::string("must be a list of ") + what + ", e.g. [\"shop\"]");
  std::vector<std::string> out;
  *all = false;
  for (const auto& e : v->as_array()) {
    if (!e.is_string()) Fail(k, "every entry must be a string");
    const std::string name = e.as_string().str;
    if (name == "*") {
      *all = true;
    } else {
      out.push_back(name);
    }
  }
  if (*all && !out.empty()) Fail(k, "\"*\" means all; do not list names next to it");
  if (!*all && out.empty()) {
    Fail(k, std::string("empty: a client that may use no ") + what +
                " is useless; remove it or list some");
  }
  return out;
}

bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '_' || c == '.';
         });
}

void LoadCluster(const Table& c, const std::string& where, ClusterConfig& out) {
  if (!c.is_table()) Fail(where, "must be a table ([[cluster]])");
  CheckKeys(c, where,
            {"name", "engine", "user", "password", "password_env", "password_file", "database",
             "sslmode", "sslrootcert", "sslcert", "sslkey", "server"});
  out.name = GetString(c, where, "name", true);
  if (!ValidName(out.name)) {
    Fail(where + ".name", "'" + out.name + "' must be 1-64 letters, digits, '-', '_' or '.'");
  }
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
  if (Find(c, "password") != nullptr) {
    Fail(w + ".password", "literal passwords are not accepted; use password_env or password_file");
  }
  const std::string env = GetString(c, w, "password_env", false);
  const std::string file = GetString(c, w, "password_file", false);
  if (!env.empty() && !file.empty()) Fail(w, "set password_env or password_file, not both");
  if (!env.empty()) {
    const char* value = std::getenv(env.c_str());
    if (value == nullptr) Fail(w + ".password_env", "environment variable " + env + " is not set");
    out.password = value;
    out.password_source = "environment variable " + env;
  } else if (!file.empty()) {
    out.password = ReadSecretFile(w + ".password_file", file);
    out.password_source = "file " + file;
  }
  out.database =
      GetString(c, w, "database", false, out.engine == router::Engine::kPostgres ? "postgres" : "");
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

  const Table* servers = Find(c, "server");
  if (servers == nullptr || !servers->is_array() || servers->as_array().empty()) {
    Fail(w + ".server", "a cluster needs at least one [[cluster.server]]");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < servers->as_array().size(); ++i) {
    const Table& s = servers->as_array()[i];
    const std::string sw = w + ".server[" + std::to_string(i) + "]";
    if (!s.is_table()) Fail(sw, "must be a table ([[cluster.server]])");
    CheckKeys(s, sw, {"name", "host", "port", "weight"});
    ServerConfig sc;
    sc.name = GetString(s, sw, "name", true);
    if (!ValidName(sc.name)) {
      Fail(sw + ".name", "'" + sc.name + "' must be 1-64 letters, digits, '-', '_' or '.'");
    }
    if (!names.insert(sc.name).second) Fail(sw + ".name", "duplicate server '" + sc.name + "'");
    sc.host = GetString(s, sw, "host", true);
    if (sc.host.empty()) Fail(sw + ".host", "must not be empty");
    sc.port = static_cast<int>(GetInt(s, sw, "port", 0, 1, 65535, true));
    sc.weight = static_cast<uint32_t>(GetInt(s, sw, "weight", 1, 1, 1000));
    out.servers.push_back(std::move(sc));
  }
}

void LoadClient(const Table& c, const std::string& where, const Config& cfg, ClientConfig& out) {
  if (!c.is_table()) Fail(where, "must be a table ([[client]])");
  out.name = GetString(c, where, "name", true);
  if (!ValidName(out.name)) {
    Fail(where + ".name", "'" + out.name + "' must be 1-64 letters, digits, '-', '_' or '.'");
  }
  const std::string w = "client." + out.name;
  CheckKeys(c, w, {"name", "token", "token_sha256", "token_file", "clusters", "classes"});
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
    const std::string file = GetString(c, w, "token_file", true);
    const std::string token = ReadSecretFile(w + ".token_file", file);
    if (token.size() < 16) {
      Fail(w + ".token_file", "'" + file +
                                  "' holds a token shorter than 16 characters; generate one "
                                  "with: openssl rand -hex 32");
    }
    out.token_sha256 = Sha256(token);
  }
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

Config Load(const toml::value& root) {
  Config cfg;
  CheckKeys(root, "", {"listen", "probe", "log", "cluster", "class", "client", "auth"});
  if (const Table* listen = Find(root, "listen")) {
    if (!listen->is_table()) Fail("listen", "must be a table");
    CheckKeys(
        *listen, "listen",
        {"address", "threads", "allow_unauthenticated", "tls_cert", "tls_key", "tls_client_ca"});
    const std::string address = GetString(*listen, "listen", "address", false, "127.0.0.1:8432");
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
    cfg.http_threads = static_cast<int>(GetInt(*listen, "listen", "threads", 8, 1, 1024));
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
    if (cfg.Tls()) {
      if (auto ok = CheckPrivateFile(cfg.tls_key); !ok) Fail("listen.tls_key", ok.error());
      if (auto ok = CheckServerTls({cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca}); !ok) {
        throw ConfigError{ok.error()};  // already names the key
      }
    }
  }
  if (const Table* probe = Find(root, "probe")) {
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
  if (const Table* log = Find(root, "log")) {
    if (!log->is_table()) Fail("log", "must be a table");
    CheckKeys(*log, "log", {"level"});
    cfg.log_level = GetString(*log, "log", "level", false, "info");
    static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
    if (!kLevels.count(cfg.log_level)) {
      Fail("log.level", "'" + cfg.log_level + "' is not one of trace, debug, info, warn, error");
    }
  }

  const Table* clusters = Find(root, "cluster");
  if (clusters == nullptr || !clusters->is_array() || clusters->as_array().empty()) {
    Fail("cluster", "at least one [[cluster]] is required");
  }
  std::set<std::string> cluster_names;
  for (size_t i = 0; i < clusters->as_array().size(); ++i) {
    ClusterConfig cc;
    LoadCluster(clusters->as_array()[i], "cluster[" + std::to_string(i) + "]", cc);
    if (!cluster_names.insert(cc.name).second) {
      Fail("cluster[" + std::to_string(i) + "].name", "duplicate cluster '" + cc.name + "'");
    }
    cfg.clusters.push_back(std::move(cc));
  }

  const Table* classes = Find(root, "class");
  if (classes == nullptr || !classes->is_table() || classes->as_table().empty()) {
    Fail("class",
         "at least one query class is required, e.g. [class.reports] max_staleness = \"1h\"");
  }
  for (const auto& [name, c] : classes->as_table()) {
    const std::string w = "class." + name;
    if (!ValidName(name)) Fail(w, "class names are 1-64 letters, digits, '-', '_' or '.'");
    if (!c.is_table()) Fail(w, "must be a table");
    CheckKeys(c, w, {"max_staleness", "fallback", "settle"});
    router::QueryClass qc;
    qc.name = name;
    qc.max_staleness = GetDuration(c, w, "max_staleness", Duration{0}, true);
    qc.settle = GetDuration(c, w, "settle", std::chrono::seconds(1));
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

  if (const Table* clients = Find(root, "client")) {
    if (!clients->is_array() || clients->as_array().empty()) {
      Fail("client", "must be an array of tables ([[client]])");
    }
    std::set<std::string> client_names;
    for (size_t i = 0; i < clients->as_array().size(); ++i) {
      ClientConfig cc;
      LoadClient(clients->as_array()[i], "client[" + std::to_string(i) + "]", cfg, cc);
      if (!client_names.insert(cc.name).second) {
        Fail("client[" + std::to_string(i) + "].name", "duplicate client '" + cc.name + "'");
      }
      for (const auto& other : cfg.clients) {
        if (DigestEqual(other.token_sha256, cc.token_sha256)) {
          Fail("client." + cc.name,
               "has the same token as client '" + other.name + "'; give every client its own");
        }
      }
      cfg.clients.push_back(std::move(cc));
    }
  }
  if (const Table* auth = Find(root, "auth")) {
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
  if (!cfg.AuthEnabled() && cfg.tls_client_ca.empty() && !cfg.allow_unauthenticated &&
      !IsLoopbackHost(cfg.listen_host)) {
    Fail("listen.address",
         "'" + cfg.listen_host + ":" + std::to_string(cfg.listen_port) +
             "' is reachable from other hosts, but no [[client]] is configured, so anyone who "
             "can reach it could use the API unauthenticated; configure [[client]] tokens (or "
             "listen.tls_client_ca for mutual TLS), or set listen.allow_unauthenticated = true "
             "to accept that");
  }
  return cfg;
}

// TOML is UTF-8. toml11 3.7 reads out of bounds while reporting invalid UTF-8
// inside a literal string (found by fuzz_config), so invalid input never
// reaches it. Returns the line of the first invalid sequence, or 0.
size_t InvalidUtf8Line(std::string_view text) {
  size_t line = 1;
  auto cont = [&](size_t i) {
    return i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
  };
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '\n') ++line;
      ++i;
      continue;
    }
    size_t n = 0;                   // continuation bytes
    unsigned lo = 0x80, hi = 0xBF;  // range of the first continuation byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return line;
    }
    if (i + 1 >= text.size()) return line;
    const auto first = static_cast<unsigned char>(text[i + 1]);
    if (first < lo || first > hi) return line;
    for (size_t k = 2; k <= n; ++k) {
      if (!cont(i + k)) return line;
    }
    i += n + 1;
  }
  return 0;
}

// toml11 parses arrays and inline tables recursively, so a deeply nested value
// overflows the stack, which no catch can stop (found by fuzz_config). Returns
// the line where brackets outside strings and comments nest deeper than
// `limit`, or 0.
size_t TooDeepLine(std::string_view text, int limit) {
  int depth = 0;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
    } else if (c == '#') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool triple = text.substr(i, 3) == std::string(3, c);
      i += triple ? 3 : 1;
      for (; i < text.size(); ++i) {
        if (text[i] == '\n') {
          ++line;
          if (!triple) break;  // a one-line string cannot span lines
        } else if (c == '"' && text[i] == '\\') {
          if (i + 1 < text.size() && text[i + 1] == '\n') ++line;
          ++i;  // an escaped character never closes the string
        } else if (text[i] == c && (!triple || text.substr(i, 3) == std::string(3, c))) {
          if (triple) i += 2;
          break;
        }
      }
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return line;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return 0;
}

}  // namespace

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
  Duration horizon{0};
  for (const auto& c : classes) horizon = std::max(horizon, c.max_staleness);
  return horizon;
}

Result<Duration> ParseDuration(std::string_view text) {
  const std::string original(text);
  auto bad = [&original](const std::string& why) {
    return MakeError("'" + original + "' is not a duration (" + why +
                     "; use e.g. \"250ms\", \"5s\", \"1m30s\", \"1h\")");
  };
  if (text.empty()) return bad("empty");
  double total_ns = 0;
  while (!text.empty()) {
    size_t i = 0;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == 0) return bad("expected a number");
    double number = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
    if (ec != std::errc() || ptr != text.data() + i) return bad("bad number");
    text.remove_prefix(i);
    size_t u = 0;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) ++u;
    const std::string_view unit = text.substr(0, u);
    text.remove_prefix(u);
    double scale = 0;
    if (unit == "ns")
      scale = 1;
    else if (unit == "us")
      scale = 1e3;
    else if (unit == "ms")
      scale = 1e6;
    else if (unit == "s")
      scale = 1e9;
    else if (unit == "m")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else if (unit == "d")
      scale = 86400e9;
    else
      return bad(unit.empty() ? "missing unit" : "unknown unit '" + std::string(unit) + "'");
    total_ns += number * scale;
  }
  if (!std::isfinite(total_ns) || total_ns > 365.0 * 86400e9) return bad("longer than a year");
  return Duration{static_cast<int64_t>(std::llround(total_ns))};
}

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

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeError(path + ": cannot open the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace lagrouter::daemon
