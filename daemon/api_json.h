// The JSON bodies of the HTTP API, apart from dispatch. Route and check bodies
// are built by hand (they are on the hot path of clients and load balancers);
// the status body with nlohmann::json.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "daemon/config.h"
#include "daemon/snapshot.h"
#include "daemon/waits.h"
#include "router/router.h"

namespace lagrouter::daemon {

// {"error":CODE,"message":TEXT}
std::string ErrorBody(std::string_view error, std::string_view message);

// The answer of /v1/route for a decision that names a server; `waited`: how
// long the request was parked for an on-demand probe, if it was.
std::string RouteBody(std::string_view cluster, std::string_view klass,
                      const router::ServerView& server, const router::Decision& d,
                      std::optional<router::Duration> waited = std::nullopt);

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
