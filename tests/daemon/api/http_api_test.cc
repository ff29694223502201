// HttpApi: the dispatch every request goes through (gate, endpoint, method),
// one resolution of names for /v1/route and /v1/check, and the agreement of
// the two on every reason. Snapshots come from scripted clusters or fixed
// views; no probe runs. Every answer is JSON.
#include "daemon/api/http_api.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "daemon/api/api_json.h"
#include "tests/router/views.h"
#include "tests/support/config_text.h"
#include "tests/support/scripted.h"

namespace lagrouter::daemon {
namespace {

using test_support::ApiUnderTest;
using test_support::ClusterSpec;
using test_support::ConfigText;

std::string Error(const ApiResponse& r) {
  if (!nlohmann::json::accept(r.body)) return "(not JSON) " + r.body;
  return nlohmann::json::parse(r.body).value("error", "");
}

std::string OneServerConfig() {
  return ConfigText()
      .Cluster(ClusterSpec("shop", "postgres").Server("pg-a", 1))
      .Class("reports", "1h");
}

class HandleTest : public ::testing::Test {
 protected:
  ApiUnderTest t_{OneServerConfig()};
};

TEST_F(HandleTest, EndpointsAnswer) {
  EXPECT_EQ(t_.Get("/healthz").status, 200);
  EXPECT_EQ(t_.Get("/readyz").status, 503);  // never probed
  EXPECT_EQ(Error(t_.Get("/readyz")), "not_ready");
  EXPECT_EQ(t_.Get("/v1/status").status, 200);
  const auto page = t_.Get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_STREQ(page.content_type, "text/html; charset=utf-8");
  const auto metrics = t_.Get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("lagrouter_server_up"), std::string::npos);
  // Not probed yet: nothing may serve, and the answer says so.
  const auto route = t_.Get("/v1/route", "cluster=shop&class=reports");
  EXPECT_EQ(route.status, 503);
  EXPECT_EQ(Error(route), "no_eligible_server");
  const auto check = t_.Get("/v1/check/shop/pg-a", "class=reports");
  EXPECT_EQ(check.status, 503);
  EXPECT_EQ(nlohmann::json::parse(check.body)["reason"], "not_probed");
}

TEST_F(HandleTest, UnknownPathsAre404InJson) {
  for (const char* path : {"/v2/route", "/v1/route/", "/v1/check/shop", "/v1/check/shop/",
                           "/v1/check//pg-a", "/v1/check/shop/pg-a/x", "/metricsx", ""}) {
    const auto r = t_.Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(Error(r), "not_found") << path;
  }
  const auto r = t_.Get(std::string("/\0\xff\x1b[31m", 7));
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(nlohmann::json::accept(r.body)) << r.body;  // control bytes never echoed raw
}

TEST_F(HandleTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    const auto r = t_.Get("/v1/route", "cluster=shop&class=reports", method);
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(Error(r), "method_not_allowed") << method;
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].first, "Allow");
    EXPECT_EQ(r.headers[0].second, "GET, HEAD");
  }
  EXPECT_EQ(t_.Get("/healthz", "", "HEAD").status, 200);
}

