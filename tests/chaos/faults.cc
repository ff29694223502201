#include "tests/chaos/faults.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "tests/chaos/harness.h"
#include "tests/support/process.h"

namespace lagrouter::chaos {

using test_support::RunCommand;
using test_support::ShellQuote;

Fault PauseReplay(const ClusterControl& c, int node) {
  const bool pg = c.options().postgres;
  Fault f;
  f.injected = c.Sql(node, pg ? "SELECT pg_wal_replay_pause()" : "STOP REPLICA SQL_THREAD");
  f.heal = [&c, node, pg] {
    return c.Sql(node, pg ? "SELECT pg_wal_replay_resume()" : "START REPLICA SQL_THREAD");
  };
  return f;
}

namespace {

Fault PgStopReplication(const ClusterControl& c, int node) {
  std::string conninfo;
  Fault f;
  f.injected = c.Sql(node, "SHOW primary_conninfo", &conninfo) && !conninfo.empty() &&
               c.Sql(node, "ALTER SYSTEM SET primary_conninfo = ''") &&
               c.Sql(node, "SELECT pg_reload_conf()");
  std::string quoted;
  for (char ch : conninfo) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
  f.heal = [&c, node, quoted] {
    return c.Sql(node, "ALTER SYSTEM SET primary_conninfo = '" + quoted + "'") &&
           c.Sql(node, "SELECT pg_reload_conf()");
  };
  return f;
}

}  // namespace

Fault StopReplication(const ClusterControl& c, int node) {
  if (c.options().postgres) return PgStopReplication(c, node);
  Fault f;
  f.injected = c.Sql(node, "STOP REPLICA");
  f.heal = [&c, node] { return c.Sql(node, "START REPLICA"); };
  return f;
}

Fault KillServer(const ClusterControl& c, int node) {
  Fault f;
  const auto pids = c.ServerPids(node);
  if (!pids.empty()) f.injected = kill(pids[0], SIGKILL) == 0 && ClusterControl::WaitGone(pids[0]);
  f.heal = [&c, node] { return c.RestartNode(node); };
  return f;
}

// As behind a query conflicting with replay, up to max_standby_streaming_delay.
// Unlike pg_wal_replay_pause(), which Patroni resumes by itself on PostgreSQL
// 14+, Patroni leaves it be.
Fault StallReplay(const ClusterControl& c, int node) {
  std::vector<pid_t> startup;
  for (pid_t p : c.ServerPids(node)) {
    std::ifstream cmd("/proc/" + std::to_string(p) + "/cmdline");
    std::string text;
    std::getline(cmd, text, '\0');
    if (text.find("startup") != std::string::npos) startup.push_back(p);
  }
  Fault f;
  for (pid_t p : startup) f.injected = kill(p, SIGSTOP) == 0 || f.injected;
  f.heal = [startup] {
    for (pid_t p : startup) kill(p, SIGCONT);
    return true;
  };
  return f;
}

Fault StopServer(const ClusterControl& c, int node) {
  Fault f;
  const auto pids = c.ServerPids(node);
  for (pid_t p : pids) f.injected = kill(p, SIGSTOP) == 0 || f.injected;
  f.heal = [&c, node, pids] {
    ContinueServer(c, node, pids);
    return true;
  };
  return f;
}

void ContinueServer(const ClusterControl& c, int node, const std::vector<pid_t>& stopped) {
  for (pid_t p : stopped) kill(p, SIGCONT);
  for (pid_t p : c.ServerPids(node)) kill(p, SIGCONT);
}

namespace {

bool StandbysStreaming(const ClusterControl& c, int node) {
  std::string streaming;
  return c.Sql(node, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
               &streaming) &&
         streaming == "2";
}

// A clean PostgreSQL switchover without pg_rewind: the old primary shuts down
// (fast: its WAL senders first send every record to the streaming standbys),
// the new one is promoted, the other standby follows it to the new timeline,
// and the old primary restarts as a standby of the new one (its WAL ends at
// its shutdown checkpoint, which the new primary has too).
bool PgSwitchover(const ClusterControl& c, int old_primary, int new_primary, int other) {
  std::string streaming;
  if (!c.Sql(old_primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
             &streaming) ||
      streaming != "2") {
    Log("switchover skipped: %s standbys stream from node %d", streaming.c_str(), old_primary);
    return false;
  }
  const std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(c.options().base_port + new_primary) +
      " user=postgres";
  std::string promoted;
  if (!c.Script("stop-node " + std::to_string(old_primary)) ||
      !c.Sql(new_primary, "SELECT pg_promote(true, 30)", &promoted) || promoted != "t" ||
      !c.Sql(other, "ALTER SYSTEM SET primary_conninfo = '" + conninfo + "'") ||
      !c.Sql(other, "SELECT pg_reload_conf()")) {
    return false;
  }
  const std::string dir =
      c.data_dir() + "/pg-" + std::string(1, static_cast<char>('a' + old_primary));
  std::ofstream(dir + "/standby.signal").flush();
  std::ofstream(dir + "/postgresql.auto.conf", std::ios::app)
      << "primary_conninfo = '" << conninfo << "'\n";
  return RunCommand("chown --reference=" + ShellQuote(dir) + " " +
                    ShellQuote(dir + "/standby.signal")) == 0 &&
         c.Script("start-node " + std::to_string(old_primary));
}

}  // namespace

Fault Failover(const ClusterControl& c, int old_primary, int node) {
  const int other = 3 - old_primary - node;
  const std::string n = std::to_string(node);
  Fault f;
  if (!c.options().postgres) {
    // MariaDB: promote a replica, point the old primary and the other replica at it.
    f.injected = c.Script("promote " + n);
    for (int o : {old_primary, other}) {
      f.injected = f.injected && c.Script("repoint " + std::to_string(o) + " " + n);
    }
    return f;
  }
  f.injected = PgSwitchover(c, old_primary, node, other);
  // Healed when both standbys stream from the new primary.
  f.heal = [&c, node] {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      if (StandbysStreaming(c, node)) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  };
  return f;
}

}  // namespace lagrouter::chaos
