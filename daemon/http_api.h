// The HTTP contract of the design: /v1/route, /v1/status, /v1/check, /healthz,
// /readyz, /metrics and the status page at /. Handlers read published
// snapshots only; they never wait for a probe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "daemon/auth.h"
#include "daemon/config.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "daemon/monitor.h"

namespace lagrouter::daemon {

// True when another socket holds host:port (SO_REUSEPORT would otherwise let
// a second daemon share the port silently): checked once at start.
bool PortInUse(const std::string& host, int port);

class HttpApi {
 public:
  HttpApi(std::shared_ptr<const Config> config, Monitor& monitor, Metrics& metrics);

  // Handlers, callable without a socket (unit tests, fuzzing). `client`:
  // the authenticated client (index into Config::clients), -1 when auth is off.
  ApiResponse Route(const QueryParams& params, router::TimePoint now, int client = -1);
  // Shows only the clusters and classes the client may use.
  ApiResponse Status(router::TimePoint now, int client = -1) const;
  // GET /v1/check/<cluster>/<server>?class=K: 200 when that server may serve
  // class K now, else 503 (for load balancer health checks, e.g. HAProxy).
  // Access control is the gate's (Guard): the cluster segment and the class.
  ApiResponse Check(const std::string& cluster, const std::string& server,
                    const QueryParams& params, router::TimePoint now);
  ApiResponse Ready() const;

  // One request, end to end: the access gate, then the endpoint. Every
  // answer, errors included, is JSON (the status page at / is HTML).
  ApiResponse Handle(const HttpRequest& req);

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
  ApiResponse BadRequest(const char* error, const std::string& message);

  std::shared_ptr<const Config> config_;
  Monitor& monitor_;
  Metrics& metrics_;
  Authenticator auth_;
  std::unordered_map<std::string, size_t> cluster_index_;
  std::unordered_map<std::string, size_t> class_index_;
  std::string known_clusters_;
  std::string known_classes_;
  // Per (cluster, class) request sequence, to spread load over replicas.
  std::unique_ptr<std::atomic<uint64_t>[]> spread_;
};

}  // namespace lagrouter::daemon
