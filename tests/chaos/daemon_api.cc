#include "tests/chaos/daemon_api.h"

#include <chrono>
#include <thread>

#include "tests/support/config_text.h"
#include "tests/support/process.h"

namespace lagrouter::chaos {

using namespace test_support;

HttpOptions Http() {
  HttpOptions o;
  o.connect_timeout_s = o.read_timeout_s = o.write_timeout_s = 2;
  o.keep_alive = true;
  return o;
}

Route AskRoute(HttpClient& client, const std::string& cls, const std::string& wait,
               const std::string& after) {
  RouteAsk ask;
  ask.cls = cls;
  ask.wait = wait;
  ask.after = after;
  return AskRoute(client, ask);
}

namespace {

std::string StringMember(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

Route AskRoute(HttpClient& client, const RouteAsk& ask) {
  Route r;
  std::string path = RoutePath("shop", ask.cls, ask.after);
  if (!ask.wait.empty()) path += "&wait=" + ask.wait;
  // Tokens are "s1." and a server name: letters, digits, '-', '_', '.'.
  if (ask.session) path += "&session=" + *ask.session;
  const HttpReply reply = client.Get(path);
  r.status = reply.status;
  const Json& j = reply.json;
  if (r.status != 200) {
    r.error = StringMember(j, "error");
    return r;
  }
  if (!j.is_object() || !j.contains("port") || !j.contains("server")) {
    r.status = -1;
    return r;
  }
  r.server = j["server"].get<std::string>();
  r.port = j["port"].get<int>();
  r.bound_ms = j.contains("staleness_bound_ms") && j["staleness_bound_ms"].is_number()
                   ? j["staleness_bound_ms"].get<int64_t>()
                   : -1;
  r.reason = StringMember(j, "reason");
  r.session = StringMember(j, "session");
  r.position = StringMember(j, "position");
  return r;
}

std::optional<Topology> CurrentTopology(const Options& o) {
  const HttpReply status = HttpClient(o.daemon_port, Http()).Get("/v1/status");
  if (status.status != 200) return std::nullopt;
  const Json& j = status.json;
  if (!j.is_object()) return std::nullopt;
  Topology t;
  for (const auto& c : j["clusters"]) {
    for (const auto& s : c["servers"]) {
      const int node = s["port"].get<int>() - o.base_port;
      const std::string role = s["role"].get<std::string>();
      if (role == "primary" && s["up"].get<bool>()) {
        if (t.primary >= 0) return std::nullopt;  // ambiguous: try again later
        t.primary = node;
      } else if (role == "replica") {
        t.replicas.push_back(node);
      }
    }
  }
  if (t.primary < 0 || t.replicas.empty()) return std::nullopt;
  return t;
}

std::optional<Topology> WaitForTopology(const Options& o) {
  std::optional<Topology> topo;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!(topo = CurrentTopology(o)) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return topo;
}

std::string DaemonConfig(const Options& o) {
  ClusterSpec cluster = o.postgres ? PgShop(o.base_port) : MariaDbShop("shop", o.base_port);
  if (o.patroni()) {
    cluster = ClusterSpec("shop", "postgres");
    cluster.Set("discovery", "patroni")
        .Set("patroni_urls", o.patroni_urls)
        .Set("discovery_interval", "500ms");
  }
  ConfigText config;
  config.Listen(o.daemon_port)
      .Probe(o.interval, "500ms")
      .Cluster(cluster)
      .Class("primary", "0s")
      .Class("c50ms", "50ms")
      .ClassSet("c50ms", "settle", "0s")
      .Class("c300ms", "300ms")
      .Class("c1s", "1s")
      .Class("c5s", "5s")
      .Class("c10s", "10s");
  if (!o.check_margin.empty()) {
    config.ClassSet("c1s", "check_margin", o.check_margin);
    config.ClassSet("c5s", "check_margin", o.check_margin);
    config.ClassSet("c10s", "check_margin", o.check_margin);
  }
  if (o.strict_readers > 0) {
    // Strict reads on replicas (issue 23): a 0 s class that may be answered
    // with a replica proven to hold every commit returned before the request.
    config.Class(kStrictClass, "0s").ClassSet(kStrictClass, "strict_replicas", true);
  }
  return config.str();
}

}  // namespace lagrouter::chaos
