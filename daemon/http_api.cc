#include "daemon/http_api.h"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "daemon/json.h"
#include "daemon/status_page.h"
#include "common/text.h"

namespace lagrouter::daemon {

namespace {

std::string ErrorBody(const char* error, const std::string& message) {
  std::string body = "{\"error\":";
  AppendJsonString(body, error);
  body += ",\"message\":";
  AppendJsonString(body, message);
  body += "}";
  return body;
}

}  // namespace

bool PortInUse(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* list = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list) != 0) return false;
  bool in_use = false;
  for (addrinfo* a = list; a != nullptr && !in_use; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    in_use = bind(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EADDRINUSE;
    close(fd);
  }
  freeaddrinfo(list);
  return in_use;
}

HttpApi::HttpApi(std::shared_ptr<const Config> config, Monitor& monitor, Metrics& metrics)
    : config_(std::move(config)), monitor_(monitor), metrics_(metrics), auth_(*config_) {
  for (size_t i = 0; i < config_->clusters.size(); ++i) {
    cluster_index_[config_->clusters[i].name] = i;
    known_clusters_ += (i ? ", " : "") + config_->clusters[i].name;
  }
  for (size_t i = 0; i < config_->classes.size(); ++i) {
    class_index_[config_->classes[i].name] = i;
    known_classes_ += (i ? ", " : "") + config_->classes[i].name;
  }
  const size_t n = config_->clusters.size() * config_->classes.size();
  spread_ = std::make_unique<std::atomic<uint64_t>[]>(n);
  for (size_t i = 0; i < n; ++i) spread_[i].store(0);
}

ApiResponse HttpApi::BadRequest(const char* error, const std::string& message) {
  metrics_.CountBadRequest(error);
  return {400, ErrorBody(error, message)};
}

std::optional<ApiResponse> HttpApi::Guard(const HttpRequest& req, int& client) {
  client = -1;
  if (!auth_.Protects(req.path)) return std::nullopt;
  AuthDecision d = auth_.Authenticate(req.authorization);
  if (d.allowed()) {
    std::vector<std::string_view> clusters, classes;
    for (const auto& [key, value] : req.params) {
      if (key == "cluster") clusters.push_back(value);
      if (key == "class") classes.push_back(value);
    }
    // /v1/<endpoint>/<cluster>/...: the segment after the endpoint names a cluster.
    std::string_view rest = std::string_view(req.path);
    if (rest.substr(0, 4) == "/v1/") {
      rest.remove_prefix(4);
      const size_t slash = rest.find('/');
      if (slash != std::string_view::npos) {
        rest.remove_prefix(slash + 1);
        const std::string_view cluster = rest.substr(0, rest.find('/'));
        if (!cluster.empty()) clusters.push_back(cluster);
      }
    }
    d = auth_.Authorize(d.client, clusters, classes);
  }
  if (d.allowed()) {
    client = d.client;
    return std::nullopt;
  }
  const std::string& name = auth_.ClientName(d.client);
  metrics_.CountDenied(DenialName(d.denial), name);
  // One structured line per refusal, never the token (nor the query).
  spdlog::warn("denied request: client={} path={} reason={} status={} remote={}:{}",
               name.empty() ? "-" : name, Quote(req.path), DenialName(d.denial), d.status(),
               req.remote_addr, req.remote_port);
  ApiResponse res{d.status(),
                  ErrorBody(d.status() == 401 ? "unauthorized" : "forbidden", d.message)};
  if (res.status == 401) {
    res.headers.emplace_back("WWW-Authenticate",
                             d.denial == Denial::kUnknownToken
                                 ? "Bearer realm=\"lagrouter\", error=\"invalid_token\""
                                 : "Bearer realm=\"lagrouter\"");
  }
  return res;
}

