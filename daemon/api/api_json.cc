#include "daemon/api/api_json.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "daemon/api/json.h"

namespace lagrouter::daemon {

using nlohmann::json;
using router::Reason;

namespace {

// A sentence for people: why /v1/check passed or failed. `pass` tells the
// primary of a replica-only check (role=replica) apart.
std::string ReasonMessage(Reason reason, bool pass, const router::ServerView& s,
                          const ServerStatus& st, const router::QueryClass& cls, int64_t bound_ms) {
  switch (reason) {
    case Reason::kNotProbed: return "not probed yet";
    case Reason::kDown:
      return s.up ? "down: has not answered a probe in time" : "down: " + st.last_error;
    case Reason::kPrimary:
      return pass ? "the cluster's primary serves every class"
                  : "the cluster's primary; this check passes replicas only (role=replica)";
    case Reason::kPrimaryAmbiguous: return "several servers claim to be primary (split brain)";
    case Reason::kCommitsInFlight:
      return "the primary, with commits not yet visible that a replica may already show";
    case Reason::kRoleUnknown: return "neither a primary nor a replica";
    case Reason::kPrimaryOnlyClass: return "class '" + cls.name + "' is served by the primary only";
    case Reason::kNotReplicating: return "replication is not running";
    case Reason::kBoundUnknown:
      return "staleness bound unknown (replayed position older than the remembered history)";
    case Reason::kStale:
      return "staleness bound " + std::to_string(bound_ms) + " ms exceeds the class limit of " +
             std::to_string(router::ToMillis(cls.max_staleness)) + " ms";
    case Reason::kNearLimit:
      return "staleness bound " + std::to_string(bound_ms) + " ms plus the check margin of " +
             std::to_string(router::ToMillis(cls.check_margin)) +
             " ms exceeds the class limit of " +
             std::to_string(router::ToMillis(cls.max_staleness)) +
             " ms: out before a polling load balancer could keep it past the limit";
    case Reason::kSettling:
      return "held back until its bound is back at or below " +
             std::to_string(router::ToMillis(router::ReadmitBelow(cls))) +
             " ms (after passing the class limit: stayed there for " +
             std::to_string(router::ToMillis(cls.settle)) + " ms)";
    case Reason::kNotReplayed: return "has not replayed the requested position";
    case Reason::kUnproven:
      return "not yet shown to hold every commit that returned before the request";
    case Reason::kFreshReplica: return "staleness bound within the class limit";
  }
  return "";
}

json ServerJson(const ClusterSnapshot& snap, size_t i, const Config& config,
                const ClientConfig* client, router::TimePoint now) {
  const auto& view = snap.view;
  const auto& v = view.servers[i];
  const auto& st = snap.status[i];
  static const probes::Sample kNoSample;
  const probes::Sample& ok = st.sample ? *st.sample : kNoSample;
  json sj;
  sj["name"] = v.name;
  sj["host"] = v.host;
  sj["port"] = v.port;
  sj["role"] = v.probed ? router::RoleName(v.role) : "unknown";
  sj["up"] = router::UpAt(v, now);
  sj["flavor"] = ok.flavor;
  sj["version"] = ok.version;
  sj["last_probe_age_ms"] = v.probed ? json(router::ToMillis(now - st.last_probe_at)) : json();
  sj["last_probe_duration_ms"] = st.last_probe_seconds * 1000.0;
  sj["last_error"] = st.last_error;
  sj["last_error_kind"] = probes::ErrorKindName(st.last_error_kind);
  sj["on_demand_probes"] = st.on_demand_probes;
  if (v.role == router::Role::kPrimary) sj["write_position"] = st.write_position;
  if (v.role != router::Role::kReplica) return sj;
  sj["replicating"] = st.replication_running;
  sj["replication_state"] = ok.replication_state;
  sj["replication_error"] = ok.replication_error;
  sj["upstream"] = ok.upstream;
  sj["replay_paused"] = st.replay_paused;
  sj["replay_position"] = router::ToString(ok.replay_position);
  sj["receive_position"] = router::ToString(ok.receive_position);
  const auto bound = router::BoundAt(v, now);
  sj["staleness_bound_known"] = bound.has_value();
  sj["staleness_bound_ms"] = bound ? json(router::ToMillisCeil(*bound)) : json();
  if (!bound && v.fresh_as_of) {
    sj["staleness_at_least_ms"] = router::ToMillisCeil(*router::StalenessAt(v.fresh_as_of, now));
  }
  sj[view.engine == router::Engine::kPostgres ? "lag_bytes" : "lag_transactions"] =
      st.lag_distance ? json(*st.lag_distance) : json();
  sj["reported_lag_seconds"] = st.reported_lag_seconds ? json(*st.reported_lag_seconds) : json();
  json eligible = json::array();
  for (size_t k = 0; k < config.classes.size(); ++k) {
    const auto& cls = config.classes[k];
    if ((!client || client->AllowsClass(cls.name)) && router::Eligible(view, i, cls, k, now)) {
      eligible.push_back(cls.name);
    }
  }
  sj["eligible_classes"] = std::move(eligible);
  return sj;
}

}  // namespace

std::string ErrorBody(std::string_view error, std::string_view message) {
  std::string body = "{\"error\":";
  AppendJsonString(body, error);
  body += ",\"message\":";
  AppendJsonString(body, message);
  body += "}";
  return body;
}

namespace {

// "server":..,"role":..,"host":..,"port":..,"staleness_bound_ms":
void AppendServerHead(std::string& out, const router::ServerView& s, bool replica) {
  using namespace std::string_view_literals;
  out += "\"server\":"sv;
  AppendJsonString(out, s.name);
  out += replica ? ",\"role\":\"replica\",\"host\":"sv : ",\"role\":\"primary\",\"host\":"sv;
  AppendJsonString(out, s.host);
  out += ",\"port\":"sv;
  AppendJsonNumber(out, s.port);
  out += ",\"staleness_bound_ms\":"sv;
}

// The server's head (see RouteFragments), then its bound and validity.
void AppendRouteServer(std::string& body, const std::string& head, router::Duration bound,
                       router::Duration valid_for) {
  using namespace std::string_view_literals;
  body += head;
  AppendJsonNumber(body, router::ToMillisCeil(bound));
  body += ",\"valid_for_ms\":"sv;
  AppendJsonNumber(body, std::max<int64_t>(0, router::ToMillis(valid_for)));
}

// ,"reason":"<OutcomeName>" of each outcome, escaped once for the process.
std::string_view ReasonMember(router::Outcome outcome) {
  static const auto kMembers = [] {
    constexpr router::Outcome kOutcomes[] = {
        router::Outcome::kFreshReplica, router::Outcome::kPrimaryClass,
        router::Outcome::kFallbackPrimary, router::Outcome::kNoEligibleServer,
        router::Outcome::kProvenReplica};
    std::array<std::string, std::size(kOutcomes)> members;
    for (const auto o : kOutcomes) {
      auto& m = members[static_cast<size_t>(o)];
      m = ",\"reason\":";
      AppendJsonString(m, router::OutcomeName(o));
    }
    return members;
  }();
  return kMembers[static_cast<size_t>(outcome)];
}

}  // namespace

RouteFragments::RouteFragments(const router::ClusterView& view) {
  servers_.resize(view.servers.size());
  for (size_t i = 0; i < view.servers.size(); ++i) {
    const auto& s = view.servers[i];
    const size_t head_size = 80 + s.name.size() + s.host.size();  // one allocation each
    servers_[i].as_replica.reserve(head_size);
    servers_[i].as_primary.reserve(head_size);
    AppendServerHead(servers_[i].as_replica, s, true);
    AppendServerHead(servers_[i].as_primary, s, false);
    servers_[i].weight = ",\"weight\":";
    AppendJsonNumber(servers_[i].weight, s.weight);
    servers_[i].weight += '}';
  }
}

std::string RouteBody(const RouteAsk& ask, const router::Verdict& v) {
  return RouteBody(ask, v, RouteFragments(ask.view));
}

std::string RouteBody(const RouteAsk& ask, const router::Verdict& v,
                      const RouteFragments& fragments) {
  using namespace std::string_view_literals;
  const router::Decision& d = v.decision;
  const bool replica = router::IsReplica(d.outcome);
  auto head = [&](size_t server) -> const std::string& {
    const auto& f = fragments.servers_[server];
    return replica ? f.as_replica : f.as_primary;
  };
  std::string body;
  body.reserve(512);
  body += "{\"cluster\":"sv;
  AppendJsonString(body, ask.cluster);
  body += ",\"class\":"sv;
  AppendJsonString(body, ask.klass);
  body += ","sv;
  AppendRouteServer(body, head(static_cast<size_t>(d.server)), d.bound, d.valid_for);
  body += ReasonMember(d.outcome);
  if (ask.waited) {
    char ms[32];
    std::snprintf(ms, sizeof ms, ",\"waited_ms\":%.3f",
                  std::chrono::duration<double, std::milli>(*ask.waited).count());
    body += ms;
  }
  body += ",\"servers\":["sv;
  // The servers the decision could have named: every eligible replica, or the primary.
  bool first = true;
  for (size_t i = 0; i < ask.view.servers.size(); ++i) {
    router::Duration bound{0}, valid_for = d.valid_for;
    if (replica) {
      if (v.reasons[i] != Reason::kFreshReplica) continue;
      bound = *router::BoundAt(ask.view.servers[i], d.at);
      valid_for = router::ValidFor(ask.cls, bound);
    } else if (static_cast<int>(i) != d.server) {
      continue;
    }
    body += first ? "{"sv : ",{"sv;
    first = false;
    AppendRouteServer(body, head(i), bound, valid_for);
    body += fragments.servers_[i].weight;
  }
  body += "]"sv;
  if (!ask.session_server.empty()) {
    body += ",\"position\":"sv;
    AppendJsonString(body, ask.position);
    body += ",\"session\":\"s1."sv;
    body += ask.session_server;  // a configured name: letters, digits, '-', '_', '.'
    body += "\""sv;
  }
  body += "}"sv;
  return body;
}

std::string CheckBody(const ClusterSnapshot& snap, size_t server, const router::QueryClass& cls,
                      Reason reason, bool pass, router::TimePoint now) {
  const auto& s = snap.view.servers[server];
  const auto bound = router::BoundAt(s, now);
  // -1: no bound to show (unknown, or not a replica).
  const int64_t bound_ms =
      s.role == router::Role::kReplica && bound ? router::ToMillisCeil(*bound) : -1;
  std::string body;
  body.reserve(256);
  body += "{\"cluster\":";
  AppendJsonString(body, snap.view.name);
  body += ",\"server\":";
  AppendJsonString(body, s.name);
  body += ",\"class\":";
  AppendJsonString(body, cls.name);
  body += ",\"role\":";
  AppendJsonString(body, s.probed ? router::RoleName(s.role) : "unknown");
  body += ",\"up\":";
  body += router::UpAt(s, now) ? "true" : "false";
  body += ",\"ok\":";
  body += pass ? "true" : "false";
  body += ",\"staleness_bound_ms\":";
  body += reason == Reason::kPrimary ? "0" : bound_ms >= 0 ? std::to_string(bound_ms) : "null";
  body += ",\"max_staleness_ms\":" + std::to_string(router::ToMillis(cls.max_staleness));
  body += ",\"check_margin_ms\":" + std::to_string(router::ToMillis(cls.check_margin));
  body += ",\"reason\":";
  AppendJsonString(body, router::ReasonName(reason));
  body += ",\"message\":";
  AppendJsonString(body, ReasonMessage(reason, pass, s, snap.status[server], cls, bound_ms));
  body += "}";
  return body;
}

namespace {

// A discovering cluster's "discovery" object; null for listed members.
json DiscoveryJson(const Config& config, const DiscoveryBoards* boards, const std::string& cluster,
                   router::TimePoint now) {
  const auto it = std::find_if(config.clusters.begin(), config.clusters.end(),
                               [&](const ClusterConfig& c) { return c.name == cluster; });
  if (it == config.clusters.end() || !it->discovery.enabled()) return json();
  json d;
  d["source"] = it->discovery.kind;
  d["urls"] = it->discovery.urls;
  const auto st = boards != nullptr ? boards->Status(cluster) : nullptr;
  if (st == nullptr) return d;
  d["state"] = DiscoveryStateName(st->state);
  d["answered_by"] = st->source;
  d["error"] = st->last_error;
  d["members"] = st->members;
  d["last_ok_age_ms"] = st->last_ok ? json(router::ToMillis(now - *st->last_ok)) : json();
  d["polls"] = st->polls;
  d["failed_polls"] = st->failed_polls;
  d["member_changes"] = st->member_changes;
  return d;
}

}  // namespace

std::string StatusBody(const SnapshotSource& source, const Config& config,
                       const ClientConfig* client, router::TimePoint now, const Waits* waits,
                       const DiscoveryBoards* discovery) {
  auto class_visible = [client](const std::string& name) {
    return !client || client->AllowsClass(name);
  };
  json out;
  out["ready"] = source.Ready();
  out["probe_interval_ms"] = router::ToMillis(config.probe_interval);
  out["on_demand"] = {{"max_wait_ms", router::ToMillis(config.max_wait)},
                      {"probes_per_second", config.on_demand_probes_per_second}};
  json classes = json::array();
  for (const auto& c : config.classes) {
    if (!class_visible(c.name)) continue;
    classes.push_back({{"name", c.name},
                       {"max_staleness_ms", router::ToMillis(c.max_staleness)},
                       {"fallback", c.fallback == router::Fallback::kError ? "error" : "primary"},
                       {"settle_ms", router::ToMillis(c.settle)},
                       {"check_margin_ms", router::ToMillis(c.check_margin)},
                       {"max_wait_ms", router::ToMillis(c.max_wait)},
                       {"strict_replicas", c.strict_replicas}});
  }
  out["classes"] = std::move(classes);
  json clusters = json::array();
  for (size_t ci = 0; ci < source.cluster_count(); ++ci) {
    const auto snap = source.Snapshot(ci);
    const auto& view = snap->view;
    if (client && !client->AllowsCluster(view.name)) continue;
    json cj;
    cj["name"] = view.name;
    cj["engine"] = view.engine == router::Engine::kPostgres ? "postgres" : "mysql";
    cj["primary"] =
        view.primary >= 0 ? json(view.servers[static_cast<size_t>(view.primary)].name) : json();
    cj["primaries_claimed"] = view.primaries_claimed;
    cj["primary_problem"] = snap->primary_problem;
    cj["history"] = {{"latest_position", snap->history_latest}, {"entries", snap->history_size}};
    cj["discovery"] = DiscoveryJson(config, discovery, view.name, now);
    uint64_t probes = 0;
    for (const auto& st : snap->status) probes += st.on_demand_probes;
    cj["on_demand"] = {{"waiting", waits != nullptr ? waits->waiting(ci) : 0}, {"probes", probes}};
    json servers = json::array();
    for (size_t i = 0; i < view.servers.size(); ++i) {
      servers.push_back(ServerJson(*snap, i, config, client, now));
    }
    cj["servers"] = std::move(servers);
    clusters.push_back(std::move(cj));
  }
  out["clusters"] = std::move(clusters);
  // Engine error texts are not guaranteed UTF-8: replace bad bytes rather
  // than let dump() throw and turn the status page into a 500.
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace lagrouter::daemon
