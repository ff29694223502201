// The HTTP contract of the design: /v1/route, /v1/status, /healthz, /readyz,
// /metrics. Handlers read published snapshots only; they never wait for a probe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/monitor.h"

namespace httplib {
class Server;
}

namespace lagrouter::daemon {

struct ApiResponse {
  int status = 200;
  std::string body;
  const char* content_type = "application/json";
};

using QueryParams = std::multimap<std::string, std::string>;

// Binds `server` to host:port with a listen backlog fit for bursts of new
// connections (cpp-httplib 0.11 uses 5). False when the address is unusable.
bool BindServer(httplib::Server& server, const std::string& host, int port);

class HttpApi {
 public:
  HttpApi(std::shared_ptr<const Config> config, Monitor& monitor, Metrics& metrics);

  // Handlers, callable without a socket (unit tests, fuzzing).
  ApiResponse Route(const QueryParams& params, router::TimePoint now);
  ApiResponse Status(router::TimePoint now) const;
  ApiResponse Ready() const;

  // Registers the handlers and tunes the server (TCP_NODELAY, keep-alive,
  // thread pool, timeouts, limits).
  void Install(httplib::Server& server);

 private:
  ApiResponse BadRequest(const char* error, const std::string& message);

  std::shared_ptr<const Config> config_;
  Monitor& monitor_;
  Metrics& metrics_;
  std::unordered_map<std::string, size_t> cluster_index_;
  std::unordered_map<std::string, size_t> class_index_;
  std::string known_clusters_;
  std::string known_classes_;
  // Per (cluster, class) request sequence, to spread load over replicas.
  std::unique_ptr<std::atomic<uint64_t>[]> spread_;
};

}  // namespace lagrouter::daemon
