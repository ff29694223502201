// The HTTP contract: /v1/route, /v1/status, /v1/check, /healthz, /readyz,
// /metrics and the status page at /. Handlers read published snapshots only;
// they never wait for a probe. Bodies are built in api_json.h.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>

#include "daemon/api/api_json.h"
#include "daemon/api/auth.h"
#include "daemon/api/waits.h"
#include "daemon/config/config.h"
#include "daemon/http/server.h"
#include "daemon/metrics/metrics.h"
#include "daemon/monitor/snapshot.h"

namespace lagrouter::daemon {

// The segments of an API path, /v1/<endpoint>/<cluster>/<server>, parsed
// once for the access gate (which authorizes `cluster`) and the endpoints.
// Empty where the path has no such segment; `more`: segments after `server`.
struct ApiPath {
  std::string_view endpoint, cluster, server;
  bool more = false;
};
ApiPath ParseApiPath(std::string_view path);

class HttpApi {
 public:
  // `waits`: where route requests that wait are parked; null: none waits.
  HttpApi(std::shared_ptr<const Config> config, const SnapshotSource& source, Metrics& metrics,
          Waits* waits = nullptr);

  // One request, end to end: the access gate, then the endpoint. Every
  // answer, errors included, is JSON (the status page at / is HTML).
  ApiResponse Handle(const HttpRequest& req);

  // The endpoints, callable without a socket (unit tests, fuzzing). `client`:
  // the authenticated client (index into Config::clients), -1 when auth is off.
  // With a `deferrer` (and waits), a request whose wait may let a replica
  // serve it is parked and answered later through the deferrer.
  ApiResponse Route(const QueryParams& params, router::TimePoint now, int client = -1,
                    Deferrer* deferrer = nullptr);
  // GET /v1/check/<cluster>/<server>?class=K: 200 when that server may serve
  // class K now, else 503 (for load balancer health checks, e.g. HAProxy).
  ApiResponse Check(std::string_view cluster, std::string_view server, const QueryParams& params,
                    router::TimePoint now);
  // Shows only the clusters and classes the client may use.
  ApiResponse Status(router::TimePoint now, int client = -1) const;
  ApiResponse Ready() const;

  // The access gate of every protected path (all of /v1/ once a client is
  // configured; see Authenticator::Protects). Authenticates the bearer token,
  // then authorizes the request's targets: every `cluster` and `class` query
  // parameter, and the first path segment after the endpoint
  // (/v1/<endpoint>/<cluster>/...). Returns the refusal (401 with
  // WWW-Authenticate, or 403), counted and logged, or nothing and sets
  // `client` (-1 when auth is off). Handle() runs it before any endpoint, so
  // endpoints added later are covered without doing anything.
  std::optional<ApiResponse> Guard(const HttpRequest& req, int& client);

 private:
  // What each thread keeps between its requests (see ThisThread()).
  struct ThreadCache;
  // This thread's cache for this HttpApi: made on its first request, and
  // again when it last served another HttpApi (a reload's, or a test's).
  ThreadCache& ThisThread();
  // The cluster's latest snapshot, as this thread last read it, and its
  // route fragments: re-read only when the source's generation changed.
  // Valid until this thread's next call.
  struct CachedCluster {
    const ClusterSnapshot& snapshot;
    const RouteFragments& fragments;
  };
  CachedCluster Cached(ThreadCache& cache, size_t cluster);

  // A cluster and class named by a request, resolved against the configuration.
  struct Target {
    size_t cluster;
    size_t klass;
    const ClusterSnapshot* snapshot;  // Cached(cluster)
    const RouteFragments* fragments;  // of `snapshot`
    uint64_t* spread;                 // this thread's request sequence of (cluster, class)
  };
  // The one resolution of cluster and class names for /v1/route and /v1/check:
  // the same bad input gets the same answer (400, see docs/api.md).
  std::variant<Target, ApiResponse> Resolve(const std::string* cluster, const std::string* klass);
  ApiResponse BadRequest(const char* error, const std::string& message);
  // What a route request asked, for its answer. The views point into the
  // request (or, for a parked one, into copies its answer keeps).
  struct RouteAsked {
    std::string_view cluster, klass;
    size_t cluster_index, class_index;
    const router::Position* after;  // the request's position, or nullptr
    int client;
    bool session;  // the answer carries a session token
  };
  // The answer to a route request for verdict `v`, counted. `fragments`: the
  // snapshot's (nullptr: built here); `waited`: how long the request was parked.
  ApiResponse RouteAnswer(const RouteAsked& asked, const ClusterSnapshot& snapshot,
                          const RouteFragments* fragments, const router::Verdict& v,
                          std::optional<router::Duration> waited);
  ApiResponse NotFound(const HttpRequest& req);

  struct Endpoint {
    std::string_view path;
    bool prefix;        // matches every path below it
    const char* usage;  // how to call it, for the 404 message
    ApiResponse (HttpApi::*serve)(const HttpRequest& req, int client);
  };
  static const Endpoint kEndpoints[];
  ApiResponse ServeRoute(const HttpRequest& req, int client);
  ApiResponse ServeCheck(const HttpRequest& req, int client);
  ApiResponse ServeStatus(const HttpRequest& req, int client);
  ApiResponse ServePage(const HttpRequest& req, int client);
  ApiResponse ServeHealth(const HttpRequest& req, int client);
  ApiResponse ServeReady(const HttpRequest& req, int client);
  ApiResponse ServeMetrics(const HttpRequest& req, int client);

  // Unique in the process, unlike the address (a later HttpApi may get it):
  // the key of the threads' caches.
  const uint64_t id_;
  std::shared_ptr<const Config> config_;
  const SnapshotSource& source_;
  Metrics& metrics_;
  Waits* waits_;
  Authenticator auth_;
  std::unordered_map<std::string, size_t> cluster_index_;
  std::unordered_map<std::string, size_t> class_index_;
  std::string known_clusters_;
  std::string known_classes_;
};

}  // namespace lagrouter::daemon