ApiResponse HttpApi::Route(const QueryParams& params, router::TimePoint now, int client) {
  const std::string* cluster_name = nullptr;
  const std::string* class_name = nullptr;
  const std::string* after_text = nullptr;
  for (const auto& [key, value] : params) {
    const std::string** slot = key == "cluster" ? &cluster_name
                               : key == "class" ? &class_name
                               : key == "after" ? &after_text
                                                : nullptr;
    if (slot == nullptr) {
      return BadRequest("bad_request", "unknown parameter " + Quote(key) +
                                           "; /v1/route takes cluster, class and after");
    }
    if (*slot != nullptr)
      return BadRequest("bad_request", "parameter " + Quote(key) + " given twice");
    *slot = &value;
  }
  if (cluster_name == nullptr) {
    return BadRequest("bad_request",
                      "missing parameter 'cluster'; known clusters: " + known_clusters_);
  }
  if (class_name == nullptr) {
    return BadRequest("bad_request", "missing parameter 'class'; known classes: " + known_classes_);
  }
  const auto ci = cluster_index_.find(*cluster_name);
  if (ci == cluster_index_.end()) {
    return BadRequest("unknown_cluster", "unknown cluster " + Quote(*cluster_name) +
                                             "; known clusters: " + known_clusters_);
  }
  const auto ki = class_index_.find(*class_name);
  if (ki == class_index_.end()) {
    return BadRequest("unknown_class",
                      "unknown class " + Quote(*class_name) + "; known classes: " + known_classes_);
  }
  const auto snap = monitor_.Snapshot(ci->second);
  router::Position after;
  if (after_text != nullptr) {
    auto parsed = router::ParsePosition(snap->view.engine, *after_text);
    if (!parsed) {
      return BadRequest("bad_position",
                        "parameter 'after' " + Quote(*after_text) + ": " +
                            Printable(parsed.error(), 256));  // the parser echoes input
    }
    after = std::move(parsed).value();
  }
  const auto& cls = config_->classes[ki->second];
  const size_t slot = ci->second * config_->classes.size() + ki->second;
  const uint64_t spread = spread_[slot].fetch_add(1, std::memory_order_relaxed);
  const auto d =
      router::Route(snap->view, cls, ki->second, after_text ? &after : nullptr, now, spread);
  metrics_.CountRoute(client, ci->second, ki->second, d.outcome);

  if (d.outcome == router::Outcome::kNoEligibleServer) {
    return {503, ErrorBody("no_eligible_server", std::string("cluster '") + *cluster_name +
                                                     "', class '" + *class_name + "': " + d.why)};
  }
  const auto& s = snap->view.servers[static_cast<size_t>(d.server)];
  std::string body;
  body.reserve(256);
  body += "{\"cluster\":";
  AppendJsonString(body, *cluster_name);
  body += ",\"class\":";
  AppendJsonString(body, *class_name);
  body += ",\"server\":";
  AppendJsonString(body, s.name);
  body += ",\"role\":";
  AppendJsonString(body, d.outcome == router::Outcome::kFreshReplica ? "replica" : "primary");
  body += ",\"host\":";
  AppendJsonString(body, s.host);
  body += ",\"port\":" + std::to_string(s.port);
  body += ",\"staleness_bound_ms\":" + std::to_string(router::ToMillisCeil(d.bound));
  body +=
      ",\"valid_for_ms\":" + std::to_string(std::max<int64_t>(0, router::ToMillis(d.valid_for)));
  body += ",\"reason\":";
  AppendJsonString(body, router::OutcomeName(d.outcome));
  body += "}";
  return {200, std::move(body)};
}

