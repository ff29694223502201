// The probe schedule on scripted time: a simulated server driven the way the
// Monitor's worker drives it (ask Next, probe or wait until the deadline or
// the next event), with ticks on the interval grid, scripted demands, probes
// of a scripted duration and outcome, and scripted random numbers.
#include "daemon/monitor/probe_schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <vector>

namespace lagrouter::daemon {
namespace {

using namespace std::chrono_literals;
using router::Duration;
using router::TimePoint;
using Action = ProbeSchedule::Step::Action;

const TimePoint kT0 = TimePoint{} + 1000s;

// Returns the scripted numbers in turn, then the last one forever.
class ScriptedRandom final : public RandomSource {
 public:
  explicit ScriptedRandom(std::deque<double> values) : values_(std::move(values)) {}
  double Uniform() override {
    const double v = values_.front();
    if (values_.size() > 1) values_.pop_front();
    return v;
  }

 private:
  std::deque<double> values_;
};

ProbeSchedule::Options Options(Duration interval, int per_second) {
  return ProbeSchedule::Defaults(interval, per_second);
}

struct Probe {
  TimePoint started;
  bool on_demand;
  bool position_only = false;
};

// One server under a simulated worker.
struct Sim {
  explicit Sim(ProbeSchedule::Options o) : schedule(o), interval(o.interval) {}

  ProbeSchedule schedule;
  Duration interval;
  bool ticking = true;  // ticks at kT0 + k * interval
  Duration probe_takes = 0ms;
  std::function<bool(size_t probe)> ok = [](size_t) { return true; };
  ScriptedRandom random{{0.5}};    // jitter 1: no jitter
  std::vector<TimePoint> demands;  // sorted; each asks for a probe from then on
  TimePoint now = kT0;
  TimePoint next_tick = kT0;
  size_t next_demand = 0;
  std::vector<Probe> probes;

  // Delivers the ticks and demands due at `now`.
  void Deliver() {
    while (ticking && next_tick <= now) {
      schedule.Tick();
      next_tick += interval;
    }
    while (next_demand < demands.size() && demands[next_demand] <= now) {
      schedule.Demand(demands[next_demand++], false, /*whole=*/true);
    }
  }

  void RunUntil(TimePoint end) {
    Deliver();
    while (now < end) {
      const auto step = schedule.Next(now, nullptr);
      if (step.action == Action::kProbe) {
        probes.push_back({now, step.on_demand, step.position_only});
        now += probe_takes;
        Deliver();  // the ticks and demands that came while it ran
        schedule.Finished(ok(probes.size() - 1), now, random);
        continue;
      }
      TimePoint wake = std::min(step.until, end);
      if (ticking) wake = std::min(wake, next_tick);
      if (next_demand < demands.size()) wake = std::min(wake, demands[next_demand]);
      ASSERT_GT(wake, now) << "a wait must end later than it starts";
      now = wake;
      Deliver();
    }
  }

