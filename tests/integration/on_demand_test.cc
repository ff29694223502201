// /v1/route with `wait` against the real clusters, both engines, at the
// default 250 ms probe interval: read-your-writes reads and a class tighter
// than the interval are served by replicas because lagrouter probes on
// demand, and every read still sees what it must.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "tests/support/daemon.h"

namespace lagrouter::test_support {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

bool Pg(Engine e) {
  return e == Engine::kPostgres;
}

class OnDemandTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    Pg(GetParam()) ? StartSharedPgCluster() : StartSharedMariadbCluster();
    ConfigText config;
    config.Probe("250ms", "1s")
        .Cluster(Pg(GetParam()) ? PgShop() : MariaDbShop("shop"))
        .Class("primary", "0s")
        .Class("hour", "1h")
        .Class("tight", "50ms")
        .ClassSet("tight", "settle", "0s");
    daemon_ = std::make_unique<Daemon>(config);
    ASSERT_TRUE(daemon_->WaitReady(seconds(10))) << daemon_->Log();
    // Both replicas serve the hour class before anything is measured.
    const auto deadline = Clock::now() + seconds(30);
    while (Clock::now() < deadline && Replicas("hour") < 2) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_EQ(Replicas("hour"), 2) << daemon_->Log();
    const HttpReply primary = daemon_->Route("shop", "primary");
    ASSERT_EQ(primary.status, 200);
    primary_port_ = primary.json["port"].get<int>();
  }

  int Replicas(const std::string& cls) {
    int n = 0;
    for (const auto& [name, s] : daemon_->Servers("shop")) {
      if (s.value("role", "") == "replica" && daemon_->Eligible("shop", name, cls)) ++n;
    }
    return n;
  }

  // What read-your-writes reads got: where they went and how long the
  // route took.
  struct Outcome {
    int reads = 0, on_replica = 0, missed_own_write = 0, errors = 0;
    std::vector<double> route_ms;
    double Percentile(double p) {
      if (route_ms.empty()) return 0;
      std::sort(route_ms.begin(), route_ms.end());
      return route_ms[std::min(route_ms.size() - 1,
                               static_cast<size_t>(p / 100 * route_ms.size()))];
    }
  };

  // `n` times: commit on the primary, take its position, route a read of the
  // hour class with after=<position> (and `wait`), and read the row back on
  // the server named.
  Outcome ReadYourWrites(int n, const std::string& wait) {
    Outcome o;
    const bool pg = Pg(GetParam());
    auto app = ConnectApp(GetParam(), primary_port_);
    std::map<int, std::unique_ptr<SqlConn>> readers;  // by port, kept like a pool
    for (int i = 0; i < n; ++i) {
      const std::string id = app->Query(pg ? "INSERT INTO orders (item) VALUES ('ryw') RETURNING id"
                                           : "INSERT INTO orders (item) VALUES ('ryw')");
      const std::string row = pg ? id : app->Query("SELECT LAST_INSERT_ID()");
      const std::string position =
          app->Query(pg ? "SELECT pg_current_wal_lsn()" : "SELECT @@gtid_binlog_pos");
      const auto asked = Clock::now();
      const HttpReply r = daemon_->Get("/v1/route?cluster=shop&class=hour&after=" + position +
                                       (wait.empty() ? "" : "&wait=" + wait));
      o.route_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - asked).count());
      ++o.reads;
      if (r.status != 200) {
        ++o.errors;
        continue;
      }
      if (r.json["role"] == "replica") ++o.on_replica;
      auto& reader = readers[r.json["port"].get<int>()];
      if (reader == nullptr) reader = ConnectApp(GetParam(), r.json["port"].get<int>());
      std::string seen, error;
      if (!reader->TryQuery("SELECT count(*) FROM orders WHERE id = " + row, &seen, &error)) {
        ++o.errors;
      } else if (seen != "1") {
        ++o.missed_own_write;
      }
      // Requests of independent users, not one loop hammering the rate cap.
      std::this_thread::sleep_for(milliseconds(20));
    }
    return o;
  }

  std::unique_ptr<Daemon> daemon_;
  int primary_port_ = 0;
};

TEST_P(OnDemandTest, ReadYourWritesWithWaitAreServedByReplicas) {
  Outcome without = ReadYourWrites(40, "");
  Outcome with = ReadYourWrites(300, "50ms");
  std::printf(
      "[ measure  ] %s read-your-writes, 250 ms interval: without wait %d/%d on replicas "
      "(route p50 %.2f ms); with wait=50ms %d/%d on replicas, route p50 %.2f ms, p99 %.2f ms\n",
      Pg(GetParam()) ? "postgres" : "mariadb", without.on_replica, without.reads,
      without.Percentile(50), with.on_replica, with.reads, with.Percentile(50),
      with.Percentile(99));
  EXPECT_EQ(with.missed_own_write + without.missed_own_write, 0);
  EXPECT_EQ(with.errors + without.errors, 0);
  // Without waiting, a read right after a write finds no replica that has it
  // in the last probe's snapshot: the primary serves it.
  EXPECT_LT(without.on_replica, without.reads / 2);
  EXPECT_GE(with.on_replica * 100, with.reads * 95) << daemon_->Log();
  // The probes that did it were on-demand ones, and counted.
  const HttpReply status = daemon_->Get("/v1/status");
  EXPECT_GT(status.json["clusters"][0]["on_demand"]["probes"].get<int64_t>(), 0);
}

TEST_P(OnDemandTest, AClassTighterThanTheIntervalIsServedByReplicasWithWait) {
  for (const bool busy : {false, true}) {
    std::unique_ptr<Writer> writer;
    if (busy) writer = std::make_unique<Writer>(GetParam(), primary_port_, "busy", milliseconds(2));
    int replica = 0, answered = 0;
    for (int i = 0; i < 200; ++i) {
      const HttpReply r = daemon_->Get("/v1/route?cluster=shop&class=tight&wait=50ms");
      if (r.status == 200) {
        ++answered;
        if (r.json["role"] == "replica") {
          ++replica;
          EXPECT_LE(r.json["staleness_bound_ms"].get<int>(), 50);
        }
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    std::printf("[ measure  ] %s 50 ms class, %s primary, wait=50ms: %d/%d on replicas\n",
                Pg(GetParam()) ? "postgres" : "mariadb", busy ? "busy" : "idle", replica, answered);
    EXPECT_EQ(answered, 200);
    EXPECT_GE(replica * 100, answered * 90) << (busy ? "busy" : "idle") << " primary";
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, OnDemandTest,
                         ::testing::Values(Engine::kPostgres, Engine::kMysql),
                         [](const auto& info) { return Pg(info.param) ? "Postgres" : "Mariadb"; });

}  // namespace
}  // namespace lagrouter::test_support
