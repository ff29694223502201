// Member discovery from Patroni: the parser of GET /cluster on captured
// answers and on malformed ones, the member-set step, and the polling shell
// over a scripted fetcher.
#include "daemon/monitor/discovery.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon/api/http_api.h"
#include "daemon/metrics/metrics.h"
#include "tests/support/scripted.h"

namespace lagrouter::daemon {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(LAGROUTER_DAEMON_FIXTURES) + "/patroni/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ServerConfig Server(std::string name, int port, std::string host = "127.0.0.1") {
  ServerConfig s;
  s.name = std::move(name);
  s.host = std::move(host);
  s.port = port;
  return s;
}

std::vector<std::string> Names(const std::vector<ServerConfig>& servers) {
  std::vector<std::string> out;
  for (const auto& s : servers) out.push_back(s.name + "@" + s.host + ":" + std::to_string(s.port));
  return out;
}

TEST(ParsePatroniCluster, ReadsACapturedAnswer) {
  auto parsed = ParsePatroniCluster(Fixture("cluster_3_members.json"));
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  ASSERT_EQ(parsed->members.size(), 3u);
  EXPECT_TRUE(parsed->problems.empty());
  EXPECT_EQ(parsed->members[0].name, "pt1");
  EXPECT_EQ(parsed->members[0].host, "127.0.0.1");
  EXPECT_EQ(parsed->members[0].port, 5481);
  EXPECT_EQ(parsed->members[0].role, "leader");
  EXPECT_EQ(parsed->members[2].name, "pt3");
  EXPECT_EQ(parsed->members[2].port, 5483);
  EXPECT_EQ(parsed->members[2].state, "running");
}

// A stopped old leader and a member being rebuilt are still members: they
// stay probed (and are judged by their probes), not dropped.
TEST(ParsePatroniCluster, StoppedAndRebuildingMembersAreStillMembers) {
  auto failover = ParsePatroniCluster(Fixture("cluster_after_failover_old_leader_stopped.json"));
  ASSERT_TRUE(failover.ok()) << failover.error();
  ASSERT_EQ(failover->members.size(), 3u);
  EXPECT_EQ(failover->members[0].name, "pt1");
  EXPECT_EQ(failover->members[0].state, "stopped");
  EXPECT_TRUE(failover->problems.empty());
  auto reinit = ParsePatroniCluster(Fixture("cluster_reinit_creating_replica.json"));
  ASSERT_TRUE(reinit.ok()) << reinit.error();
  ASSERT_EQ(reinit->members.size(), 4u);
  EXPECT_EQ(reinit->members[2].state, "creating replica");
  EXPECT_TRUE(reinit->problems.empty());
}

TEST(ParsePatroniCluster, RefusesWhatIsNotAMemberList) {
  const std::map<std::string, std::string> cases = {
      {"", "not JSON"},
      {"<html>502 Bad Gateway</html>", "not JSON"},
      {"{\"members\": [", "not JSON"},
      {"[]", "not a JSON object"},
      {"\"members\"", "not a JSON object"},
      {"{}", "no \"members\" array"},
      {"{\"members\": {}}", "no \"members\" array"},
      {"{\"members\": null}", "no \"members\" array"},
  };
  for (const auto& [body, why] : cases) {
    auto parsed = ParsePatroniCluster(body);
    ASSERT_FALSE(parsed.ok()) << body;
    EXPECT_NE(parsed.error().find(why), std::string::npos) << body << " -> " << parsed.error();
  }
  auto huge = ParsePatroniCluster(std::string(2 << 20, ' '));
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().find("not a member list"), std::string::npos) << huge.error();
}

