// The daemon's life: SIGHUP reload (applied without refusing a connection,
// or rejected with the old configuration kept), the port guard, SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "tests/integration/harness.h"

namespace lagrouter::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kPort = 18443;

std::string Config(const std::string& extra_class) {
  return R"(
[listen]
address = "127.0.0.1:)" +
         std::to_string(kPort) + R"("
[probe]
interval = "100ms"
timeout = "1s"
[[cluster]]
name = "shop"
engine = "postgres"
user = "lagrouter"
password_env = "LAGROUTER_DB_PASSWORD"
  [[cluster.server]]
  name = "pg-a"
  host = "127.0.0.1"
  port = 5441
  [[cluster.server]]
  name = "pg-b"
  host = "127.0.0.1"
  port = 5442
[class.inventory]
max_staleness = "0s"
)" + extra_class;
}

double MetricValue(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find(series + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + series.size() + 1));
}

class Lifecycle : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { MustRun(RepoPath("scripts/pg-cluster.sh") + " start"); }
};

TEST_F(Lifecycle, SighupReloadsWithoutRefusingAConnection) {
  Daemon d(Config(""), kPort);
  ASSERT_TRUE(d.WaitReady(seconds(10))) << d.Log();
  EXPECT_EQ(d.Route("shop", "reports").json["error"], "unknown_class");

  // Clients keep asking across the reload: every answer must be a 200.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::thread client([&] {
    while (!stop) {
      const auto a = d.Route("shop", "inventory");
      (a.status == 200 ? ok : failed)++;
    }
  });
  d.WriteConfig(Config("[class.reports]\nmax_staleness = \"1h\"\n"));
  d.Signal(SIGHUP);
  const bool applied =
      WaitFor([&] { return d.Route("shop", "reports").status == 200; }, seconds(10));
  std::this_thread::sleep_for(milliseconds(300));  // a little traffic after the switch
  stop = true;
  client.join();
  ASSERT_TRUE(applied) << d.Log();
  EXPECT_EQ(failed.load(), 0) << "requests failed during the reload (" << ok.load() << " ok)";
  EXPECT_GT(ok.load(), 50);
  EXPECT_NE(d.Log().find("configuration reloaded"), std::string::npos);
  EXPECT_EQ(
      MetricValue(d.Get("/metrics").body, "lagrouter_config_reloads_total{result=\"applied\"}"), 1);
}

TEST_F(Lifecycle, BadConfigOnSighupIsRejectedAndTheOldOneKept) {
  Daemon d(Config("[class.reports]\nmax_staleness = \"1h\"\n"), kPort);
  ASSERT_TRUE(d.WaitReady(seconds(10))) << d.Log();
  d.WriteConfig(Config("[class.reports]\nmax_staleness = \"one hour\"\n"));
  d.Signal(SIGHUP);
  ASSERT_TRUE(
      WaitFor([&] { return d.Log().find("reload rejected") != std::string::npos; }, seconds(5)));
  EXPECT_NE(d.Log().find("class.reports.max_staleness"), std::string::npos) << d.Log();
  EXPECT_EQ(d.Route("shop", "reports").status, 200) << "the running configuration was lost";
  EXPECT_EQ(d.Route("shop", "inventory").json["server"], "pg-a");
  EXPECT_EQ(
      MetricValue(d.Get("/metrics").body, "lagrouter_config_reloads_total{result=\"rejected\"}"),
      1);
}

TEST_F(Lifecycle, SecondDaemonOnTheSamePortRefusesToStart) {
  Daemon first(Config(""), kPort);
  ASSERT_TRUE(first.WaitReady(seconds(10))) << first.Log();
  Daemon second(Config(""), kPort);
  EXPECT_EQ(second.WaitExit(seconds(5)), 1);
  EXPECT_NE(second.Log().find("in use"), std::string::npos) << second.Log();
  EXPECT_EQ(first.Get("/healthz").status, 200);
}

TEST_F(Lifecycle, SigtermStopsCleanly) {
  Daemon d(Config(""), kPort);
  ASSERT_TRUE(d.WaitReady(seconds(10))) << d.Log();
  d.Signal(SIGTERM);
  EXPECT_EQ(d.WaitExit(seconds(5)), 0) << d.Log();
  EXPECT_NE(d.Log().find("stopped"), std::string::npos);
  EXPECT_EQ(d.Get("/healthz").status, 0) << "still answering after SIGTERM";
}

}  // namespace
}  // namespace lagrouter::testing