ApiResponse HttpApi::Check(const std::string& cluster_name, const std::string& server_name,
                           const QueryParams& params, router::TimePoint now) {
  const std::string* class_name = nullptr;
  for (const auto& [key, value] : params) {
    if (key != "class") {
      return BadRequest("bad_request",
                        "unknown parameter " + Quote(key) + "; /v1/check takes class");
    }
    if (class_name != nullptr) return BadRequest("bad_request", "parameter 'class' given twice");
    class_name = &value;
  }
  const auto ci = cluster_index_.find(cluster_name);
  if (ci == cluster_index_.end()) {
    metrics_.CountBadRequest("unknown_cluster");
    return {404, ErrorBody("unknown_cluster", "unknown cluster " + Quote(cluster_name) +
                                                  "; known clusters: " + known_clusters_)};
  }
  if (class_name == nullptr) {
    return BadRequest("bad_request", "missing parameter 'class'; known classes: " + known_classes_);
  }
  const auto ki = class_index_.find(*class_name);
  if (ki == class_index_.end()) {
    return BadRequest("unknown_class",
                      "unknown class " + Quote(*class_name) + "; known classes: " + known_classes_);
  }
  const auto snap = monitor_.Snapshot(ci->second);
  const auto& view = snap->view;
  size_t index = view.servers.size();
  std::string known_servers;
  for (size_t i = 0; i < view.servers.size(); ++i) {
    if (view.servers[i].name == server_name) index = i;
    known_servers += (i ? ", " : "") + view.servers[i].name;
  }
  if (index == view.servers.size()) {
    metrics_.CountBadRequest("unknown_server");
    return {404,
            ErrorBody("unknown_server", "unknown server " + Quote(server_name) + " in cluster '" +
                                            cluster_name + "'; known servers: " + known_servers)};
  }
  const auto& s = view.servers[index];
  const auto& cls = config_->classes[ki->second];
  const auto bound = router::BoundAt(s, now);
  // -1: no bound to show (unknown, or not a replica).
  const int64_t bound_ms =
      s.role == router::Role::kReplica && bound ? router::ToMillisCeil(*bound) : -1;

  // Why the server may (or may not) serve the class, mirroring router::Route.
  bool ok = false;
  const char* reason = "";
  std::string message;
  if (!snap->status[index].probed) {
    reason = "not_probed";
    message = "not probed yet";
  } else if (!router::UpAt(s, now)) {
    reason = "down";
    message =
        s.up ? "down: has not answered a probe in time" : "down: " + snap->status[index].last_error;
  } else if (s.role == router::Role::kPrimary) {
    ok = view.primary == static_cast<int>(index);
    reason = ok ? "primary" : "primary_ambiguous";
    message = ok ? "the cluster's primary serves every class"
                 : "several servers claim to be primary (split brain)";
  } else if (s.role != router::Role::kReplica) {
    reason = "role_unknown";
    message = "neither a primary nor a replica";
  } else if (cls.max_staleness <= router::Duration::zero()) {
    reason = "primary_only_class";
    message = "class '" + cls.name + "' is served by the primary only";
  } else if (!s.replicating) {
    reason = "not_replicating";
    message = "replication is not running";
  } else if (!bound) {
    reason = "bound_unknown";
    message = "staleness bound unknown (replayed position older than the remembered history)";
  } else if (*bound > cls.max_staleness) {
    reason = "stale";
    message = "staleness bound " + std::to_string(bound_ms) + " ms exceeds the class limit of " +
              std::to_string(router::ToMillis(cls.max_staleness)) + " ms";
  } else if (!router::Eligible(s, cls, ki->second, now)) {
    reason = "settling";
    message = "held back until its bound has stayed below half the limit for " +
              std::to_string(router::ToMillis(cls.settle)) + " ms";
  } else {
    ok = true;
    reason = "fresh_replica";
    message = "staleness bound within the class limit";
  }

  std::string body;
  body.reserve(256);
  body += "{\"cluster\":";
  AppendJsonString(body, cluster_name);
  body += ",\"server\":";
  AppendJsonString(body, s.name);
  body += ",\"class\":";
  AppendJsonString(body, cls.name);
  body += ",\"role\":";
  AppendJsonString(body, snap->status[index].probed ? router::RoleName(s.role) : "unknown");
  body += ",\"up\":";
  body += router::UpAt(s, now) ? "true" : "false";
  body += ",\"ok\":";
  body += ok ? "true" : "false";
  body += ",\"staleness_bound_ms\":";
  body += s.role == router::Role::kPrimary && ok ? "0"
          : bound_ms >= 0                        ? std::to_string(bound_ms)
                                                 : "null";
  body += ",\"max_staleness_ms\":" + std::to_string(router::ToMillis(cls.max_staleness));
  body += ",\"reason\":";
  AppendJsonString(body, reason);
  body += ",\"message\":";
  AppendJsonString(body, message);
  body += "}";
  return {ok ? 200 : 503, std::move(body)};
}