// Malformed members are left out, each named with why; the others are used.
TEST(ParsePatroniCluster, LeavesOutMalformedMembersAndSaysWhy) {
  const std::string body = R"({"members": [
    {"name": "ok1", "host": "10.0.0.1", "port": 5432, "role": "leader"},
    7,
    {"host": "10.0.0.2", "port": 5432},
    {"name": "has space", "host": "10.0.0.3", "port": 5432},
    {"name": "nohost", "port": 5432},
    {"name": "badport", "host": "10.0.0.4", "port": "5432"},
    {"name": "zeroport", "host": "10.0.0.4", "port": 0},
    {"name": "bigport", "host": "10.0.0.4", "port": 70000},
    {"name": "floatport", "host": "10.0.0.4", "port": 5432.5},
    {"name": "ok1", "host": "10.0.0.9", "port": 5432},
    {"name": "sameaddr", "host": "10.0.0.1", "port": 5432},
    {"name": "ok2", "host": "db2.example", "port": 6432, "role": "replica", "extra": [1, 2]}
  ]})";
  auto parsed = ParsePatroniCluster(body);
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  ASSERT_EQ(parsed->members.size(), 2u);
  EXPECT_EQ(parsed->members[0].name, "ok1");
  EXPECT_EQ(parsed->members[1].name, "ok2");
  EXPECT_EQ(parsed->members[1].host, "db2.example");
  const std::vector<std::string> expected = {
      "members[1]: not an object",
      "members[2]: no name",
      "members[3]: name 'has space' is not a lagrouter server name (1-64 letters, digits, '-', "
      "'_' or '.')",
      "members[4] (nohost): no usable host",
      "members[5] (badport): no usable port",
      "members[6] (zeroport): no usable port",
      "members[7] (bigport): no usable port",
      "members[8] (floatport): no usable port",
      "members[9] (ok1): the name is listed twice",
      "members[10] (sameaddr): 10.0.0.1:5432 is listed for another member too",
  };
  EXPECT_EQ(parsed->problems, expected);
}

TEST(NextMembers, ACompleteAnswerIsTheMemberSetSortedByName) {
  PatroniCluster answer;
  answer.members = {{"b", "h", 2, "replica", "running"}, {"a", "h", 1, "leader", "running"}};
  auto step = NextMembers({Server("old", 9)}, answer);
  EXPECT_EQ(step.state, DiscoveryState::kOk);
  EXPECT_EQ(step.error, "");
  EXPECT_EQ(Names(step.servers), (std::vector<std::string>{"a@h:1", "b@h:2"}));
}

// A partial answer adds what it can and removes nothing; an empty one and no
// answer keep the last known members.
TEST(NextMembers, APartialOrMissingAnswerKeepsTheLastKnownMembers) {
  const std::vector<ServerConfig> known = {Server("a", 1), Server("b", 2), Server("c", 3)};
  PatroniCluster partial;
  partial.members = {{"a", "127.0.0.1", 1, "", ""}, {"d", "127.0.0.1", 4, "", ""}};
  partial.problems = {"members[1] (b): no usable host"};
  auto step = NextMembers(known, partial);
  EXPECT_EQ(step.state, DiscoveryState::kPartial);
  EXPECT_EQ(step.error, "members[1] (b): no usable host");
  EXPECT_EQ(Names(step.servers), (std::vector<std::string>{"a@127.0.0.1:1", "b@127.0.0.1:2",
                                                           "c@127.0.0.1:3", "d@127.0.0.1:4"}));

  auto empty = NextMembers(known, PatroniCluster{});
  EXPECT_EQ(empty.state, DiscoveryState::kPartial);
  EXPECT_EQ(empty.error, "no members listed");
  EXPECT_TRUE(SameMembers(empty.servers, known));

  auto none = NextMembers(known, Result<PatroniCluster>(MakeError("http://x:8008: Connection")));
  EXPECT_EQ(none.state, DiscoveryState::kUnreachable);
  EXPECT_EQ(none.error, "http://x:8008: Connection");
  EXPECT_TRUE(SameMembers(none.servers, known));
}

TEST(SameMembers, ComparesNamesAndAddresses) {
  EXPECT_TRUE(SameMembers({Server("a", 1)}, {Server("a", 1)}));
  EXPECT_FALSE(SameMembers({Server("a", 1)}, {Server("a", 2)}));
  EXPECT_FALSE(SameMembers({Server("a", 1)}, {Server("a", 1, "10.0.0.1")}));
  EXPECT_FALSE(SameMembers({Server("a", 1)}, {Server("b", 1)}));
  EXPECT_FALSE(SameMembers({Server("a", 1)}, {Server("a", 1), Server("b", 2)}));
}

// A scripted Patroni: URL -> answer (body or error), changed by the test.
class FakePatroni {
 public:
  void Set(const std::string& url, Result<std::string> answer) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_.insert_or_assign(url, std::move(answer));
  }
  Fetcher fetcher() {
    return [this](const std::string& url, router::Duration) -> Result<std::string> {
      std::lock_guard<std::mutex> lock(mu_);
      asked_.push_back(url);
      auto it = answers_.find(url);
      if (it == answers_.end()) return MakeError(url + ": Connection");
      return it->second;
    };
  }
  std::vector<std::string> asked() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(asked_, {});
  }

 private:
  std::mutex mu_;
  std::map<std::string, Result<std::string>> answers_;
  std::vector<std::string> asked_;
};

