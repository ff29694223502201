// Scale: many clusters with an in-process simulated probe.
// Runs the real Monitor, Metrics and HTTP API; only the databases are
// simulated. Reports whether every probe cycle stayed on time, CPU and RSS.
// With --wire, the real probes (libpq, libmariadb) probe bench/wire_responder,
// a process of its own speaking the engine's protocol (bench/wire_mode.h).
//   scale_bench --port N [--clusters N] [--servers N] [--interval-ms N] [--seconds N]
//               [--wire postgres|mysql]
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/wire_mode.h"
#include "daemon/api/http_api.h"
#include "daemon/app.h"
#include "daemon/config/config.h"
#include "daemon/metrics/metrics.h"
#include "daemon/monitor/monitor.h"

namespace {

using namespace lagrouter;
using probes::Clock;

struct Stats {
  std::mutex mu;
  int64_t max_gap_us = 0;   // longest time between two probes of one server
  int64_t late_cycles = 0;  // gaps over 1.5 intervals
  int64_t probes = 0;
};

// A database that answers in ~300 us (a timer on the probe loop, as a real
// server's reply would be a socket event): the primary's LSN grows with time,
// a replica replays what the primary had 50 ms ago.
class SimProbe final : public probes::Probe {
 public:
  SimProbe(bool primary, Clock::time_point epoch, Stats* stats, Clock::duration interval)
      : primary_(primary), epoch_(epoch), stats_(stats), interval_(interval) {}

  probes::Step Start(Clock::time_point, probes::Depth) override {
    sent_at_ = Clock::now();
    if (last_ != Clock::time_point{}) {
      const auto gap = std::chrono::duration_cast<std::chrono::microseconds>(sent_at_ - last_);
      std::lock_guard<std::mutex> lock(stats_->mu);
      stats_->max_gap_us = std::max<int64_t>(stats_->max_gap_us, gap.count());
      if (gap > interval_ * 3 / 2) ++stats_->late_cycles;
      ++stats_->probes;
    }
    last_ = sent_at_;
    probes::Step wait;
    wait.wake_at = sent_at_ + std::chrono::microseconds(300);
    return wait;
  }
  probes::Step Resume() override { return probes::Step::Done(); }

  probes::Sample Take() override {
    probes::Sample s;
    s.sent_at = sent_at_;
    const auto at = [this](Clock::time_point t) {
      return router::Lsn{static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(t - epoch_).count())};
    };
    s.ok = true;
    s.received_at = Clock::now();
    s.flavor = "simulated";
    if (primary_) {
      s.role = router::Role::kPrimary;
      s.write_position = at(s.received_at);
    } else {
      s.role = router::Role::kReplica;
      s.replicating = true;
      s.replication_state = "streaming";
      s.replay_position = at(s.sent_at - std::chrono::milliseconds(50));
    }
    return s;
  }
  probes::Sample Abort() override {
    probes::Sample s;
    s.error_kind = probes::ErrorKind::kTimeout;
    s.error = "simulated probe timed out";
    return s;
  }

