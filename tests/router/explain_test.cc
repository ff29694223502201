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
  seen.insert(Reason::kNotReplayed);  // needs a position: its own test below
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

TEST(Explain, BoundExactlyAtTheLimitIsFresh) {
  const auto cluster = Cluster({Primary("p"), Replica("r", seconds(1))});
  EXPECT_EQ(Explain(cluster, 1, Class("second", seconds(1)), 0, kNow), Reason::kFreshReplica);
  EXPECT_EQ(Explain(cluster, 1, Class("second", seconds(1)), 0, kNow + milliseconds(1)),
            Reason::kStale);
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