  std::vector<Duration> Gaps() const {
    std::vector<Duration> gaps;
    for (size_t i = 1; i < probes.size(); ++i) {
      gaps.push_back(probes[i].started - probes[i - 1].started);
    }
    return gaps;
  }
  size_t ProbesIn(TimePoint from, TimePoint to) const {
    return static_cast<size_t>(std::count_if(probes.begin(), probes.end(), [&](const Probe& p) {
      return p.started >= from && p.started < to;
    }));
  }
};

std::vector<TimePoint> Every(Duration spacing, TimePoint from, TimePoint to) {
  std::vector<TimePoint> out;
  for (TimePoint t = from; t < to; t += spacing) out.push_back(t);
  return out;
}

TEST(ProbeSchedule, ProbesAtEveryTickAndNothingBetween) {
  Sim sim(Options(100ms, 100));
  sim.probe_takes = 3ms;
  sim.RunUntil(kT0 + 1s);
  ASSERT_EQ(sim.probes.size(), 10u);
  for (const auto gap : sim.Gaps()) EXPECT_EQ(gap, 100ms);
  for (const auto& p : sim.probes) EXPECT_FALSE(p.on_demand);
}

TEST(ProbeSchedule, AProbeThatOverranMissesTicksInsteadOfQueueingThem) {
  Sim sim(Options(100ms, 100));
  sim.probe_takes = 250ms;
  sim.RunUntil(kT0 + 1s);
  // Ten ticks; each probe takes two and a half: the missed ones make one
  // probe at once, not a backlog.
  ASSERT_EQ(sim.probes.size(), 4u);
  for (const auto gap : sim.Gaps()) EXPECT_EQ(gap, 250ms);
}

TEST(ProbeSchedule, ABurstOfDemandsGetsTheBurstThenTheRate) {
  // 100/s: bursts of 5. No ticks: every probe is on demand.
  Sim sim(Options(1h, 100));
  sim.ticking = false;
  sim.probe_takes = 50us;
  sim.demands = Every(100us, kT0, kT0 + 1s);  // 10,000 demands in a second
  sim.RunUntil(kT0 + 1s);
  EXPECT_EQ(sim.ProbesIn(kT0, kT0 + 2ms), 5u) << "the burst, back to back";
  EXPECT_EQ(sim.ProbesIn(kT0 + 2ms, kT0 + 9ms), 0u) << "then the bucket is empty";
  // At most the burst plus 100 per second; the bucket never overfills.
  EXPECT_LE(sim.probes.size(), 105u);
  EXPECT_GE(sim.probes.size(), 100u) << "demands after the burst are served at the rate";
  for (const auto& p : sim.probes) EXPECT_TRUE(p.on_demand);
  // Over any later second-long stretch, 100 per second on average.
  EXPECT_LE(sim.ProbesIn(kT0 + 100ms, kT0 + 600ms), 51u);
  EXPECT_GE(sim.ProbesIn(kT0 + 100ms, kT0 + 600ms), 49u);
}

TEST(ProbeSchedule, TokensRefillWhileNoDemandComes) {
  Sim sim(Options(1h, 100));
  sim.ticking = false;
  sim.demands = Every(100us, kT0, kT0 + 1ms);
  for (auto t : Every(100us, kT0 + 1s, kT0 + 1s + 1ms)) sim.demands.push_back(t);
  sim.RunUntil(kT0 + 1s + 2ms);
  EXPECT_EQ(sim.ProbesIn(kT0, kT0 + 2ms), 5u);
  EXPECT_EQ(sim.ProbesIn(kT0 + 1s, kT0 + 1s + 2ms), 5u) << "a quiet spell refills the burst";
}

TEST(ProbeSchedule, AProbeStartedSinceADemandSatisfiesIt) {
  Sim sim(Options(1h, 100));
  sim.ticking = false;
  sim.RunUntil(kT0 + 1ms);
  ASSERT_TRUE(sim.probes.empty()) << "nothing asked, nothing probed";
  sim.schedule.Demand(kT0 + 1ms, false, /*whole=*/true);
  sim.schedule.Demand(kT0, false, /*whole=*/true);  // an older demand: the same probe serves it
  sim.RunUntil(kT0 + 2ms);
  ASSERT_EQ(sim.probes.size(), 1u);
  EXPECT_EQ(sim.probes[0].started, kT0 + 1ms);
  sim.schedule.Demand(kT0 + 1ms, false,
                      /*whole=*/true);  // made before that probe started: satisfied
  sim.RunUntil(kT0 + 3ms);
  EXPECT_EQ(sim.probes.size(), 1u);
}

// A demand for the position alone gets a position-only probe; one for the
// whole status is not satisfied by it, while a whole probe satisfies both.
// Scheduled ticks always read the whole status.
TEST(ProbeSchedule, APositionOnlyProbeSatisfiesNoDemandForTheWholeStatus) {
  Sim sim(Options(1h, 100));
  sim.ticking = false;
  sim.RunUntil(kT0 + 1ms);
  sim.schedule.Demand(kT0 + 1ms, false, /*whole=*/false);
  sim.RunUntil(kT0 + 2ms);
  ASSERT_EQ(sim.probes.size(), 1u);
  EXPECT_TRUE(sim.probes[0].position_only);
  sim.schedule.Demand(kT0 + 1ms, false, /*whole=*/true);  // before that probe started
  sim.RunUntil(kT0 + 3ms);
  ASSERT_EQ(sim.probes.size(), 2u) << "the position-only probe does not satisfy it";
  EXPECT_FALSE(sim.probes[1].position_only);
  sim.schedule.Demand(kT0 + 2ms, false, /*whole=*/false);
  sim.RunUntil(kT0 + 4ms);
  EXPECT_EQ(sim.probes.size(), 2u) << "the whole probe satisfies it";

  sim.schedule.Demand(kT0 + 4ms, false, /*whole=*/false);
  sim.schedule.Tick();  // the tick's probe comes first, and serves the demand too
  sim.RunUntil(kT0 + 5ms);
  ASSERT_EQ(sim.probes.size(), 3u);
  EXPECT_FALSE(sim.probes[2].on_demand);
  EXPECT_FALSE(sim.probes[2].position_only);
}

// Always failing, at jitter 1: the gaps double from the interval up to the
// longest backoff, and a success brings back the tick.
TEST(ProbeSchedule, AFailingServerBacksOffUpToTheMaxAndResetsOnSuccess) {
  Sim sim(Options(100ms, 100));
  sim.probe_takes = 3ms;
  sim.ok = [](size_t probe) { return probe >= 8; };  // probes 0..7 fail
  sim.RunUntil(kT0 + 10s);
  const auto gaps = sim.Gaps();
  const std::vector<Duration> backoff = {100ms, 200ms, 400ms, 800ms, 1600ms, 2s, 2s, 2s};
  ASSERT_GT(gaps.size(), backoff.size() + 3);
  for (size_t i = 0; i < backoff.size(); ++i) EXPECT_EQ(gaps[i], backoff[i]) << "gap " << i;
  for (size_t i = backoff.size(); i < gaps.size(); ++i) EXPECT_EQ(gaps[i], 100ms) << "gap " << i;
}

TEST(ProbeSchedule, BackoffJitterStaysWithinAQuarterOfTheBackoff) {
  Sim sim(Options(100ms, 100));
  sim.probe_takes = 3ms;
  sim.ok = [](size_t) { return false; };
  // The lowest and the highest jitter, in turn.
  sim.random = ScriptedRandom({0, 0.999999, 0, 0.999999, 0, 0.999999, 0, 0.999999, 0});
  sim.RunUntil(kT0 + 20s);
  const auto gaps = sim.Gaps();
  ASSERT_GE(gaps.size(), 9u);
  // At the longest backoff (2 s): 1.5 s at the lowest jitter, 2.5 s at the
  // highest, each on the next tick.
  EXPECT_EQ(gaps[6], 1500ms);
  EXPECT_EQ(gaps[7], 2500ms);
  EXPECT_EQ(gaps[8], 1500ms);
  for (size_t i = 0; i < gaps.size(); ++i) {
    const Duration b = std::min<Duration>(100ms * (1 << std::min<size_t>(i, 10)), 2s);
    EXPECT_GE(gaps[i], b * 3 / 4 - 100ms) << "gap " << i;  // less the tick it waits for
    EXPECT_LE(gaps[i], b * 5 / 4 + 100ms) << "gap " << i;
  }
}

// The retry waits for the backoff less one interval (the tick it would wait
// for on its own), however many requests wait: 5,000 demands in 5 s get the
// failing server probed 7 times.
TEST(ProbeSchedule, DemandsDoNotShortenABackoff) {
  Sim sim(Options(100ms, 100));
  sim.probe_takes = 3ms;
  sim.ok = [](size_t) { return false; };
  sim.demands = Every(1ms, kT0, kT0 + 5s);
  sim.RunUntil(kT0 + 5s);
  const auto gaps = sim.Gaps();
  EXPECT_EQ(sim.probes.size(), 7u);
  for (size_t i = 0; i < gaps.size(); ++i) {
    const Duration b = std::min<Duration>(100ms * (1 << std::min<size_t>(i, 10)), 2s);
    EXPECT_GE(gaps[i], b - 100ms) << "gap " << i;
  }
}

TEST(ProbeSchedule, ReplicasWaitBrieflyForThePrimarysSampleOfTheTick) {
  ProbeSchedule replica(Options(100ms, 100));
  PrimaryProgress primary;
  replica.Tick();
  auto step = replica.Next(kT0, &primary);
  ASSERT_EQ(step.action, Action::kWait);
  EXPECT_EQ(step.until, kT0 + 20ms);
  step = replica.Next(kT0 + 5ms, &primary);
  ASSERT_EQ(step.action, Action::kWait) << "the primary's sample of this tick is not in";
  primary.Record(1, kT0 + 1ms);
  step = replica.Next(kT0 + 6ms, &primary);
  ASSERT_EQ(step.action, Action::kProbe);
  EXPECT_FALSE(step.on_demand);
  EXPECT_EQ(step.tick, 1u);
  // A hung primary holds the replica up for the lead only.
  replica.Tick();
  ASSERT_EQ(replica.Next(kT0 + 100ms, &primary).action, Action::kWait);
  ASSERT_EQ(replica.Next(kT0 + 119ms, &primary).action, Action::kWait);
  EXPECT_EQ(replica.Next(kT0 + 120ms, &primary).action, Action::kProbe);
  // The primary itself (or a server with no known primary) never waits.
  replica.Tick();
  EXPECT_EQ(replica.Next(kT0 + 200ms, nullptr).action, Action::kProbe);
}

TEST(ProbeSchedule, PrimaryFirstDemandsWaitForThePrimarysProbeOfThatDemand) {
  ProbeSchedule replica(Options(1h, 100));
  PrimaryProgress primary;
  primary.Record(0, kT0);
  replica.Demand(kT0 + 1ms, /*primary_first=*/true, /*whole=*/true);
  auto step = replica.Next(kT0 + 1ms, &primary);
  ASSERT_EQ(step.action, Action::kWait);
  primary.Record(0, kT0 + 1ms);  // the primary's probe started at the demand
  step = replica.Next(kT0 + 3ms, &primary);
  ASSERT_EQ(step.action, Action::kProbe);
  EXPECT_TRUE(step.on_demand);
  // Not primary first: at once.
  replica.Demand(kT0 + 4ms, false, /*whole=*/true);
  EXPECT_EQ(replica.Next(kT0 + 4ms, &primary).action, Action::kProbe);
}

TEST(ClusterTicks, SpreadsClustersOverTheIntervalAndSkipsMissedTicks) {
  ClusterTicks ticks(100ms, 4, kT0);
  EXPECT_EQ(ticks.Due(kT0), std::vector<size_t>{0});
  EXPECT_EQ(ticks.next(), kT0 + 25ms);
  EXPECT_EQ(ticks.Due(kT0 + 25ms), std::vector<size_t>{1});
  EXPECT_EQ(ticks.Due(kT0 + 75ms), (std::vector<size_t>{2, 3}));
  EXPECT_EQ(ticks.next(), kT0 + 100ms);
  // Suspended for a second: each cluster ticks once, then on the interval again.
  EXPECT_EQ(ticks.Due(kT0 + 1100ms), (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_TRUE(ticks.Due(kT0 + 1100ms).empty());
  EXPECT_EQ(ticks.next(), kT0 + 1200ms);
  // A long interval: the first ticks still come within a second.
  ClusterTicks hourly(1h, 4, kT0);
  EXPECT_EQ(hourly.Due(kT0 + 750ms), (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(hourly.next(), kT0 + 1h);
  ClusterTicks none(100ms, 0, kT0);
  EXPECT_TRUE(none.Due(kT0 + 1s).empty());
  EXPECT_GT(none.next(), kT0 + 1s);
}

}  // namespace
}  // namespace lagrouter::daemon