 private:
  bool primary_;
  Clock::time_point epoch_;
  Stats* stats_;
  Clock::duration interval_;
  Clock::time_point last_{};
  Clock::time_point sent_at_{};
};

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  daemon::TuneAllocator();  // as the daemon runs
  int clusters = 200, servers = 5, interval_ms = 250, seconds = 30, port = 0;
  std::string wire;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--wire")
      wire = argv[i + 1];
    else if (k == "--clusters")
      clusters = v;
    else if (k == "--servers")
      servers = v;
    else if (k == "--interval-ms")
      interval_ms = v;
    else if (k == "--seconds")
      seconds = v;
    else if (k == "--port")
      port = v;
  }
  if (port <= 0) {
    std::fprintf(stderr,
                 "scale_bench: --port N is required (bench/scale_bench.sh picks a free one)\n");
    return 2;
  }
  if (!wire.empty() && wire != "postgres" && wire != "mysql") {
    std::fprintf(stderr, "scale_bench: --wire takes postgres or mysql, not '%s'\n", wire.c_str());
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);  // a thousand servers' start-up lines say nothing here
  auto config = std::make_shared<daemon::Config>();
  config->listen_port = port;
  config->probe_interval = std::chrono::milliseconds(interval_ms);
  config->probe_timeout = std::chrono::seconds(1);
  for (int c = 0; c < clusters; ++c) {
    daemon::ClusterConfig cc;
    cc.name = "c" + std::to_string(c);
    for (int s = 0; s < servers; ++s) {
      cc.servers.push_back({"s" + std::to_string(s), "127.0.0.1", 1, 1});
    }
    config->clusters.push_back(cc);
  }
  for (auto [name, ms] : {std::pair{"inventory", 0}, {"dashboard", 5000}, {"reports", 3600000}}) {
    router::QueryClass k;
    k.name = name;
    k.max_staleness = std::chrono::milliseconds(ms);
    config->classes.push_back(k);
  }

  // --wire: the responder, and the real probes counted on their way to the metrics.
  const auto engine = wire == "mysql" ? router::Engine::kMysql : router::Engine::kPostgres;
  std::unique_ptr<bench::WireResponder> responder;
  if (!wire.empty()) {
    const auto limit = bench::RaiseFileLimit(static_cast<size_t>(clusters) * servers + 1000);
    auto started = limit ? bench::WireResponder::Start(engine, servers - 1)
                         : Result<std::unique_ptr<bench::WireResponder>>(limit.Propagate());
    if (!started) {
      std::fprintf(stderr, "scale_bench: --wire %s: %s\n", wire.c_str(), started.error().c_str());
      return 1;
    }
    responder = std::move(started).value();
    bench::AimAt(*config, engine, *responder);
  }

  Stats stats;
  const auto epoch = Clock::now() - std::chrono::hours(1);
  const auto interval = std::chrono::milliseconds(interval_ms);
  daemon::ProcessCounters process;
  daemon::Metrics metrics(*config, process);
  bench::ProbeCounter counter(*config, metrics, interval);
  daemon::ProbeFactory simulated = [&](const daemon::ClusterConfig&,
                                       const daemon::ServerConfig& s) {
    return std::make_unique<SimProbe>(s.name == "s0", epoch, &stats, interval);
  };
  daemon::Monitor monitor(config,
                          responder ? static_cast<daemon::ProbeObserver*>(&counter) : &metrics,
                          responder ? daemon::RealProbes() : simulated);
  daemon::HttpApi api(config, monitor, metrics);
  daemon::HttpServer::Options options;
  options.host = "127.0.0.1";
  options.port = port;
  options.threads = config->http_threads;
  auto server = daemon::HttpServer::Bind(
      options, [&api](const daemon::HttpRequest& req) { return api.Handle(req); });
  if (!server) {
    std::fprintf(stderr, "%s\n", server.error().c_str());
    return 1;
  }
  const auto started = Clock::now();
  monitor.Start();
  (*server)->Start();
  // Thousands of connections take a while to open: with --wire, the warm-up
  // starts once every server has been probed.
  while (responder && !monitor.Ready() && Clock::now() - started < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double first_cycle = std::chrono::duration<double>(Clock::now() - started).count();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // warm-up: first cycles, connections
  if (responder) {
    std::printf(
        "wire %s: every server probed once after %.1f s%s; failed probes so far: %lld (%s)\n",
        wire.c_str(), first_cycle, monitor.Ready() ? "" : " (no: gave up waiting)",
        static_cast<long long>(counter.failed()), counter.FailedByKind().c_str());
  }
  {
    std::lock_guard<std::mutex> lock(stats.mu);
    stats.max_gap_us = 0;
    stats.late_cycles = 0;
    stats.probes = 0;
  }
  counter.Reset();
  std::printf("ready: %d clusters x %d servers at %d ms; measuring %d s\n", clusters, servers,
              interval_ms, seconds);
  std::fflush(stdout);
  const double cpu0 = CpuSeconds();
  const double responder_cpu0 = responder ? responder->CpuSeconds() : 0;
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = (CpuSeconds() - cpu0) / wall;
  const long rss = RssKb();
  const struct mallinfo2 heap = mallinfo2();  // every arena, as the RSS is read
  const double responder_cpu = responder ? (responder->CpuSeconds() - responder_cpu0) / wall : 0;
  const long responder_rss = responder ? responder->RssKb() : 0;
  const std::string roles = responder ? bench::DescribeRoles(monitor) : "";
  (*server)->Stop();
  monitor.Stop();
  std::lock_guard<std::mutex> lock(stats.mu);
  const double expected = static_cast<double>(clusters) * servers * wall * 1000.0 / interval_ms;
  const int64_t probes = responder ? counter.probes() : stats.probes;
  std::printf(
      "probes: %lld of %.0f expected; late cycles (gap > 1.5 intervals): %lld; "
      "max gap between probes of a server: %.1f ms\n",
      static_cast<long long>(probes), expected,
      static_cast<long long>(responder ? counter.late_cycles() : stats.late_cycles),
      (responder ? counter.max_gap_us() : stats.max_gap_us) / 1000.0);
  std::printf("cpu: %.2f cores (whole process, HTTP load included); rss: %.1f MB\n", cpu,
              rss / 1024.0);
  // Where the RSS can come from: malloc's arenas (in use and free, as
  // reserved from the system) and the chunks it mapped on their own.
  std::printf("malloc: arenas %.1f MB (in use %.1f, free %.1f); mapped chunks %.1f MB in %zu\n",
              heap.arena / 1048576.0, heap.uordblks / 1048576.0, heap.fordblks / 1048576.0,
              heap.hblkhd / 1048576.0, heap.hblks);
  if (responder) {
    std::printf("failed probes: %lld (%s)\n", static_cast<long long>(counter.failed()),
                counter.FailedByKind().c_str());
    std::printf("%s\n", roles.c_str());
    std::printf("responder cpu: %.2f cores (wire_responder, %s); rss: %.1f MB\n", responder_cpu,
                wire.c_str(), responder_rss / 1024.0);
    if (probes > 0) {
      std::printf("cpu per probe: %.1f us lagrouter, %.1f us responder\n",
                  cpu * wall / probes * 1e6, responder_cpu * wall / probes * 1e6);
    }
    const std::string exited = responder->Exited();
    if (!exited.empty()) {
      std::fprintf(stderr, "scale_bench: wire_responder %s during the run\n", exited.c_str());
      return 1;
    }
  }
  return 0;
}
