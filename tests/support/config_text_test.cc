// The config builder writes what the daemon's parser accepts, and the text a
// hand-written file would have.
#include "tests/support/config_text.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "daemon/config/config.h"
#include "tests/support/free_port.h"

namespace lagrouter::test_support {
namespace {

TEST(ConfigText, WritesTheTablesInOrder) {
  const std::string text = ConfigText()
                               .Listen(18000)
                               .Probe("100ms", "1s")
                               .Cluster(PgShop().Only({"pg-a"}))
                               .Class("inventory", "0s")
                               .Class("reports", "1h", "error", "2s")
                               .Client("ops", "ab12", {"shop"}, {"inventory", "reports"})
                               .AuthSet("protect_metrics", true)
                               .str();
  EXPECT_EQ(text,
            "[listen]\naddress = \"127.0.0.1:18000\"\n"
            "[probe]\ninterval = \"100ms\"\ntimeout = \"1s\"\n"
            "[[cluster]]\nname = \"shop\"\nengine = \"postgres\"\nuser = \"lagrouter\"\n"
            "password_env = \"LAGROUTER_DB_PASSWORD\"\n"
            "  [[cluster.server]]\n  name = \"pg-a\"\n  host = \"127.0.0.1\"\n  port = 5441\n"
            "[class.inventory]\nmax_staleness = \"0s\"\n"
            "[class.reports]\nmax_staleness = \"1h\"\nfallback = \"error\"\nsettle = \"2s\"\n"
            "[[client]]\nname = \"ops\"\ntoken_sha256 = \"ab12\"\nclusters = [\"shop\"]\n"
            "classes = [\"inventory\", \"reports\"]\n"
            "[auth]\nprotect_metrics = true\n");
}

TEST(ConfigText, TheDaemonParsesWhatItWrites) {
  setenv("LAGROUTER_DB_PASSWORD", "pw", 1);
  const std::string sha(64, 'a');
  const std::string text = ConfigText()
                               .Listen(18001)
                               .Probe("100ms", "1s")
                               .Cluster(PgShop())
                               .Cluster(MariaDbShop("mdb").Set("sslmode", "require"))
                               .StandardClasses()
                               .Client(ClientSpec("checkout").TokenSha256(sha).Clusters({"shop"}))
                               .str();
  auto parsed = daemon::LoadConfigText(text, "built.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.error() << "\n" << text;
  EXPECT_EQ(parsed->listen_port, 18001);
  ASSERT_EQ(parsed->clusters.size(), 2u);
  EXPECT_EQ(parsed->clusters[0].servers.size(), 3u);
  EXPECT_EQ(parsed->clusters[1].servers[2].port, 3409);
  EXPECT_EQ(parsed->clusters[1].sslmode, "require");
  EXPECT_EQ(parsed->classes.size(), 3u);
  ASSERT_EQ(parsed->clients.size(), 1u);
  EXPECT_FALSE(parsed->clients[0].all_clusters);
  EXPECT_TRUE(parsed->clients[0].all_classes);
}

TEST(ConfigText, LaterSettingsReplaceEarlierOnes) {
  const std::string text = ConfigText()
                               .Probe("100ms", "1s")
                               .Probe("250ms")
                               .Class("x", "1s")
                               .Class("x", "2s")
                               .Cluster(PgShop().PasswordFile("/pw").User("u"))
                               .str();
  EXPECT_EQ(text.find("timeout"), std::string::npos) << text;
  EXPECT_EQ(text.find("1s"), std::string::npos) << text;
  EXPECT_EQ(text.find("password_env"), std::string::npos) << text;
  EXPECT_NE(text.find("password_file = \"/pw\""), std::string::npos) << text;
  EXPECT_NE(text.find("user = \"u\""), std::string::npos) << text;
}

TEST(FreePort, IsBindableAndNotZero) {
  const int port = FreePort();
  EXPECT_GT(port, 0);
  EXPECT_LT(port, 65536);
}

}  // namespace
}  // namespace lagrouter::test_support
