// HttpApi::Handle: the dispatch every request goes through (gate, endpoint,
// method), over a Monitor that is never started. Every answer is JSON.
#include "daemon/http_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace lagrouter::daemon {
namespace {

class HandleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parsed = ParseConfig(R"(
[[cluster]]
name = "shop"
engine = "postgres"
user = "lagrouter"
  [[cluster.server]]
  name = "pg-a"
  host = "127.0.0.1"
  port = 1
[class.reports]
max_staleness = "1h"
)",
                              "t");
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    config_ = std::make_shared<const Config>(std::move(parsed).value());
    metrics_ = std::make_unique<Metrics>(*config_);
    monitor_ = std::make_unique<Monitor>(config_, metrics_.get(), RealProbes());
    api_ = std::make_unique<HttpApi>(config_, *monitor_, *metrics_);
  }

  ApiResponse Get(const std::string& path, const std::string& query = "",
                  const std::string& method = "GET") {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.params = ParseQuery(query);
    return api_->Handle(r);
  }

  static std::string Error(const ApiResponse& r) {
    if (!nlohmann::json::accept(r.body)) return "(not JSON) " + r.body;
    return nlohmann::json::parse(r.body).value("error", "");
  }

  std::shared_ptr<const Config> config_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Monitor> monitor_;
  std::unique_ptr<HttpApi> api_;
};

TEST_F(HandleTest, EndpointsAnswer) {
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 503);  // never probed
  EXPECT_EQ(Error(Get("/readyz")), "not_ready");
  EXPECT_EQ(Get("/v1/status").status, 200);
  const auto page = Get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_STREQ(page.content_type, "text/html; charset=utf-8");
  const auto metrics = Get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("lagrouter_server_up"), std::string::npos);
  // Not probed yet: nothing may serve, and the answer says so.
  const auto route = Get("/v1/route", "cluster=shop&class=reports");
  EXPECT_EQ(route.status, 503);
  EXPECT_EQ(Error(route), "no_eligible_server");
  const auto check = Get("/v1/check/shop/pg-a", "class=reports");
  EXPECT_EQ(check.status, 503);
  EXPECT_EQ(nlohmann::json::parse(check.body)["reason"], "not_probed");
}

TEST_F(HandleTest, UnknownPathsAre404InJson) {
  for (const char* path : {"/v2/route", "/v1/route/", "/v1/check/shop", "/v1/check/shop/",
                           "/v1/check//pg-a", "/v1/check/shop/pg-a/x", "/metricsx", ""}) {
    const auto r = Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(Error(r), "not_found") << path;
  }
  const auto r = Get(std::string("/\0\xff\x1b[31m", 7));
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(nlohmann::json::accept(r.body)) << r.body;  // control bytes never echoed raw
}

TEST_F(HandleTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    const auto r = Get("/v1/route", "cluster=shop&class=reports", method);
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(Error(r), "method_not_allowed") << method;
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].first, "Allow");
    EXPECT_EQ(r.headers[0].second, "GET, HEAD");
  }
  EXPECT_EQ(Get("/healthz", "", "HEAD").status, 200);
}

TEST_F(HandleTest, CheckTakesItsNamesFromThePath) {
  const auto unknown = Get("/v1/check/nope/pg-a", "class=reports");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Error(unknown), "unknown_cluster");
  const auto server = Get("/v1/check/shop/nope", "class=reports");
  EXPECT_EQ(server.status, 404);
  EXPECT_EQ(Error(server), "unknown_server");
}

}  // namespace
}  // namespace lagrouter::daemon
