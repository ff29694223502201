// Integration-test harness: the project's own cluster scripts, a real
// lagrouter process, an HTTP client and waits with deadlines (no fixed sleeps).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lagrouter::testing {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

std::string RepoPath(const std::string& relative);
std::string DbPassword();  // the clusters' lagrouter/app password

// Runs a shell command; returns its exit code, output in *out if given.
int RunCommand(const std::string& command, std::string* out = nullptr);
// Runs a command that must succeed (fails the test otherwise).
std::string MustRun(const std::string& command);

// Polls `condition` until it holds or `timeout` passes; false on timeout.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll = std::chrono::milliseconds(20));

struct HttpReply {
  int status = 0;  // 0: no connection
  std::string body;
  Json json;  // parsed body (null when not JSON)
};

// A lagrouter process with its own config file and port; killed on destruction.
class Daemon {
 public:
  // `config` is TOML text; `port` the listen port it uses.
  Daemon(const std::string& config, int port);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  bool WaitReady(std::chrono::milliseconds timeout);
  HttpReply Get(const std::string& path_and_query) const;
  HttpReply Route(const std::string& cluster, const std::string& cls,
                  const std::string& after = "") const;
  // The /v1/status entry of one server.
  Json Server(const std::string& cluster, const std::string& server) const;
  std::string Log() const;
  int port() const { return port_; }
  int pid() const { return pid_; }
  // Rewrites the daemon's config file (for SIGHUP reload tests).
  void WriteConfig(const std::string& config) const;
  void Signal(int sig) const;
  // Waits for the process to exit; returns its exit code (-1 on timeout).
  int WaitExit(std::chrono::milliseconds timeout);

 private:
  int port_;
  int pid_ = -1;
  std::string dir_;
};

// The [[cluster]] table of the local PostgreSQL cluster (scripts/pg-cluster.sh):
// cluster "shop", servers pg-a (5441), pg-b (5442), pg-c (5443).
std::string LocalPgCluster();

// The lagrouter binary under test.
std::string DaemonBinary();

// A libpq connection for driving PostgreSQL in tests (writes, pauses).
class PgConn {
 public:
  PgConn(int port, const std::string& user, const std::string& db);
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;
  // Runs SQL; returns the first column of the first row ("" when none).
  // Throws std::runtime_error on failure.
  std::string Query(const std::string& sql);
  bool ok() const;

 private:
  void* conn_ = nullptr;
};

}  // namespace lagrouter::testing
