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
  // bound has stayed at or below half the limit for `settle`.
  Duration settle = std::chrono::seconds(1);
};

// Hysteresis gate of one replica for one class, updated on every new sample.
struct Gate {
  bool held = false;
  std::optional<TimePoint> comfortable_since;
  TimePoint eligible_from = TimePoint::min();  // TimePoint::max(): held back
};

// Advances a gate at time `now`. `healthy`: up, a replica, replicating, bound
// known. `peak_bound`: the bound just before this sample arrived (the highest
// it reached since the last update); `bound`: the bound with this sample.
void UpdateGate(Gate& gate, const QueryClass& cls, bool healthy, Duration peak_bound,
                Duration bound, TimePoint now);

struct ServerView {
  std::string name;
  std::string host;
  int port = 0;
  uint32_t weight = 1;
  Role role = Role::kUnknown;
  bool up = false;
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

// Up at `now`: the latest probe succeeded and is recent enough.
inline bool UpAt(const ServerView& s, TimePoint now) {
  return s.up && now <= s.up_until;
}

// Staleness bound of a replica at `now`; nullopt when unknown.
std::optional<Duration> BoundAt(const ServerView& s, TimePoint now);

// Whether replica `s` may serve class `cls` (index `class_index`) at `now`,
// optionally having replayed `after`.
bool Eligible(const ServerView& s, const QueryClass& cls, size_t class_index, TimePoint now,
              const Position* after = nullptr);

enum class Outcome { kFreshReplica, kPrimaryClass, kFallbackPrimary, kNoEligibleServer };
const char* OutcomeName(Outcome outcome);

struct Decision {
  Outcome outcome = Outcome::kNoEligibleServer;
  int server = -1;  // index into ClusterView::servers; -1 with kNoEligibleServer
  Duration bound{0};
  Duration valid_for{0};
  const char* why = "";  // for kNoEligibleServer: a sentence for people
};

// Picks the server for one request. `spread` is any counter (e.g. a request
// sequence number): it spreads load over eligible replicas by weight.
Decision Route(const ClusterView& cluster, const QueryClass& cls, size_t class_index,
               const Position* after, TimePoint now, uint64_t spread);

}  // namespace lagrouter::router
