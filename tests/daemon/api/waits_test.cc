// Route requests that wait for an on-demand probe, over scripted samples and
// times: what is probed (router::Decide's plan), when a parked request is answered and
// with what, and that shutdown answers everyone. No thread but the timer's
// (not started here), no clock, no sleep.
#include "daemon/api/waits.h"

#include <gtest/gtest.h>

#include "daemon/api/http_api.h"
#include "daemon/metrics/metrics.h"
#include "tests/support/config_text.h"
#include "tests/support/scripted.h"

namespace lagrouter::daemon {
namespace {

using std::chrono::milliseconds;
using test_support::ClusterSpec;
using test_support::ConfigText;
using test_support::FailedSample;
using test_support::PrimarySample;
using test_support::ReplicaSample;
using test_support::ScriptedClusters;

const router::TimePoint kStart = router::TimePoint{} + std::chrono::hours(1);
const router::Position kOld = router::Lsn{0x3000000};
const router::Position kWrite = router::Lsn{0x3000100};  // a commit after kOld

// What Monitor::Demand was asked.
struct RecordedDemand : ProbeDemand {
  struct Call {
    size_t cluster;
    std::vector<size_t> servers;
    bool primary_first;
    router::TimePoint since;
  };
  void Demand(size_t cluster, const router::ProbePlan& plan, router::TimePoint since) override {
    calls.push_back({cluster, plan.servers, plan.primary_first, since});
  }
  std::vector<Call> calls;
};

std::shared_ptr<const Config> Parse(const std::string& toml) {
  auto parsed = ParseConfig(toml, "test.toml");
  if (!parsed) throw std::invalid_argument(parsed.error());
  return std::make_shared<const Config>(std::move(parsed).value());
}

class WaitsTest : public ::testing::Test {
 protected:
  WaitsTest()
      : config_(Parse(
            ConfigText()
                .Probe("250ms", "1s")
                .Cluster(
                    ClusterSpec("shop", "postgres").Server("p", 1).Server("r1", 2).Server("r2", 3))
                .Class("hour", "1h")
                .Class("tight", "50ms")
                .ClassSet("tight", "settle", "0s")
                .Class("primary", "0s"))),
        clusters_(*config_),
        waits_(config_, clusters_, demand_, nullptr) {
    // One cycle: everything replayed kOld, sampled at kStart.
    Apply("p", PrimarySample(kOld, kStart), kStart);
    Apply("r1", ReplicaSample(kOld, kStart + milliseconds(1)), kStart + milliseconds(1));
    Apply("r2", ReplicaSample(kOld, kStart + milliseconds(1)), kStart + milliseconds(1));
  }

  void Apply(const char* server, probes::Sample s, router::TimePoint t) {
    clusters_.Apply("shop", server, std::move(s), t);
  }
  size_t Class(const std::string& name) const {
    for (size_t k = 0; k < config_->classes.size(); ++k) {
      if (config_->classes[k].name == name) return k;
    }
    throw std::invalid_argument(name);
  }
  // What the one decision plans for a request that may still wait.
  router::ProbePlan Plan(const std::string& cls, const router::Position* after,
                         router::TimePoint now) {
    const auto snap = clusters_.Snapshot(0);
    const auto ask = router::Ask::Route(config_->classes[Class(cls)], Class(cls), after, 0,
                                        std::chrono::hours(1));
    return router::Decide(snap->view, ask, now, snap->history_latest_at).plan;
  }
  // Parks a request for `cls` made at `now` that waits `wait`; its answer
  // lands in answers_.
  bool Park(const std::string& cls, std::optional<router::Position> after, router::TimePoint now,
            milliseconds wait) {
    Waits::Waiter w;
    w.klass = Class(cls);
    w.after = after;
    w.started = now;
    w.deadline = now + wait;
    w.answer = [this](const ClusterSnapshot& snap, const router::Verdict& v) {
      const router::Decision& d = v.decision;
      answers_.push_back(d.server >= 0 ? snap.view.servers[static_cast<size_t>(d.server)].name
                                       : std::string("none"));
    };
    const router::Position* a = after ? &*after : nullptr;
    return waits_.Park(std::move(w), Plan(cls, a, now));
  }

