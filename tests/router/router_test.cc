#include "router/router.h"

#include <gtest/gtest.h>

#include <map>

#include "tests/router/views.h"

namespace lagrouter::router {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Routed(const ClusterView& c, const Decision& d) {
  return d.server < 0 ? "-" : c.servers[static_cast<size_t>(d.server)].name;
}

TEST(Route, TableOfPolicies) {
  const auto second = Class("second", seconds(1));
  const auto report = Class("report", seconds(3600), Fallback::kError);
  const auto inventory = Class("inventory", seconds(0));

  auto down = Replica("r1", milliseconds(100));
  down.up = false;
  auto stopped = Replica("r1", milliseconds(100));
  stopped.replicating = false;
  auto unknown = Replica("r1", milliseconds(100));
  unknown.bound_known = false;  // older than the whole history
  auto never = Replica("r1", milliseconds(0));
  never.fresh_as_of.reset();
  never.bound_known = false;
  auto primary_down = Primary("p");
  primary_down.up = false;

  struct Case {
    const char* what;
    ClusterView cluster;
    QueryClass cls;
    Outcome outcome;
    const char* server;
  };
  const Case cases[] = {
      {"fresh replica serves a 1 s class",
       Cluster({Primary("p"), Replica("r1", milliseconds(300))}), second, Outcome::kFreshReplica,
       "r1"},
      {"0 s class always goes to the primary",
       Cluster({Primary("p"), Replica("r1", milliseconds(0))}), inventory, Outcome::kPrimaryClass,
       "p"},
      {"bound exactly at the limit is still fresh",
       Cluster({Primary("p"), Replica("r1", seconds(1))}), second, Outcome::kFreshReplica, "r1"},
      {"stale replica: fall back to the primary",
       Cluster({Primary("p"), Replica("r1", milliseconds(1001))}), second,
       Outcome::kFallbackPrimary, "p"},
      {"stale replica, fallback error: no server",
       Cluster({Primary("p"), Replica("r1", seconds(3601))}), report, Outcome::kNoEligibleServer,
       "-"},
      {"1 h class tolerates a paused replica", Cluster({Primary("p"), Replica("r1", seconds(30))}),
       report, Outcome::kFreshReplica, "r1"},
      {"down replica is never eligible", Cluster({Primary("p"), down}), report,
       Outcome::kNoEligibleServer, "-"},
      {"stopped replication is never eligible", Cluster({Primary("p"), stopped}), report,
       Outcome::kNoEligibleServer, "-"},
      {"unknown bound is never eligible", Cluster({Primary("p"), unknown}), report,
       Outcome::kNoEligibleServer, "-"},
      {"never-sampled replica is never eligible", Cluster({Primary("p"), never}), second,
       Outcome::kFallbackPrimary, "p"},
      {"primary down: primary classes fail", Cluster({primary_down, Replica("r1", seconds(5))}),
       inventory, Outcome::kNoEligibleServer, "-"},
      {"primary down: loose classes keep their replicas",
       Cluster({primary_down, Replica("r1", seconds(5))}), report, Outcome::kFreshReplica, "r1"},
      {"primary down and no fresh replica: no server",
       Cluster({primary_down, Replica("r1", seconds(5))}), second, Outcome::kNoEligibleServer, "-"},
      {"split brain: no primary",
       Cluster({Primary("p"), Primary("q"), Replica("r1", milliseconds(10))}), inventory,
       Outcome::kNoEligibleServer, "-"},
      {"no replicas at all", Cluster({Primary("p")}), second, Outcome::kFallbackPrimary, "p"},
  };
  for (const auto& c : cases) {
    const auto d = Route(c.cluster, c.cls, 0, nullptr, kNow, 0);
    EXPECT_EQ(OutcomeName(d.outcome), std::string(OutcomeName(c.outcome))) << c.what;
    EXPECT_EQ(Routed(c.cluster, d), c.server) << c.what;
    if (d.outcome == Outcome::kNoEligibleServer) {
      EXPECT_NE(std::string(d.why), "") << c.what;
    }
  }
}

TEST(Route, SpreadsOverEligibleReplicasByWeight) {
  auto heavy = Replica("r2", milliseconds(10));
  heavy.weight = 3;
  const auto cluster =
      Cluster({Primary("p"), Replica("r1", milliseconds(10)), heavy, Replica("r3", seconds(5))});
  const auto cls = Class("second", seconds(1));
  std::map<std::string, int> counts;
  for (uint64_t i = 0; i < 400; ++i) {
    const auto d = Route(cluster, cls, 0, nullptr, kNow, i);
    ASSERT_EQ(d.outcome, Outcome::kFreshReplica);
    ++counts[Routed(cluster, d)];
  }
  EXPECT_EQ(counts["r1"], 100);
  EXPECT_EQ(counts["r2"], 300);
  EXPECT_EQ(counts.count("r3"), 0u);
  EXPECT_EQ(counts.count("p"), 0u);
}

TEST(Route, ValidForIsTheRemainingStalenessBudget) {
  const auto cluster = Cluster({Primary("p"), Replica("r1", milliseconds(412))});
  const auto d = Route(cluster, Class("hour", seconds(3600)), 0, nullptr, kNow, 0);
  EXPECT_EQ(ToMillis(d.bound), 412);
  EXPECT_EQ(ToMillis(d.valid_for), 3600000 - 412);
}

TEST(Route, BoundGrowsWithTheClockAtRequestTime) {
  // No new sample: the bound never decreases, and the replica drops out of the
  // class the moment the bound passes the limit.
  const auto cluster = Cluster({Primary("p"), Replica("r1", milliseconds(0))});
  const auto cls = Class("second", seconds(1));
  Duration last{-1};
  for (int ms = 0; ms <= 1500; ms += 50) {
    const auto now = kNow + milliseconds(ms);
    const auto bound = BoundAt(cluster.servers[1], now);
    ASSERT_TRUE(bound.has_value());
    EXPECT_GE(*bound, last);
    last = *bound;
    const auto d = Route(cluster, cls, 0, nullptr, now, 0);
    EXPECT_EQ(d.outcome, ms <= 1000 ? Outcome::kFreshReplica : Outcome::kFallbackPrimary) << ms;
  }
}

TEST(Route, AfterPositionNeedsReplayedReplica) {
  const auto cluster = Cluster(
      {Primary("p"), Replica("r1", milliseconds(5), 100), Replica("r2", milliseconds(5), 300)});
  const auto cls = Class("second", seconds(1));
  const Position after = Lsn{200};
  for (uint64_t i = 0; i < 10; ++i) {
    const auto d = Route(cluster, cls, 0, &after, kNow, i);
    EXPECT_EQ(Routed(cluster, d), "r2");
  }
  const Position future = Lsn{400};
  EXPECT_EQ(Routed(cluster, Route(cluster, cls, 0, &future, kNow, 0)), "p");
  const Position wrong_kind = *ParsePosition(Engine::kMysql, "0-1-1");
  EXPECT_EQ(Routed(cluster, Route(cluster, cls, 0, &wrong_kind, kNow, 0)), "p");
  const auto report = Class("report", seconds(3600), Fallback::kError);
  EXPECT_EQ(Route(cluster, report, 0, &future, kNow, 0).outcome, Outcome::kNoEligibleServer);
}

TEST(Gate, HoldsBackAndReadmitsAfterSettle) {
  const auto cls = Class("second", seconds(1));  // settle 1 s, comfortable at <= 500 ms
  Gate g;
  auto t = kNow;
  UpdateRouteGate(g, cls, true, milliseconds(200), milliseconds(5), t);
  EXPECT_FALSE(g.held);
  EXPECT_EQ(g.eligible_from, TimePoint::min());

  // The bound passed the limit between two samples: held back.
  t += milliseconds(250);
  UpdateRouteGate(g, cls, true, milliseconds(1200), milliseconds(1100), t);
  EXPECT_TRUE(g.held);
  EXPECT_EQ(g.eligible_from, TimePoint::max());

  // Back under the limit but not comfortably: still held.
  t += milliseconds(250);
  UpdateRouteGate(g, cls, true, milliseconds(900), milliseconds(700), t);
  EXPECT_EQ(g.eligible_from, TimePoint::max());

  // Comfortable: re-admitted once it stayed so for the settle time.
  t += milliseconds(250);
  const auto comfortable = t;
  UpdateRouteGate(g, cls, true, milliseconds(300), milliseconds(10), t);
  EXPECT_EQ(g.eligible_from, comfortable + seconds(1));
  t += milliseconds(500);
  UpdateRouteGate(g, cls, true, milliseconds(300), milliseconds(10), t);
  EXPECT_TRUE(g.held);
  t += milliseconds(500);
  UpdateRouteGate(g, cls, true, milliseconds(300), milliseconds(10), t);
  EXPECT_FALSE(g.held);
  EXPECT_EQ(g.eligible_from, TimePoint::min());
}

TEST(Gate, SettleZeroTurnsHysteresisOff) {
  // A 50 ms class probed every 250 ms: its bound passes the limit between
  // any two probes. With settle 0 only the bound at request time decides.
  auto cls = Class("tight", milliseconds(50));
  cls.settle = Duration::zero();
  Gate g;
  UpdateRouteGate(g, cls, true, milliseconds(260), milliseconds(3), kNow);
  EXPECT_FALSE(g.held);
  EXPECT_EQ(g.eligible_from, TimePoint::min());
  UpdateRouteGate(g, cls, false, milliseconds(900), milliseconds(900), kNow + milliseconds(250));
  EXPECT_EQ(g.eligible_from, TimePoint::min()) << "unhealthy or stale: Explain says so itself";
}

TEST(Gate, ASpikeDuringSettleRestartsIt) {
  const auto cls = Class("second", seconds(1));
  Gate g;
  auto t = kNow;
  UpdateRouteGate(g, cls, false, milliseconds(1500), milliseconds(1500), t);  // down, and lagged
  EXPECT_TRUE(g.held);
  t += milliseconds(250);
  UpdateRouteGate(g, cls, true, milliseconds(100), milliseconds(10), t);
  const auto first = g.eligible_from;
  t += milliseconds(250);
  UpdateRouteGate(g, cls, true, milliseconds(600), milliseconds(600),
                  t);  // not comfortable
  EXPECT_EQ(g.eligible_from, TimePoint::max());
  t += milliseconds(250);
  UpdateRouteGate(g, cls, true, milliseconds(100), milliseconds(10), t);
  EXPECT_GT(g.eligible_from, first);
}

TEST(Gate, AHoldForHealthAloneEndsAtTheFirstComfortableSample) {
  // Down (a failed probe), not replicating, not a replica (an old primary
  // back as a replica): its bound never passed the limit, so nothing says it
  // lags around the limit. Back at its first sample at or below the comfort
  // line, not `settle` later.
  const auto cls = Class("second", seconds(1));
  Gate g;
  auto t = kNow;
  UpdateRouteGate(g, cls, false, milliseconds(300), milliseconds(300), t);
  EXPECT_TRUE(g.held);
  EXPECT_FALSE(g.lagged);
  t += milliseconds(250);
  UpdateRouteGate(g, cls, true, milliseconds(700), milliseconds(600), t);  // not comfortable yet
  EXPECT_EQ(g.eligible_from, TimePoint::max());
  t += milliseconds(250);
  UpdateRouteGate(g, cls, true, milliseconds(850), milliseconds(20), t);
  EXPECT_FALSE(g.held);
  EXPECT_EQ(g.eligible_from, TimePoint::min());

  // Unhealthy and past the limit meanwhile (a stopped stream under writes):
  // lagged, so it settles as any replica that lagged.
  UpdateRouteGate(g, cls, false, milliseconds(400), milliseconds(400), t);
  t += milliseconds(250);
  UpdateRouteGate(g, cls, false, milliseconds(1200), milliseconds(1200), t);
  EXPECT_TRUE(g.lagged);
  t += milliseconds(250);
  // Caught up at its own sample: its settle time starts there.
  UpdateRouteGate(g, cls, true, milliseconds(1300), milliseconds(20), t);
  EXPECT_TRUE(g.held);
  EXPECT_EQ(g.eligible_from, t + seconds(1));
  const auto settled = t + seconds(1);
  t += milliseconds(250);
  UpdateRouteGate(g, cls, true, milliseconds(270), milliseconds(20), t);
  EXPECT_EQ(g.eligible_from, settled);
}

TEST(Gate, ComfortIsJudgedAtTheReplicasOwnSamples) {
  // A replica one probe interval (250 ms) behind its primary: at its own
  // samples its bound is ~260 ms, but at the primary's next sample, just
  // before its own, it is ~510 ms, above the comfort line of a 1 s class.
  // Judged there, it never settled; judged at its own samples, it settles
  // in `settle`.
  const auto cls = Class("second", seconds(1));
  Gate g;
  auto t = kNow;
  UpdateRouteGate(g, cls, true, milliseconds(1500), milliseconds(1400), t);  // lagged
  ASSERT_TRUE(g.held);
  t += milliseconds(250);
  const auto comfortable = t;
  UpdateRouteGate(g, cls, true, milliseconds(760), milliseconds(260), t);
  EXPECT_EQ(g.eligible_from, comfortable + seconds(1));
  for (int i = 0; i < 3; ++i) {
    t += milliseconds(245);  // the primary's sample: another server's
    UpdateRouteGate(g, cls, true, milliseconds(505), milliseconds(505), t, false);
    EXPECT_EQ(g.eligible_from, comfortable + seconds(1)) << i;
    t += milliseconds(5);  // its own
    UpdateRouteGate(g, cls, true, milliseconds(510), milliseconds(260), t);
    EXPECT_EQ(g.eligible_from, comfortable + seconds(1)) << i;
  }
  t += milliseconds(245);
  UpdateRouteGate(g, cls, true, milliseconds(505), milliseconds(505), t, false);
  t += milliseconds(5);
  UpdateRouteGate(g, cls, true, milliseconds(510), milliseconds(260), t);
  EXPECT_FALSE(g.held);
  // Another server's sample still closes it when the bound passed the limit.
  t += milliseconds(900);
  UpdateRouteGate(g, cls, true, milliseconds(1160), milliseconds(1160), t, false);
  EXPECT_TRUE(g.held);
}

// The check gate of a 1 s class with a 400 ms margin: held above the check
// limit (600 ms), released at the first sample at or below the route's own
// re-admission line (500 ms), with no settle time of its own; the route never
// held the replica, so the check does not hold it for `settle` either.
TEST(Gate, TheCheckGateReleasesAtTheRoutesReadmitLine) {
  auto cls = Class("second", seconds(1));
  cls.check_margin = milliseconds(400);
  Gate check, route;
  auto t = kNow;
  auto update = [&](int peak_ms, int bound_ms) {
    UpdateCheckGate(check, cls, true, milliseconds(peak_ms), milliseconds(bound_ms), t);
    UpdateRouteGate(route, cls, true, milliseconds(peak_ms), milliseconds(bound_ms), t);
  };
  update(650, 650);
  EXPECT_TRUE(check.held);
  EXPECT_FALSE(route.held);
  EXPECT_EQ(check.eligible_from, TimePoint::max());
  t += milliseconds(250);
  update(590, 520);  // under the check limit, above 500 ms: no flapping back in
  EXPECT_TRUE(check.held);
  t += milliseconds(250);
  update(590, 500);  // one probe at the route's line: back at once
  EXPECT_FALSE(check.held);
  EXPECT_EQ(check.eligible_from, TimePoint::min());
  t += milliseconds(250);
  update(601, 340);
  EXPECT_TRUE(check.held);  // a peak above the check limit holds it again
  t += milliseconds(250);
  UpdateCheckGate(check, cls, false, Duration{0}, Duration{0}, t);
  EXPECT_TRUE(check.held);  // unhealthy
  cls.settle = Duration{0};
  UpdateCheckGate(check, cls, true, milliseconds(900), milliseconds(900), t);
  EXPECT_FALSE(check.held);  // no hysteresis: the bound alone decides
}

TEST(Gate, RouteHonoursTheGate) {
  auto r1 = Replica("r1", milliseconds(10));
  r1.gates.resize(1);
  r1.gates[0].held = true;
  r1.gates[0].eligible_from = kNow + milliseconds(300);
  const auto cluster = Cluster({Primary("p"), r1});
  const auto cls = Class("second", seconds(1));
  EXPECT_EQ(Route(cluster, cls, 0, nullptr, kNow, 0).outcome, Outcome::kFallbackPrimary);
  EXPECT_EQ(Route(cluster, cls, 0, nullptr, kNow + milliseconds(300), 0).outcome,
            Outcome::kFreshReplica);
}

}  // namespace
}  // namespace lagrouter::router

