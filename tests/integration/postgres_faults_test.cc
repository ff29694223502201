// Faults on the real PostgreSQL cluster: hung servers (SIGSTOP), split brain.
// A hung server must never delay other servers' probes or any route answer,
// and must be marked down within probe.timeout plus one interval.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/daemon.h"

namespace lagrouter::test_support {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kIntervalMs = 250;
constexpr int kTimeoutMs = 1000;

ConfigText Config() {
  return ConfigText()
      .Probe(std::to_string(kIntervalMs) + "ms", std::to_string(kTimeoutMs) + "ms")
      .Cluster(PgShop())
      .Class("inventory", "0s")
      .Class("hour", "1h", "error");
}

std::string PgDir() {
  return ScriptEnv(RepoPath("scripts/pg-cluster.sh"), "LAGROUTER_PG_DIR");
}

// Freezes a PostgreSQL server for real: its postmaster and the backends that
// serve lagrouter's monitoring connections (SIGSTOP), until destroyed.
class Freeze {
 public:
  Freeze(const std::string& node, int port) {
    std::ifstream pidfile(PgDir() + "/" + node + "/postmaster.pid");
    pidfile >> pids_.emplace_back();
    PgConn admin(port, "postgres", "postgres");
    std::stringstream backends(admin.Query(
        "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE usename = 'lagrouter'"));
    for (int pid; backends >> pid;) pids_.push_back(pid);
    for (int pid : pids_) kill(pid, SIGSTOP);
    frozen_at_ = Clock::now();
  }
  ~Freeze() { Thaw(); }
  void Thaw() {
    for (int pid : pids_) kill(pid, SIGCONT);
    pids_.clear();
  }
  Clock::time_point frozen_at() const { return frozen_at_; }

