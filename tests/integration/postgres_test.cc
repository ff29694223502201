// The PostgreSQL vertical slice against a real primary and two streaming
// replicas started by scripts/pg-cluster.sh; lag, pauses and outages are real.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "probes/probe.h"
#include "tests/support/daemon.h"

namespace lagrouter::test_support {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const int kPrimaryPort = PgPort(0);
const int kReplica1Port = PgPort(1);  // pg-b
constexpr int kIntervalMs = 250;      // the default probe interval

ConfigText Config() {
  return ConfigText().Probe("250ms", "1s").Cluster(PgShop()).StandardClasses();
}

class PostgresSlice : public DaemonSuite {
 protected:
  static void SetUpTestSuite() {
    StartSharedPgCluster();
    StartDaemon(Config());
  }
  static void TearDownTestSuite() {
    StopDaemon();
    // Leave the cluster as the next test expects it: everything up, replaying.
    RunCommand(RepoPath("scripts/pg-cluster.sh") + " start-node 0");
  }
  void SetUp() override {
    // Every test starts from a healthy, caught-up cluster.
    for (int port : {PgPort(1), PgPort(2)}) {
      PgConn r(port, "postgres", "postgres");
      ASSERT_TRUE(r.ok());
      r.Query("SELECT pg_wal_replay_resume()");
    }
    ASSERT_TRUE(WaitFor(
        [] {
          return d().Eligible("shop", "pg-b", "second") && d().Eligible("shop", "pg-c", "second");
        },
        seconds(20)))
        << d().Log();
  }
};

// 1. All caught up: the 1 s class is spread over both replicas; 0 s -> primary.
// The primary's view of its replicas (senders, for people) is read at most
// once a second, and the samples in between carry the last one read: it cost
// every probe a second statement (~0.3 ms of the server's time a round trip).
TEST_F(PostgresSlice, ThePrimarysSendersAreReadOnceASecondAndCarriedBetween) {
  auto probe = MonitoringPgProbe(kPrimaryPort);
  auto sample = [&] { return probes::RunToCompletion(*probe, probes::Clock::now() + seconds(5)); };
  auto names = [](const probes::Sample& s) {
    std::set<std::string> out;
    for (const auto& d : s.downstream) out.insert(d.application_name);
    return out;
  };
  const std::set<std::string> replicas = {"pg-b", "pg-c"};
  const probes::Sample first = sample();  // not yet known as a primary: no senders
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_TRUE(first.downstream.empty());
  const probes::Sample read = sample();
  ASSERT_TRUE(read.ok) << read.error;
  EXPECT_EQ(names(read), replicas);
  const auto read_at = std::chrono::steady_clock::now();
  // pg-c goes: within the second the samples still carry it (not read
  // again), after it they do not.
  MustRun(RepoPath("scripts/pg-cluster.sh") + " stop-node 2");
  bool carried = false, dropped = false;
  while (!dropped && std::chrono::steady_clock::now() < read_at + seconds(5)) {
    const probes::Sample s = sample();
    ASSERT_TRUE(s.ok) << s.error;
    const bool within = std::chrono::steady_clock::now() < read_at + milliseconds(900);
    if (within) carried = carried || names(s) == replicas;
    if (within) EXPECT_EQ(names(s), replicas);
    dropped = names(s) == std::set<std::string>{"pg-b"};
    std::this_thread::sleep_for(milliseconds(50));
  }
  MustRun(RepoPath("scripts/pg-cluster.sh") + " start-node 2");
  EXPECT_TRUE(carried);
  EXPECT_TRUE(dropped) << "pg-c still among the senders 5 s after it stopped";
}

// On-demand probes that need only a position (a strict read's proof) read
// the role and position alone, once the connection has read the whole status:
// on a busy primary the whole status took 1.8-3.4 ms a round trip against 0.6-0.8 ms.
// The position is the server's own as of then: a commit that returned before
// the probe started is at or below the primary's, and a replica's is what
// pg_last_wal_replay_lsn() said just before.
TEST_F(PostgresSlice, PositionProbesReadTheRoleAndPositionAlone) {
  PgConn app(kPrimaryPort, "app", "shop");
  ASSERT_TRUE(app.ok());
  PgConn replica(kReplica1Port, "postgres", "postgres");
  ASSERT_TRUE(replica.ok());
  auto lsn = [](const router::Position& p) { return std::get<router::Lsn>(p).value; };
  auto parse = [](const std::string& text) { return router::ParseLsn(text).value().value; };
  for (const int port : {kPrimaryPort, kReplica1Port}) {
    auto probe = MonitoringPgProbe(port);
    auto sample = [&] {
      return probes::RunToCompletion(*probe, probes::Clock::now() + seconds(5),
                                     probes::Depth::kPosition);
    };
    const probes::Sample first = sample();
    ASSERT_TRUE(first.ok) << first.error;
    EXPECT_FALSE(first.position_only) << "a new connection reads the whole status";
    EXPECT_FALSE(first.version.empty());
    app.Query("INSERT INTO orders (item) VALUES ('position probe')");
    const uint64_t committed = parse(app.Query("SELECT pg_current_wal_insert_lsn()"));
    const uint64_t replayed = parse(replica.Query("SELECT pg_last_wal_replay_lsn()"));
    const probes::Sample s = sample();
    ASSERT_TRUE(s.ok) << s.error;
    EXPECT_TRUE(s.position_only);
    EXPECT_TRUE(s.version.empty()) << "nothing but the position was read";
    if (port == kPrimaryPort) {
      EXPECT_EQ(s.role, router::Role::kPrimary);
      EXPECT_GE(lsn(s.write_position), committed);
    } else {
      EXPECT_EQ(s.role, router::Role::kReplica);
      EXPECT_GE(lsn(s.replay_position), replayed);
    }
    const probes::Sample whole = probes::RunToCompletion(*probe, probes::Clock::now() + seconds(5));
    ASSERT_TRUE(whole.ok) << whole.error;
    EXPECT_FALSE(whole.position_only);
  }
}

TEST_F(PostgresSlice, CaughtUpReplicasServeAndSpread) {
  std::map<std::string, int> servers;
  for (int i = 0; i < 40; ++i) {
    auto a = d().Route("shop", "second");
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.json["role"], "replica") << a.body;
    EXPECT_EQ(a.json["reason"], "fresh_replica");
    EXPECT_LE(a.json["staleness_bound_ms"].get<int64_t>(), 1000);
    EXPECT_EQ(a.json["staleness_bound_ms"].get<int64_t>() + a.json["valid_for_ms"].get<int64_t>(),
              1000);
    ++servers[a.json["server"].get<std::string>()];
  }
  EXPECT_GE(servers["pg-b"], 10);
  EXPECT_GE(servers["pg-c"], 10);
  EXPECT_EQ(servers.count("pg-a"), 0u);