namespace lagrouter::router {
namespace {

TEST(Gate, NoFlapAfterSettleWhenTheBoundWobblesUnderLoad) {
  // A replica of a busy primary has a bound that wobbles between one and two
  // probe intervals; once settled it must stay admitted while within the limit.
  QueryClass cls;
  cls.name = "second";
  cls.max_staleness = std::chrono::seconds(1);
  Gate g;
  auto t = TimePoint{} + std::chrono::seconds(100);
  UpdateRouteGate(g, cls, false, Duration{0}, Duration{0}, t);
  for (int i = 0; i < 5; ++i) {  // comfortable for 1.25 s
    t += std::chrono::milliseconds(250);
    UpdateRouteGate(g, cls, true, std::chrono::milliseconds(300), std::chrono::milliseconds(50), t);
  }
  ASSERT_LE(g.eligible_from, t);
  t += std::chrono::milliseconds(250);
  UpdateRouteGate(g, cls, true, std::chrono::milliseconds(600), std::chrono::milliseconds(550), t);
  EXPECT_FALSE(g.held);
  EXPECT_EQ(g.eligible_from, TimePoint::min());
}

}  // namespace
}  // namespace lagrouter::router

namespace lagrouter::router {
namespace {

TEST(Route, ServerSilentPastItsHealthWindowIsDownAtRequestTime) {
  // A hung server's probe has not failed yet, but it has not answered either:
  // past up_until it is treated as down without waiting for the timeout.
  auto p = Primary("p");
  p.up_until = kNow;
  auto r = Replica("r", std::chrono::seconds(1));
  r.up_until = kNow;
  const ClusterView c = Cluster({p, r});
  const QueryClass hour = Class("hour", std::chrono::hours(1));
  const QueryClass inventory = Class("inventory", Duration::zero());
  const auto before = kNow;
  const auto after = before + std::chrono::milliseconds(1);
  EXPECT_EQ(Route(c, hour, 0, nullptr, before, 0).outcome, Outcome::kFreshReplica);
  EXPECT_EQ(Route(c, inventory, 1, nullptr, before, 0).outcome, Outcome::kPrimaryClass);
  EXPECT_EQ(Route(c, hour, 0, nullptr, after, 0).outcome, Outcome::kNoEligibleServer);
  const auto d = Route(c, inventory, 1, nullptr, after, 0);
  EXPECT_EQ(d.outcome, Outcome::kNoEligibleServer);
  EXPECT_NE(std::string(d.why).find("in time"), std::string::npos);
}

}  // namespace
}  // namespace lagrouter::router
