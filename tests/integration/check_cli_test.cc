// GET /v1/check and `lagrouter status` against a real daemon and the shared
// PostgreSQL cluster. Only pg-c's replay is paused here, and always resumed.
#include <gtest/gtest.h>

#include <memory>

#include "tests/support/daemon.h"

namespace lagrouter::test_support {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const int kPausedPort = PgPort(2);  // pg-c

ConfigText Config() {
  return ConfigText().Probe("250ms").Cluster(PgShop()).StandardClasses();
}

class CheckAndCli : public DaemonSuite {
 protected:
  static void SetUpTestSuite() {
    StartSharedPgCluster();
    StartDaemon(Config());
  }
  static void TearDownTestSuite() { StopDaemon(); }
  void TearDown() override {
    PgConn r(kPausedPort, "postgres", "postgres");
    if (r.ok()) r.Query("SELECT pg_wal_replay_resume()");
  }
  static HttpReply Check(const std::string& server, const std::string& cls) {
    return d().Get("/v1/check/shop/" + server + "?class=" + cls);
  }
};

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
  auto writer =
      std::make_unique<Writer>(Engine::kPostgres, PgPort(0), "check-test", milliseconds(20));
  PgConn c(kPausedPort, "postgres", "postgres");
  ASSERT_TRUE(c.ok());
  c.Query("SELECT pg_wal_replay_pause()");
  const auto paused_at = Clock::now();
  const bool failed = WaitFor([] { return Check("pg-c", "second").status == 503; }, seconds(10));
  const auto took = Clock::now() - paused_at;
  auto stale = Check("pg-c", "second");
  auto hour = Check("pg-c", "hour");
  c.Query("SELECT pg_wal_replay_resume()");
  EXPECT_EQ(writer->failures(), 0);
  writer.reset();

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
  // Names resolve as in /v1/route: an unknown cluster, class or server is a 400.
  auto a = d().Get("/v1/check/nope/pg-b?class=second");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.json["error"], "unknown_cluster");
  EXPECT_NE(a.json["message"].get<std::string>().find("shop"), std::string::npos);
  a = d().Get("/v1/check/shop/pg-x?class=second");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.json["error"], "unknown_server");
  EXPECT_NE(a.json["message"].get<std::string>().find("pg-a, pg-b, pg-c"), std::string::npos);
  a = d().Get("/v1/check/shop/pg-b?class=nope");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.json["error"], "unknown_class");
  a = d().Get("/v1/check/shop/pg-b");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.json["error"], "bad_request");
  a = d().Get("/v1/check/shop/pg-b?class=second&class=hour");
  EXPECT_EQ(a.status, 400);
  a = d().Get("/v1/check/shop/pg-b?class=second&foo=1");
  EXPECT_EQ(a.status, 400);
  a = d().Get("/v1/check/shop/%ff%00?class=second");
  EXPECT_EQ(a.status, 400);
  EXPECT_TRUE(a.json.is_object()) << a.body;
  EXPECT_EQ(d().Get("/healthz").status, 200) << "the daemon must survive bad input";
}

TEST_F(CheckAndCli, StatusPageIsServedSelfContained) {
  auto a = d().Get("/");
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
  const int rc = RunCommand(DaemonBinary() + " status --url " + d().Url(), &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ready, probe every 250 ms"), std::string::npos) << out;
  EXPECT_NE(out.find("CLUSTER  SERVER  ROLE"), std::string::npos) << out;
  EXPECT_NE(out.find("shop     pg-a    primary  yes"), std::string::npos) << out;
  EXPECT_NE(out.find("shop     pg-b    replica  yes"), std::string::npos) << out;
  EXPECT_NE(out.find("hour"), std::string::npos) << out;
  EXPECT_NE(out.find(" ms "), std::string::npos) << "a bound in ms: " << out;
}

TEST_F(CheckAndCli, StatusCommandFailsClearlyWhenUnreachable) {
  // Nothing listens on a port that was just free.
  const std::string url = "http://127.0.0.1:" + std::to_string(FreePort());
  std::string out;
  int rc = RunCommand(DaemonBinary() + " status --url " + url, &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("cannot reach lagrouter at " + url), std::string::npos) << out;
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
  Daemon d(Config().Client("oncall", sha));
  ASSERT_TRUE(d.WaitReady(seconds(10))) << d.Log();
  const std::string cmd = DaemonBinary() + " status --url " + d.Url();
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
}  // namespace lagrouter::test_support
