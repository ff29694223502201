#include "tests/integration/harness.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace lagrouter::testing {

std::string RepoPath(const std::string& relative) {
  return std::string(LAGROUTER_SOURCE_DIR) + "/" + relative;
}

std::string DaemonBinary() {
  return std::string(LAGROUTER_BINARY_DIR) + "/bin/lagrouter";
}

std::string LocalPgCluster() {
  std::string toml =
      "[[cluster]]\nname = \"shop\"\nengine = \"postgres\"\nuser = \"lagrouter\"\n"
      "password_env = \"LAGROUTER_DB_PASSWORD\"\n";
  for (const auto& [name, port] : {std::pair{"pg-a", 5441}, {"pg-b", 5442}, {"pg-c", 5443}}) {
    toml += std::string("  [[cluster.server]]\n  name = \"") + name +
            "\"\n  host = \"127.0.0.1\"\n  port = " + std::to_string(port) + "\n";
  }
  return toml;
}

std::string DbPassword() {
  const char* pw = std::getenv("LAGROUTER_DB_PASSWORD");
  return pw != nullptr ? pw : "lagrouter-demo-pw";
}

int RunCommand(const std::string& command, std::string* out) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  std::array<char, 4096> buf;
  std::string text;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  const int status = pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string MustRun(const std::string& command) {
  std::string out;
  const int rc = RunCommand(command, &out);
  if (rc != 0) {
    ADD_FAILURE() << "command failed (" << rc << "): " << command << "\n" << out;
  }
  return out;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(poll);
  }
  return condition();
}

Daemon::Daemon(const std::string& config, int port) : port_(port) {
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

void Daemon::WriteConfig(const std::string& config) const {
  const std::string tmp = dir_ + "/lagrouter.toml.new";
  std::ofstream(tmp) << config;
  std::rename(tmp.c_str(), (dir_ + "/lagrouter.toml").c_str());
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

HttpReply Daemon::Get(const std::string& path_and_query) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  HttpReply reply;
  auto res = client.Get(path_and_query.c_str());
  if (!res) return reply;
  reply.status = res->status;
  reply.body = res->body;
  reply.json = Json::parse(res->body, nullptr, false);
  if (reply.json.is_discarded()) reply.json = nullptr;
  return reply;
}

HttpReply Daemon::Route(const std::string& cluster, const std::string& cls,
                        const std::string& after) const {
  std::string q = "/v1/route?cluster=" + cluster + "&class=" + cls;
  if (!after.empty()) q += "&after=" + httplib::detail::encode_query_param(after);
  return Get(q);
}

Json Daemon::Server(const std::string& cluster, const std::string& server) const {
  const auto status = Get("/v1/status");
  if (status.status != 200 || !status.json.is_object()) return nullptr;
  for (const auto& c : status.json["clusters"]) {
    if (c["name"] != cluster) continue;
    for (const auto& s : c["servers"]) {
      if (s["name"] == server) return s;
    }
  }
  return nullptr;
}

std::string Daemon::Log() const {
  std::ifstream in(dir_ + "/lagrouter.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

PgConn::PgConn(int port, const std::string& user, const std::string& db) {
  const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " user=" + user +
                               " dbname=" + db + " password=" + DbPassword() +
                               " connect_timeout=5 application_name=lagrouter-test";
  conn_ = PQconnectdb(conninfo.c_str());
}

PgConn::~PgConn() {
  PQfinish(static_cast<PGconn*>(conn_));
}

bool PgConn::ok() const {
  return PQstatus(static_cast<PGconn*>(conn_)) == CONNECTION_OK;
}

std::string PgConn::Query(const std::string& sql) {
  auto* c = static_cast<PGconn*>(conn_);
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string msg = PQerrorMessage(c);
    PQclear(r);
    throw std::runtime_error("SQL failed: " + sql + ": " + msg);
  }
  std::string out;
  if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0) out = PQgetvalue(r, 0, 0);
  PQclear(r);
  return out;
}

}  // namespace lagrouter::testing
