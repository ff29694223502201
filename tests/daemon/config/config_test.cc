#include "daemon/config/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <span>

namespace lagrouter::daemon {
namespace {

using std::chrono::milliseconds;

const char* kValid = R"(
[listen]
address = "127.0.0.1:8432"
[probe]
interval = "250ms"
timeout = "1s"
[[cluster]]
name = "shop"
engine = "postgres"
user = "lagrouter"
password_env = "LAGROUTER_TEST_PW"
  [[cluster.server]]
  name = "pg-a"
  host = "127.0.0.1"
  port = 5432
  [[cluster.server]]
  name = "pg-b"
  host = "127.0.0.1"
  port = 5433
  weight = 2
[class.inventory]
max_staleness = "0s"
[class.reports]
max_staleness = "1h"
fallback = "error"
)";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("LAGROUTER_TEST_PW", "s3cret-pw", 1); }
};

TEST_F(ConfigTest, LoadsTheDesignExample) {
  auto cfg = LoadConfigText(kValid, "test.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->listen_port, 8432);
  EXPECT_EQ(cfg->probe_interval, milliseconds(250));
  ASSERT_EQ(cfg->clusters.size(), 1u);
  EXPECT_EQ(cfg->clusters[0].password, "s3cret-pw");
  EXPECT_EQ(cfg->clusters[0].servers[1].weight, 2u);
  ASSERT_EQ(cfg->classes.size(), 2u);
  EXPECT_EQ(cfg->classes[1].name, "reports");
  EXPECT_EQ(cfg->classes[1].max_staleness, std::chrono::hours(1));
  EXPECT_EQ(cfg->classes[1].fallback, router::Fallback::kError);
  EXPECT_EQ(cfg->HistoryHorizon(), std::chrono::hours(1));
}

// Parsing reads neither the environment nor files: it keeps where the secrets
// are, and ResolveConfig reads them.
TEST_F(ConfigTest, ParsingKeepsTheSourcesAndResolvingReadsThem) {
  std::string text = kValid;
  text.replace(text.find("[class.inventory]"), 0,
               "[[client]]\nname = \"app\"\ntoken_file = \"/nonexistent/token\"\n"
               "clusters = [\"*\"]\nclasses = [\"*\"]\n");
  text.replace(text.find("[probe]"), 0,
               "tls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"\n");
  unsetenv("LAGROUTER_TEST_PW");
  auto cfg = ParseConfig(text, "test.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  Config config = std::move(cfg).value();
  EXPECT_EQ(config.clusters[0].password_env, "LAGROUTER_TEST_PW");
  EXPECT_EQ(config.clusters[0].password, "");
  EXPECT_EQ(config.clients[0].token_file, "/nonexistent/token");
  EXPECT_EQ(config.clients[0].token_sha256, Sha256Digest{});

  auto resolved = ResolveConfig(config);
  ASSERT_FALSE(resolved.ok());
  EXPECT_NE(resolved.error().find("test.toml: listen.tls_key: cannot read '/nonexistent/key.pem'"),
            std::string::npos)
      << resolved.error();
  config.tls_cert.clear();
  config.tls_key.clear();
  resolved = ResolveConfig(config);
  ASSERT_FALSE(resolved.ok());
  EXPECT_NE(resolved.error().find("test.toml: cluster.shop.password_env: environment variable "
                                  "LAGROUTER_TEST_PW is not set"),
            std::string::npos)
      << resolved.error();
  setenv("LAGROUTER_TEST_PW", "s3cret-pw", 1);
  resolved = ResolveConfig(config);
  ASSERT_FALSE(resolved.ok());
  EXPECT_NE(resolved.error().find("test.toml: client.app.token_file: cannot read"),
            std::string::npos)
      << resolved.error();
  EXPECT_EQ(config.clusters[0].password, "s3cret-pw");
}

TEST_F(ConfigTest, AnEmptyTokenFileNameIsAnError) {
  std::string text = kValid;
  text.replace(text.find("[class.inventory]"), 0,
               "[[client]]\nname = \"app\"\ntoken_file = \"\"\n"
               "clusters = [\"*\"]\nclasses = [\"*\"]\n");
  auto cfg = LoadConfigText(text, "test.toml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error(), "test.toml: client.app.token_file: cannot read ''");
}

TEST(ConfigFile, LoadReadsParsesAndResolves) {
  const std::string path = ::testing::TempDir() + "/lagrouter-load.toml";
  std::ofstream(path) << kValid;
  setenv("LAGROUTER_TEST_PW", "from-env", 1);
  auto cfg = LoadConfig(path);
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->path, path);
  EXPECT_EQ(cfg->clusters[0].password, "from-env");
  auto missing = LoadConfig(path + ".missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), path + ".missing: cannot open the config file");
}

TEST(Duration, Parses) {
  struct Case {
    const char* text;
    int64_t ms;
  };
  const Case cases[] = {{"0s", 0},       {"250ms", 250},     {"5s", 5000},   {"1m", 60000},
                        {"1h", 3600000}, {"1m30s", 90000},   {"1.5s", 1500}, {"2d", 172800000},
                        {"100us", 0},    {"1h0m1s", 3601000}};
  for (const auto& c : cases) {
    auto d = ParseDuration(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.error();
    EXPECT_EQ(std::chrono::duration_cast<milliseconds>(*d).count(), c.ms) << c.text;
  }
  for (const char* bad :
       {"", "5", "s", "5 s", "-1s", "5sec", "1.2.3s", "1y", "ms", "400d", "1e3s"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << "accepted '" << bad << "'";
  }
}

// A broken config: `base` with `from` replaced by `to`, and what its error
// message must say.
struct BrokenCase {
  std::string from, to;
  std::string expected;  // in the message
};

// Every case must be rejected with its expected words, never echoing a secret.
void ExpectRejected(const std::string& base, std::span<const BrokenCase> cases) {
  for (const auto& c : cases) {
    std::string text = base;
    const auto at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    auto cfg = LoadConfigText(text, "test.toml");
    ASSERT_FALSE(cfg.ok()) << "accepted: " << c.to;
    EXPECT_NE(cfg.error().find(c.expected), std::string::npos)
        << "message '" << cfg.error() << "' lacks '" << c.expected << "'";
    EXPECT_EQ(cfg.error().find("hunter2"), std::string::npos) << "secret echoed";
  }
}

// Each broken config must be rejected with a message naming the key.
TEST_F(ConfigTest, RejectsWithTheKeyNamed) {
  using Case = BrokenCase;
  const Case cases[] = {
      {"interval = \"250ms\"", "interval = \"fast\"", "probe.interval"},
      {"interval = \"250ms\"", "interval = 250", "probe.interval"},
      {"interval = \"250ms\"", "intervall = \"250ms\"", "probe.intervall: unknown key"},
      {"engine = \"postgres\"", "engine = \"oracle\"", "cluster.shop.engine"},
      {"port = 5433", "port = 70000", "cluster.shop.server[1].port"},
      {"port = 5433", "port = \"5433\"", "cluster.shop.server[1].port"},
      {"name = \"pg-b\"", "name = \"pg-a\"", "duplicate server 'pg-a'"},
      {"fallback = \"error\"", "fallback = \"replica\"", "class.reports.fallback"},
      {"max_staleness = \"1h\"", "max_staleness = \"1 hour\"", "class.reports.max_staleness"},
      {"password_env = \"LAGROUTER_TEST_PW\"", "password = \"hunter2\"", "literal passwords"},
      {"password_env = \"LAGROUTER_TEST_PW\"", "password_env = \"LAGROUTER_NOT_SET_X\"",
       "LAGROUTER_NOT_SET_X is not set"},
      {"address = \"127.0.0.1:8432\"", "address = \"127.0.0.1\"", "listen.address"},
      {"[class.inventory]\nmax_staleness = \"0s\"", "[class.inventory]\nfallback = \"error\"",
       "class.inventory.max_staleness: missing"},
      {"max_staleness = \"1h\"", "max_staleness = \"1h\"\ncheck_margin = \"1h\"",
       "class.reports.check_margin: must be less than max_staleness (3600000 ms)"},
      {"[class.inventory]\nmax_staleness = \"0s\"",
       "[class.inventory]\nmax_staleness = \"0s\"\ncheck_margin = \"1ms\"",
       "class.inventory.check_margin: must be less than max_staleness"},
      {"max_staleness = \"1h\"", "max_staleness = \"1h\"\ncheck_margin = \"-1s\"",
       "class.reports.check_margin"},
      {"[[cluster]]", "[[clusters]]", "clusters: unknown key"},
      {"max_staleness = \"1h\"", "max_staleness = \"1h\"\nstrict_replicas = true",
       "class.reports.strict_replicas: applies to a 0s class only"},
      {"max_staleness = \"1h\"", "max_staleness = \"1h\"\nstrict_replicas = \"yes\"",
       "class.reports.strict_replicas"},
      {"max_staleness = \"1h\"", "max_staleness = \"1h\"\nmax_wait = \"2s\"",
       "class.reports.max_wait: must be at most on_demand.max_wait (1000 ms)"},
      {"[[cluster]]", "[on_demand]\nmax_wait = \"1m\"\n[[cluster]]",
       "on_demand.max_wait: must be at most 10s"},
      {"[[cluster]]", "[on_demand]\nprobes_per_second = 0\n[[cluster]]",
       "on_demand.probes_per_second"},
      {"[[cluster]]", "[on_demand]\nrate = 5\n[[cluster]]", "on_demand.rate: unknown key"},
      {"address = \"127.0.0.1:8432\"", "address = [", "test.toml"},  // TOML syntax error
  };
  ExpectRejected(kValid, cases);
}

// discovery = "patroni": members from Patroni's REST API instead of a list.
const char* kDiscovering = R"(
[[cluster]]
name = "ha"
engine = "postgres"
user = "lagrouter"
password_env = "LAGROUTER_TEST_PW"
discovery = "patroni"
patroni_urls = ["http://10.0.0.5:8008", "http://pg-2.example:8008/"]
discovery_interval = "2s"
[class.inventory]
max_staleness = "0s"
)";

TEST_F(ConfigTest, LoadsADiscoveringCluster) {
  auto cfg = LoadConfigText(kDiscovering, "test.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  const auto& c = cfg->clusters[0];
  EXPECT_TRUE(c.discovery.enabled());
  EXPECT_EQ(c.discovery.kind, "patroni");
  EXPECT_EQ(c.discovery.urls,
            (std::vector<std::string>{"http://10.0.0.5:8008", "http://pg-2.example:8008"}));
  EXPECT_EQ(c.discovery.interval, std::chrono::seconds(2));
  EXPECT_EQ(c.discovery.timeout, std::chrono::seconds(1));
  EXPECT_TRUE(c.servers.empty());
  EXPECT_FALSE(cfg->clusters.empty());
}

TEST_F(ConfigTest, RejectsBadDiscoveryWithTheKeyNamed) {
  using Case = BrokenCase;
  const std::string urls =
      "patroni_urls = [\"http://10.0.0.5:8008\", \"http://pg-2.example:8008/\"]";
  const Case cases[] = {
      {"discovery = \"patroni\"", "discovery = \"consul\"",
       "cluster.ha.discovery: 'consul' is not a member source (known: patroni)"},
      {urls, "", "cluster.ha.patroni_urls: discovery = \"patroni\" needs a list"},
      {urls, "patroni_urls = []", "cluster.ha.patroni_urls: discovery = \"patroni\" needs"},
      {urls, "patroni_urls = \"http://a:8008\"", "cluster.ha.patroni_urls: discovery"},
      {urls, "patroni_urls = [8008]", "cluster.ha.patroni_urls[0]: must be a string"},
      {urls, "patroni_urls = [\"10.0.0.5:8008\"]",
       "cluster.ha.patroni_urls[0]: '10.0.0.5:8008' must be an http:// URL"},
      {urls, "patroni_urls = [\"https://a:8008\"]",
       "cluster.ha.patroni_urls[0]: 'https://a:8008': https is not supported"},
      {urls, "patroni_urls = [\"http://a:99999\"]", "cluster.ha.patroni_urls[0]: 'http://a:99999'"},
      {urls, "patroni_urls = [\"http://\"]", "cluster.ha.patroni_urls[0]"},
      {urls, "patroni_urls = [\"http://user:pw@a:8008\"]", "cluster.ha.patroni_urls[0]"},
      {urls, "patroni_urls = [\"http://a:8008\", \"http://a:8008/\"]",
       "cluster.ha.patroni_urls[1]: duplicate URL 'http://a:8008'"},
      {"discovery_interval = \"2s\"", "discovery_interval = \"10ms\"",
       "cluster.ha.discovery_interval: must be at least 100ms"},
      {"discovery_interval = \"2s\"", "discovery_timeout = \"2m\"",
       "cluster.ha.discovery_timeout: must be between 10ms and 60s"},
      {"discovery_interval = \"2s\"", "discovery_intervall = \"2s\"",
       "discovery_intervall: unknown key"},
      {"discovery_interval = \"2s\"", "[[cluster.server]]\nname = \"a\"\nhost = \"h\"\nport = 1",
       "cluster.ha.server: members come from Patroni"},
      {"discovery = \"patroni\"", "", "cluster.ha.patroni_urls: needs discovery = \"patroni\""},
  };
  ExpectRejected(kDiscovering, cases);
}

// listen.threads: omitted or "auto" is one event loop per usable core, set
// when the config is resolved (parsing alone reads no machine facts).
TEST_F(ConfigTest, ThreadsDefaultToTheUsableCores) {
  const auto with = [](const std::string& threads) {
    std::string text = kValid;
    const std::string at = "address = \"127.0.0.1:8432\"";
    text.replace(text.find(at), at.size(), at + (threads.empty() ? "" : "\nthreads = " + threads));
    return text;
  };
  ASSERT_GE(UsableCores(), 1);
  for (const std::string threads : {"", "\"auto\""}) {
    auto parsed = ParseConfig(with(threads), "t.toml");
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(parsed->http_threads, 0) << threads;
    auto loaded = LoadConfigText(with(threads), "t.toml");
    ASSERT_TRUE(loaded.ok()) << loaded.error();
    EXPECT_EQ(loaded->http_threads, UsableCores()) << threads;
  }
  auto three = LoadConfigText(with("3"), "t.toml");
  ASSERT_TRUE(three.ok()) << three.error();
  EXPECT_EQ(three->http_threads, 3);
  for (const std::string bad : {"\"many\"", "0", "2000"}) {
    auto refused = ParseConfig(with(bad), "t.toml");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.error().find("listen.threads"), std::string::npos) << refused.error();
  }
}

TEST_F(ConfigTest, NoClassesOrClustersIsAnError) {
  EXPECT_FALSE(ParseConfig("[class.a]\nmax_staleness = \"1s\"\n", "t").ok());
  auto cfg = ParseConfig("", "t");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().find("cluster"), std::string::npos);
}

TEST_F(ConfigTest, PasswordFileMustBePrivate) {
  const std::string path = ::testing::TempDir() + "/lagrouter-pw";
  std::ofstream(path) << "file-secret\n";
  std::string text = kValid;
  const std::string from = "password_env = \"LAGROUTER_TEST_PW\"";
  text.replace(text.find(from), from.size(), "password_file = \"" + path + "\"");
  chmod(path.c_str(), 0644);
  auto open = LoadConfigText(text, "t");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.error().find("t: cluster.shop.password_file: '" + path +
                              "' is readable by group or others; chmod 600 it"),
            std::string::npos)
      << open.error();
  chmod(path.c_str(), 0600);
  auto ok = LoadConfigText(text, "t");
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(ok->clusters[0].password, "file-secret");
}

TEST_F(ConfigTest, OnDemandWaitsAndTheirCap) {
  std::string text = kValid;
  auto replace = [&text](const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);
  };
  replace("[[cluster]]", "[on_demand]\nmax_wait = \"200ms\"\nprobes_per_second = 40\n[[cluster]]");
  replace("max_staleness = \"1h\"", "max_staleness = \"1h\"\nmax_wait = \"200ms\"");
  auto cfg = LoadConfigText(text, "test.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->max_wait, std::chrono::milliseconds(200));
  EXPECT_EQ(cfg->on_demand_probes_per_second, 40);
  for (const auto& c : cfg->classes) {
    EXPECT_EQ(c.max_wait,
              c.name == "reports" ? std::chrono::milliseconds(200) : router::Duration::zero())
        << c.name;
  }
  auto defaults = LoadConfigText(kValid, "test.toml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->max_wait, std::chrono::seconds(1));
  EXPECT_EQ(defaults->on_demand_probes_per_second, 1000);
}

}  // namespace
}  // namespace lagrouter::daemon

// toml11 recurses per nesting level: deep nesting must be an error, not a stack
// overflow (found by fuzz_config). Brackets inside strings and comments count not.
TEST(ConfigNesting, DeepNestingIsAnErrorNotACrash) {
  for (const std::string open : {"[", "{b="}) {
    std::string text = "a = ";
    for (int i = 0; i < 100000; ++i) text += open;
    auto cfg = lagrouter::daemon::ParseConfig(text, "deep.toml");
    ASSERT_FALSE(cfg.ok());
    EXPECT_NE(cfg.error().find("deep.toml: line 1: arrays and inline tables nested deeper"),
              std::string::npos)
        << cfg.error();
  }
  const std::string brackets(200, '[');
  auto quoted =
      lagrouter::daemon::ParseConfig("# " + brackets + "\nx = \"" + brackets + "\"\ny = '" +
                                         brackets + "'\nz = \"\"\"\n" + brackets + "\"\"\"\n",
                                     "t.toml");
  ASSERT_FALSE(quoted.ok());
  EXPECT_EQ(quoted.error().find("nested deeper"), std::string::npos) << quoted.error();
}

// toml11 3.7 reads out of bounds reporting invalid UTF-8 in a literal string
// (found by fuzz_config): invalid UTF-8 is rejected before toml11 sees it.
TEST(ConfigUtf8, InvalidUtf8IsAnError) {
  const std::string crash(
      "'\xff\xff\xff\xff\xff\xff\xff'\xff\x13i\xff\x13i\xff\x13 0=BD'=__DB0''\xff", 32);
  for (const std::string& text :
       {crash, std::string("a = 1\nb = '\xc0\xaf'\n"), std::string("x = \"\xed\xa0\x80\"")}) {
    auto cfg = lagrouter::daemon::ParseConfig(text, "u.toml");
    ASSERT_FALSE(cfg.ok());
    EXPECT_NE(cfg.error().find("not valid UTF-8"), std::string::npos) << cfg.error();
  }
  auto ok = lagrouter::daemon::ParseConfig("# caf\xc3\xa9 \xf0\x9f\x98\x80\n", "u.toml");
  ASSERT_FALSE(ok.ok());
  EXPECT_EQ(ok.error().find("UTF-8"), std::string::npos) << ok.error();
}
