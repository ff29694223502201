// router::Decide for sessions and strict reads: a session stays on its own
// replica while it may serve the class, moves to another only with a proof
// (a primary sample taken after the request arrived), and a strict 0s class
// is served by a proven replica or the primary.
#include "router/decide.h"

#include <gtest/gtest.h>

#include "tests/router/views.h"

namespace lagrouter::router {
namespace {

Ask SessionAsk(const QueryClass& cls, int sticky, TimePoint arrived, Duration wait) {
  auto ask = Ask::Route(cls, 0, nullptr, 0, wait);
  ask.For(true, sticky, arrived);
  return ask;
}

TEST(Decide, SessionStaysOnItsReplicaWhileItServesTheClass) {
  const auto cluster =
      Cluster({Primary("p"), Replica("r1", milliseconds(300)), Replica("r2", milliseconds(10))});
  const auto second = Class("second", seconds(1));
  for (uint64_t spread = 0; spread < 4; ++spread) {
    auto ask = SessionAsk(second, 1, kNow, Duration::zero());
    ask.spread = spread;
    const auto v = Decide(cluster, ask, kNow, kNow - milliseconds(10));
    EXPECT_EQ(v.decision.server, 1) << "reads on one replica never go back";
    EXPECT_EQ(v.decision.outcome, Outcome::kFreshReplica);
    EXPECT_GT(v.decision.valid_for, Duration::zero());
  }
}

TEST(Decide, SessionMovesOnlyToAProvenReplica) {
  // The session's replica r1 is stale; r2 is within the class but its
  // newest primary sample is older than the request: not proven.
  const auto cluster =
      Cluster({Primary("p"), Replica("r1", seconds(2)), Replica("r2", milliseconds(10))});
  const auto second = Class("second", seconds(1));
  auto v =
      Decide(cluster, SessionAsk(second, 1, kNow, Duration::zero()), kNow, kNow - milliseconds(10));
  EXPECT_EQ(v.decision.outcome, Outcome::kFallbackPrimary) << "no wait: no proof, the primary";
  EXPECT_EQ(v.reasons[2], Reason::kUnproven);
  EXPECT_FALSE(v.wait);
  // With a wait: the stale replica is probed, and the primary (its sample
  // predates the request); r2 only once that sample is in.
  v = Decide(cluster, SessionAsk(second, 1, kNow, milliseconds(50)), kNow, kNow - milliseconds(10));
  EXPECT_TRUE(v.wait);
  EXPECT_FALSE(v.plan.primary_first) << "r1's bound needs no newer primary sample";
  EXPECT_EQ(v.plan.servers, (std::vector<size_t>{1, 0}));
  // The primary's sample taken after the request is in: now r2 too.
  v = Decide(cluster, SessionAsk(second, 1, kNow, milliseconds(50)), kNow + milliseconds(1),
             kNow + milliseconds(1));
  EXPECT_EQ(v.plan.servers, (std::vector<size_t>{1, 2}));
  // Once r2 replayed a sample taken after the request: proven, never cached.
  const TimePoint later = kNow + milliseconds(3);
  const auto proven = Cluster({Primary("p"), Replica("r1", seconds(2) + milliseconds(3)),
                               Replica("r2", milliseconds(2))});  // fresh_as_of = kNow - 2ms
  v = Decide(proven, SessionAsk(second, 1, kNow - milliseconds(2), milliseconds(50)), kNow, later);
  EXPECT_EQ(v.decision.outcome, Outcome::kProvenReplica);
  EXPECT_EQ(v.decision.server, 2);
  EXPECT_EQ(v.decision.valid_for, Duration::zero());
}

TEST(Decide, ANewSessionReadsAnyFreshReplica) {
  const auto cluster = Cluster({Primary("p"), Replica("r1", milliseconds(10))});
  const auto v = Decide(
      cluster, SessionAsk(Class("second", seconds(1)), Ask::kNewSession, kNow, Duration::zero()),
      kNow, kNow - milliseconds(10));
  EXPECT_EQ(v.decision.outcome, Outcome::kFreshReplica) << "it has seen nothing to go back from";
}

TEST(Decide, SessionWithoutAServerOrOnThePrimaryNeedsAProof) {
  const auto cluster = Cluster({Primary("p"), Replica("r1", milliseconds(10))});
  const auto second = Class("second", seconds(1));
  for (const int sticky : {-1, 0}) {
    const auto v = Decide(cluster, SessionAsk(second, sticky, kNow, Duration::zero()), kNow,
                          kNow - milliseconds(10));
    EXPECT_EQ(v.decision.outcome, Outcome::kFallbackPrimary) << "sticky " << sticky;
  }
  // Without a session nothing changes: the replica serves.
  EXPECT_EQ(Decide(cluster, Ask::Route(second, 0, nullptr, 0), kNow, std::nullopt).decision.outcome,
            Outcome::kFreshReplica);
}

// A session moving from its replica to a PostgreSQL primary waits, while it
// may, for a primary probe started after the request that found no commit
// still invisible; then (or without a wait) the primary serves anyway.
TEST(Decide, SessionMovingToThePrimaryWaitsForItsCommitsInFlight) {
  auto cluster = Cluster({Primary("p"), Replica("r1", seconds(2))});
  cluster.servers[0].tells_visibility = true;
  cluster.servers[0].visible_as_of = kNow - milliseconds(10);
  const auto second = Class("second", seconds(1));
  auto v = Decide(cluster, SessionAsk(second, 1, kNow, milliseconds(50)), kNow, kNow);
  EXPECT_EQ(v.reasons[0], Reason::kCommitsInFlight);
  EXPECT_TRUE(v.wait);
  EXPECT_EQ(v.plan.servers, (std::vector<size_t>{1, 0})) << "the stale replica, and the primary";
  EXPECT_EQ(v.plan.visibility_of, 0) << "the primary's probe must read its transactions";
  EXPECT_EQ(v.decision.outcome, Outcome::kFallbackPrimary) << "the answer if it cannot wait";
  // Without a wait (or once it is over): the primary, as before.
  v = Decide(cluster, SessionAsk(second, 1, kNow, Duration::zero()), kNow, kNow);
  EXPECT_EQ(v.reasons[0], Reason::kPrimary);
  EXPECT_EQ(v.decision.outcome, Outcome::kFallbackPrimary);
  EXPECT_FALSE(v.wait);
  // A probe started after the request found none: the primary serves.
  cluster.servers[0].visible_as_of = kNow + milliseconds(1);
  v = Decide(cluster, SessionAsk(second, 1, kNow, milliseconds(50)), kNow + milliseconds(2),
             kNow + milliseconds(1));
  EXPECT_EQ(v.reasons[0], Reason::kPrimary);
  // A session already on the primary, and a new one, need nothing.
  cluster.servers[0].visible_as_of.reset();
  for (const int sticky : {0, Ask::kNewSession}) {
    v = Decide(cluster, SessionAsk(second, sticky, kNow, milliseconds(50)), kNow, kNow);
    EXPECT_EQ(v.reasons[0], Reason::kPrimary) << "sticky " << sticky;
  }
}

TEST(Decide, StrictClassIsServedByAProvenReplicaOrThePrimary) {
  auto strict = Class("inventory", Duration::zero());
  strict.strict_replicas = true;
  const auto cluster = Cluster({Primary("p"), Replica("r1", milliseconds(1))});
  auto ask = Ask::Route(strict, 0, nullptr, 0, milliseconds(50));
  // Arrived 2 ms ago; r1 replayed a sample taken 1 ms ago: proven.
  ask.For(false, -1, kNow - milliseconds(2));
  auto v = Decide(cluster, ask, kNow, kNow - milliseconds(1));
  EXPECT_EQ(v.decision.outcome, Outcome::kProvenReplica);
  EXPECT_EQ(v.decision.server, 1);
  // Arrived now: not proven yet; wait for a primary sample, then the replica.
  ask = Ask::Route(strict, 0, nullptr, 0, milliseconds(50));
  ask.For(false, -1, kNow);
  v = Decide(cluster, ask, kNow, kNow - milliseconds(1));
  EXPECT_EQ(v.decision.outcome, Outcome::kPrimaryClass);
  EXPECT_TRUE(v.wait);
  EXPECT_EQ(v.plan.servers, (std::vector<size_t>{0})) << "the primary alone, the replica after it";
  EXPECT_EQ(v.plan.visibility_of, -1) << "its position is all the proof needs";
  // Without strict_replicas, or without a wait: the primary at once.
  ask.wait = Duration::zero();
  v = Decide(cluster, ask, kNow, kNow - milliseconds(1));
  EXPECT_EQ(v.decision.outcome, Outcome::kPrimaryClass);
  EXPECT_FALSE(v.wait);
  strict.strict_replicas = false;
  ask = Ask::Route(strict, 0, nullptr, 0, milliseconds(50));
  ask.For(false, -1, kNow - milliseconds(2));
  v = Decide(cluster, ask, kNow, kNow - milliseconds(1));
  EXPECT_EQ(v.decision.outcome, Outcome::kPrimaryClass);
  EXPECT_FALSE(v.wait) << "a 0s class without strict_replicas has nothing to wait for";
}

}  // namespace
}  // namespace lagrouter::router
