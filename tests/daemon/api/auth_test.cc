// API tokens: [[client]] parsing, SHA-256 and constant-time comparison, the
// authentication and authorization decisions, and the listen-address rule.
#include "daemon/api/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "daemon/config/config.h"
#include "daemon/config/secret.h"

namespace lagrouter::daemon {
namespace {

// sha256("checkout-token-0123456789") and sha256("reports-token-0123456789").
constexpr char kCheckoutToken[] = "checkout-token-0123456789";
constexpr char kReportsToken[] = "reports-token-0123456789";

std::string Base(const std::string& listen = "127.0.0.1:8432") {
  return R"(
[listen]
address = ")" +
         listen + R"("
[[cluster]]
name = "shop"
engine = "postgres"
user = "lagrouter"
  [[cluster.server]]
  name = "pg-a"
  host = "127.0.0.1"
  port = 5432
[[cluster]]
name = "billing"
engine = "mysql"
user = "lagrouter"
  [[cluster.server]]
  name = "my-a"
  host = "127.0.0.1"
  port = 3306
[class.inventory]
max_staleness = "0s"
[class.dashboard]
max_staleness = "5s"
[class.reports]
max_staleness = "1h"
)";
}

std::string Clients() {
  return R"(
[[client]]
name = "checkout"
token_sha256 = ")" +
         ToHex(Sha256(kCheckoutToken)) + R"("
clusters = ["shop"]
classes = ["inventory", "dashboard"]
[[client]]
name = "reports"
token_sha256 = ")" +
         ToHex(Sha256(kReportsToken)) + R"("
clusters = ["*"]
classes = ["*"]
)";
}

TEST(Secret, Sha256MatchesKnownVector) {
  // sha256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(ToHex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Secret, DigestEqualComparesEveryByte) {
  const auto a = Sha256("token-a");
  auto b = a;
  EXPECT_TRUE(DigestEqual(a, b));
  for (size_t i : {size_t{0}, size_t{15}, size_t{31}}) {
    b = a;
    b[i] ^= 1;
    EXPECT_FALSE(DigestEqual(a, b)) << "byte " << i;
  }
}

TEST(Secret, ParsesHexDigestsOfEitherCase) {
  const std::string lower = ToHex(Sha256("x"));
  std::string upper = lower;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_TRUE(ParseSha256Hex(lower).ok());
  ASSERT_TRUE(ParseSha256Hex(upper).ok());
  EXPECT_TRUE(DigestEqual(*ParseSha256Hex(lower), *ParseSha256Hex(upper)));
  EXPECT_FALSE(ParseSha256Hex(lower.substr(1)).ok());
  EXPECT_FALSE(ParseSha256Hex(lower.substr(1) + "g").ok());
  EXPECT_FALSE(ParseSha256Hex("").ok());
}

