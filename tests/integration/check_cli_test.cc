// GET /v1/check and `lagrouter status` against a real daemon and the shared
// PostgreSQL cluster. Only pg-c's replay is paused here, and always resumed.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/integration/harness.h"

namespace lagrouter::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kDaemonPort = 18475;
constexpr int kPausedPort = 5443;  // pg-c

std::string Config() {
  return R"([listen]
address = "127.0.0.1:)" +
         std::to_string(kDaemonPort) + R"("
[probe]
interval = "250ms"
)" + LocalPgCluster() +
         R"([class.inventory]
max_staleness = "0s"
[class.second]
max_staleness = "1s"
[class.hour]
max_staleness = "1h"
fallback = "error"
)";
}

class CheckAndCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MustRun(RepoPath("scripts/pg-cluster.sh") + " start");
    daemon_ = new Daemon(Config(), kDaemonPort);
    ASSERT_TRUE(daemon_->WaitReady(seconds(10))) << daemon_->Log();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void TearDown() override {
    PgConn r(kPausedPort, "postgres", "postgres");
    if (r.ok()) r.Query("SELECT pg_wal_replay_resume()");
  }
  static HttpReply Check(const std::string& server, const std::string& cls) {
    return daemon_->Get("/v1/check/shop/" + server + "?class=" + cls);
  }
  static Daemon* daemon_;
};
Daemon* CheckAndCli::daemon_ = nullptr;

TEST_F(CheckAndCli, PrimaryPassesEveryClassReplicaNeverTheZeroClass) {
  for (const char* cls : {"inventory", "second", "hour"}) {
    auto a = Check("pg-a", cls);
    EXPECT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.json["ok"], true);
    EXPECT_EQ(a.json["role"], "primary");
    EXPECT_EQ(a.json["reason"], "primary");
    EXPECT_EQ(a.json["staleness_bound_ms"], 0);
  }
  auto r = Check("pg-c", "inventory");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json["ok"], false);
  EXPECT_EQ(r.json["reason"], "primary_only_class");
}

TEST_F(CheckAndCli, PausedReplicaFailsItsClassOnlyWhileStale) {
  ASSERT_TRUE(WaitFor([] { return Check("pg-c", "second").status == 200; }, seconds(30)))
      << Check("pg-c", "second").body;
  auto fresh = Check("pg-c", "second");
  EXPECT_EQ(fresh.json["reason"], "fresh_replica");
  EXPECT_LE(fresh.json["staleness_bound_ms"].get<int64_t>(), 1000);

  // Pause pg-c while a writer commits: the bound passes 1 s and the check fails.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    PgConn app(5441, "app", "shop");
    while (!stop) {
      app.Query("INSERT INTO orders (item) VALUES ('check-test')");
      std::this_thread::sleep_for(milliseconds(20));
    }
  });
  PgConn c(kPausedPort, "postgres", "postgres");
  ASSERT_TRUE(c.ok());
  c.Query("SELECT pg_wal_replay_pause()");
  const auto paused_at = Clock::now();
  const bool failed = WaitFor([] { return Check("pg-c", "second").status == 503; }, seconds(10));
  const auto took = Clock::now() - paused_at;
  auto stale = Check("pg-c", "second");
  auto hour = Check("pg-c", "hour");
  c.Query("SELECT pg_wal_replay_resume()");
  stop = true;
  writer.join();

  ASSERT_TRUE(failed) << stale.body;
  EXPECT_EQ(stale.json["reason"], "stale") << stale.body;
  EXPECT_GT(stale.json["staleness_bound_ms"].get<int64_t>(), 1000) << stale.body;
  EXPECT_LE(std::chrono::duration_cast<milliseconds>(took).count(), 3000);
  EXPECT_EQ(hour.status, 200) << "a 1 h class keeps a replica paused for seconds: " << hour.body;

  // Resumed: back once its bound has settled below half the limit.
  EXPECT_TRUE(WaitFor([] { return Check("pg-c", "second").status == 200; }, seconds(20)))
      << Check("pg-c", "second").body;
}

