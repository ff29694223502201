// /v1/status must stay valid JSON whatever text a server sends back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/http_api.h"

namespace lagrouter::daemon {
namespace {

// Fails every probe with an error text that is not UTF-8, as a server's
// message in a legacy encoding would be.
class LatinOneErrorProbe final : public probes::Probe {
 public:
  probes::Sample Run(probes::Clock::time_point) override {
    probes::Sample s;
    s.sent_at = s.received_at = probes::Clock::now();
    s.error_kind = probes::ErrorKind::kQuery;
    s.error =
        "FATAL: base de donn\xe9"
        "es inconnue";
    return s;
  }
};

TEST(Status, ServerErrorsThatAreNotUtf8StayValidJson) {
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
  auto config = std::make_shared<const Config>(std::move(parsed).value());
  Metrics metrics(*config);
  Monitor monitor(config, &metrics, [](const ClusterConfig&, const ServerConfig&) {
    return std::make_unique<LatinOneErrorProbe>();
  });
  monitor.Start();
  for (int i = 0; i < 200 && !monitor.Ready(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(monitor.Ready());
  HttpApi api(config, monitor, metrics);
  const auto r = api.Status(router::Clock::now());
  monitor.Stop();
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(nlohmann::json::accept(r.body)) << r.body;
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_NE(j["clusters"][0]["servers"][0]["last_error"].get<std::string>().find("inconnue"),
            std::string::npos);
}

}  // namespace
}  // namespace lagrouter::daemon