TEST(ClientConfig, Parses) {
  auto cfg = LoadConfigText(Base() + Clients(), "t.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  ASSERT_EQ(cfg->clients.size(), 2u);
  EXPECT_TRUE(cfg->AuthEnabled());
  const auto& checkout = cfg->clients[0];
  EXPECT_EQ(checkout.name, "checkout");
  EXPECT_TRUE(checkout.AllowsCluster("shop"));
  EXPECT_FALSE(checkout.AllowsCluster("billing"));
  EXPECT_TRUE(checkout.AllowsClass("dashboard"));
  EXPECT_FALSE(checkout.AllowsClass("reports"));
  EXPECT_TRUE(cfg->clients[1].AllowsCluster("billing"));
  EXPECT_TRUE(cfg->clients[1].AllowsClass("reports"));
  EXPECT_FALSE(cfg->protect_metrics);
}

TEST(ClientConfig, RejectsWithTheKeyNamed) {
  struct Case {
    std::string from, to, expected;
  };
  const std::string clients = Clients();
  const Case cases[] = {
      {"clusters = [\"shop\"]\n", "", "client.checkout.clusters: missing"},
      {"classes = [\"inventory\", \"dashboard\"]\n", "", "client.checkout.classes: missing"},
      {"clusters = [\"shop\"]", "clusters = [\"shops\"]", "unknown cluster 'shops'"},
      {"classes = [\"inventory\", \"dashboard\"]", "classes = [\"inventry\"]",
       "client.checkout.classes: unknown class 'inventry'"},
      {"clusters = [\"shop\"]", "clusters = []", "client.checkout.clusters: empty"},
      {"clusters = [\"shop\"]", "clusters = \"shop\"", "client.checkout.clusters: must be a list"},
      {"clusters = [\"shop\"]", "clusters = [\"*\", \"shop\"]", "do not list names next to it"},
      {"name = \"reports\"", "name = \"checkout\"", "duplicate client 'checkout'"},
      {"name = \"reports\"", "name = \"bad name\"", "client[1].name"},
      {"token_sha256 = \"" + ToHex(Sha256(kCheckoutToken)) + "\"",
       "token_sha256 = \"" + ToHex(Sha256(kReportsToken)) + "\"", "same token as client"},
      {"token_sha256 = \"" + ToHex(Sha256(kCheckoutToken)) + "\"", "token_sha256 = \"abc\"",
       "client.checkout.token_sha256: must be 64 hex digits"},
      {"token_sha256 = \"" + ToHex(Sha256(kCheckoutToken)) + "\"", "token = \"hunter2-token\"",
       "client.checkout.token: literal tokens are not accepted"},
      {"token_sha256 = \"" + ToHex(Sha256(kCheckoutToken)) + "\"", "",
       "client.checkout: set exactly one of token_sha256 or token_file"},
      {"classes = [\"*\"]", "classes = [\"*\"]\nscope = \"all\"",
       "client.reports.scope: unknown key"},
  };
  for (const auto& c : cases) {
    std::string text = Base() + clients;
    const auto at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    auto cfg = LoadConfigText(text, "t.toml");
    ASSERT_FALSE(cfg.ok()) << "accepted: " << c.to;
    EXPECT_NE(cfg.error().find(c.expected), std::string::npos)
        << "message '" << cfg.error() << "' lacks '" << c.expected << "'";
    EXPECT_EQ(cfg.error().find("hunter2"), std::string::npos) << "secret echoed";
  }
}

TEST(ClientConfig, TokenFileMustBePrivateAndIsHashed) {
  const std::string path = ::testing::TempDir() + "/lagrouter-token";
  std::ofstream(path) << kCheckoutToken << "\n";
  std::string text = Base() + Clients();
  const std::string from = "token_sha256 = \"" + ToHex(Sha256(kCheckoutToken)) + "\"";
  text.replace(text.find(from), from.size(), "token_file = \"" + path + "\"");
  chmod(path.c_str(), 0640);
  auto open = LoadConfigText(text, "t");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.error().find("client.checkout.token_file"), std::string::npos) << open.error();
  EXPECT_NE(open.error().find("readable by group or others"), std::string::npos) << open.error();
  EXPECT_EQ(open.error().find(kCheckoutToken), std::string::npos);
  chmod(path.c_str(), 0600);
  auto ok = LoadConfigText(text, "t");
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_TRUE(DigestEqual(ok->clients[0].token_sha256, Sha256(kCheckoutToken)));

  std::ofstream(path) << "short\n";
  auto weak = LoadConfigText(text, "t");
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.error().find("shorter than 16"), std::string::npos) << weak.error();
  EXPECT_EQ(weak.error().find("short\n"), std::string::npos);
}

TEST(ListenRule, NonLoopbackNeedsClientsOrExplicitConsent) {
  for (const char* loopback : {"127.0.0.1:8432", "127.1.2.3:8432", "[::1]:8432", "localhost:1"}) {
    EXPECT_TRUE(LoadConfigText(Base(loopback), "t").ok()) << loopback;
  }
  for (const char* open :
       {"0.0.0.0:8432", "10.0.0.5:8432", "[::]:8432", "127.0.0.1.evil:1", "db.example.com:8432"}) {
    auto cfg = LoadConfigText(Base(open), "t");
    ASSERT_FALSE(cfg.ok()) << open;
    EXPECT_NE(cfg.error().find("listen.address"), std::string::npos) << cfg.error();
    EXPECT_NE(cfg.error().find("no [[client]] is configured"), std::string::npos) << cfg.error();
    EXPECT_NE(cfg.error().find("allow_unauthenticated"), std::string::npos) << cfg.error();
  }
  std::string consent = Base("0.0.0.0:8432");
  consent.replace(consent.find("[listen]\n"), 9, "[listen]\nallow_unauthenticated = true\n");
  EXPECT_TRUE(LoadConfigText(consent, "t").ok());
  EXPECT_TRUE(LoadConfigText(Base("0.0.0.0:8432") + Clients(), "t").ok());
}

TEST(AuthSection, ProtectingNeedsClients) {
  auto bad = LoadConfigText(Base() + "[auth]\nprotect_metrics = true\n", "t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("auth.protect_metrics"), std::string::npos) << bad.error();
  auto typo = LoadConfigText(Base() + Clients() + "[auth]\nprotect_metric = true\n", "t");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().find("auth.protect_metric: unknown key"), std::string::npos);
  auto ok = LoadConfigText(Base() + Clients() + "[auth]\nprotect_metrics = true\n", "t");
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_TRUE(ok->protect_metrics);
  EXPECT_FALSE(ok->protect_health);
}