ApiResponse HttpApi::Status(router::TimePoint now, int client) const {
  using nlohmann::json;
  const ClientConfig* who = client >= 0 && static_cast<size_t>(client) < config_->clients.size()
                                ? &config_->clients[static_cast<size_t>(client)]
                                : nullptr;
  auto class_visible = [who](const std::string& name) { return !who || who->AllowsClass(name); };
  json out;
  out["ready"] = monitor_.Ready();
  out["probe_interval_ms"] = router::ToMillis(config_->probe_interval);
  json classes = json::array();
  for (const auto& c : config_->classes) {
    if (!class_visible(c.name)) continue;
    classes.push_back({{"name", c.name},
                       {"max_staleness_ms", router::ToMillis(c.max_staleness)},
                       {"fallback", c.fallback == router::Fallback::kError ? "error" : "primary"},
                       {"settle_ms", router::ToMillis(c.settle)}});
  }
  out["classes"] = classes;
  json clusters = json::array();
  for (size_t ci = 0; ci < monitor_.cluster_count(); ++ci) {
    const auto snap = monitor_.Snapshot(ci);
    const auto& view = snap->view;
    if (who && !who->AllowsCluster(view.name)) continue;
    json cj;
    cj["name"] = view.name;
    cj["engine"] = view.engine == router::Engine::kPostgres ? "postgres" : "mysql";
    cj["primary"] = view.primary >= 0 ? json(view.servers[static_cast<size_t>(view.primary)].name)
                                      : json(nullptr);
    cj["primaries_claimed"] = view.primaries_claimed;
    cj["primary_problem"] = snap->primary_problem;
    cj["history"] = {{"latest_position", snap->history_latest}, {"entries", snap->history_size}};
    json servers = json::array();
    for (size_t i = 0; i < view.servers.size(); ++i) {
      const auto& v = view.servers[i];
      const auto& st = snap->status[i];
      json sj;
      sj["name"] = v.name;
      sj["host"] = v.host;
      sj["port"] = v.port;
      sj["role"] = st.probed ? router::RoleName(v.role) : "unknown";
      sj["up"] = router::UpAt(v, now);
      sj["flavor"] = st.flavor;
      sj["version"] = st.version;
      sj["last_probe_age_ms"] =
          st.probed ? json(router::ToMillis(now - st.last_probe_at)) : json(nullptr);
      sj["last_probe_duration_ms"] = st.last_probe_seconds * 1000.0;
      sj["last_error"] = st.last_error;
      sj["last_error_kind"] = probes::ErrorKindName(st.last_error_kind);
      if (v.role == router::Role::kPrimary) {
        sj["write_position"] = st.write_position;
      }
      if (v.role == router::Role::kReplica) {
        sj["replicating"] = st.replication_running;
        sj["replication_state"] = st.replication_state;
        sj["replication_error"] = st.replication_error;
        sj["upstream"] = st.upstream;
        sj["replay_paused"] = st.replay_paused;
        sj["replay_position"] = st.replay_position;
        sj["receive_position"] = st.receive_position;
        const auto bound = router::BoundAt(v, now);
        sj["staleness_bound_known"] = bound.has_value();
        sj["staleness_bound_ms"] = bound ? json(router::ToMillisCeil(*bound)) : json(nullptr);
        if (!bound && v.fresh_as_of) {
          sj["staleness_at_least_ms"] = router::ToMillisCeil(now - *v.fresh_as_of);
        }
        sj[view.engine == router::Engine::kPostgres ? "lag_bytes" : "lag_transactions"] =
            st.lag_distance ? json(*st.lag_distance) : json(nullptr);
        sj["reported_lag_seconds"] =
            st.reported_lag_seconds ? json(*st.reported_lag_seconds) : json(nullptr);
        json eligible = json::array();
        for (size_t k = 0; k < config_->classes.size(); ++k) {
          if (class_visible(config_->classes[k].name) &&
              router::Eligible(v, config_->classes[k], k, now))
            eligible.push_back(config_->classes[k].name);
        }
        sj["eligible_classes"] = eligible;
      }
      servers.push_back(std::move(sj));
    }
    cj["servers"] = std::move(servers);
    clusters.push_back(std::move(cj));
  }
  out["clusters"] = std::move(clusters);
  // Engine error texts are not guaranteed UTF-8: replace bad bytes rather
  // than let dump() throw and turn the status page into a 500.
  return {200, out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

ApiResponse HttpApi::Ready() const {
  if (monitor_.Ready()) return {200, "{\"status\":\"ready\"}"};
  return {503, ErrorBody("not_ready", "the first probe cycle has not completed yet")};
}

ApiResponse HttpApi::Handle(const HttpRequest& req) {
  int client = -1;
  if (auto refused = Guard(req, client)) return std::move(*refused);
  const std::string_view path = req.path;
  constexpr std::string_view kCheck = "/v1/check/";
  enum class Endpoint { kNone, kRoute, kStatus, kCheck, kPage, kHealth, kReady, kMetrics };
  Endpoint endpoint = path == "/v1/route"                       ? Endpoint::kRoute
                      : path == "/v1/status"                    ? Endpoint::kStatus
                      : path.substr(0, kCheck.size()) == kCheck ? Endpoint::kCheck
                      : path == "/"                             ? Endpoint::kPage
                      : path == "/healthz"                      ? Endpoint::kHealth
                      : path == "/readyz"                       ? Endpoint::kReady
                      : path == "/metrics"                      ? Endpoint::kMetrics
                                                                : Endpoint::kNone;
  // /v1/check/<cluster>/<server>: exactly two non-empty segments.
  std::string_view check_cluster, check_server;
  if (endpoint == Endpoint::kCheck) {
    const std::string_view rest = path.substr(kCheck.size());
    const size_t slash = rest.find('/');
    check_cluster = rest.substr(0, slash);
    check_server = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (check_cluster.empty() || check_server.empty() ||
        check_server.find('/') != std::string_view::npos) {
      endpoint = Endpoint::kNone;
    }
  }
  if (endpoint == Endpoint::kNone) {
    metrics_.CountBadRequest("not_found");
    return {404, ErrorBody("not_found", "no such endpoint " + Quote(req.path) +
                                            "; try /, /v1/route, /v1/status, "
                                            "/v1/check/CLUSTER/SERVER?class=K, /healthz, "
                                            "/readyz, /metrics")};
  }
  if (req.method != "GET" && req.method != "HEAD") {
    metrics_.CountBadRequest("method_not_allowed");
    ApiResponse res{
        405, ErrorBody("method_not_allowed", "method " + Quote(req.method) + " is not allowed on " +
                                                 Quote(req.path) + "; use GET (or HEAD)")};
    res.headers.emplace_back("Allow", "GET, HEAD");
    return res;
  }
  switch (endpoint) {
    case Endpoint::kRoute: {
      const auto started = router::Clock::now();
      ApiResponse res = Route(req.params, started, client);
      metrics_.ObserveRouteDuration(
          std::chrono::duration<double>(router::Clock::now() - started).count());
      return res;
    }
    case Endpoint::kStatus: return Status(router::Clock::now(), client);
    case Endpoint::kCheck:
      return Check(std::string(check_cluster), std::string(check_server), req.params,
                   router::Clock::now());
    case Endpoint::kPage: return {200, kStatusPageHtml, "text/html; charset=utf-8"};
    case Endpoint::kHealth: return {200, "{\"status\":\"ok\"}"};
    case Endpoint::kReady: return Ready();
    case Endpoint::kMetrics:
      return {200, metrics_.Render(monitor_), "text/plain; version=0.0.4; charset=utf-8"};
    case Endpoint::kNone: break;
  }
  return {500, ErrorBody("internal", "unhandled endpoint")};
}

}  // namespace lagrouter::daemon