TEST_F(CheckAndCli, BadInputGetsClearErrors) {
  auto a = daemon_->Get("/v1/check/nope/pg-b?class=second");
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(a.json["error"], "unknown_cluster");
  EXPECT_NE(a.json["message"].get<std::string>().find("shop"), std::string::npos);
  a = daemon_->Get("/v1/check/shop/pg-x?class=second");
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(a.json["error"], "unknown_server");
  EXPECT_NE(a.json["message"].get<std::string>().find("pg-a, pg-b, pg-c"), std::string::npos);
  a = daemon_->Get("/v1/check/shop/pg-b?class=nope");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.json["error"], "unknown_class");
  a = daemon_->Get("/v1/check/shop/pg-b");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.json["error"], "bad_request");
  a = daemon_->Get("/v1/check/shop/pg-b?class=second&class=hour");
  EXPECT_EQ(a.status, 400);
  a = daemon_->Get("/v1/check/shop/pg-b?class=second&foo=1");
  EXPECT_EQ(a.status, 400);
  a = daemon_->Get("/v1/check/shop/%ff%00?class=second");
  EXPECT_EQ(a.status, 404);
  EXPECT_TRUE(a.json.is_object()) << a.body;
  EXPECT_EQ(daemon_->Get("/healthz").status, 200) << "the daemon must survive bad input";
}

TEST_F(CheckAndCli, StatusPageIsServedSelfContained) {
  auto a = daemon_->Get("/");
  ASSERT_EQ(a.status, 200);
  EXPECT_NE(a.body.find("<title>lagrouter status</title>"), std::string::npos);
  EXPECT_NE(a.body.find("/v1/status"), std::string::npos);
  for (const char* external : {"src=", "href=", "url(", "@import", "<link"}) {
    EXPECT_EQ(a.body.find(external), std::string::npos) << "external asset: " << external;
  }
}

TEST_F(CheckAndCli, StatusCommandPrintsTheTable) {
  ASSERT_TRUE(WaitFor([] { return Check("pg-b", "hour").status == 200; }, seconds(30)));
  std::string out;
  const int rc = RunCommand(
      DaemonBinary() + " status --url http://127.0.0.1:" + std::to_string(kDaemonPort), &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ready, probe every 250 ms"), std::string::npos) << out;
  EXPECT_NE(out.find("CLUSTER  SERVER  ROLE"), std::string::npos) << out;
  EXPECT_NE(out.find("shop     pg-a    primary  yes"), std::string::npos) << out;
  EXPECT_NE(out.find("shop     pg-b    replica  yes"), std::string::npos) << out;
  EXPECT_NE(out.find("hour"), std::string::npos) << out;
  EXPECT_NE(out.find(" ms "), std::string::npos) << "a bound in ms: " << out;
}

TEST_F(CheckAndCli, StatusCommandFailsClearlyWhenUnreachable) {
  std::string out;
  int rc = RunCommand(DaemonBinary() + " status --url http://127.0.0.1:18479", &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("cannot reach lagrouter at http://127.0.0.1:18479"), std::string::npos) << out;
  rc = RunCommand(DaemonBinary() + " status --url ftp://x", &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--url must look like http://HOST:PORT"), std::string::npos) << out;
  rc = RunCommand(DaemonBinary() + " status --bogus", &out);
  EXPECT_EQ(rc, 2) << out;
}

TEST(StatusCommandWithTokens, NeedsAndUsesTheToken) {
  const std::string token = "cli-test-token";
  std::string sha;
  ASSERT_EQ(RunCommand("printf %s " + token + " | sha256sum | cut -d' ' -f1", &sha), 0);
  sha.erase(sha.find_last_not_of(" \n") + 1);
  std::string config = Config();
  config.replace(config.find(std::to_string(kDaemonPort)), 5, "18476");
  config += "[[client]]\nname = \"oncall\"\ntoken_sha256 = \"" + sha +
            "\"\nclusters = [\"*\"]\nclasses = [\"*\"]\n";
  Daemon d(config, 18476);
  ASSERT_TRUE(d.WaitReady(seconds(10))) << d.Log();
  const std::string cmd = DaemonBinary() + " status --url http://127.0.0.1:18476";
  std::string out;
  int rc = RunCommand("env -u LAGROUTER_TOKEN " + cmd, &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("refused the request (HTTP 401)"), std::string::npos) << out;
  EXPECT_NE(out.find("LAGROUTER_TOKEN"), std::string::npos) << out;
  rc = RunCommand("LAGROUTER_TOKEN=" + token + " " + cmd, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("shop     pg-a    primary  yes"), std::string::npos) << out;
}

}  // namespace
}  // namespace lagrouter::testing