TEST(TlsConfig, NeedsCertAndKeyTogether) {
  auto only_cert = LoadConfigText(Base() + "", "t");  // baseline valid
  ASSERT_TRUE(only_cert.ok());
  std::string text = Base();
  text.replace(text.find("[listen]\n"), 9, "[listen]\ntls_cert = \"/nonexistent.pem\"\n");
  auto cfg = LoadConfigText(text, "t");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().find("listen.tls_key"), std::string::npos) << cfg.error();
  text = Base();
  text.replace(text.find("[listen]\n"), 9, "[listen]\ntls_client_ca = \"/nonexistent.pem\"\n");
  cfg = LoadConfigText(text, "t");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().find("listen.tls_client_ca"), std::string::npos) << cfg.error();
  text = Base();
  text.replace(text.find("[listen]\n"), 9,
               "[listen]\ntls_cert = \"/nonexistent.pem\"\ntls_key = \"/nonexistent.key\"\n");
  cfg = LoadConfigText(text, "t");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().find("listen.tls_key: cannot read"), std::string::npos) << cfg.error();
}

TEST(SslMode, UnknownModeIsNamed) {
  std::string text = Base();
  text.replace(text.find("user = \"lagrouter\""), 18, "user = \"lagrouter\"\nsslmode = \"verify\"");
  auto cfg = LoadConfigText(text, "t");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().find("cluster.shop.sslmode"), std::string::npos) << cfg.error();
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = LoadConfigText(Base() + Clients(), "t");
    ASSERT_TRUE(cfg.ok()) << cfg.error();
    config_ = std::move(cfg).value();
  }
  Config config_;
};

TEST_F(AuthenticatorTest, AuthenticatesBearerTokens) {
  Authenticator auth(config_);
  ASSERT_TRUE(auth.enabled());
  EXPECT_EQ(auth.Authenticate("").denial, Denial::kMissingToken);
  EXPECT_EQ(auth.Authenticate("").status(), 401);
  EXPECT_EQ(auth.Authenticate(std::string("Basic ") + kCheckoutToken).denial,
            Denial::kBadAuthorization);
  EXPECT_EQ(auth.Authenticate("Bearer").denial, Denial::kBadAuthorization);
  EXPECT_EQ(auth.Authenticate("Bearer  ").denial, Denial::kBadAuthorization);
  const auto wrong = auth.Authenticate("Bearer checkout-token-0123456788");
  EXPECT_EQ(wrong.denial, Denial::kUnknownToken);
  EXPECT_EQ(wrong.status(), 401);
  EXPECT_EQ(wrong.message.find("checkout-token"), std::string::npos);
  // The scheme is case-insensitive (RFC 7235); the token is not.
  EXPECT_EQ(auth.Authenticate(std::string("bearer ") + kCheckoutToken).client, 0);
  EXPECT_EQ(auth.Authenticate(std::string("Bearer ") + kReportsToken).client, 1);
  EXPECT_EQ(auth.Authenticate("Bearer CHECKOUT-TOKEN-0123456789").denial, Denial::kUnknownToken);
  EXPECT_TRUE(auth.Authenticate(std::string("Bearer ") + kCheckoutToken + " ").allowed());
}

TEST_F(AuthenticatorTest, AuthorizesClustersAndClasses) {
  Authenticator auth(config_);
  using V = std::vector<std::string_view>;
  EXPECT_TRUE(auth.Authorize(0, V{"shop"}, V{"inventory"}).allowed());
  EXPECT_TRUE(auth.Authorize(0, V{}, V{}).allowed());  // e.g. /v1/status
  const auto cls = auth.Authorize(0, V{"shop"}, V{"reports"});
  EXPECT_EQ(cls.denial, Denial::kClassNotAllowed);
  EXPECT_EQ(cls.status(), 403);
  EXPECT_NE(cls.message.find("may not use class 'reports'"), std::string::npos) << cls.message;
  const auto cluster = auth.Authorize(0, V{"billing"}, V{"inventory"});
  EXPECT_EQ(cluster.denial, Denial::kClusterNotAllowed);
  EXPECT_EQ(cluster.status(), 403);
  // A repeated parameter cannot smuggle a forbidden value past the check.
  EXPECT_EQ(auth.Authorize(0, V{"shop", "billing"}, V{}).denial, Denial::kClusterNotAllowed);
  EXPECT_TRUE(auth.Authorize(1, V{"billing"}, V{"reports"}).allowed());
  EXPECT_TRUE(auth.Authorize(1, V{"anything"}, V{"anything"}).allowed());
  EXPECT_EQ(auth.Authorize(-1, V{}, V{}).status(), 401);
}

TEST_F(AuthenticatorTest, ProtectsV1AndOptionallyOpsEndpoints) {
  Authenticator auth(config_);
  EXPECT_TRUE(auth.Protects("/v1/route"));
  EXPECT_TRUE(auth.Protects("/v1/status"));
  EXPECT_TRUE(auth.Protects("/v1/check/shop/pg-a"));
  EXPECT_FALSE(auth.Protects("/metrics"));
  EXPECT_FALSE(auth.Protects("/healthz"));
  config_.protect_metrics = true;
  config_.protect_health = true;
  EXPECT_TRUE(auth.Protects("/metrics"));
  EXPECT_TRUE(auth.Protects("/readyz"));
  config_.clients.clear();
  EXPECT_FALSE(auth.Protects("/v1/route"));
}

}  // namespace
}  // namespace lagrouter::daemon
