// The daemon under test for GoogleTest suites: a real lagrouter process with
// its own config file on a port chosen at run time, the project's clusters,
// and a background writer.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "probes/probe.h"
#include "tests/support/config_text.h"
#include "tests/support/db.h"
#include "tests/support/free_port.h"
#include "tests/support/http.h"
#include "tests/support/process.h"

namespace lagrouter::test_support {

std::string RepoPath(const std::string& relative);
// The lagrouter binary under test.
std::string DaemonBinary();

// Runs a command that must succeed (fails the test otherwise); its output.
std::string MustRun(const std::string& command);

// Start the project's clusters (scripts/pg-cluster.sh: PgPort(0-2),
// scripts/mariadb-cluster.sh: MariadbPort(0-2)) unless all three servers already
// answer: they are shared by several checkouts and may live in another
// LAGROUTER_RUN_DIR, whose servers this checkout's script cannot start.
void StartSharedPgCluster();
void StartSharedMariadbCluster();

// lagrouter's own probe of a test cluster's PostgreSQL server, as the
// monitoring user `lagrouter` would be configured.
std::unique_ptr<probes::Probe> MonitoringPgProbe(int port);

// A lagrouter process with its own config file; killed on destruction (a
// SIGTERM that does not stop it cleanly fails the test).
class Daemon {
 public:
  // Listens on a free port chosen now (the config's [listen] address is set).
  explicit Daemon(ConfigText config);
  // `config` is TOML text that listens on `port`.
  Daemon(const std::string& config, int port);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  bool WaitReady(std::chrono::milliseconds timeout);
  HttpReply Get(const std::string& path_and_query, const std::string& token = "") const;
  HttpReply Route(const std::string& cluster, const std::string& cls,
                  const std::string& after = "") const;
  // The /v1/status entries of a cluster's servers, by name (empty when the
  // status cannot be had).
  std::map<std::string, Json> Servers(const std::string& cluster) const;
  // The /v1/status entry of one server (null when absent).
  Json Server(const std::string& cluster, const std::string& server) const;
  // Whether /v1/status lists `cls` among the server's eligible classes.
  bool Eligible(const std::string& cluster, const std::string& server,
                const std::string& cls) const;
  std::string Log() const;
  int port() const { return port_; }
  int pid() const { return pid_; }
  // "http://127.0.0.1:PORT"
  std::string Url() const;
  // Rewrites the daemon's config file (for SIGHUP reload tests); a ConfigText
  // gets this daemon's listen address.
  void WriteConfig(const std::string& config) const;
  void WriteConfig(ConfigText config) const;
  void Signal(int sig) const;
  // Waits for the process to exit; returns its exit code (-1 on timeout).
  int WaitExit(std::chrono::milliseconds timeout);

 private:
  void Start(const std::string& config);
  int port_;
  int pid_ = -1;
  std::string dir_;
};

// A suite sharing one daemon: StartDaemon() in SetUpTestSuite, StopDaemon()
// in TearDownTestSuite, d() in the tests.
class DaemonSuite : public ::testing::Test {
 protected:
  // Starts the daemon and waits (10 s) until it is ready; fails otherwise.
  static void StartDaemon(ConfigText config);
  static void StopDaemon();
  static Daemon& d() { return *daemon_; }
  static Daemon* daemon_;
};

// Commits on a primary in the background, like a live application: an
// INSERT INTO orders as `app` every `pause`, until destroyed.
class Writer {
 public:
  Writer(Engine engine, int port, std::string item = "widget",
         std::chrono::milliseconds pause = std::chrono::milliseconds(10));
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  int64_t commits() const { return commits_; }
  int64_t failures() const { return failures_; }

 private:
  void Loop(Engine engine, int port, const std::string& item, std::chrono::milliseconds pause);
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> failures_{0};
  std::thread thread_;
};

}  // namespace lagrouter::test_support
