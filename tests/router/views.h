// Cluster views for routing tests: a primary, replicas with a given bound at
// kNow, and the cluster around them (the primary elected as the monitor does).
#pragma once

#include <chrono>
#include <vector>

#include "router/router.h"

namespace lagrouter::router {

using std::chrono::milliseconds;
using std::chrono::seconds;

inline const TimePoint kNow = TimePoint{} + seconds(10000);

inline QueryClass Class(const char* name, Duration max, Fallback fb = Fallback::kPrimary) {
  QueryClass c;
  c.name = name;
  c.max_staleness = max;
  c.fallback = fb;
  return c;
}

inline ServerView Primary(const char* name) {
  ServerView s;
  s.name = name;
  s.role = Role::kPrimary;
  s.probed = true;
  s.up = true;
  return s;
}

// A healthy replica whose bound at kNow is `stale`.
inline ServerView Replica(const char* name, Duration stale, uint64_t lsn = 1000) {
  ServerView s;
  s.name = name;
  s.role = Role::kReplica;
  s.probed = true;
  s.up = true;
  s.replicating = true;
  s.fresh_as_of = kNow - stale;
  s.bound_known = true;
  s.replayed = Lsn{lsn};
  return s;
}

inline ClusterView Cluster(std::vector<ServerView> servers) {
  ClusterView c;
  c.name = "shop";
  c.servers = std::move(servers);
  ElectPrimary(c);
  return c;
}

// One cluster view per Reason: server `server` of `cluster` has exactly that
// reason for `cls` (class index 0) at kNow. Shared by the router's table test
// and the API's check/route agreement test.
struct ReasonCase {
  Reason reason;
  ClusterView cluster;
  size_t server;
  QueryClass cls;
};

inline std::vector<ReasonCase> EveryReason() {
  const auto second = Class("second", seconds(1));
  auto with = [](ServerView r, auto change) {
    change(r);
    return r;
  };
  auto replica = [&](auto change) {
    return Cluster({Primary("p"), with(Replica("r", milliseconds(300)), change)});
  };
  std::vector<ReasonCase> cases = {
      {Reason::kNotProbed, replica([](ServerView& r) {
         r = ServerView();
         r.name = "r";
       }),
       1, second},
      {Reason::kDown, replica([](ServerView& r) { r.up = false; }), 1, second},
      {Reason::kDown, replica([](ServerView& r) { r.up_until = kNow - milliseconds(1); }), 1,
       second},
      {Reason::kPrimary, replica([](ServerView&) {}), 0, second},
      {Reason::kPrimaryAmbiguous, Cluster({Primary("p"), Primary("q")}), 1, second},
      {Reason::kRoleUnknown, replica([](ServerView& r) { r.role = Role::kUnknown; }), 1, second},
      {Reason::kPrimaryOnlyClass, replica([](ServerView&) {}), 1, Class("inventory", seconds(0))},
      {Reason::kNotReplicating, replica([](ServerView& r) { r.replicating = false; }), 1, second},
      {Reason::kBoundUnknown, replica([](ServerView& r) { r.bound_known = false; }), 1, second},
      {Reason::kStale, replica([](ServerView& r) { r.fresh_as_of = kNow - milliseconds(1001); }), 1,
       second},
      {Reason::kSettling, replica([](ServerView& r) {
         r.gates.resize(1);
         r.gates[0].held = true;
         r.gates[0].eligible_from = kNow + milliseconds(1);
       }),
       1, second},
      {Reason::kFreshReplica, replica([](ServerView&) {}), 1, second},
  };
  return cases;
}

}  // namespace lagrouter::router
