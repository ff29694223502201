// ConfigWarnings: what a valid configuration allows but probably does not mean.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "tests/support/config_text.h"

namespace lagrouter::daemon {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Loopback only, verified TLS, classes far above the probe interval: no warning.
Config Quiet() {
  Config c;
  c.listen_host = "127.0.0.1";
  c.probe_interval = milliseconds(250);
  ClusterConfig cluster;
  cluster.name = "shop";
  cluster.sslmode = "verify-full";
  cluster.servers = {{"pg-a", "10.0.0.1", 5432, 1}, {"pg-b", "10.0.0.2", 5432, 1}};
  c.clusters.push_back(cluster);
  router::QueryClass reports;
  reports.name = "reports";
  reports.max_staleness = seconds(60);
  c.classes.push_back(reports);
  return c;
}

TEST(ConfigWarnings, NoneForAQuietConfiguration) {
  EXPECT_EQ(ConfigWarnings(Quiet()), std::vector<std::string>{});
}

TEST(ConfigWarnings, AnApiOpenToTheNetwork) {
  Config c = Quiet();
  c.listen_host = "0.0.0.0";
  c.allow_unauthenticated = true;
  EXPECT_EQ(ConfigWarnings(c),
            std::vector<std::string>{
                "no [[client]] configured and listening on 0.0.0.0: the API is open to anyone "
                "who can reach it (listen.allow_unauthenticated = true)"});
  // A client token, or mutual TLS, closes it.
  Config with_client = c;
  with_client.clients.push_back(ClientConfig{.name = "app"});
  EXPECT_TRUE(ConfigWarnings(with_client).empty());
  Config with_mtls = c;
  with_mtls.tls_client_ca = "/etc/lagrouter/ca.pem";
  EXPECT_TRUE(ConfigWarnings(with_mtls).empty());
}

TEST(ConfigWarnings, AClassUnderTwoProbeIntervalsWithSettle) {
  Config c = Quiet();
  router::QueryClass tight;
  tight.name = "tight";
  tight.max_staleness = milliseconds(400);  // under 2 x 250 ms
  tight.settle = seconds(1);
  c.classes.push_back(tight);
  EXPECT_EQ(ConfigWarnings(c),
            std::vector<std::string>{
                "class=tight max_staleness 400 ms is under two probe intervals: set settle = "
                "\"0s\" and ask with wait= (or max_wait) so replicas can serve it (see "
                "docs/configuration.md)"});
  // settle = 0s is the advice; a 0s class goes to the primary anyway; two
  // intervals exactly leave room for one probe's lateness.
  c.classes.back().settle = router::Duration::zero();
  EXPECT_TRUE(ConfigWarnings(c).empty());
  c.classes.back().settle = seconds(1);
  c.classes.back().max_staleness = router::Duration::zero();
  EXPECT_TRUE(ConfigWarnings(c).empty());
  c.classes.back().max_staleness = milliseconds(500);
  EXPECT_TRUE(ConfigWarnings(c).empty());
}

TEST(ConfigWarnings, RemoteServersWithoutVerifiedTls) {
  Config c = Quiet();
  c.clusters[0].sslmode = "";
  EXPECT_EQ(ConfigWarnings(c),
            std::vector<std::string>{
                "cluster=shop sslmode=(default): connections to its servers are not verified "
                "against a CA and host name; use sslmode = \"verify-full\" with sslrootcert (see "
                "docs/security.md)"});
  c.clusters[0].sslmode = "require";
  ASSERT_EQ(ConfigWarnings(c).size(), 1u);
  EXPECT_EQ(ConfigWarnings(c)[0].rfind("cluster=shop sslmode=require: ", 0), 0u);
  // verify-ca checks the host name too for PostgreSQL only.
  c.clusters[0].sslmode = "verify-ca";
  EXPECT_TRUE(ConfigWarnings(c).empty());
  c.clusters[0].engine = router::Engine::kMysql;
  EXPECT_EQ(ConfigWarnings(c).size(), 1u);
  // Servers on this host need no TLS.
  c.clusters[0].sslmode = "disable";
  c.clusters[0].servers = {{"pg-a", "127.0.0.1", 5432, 1}, {"pg-b", "localhost", 5433, 1}};
  EXPECT_TRUE(ConfigWarnings(c).empty());
}

TEST(ConfigWarnings, FromAParsedFileInOrder) {
  auto cfg = ParseConfig(test_support::ConfigText()
                             .ListenAddress("0.0.0.0:8432")
                             .ListenSet("allow_unauthenticated", true)
                             .Probe("1s")
                             .Cluster(test_support::ClusterSpec("shop", "postgres")
                                          .NoPassword()
                                          .Server("pg-a", 5432, "db.example.com"))
                             .Class("fast", "1500ms"),
                         "test.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  const auto warnings = ConfigWarnings(*cfg);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_EQ(warnings[0].rfind("no [[client]] configured and listening on 0.0.0.0: ", 0), 0u);
  EXPECT_EQ(warnings[1].rfind("class=fast max_staleness 1500 ms is under two probe intervals", 0),
            0u);
  EXPECT_EQ(warnings[2].rfind("cluster=shop sslmode=(default): ", 0), 0u);
}

}  // namespace
}  // namespace lagrouter::daemon
