// /v1/route, the requests it parks (Waits) and /v1/check all call one
// decision, router::Decide. Given the same snapshots they agree on every
// reason: what /v1/route answers at once, whether it parks a request and
// which probes it asks for, what a parked request is answered with when its
// wait ends, and why /v1/check passes or fails each server.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "daemon/api/http_api.h"
#include "daemon/api/waits.h"
#include "daemon/metrics/metrics.h"
#include "router/decide.h"
#include "tests/router/views.h"
#include "tests/support/scripted.h"

namespace lagrouter::daemon {
namespace {

using std::chrono::milliseconds;

struct Demanded final : ProbeDemand {
  void Demand(size_t, const router::ProbePlan& plan, router::TimePoint) override {
    calls.push_back(plan);
  }
  std::vector<router::ProbePlan> calls;
};

// Keeps what a parked request is finally answered with.
struct Deferred final : Deferrer {
  struct Reply final : LaterReply {
    explicit Reply(std::shared_ptr<std::optional<ApiResponse>> to) : to_(std::move(to)) {}
    void Send(ApiResponse r) override { *to_ = std::move(r); }
    std::shared_ptr<std::optional<ApiResponse>> to_;
  };
  std::unique_ptr<LaterReply> Defer() override {
    answer = std::make_shared<std::optional<ApiResponse>>();
    return std::make_unique<Reply>(answer);
  }
  std::shared_ptr<std::optional<ApiResponse>> answer;  // set once deferred
};

// The servers a verdict lets serve the read: the replicas it judged fresh
// when it names one, else the one it names.
std::set<std::string> MayBeNamed(const router::ClusterView& view, const router::Verdict& v) {
  std::set<std::string> names;
  if (v.decision.outcome == router::Outcome::kFreshReplica) {
    for (size_t i = 0; i < view.servers.size(); ++i) {
      if (v.reasons[i] == router::Reason::kFreshReplica) names.insert(view.servers[i].name);
    }
  } else if (v.decision.server >= 0) {
    names.insert(view.servers[static_cast<size_t>(v.decision.server)].name);
  }
  return names;
}

// "" for a 503.
std::string Named(const ApiResponse& r) {
  return r.status == 200 ? nlohmann::json::parse(r.body)["server"].get<std::string>() : "";
}

TEST(OneDecision, RouteWaitsAndCheckAgreeOnEveryReason) {
  const router::Position beyond = router::Lsn{~uint64_t{0} >> 1};  // replayed by nobody
  int parked = 0, answered_now = 0;
  for (const auto& c : router::EveryReason()) {
    for (const router::Duration primary_age : {milliseconds(10), milliseconds(900)}) {
      for (const router::Position* after :
           {static_cast<const router::Position*>(nullptr), &beyond}) {
        for (const router::Duration wait : {milliseconds(0), milliseconds(100)}) {
          const std::string what = std::string(router::ReasonName(c.reason)) +
                                   (after ? " after" : "") + " wait " +
                                   std::to_string(router::ToMillis(wait)) + " primary age " +
                                   std::to_string(router::ToMillis(primary_age));
          const auto config = test_support::OneClassConfig(c.cluster, c.cls);
          ProcessCounters process;
          Metrics metrics(*config, process);
          test_support::FixedView source(c.cluster, router::kNow - primary_age);
          Demanded demand;
          Waits waits(config, source, demand, &metrics);
          HttpApi api(config, source, metrics, &waits);
          const auto& snap = *source.Snapshot(0);
          const auto& cls = config->classes[0];

          std::string query = "cluster=shop&class=" + cls.name;
          if (after) query += "&after=" + router::ToString(*after);
          if (wait > router::Duration::zero()) {
            query += "&wait=" + std::to_string(router::ToMillis(wait)) + "ms";
          }
          Deferred deferrer;
          const auto now_answer = api.Route(ParseQuery(query), router::kNow, -1, &deferrer);
          // The thread's first request spreads from its own start: compare
          // the set of servers the decision could have named.
          const auto verdict = router::Decide(snap.view, router::Ask::Route(cls, 0, after, 0, wait),
                                              router::kNow, snap.history_latest_at);
          ASSERT_EQ(deferrer.answer != nullptr, verdict.wait) << what;
          if (!verdict.wait) {
            ++answered_now;
            const auto named = MayBeNamed(snap.view, verdict);
            EXPECT_EQ(now_answer.status, named.empty() ? 503 : 200) << what;
            if (!named.empty()) {
              EXPECT_TRUE(named.count(Named(now_answer))) << what;
            }
            EXPECT_TRUE(demand.calls.empty()) << what;
          } else {
            ++parked;
            EXPECT_EQ(waits.waiting(0), 1u) << what;
            ASSERT_EQ(demand.calls.size(), 1u) << what;
            EXPECT_EQ(demand.calls[0].servers, verdict.plan.servers) << what;
            EXPECT_EQ(demand.calls[0].primary_first, verdict.plan.primary_first) << what;
            // The same snapshot again: the same verdict, still waiting.
            waits.OnPublish(0, router::kNow);
            EXPECT_EQ(waits.waiting(0), 1u) << what;
            // The wait ends: answered as a request without a wait is, then.
            const auto end = router::kNow + wait;
            waits.ExpireDue(end);
            ASSERT_TRUE(deferrer.answer->has_value()) << what;
            const auto at_end = router::Decide(snap.view, router::Ask::Route(cls, 0, after, 0), end,
                                               snap.history_latest_at);
            const auto named = MayBeNamed(snap.view, at_end);
            EXPECT_EQ((*deferrer.answer)->status, named.empty() ? 503 : 200) << what;
            if (!named.empty()) {
              EXPECT_TRUE(named.count(Named(**deferrer.answer))) << what;
            }
          }
          // /v1/check: each server's reason is the check verdict's.
          const auto check_verdict = router::Decide(snap.view, router::Ask::Check(cls, 0),
                                                    router::kNow, snap.history_latest_at);
          for (size_t i = 0; i < snap.view.servers.size(); ++i) {
            const auto check = api.Check("shop", snap.view.servers[i].name,
                                         ParseQuery("class=" + cls.name), router::kNow);
            const auto reason = check_verdict.reasons[i];
            EXPECT_EQ(nlohmann::json::parse(check.body)["reason"], router::ReasonName(reason))
                << what << " server " << i;
            EXPECT_EQ(check.status, router::MayServe(reason) ? 200 : 503) << what;
          }
          waits.Close();
        }
      }
    }
  }
  // Both kinds happened: the comparison covered waiting.
  EXPECT_GT(parked, 3);
  EXPECT_GT(answered_now, 20);
}

}  // namespace
}  // namespace lagrouter::daemon