  std::shared_ptr<const Config> config_;
  ScriptedClusters clusters_;
  RecordedDemand demand_;
  Waits waits_;
  std::vector<std::string> answers_;
};

TEST_F(WaitsTest, PlanProbesReplicasThatLackTheWrite) {
  const auto now = kStart + milliseconds(10);
  const router::ProbePlan plan = Plan("hour", &kWrite, now);
  EXPECT_EQ(plan.servers, (std::vector<size_t>{1, 2}));
  // Their bound would count from a primary sample 10 ms old: no primary probe.
  EXPECT_FALSE(plan.primary_first);
  EXPECT_TRUE(Plan("hour", &kOld, now).empty()) << "already replayed: nothing to wait for";
}

TEST_F(WaitsTest, PlanProbesThePrimaryFirstWhenItsSampleIsTooOldForTheClass) {
  // 40 ms after the cycle a 50 ms class's replicas are not stale yet...
  EXPECT_TRUE(Plan("tight", nullptr, kStart + milliseconds(40)).empty());
  // ...at 200 ms they are, and even a replica that replays the primary's
  // latest sample would be 200 ms stale: the primary is sampled first.
  const router::ProbePlan plan = Plan("tight", nullptr, kStart + milliseconds(200));
  EXPECT_EQ(plan.servers, (std::vector<size_t>{1, 2, 0}));
  EXPECT_TRUE(plan.primary_first);
}

TEST_F(WaitsTest, PlanIsEmptyWhenProbingCannotHelp) {
  const auto now = kStart + milliseconds(200);
  EXPECT_TRUE(Plan("primary", nullptr, now).empty()) << "a 0s class is the primary's";
  Apply("r1", FailedSample(now), now);
  Apply("r2", ReplicaSample(kOld, now, /*streaming=*/false), now);
  Apply("p", PrimarySample(kOld, now + milliseconds(1)), now + milliseconds(1));
  EXPECT_TRUE(Plan("hour", &kWrite, now + milliseconds(1)).empty())
      << "one replica down, one not replicating";
}

TEST_F(WaitsTest, AnsweredByTheFirstReplicaThatReplaysTheWrite) {
  const auto t0 = kStart + milliseconds(20);
  ASSERT_TRUE(Park("hour", kWrite, t0, milliseconds(50)));
  ASSERT_EQ(demand_.calls.size(), 1u);
  EXPECT_EQ(demand_.calls[0].servers, (std::vector<size_t>{1, 2}));
  EXPECT_EQ(demand_.calls[0].since, t0) << "probes must start after the request came";
  EXPECT_EQ(waits_.waiting(0), 1u);

  // r1's on-demand probe: not there yet. Still waiting; probes asked again.
  Apply("r1", ReplicaSample(kOld, t0 + milliseconds(1)), t0 + milliseconds(1));
  waits_.OnPublish(0, t0 + milliseconds(1));
  EXPECT_TRUE(answers_.empty());
  ASSERT_EQ(demand_.calls.size(), 2u);
  EXPECT_EQ(demand_.calls[1].since, t0 + milliseconds(1));

  // r2 has it: answered with r2, and only r2.
  Apply("r2", ReplicaSample(kWrite, t0 + milliseconds(2)), t0 + milliseconds(2));
  waits_.OnPublish(0, t0 + milliseconds(2));
  EXPECT_EQ(answers_, (std::vector<std::string>{"r2"}));
  EXPECT_EQ(waits_.waiting(0), 0u);
}

TEST_F(WaitsTest, TheWaitRunsOutIntoTheFallback) {
  const auto t0 = kStart + milliseconds(20);
  ASSERT_TRUE(Park("hour", kWrite, t0, milliseconds(50)));
  waits_.ExpireDue(t0 + milliseconds(49));
  EXPECT_TRUE(answers_.empty()) << "not due yet";
  waits_.ExpireDue(t0 + milliseconds(50));
  EXPECT_EQ(answers_, (std::vector<std::string>{"p"})) << "the class falls back to the primary";
}

TEST_F(WaitsTest, AnsweredAtOnceWhenProbingNoLongerCanHelp) {
  const auto t0 = kStart + milliseconds(20);
  ASSERT_TRUE(Park("hour", kWrite, t0, milliseconds(500)));
  Apply("r1", FailedSample(t0 + milliseconds(1)), t0 + milliseconds(1));
  Apply("r2", FailedSample(t0 + milliseconds(1)), t0 + milliseconds(1));
  waits_.OnPublish(0, t0 + milliseconds(1));
  EXPECT_EQ(answers_, (std::vector<std::string>{"p"})) << "no replica left to wait for";
}

TEST_F(WaitsTest, TightClassServedOnceThePrimaryAndAReplicaAreSampledAgain) {
  const auto t0 = kStart + milliseconds(200);
  ASSERT_TRUE(Park("tight", std::nullopt, t0, milliseconds(50)));
  EXPECT_TRUE(demand_.calls.at(0).primary_first);
  // The primary has moved on; r1 replays its new position 2 ms later.
  Apply("p", PrimarySample(kWrite, t0 + milliseconds(1)), t0 + milliseconds(1));
  waits_.OnPublish(0, t0 + milliseconds(1));
  EXPECT_TRUE(answers_.empty()) << "replicas not sampled since";
  Apply("r1", ReplicaSample(kWrite, t0 + milliseconds(3)), t0 + milliseconds(3));
  waits_.OnPublish(0, t0 + milliseconds(3));
  EXPECT_EQ(answers_, (std::vector<std::string>{"r1"}));
}

TEST_F(WaitsTest, CloseAnswersEveryoneAndRefusesNewWaits) {
  const auto t0 = kStart + milliseconds(20);
  ASSERT_TRUE(Park("hour", kWrite, t0, milliseconds(500)));
  ASSERT_TRUE(Park("hour", kWrite, t0, milliseconds(500)));
  waits_.Close();
  EXPECT_EQ(answers_.size(), 2u);
  EXPECT_FALSE(Park("hour", kWrite, t0, milliseconds(500)));
  EXPECT_EQ(answers_.size(), 2u) << "a refused waiter is the caller's to answer";
}

// A deferrer like an event loop's: keeps what the handler deferred.
struct KeptReply : LaterReply {
  explicit KeptReply(std::vector<ApiResponse>* out) : out_(out) {}
  void Send(ApiResponse response) override { out_->push_back(std::move(response)); }
  std::vector<ApiResponse>* out_;
};
struct KeepingDeferrer : Deferrer {
  std::unique_ptr<LaterReply> Defer() override {
    ++deferred;
    return std::make_unique<KeptReply>(&sent);
  }
  int deferred = 0;
  std::vector<ApiResponse> sent;
};

TEST_F(WaitsTest, RouteWithWaitIsParkedAndAnsweredWithTheReplicaThatHasTheWrite) {
  ProcessCounters process;
  Metrics metrics(*config_, process);
  Waits waits(config_, clusters_, demand_, &metrics);
  HttpApi api(config_, clusters_, metrics, &waits);
  KeepingDeferrer deferrer;
  const auto t0 = kStart + milliseconds(20);
  const std::string after = "after=" + router::ToString(kWrite);

  // Without wait: answered at once, by the primary (nothing has the write).
  auto now = api.Route(ParseQuery("cluster=shop&class=hour&" + after), t0, -1, &deferrer);
  EXPECT_EQ(deferrer.deferred, 0);
  EXPECT_NE(now.body.find("\"server\":\"p\""), std::string::npos) << now.body;

  // With wait: parked, then answered by r1 once it has replayed the write.
  api.Route(ParseQuery("cluster=shop&class=hour&wait=50ms&" + after), t0, -1, &deferrer);
  EXPECT_EQ(deferrer.deferred, 1);
  EXPECT_TRUE(deferrer.sent.empty());
  Apply("r1", ReplicaSample(kWrite, t0 + milliseconds(2)), t0 + milliseconds(2));
  waits.OnPublish(0, t0 + milliseconds(2));
  ASSERT_EQ(deferrer.sent.size(), 1u);
  EXPECT_EQ(deferrer.sent[0].status, 200);
  EXPECT_NE(deferrer.sent[0].body.find("\"server\":\"r1\""), std::string::npos)
      << deferrer.sent[0].body;
  EXPECT_NE(deferrer.sent[0].body.find("\"waited_ms\":"), std::string::npos);

  // Already fresh: no wait even when asked for one.
  api.Route(ParseQuery("cluster=shop&class=hour&wait=50ms&" + after), t0 + milliseconds(3), -1,
            &deferrer);
  EXPECT_EQ(deferrer.deferred, 1);
  const std::string exposition = metrics.Render(clusters_);
  EXPECT_NE(exposition.find(
                R"(lagrouter_route_waits_total{class="hour",cluster="shop",result="replica"} 1)"),
            std::string::npos)
      << exposition;
}

}  // namespace
}  // namespace lagrouter::daemon
