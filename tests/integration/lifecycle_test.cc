// The daemon's life: SIGHUP reload (applied without refusing a connection,
// or rejected with the old configuration kept), the port guard, SIGTERM, and
// running out of file descriptors.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/support/daemon.h"

namespace lagrouter::test_support {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// pg-a and pg-b, probed every 100 ms; `reports` adds a [class.reports] with
// that max_staleness unless "".
ConfigText Config(const std::string& reports = "") {
  ConfigText config = ConfigText().Probe("100ms", "1s").Cluster(PgShop().Only({"pg-a", "pg-b"}));
  config.Class("inventory", "0s");
  if (!reports.empty()) config.Class("reports", reports);
  return config;
}

// The value of a sample line "SERIES VALUE" (not the "# HELP SERIES ..." line).
double MetricValue(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + series.size() + 2));
}

class Lifecycle : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { StartSharedPgCluster(); }
};

TEST_F(Lifecycle, SighupReloadsWithoutRefusingAConnection) {
  Daemon d(Config());
  ASSERT_TRUE(d.WaitReady(seconds(10))) << d.Log();
  EXPECT_EQ(d.Route("shop", "reports").json["error"], "unknown_class");

  // Clients keep asking across the reload: every answer must be a 200. One
  // opens a connection per request, one keeps its connection alive.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, kept_ok{0}, kept_failed{0};
  std::thread client([&] {
    while (!stop) {
      const auto a = d.Route("shop", "inventory");
      (a.status == 200 ? ok : failed)++;
    }
  });
  std::thread keep_alive_client([&] {
    HttpOptions keep_alive;
    keep_alive.keep_alive = true;
    HttpClient c(d.port(), keep_alive);
    while (!stop) {
      (c.Get(RoutePath("shop", "inventory")).status == 200 ? kept_ok : kept_failed)++;
    }
  });
  d.WriteConfig(Config("1h"));
  d.Signal(SIGHUP);
  const bool applied =
      WaitFor([&] { return d.Route("shop", "reports").status == 200; }, seconds(10));
  std::this_thread::sleep_for(milliseconds(300));  // a little traffic after the switch
  stop = true;
  client.join();
  keep_alive_client.join();
  ASSERT_TRUE(applied) << d.Log();
  EXPECT_EQ(failed.load(), 0) << "requests failed during the reload (" << ok.load() << " ok)";
  EXPECT_GT(ok.load(), 50);
  EXPECT_EQ(kept_failed.load(), 0)
      << "keep-alive requests failed during the reload (" << kept_ok.load() << " ok)";
  EXPECT_GT(kept_ok.load(), 50);
  EXPECT_NE(d.Log().find("configuration reloaded"), std::string::npos);
  EXPECT_EQ(
      MetricValue(d.Get("/metrics").body, "lagrouter_config_reloads_total{result=\"applied\"}"), 1);
}

TEST_F(Lifecycle, BadConfigOnSighupIsRejectedAndTheOldOneKept) {
  Daemon d(Config("1h"));
  ASSERT_TRUE(d.WaitReady(seconds(10))) << d.Log();
  d.WriteConfig(Config("one hour"));
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
  Daemon first(Config());
  ASSERT_TRUE(first.WaitReady(seconds(10))) << first.Log();
  Daemon second(Config().Listen(first.port()).str(), first.port());
  EXPECT_EQ(second.WaitExit(seconds(5)), 1);
  EXPECT_NE(second.Log().find("in use"), std::string::npos) << second.Log();
  EXPECT_EQ(first.Get("/healthz").status, 200);
}

TEST_F(Lifecycle, SigtermStopsCleanly) {
  Daemon d(Config());
  ASSERT_TRUE(d.WaitReady(seconds(10))) << d.Log();
  d.Signal(SIGTERM);
  EXPECT_EQ(d.WaitExit(seconds(5)), 0) << d.Log();
  EXPECT_NE(d.Log().find("stopped"), std::string::npos);
  EXPECT_EQ(d.Get("/healthz").status, 0) << "still answering after SIGTERM";
}

int OpenDescriptors(int pid) {
  int n = 0;
  if (DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (readdir(dir) != nullptr) ++n;
    closedir(dir);
  }
  return n - 2;  // "." and ".."
}

// utime + stime of a process, in seconds.
double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; fields >> f && i <= 15; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(f);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// accept() failing with EMFILE leaves the listener readable: an event loop
// that simply retries spins a core. The daemon pauses accepting, says why in
// its log, and serves again once descriptors are free.
TEST_F(Lifecycle, OutOfDescriptorsPausesAcceptingAndRecovers) {
  Daemon d(Config());
  ASSERT_TRUE(d.WaitReady(seconds(10))) << d.Log();
  const int limit = OpenDescriptors(d.pid()) + 10;
  MustRun("prlimit --pid " + std::to_string(d.pid()) + " --nofile=" + std::to_string(limit) + ":" +
          std::to_string(limit));
  std::vector<int> clients;
  for (int i = 0; i < 40; ++i) {  // 10 get accepted, the rest wait in the backlog
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(d.port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << i;
    clients.push_back(fd);
  }
  ASSERT_TRUE(
      WaitFor([&] { return d.Log().find("accepting a connection failed") != std::string::npos; },
              seconds(5)))
      << d.Log();
  const double cpu_before = CpuSeconds(d.pid());
  std::this_thread::sleep_for(seconds(2));
  const double cpu = CpuSeconds(d.pid()) - cpu_before;
  EXPECT_LT(cpu, 0.5) << "the daemon used " << cpu << " s of CPU in 2 s while out of descriptors";
  EXPECT_NE(d.Log().find("Too many open files"), std::string::npos) << d.Log();
  for (int fd : clients) close(fd);
  EXPECT_TRUE(WaitFor([&] { return d.Get("/healthz").status == 200; }, seconds(5))) << d.Log();
  EXPECT_EQ(d.Route("shop", "inventory").status, 200);
  EXPECT_GE(MetricValue(d.Get("/metrics").body, "lagrouter_http_accept_errors_total"), 1);
}

}  // namespace
}  // namespace lagrouter::test_support
