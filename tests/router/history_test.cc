#include "router/history.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace lagrouter::router {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const TimePoint kT0 = TimePoint{} + seconds(1000);
TimePoint At(int ms) {
  return kT0 + milliseconds(ms);
}
Position L(uint64_t v) {
  return Lsn{v};
}

TEST(History, EmptyHistoryKnowsNothing) {
  PositionHistory h(seconds(10), 100);
  EXPECT_FALSE(h.FreshAsOf(L(100)).has_value());
}

TEST(History, LatestSampleCoveredByReplica) {
  PositionHistory h(seconds(10), 100);
  h.Record(At(0), L(100));
  h.Record(At(250), L(200));
  h.Record(At(500), L(300));
  struct Case {
    uint64_t replayed;
    std::optional<int> fresh_ms;
  };
  const Case cases[] = {
      {99, std::nullopt}, {100, 0}, {199, 0}, {200, 250}, {299, 250}, {300, 500}, {1000, 500},
  };
  for (const auto& c : cases) {
    auto fresh = h.FreshAsOf(L(c.replayed));
    ASSERT_EQ(fresh.has_value(), c.fresh_ms.has_value()) << c.replayed;
    if (c.fresh_ms) {
      EXPECT_EQ(*fresh, At(*c.fresh_ms)) << c.replayed;
    }
  }
}

TEST(History, IdlePrimaryKeepsCaughtUpReplicaFresh) {
  // An idle primary reports the same position forever; a replica at that
  // position is as fresh as the latest sample, not as the last write.
  PositionHistory h(seconds(10), 100);
  for (int ms = 0; ms <= 20000; ms += 250) h.Record(At(ms), L(500));
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.FreshAsOf(L(500)), At(20000));
}

TEST(History, PositionGoingBackwardsRestarts) {
  PositionHistory h(seconds(10), 100);
  h.Record(At(0), L(100));
  h.Record(At(250), L(200));
  EXPECT_FALSE(h.Record(At(500), L(50)));
  EXPECT_EQ(h.size(), 1u);
  // Old positions prove nothing after the restart.
  EXPECT_FALSE(h.FreshAsOf(L(49)).has_value());
  EXPECT_EQ(h.FreshAsOf(L(200)), At(500));
}

TEST(History, ForgetsBeyondHorizonAndCapacity) {
  PositionHistory h(seconds(1), 1000);
  for (int i = 0; i <= 40; ++i) h.Record(At(i * 100), L(100 + i));
  EXPECT_LE(h.size(), 11u);
  EXPECT_GE(h.oldest(), At(3000));
  // A replica older than everything remembered is unknown.
  EXPECT_FALSE(h.FreshAsOf(L(100)).has_value());

  PositionHistory small(seconds(100), 5);
  for (int i = 0; i < 20; ++i) small.Record(At(i), L(i + 1));
  EXPECT_EQ(small.size(), 5u);
}

// Kept in a ring that grows to its capacity and then wraps: every sample
// still answers in order, as many times round as it goes.
TEST(History, RingWrapsAroundInOrder) {
  PositionHistory h(seconds(3600), 5);
  for (int k = 1; k <= 23; ++k) {
    h.Record(At(k * 10), L(100 * k));
    const int first = std::max(1, k - 4);
    ASSERT_EQ(h.size(), static_cast<size_t>(k - first + 1)) << k;
    EXPECT_EQ(h.oldest(), At(first * 10)) << k;
    EXPECT_EQ(h.latest(), L(100 * k)) << k;
    EXPECT_EQ(h.latest_at(), At(k * 10)) << k;
    EXPECT_FALSE(h.FreshAsOf(L(100 * first - 1)).has_value()) << k;
    for (int j = first; j <= k; ++j) {
      EXPECT_EQ(h.FreshAsOf(L(100 * j + 50)), At(j * 10)) << k << " " << j;
    }
  }
  h.Reset();
  EXPECT_TRUE(h.empty());
  h.Record(At(1000), L(5));
  EXPECT_EQ(h.FreshAsOf(L(5)), At(1000));
}

// An hour of a primary writing between every 250 ms sample needs 14,400
// entries; 1,024 hold it thinned. Every bound read from it is at least the
// full history's (never too fresh) and at most 1/kThinning (plus a sample's
// spacing) more, at every age.
TEST(History, ThinnedHistoryKeepsTheHorizonAndBoundsStayConservative) {
  const Duration spacing = milliseconds(250);
  PositionHistory h(seconds(3600), 1024);
  const int samples = 14400;
  for (int k = 0; k < samples; ++k) h.Record(At(0) + k * spacing, L(1000 + k));
  EXPECT_LE(h.size(), 1024u);
  EXPECT_EQ(h.oldest(), At(0));  // the whole hour is still known
  const TimePoint now = At(0) + samples * spacing;
  for (int j = 0; j < samples; j += 7) {
    const auto fresh = h.FreshAsOf(L(1000 + j));
    ASSERT_TRUE(fresh.has_value()) << j;
    const Duration full = now - (At(0) + j * spacing);
    const Duration thinned = now - *fresh;
    EXPECT_GE(thinned, full) << j;
    EXPECT_LE(thinned, full + full / (PositionHistory::kThinning - 1) + spacing) << j;
  }
  // The newest sample is never thinned.
  EXPECT_EQ(h.FreshAsOf(L(1000 + samples - 1)), At(0) + (samples - 1) * spacing);
}

TEST(History, IgnoresUnknownAndOutOfOrderSamples) {
  PositionHistory h(seconds(10), 100);
  h.Record(At(100), L(100));
  h.Record(At(200), Position{});
  h.Record(At(50), L(300));
  EXPECT_EQ(h.size(), 1u);
  EXPECT_FALSE(h.FreshAsOf(L(300)) > At(100));
}

TEST(History, GtidPositions) {
  PositionHistory h(seconds(10), 100);
  auto p1 = ParsePosition(Engine::kMysql, "0-1-10,1-2-5");
  auto p2 = ParsePosition(Engine::kMysql, "0-1-12,1-2-5");
  ASSERT_TRUE(p1.ok() && p2.ok());
  h.Record(At(0), *p1);
  h.Record(At(250), *p2);
  auto r = ParsePosition(Engine::kMysql, "0-1-11,1-2-5");
  EXPECT_EQ(h.FreshAsOf(*r), At(0));
  auto missing_domain = ParsePosition(Engine::kMysql, "0-1-12");
  EXPECT_FALSE(h.FreshAsOf(*missing_domain).has_value());
}

}  // namespace
}  // namespace lagrouter::router
