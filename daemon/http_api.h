// The HTTP contract of the design: /v1/route, /v1/status, /v1/check, /healthz,
// /readyz, /metrics and the status page at /. Handlers read published
// snapshots only; they never wait for a probe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "daemon/auth.h"
#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/monitor.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace lagrouter::daemon {

struct ApiResponse {
  int status = 200;
  std::string body;
  const char* content_type = "application/json";
};

using QueryParams = std::multimap<std::string, std::string>;

// Binds `server` to host:port with a listen backlog fit for bursts of new
// connections (cpp-httplib 0.11 uses 5) and SO_REUSEPORT, so that a reload
// can open its listener before the old one closes. False when unusable.
bool BindServer(httplib::Server& server, const std::string& host, int port);

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

  // Registers the handlers and tunes the server (TCP_NODELAY, keep-alive,
  // thread pool, timeouts, limits).
  void Install(httplib::Server& server);

  // The access gate of every protected path (all of /v1/ once a client is
  // configured; see Authenticator::Protects). Authenticates the bearer token,
  // then authorizes the request's targets: every `cluster` and `class` query
  // parameter, and the first path segment after the endpoint
  // (/v1/<endpoint>/<cluster>/...). On refusal it fills `res` (401 with
  // WWW-Authenticate, or 403; JSON), counts and logs it, and returns false.
  // Install() runs it for every request before routing, so endpoints added
  // later are covered without doing anything.
  bool Guard(const httplib::Request& req, httplib::Response& res);
  // The client the gate admitted for the request this thread is serving
  // (cpp-httplib runs the gate and the handler on the same thread, one
  // request at a time); -1 when auth is off.
  static int CurrentClient();

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