TEST_F(HandleTest, RouteAndCheckAnswerTheSameBadInputTheSameWay) {
  // The same cluster and class names through either endpoint.
  struct Case {
    const char* what;
    const char* route_query;
    const char* check_path;
    const char* check_query;
    const char* error;
  };
  const Case cases[] = {
      {"unknown cluster", "cluster=nope&class=reports", "/v1/check/nope/pg-a", "class=reports",
       "unknown_cluster"},
      {"unknown class", "cluster=shop&class=nope", "/v1/check/shop/pg-a", "class=nope",
       "unknown_class"},
      {"missing class", "cluster=shop", "/v1/check/shop/pg-a", "", "bad_request"},
      {"class twice", "cluster=shop&class=reports&class=reports", "/v1/check/shop/pg-a",
       "class=reports&class=reports", "bad_request"},
      {"unknown parameter", "cluster=shop&class=reports&colour=red", "/v1/check/shop/pg-a",
       "class=reports&colour=red", "bad_request"},
  };
  for (const char* wait : {"wait=soon", "wait=-1s", "wait=50", "wait=1ms&wait=2ms"}) {
    const auto route = t_.Get("/v1/route", std::string("cluster=shop&class=reports&") + wait);
    EXPECT_EQ(route.status, 400) << wait;
    EXPECT_EQ(Error(route), "bad_request") << wait;
    EXPECT_NE(route.body.find("wait"), std::string::npos) << route.body;
  }
  for (const auto& c : cases) {
    const auto route = t_.Get("/v1/route", c.route_query);
    const auto check = t_.Get(c.check_path, c.check_query);
    EXPECT_EQ(route.status, 400) << c.what << ": " << route.body;
    EXPECT_EQ(check.status, 400) << c.what << ": " << check.body;
    EXPECT_EQ(Error(route), c.error) << c.what;
    EXPECT_EQ(Error(check), c.error) << c.what;
  }
  const auto server = t_.Get("/v1/check/shop/nope", "class=reports");
  EXPECT_EQ(server.status, 400);
  EXPECT_EQ(Error(server), "unknown_server");
  EXPECT_NE(server.body.find("known servers: pg-a"), std::string::npos) << server.body;
}

// Each thread keeps the snapshots it read per HttpApi, keyed by an id and not
// the address: a new API built where an old one was (as after a reload) must
// not answer from the old one's snapshots, and two APIs served in turn by one
// thread each answer from their own.
TEST(HandleCache, NeverAnswersFromAnotherApisSnapshot) {
  using test_support::PrimarySample;
  auto served = [](ApiUnderTest& t) {
    const auto r = t.Get("/v1/route", "cluster=shop&class=reports");
    return r.status == 200 ? nlohmann::json::parse(r.body)["server"].get<std::string>() : "";
  };
  auto config = [](const char* server) {
    return ConfigText()
        .Cluster(ClusterSpec("shop", "postgres").Server(server, 1))
        .Class("reports", "1h");
  };
  std::optional<ApiUnderTest> t;
  t.emplace(config("pg-a"));
  const auto now = router::Clock::now();
  t->clusters().Apply("shop", "pg-a", PrimarySample(router::Lsn{1}, now), now);
  EXPECT_EQ(served(*t), "pg-a");
  const void* address = &t->api();
  t.emplace(config("pg-b"));  // the same storage, a new API over unprobed servers
  ASSERT_EQ(&t->api(), address);
  EXPECT_EQ(served(*t), "");
  t->clusters().Apply("shop", "pg-b", PrimarySample(router::Lsn{1}, now), now);
  EXPECT_EQ(served(*t), "pg-b");

  ApiUnderTest other(config("pg-c"));
  other.clusters().Apply("shop", "pg-c", PrimarySample(router::Lsn{1}, now), now);
  for (int turn = 0; turn < 3; ++turn) {
    EXPECT_EQ(served(*t), "pg-b");
    EXPECT_EQ(served(other), "pg-c");
  }
}

// Load is spread per (cluster, class): one thread's requests alternate over
// two equal replicas for each class, even when the classes' requests
// interleave.
TEST(Route, SpreadsEachClassOverTheReplicas) {
  using test_support::PrimarySample;
  using test_support::ReplicaSample;
  ApiUnderTest t(
      ConfigText()
          .Cluster(ClusterSpec("shop", "postgres").Server("p", 1).Server("r1", 2).Server("r2", 3))
          .Class("a", "1h", "", "0s")
          .Class("b", "1h", "", "0s"));
  const auto now = router::Clock::now();
  t.clusters().Apply("shop", "p", PrimarySample(router::Lsn{7}, now), now);
  t.clusters().Apply("shop", "r1", ReplicaSample(router::Lsn{7}, now), now);
  t.clusters().Apply("shop", "r2", ReplicaSample(router::Lsn{7}, now), now);
  std::map<std::string, std::map<std::string, int>> served;  // class -> server -> answers
  for (int i = 0; i < 10; ++i) {
    for (const char* cls : {"a", "b"}) {
      const auto r = t.Get("/v1/route", std::string("cluster=shop&class=") + cls);
      ASSERT_EQ(r.status, 200) << r.body;
      ++served[cls][nlohmann::json::parse(r.body)["server"].get<std::string>()];
    }
  }
  for (const char* cls : {"a", "b"}) {
    EXPECT_EQ(served[cls]["r1"], 5) << cls;
    EXPECT_EQ(served[cls]["r2"], 5) << cls;
  }
}

