#include "daemon/api/http_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>

#include "common/text.h"
#include "daemon/api/api_json.h"
#include "daemon/api/status_page.h"

namespace lagrouter::daemon {

namespace {

// The query parameters an endpoint takes, each at most once: `slots[i]` is
// the value of `names[i]`, or nullptr. Returns the refusal, or nothing.
template <size_t N>
std::optional<std::string> TakeParams(const QueryParams& params,
                                      const std::array<const char*, N>& names,
                                      std::array<const std::string*, N>& slots, const char* usage) {
  for (const auto& [key, value] : params) {
    size_t i = 0;
    while (i < N && key != names[i]) ++i;
    if (i == N) return "unknown parameter " + Quote(key) + "; " + usage;
    if (slots[i] != nullptr) return "parameter " + Quote(key) + " given twice";
    slots[i] = &value;
  }
  return std::nullopt;
}

}  // namespace

ApiPath ParseApiPath(std::string_view path) {
  ApiPath p;
  if (path.substr(0, 4) != "/v1/") return p;
  path.remove_prefix(4);
  std::string_view* segments[] = {&p.endpoint, &p.cluster, &p.server};
  for (std::string_view* segment : segments) {
    const size_t slash = path.find('/');
    *segment = path.substr(0, slash);
    if (slash == std::string_view::npos) return p;
    path.remove_prefix(slash + 1);
  }
  p.more = true;
  return p;
}

// A request reads what it needs from its thread's cache, so it writes no
// cache line that the other threads' requests write too (a lock, a shared
// reference count). Kept for one HttpApi at a time: a thread that moves to
// another drops the snapshots it kept for the previous one.
struct HttpApi::ThreadCache {
  struct Cluster {
    uint64_t generation = SnapshotSource::kUntracked;
    std::shared_ptr<const ClusterSnapshot> snapshot;
    RouteFragments fragments;  // of `snapshot`
  };
  uint64_t api = 0;  // the id_ of the HttpApi this is for; 0: none yet
  std::vector<Cluster> clusters;
  // This thread's request sequence per (cluster, class), to spread load over
  // replicas: round-robin per thread, where one shared counter per slot
  // bounced its cache line between the threads.
  std::vector<uint64_t> spread;
};

namespace {

std::atomic<uint64_t> g_next_api_id{1};
// Where each thread's sequences start, so the threads' first requests do
// not all go to the same replica.
std::atomic<uint64_t> g_next_thread_start{0};

}  // namespace

HttpApi::HttpApi(std::shared_ptr<const Config> config, const SnapshotSource& source,
                 Metrics& metrics, Waits* waits)
    : id_(g_next_api_id.fetch_add(1, std::memory_order_relaxed)),
      config_(std::move(config)),
      source_(source),
      metrics_(metrics),
      waits_(waits),
      auth_(*config_) {
  for (size_t i = 0; i < config_->clusters.size(); ++i) {
    cluster_index_[config_->clusters[i].name] = i;
    known_clusters_ += (i ? ", " : "") + config_->clusters[i].name;
  }
  for (size_t i = 0; i < config_->classes.size(); ++i) {
    class_index_[config_->classes[i].name] = i;
    known_classes_ += (i ? ", " : "") + config_->classes[i].name;
  }
}

HttpApi::ThreadCache& HttpApi::ThisThread() {
  thread_local ThreadCache cache;
  if (cache.api != id_) {
    cache = ThreadCache{};
    cache.api = id_;
    cache.clusters.resize(source_.cluster_count());
    thread_local const uint64_t start = g_next_thread_start.fetch_add(1, std::memory_order_relaxed);
    cache.spread.assign(config_->clusters.size() * config_->classes.size(), start);
  }
  return cache;
}

HttpApi::CachedCluster HttpApi::Cached(ThreadCache& cache, size_t cluster) {
  ThreadCache::Cluster& cached = cache.clusters[cluster];
  const uint64_t generation = source_.Generation(cluster);
  if (generation == SnapshotSource::kUntracked || generation != cached.generation ||
      cached.snapshot == nullptr) {
    auto latest = source_.Snapshot(cluster);
    if (latest != cached.snapshot) {
      cached.fragments = RouteFragments(latest->view);
      cached.snapshot = std::move(latest);
    }
    cached.generation = generation;
  }
  return {*cached.snapshot, cached.fragments};
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
    const ApiPath path = ParseApiPath(req.path);
    if (!path.cluster.empty()) clusters.push_back(path.cluster);
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

std::variant<HttpApi::Target, ApiResponse> HttpApi::Resolve(const std::string* cluster,
                                                            const std::string* klass) {
  if (cluster == nullptr) {
    return BadRequest("bad_request",
                      "missing parameter 'cluster'; known clusters: " + known_clusters_);
  }
  if (klass == nullptr) {
    return BadRequest("bad_request", "missing parameter 'class'; known classes: " + known_classes_);
  }
  const auto ci = cluster_index_.find(*cluster);
  if (ci == cluster_index_.end()) {
    return BadRequest("unknown_cluster", "unknown cluster " + Quote(*cluster) +
                                             "; known clusters: " + known_clusters_);
  }
  const auto ki = class_index_.find(*klass);
  if (ki == class_index_.end()) {
    return BadRequest("unknown_class",
                      "unknown class " + Quote(*klass) + "; known classes: " + known_classes_);
  }
  ThreadCache& cache = ThisThread();
  const CachedCluster cached = Cached(cache, ci->second);
  return Target{ci->second, ki->second, &cached.snapshot, &cached.fragments,
                &cache.spread[ci->second * config_->classes.size() + ki->second]};
}

namespace {

// `session=`: "s1." and the name of the server the session's last read went
// to ("s1." alone, or nothing at all: none known). The index of that server
// in `view`, or -1; nullopt when it is no token.
std::optional<int> ParseSessionToken(std::string_view token, const router::ClusterView& view) {
  constexpr std::string_view kPrefix = "s1.";
  if (token.empty()) return -1;  // a new session
  if (token.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view server = token.substr(kPrefix.size());
  if (server.empty()) return -1;
  const bool name_like =
      server.size() <= 64 && std::all_of(server.begin(), server.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '_' || c == '.';
      });
  if (!name_like) return std::nullopt;
  for (size_t i = 0; i < view.servers.size(); ++i) {
    if (view.servers[i].name == server) return static_cast<int>(i);
  }
  return -1;  // not (or no longer) one of the cluster's servers: none known
}

}  // namespace

ApiResponse HttpApi::Route(const QueryParams& params, router::TimePoint now, int client,
                           Deferrer* deferrer) {
  static constexpr std::array<const char*, 5> kNames = {"cluster", "class", "after", "wait",
                                                        "session"};
  std::array<const std::string*, 5> given{};
  if (auto bad = TakeParams(params, kNames, given,
                            "/v1/route takes cluster, class, after, wait and session")) {
    return BadRequest("bad_request", *bad);
  }
  const auto [cluster_name, class_name, after_text, wait_text, session_text] = given;
  auto resolved = Resolve(cluster_name, class_name);
  if (auto* refused = std::get_if<ApiResponse>(&resolved)) return std::move(*refused);
  const Target& t = std::get<Target>(resolved);
  router::Position after;
  if (after_text != nullptr) {
    auto parsed = router::ParsePosition(t.snapshot->view.engine, *after_text);
    if (!parsed) {
      return BadRequest("bad_position",
                        "parameter 'after' " + Quote(*after_text) + ": " +
                            Printable(parsed.error(), 256));  // the parser echoes input
    }
    after = std::move(parsed).value();
  }
  int sticky = -1;
  if (session_text != nullptr) {
    const auto server = ParseSessionToken(*session_text, t.snapshot->view);
    if (!server) {
      return BadRequest("bad_session", "parameter 'session' " +
                                           Quote(Printable(*session_text, 80)) +
                                           " is not a session token: pass back the 'session' of "
                                           "the session's last answer, or an empty one to start");
    }
    sticky = *server;
  }
  const auto& cls = config_->classes[t.klass];
  router::Duration wait = cls.max_wait;
  if (wait_text != nullptr) {
    auto parsed = ParseDuration(*wait_text);
    if (!parsed) {
      return BadRequest("bad_request", "parameter 'wait' " + Quote(Printable(*wait_text, 64)) +
                                           ": " + parsed.error());
    }
    wait = *parsed;
  }
  wait = std::min(wait, config_->max_wait);
  const uint64_t spread = (*t.spread)++;
  const RouteAsked asked{*cluster_name,
                         *class_name,
                         t.cluster,
                         t.klass,
                         after_text ? &after : nullptr,
                         client,
                         session_text != nullptr};
  if (deferrer == nullptr || waits_ == nullptr) wait = router::Duration::zero();
  auto ask = router::Ask::Route(cls, t.klass, asked.after, spread, wait);
  ask.For(asked.session, sticky, now);
  const router::Verdict v =
      router::Decide(t.snapshot->view, ask, now, t.snapshot->history_latest_at);
  if (v.wait) {
    std::shared_ptr<LaterReply> later = deferrer->Defer();
    Waits::Waiter w;
    w.cluster = t.cluster;
    w.klass = t.klass;
    if (asked.after != nullptr) w.after = after;
    w.spread = spread;
    w.session = asked.session;
    w.sticky = sticky;
    w.started = now;
    w.deadline = now + wait;
    w.answer = [this, later, cluster = *cluster_name, klass = *class_name, asked, after = w.after,
                now](const ClusterSnapshot& snapshot, const router::Verdict& verdict) {
      RouteAsked again = asked;  // its views into the request are gone: point at the copies
      again.cluster = cluster;
      again.klass = klass;
      again.after = after ? &*after : nullptr;
      later->Send(RouteAnswer(again, snapshot, nullptr, verdict, router::Clock::now() - now));
    };
    if (!waits_->Park(std::move(w), v.plan)) {  // shutting down: answer now
      later->Send(RouteAnswer(asked, *t.snapshot, t.fragments, v, std::nullopt));
    }
    return {};  // the LaterReply answers
  }
  return RouteAnswer(asked, *t.snapshot, t.fragments, v, std::nullopt);
}

ApiResponse HttpApi::RouteAnswer(const RouteAsked& asked, const ClusterSnapshot& snapshot,
                                 const RouteFragments* fragments, const router::Verdict& v,
                                 std::optional<router::Duration> waited) {
  const router::Decision& d = v.decision;
  metrics_.CountRoute(asked.client, asked.cluster_index, asked.class_index, d.outcome);
  if (d.outcome == router::Outcome::kNoEligibleServer) {
    return {503, ErrorBody("no_eligible_server", "cluster '" + std::string(asked.cluster) +
                                                     "', class '" + std::string(asked.klass) +
                                                     "': " + d.why)};
  }
  RouteAsk ask{asked.cluster,     asked.klass, snapshot.view, config_->classes[asked.class_index],
               asked.class_index, asked.after, waited};
  if (asked.session) {
    // What the named server is known to have: a lower bound of what the read sees.
    const auto server = static_cast<size_t>(d.server);
    const auto& s = snapshot.view.servers[server];
    ask.session_server = s.name;
    ask.position = s.role == router::Role::kPrimary ? snapshot.status[server].write_position
                                                    : router::ToString(s.replayed);
  }
  return {200, fragments != nullptr ? RouteBody(ask, v, *fragments) : RouteBody(ask, v)};
}

ApiResponse HttpApi::Check(std::string_view cluster_name, std::string_view server_name,
                           const QueryParams& params, router::TimePoint now) {
  static constexpr std::array<const char*, 2> kNames = {"class", "role"};
  std::array<const std::string*, 2> given{};
  if (auto bad = TakeParams(params, kNames, given, "/v1/check takes class and role")) {
    return BadRequest("bad_request", *bad);
  }
  const auto [class_name, role] = given;
  if (role != nullptr && *role != "replica" && *role != "any") {
    return BadRequest("bad_request", "parameter 'role' " + Quote(*role) +
                                         " is not one of replica (only a fresh replica passes) "
                                         "or any (the default: the primary passes too)");
  }
  const bool replica_only = role != nullptr && *role == "replica";
  const std::string cluster(cluster_name);
  auto resolved = Resolve(&cluster, class_name);
  if (auto* refused = std::get_if<ApiResponse>(&resolved)) return std::move(*refused);
  const Target& t = std::get<Target>(resolved);
  const auto& servers = t.snapshot->view.servers;
  for (size_t i = 0; i < servers.size(); ++i) {
    if (servers[i].name != server_name) continue;
    const auto& cls = config_->classes[t.klass];
    const auto reason = router::Decide(t.snapshot->view, router::Ask::Check(cls, t.klass), now,
                                       t.snapshot->history_latest_at)
                            .reasons[i];
    const bool pass = router::CheckPasses(reason, replica_only);
    metrics_.CountCheck(t.cluster, t.klass, reason);
    return {pass ? 200 : 503, CheckBody(*t.snapshot, i, cls, reason, pass, now)};
  }
  std::string known_servers;
  for (const auto& s : servers) known_servers += (known_servers.empty() ? "" : ", ") + s.name;
  return BadRequest("unknown_server", "unknown server " + Quote(server_name) + " in cluster '" +
                                          cluster + "'; known servers: " + known_servers);
}

ApiResponse HttpApi::Status(router::TimePoint now, int client) const {
  const ClientConfig* who = client >= 0 && static_cast<size_t>(client) < config_->clients.size()
                                ? &config_->clients[static_cast<size_t>(client)]
                                : nullptr;
  return {200, StatusBody(source_, *config_, who, now, waits_)};
}

ApiResponse HttpApi::Ready() const {
  if (source_.Ready()) return {200, "{\"status\":\"ready\"}"};
  return {503, ErrorBody("not_ready", "the first probe cycle has not completed yet")};
}

// Every endpoint: its path (a prefix for /v1/check/), how to call it (for
// the 404 message) and what serves it.
const HttpApi::Endpoint HttpApi::kEndpoints[] = {
    {"/", false, "/", &HttpApi::ServePage},
    {"/v1/route", false, "/v1/route", &HttpApi::ServeRoute},
    {"/v1/status", false, "/v1/status", &HttpApi::ServeStatus},
    {"/v1/check/", true, "/v1/check/CLUSTER/SERVER?class=K", &HttpApi::ServeCheck},
    {"/healthz", false, "/healthz", &HttpApi::ServeHealth},
    {"/readyz", false, "/readyz", &HttpApi::ServeReady},
    {"/metrics", false, "/metrics", &HttpApi::ServeMetrics},
};

ApiResponse HttpApi::Handle(const HttpRequest& req) {
  int client = -1;
  if (auto refused = Guard(req, client)) return std::move(*refused);
  const std::string_view path = req.path;
  for (const Endpoint& e : kEndpoints) {
    if (e.prefix ? path.substr(0, e.path.size()) != e.path : path != e.path) continue;
    if (req.method != "GET" && req.method != "HEAD") {
      metrics_.CountBadRequest("method_not_allowed");
      ApiResponse res{405, ErrorBody("method_not_allowed",
                                     "method " + Quote(req.method) + " is not allowed on " +
                                         Quote(req.path) + "; use GET (or HEAD)")};
      res.headers.emplace_back("Allow", "GET, HEAD");
      return res;
    }
    return (this->*e.serve)(req, client);
  }
  return NotFound(req);
}

ApiResponse HttpApi::NotFound(const HttpRequest& req) {
  std::string usage;
  for (const Endpoint& e : kEndpoints) usage += (usage.empty() ? "" : ", ") + std::string(e.usage);
  metrics_.CountBadRequest("not_found");
  return {404, ErrorBody("not_found", "no such endpoint " + Quote(req.path) + "; try " + usage)};
}

ApiResponse HttpApi::ServeRoute(const HttpRequest& req, int client) {
  const auto started = router::Clock::now();
  ApiResponse res = Route(req.params, started, client, req.deferrer);
  metrics_.ObserveRouteDuration(
      std::chrono::duration<double>(router::Clock::now() - started).count());
  return res;
}

ApiResponse HttpApi::ServeCheck(const HttpRequest& req, int) {
  // /v1/check/<cluster>/<server>: exactly two non-empty segments.
  const ApiPath path = ParseApiPath(req.path);
  if (path.cluster.empty() || path.server.empty() || path.more) return NotFound(req);
  return Check(path.cluster, path.server, req.params, router::Clock::now());
}

ApiResponse HttpApi::ServeStatus(const HttpRequest&, int client) {
  return Status(router::Clock::now(), client);
}

ApiResponse HttpApi::ServePage(const HttpRequest&, int) {
  return {200, kStatusPageHtml, "text/html; charset=utf-8"};
}

ApiResponse HttpApi::ServeHealth(const HttpRequest&, int) {
  return {200, "{\"status\":\"ok\"}"};
}

ApiResponse HttpApi::ServeReady(const HttpRequest&, int) {
  return Ready();
}

ApiResponse HttpApi::ServeMetrics(const HttpRequest&, int) {
  return {200, metrics_.Render(source_), "text/plain; version=0.0.4; charset=utf-8"};
}

}  // namespace lagrouter::daemon