 private:
  std::vector<int> pids_;
  Clock::time_point frozen_at_;
};

// Established TCP connections from the daemon process to a port.
int DaemonConnections(const Daemon& d, int port) {
  std::string out;
  RunCommand("ss -Htnp state established '( dport = :" + std::to_string(port) + " )'", &out);
  int n = 0;
  const std::string needle = "pid=" + std::to_string(d.pid()) + ",";
  for (size_t at = 0; (at = out.find(needle, at)) != std::string::npos; at += needle.size()) ++n;
  return n;
}

class PostgresFaults : public DaemonSuite {
 protected:
  static void SetUpTestSuite() {
    StartSharedPgCluster();
    StartDaemon(Config());
  }
  static void TearDownTestSuite() { StopDaemon(); }
  void SetUp() override {
    ASSERT_TRUE(WaitFor(
        [] {
          for (const char* s : {"pg-b", "pg-c"}) {
            const auto j = d().Server("shop", s);
            if (!j.is_object() || !j["up"].get<bool>() ||
                !Contains(j["eligible_classes"], "hour")) {
              return false;
            }
          }
          return d().Route("shop", "inventory").json["server"] == "pg-a";
        },
        seconds(30)))
        << d().Log();
  }
};

// A SIGSTOPped replica is marked down within timeout + interval, delays no
// route answer and no other server's probe, and recovers on SIGCONT with one
// monitoring connection again.
TEST_F(PostgresFaults, HungReplicaIsIsolated) {
  Clock::time_point down_at{};
  int64_t slowest_answer_ms = 0;
  int64_t oldest_other_probe_ms = 0;
  {
    Freeze freeze("pg-c", PgPort(2));
    while (Clock::now() - freeze.frozen_at() < milliseconds(kTimeoutMs + kIntervalMs + 1500)) {
      // Only answers asked after pg-c was seen down must avoid it.
      const bool known_down = down_at != Clock::time_point{};
      const auto asked = Clock::now();
      const auto a = d().Route("shop", "hour");
      slowest_answer_ms = std::max(slowest_answer_ms, Ms(Clock::now() - asked));
      ASSERT_EQ(a.status, 200) << a.body;
      const auto c = d().Server("shop", "pg-c");
      if (down_at == Clock::time_point{} && !c["up"].get<bool>()) down_at = Clock::now();
      if (known_down) {
        EXPECT_NE(a.json["server"], "pg-c") << "routed to a replica marked down";
      }
      for (const char* other : {"pg-a", "pg-b"}) {
        const auto o = d().Server("shop", other);
        EXPECT_TRUE(o["up"].get<bool>()) << other << " went down while pg-c hung";
        oldest_other_probe_ms =
            std::max(oldest_other_probe_ms, o["last_probe_age_ms"].get<int64_t>());
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    ASSERT_NE(down_at, Clock::time_point{}) << "pg-c never marked down";
    const auto c = d().Server("shop", "pg-c");
    EXPECT_NE(c["last_error"].get<std::string>(), "");
    std::printf(
        "[ measure  ] hung replica marked down after %lld ms (limit %d); slowest route "
        "answer %lld ms; oldest probe of another server %lld ms\n",
        static_cast<long long>(Ms(down_at - freeze.frozen_at())), kTimeoutMs + kIntervalMs,
        static_cast<long long>(slowest_answer_ms), static_cast<long long>(oldest_other_probe_ms));
    EXPECT_LE(Ms(down_at - freeze.frozen_at()), kTimeoutMs + kIntervalMs + 100);
    EXPECT_LT(slowest_answer_ms, 100);
    EXPECT_LT(oldest_other_probe_ms, 2 * kIntervalMs + 100);
  }
  // Thawed: back in the class, over exactly one monitoring connection.
  ASSERT_TRUE(WaitFor(
      [] {
        const auto c = d().Server("shop", "pg-c");
        return c["up"].get<bool>() && Contains(c["eligible_classes"], "hour");
      },
      seconds(10)))
      << d().Log();
  EXPECT_EQ(DaemonConnections(d(), PgPort(2)), 1);
}

// A hung primary: classes that need it fail fast; replicas keep serving loose
// classes; route answers are not delayed.
TEST_F(PostgresFaults, HungPrimaryFailsPrimaryClassesFast) {
  Freeze freeze("pg-a", PgPort(0));
  ASSERT_TRUE(WaitFor([] { return d().Route("shop", "inventory").status == 503; },
                      milliseconds(kTimeoutMs + kIntervalMs + 100), milliseconds(5)));
  std::printf("[ measure  ] hung primary: 503 for the 0 s class after %lld ms\n",
              static_cast<long long>(Ms(Clock::now() - freeze.frozen_at())));
  for (int i = 0; i < 20; ++i) {
    const auto asked = Clock::now();
    const auto h = d().Route("shop", "hour");
    EXPECT_LT(Ms(Clock::now() - asked), 100);
    ASSERT_EQ(h.status, 200) << h.body;
    EXPECT_EQ(h.json["role"], "replica");
  }
  freeze.Thaw();
  ASSERT_TRUE(WaitFor([] { return d().Route("shop", "inventory").status == 200; }, seconds(10)))
      << d().Log();
  EXPECT_EQ(DaemonConnections(d(), PgPort(0)), 1);
}

// Two servers claim to be primary: no primary is picked (503, and status and
// metrics say why); genuine replicas keep serving loose classes.
// And a probe asked for the position alone across the promotion reads the
// promoted server's whole status at once: a role change is never a position.
TEST_F(PostgresFaults, SplitBrainRefusesThePrimary) {
  auto probe = MonitoringPgProbe(PgPort(2));
  auto position = [&] {
    return probes::RunToCompletion(*probe, probes::Clock::now() + seconds(5),
                                   probes::Depth::kPosition);
  };
  ASSERT_TRUE(position().ok);  // whole: the connection's first
  const probes::Sample before = position();
  ASSERT_TRUE(before.ok) << before.error;
  EXPECT_TRUE(before.position_only);
  EXPECT_EQ(before.role, router::Role::kReplica);
  MustRun(RepoPath("scripts/pg-cluster.sh") + " promote 2");
  const probes::Sample after = position();
  ASSERT_TRUE(after.ok) << after.error;
  EXPECT_EQ(after.role, router::Role::kPrimary);
  EXPECT_FALSE(after.position_only) << "the new role's whole status";
  EXPECT_FALSE(after.version.empty());
  EXPECT_TRUE(router::IsKnown(after.write_position));

  ASSERT_TRUE(WaitFor([] { return d().Route("shop", "inventory").status == 503; }, seconds(5)))
      << d().Log();
  const auto a = d().Route("shop", "inventory");
  EXPECT_EQ(a.json["error"], "no_eligible_server");
  EXPECT_NE(a.json["message"].get<std::string>().find("split brain"), std::string::npos) << a.body;
  const auto status = d().Get("/v1/status");
  const auto& cluster = status.json["clusters"][0];
  EXPECT_EQ(cluster["primaries_claimed"], 2);
  EXPECT_NE(cluster["primary_problem"].get<std::string>().find("split brain"), std::string::npos);
  EXPECT_TRUE(cluster["primary"].is_null());
  const auto metrics = d().Get("/metrics").body;
  EXPECT_NE(metrics.find("lagrouter_cluster_primaries{cluster=\"shop\"} 2"), std::string::npos);
  EXPECT_NE(d().Log().find("split brain"), std::string::npos);
  const auto h = d().Route("shop", "hour");
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.json["server"], "pg-b");

  MustRun(RepoPath("scripts/pg-cluster.sh") + " reclone 2");
  ASSERT_TRUE(WaitFor(
      [] {
        const auto p = d().Route("shop", "inventory");
        return p.status == 200 && p.json["server"] == "pg-a";
      },
      seconds(15)))
      << d().Log();
}

}  // namespace
}  // namespace lagrouter::test_support