// Serves one fixed cluster view, as the monitor would publish it.
class FixedView final : public SnapshotSource {
 public:
  explicit FixedView(router::ClusterView view) {
    auto snap = std::make_shared<ClusterSnapshot>();
    snap->status.resize(view.servers.size());
    snap->view = std::move(view);
    snapshot_ = std::move(snap);
  }
  size_t cluster_count() const override { return 1; }
  std::shared_ptr<const ClusterSnapshot> Snapshot(size_t) const override { return snapshot_; }
  bool Ready() const override { return true; }

 private:
  std::shared_ptr<const ClusterSnapshot> snapshot_;
};

// The API over one fixed view of cluster "shop" and one class.
struct FixedApi {
  FixedApi(const router::ClusterView& view, const router::QueryClass& cls)
      : config(Parse(view, cls)),
        metrics(*config, process),
        source(view),
        api(config, source, metrics) {}
  static std::shared_ptr<const Config> Parse(const router::ClusterView& view,
                                             const router::QueryClass& cls) {
    ClusterSpec spec("shop", "postgres");
    for (const auto& s : view.servers) spec.Server(s.name, 1);
    auto parsed =
        ParseConfig(ConfigText().Cluster(spec).Class(
                        cls.name, std::to_string(router::ToMillis(cls.max_staleness)) + "ms"),
                    "t");
    EXPECT_TRUE(parsed.ok()) << parsed.error();
    return std::make_shared<const Config>(std::move(parsed).value());
  }
  std::shared_ptr<const Config> config;
  ProcessCounters process;
  Metrics metrics;
  FixedView source;
  HttpApi api;
};

TEST(RouteAndCheck, AgreeOnEveryReason) {
  for (const auto& c : router::EveryReason()) {
    FixedApi fixed(c.cluster, c.cls);
    HttpApi& api = fixed.api;
    const std::string what = router::ReasonName(c.reason);

    const auto& name = c.cluster.servers[c.server].name;
    const auto check = api.Check("shop", name, ParseQuery("class=" + c.cls.name), router::kNow);
    const auto body = nlohmann::json::parse(check.body);
    EXPECT_EQ(body["reason"], what);
    EXPECT_EQ(check.status, router::MayServe(c.reason) ? 200 : 503) << what;
    EXPECT_EQ(body["ok"], router::MayServe(c.reason)) << what;

    // Every server /v1/route names passes its check; a fresh replica is the
    // one /v1/route names (it is the only replica); a server that may not
    // serve is never named.
    for (int request = 0; request < 4; ++request) {
      const auto route =
          api.Route(ParseQuery("cluster=shop&class=" + c.cls.name), router::kNow, -1);
      const std::string server =
          route.status == 200 ? nlohmann::json::parse(route.body)["server"] : "";
      if (c.reason == router::Reason::kFreshReplica) {
        EXPECT_EQ(server, name) << what;
      }
      if (!router::MayServe(c.reason)) {
        EXPECT_NE(server, name) << what;
      }
      if (server.empty()) continue;
      const auto its_check =
          api.Check("shop", server, ParseQuery("class=" + c.cls.name), router::kNow);
      EXPECT_EQ(its_check.status, 200) << what << ": routed to " << server;
    }
  }
}

