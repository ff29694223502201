#include "tests/support/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lagrouter::test_support {

std::string RepoPath(const std::string& relative) {
  return std::string(LAGROUTER_SOURCE_DIR) + "/" + relative;
}

std::string DaemonBinary() {
  return std::string(LAGROUTER_BINARY_DIR) + "/bin/lagrouter";
}

std::string MustRun(const std::string& command) {
  std::string out;
  const int rc = RunCommand(command, &out);
  if (rc != 0) {
    ADD_FAILURE() << "command failed (" << rc << "): " << command << "\n" << out;
  }
  return out;
}

namespace {

void StartUnlessRunning(const std::string& script, int (*port)(int node)) {
  for (int node : {0, 1, 2}) {
    if (!PortOpen(port(node))) {
      MustRun(RepoPath(script) + " start");
      return;
    }
  }
}

}  // namespace

void StartSharedPgCluster() {
  StartUnlessRunning("scripts/pg-cluster.sh", PgPort);
}

void StartSharedMariadbCluster() {
  StartUnlessRunning("scripts/mariadb-cluster.sh", MariadbPort);
}

std::unique_ptr<probes::Probe> MonitoringPgProbe(int port) {
  auto login = std::make_shared<probes::Login>();
  login->user = "lagrouter";
  login->password = DbPassword();
  login->database = "postgres";
  return probes::MakePostgresProbe(probes::ServerEndpoint{"127.0.0.1", port, std::move(login)});
}

Daemon::Daemon(ConfigText config) : port_(FreePort()) {
  Start(config.Listen(port_).str());
}

Daemon::Daemon(const std::string& config, int port) : port_(port) {
  Start(config);
}

void Daemon::Start(const std::string& config) {
  KeepInheritedDescriptorsFromChildren();
  char tmpl[] = "/tmp/lagrouter-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  std::ofstream(dir_ + "/lagrouter.toml") << config;
  const std::string log = dir_ + "/lagrouter.log";
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed or killed test
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    setenv("LAGROUTER_DB_PASSWORD", DbPassword().c_str(), 1);
    const std::string bin = DaemonBinary();
    const std::string cfg = dir_ + "/lagrouter.toml";
    execl(bin.c_str(), bin.c_str(), "--config", cfg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    const bool exited = WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
                                std::chrono::milliseconds(5000));
    if (!exited) {
      ADD_FAILURE() << "lagrouter did not stop on SIGTERM within 5 s";
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    } else {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "lagrouter exited badly on SIGTERM; log:\n"
          << Log();
    }
  }
  // Keep the config and log of a failed test for a look; drop the rest.
  if (!::testing::Test::HasFailure()) RunCommand("rm -rf " + dir_);
}

std::string Daemon::Url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

void Daemon::WriteConfig(const std::string& config) const {
  const std::string tmp = dir_ + "/lagrouter.toml.new";
  std::ofstream(tmp) << config;
  std::rename(tmp.c_str(), (dir_ + "/lagrouter.toml").c_str());
}

void Daemon::WriteConfig(ConfigText config) const {
  WriteConfig(config.Listen(port_).str());
}

void Daemon::Signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

int Daemon::WaitExit(std::chrono::milliseconds timeout) {
  int status = 0;
  if (pid_ <= 0) return -1;
  if (!WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout)) return -1;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool Daemon::WaitReady(std::chrono::milliseconds timeout) {
  bool exited = false;
  const bool ready = WaitFor(
      [&] {
        // Another process on our port would answer for us: make sure ours lives.
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          exited = true;
          pid_ = -1;
          return true;
        }
        return Get("/readyz").status == 200;
      },
      timeout);
  return ready && !exited;
}

HttpReply Daemon::Get(const std::string& path_and_query, const std::string& token) const {
  return HttpGet(port_, path_and_query, token);
}

HttpReply Daemon::Route(const std::string& cluster, const std::string& cls,
                        const std::string& after) const {
  return Get(RoutePath(cluster, cls, after));
}

std::map<std::string, Json> Daemon::Servers(const std::string& cluster) const {
  std::map<std::string, Json> out;
  const auto status = Get("/v1/status");
  if (status.status != 200 || !status.json.is_object()) return out;
  for (const auto& c : status.json["clusters"]) {
    if (c["name"] != cluster) continue;
    for (const auto& s : c["servers"]) out[s["name"].get<std::string>()] = s;
  }
  return out;
}

Json Daemon::Server(const std::string& cluster, const std::string& server) const {
  auto servers = Servers(cluster);
  const auto it = servers.find(server);
  return it == servers.end() ? Json(nullptr) : it->second;
}

bool Daemon::Eligible(const std::string& cluster, const std::string& server,
                      const std::string& cls) const {
  return Contains(Server(cluster, server)["eligible_classes"], cls);
}

std::string Daemon::Log() const {
  std::ifstream in(dir_ + "/lagrouter.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Daemon* DaemonSuite::daemon_ = nullptr;

void DaemonSuite::StartDaemon(ConfigText config) {
  daemon_ = new Daemon(std::move(config));
  ASSERT_TRUE(daemon_->WaitReady(std::chrono::seconds(10))) << daemon_->Log();
}

void DaemonSuite::StopDaemon() {
  delete daemon_;
  daemon_ = nullptr;
}

Writer::Writer(Engine engine, int port, std::string item, std::chrono::milliseconds pause)
    : thread_([this, engine, port, item, pause] { Loop(engine, port, item, pause); }) {}

Writer::~Writer() {
  stop_ = true;
  thread_.join();
}

void Writer::Loop(Engine engine, int port, const std::string& item,
                  std::chrono::milliseconds pause) {
  auto app = ConnectApp(engine, port);
  const std::string sql = "INSERT INTO orders (item) VALUES ('" + item + "')";
  while (!stop_) {
    std::string value, error;
    (app->TryQuery(sql, &value, &error) ? commits_ : failures_)++;
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace lagrouter::test_support
