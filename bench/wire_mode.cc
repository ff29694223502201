#include "bench/wire_mode.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "router/router.h"

namespace lagrouter::bench {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             probes::Clock::now().time_since_epoch())
      .count();
}

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "stopped";
}

}  // namespace

Result<void> RaiseFileLimit(size_t need) {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return MakeError(Errno("getrlimit(RLIMIT_NOFILE)"));
  files.rlim_cur = files.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &files) != 0) return MakeError(Errno("setrlimit(RLIMIT_NOFILE)"));
  if (files.rlim_cur < need) {
    return MakeError("open files are limited to " + std::to_string(files.rlim_cur) + "; " +
                     std::to_string(need) + " are needed (raise the hard limit: ulimit -Hn)");
  }
  return Ok();
}

Result<std::unique_ptr<WireResponder>> WireResponder::Start(router::Engine engine, int replicas) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return MakeError(Errno("readlink /proc/self/exe"));
  std::string path(self, static_cast<size_t>(n));
  path = path.substr(0, path.rfind('/') + 1) + "wire_responder";
  if (access(path.c_str(), X_OK) != 0) {
    return MakeError(Errno(path) + " (build it: cmake --build build --target wire_responder)");
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return MakeError(Errno("pipe2"));
  const std::string engine_arg = engine == router::Engine::kPostgres ? "postgres" : "mysql";
  const std::string replicas_arg = std::to_string(replicas);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return MakeError(Errno("fork"));
  if (pid == 0) {
    // Dies with scale_bench, however that ends.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    dup2(out[1], STDOUT_FILENO);
    execl(path.c_str(), path.c_str(), "--engine", engine_arg.c_str(), "--replicas",
          replicas_arg.c_str(), static_cast<char*>(nullptr));
    std::fprintf(stderr, "scale_bench: exec %s: %s\n", path.c_str(), std::strerror(errno));
    _exit(127);
  }
  close(out[1]);
  std::unique_ptr<WireResponder> r(new WireResponder);
  r->pid_ = pid;
  // Its one line: "listening primary=P replica=R".
  std::string line;
  bool closed = false;  // it exited (or closed its stdout) without a word
  pollfd p{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && !closed && poll(&p, 1, 10000) > 0) {
    char buf[256];
    const ssize_t got = read(out[0], buf, sizeof buf);
    closed = got <= 0;
    if (got > 0) line.append(buf, static_cast<size_t>(got));
  }
  close(out[0]);
  if (std::sscanf(line.c_str(), "listening primary=%d replica=%d", &r->primary_port_,
                  &r->replica_port_) != 2) {
    std::string how = "no word from it within 10 s";
    if (closed) {
      int status = 0;
      waitpid(r->pid_, &status, 0);
      r->pid_ = -1;
      how = DescribeStatus(status) + " (its error is above)";
    }
    return MakeError(path + " did not start listening: " + how);
  }
  return r;
}

WireResponder::~WireResponder() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
}

std::string WireResponder::Exited() {
  if (pid_ <= 0) return "not running";
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return "";
  pid_ = -1;
  return DescribeStatus(status);
}

double WireResponder::CpuSeconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // After "(comm)": state is field 3, utime and stime fields 14 and 15.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;
  double utime = 0, stime = 0;
  fields >> utime >> stime;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long WireResponder::RssKb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

void AimAt(daemon::Config& config, router::Engine engine, const WireResponder& responder) {
  for (auto& c : config.clusters) {
    c.engine = engine;
    c.user = "lagrouter";  // the responder takes anyone, without a password
    c.database = engine == router::Engine::kPostgres ? "postgres" : "";
    for (auto& s : c.servers) {
      s.host = "127.0.0.1";
      s.port = s.name == "s0" ? responder.primary_port() : responder.replica_port();
    }
  }
}

ProbeCounter::ProbeCounter(const daemon::Config& config, daemon::ProbeObserver& next,
                           probes::Clock::duration interval)
    : next_(next),
      late_us_(std::chrono::duration_cast<std::chrono::microseconds>(interval * 3 / 2).count()) {
  size_t total = 0;
  for (const auto& c : config.clusters) {
    first_.push_back(total);
    total += c.servers.size();
  }
  last_us_ = std::vector<std::atomic<int64_t>>(total);
}

void ProbeCounter::ObserveProbe(size_t cluster, size_t server, double seconds,
                                probes::ErrorKind error) {
  next_.ObserveProbe(cluster, server, seconds, error);
  const int64_t now = NowUs();
  probes_.fetch_add(1, std::memory_order_relaxed);
  if (error != probes::ErrorKind::kNone) {
    failed_[static_cast<size_t>(error)].fetch_add(1, std::memory_order_relaxed);
  }
  const int64_t last = last_us_[first_[cluster] + server].exchange(now);
  if (last == 0) return;
  const int64_t gap = now - last;
  if (gap > late_us_) late_.fetch_add(1, std::memory_order_relaxed);
  int64_t max = max_gap_us_.load(std::memory_order_relaxed);
  while (gap > max && !max_gap_us_.compare_exchange_weak(max, gap)) {
  }
}

void ProbeCounter::Reset() {
  probes_ = 0;
  late_ = 0;
  max_gap_us_ = 0;
  for (auto& f : failed_) f = 0;
}

int64_t ProbeCounter::failed() const {
  int64_t n = 0;
  for (const auto& f : failed_) n += f.load();
  return n;
}

std::string ProbeCounter::FailedByKind() const {
  std::string out;
  for (size_t k = 0; k < failed_.size(); ++k) {
    if (failed_[k].load() == 0) continue;
    if (!out.empty()) out += ", ";
    out += std::string(probes::ErrorKindName(static_cast<probes::ErrorKind>(k))) + " " +
           std::to_string(failed_[k].load());
  }
  return out.empty() ? "none" : out;
}

std::string DescribeRoles(const daemon::Monitor& monitor) {
  int primaries = 0, replicas = 0, other = 0, down = 0, unbounded = 0;
  router::Duration max_bound{0};
  const auto now = router::Clock::now();
  for (size_t i = 0; i < monitor.cluster_count(); ++i) {
    const auto snapshot = monitor.Snapshot(i);
    for (const auto& s : snapshot->view.servers) {
      if (!s.up) ++down;
      if (s.role == router::Role::kPrimary) {
        ++primaries;
      } else if (s.role == router::Role::kReplica) {
        ++replicas;
        if (const auto bound = router::BoundAt(s, now)) {
          max_bound = std::max(max_bound, *bound);
        } else {
          ++unbounded;
        }
      } else {
        ++other;
      }
    }
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "roles: %d primaries, %d replicas, %d other; down now: %d; replicas' bound: max "
                "%.0f ms, unknown for %d",
                primaries, replicas, other, down,
                std::chrono::duration<double, std::milli>(max_bound).count(), unbounded);
  return line;
}

}  // namespace lagrouter::bench
