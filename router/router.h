// Routing policy: which server may serve a read of a query class, now.
// Pure: the views are immutable snapshots and `now` is an argument.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "router/position.h"
#include "router/time.h"

namespace lagrouter::router {

enum class Role { kUnknown, kPrimary, kReplica };
const char* RoleName(Role role);

enum class Fallback { kPrimary, kError };

struct QueryClass {
  std::string name;
  Duration max_staleness{0};  // 0: primary only
  Fallback fallback = Fallback::kPrimary;
  // Hysteresis: a replica held back from this class is re-admitted once its
  // bound has stayed at or below half the limit for `settle`. 0: none, the
  // bound alone decides (for classes tighter than the probe interval, whose
  // bound passes the limit between any two probes).
  Duration settle = std::chrono::seconds(1);
  // /v1/check only: a polling load balancer keeps a server for up to one
  // check period after its check last passed, and the bound grows by that
  // much meanwhile. The check fails once bound + check_margin passes the
  // limit, so the server is out before its bound can pass the limit itself.
  Duration check_margin{0};
  // /v1/route: how long a request without `wait` may wait for an on-demand
  // probe when no replica qualifies yet (0: answer at once). Not a routing
  // rule: the answer is the same judgement, made on newer samples.
  Duration max_wait{0};
  // A 0s class only: a request that may wait is answered with a replica
  // proven to hold every commit that returned before the request arrived
  // (Explain's `proven_since`), else the primary when its wait ends.
  bool strict_replicas = false;
};

// Hysteresis gate of one replica for one class, updated on every new sample.
struct Gate {
  bool held = false;
  // Held since its bound passed the limit (not only for its health): it is
  // re-admitted after `settle`, not at its first comfortable sample.
  bool lagged = false;
  std::optional<TimePoint> comfortable_since;
  TimePoint eligible_from = TimePoint::min();  // TimePoint::max(): held back
};

// Advances a gate at time `now`: held once the bound passes `limit` (or the
// replica is unhealthy); never held when `settle` is 0. Re-admitted:
//  - after its bound passed the limit: once the bound stayed at or below
//    `comfortable` for `settle` (hysteresis against a replica that lags
//    around the limit);
//  - when it was held for its health alone (down, not replicating, not a
//    replica, bound unknown) and its bound never passed the limit meanwhile:
//    at its first own sample at or below `comfortable`. Such a hold says
//    nothing of lag: an old primary back as a replica, a replica whose
//    stream was stopped a moment for a re-pointing, a probe that failed once.
// Comfort is judged at the replica's own samples only (`own_sample`), the
// bottom of its sawtooth: between them its bound only grows, and the next
// primary sample lands at the top (one interval above the bottom). Judged
// there, a replica one probe interval behind its primary never settled in a
// class whose comfort line is two intervals (1 s at the default 250 ms).
// `healthy`: up, a replica, replicating, bound known. `peak_bound`: the bound
// just before this sample arrived (the highest it reached since the last
// update); `bound`: the bound with this sample (for an unhealthy replica, the
// floor it is known to be at, zero without one: only a bound past the limit
// counts as lag). `primary_live`: the cluster had a primary whose probes
// succeeded since the previous update, and has one now. Without one no sample
// can lower any replica's bound, which then passes the limit whatever the
// replica does: that holds it, but is not its lag (a killed primary back after
// 3 s finds its replicas as fresh as it is).
void UpdateGate(Gate& gate, Duration limit, Duration comfortable, Duration settle, bool healthy,
                Duration peak_bound, Duration bound, TimePoint now, bool own_sample = true,
                bool primary_live = true);

// The limit a class's check gate holds a replica to: max_staleness less the
// check margin.
inline Duration CheckLimit(const QueryClass& cls) {
  return cls.max_staleness - cls.check_margin;
}

// Where a held replica's bound must stay for `settle` before a route may use
// it again: half the limit, so a replica is not let back in at the top of its
// sawtooth (judged at each sample, the bottom of the sawtooth).
inline Duration RouteComfort(const QueryClass& cls) {
  return cls.max_staleness / 2;
}
// The line a held replica's bound must be back under before it is re-admitted,
// for routes and checks alike: a check never holds a fresh replica longer than
// /v1/route does.
inline Duration ReadmitBelow(const QueryClass& cls) {
  return RouteComfort(cls);
}

// The class's gate for routes: held above the limit, comfortable at RouteComfort.
inline void UpdateRouteGate(Gate& gate, const QueryClass& cls, bool healthy, Duration peak_bound,
                            Duration bound, TimePoint now, bool own_sample = true,
                            bool primary_live = true) {
  UpdateGate(gate, cls.max_staleness, RouteComfort(cls), cls.settle, healthy, peak_bound, bound,
             now, own_sample, primary_live);
}

// The check's own gate (classes with a check_margin), on top of the route's:
// held once the bound passes the check limit (or the replica is unhealthy),
// released at the first sample whose bound is at or below ReadmitBelow, with
// no settle time of its own. A check also honours the route's gate, so:
//  - a replica the route holds is held by the check exactly as long;
//  - a replica whose bound only entered the margin band (CheckLimit, limit],
//    which the route never held, is back in the check as soon as a probe shows
//    it under the route's own re-admission line, not `settle` later;
//  - a replica steadily lagging around the check limit does not flap (it must
//    get back under ReadmitBelow first).
// Not a safety rule: the margin alone (kNearLimit) keeps a polled check from
// passing a replica its balancer could keep past the limit.
void UpdateCheckGate(Gate& gate, const QueryClass& cls, bool healthy, Duration peak_bound,
                     Duration bound, TimePoint now);

struct ServerView {
  std::string name;
  std::string host;
  int port = 0;
  uint32_t weight = 1;
  Role role = Role::kUnknown;
  bool probed = false;  // at least one probe finished
  bool up = false;      // the latest probe succeeded
  // A server whose last successful probe is older than this counts as down at
  // request time, even before its hanging probe times out.
  TimePoint up_until = TimePoint::max();
  bool replicating = false;
  // Replicas: the latest primary sample time whose position this replica has
  // replayed; the staleness bound is `now - fresh_as_of`. When !bound_known,
  // fresh_as_of (if set) is only a floor: the replica is older than all history.
  std::optional<TimePoint> fresh_as_of;
  bool bound_known = false;
  Position replayed;
  std::vector<Gate> gates;  // one per class, indexed like the class list
  // UpdateCheckGate's gates, for /v1/check; only classes with a check_margin
  // use theirs, on top of `gates`.
  std::vector<Gate> check_gates;
  // Primaries that can tell which of their commits may not be visible yet
  // (PostgreSQL 13 and later, probed with pg_read_all_stats), and the newest
  // probe start before which every commit whose WAL was flushed is known to
  // be visible to new snapshots there. A replica replays flushed WAL, so it
  // can show a commit before its primary does.
  bool tells_visibility = false;
  std::optional<TimePoint> visible_as_of;
};

struct ClusterView {
  std::string name;
  Engine engine = Engine::kPostgres;
  // Index of the one server probed as primary and up; -1 when there is none,
  // it is down, or several claim the role (split brain).
  int primary = -1;
  int primaries_claimed = 0;
  Duration probe_interval = std::chrono::milliseconds(250);
  std::vector<ServerView> servers;
};

// Sets `primary` and `primaries_claimed` from the servers: the primary is the
// one up server whose latest probe says primary; none when several do.
void ElectPrimary(ClusterView& cluster);

// Up at `now`: the latest probe succeeded and is recent enough.
inline bool UpAt(const ServerView& s, TimePoint now) {
  return s.up && now <= s.up_until;
}

// Staleness bound of a replica at `now`; nullopt when unknown.
std::optional<Duration> BoundAt(const ServerView& s, TimePoint now);
// `now - fresh_as_of`: how stale data fresh as of then is at `now`, or
// nullopt without one. The one definition of the bound; BoundAt adds that it
// is known.
inline std::optional<Duration> StalenessAt(std::optional<TimePoint> fresh_as_of, TimePoint now) {
  if (!fresh_as_of) return std::nullopt;
  return now - *fresh_as_of;
}

// Why a server may or may not serve a read of a class now. The first reason
// that applies, in this order, wins; kPrimary and kFreshReplica may serve.
enum class Reason {
  kNotProbed,         // no probe has finished yet
  kDown,              // the latest probe failed, or none answered in time
  kPrimary,           // the cluster's one primary: serves every class
  kPrimaryAmbiguous,  // claims the primary role, but so does another server
  kCommitsInFlight,   // the primary, not yet shown to make visible every commit
                      // flushed before `visible_since` (a session from a replica)
  kRoleUnknown,       // neither a primary nor a replica
  kPrimaryOnlyClass,  // a replica, and the class is 0s
  kNotReplicating,    // replication stopped under a live primary
  kBoundUnknown,      // replayed position older than the remembered history
  kStale,             // bound above the class limit
  kNearLimit,         // /v1/check: bound + the class's check_margin above the limit
  kSettling,          // back within the limit, held back by hysteresis
  kNotReplayed,       // has not replayed the position a request asked for
  kUnproven,          // not (yet) shown to hold every commit before `proven_since`
  kFreshReplica,      // a replica within the class limit (and proven, when asked)
};
const char* ReasonName(Reason reason);
inline bool MayServe(Reason reason) {
  return reason == Reason::kPrimary || reason == Reason::kFreshReplica;
}

// Who asks: a request routed now, or a load balancer's polled health check,
// which must allow for the time until its next check (QueryClass::check_margin).
enum class Asker { kRoute, kCheck };

// The one judgement of eligibility: /v1/route, /v1/check, /v1/status and the
// metrics all ask it. `after`: a position the read must see, or nullptr.
// `proven_since`: the read must show every commit that returned before it, so
// a replica serves only once it has replayed a primary sample taken at or
// after it (fresh_as_of >= proven_since); with it a strict_replicas 0s class
// may be served by replicas. `visible_since`: the read may have been preceded
// by one on a replica that finished before then, so the primary serves only
// once a probe started at or after it found no commit still invisible there
// (where the primary can tell).
Reason Explain(const ClusterView& cluster, size_t server, const QueryClass& cls, size_t class_index,
               TimePoint now, const Position* after = nullptr, Asker asker = Asker::kRoute,
               std::optional<TimePoint> proven_since = std::nullopt,
               std::optional<TimePoint> visible_since = std::nullopt);

// Whether a polled check passes: the server may serve the class now, and is a
// replica when `replica_only` (a load balancer's replica pool).
inline bool CheckPasses(Reason reason, bool replica_only) {
  return replica_only ? reason == Reason::kFreshReplica : MayServe(reason);
}

// A replica that may serve the class now: Explain() == kFreshReplica.
inline bool Eligible(const ClusterView& cluster, size_t server, const QueryClass& cls,
                     size_t class_index, TimePoint now, const Position* after = nullptr) {
  return Explain(cluster, server, cls, class_index, now, after) == Reason::kFreshReplica;
}

// kProvenReplica: a replica chosen by a proof (Explain's `proven_since`): a
// strict read, or a session moving to another replica.
enum class Outcome {
  kFreshReplica,
  kPrimaryClass,
  kFallbackPrimary,
  kNoEligibleServer,
  kProvenReplica
};
inline bool IsReplica(Outcome o) {
  return o == Outcome::kFreshReplica || o == Outcome::kProvenReplica;
}
const char* OutcomeName(Outcome outcome);

struct Decision {
  Outcome outcome = Outcome::kNoEligibleServer;
  int server = -1;  // index into ClusterView::servers; -1 with kNoEligibleServer
  Duration bound{0};
  Duration valid_for{0};
  TimePoint at{};        // when it was decided: `bound` and `valid_for` are as of then
  const char* why = "";  // for kNoEligibleServer: a sentence for people
};

// How long a replica's answer for `cls` stays right: until its bound, which
// grows with the clock, reaches the class limit.
inline Duration ValidFor(const QueryClass& cls, Duration bound) {
  return cls.max_staleness - bound;
}

// Picks the server for one request. `spread` is any counter (e.g. a request
// sequence number): it spreads load over eligible replicas by weight.
// Decide() (router/decide.h) with a route's ask, its decision only.
Decision Route(const ClusterView& cluster, const QueryClass& cls, size_t class_index,
               const Position* after, TimePoint now, uint64_t spread);

}  // namespace lagrouter::router
