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

// The 0 s class with strict_replicas = true the strict readers read in
// (configured only with --strict-readers).
inline constexpr const char* kStrictClass = "c0s_strict";

struct Route {
  int status = 0;  // 0: no answer; -1: an answer without a server
  std::string server;
  int port = 0;
  int64_t bound_ms = -1;
  std::string reason;    // fresh_replica, proven_replica, fallback_primary, primary_class...
  std::string session;   // session mode: the token to pass back ("" when absent)
  std::string position;  // session mode: the named server's position as last probed
  std::string error;     // a non-200 answer's "error" ("" when none)
};

// A /v1/route request; empty members are left out. `session` set (even to
// ""): session mode, session=<it> (issue 23).
struct RouteAsk {
  std::string cls, wait, after;
  std::optional<std::string> session;
};

// Every request has 2 s; one connection per thread.
test_support::HttpOptions Http();

// `wait`: wait= (empty: none); `after`: after= (empty: none).
Route AskRoute(HttpClient& client, const std::string& cls, const std::string& wait = "",
               const std::string& after = "");
Route AskRoute(HttpClient& client, const RouteAsk& ask);

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
