// Explain is the one judgement of eligibility: a table over every reason.
#include <gtest/gtest.h>

#include <set>

#include "router/router.h"
#include "tests/router/views.h"

namespace lagrouter::router {
namespace {

TEST(Explain, EveryReasonHasACase) {
  std::set<Reason> seen;
  for (const auto& c : EveryReason()) seen.insert(c.reason);
  seen.insert(Reason::kNotReplayed);      // needs a position: its own test below
  seen.insert(Reason::kNearLimit);        // /v1/check's margin: its own test below
  seen.insert(Reason::kUnproven);         // needs a proof: its own test below
  seen.insert(Reason::kCommitsInFlight);  // needs visible_since: its own test below
  EXPECT_EQ(seen.size(), static_cast<size_t>(Reason::kFreshReplica) + 1);
}

TEST(Explain, TableOfReasons) {
  for (const auto& c : EveryReason()) {
    const Reason got = Explain(c.cluster, c.server, c.cls, 0, kNow);
    EXPECT_EQ(ReasonName(got), std::string(ReasonName(c.reason)))
        << "server " << c.cluster.servers[c.server].name << ", class " << c.cls.name;
    EXPECT_EQ(Eligible(c.cluster, c.server, c.cls, 0, kNow), c.reason == Reason::kFreshReplica);
    EXPECT_EQ(MayServe(got), c.reason == Reason::kPrimary || c.reason == Reason::kFreshReplica);
  }
}

TEST(Explain, NotReplayedComesLastAndOnlyWithAPosition) {
  const auto cluster = Cluster({Primary("p"), Replica("r", milliseconds(5), 100)});
  const auto second = Class("second", seconds(1));
  const Position replayed = Lsn{100}, ahead = Lsn{101};
  EXPECT_EQ(Explain(cluster, 1, second, 0, kNow, &replayed), Reason::kFreshReplica);
  EXPECT_EQ(Explain(cluster, 1, second, 0, kNow, &ahead), Reason::kNotReplayed);
  // A stale replica is stale, whatever it has replayed.
  EXPECT_EQ(Explain(cluster, 1, second, 0, kNow + seconds(2), &ahead), Reason::kStale);
  // The primary has every position it wrote.
  EXPECT_EQ(Explain(cluster, 0, second, 0, kNow, &ahead), Reason::kPrimary);
}

// A proof: the replica must have replayed a primary sample taken at or after
// `proven_since` (its fresh_as_of); with one, a strict 0s class may use it.
TEST(Explain, ProofAsksForASampleTakenAfterTheRequest) {
  const auto cluster = Cluster({Primary("p"), Replica("r", milliseconds(5), 100)});
  const auto second = Class("second", seconds(1));
  auto strict = Class("inventory", Duration::zero());
  EXPECT_EQ(Explain(cluster, 1, strict, 0, kNow), Reason::kPrimaryOnlyClass);
  EXPECT_EQ(Explain(cluster, 1, strict, 0, kNow, nullptr, Asker::kRoute, kNow),
            Reason::kPrimaryOnlyClass)
      << "a 0s class without strict_replicas stays the primary's";
  strict.strict_replicas = true;
  EXPECT_EQ(Explain(cluster, 1, strict, 0, kNow), Reason::kPrimaryOnlyClass) << "no proof asked";
  // fresh_as_of is kNow - 5 ms: proven for a request that arrived then, not later.
  EXPECT_EQ(Explain(cluster, 1, strict, 0, kNow, nullptr, Asker::kRoute, kNow - milliseconds(5)),
            Reason::kFreshReplica);
  EXPECT_EQ(Explain(cluster, 1, strict, 0, kNow, nullptr, Asker::kRoute, kNow - milliseconds(4)),
            Reason::kUnproven);
  // A wider class asks the same of a session moving to this replica.
  EXPECT_EQ(Explain(cluster, 1, second, 0, kNow, nullptr, Asker::kRoute, kNow), Reason::kUnproven);
  // A position still comes first, and the primary needs no proof.
  const Position ahead = Lsn{101};
  EXPECT_EQ(Explain(cluster, 1, strict, 0, kNow, &ahead, Asker::kRoute, kNow),
            Reason::kNotReplayed);
  EXPECT_EQ(Explain(cluster, 0, strict, 0, kNow, nullptr, Asker::kRoute, kNow), Reason::kPrimary);
}

// A session read moving from a replica to a PostgreSQL primary: the primary
// serves once a probe started at or after the request found no commit there
// still invisible (a replica can show one first).
TEST(Explain, PrimaryWithCommitsInFlightWaitsForAProbeThatFoundNone) {
  auto cluster = Cluster({Primary("p"), Replica("r", milliseconds(5), 100)});
  const auto second = Class("second", seconds(1));
  const auto at = [&](std::optional<TimePoint> since) {
    return Explain(cluster, 0, second, 0, kNow, nullptr, Asker::kRoute, std::nullopt, since);
  };
  EXPECT_EQ(at(kNow), Reason::kPrimary) << "a server that cannot count them (MariaDB, PG < 13)";
  cluster.servers[0].tells_visibility = true;
  EXPECT_EQ(at(kNow), Reason::kCommitsInFlight) << "no probe found none yet";
  cluster.servers[0].visible_as_of = kNow - milliseconds(1);
  EXPECT_EQ(at(kNow), Reason::kCommitsInFlight) << "found none before the request only";
  EXPECT_EQ(at(kNow - milliseconds(1)), Reason::kPrimary);
  EXPECT_EQ(at(std::nullopt), Reason::kPrimary) << "not a session moving from a replica";
}

TEST(Explain, BoundExactlyAtTheLimitIsFresh) {
  const auto cluster = Cluster({Primary("p"), Replica("r", seconds(1))});
  EXPECT_EQ(Explain(cluster, 1, Class("second", seconds(1)), 0, kNow), Reason::kFreshReplica);
  EXPECT_EQ(Explain(cluster, 1, Class("second", seconds(1)), 0, kNow + milliseconds(1)),
            Reason::kStale);
}

// A check margin of 400 ms on a 1 s class: the check fails from a bound of
// 601 ms on (the load balancer may keep the server 400 ms longer); routing is
// not affected, and a stale replica is stale first.
TEST(Explain, CheckMarginFailsTheCheckOnlyAndBeforeTheLimit) {
  auto cls = Class("second", seconds(1));
  cls.check_margin = milliseconds(400);
  auto at = [&](Duration bound, Asker asker) {
    return Explain(Cluster({Primary("p"), Replica("r", bound)}), 1, cls, 0, kNow, nullptr, asker);
  };
  EXPECT_EQ(at(milliseconds(600), Asker::kCheck), Reason::kFreshReplica);
  EXPECT_EQ(at(milliseconds(601), Asker::kCheck), Reason::kNearLimit);
  EXPECT_EQ(at(milliseconds(601), Asker::kRoute), Reason::kFreshReplica);
  EXPECT_EQ(at(milliseconds(1001), Asker::kCheck), Reason::kStale);
  // Without a margin the check judges exactly as a route.
  cls.check_margin = Duration{0};
  EXPECT_EQ(at(milliseconds(999), Asker::kCheck), Reason::kFreshReplica);
}

// A check honours the route's gate (never held shorter, nor longer, than a
// route) and, with a margin, its own gate on top; a route ignores the check's.
TEST(Explain, TheCheckHonoursTheRoutesGateAndItsOwn) {
  auto cls = Class("second", seconds(1));
  cls.check_margin = milliseconds(400);
  auto r = Replica("r", milliseconds(10));
  r.gates.resize(1);
  r.check_gates.resize(1);
  r.check_gates[0].held = true;
  r.check_gates[0].eligible_from = TimePoint::max();
  auto cluster = Cluster({Primary("p"), r});
  EXPECT_EQ(Explain(cluster, 1, cls, 0, kNow, nullptr, Asker::kCheck), Reason::kSettling);
  EXPECT_EQ(Explain(cluster, 1, cls, 0, kNow, nullptr, Asker::kRoute), Reason::kFreshReplica);
  cls.check_margin = Duration{0};
  EXPECT_EQ(Explain(cluster, 1, cls, 0, kNow, nullptr, Asker::kCheck), Reason::kFreshReplica);
  // The route's gate holds the check exactly as long as the route.
  cls.check_margin = milliseconds(400);
  cluster.servers[1].check_gates[0] = Gate{};
  cluster.servers[1].gates[0].held = true;
  cluster.servers[1].gates[0].eligible_from = kNow + milliseconds(300);
  EXPECT_EQ(Explain(cluster, 1, cls, 0, kNow, nullptr, Asker::kCheck), Reason::kSettling);
  EXPECT_EQ(Explain(cluster, 1, cls, 0, kNow, nullptr, Asker::kRoute), Reason::kSettling);
  const auto later = kNow + milliseconds(300);
  EXPECT_EQ(Explain(cluster, 1, cls, 0, later, nullptr, Asker::kCheck), Reason::kFreshReplica);
  EXPECT_EQ(Explain(cluster, 1, cls, 0, later, nullptr, Asker::kRoute), Reason::kFreshReplica);
}

TEST(CheckPasses, ReplicaOnlyFailsThePrimary) {
  EXPECT_TRUE(CheckPasses(Reason::kPrimary, false));
  EXPECT_FALSE(CheckPasses(Reason::kPrimary, true));
  EXPECT_TRUE(CheckPasses(Reason::kFreshReplica, true));
  EXPECT_FALSE(CheckPasses(Reason::kNearLimit, false));
}

TEST(ElectPrimary, OneUpClaimantIsPrimaryNoneOrSeveralIsNone) {
  auto down = Primary("q");
  down.up = false;
  auto c = Cluster({Primary("p"), down, Replica("r", milliseconds(1))});
  EXPECT_EQ(c.primary, 0);
  EXPECT_EQ(c.primaries_claimed, 1);
  c = Cluster({Primary("p"), Primary("q")});
  EXPECT_EQ(c.primary, -1);
  EXPECT_EQ(c.primaries_claimed, 2);
  c = Cluster({down, Replica("r", milliseconds(1))});
  EXPECT_EQ(c.primary, -1);
  EXPECT_EQ(c.primaries_claimed, 0);
}

}  // namespace
}  // namespace lagrouter::router
