#include "tests/chaos/cluster_control.h"

#include <signal.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/chaos/harness.h"
#include "tests/support/process.h"

namespace lagrouter::chaos {

using test_support::RunCommand;
using test_support::ShellQuote;
using test_support::TrimRight;

bool ClusterControl::Script(const std::string& args, std::string* out) const {
  std::string text;
  const int rc = RunCommand(o_.script + " " + args, &text);
  text = TrimRight(text);
  if (out != nullptr) *out = text;
  if (rc != 0) Log("script failed (%d): %s: %s", rc, args.c_str(), text.c_str());
  return rc == 0;
}

bool ClusterControl::Sql(int node, const std::string& sql, std::string* out) const {
  const int script_node = o_.patroni() ? node + 1 : node;
  return Script("sql " + std::to_string(script_node) + " " + ShellQuote(sql), out);
}

std::string ClusterControl::PidFile(int node) const {
  if (!o_.postgres) return data_dir_ + "/n" + std::to_string(node) + "/mariadbd.pid";
  return data_dir_ +
         (o_.patroni() ? "/pt" + std::to_string(node + 1)
                       : "/pg-" + std::string(1, static_cast<char>('a' + node))) +
         "/postmaster.pid";
}

namespace {

// The parent of process `name` (a /proc entry), or 0.
pid_t ParentOf(const std::filesystem::path& proc_entry) {
  std::ifstream stat(proc_entry / "stat");
  std::string line;
  if (!std::getline(stat, line)) return 0;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  char state;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

}  // namespace

std::vector<pid_t> ClusterControl::ServerPids(int node) const {
  std::vector<pid_t> pids;
  std::ifstream in(PidFile(node));
  pid_t main_pid = 0;
  if (!(in >> main_pid) || main_pid <= 0 || kill(main_pid, 0) != 0) return pids;
  pids.push_back(main_pid);
  if (!o_.postgres) return pids;
  // The postmaster's backends and auxiliary processes: its children.
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    if (ParentOf(e.path()) == main_pid) pids.push_back(static_cast<pid_t>(std::atoi(name.c_str())));
  }
  return pids;
}

bool ClusterControl::WaitGone(pid_t pid) {
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    if (kill(pid, 0) != 0) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

bool ClusterControl::RestartNode(int node) const {
  // PostgreSQL: the killed postmaster's backends exit on their own within
  // moments; until then a new postmaster refuses the old shared memory.
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    if (o_.postgres ? Script("start-node " + std::to_string(node)) : Script("start")) return true;
    std::this_thread::sleep_for(milliseconds(500));
  }
  return false;
}

}  // namespace lagrouter::chaos