std::string Members(std::initializer_list<std::pair<const char*, int>> members) {
  std::string body = "{\"members\": [";
  for (const auto& [name, port] : members) {
    if (body.back() != '[') body += ",";
    body += std::string("{\"name\":\"") + name +
            "\",\"host\":\"127.0.0.1\",\"port\":" + std::to_string(port) + ",\"role\":\"replica\"}";
  }
  return body + "]}";
}

Config DiscoveringConfig(std::vector<std::string> urls) {
  Config config;
  ClusterConfig listed;
  listed.name = "listed";
  listed.servers = {Server("x", 7)};
  ClusterConfig ha;
  ha.name = "ha";
  ha.discovery.kind = "patroni";
  ha.discovery.urls = std::move(urls);
  ha.discovery.interval = std::chrono::milliseconds(100);
  config.clusters = {listed, ha};
  return config;
}

TEST(Discovery, AdoptAsksFirstAndFallsBackToTheNextUrl) {
  FakePatroni patroni;
  patroni.Set("http://b", Members({{"pt2", 2}, {"pt1", 1}}));
  Discovery discovery(patroni.fetcher());
  auto config = discovery.Adopt(DiscoveringConfig({"http://a", "http://b"}));
  EXPECT_EQ(patroni.asked(), (std::vector<std::string>{"http://a", "http://b"}));
  EXPECT_EQ(Names(config->clusters[0].servers), (std::vector<std::string>{"x@127.0.0.1:7"}));
  EXPECT_EQ(discovery.Status("listed"), nullptr);
  EXPECT_EQ(discovery.Status("nope"), nullptr);
  const auto& ha = config->clusters[1];
  EXPECT_EQ(Names(ha.servers), (std::vector<std::string>{"pt1@127.0.0.1:1", "pt2@127.0.0.1:2"}));
  const auto st = discovery.Status("ha");
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->state, DiscoveryState::kOk);
  EXPECT_EQ(st->source, "http://b");
  EXPECT_EQ(st->members, (std::vector<std::string>{"pt1", "pt2"}));
  EXPECT_TRUE(st->last_ok.has_value());
  EXPECT_EQ(st->member_changes, 0u);
}

// Patroni unreachable at start: no members, the status says so.
TEST(Discovery, NothingAnsweringAtStartMeansNoMembersAndSaysWhy) {
  FakePatroni patroni;
  patroni.Set("http://b", Result<std::string>(MakeError("http://b: HTTP 503 from /cluster")));
  Discovery discovery(patroni.fetcher());
  auto config = discovery.Adopt(DiscoveringConfig({"http://a", "http://b"}));
  EXPECT_TRUE(config->clusters[1].servers.empty());
  const auto st = discovery.Status("ha");
  EXPECT_EQ(st->state, DiscoveryState::kUnreachable);
  EXPECT_EQ(st->last_error, "http://a: Connection; http://b: HTTP 503 from /cluster");
  EXPECT_FALSE(st->last_ok.has_value());
  EXPECT_EQ(st->failed_polls, 1u);
}

template <typename F>
bool WaitFor(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// The polling thread follows additions and removals, keeps the members
// through an outage and a partial answer, and reports each change once.
TEST(Discovery, FollowsMemberChangesAndKeepsMembersThroughOutages) {
  FakePatroni patroni;
  patroni.Set("http://a", Members({{"pt1", 1}, {"pt2", 2}}));
  Discovery discovery(patroni.fetcher());
  discovery.Adopt(DiscoveringConfig({"http://a"}));
  std::atomic<int> changes{0};
  discovery.Start([&] { ++changes; });
  auto ha = [&] { return discovery.Current()->clusters[1]; };

  patroni.Set("http://a", Members({{"pt1", 1}, {"pt2", 2}, {"pt4", 4}}));
  ASSERT_TRUE(WaitFor([&] { return ha().servers.size() == 3; }));
  // Reported once, right after the set is recorded.
  ASSERT_TRUE(WaitFor([&] { return changes.load() == 1; }));

  patroni.Set("http://a", Result<std::string>(MakeError("http://a: Connection")));
  ASSERT_TRUE(
      WaitFor([&] { return discovery.Status("ha")->state == DiscoveryState::kUnreachable; }));
  EXPECT_EQ(ha().servers.size(), 3u);

  // pt2 malformed: partial; pt2 kept, nothing removed.
  patroni.Set("http://a", std::string(R"({"members": [{"name":"pt1","host":"127.0.0.1","port":1},
                                          {"name":"pt2","host":"127.0.0.1"}]})"));
  ASSERT_TRUE(WaitFor([&] { return discovery.Status("ha")->state == DiscoveryState::kPartial; }));
  EXPECT_EQ(ha().servers.size(), 3u);
  EXPECT_EQ(discovery.Status("ha")->last_error, "http://a: members[1] (pt2): no usable port");
  EXPECT_EQ(changes.load(), 1);

  patroni.Set("http://a", Members({{"pt1", 1}, {"pt2", 2}}));
  ASSERT_TRUE(WaitFor([&] { return ha().servers.size() == 2; }));
  discovery.Stop();
  EXPECT_EQ(changes.load(), 2);
  const auto st = discovery.Status("ha");
  EXPECT_EQ(st->state, DiscoveryState::kOk);
  EXPECT_EQ(st->member_changes, 2u);
  EXPECT_GE(st->failed_polls, 2u);
}

