// The JSON bodies of the HTTP API, apart from dispatch. Route and check bodies
// are built by hand (they are on the hot path of clients and load balancers);
// the status body with nlohmann::json.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/api/waits.h"
#include "daemon/config/config.h"
#include "daemon/monitor/snapshot.h"
#include "router/decide.h"
#include "router/router.h"

namespace lagrouter::daemon {

// {"error":CODE,"message":TEXT}
std::string ErrorBody(std::string_view error, std::string_view message);

// What a route was asked, for its answer.
struct RouteAsk {
  std::string_view cluster, klass;
  const router::ClusterView& view;
  const router::QueryClass& cls;
  size_t class_index;
  const router::Position* after;  // nullptr: no read-your-writes position
  // How long the request was parked for an on-demand probe, if it was.
  std::optional<router::Duration> waited;
  // A session's answer (non-empty session_server): the token naming the
  // server, and the server's position as last probed.
  std::string_view session_server = {};
  std::string position = {};
};

// What route answers from one cluster view share: each server's escaped
// name and host, its port and weight, in either role. Built once per
// snapshot (HttpApi keeps it with the snapshot), it leaves only the bounds
// to write per answer.
class RouteFragments {
 public:
  RouteFragments() = default;
  explicit RouteFragments(const router::ClusterView& view);

 private:
  friend std::string RouteBody(const RouteAsk&, const router::Verdict&, const RouteFragments&);
  struct Server {
    // "server":..,"role":"replica","host":..,"port":..,"staleness_bound_ms":
    std::string as_replica;
    std::string as_primary;  // the same with "role":"primary"
    std::string weight;      // ,"weight":..}
  };
  std::vector<Server> servers_;  // indexed like the view's servers
};

// The answer of /v1/route for a verdict whose decision names a server: that
// server, and in `servers` every server the decision could have named (each
// replica the verdict judged fresh, or the primary), each with its weight
// and its own valid_for_ms as of the decision (Decision::at), so a client
// that caches the answer can still spread its reads by weight. `fragments`:
// those of ask.view.
std::string RouteBody(const RouteAsk& ask, const router::Verdict& v,
                      const RouteFragments& fragments);
// The same, building the fragments (an answer off the hot path: a parked request's).
std::string RouteBody(const RouteAsk& ask, const router::Verdict& v);

// The answer of /v1/check: why `server` may or may not serve `cls` now;
// `pass`: the check's verdict (200 or 503).
std::string CheckBody(const ClusterSnapshot& snap, size_t server, const router::QueryClass& cls,
                      router::Reason reason, bool pass, router::TimePoint now);

// The answer of /v1/status, limited to what `client` (nullptr: anyone) may
// see; `waits` (may be null) tells how many route requests wait now.
std::string StatusBody(const SnapshotSource& source, const Config& config,
                       const ClientConfig* client, router::TimePoint now,
                       const Waits* waits = nullptr);

}  // namespace lagrouter::daemon