// The route answer lists every server it could have named, each with its
// weight and its own valid_for_ms (for clients that cache): the eligible
// replicas, never a stale one; the primary alone when the class falls back.
TEST(Route, ListsEveryEligibleServerWithItsOwnValidity) {
  using std::chrono::milliseconds;
  auto heavy = router::Replica("r1", milliseconds(100));
  heavy.weight = 3;
  FixedApi fixed(
      router::Cluster({router::Primary("p"), heavy, router::Replica("r2", milliseconds(400)),
                       router::Replica("r3", milliseconds(1500))}),
      router::Class("second", std::chrono::seconds(1)));
  const auto route = fixed.api.Route(ParseQuery("cluster=shop&class=second"), router::kNow, -1);
  ASSERT_EQ(route.status, 200) << route.body;
  const auto body = nlohmann::json::parse(route.body);
  ASSERT_EQ(body["servers"].size(), 2u) << route.body;
  EXPECT_EQ(body["servers"][0]["server"], "r1");
  EXPECT_EQ(body["servers"][0]["weight"], 3);
  EXPECT_EQ(body["servers"][0]["role"], "replica");
  EXPECT_EQ(body["servers"][0]["staleness_bound_ms"], 100);
  EXPECT_EQ(body["servers"][0]["valid_for_ms"], 900);
  EXPECT_EQ(body["servers"][1]["server"], "r2");
  EXPECT_EQ(body["servers"][1]["weight"], 1);
  EXPECT_EQ(body["servers"][1]["valid_for_ms"], 600);
  // The server named at the top is one of the list, with the same figures.
  bool listed = false;
  for (const auto& s : body["servers"]) {
    if (s["server"] != body["server"]) continue;
    listed = true;
    EXPECT_EQ(s["valid_for_ms"], body["valid_for_ms"]);
    EXPECT_EQ(s["port"], body["port"]);
  }
  EXPECT_TRUE(listed) << route.body;

  FixedApi fallback(
      router::Cluster({router::Primary("p"), router::Replica("r", milliseconds(1500))}),
      router::Class("second", std::chrono::seconds(1)));
  const auto primary = nlohmann::json::parse(
      fallback.api.Route(ParseQuery("cluster=shop&class=second"), router::kNow, -1).body);
  EXPECT_EQ(primary["reason"], "fallback_primary");
  ASSERT_EQ(primary["servers"].size(), 1u);
  EXPECT_EQ(primary["servers"][0]["server"], "p");
  EXPECT_EQ(primary["servers"][0]["role"], "primary");
  EXPECT_EQ(primary["servers"][0]["valid_for_ms"], primary["valid_for_ms"]);
}

// A parked request (wait) is answered later, from a decision made then: the
// list's bounds and valid_for_ms are as of that decision, never of the
// request's arrival, when the bounds were smaller.
TEST(Route, ListIsJudgedWhenTheDecisionWasMade) {
  using std::chrono::milliseconds;
  const auto view =
      router::Cluster({router::Primary("p"), router::Replica("r", milliseconds(100))});
  const auto cls = router::Class("second", std::chrono::seconds(1));
  const auto later = router::kNow + milliseconds(300);
  const auto v = router::Decide(view, router::Ask::Route(cls, 0, nullptr, 0), later, std::nullopt);
  ASSERT_EQ(v.decision.outcome, router::Outcome::kFreshReplica);
  const auto body = nlohmann::json::parse(
      RouteBody({"shop", "second", view, cls, 0, nullptr, milliseconds(300)}, v));
  EXPECT_EQ(body["valid_for_ms"], 600);
  ASSERT_EQ(body["servers"].size(), 1u);
  EXPECT_EQ(body["servers"][0]["staleness_bound_ms"], 400);
  EXPECT_EQ(body["servers"][0]["valid_for_ms"], 600);
  EXPECT_EQ(body["waited_ms"], 300.0);
}

// role=replica: the load balancer's replica pool; the primary fails it with
// its own reason, replicas are judged as without it. Bad values are a 400.
TEST(Check, RoleReplicaPassesFreshReplicasOnly) {
  FixedApi fixed(
      router::Cluster({router::Primary("p"), router::Replica("r", std::chrono::milliseconds(100))}),
      router::Class("second", std::chrono::seconds(1)));
  auto check = [&](const char* server, const std::string& query) {
    return fixed.api.Check("shop", server, ParseQuery(query), router::kNow);
  };
  EXPECT_EQ(check("p", "class=second").status, 200);
  EXPECT_EQ(check("p", "class=second&role=any").status, 200);
  const auto primary = check("p", "class=second&role=replica");
  EXPECT_EQ(primary.status, 503);
  const auto body = nlohmann::json::parse(primary.body);
  EXPECT_EQ(body["reason"], "primary");
  EXPECT_EQ(body["ok"], false);
  EXPECT_NE(body["message"].get<std::string>().find("replicas only"), std::string::npos);
  EXPECT_EQ(check("r", "class=second&role=replica").status, 200);
  const auto bad = check("r", "class=second&role=primary");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("not one of replica"), std::string::npos) << bad.body;
  EXPECT_EQ(check("r", "class=second&role=replica&role=any").status, 400);
}