// A reload that keeps the cluster's URLs keeps its members without asking;
// new URLs are asked at once.
TEST(Discovery, AReloadKeepsMembersOfTheSameUrls) {
  FakePatroni patroni;
  patroni.Set("http://a", Members({{"pt1", 1}}));
  patroni.Set("http://c", Members({{"pt9", 9}}));
  Discovery discovery(patroni.fetcher());
  discovery.Adopt(DiscoveringConfig({"http://a"}));
  patroni.asked();
  auto again = discovery.Adopt(DiscoveringConfig({"http://a"}));
  EXPECT_TRUE(patroni.asked().empty());
  EXPECT_EQ(Names(again->clusters[1].servers), (std::vector<std::string>{"pt1@127.0.0.1:1"}));
  auto moved = discovery.Adopt(DiscoveringConfig({"http://c"}));
  EXPECT_EQ(patroni.asked(), (std::vector<std::string>{"http://c"}));
  EXPECT_EQ(Names(moved->clusters[1].servers), (std::vector<std::string>{"pt9@127.0.0.1:9"}));
}

// What /v1/status, /metrics and /v1/route make of a discovering cluster that
// Patroni never answered for: no members, and they say why; the listed
// cluster beside it is unaffected.
TEST(Discovery, StatusMetricsAndRoutesOfAClusterWithoutMembers) {
  FakePatroni patroni;
  Discovery discovery(patroni.fetcher());
  Config base = DiscoveringConfig({"http://a"});
  router::QueryClass inventory;
  inventory.name = "inventory";
  base.classes = {inventory};
  auto config = discovery.Adopt(base);
  test_support::ScriptedClusters clusters(*config);
  ProcessCounters process;
  // The boards are the Discovery's, handed to the metrics and the API.
  Metrics metrics(*config, process, &discovery);
  HttpApi api(config, clusters, metrics, nullptr, &discovery);
  auto get = [&](const std::string& path, const std::string& query) {
    HttpRequest r;
    r.method = "GET";
    r.path = path;
    r.params = ParseQuery(query);
    return api.Handle(r);
  };

  const auto route = get("/v1/route", "cluster=ha&class=inventory");
  EXPECT_EQ(route.status, 503) << route.body;
  EXPECT_NE(route.body.find("no_eligible_server"), std::string::npos) << route.body;

  const auto status = get("/v1/status", "");
  ASSERT_EQ(status.status, 200);
  const auto j = nlohmann::json::parse(status.body);
  EXPECT_TRUE(j["clusters"][0]["discovery"].is_null());
  const auto& ha = j["clusters"][1];
  EXPECT_TRUE(ha["servers"].empty());
  const auto& d = ha["discovery"];
  EXPECT_EQ(d["source"], "patroni");
  EXPECT_EQ(d["urls"], nlohmann::json({"http://a"}));
  EXPECT_EQ(d["state"], "unreachable");
  EXPECT_EQ(d["error"], "http://a: Connection");
  EXPECT_TRUE(d["members"].empty());
  EXPECT_TRUE(d["last_ok_age_ms"].is_null());
  EXPECT_EQ(d["failed_polls"], 1);

  const std::string text = metrics.Render(clusters);
  EXPECT_NE(text.find("lagrouter_discovery_ok{cluster=\"ha\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("lagrouter_discovery_members{cluster=\"ha\"} 0"), std::string::npos);
  EXPECT_NE(text.find("lagrouter_discovery_failed_polls_total{cluster=\"ha\"} 1"),
            std::string::npos);
  EXPECT_EQ(text.find("lagrouter_discovery_ok{cluster=\"listed\"}"), std::string::npos);
}

}  // namespace
}  // namespace lagrouter::daemon