  auto p = d().Route("shop", "inventory");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.json["server"], "pg-a");
  EXPECT_EQ(p.json["role"], "primary");
  EXPECT_EQ(p.json["port"], kPrimaryPort);
  EXPECT_EQ(p.json["staleness_bound_ms"], 0);
  EXPECT_EQ(p.json["reason"], "primary_class");
}

// 2. An idle primary causes no false lag.
TEST_F(PostgresSlice, IdlePrimaryGivesNoFalseLag) {
  PgConn admin(kPrimaryPort, "postgres", "postgres");
  auto lsn = [&] { return admin.Query("SELECT pg_current_wal_insert_lsn()"); };
  // PostgreSQL itself writes now and then (e.g. a standby snapshot after
  // recent activity): measure over a window in which truly nothing was written.
  for (int attempt = 1; attempt <= 6; ++attempt) {
    std::string quiet = lsn();
    auto quiet_since = Clock::now();
    ASSERT_TRUE(WaitFor(
        [&] {
          const auto now_lsn = lsn();
          if (now_lsn != quiet) {
            quiet = now_lsn;
            quiet_since = Clock::now();
          }
          return Clock::now() - quiet_since > seconds(2);
        },
        seconds(60), milliseconds(100)));
    int64_t max_bound = 0;
    int answers = 0;
    const auto end = Clock::now() + seconds(10);
    while (Clock::now() < end) {
      for (const char* server : {"pg-b", "pg-c"}) {
        const auto s = d().Server("shop", server);
        ASSERT_TRUE(s.is_object());
        ASSERT_TRUE(s["staleness_bound_known"].get<bool>()) << s.dump();
        max_bound = std::max(max_bound, s["staleness_bound_ms"].get<int64_t>());
      }
      auto a = d().Route("shop", "second");
      ASSERT_EQ(a.status, 200);
      EXPECT_EQ(a.json["role"], "replica") << "idle primary took a replica out: " << a.body;
      ++answers;
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (lsn() != quiet) continue;  // something wrote after all: not an idle window
    std::printf(
        "[ measure  ] caught-up replica bound over 10 s of idle primary at %d ms interval: "
        "max %lld ms (%d route answers, all replicas)\n",
        kIntervalMs, static_cast<long long>(max_bound), answers);
    EXPECT_LE(max_bound, kIntervalMs + 150) << "bound exceeds one probe interval plus a round trip";
    return;
  }
  FAIL() << "the primary never stayed idle for 10 s";
}

// 3. Replay paused on replica 1 while the primary writes: it leaves the 1 s
// class once its data can be more than 1 s old, stays in the 1 h class, and
// returns after resume and the settle time, without flapping.
TEST_F(PostgresSlice, PausedReplayLeavesTightClassAndReturns) {
  Writer writer(Engine::kPostgres, kPrimaryPort);
  PgConn replica(kReplica1Port, "postgres", "shop");
  PgConn app(kPrimaryPort, "app", "shop");
  replica.Query("SELECT pg_wal_replay_pause()");
  ASSERT_TRUE(
      WaitFor([&] { return replica.Query("SELECT pg_get_wal_replay_pause_state()") == "paused"; },
              seconds(5)));
  // A commit that returned after the pause took effect: pg-b cannot have it.
  app.Query("INSERT INTO orders (item) VALUES ('after-pause')");
  const auto committed = Clock::now();
  const int64_t missing_id = std::stoll(app.Query("SELECT max(id) FROM orders"));
  ASSERT_EQ(replica.Query("SELECT count(*) FROM orders WHERE id = " + std::to_string(missing_id)),
            "0");

  Clock::time_point last_b{}, crossed{};
  bool hour_used_b = false;
  const auto end = committed + milliseconds(2500);
  while (Clock::now() < end) {
    const auto asked = Clock::now();
    auto a = d().Route("shop", "second");
    ASSERT_EQ(a.status, 200) << a.body;
    if (a.json["server"] == "pg-b") {
      last_b = asked;
      // The user-visible promise: a read routed now sees every commit older
      // than 1 s; pg-b lacks one that returned at `committed`.
      EXPECT_LT(asked, committed + seconds(1))
          << "1 s class routed to pg-b " << Ms(asked - committed) << " ms after a commit it lacks";
    }
    const auto s = d().Server("shop", "pg-b");
    if (crossed == Clock::time_point{} && s["staleness_bound_ms"].is_number() &&
        s["staleness_bound_ms"].get<int64_t>() > 1000) {
      crossed = Clock::now();
    }
    auto h = d().Route("shop", "hour");
    ASSERT_EQ(h.status, 200) << h.body;
    hour_used_b |= h.json["server"] == "pg-b";
    std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_TRUE(hour_used_b) << "the 1 h class should still use the paused replica";
  ASSERT_NE(crossed, Clock::time_point{}) << "pg-b's bound never passed 1 s";
  std::printf(
      "[ measure  ] last 1 s-class answer naming pg-b came %lld ms %s its bound passed 1 s\n",
      static_cast<long long>(std::llabs(Ms(crossed - last_b))),
      last_b <= crossed ? "before" : "after");
  EXPECT_LE(last_b, crossed + milliseconds(20));  // 20 ms: the status poll's own delay

  // Resume: back after the settle time (1 s), then steadily eligible.
  replica.Query("SELECT pg_wal_replay_resume()");
  const auto resumed = Clock::now();
  Clock::time_point back{};
  ASSERT_TRUE(WaitFor(
      [&] {
        auto a = d().Route("shop", "second");
        if (a.json["server"] == "pg-b") back = Clock::now();
        return back != Clock::time_point{};
      },
      seconds(10), milliseconds(5)));
  std::printf("[ measure  ] pg-b back in the 1 s class %lld ms after resume\n",
              static_cast<long long>(Ms(back - resumed)));
  EXPECT_GE(back - resumed, milliseconds(1000)) << "re-admitted before the settle time";
  const auto steady_end = Clock::now() + seconds(3);
  while (Clock::now() < steady_end) {
    EXPECT_TRUE(d().Eligible("shop", "pg-b", "second"))
        << "pg-b flapped out of the 1 s class: " << d().Server("shop", "pg-b").dump();
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_GT(writer.commits(), 100);
  EXPECT_EQ(writer.failures(), 0);
}

// 4. after=<LSN of a fresh commit> never goes to a replica that lacks it.
TEST_F(PostgresSlice, AfterPositionIsReadYourWrites) {
  PgConn paused(PgPort(2), "postgres", "postgres");  // pg-c
  paused.Query("SELECT pg_wal_replay_pause()");
  PgConn app(kPrimaryPort, "app", "shop");
  PgConn b(kReplica1Port, "app", "shop");
  int to_b = 0, to_primary = 0;
  for (int i = 0; i < 60; ++i) {
    app.Query("INSERT INTO orders (item) VALUES ('ryw')");
    const std::string id = app.Query("SELECT max(id) FROM orders");
    // The read-your-writes token: the WAL written so far covers the commit.
    const std::string lsn = app.Query("SELECT pg_current_wal_lsn()");
    // Half the reads follow the write at once, half 300 ms later.
    if (i % 2 == 1) std::this_thread::sleep_for(milliseconds(300));
    auto a = d().Route("shop", "hour", lsn);
    auto s = d().Route("shop", "second", lsn);
    ASSERT_EQ(s.status, 200);
    if (s.json["role"] == "primary") ++to_primary;
    EXPECT_NE(s.json["server"], "pg-c");
    if (a.status == 503) continue;  // no replica has it yet: the 1 h class fails rather than guess
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_NE(a.json["server"], "pg-c") << "routed to a replica paused before the commit";
    if (a.json["server"] == "pg-b") {
      ++to_b;
      EXPECT_EQ(b.Query("SELECT count(*) FROM orders WHERE id = " + id), "1")
          << "pg-b was chosen for after=" << lsn << " but lacks the row";
    }
  }
  paused.Query("SELECT pg_wal_replay_resume()");
  EXPECT_GT(to_b, 0) << "pg-b never caught up with a fresh commit in time";
  EXPECT_GT(to_primary, 0) << "an immediate read-your-writes never fell back to the primary";
  auto bad = d().Route("shop", "hour", "0/XYZ");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json["error"], "bad_position");
}

// 5. Primary down: primary classes fail with 503, loose classes keep their
// replicas; the restarted primary is picked up without restarting the daemon.
TEST_F(PostgresSlice, PrimaryOutageAndRecovery) {
  MustRun(RepoPath("scripts/pg-cluster.sh") + " stop-node 0");
  ASSERT_TRUE(WaitFor([] { return d().Route("shop", "inventory").status == 503; }, seconds(5)))
      << d().Log();
  auto p = d().Route("shop", "inventory");
  EXPECT_EQ(p.json["error"], "no_eligible_server");
  EXPECT_NE(p.json["message"].get<std::string>().find("primary"), std::string::npos);
  const auto primary = d().Server("shop", "pg-a");
  EXPECT_FALSE(primary["up"].get<bool>());
  EXPECT_NE(primary["last_error"].get<std::string>(), "");
  // Loose classes keep working for minutes on the replicas.
  for (int i = 0; i < 20; ++i) {
    auto h = d().Route("shop", "hour");
    ASSERT_EQ(h.status, 200) << h.body;
    EXPECT_EQ(h.json["role"], "replica");
  }
  // The 1 s class cannot be served: no replica can be shown fresh, no primary.
  ASSERT_TRUE(WaitFor([] { return d().Route("shop", "second").status == 503; }, seconds(3)));

  MustRun(RepoPath("scripts/pg-cluster.sh") + " start-node 0");
  ASSERT_TRUE(WaitFor(
      [] {
        auto a = d().Route("shop", "inventory");
        return a.status == 200 && a.json["server"] == "pg-a";
      },
      seconds(10)))
      << d().Log();
  ASSERT_TRUE(WaitFor(
      [] {
        auto a = d().Route("shop", "second");
        return a.status == 200 && a.json["role"] == "replica";
      },
      seconds(20)))
      << d().Log();
}

// 5b. PostgreSQL makes a commit visible on the primary only after its WAL is
// flushed, and a replica replaying that WAL can show it first. A synchronous
// standby that never answers holds a commit exactly there: committed in the
// commit log, shown by the replicas, invisible on the primary. A session
// moving from a replica to the primary waits (while it may) for a primary
// probe that finds no such commit; then it gets the primary anyway.
TEST_F(PostgresSlice, SessionMovingToThePrimaryWaitsForCommitsInFlight) {
  const auto ask = [] {
    return d().Get("/v1/route?cluster=shop&class=inventory&session=s1.pg-b&wait=400ms");
  };
  auto calm = ask();
  ASSERT_EQ(calm.status, 200) << calm.body;
  EXPECT_EQ(calm.json["server"], "pg-a");
  EXPECT_LT(calm.json.value("waited_ms", 0.0), 300) << "nothing in flight: one probe";

  PgConn admin(kPrimaryPort, "postgres", "postgres");
  struct Restore {
    PgConn& admin;
    ~Restore() {
      admin.Query("ALTER SYSTEM RESET synchronous_standby_names");
      admin.Query("SELECT pg_reload_conf()");
      admin.Query(
          "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
    }
  } restore{admin};
  admin.Query("ALTER SYSTEM SET synchronous_standby_names = 'lagrouter_test_nobody'");
  admin.Query("SELECT pg_reload_conf()");
  const std::string item =
      "in flight " + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  std::thread writer([item] {
    PgConn app(kPrimaryPort, "app", "shop");
    std::string value, error;
    app.TryQuery("INSERT INTO orders (item) VALUES ('" + item + "')", &value, &error);
  });
  const auto on = [&item](int port) {
    PgConn c(port, "app", "shop");
    return c.Query("SELECT count(*) FROM orders WHERE item = '" + item + "'");
  };
  ASSERT_TRUE(WaitFor([&] { return on(kReplica1Port) == "1"; }, seconds(10)))
      << "the replica never showed the held commit";
  EXPECT_EQ(on(kPrimaryPort), "0") << "the primary shows it already: nothing held";
  auto held = ask();
  ASSERT_EQ(held.status, 200) << held.body;
  EXPECT_EQ(held.json["server"], "pg-a") << "the wait ends on the primary, as without a proof";
  EXPECT_GE(held.json.value("waited_ms", 0.0), 390) << held.body;
  auto no_wait = d().Get("/v1/route?cluster=shop&class=inventory&session=s1.pg-b");
  EXPECT_EQ(no_wait.json["server"], "pg-a") << "without a wait: the primary at once";
  EXPECT_EQ(no_wait.json.count("waited_ms"), 0u) << no_wait.body;

  admin.Query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
  writer.join();
  ASSERT_TRUE(WaitFor([&] { return on(kPrimaryPort) == "1"; }, seconds(5)));
  auto after = ask();
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_LT(after.json.value("waited_ms", 0.0), 300) << after.body;
}

// 6. Bad input: 400 with a message naming what is known.
TEST_F(PostgresSlice, BadRequestsAreClearErrors) {
  struct Case {
    std::string query;
    std::string error;
    std::string mentions;
  };
  const Case cases[] = {
      {"/v1/route?cluster=shop&class=nope", "unknown_class", "inventory"},
      {"/v1/route?cluster=nope&class=second", "unknown_cluster", "shop"},
      {"/v1/route?cluster=shop&class=second&after=1-2-3", "bad_position", "LSN"},
      {"/v1/route?cluster=shop&class=second&after=", "bad_position", "LSN"},
      {"/v1/route?cluster=shop", "bad_request", "hour"},
      {"/v1/route?class=second", "bad_request", "shop"},
      {"/v1/route", "bad_request", "cluster"},
      {"/v1/route?cluster=shop&class=second&class=hour", "bad_request", "twice"},
      {"/v1/route?cluster=shop&class=second&colour=red", "bad_request", "colour"},
      {"/v1/route?cluster=%00%ff&class=second", "unknown_cluster", "shop"},
  };
  for (const auto& c : cases) {
    auto a = d().Get(c.query);
    EXPECT_EQ(a.status, 400) << c.query << " -> " << a.body;
    ASSERT_TRUE(a.json.is_object()) << c.query << " -> " << a.body;
    EXPECT_EQ(a.json["error"], c.error) << c.query;
    EXPECT_NE(a.json["message"].get<std::string>().find(c.mentions), std::string::npos)
        << c.query << " -> " << a.body;
  }
  auto missing = d().Get("/v2/anything");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json["error"], "not_found");
  // The daemon is still fine.
  EXPECT_EQ(d().Get("/healthz").status, 200);
}

TEST(Config, BadConfigExitsWithCode2NamingTheKey) {
  char path[] = "/tmp/lagrouter-bad-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string bad = Config().Listen(FreePort()).Probe("soon", "1s").str();
  ASSERT_EQ(write(fd, bad.data(), bad.size()), static_cast<ssize_t>(bad.size()));
  close(fd);
  for (const char* extra : {" --check", ""}) {
    std::string out;
    const int rc =
        RunCommand("LAGROUTER_DB_PASSWORD=x " + DaemonBinary() + " --config " + path + extra, &out);
    EXPECT_EQ(rc, 2) << out;
    EXPECT_NE(out.find("probe.interval"), std::string::npos) << out;
  }
  std::string out;
  EXPECT_EQ(RunCommand(DaemonBinary() + " --config /nonexistent.toml --check", &out), 2);
  EXPECT_NE(out.find("cannot open"), std::string::npos) << out;
  unlink(path);
}

}  // namespace
}  // namespace lagrouter::test_support