TEST(Metrics, RouteAnswersFromManyThreadsAreAllCounted) {
  // Counts are kept per thread (more threads than shards here) and summed
  // when scraped: none may be lost.
  auto parsed = ParseConfig(ConfigText()
                                .Cluster(ClusterSpec("shop", "postgres").Server("a", 1))
                                .Class("dash", "1s")
                                .Class("fraud", "0s"),
                            "t");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const Config config = std::move(parsed).value();
  ProcessCounters process;
  Metrics metrics(config, process);
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < 1000; ++i) {
        metrics.CountRoute(-1, 0, t % 2,
                           t % 2 ? router::Outcome::kPrimaryClass : router::Outcome::kFreshReplica);
        metrics.ObserveRouteDuration(2e-6);
      }
    });
  }
  for (auto& t : threads) t.join();
  test_support::ScriptedClusters none(config);
  const std::string text = metrics.Render(none);
  EXPECT_NE(text.find("lagrouter_route_requests_total{class=\"dash\",client=\"anonymous\","
                      "cluster=\"shop\",outcome=\"fresh_replica\",role=\"replica\"} 6000"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("lagrouter_route_requests_total{class=\"fraud\",client=\"anonymous\","
                      "cluster=\"shop\",outcome=\"primary_class\",role=\"primary\"} 6000"),
            std::string::npos);
  EXPECT_NE(text.find("lagrouter_route_duration_seconds_count 12000"), std::string::npos);
  EXPECT_NE(text.find("lagrouter_route_duration_seconds_bucket{le=\"1e-06\"} 0"),
            std::string::npos);
  EXPECT_NE(text.find("lagrouter_route_duration_seconds_bucket{le=\"5e-06\"} 12000"),
            std::string::npos);
}

}  // namespace
}  // namespace lagrouter::daemon

namespace lagrouter::daemon {
namespace {

// Sessions: the answer names the server in a token and says what it is known
// to have; the token sends the session's next read back to it; a token that
// does not parse is refused, one naming a server that is gone is "none known".
TEST(Route, SessionTokenNamesTheServerAndBringsTheNextReadBack) {
  using std::chrono::milliseconds;
  auto r1 = router::Replica("r1", milliseconds(100), 4096);
  auto r2 = router::Replica("r2", milliseconds(100), 4096);
  FixedApi fixed(router::Cluster({router::Primary("p"), r1, r2}),
                 router::Class("second", std::chrono::seconds(1)));
  auto route = [&](const std::string& extra) {
    return fixed.api.Route(ParseQuery("cluster=shop&class=second" + extra), router::kNow, -1);
  };
  const auto first = route("&session=");
  ASSERT_EQ(first.status, 200) << first.body;
  const auto body = nlohmann::json::parse(first.body);
  // A new session has no server of its own: a replica needs a proof, and
  // without a wait there is none: the primary.
  EXPECT_EQ(body["reason"], "fallback_primary");
  EXPECT_EQ(body["session"], "s1.p");
  for (int i = 0; i < 6; ++i) {
    const auto again = nlohmann::json::parse(route("&session=s1.r2").body);
    EXPECT_EQ(again["server"], "r2") << "the session's own replica";
    EXPECT_EQ(again["session"], "s1.r2");
    EXPECT_EQ(again["position"], "0/1000");
  }
  // Without a session nothing of it appears.
  EXPECT_FALSE(nlohmann::json::parse(route("").body).contains("session"));
  EXPECT_EQ(nlohmann::json::parse(route("&session=s1.gone").body)["reason"], "fallback_primary");
  for (const char* bad : {"&session=x", "&session=s2.r1", "&session=s1.r%2F1", "&session=s1.r 1"}) {
    const auto refused = route(bad);
    EXPECT_EQ(refused.status, 400) << bad;
    EXPECT_EQ(Error(refused), "bad_session") << bad;
  }
}

}  // namespace
}  // namespace lagrouter::daemon
