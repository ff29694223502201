// The daemon under test as the checker asks it: /v1/route, /v1/status, and
// the configuration --print-config writes for it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/chaos/options.h"
#include "tests/support/http.h"

namespace lagrouter::chaos {

using test_support::HttpClient;

struct Route {
  int status = 0;  // 0: no answer; -1: an answer without a server
  std::string server;
  int port = 0;
  int64_t bound_ms = -1;
};

// Every request has 2 s; one connection per thread.
test_support::HttpOptions Http();

// `wait`: wait= (empty: none); `after`: after= (empty: none).
Route AskRoute(HttpClient& client, const std::string& cls, const std::string& wait = "",
               const std::string& after = "");

// The current topology as the daemon sees it: node numbers (port - base).
struct Topology {
  int primary = -1;
  std::vector<int> replicas;
};
// nullopt: no single primary up, or no replica.
std::optional<Topology> CurrentTopology(const Options& o);
// CurrentTopology, retried for up to 30 s.
std::optional<Topology> WaitForTopology(const Options& o);

// The daemon's configuration: the cluster probed every --interval, a 0 s class
// the writer follows, and the readers' classes; with --check-margin, the 1 s
// and 10 s classes carry it (a load balancer's checks poll them).
std::string DaemonConfig(const Options& o);

}  // namespace lagrouter::chaos
