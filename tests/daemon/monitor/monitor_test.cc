// The Monitor is a shell around ClusterState (tested in cluster_state_test.cc
// with scripted times): here only that its probe loops probe every server,
// fold the samples in, publish, and stop.
#include "daemon/monitor/monitor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "daemon/api/http_api.h"
#include "daemon/metrics/metrics.h"
#include "tests/support/config_text.h"
#include "tests/support/scripted.h"

namespace lagrouter::daemon {
namespace {

// Answers at once, as an idle primary or its caught-up replica would.
class InstantProbe final : public probes::Probe {
 public:
  InstantProbe(bool primary, std::atomic<int>& runs) : primary_(primary), runs_(runs) {}
  probes::Step Start(probes::Clock::time_point, probes::Depth) override {
    return probes::Step::Done();
  }
  probes::Step Resume() override { return probes::Step::Done(); }
  probes::Sample Take() override {
    ++runs_;
    const auto now = probes::Clock::now();
    const router::Position lsn = router::Lsn{42};
    return primary_ ? test_support::PrimarySample(lsn, now) : test_support::ReplicaSample(lsn, now);
  }
  probes::Sample Abort() override { return {}; }

 private:
  bool primary_;
  std::atomic<int>& runs_;
};

// Talks over a real socket, as the database probes do: the "server" end of a
// socket pair answers each query at once, or never (a hung server, whose
// probe only the loop's deadline ends).
class SocketProbe final : public probes::Probe {
 public:
  SocketProbe(bool primary, bool hung) : primary_(primary), hung_(hung) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_) != 0) {
      throw std::runtime_error("socketpair");
    }
  }
  ~SocketProbe() override {
    close(fds_[0]);
    close(fds_[1]);
  }
  probes::Step Start(probes::Clock::time_point, probes::Depth) override {
    sent_at_ = probes::Clock::now();
    if (!hung_) {
      const char query = 'q';
      if (write(fds_[1], &query, 1) != 1) throw std::runtime_error("write");
    }
    return Resume();
  }
  probes::Step Resume() override {
    char reply;
    if (read(fds_[0], &reply, 1) == 1) return probes::Step::Done();
    probes::Step wait;
    wait.fd = fds_[0];
    wait.read = true;
    return wait;
  }
  probes::Sample Take() override {
    ++answered;
    const router::Position lsn = router::Lsn{42};
    return primary_ ? test_support::PrimarySample(lsn, sent_at_)
                    : test_support::ReplicaSample(lsn, sent_at_);
  }
  probes::Sample Abort() override {
    ++aborted;
    probes::Sample s;
    s.error_kind = probes::ErrorKind::kTimeout;
    s.error = "timed out";
    return s;
  }
  std::atomic<int> answered{0};
  std::atomic<int> aborted{0};

 private:
  bool primary_;
  bool hung_;
  int fds_[2];
  probes::Clock::time_point sent_at_{};
};

// A Monitor over `toml` whose probes answer at once (server "p" as the
// primary) and count their runs.
struct InstantMonitor {
  explicit InstantMonitor(const std::string& toml)
      : config(Parsed(toml)),
        metrics(*config, process),
        monitor(config, &metrics, [this](const ClusterConfig&, const ServerConfig& s) {
          return std::make_unique<InstantProbe>(s.name == "p", runs);
        }) {}
  static std::shared_ptr<const Config> Parsed(const std::string& toml) {
    auto parsed = ParseConfig(toml, "t");
    if (!parsed) throw std::invalid_argument(parsed.error());
    return std::make_shared<const Config>(std::move(parsed).value());
  }
  std::shared_ptr<const Config> config;
  ProcessCounters process;
  Metrics metrics;
  std::atomic<int> runs{0};
  Monitor monitor;
};

// Waits for the first probe cycle, bounded; nothing here asserts how long it took.
bool WaitReady(const Monitor& monitor) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!monitor.Ready() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  return monitor.Ready();
}

TEST(Monitor, ProbesEveryServerPublishesAndStops) {
  using test_support::ClusterSpec;
  InstantMonitor m(test_support::ConfigText()
                       .Probe("10ms", "100ms")
                       .Cluster(ClusterSpec("shop", "postgres").Server("p", 1).Server("r", 2))
                       .Class("reports", "1h"));
  std::atomic<int>& runs = m.runs;
  Monitor& monitor = m.monitor;
  EXPECT_FALSE(monitor.Ready());
  EXPECT_FALSE(monitor.Snapshot(0)->view.servers[0].probed);
  monitor.Start();
  ASSERT_TRUE(WaitReady(monitor));
  monitor.Stop();
  const auto snap = monitor.Snapshot(0);
  EXPECT_EQ(snap->view.primary, 0);
  EXPECT_TRUE(snap->view.servers[1].bound_known);
  EXPECT_GE(runs.load(), 2);
  const int after_stop = runs.load();
  monitor.Stop();  // idempotent
  EXPECT_EQ(runs.load(), after_stop);
}

TEST(Monitor, OnDemandProbesComeBetweenTicksWithinTheRateCap) {
  using test_support::ClusterSpec;
  // A 1 h interval: every probe after the first cycle is an on-demand one.
  InstantMonitor m(test_support::ConfigText()
                       .Probe("1h", "100ms")
                       .Cluster(ClusterSpec("shop", "postgres").Server("p", 1).Server("r", 2))
                       .Class("reports", "1h")
                       .Raw("[on_demand]\nprobes_per_second = 20\n"));
  Monitor& monitor = m.monitor;
  std::atomic<int> published{0};
  monitor.OnPublish([&](size_t) { ++published; });
  monitor.Start();
  ASSERT_TRUE(WaitReady(monitor));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto on_demand = [&](size_t server) {
    return monitor.Snapshot(0)->status[server].on_demand_probes;
  };
  // One demand of the replica: one probe of it, none of the primary.
  monitor.Demand(0, router::ProbePlan{{1}}, router::Clock::now());
  // (The listener runs after the snapshot is out: wait for both.)
  while ((on_demand(1) < 1 || published.load() < 3) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(on_demand(1), 1u);
  EXPECT_EQ(on_demand(0), 0u);
  EXPECT_GE(published.load(), 3) << "every sample is published to the listener";
  // A storm of demands for 300 ms: the bucket's burst (1) plus 20/s, never
  // one probe per demand.
  const auto storm_start = std::chrono::steady_clock::now();
  int demands = 0;
  while (std::chrono::steady_clock::now() < storm_start + std::chrono::milliseconds(300)) {
    monitor.Demand(0, router::ProbePlan{{1}}, router::Clock::now());
    ++demands;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const auto elapsed = std::chrono::steady_clock::now() - storm_start;
  monitor.Stop();
  const double allowed = 1 + 1 + 20 * std::chrono::duration<double>(elapsed).count();
  EXPECT_LE(static_cast<double>(on_demand(1)), allowed + 1) << demands << " demands";
  EXPECT_GE(on_demand(1), 2u) << "demands after the first are served too";
}

// One loop drives every server: a hung one is ended by its deadline (a
// timeout sample) while the loop goes on probing the others on their ticks.
TEST(Monitor, AHungServerTimesOutWithoutHoldingTheOthers) {
  using test_support::ClusterSpec;
  auto config = InstantMonitor::Parsed(
      test_support::ConfigText()
          .Probe("10ms", "100ms")
          .Cluster(ClusterSpec("shop", "postgres").Server("p", 1).Server("r", 2).Server("hung", 3))
          .Cluster(ClusterSpec("other", "postgres").Server("p", 4))
          .Class("reports", "1h"));
  std::vector<SocketProbe*> probes;
  Monitor monitor(
      config, nullptr,
      [&](const ClusterConfig& c, const ServerConfig& s) {
        auto probe = std::make_unique<SocketProbe>(s.name == "p", s.name == "hung");
        probes.push_back(probe.get());
        return probe;
      },
      /*seed=*/1, /*loops=*/1);
  ASSERT_EQ(probes.size(), 4u);
  SocketProbe& hung = *probes[2];
  monitor.Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (hung.aborted.load() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int primary_before = probes[0]->answered.load();
  const int other_before = probes[3]->answered.load();
  while (hung.aborted.load() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  monitor.Stop();
  ASSERT_GE(hung.aborted.load(), 3);
  EXPECT_EQ(hung.answered.load(), 0);
  // Two more timeouts of 100 ms (and their backoff) at 10 ms ticks: tens of
  // probes each, where a loop blocked in the hung probe would have none.
  EXPECT_GE(probes[0]->answered.load() - primary_before, 10);
  EXPECT_GE(probes[3]->answered.load() - other_before, 10);
  const auto snap = monitor.Snapshot(0);
  EXPECT_EQ(snap->status[2].last_error_kind, probes::ErrorKind::kTimeout);
  EXPECT_FALSE(snap->view.servers[2].bound_known);
  EXPECT_TRUE(snap->view.servers[1].bound_known);
}

// Clusters spread over two loops: each loop ticks its own, and a demand
// reaches the loop that owns the cluster.
TEST(Monitor, ClustersSpreadOverLoopsAreProbedAndTakeDemands) {
  using test_support::ClusterSpec;
  test_support::ConfigText text;
  // A 1 h interval: the first cycle, then only the demands' probes.
  text.Probe("1h", "100ms").Class("reports", "1h");
  for (int c = 0; c < 5; ++c) {
    text.Cluster(ClusterSpec("c" + std::to_string(c), "postgres")
                     .Server("p", 10 * c + 1)
                     .Server("r", 10 * c + 2));
  }
  std::atomic<int> runs{0};
  Monitor monitor(
      InstantMonitor::Parsed(text), nullptr,
      [&](const ClusterConfig&, const ServerConfig& s) {
        return std::make_unique<InstantProbe>(s.name == "p", runs);
      },
      /*seed=*/1, /*loops=*/2);
  monitor.Start();
  ASSERT_TRUE(WaitReady(monitor));
  for (size_t c = 0; c < 5; ++c) monitor.Demand(c, router::ProbePlan{{1}}, router::Clock::now());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto demanded = [&] {
    int n = 0;
    for (size_t c = 0; c < 5; ++c) n += monitor.Snapshot(c)->status[1].on_demand_probes > 0;
    return n;
  };
  while (demanded() < 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  monitor.Stop();
  EXPECT_EQ(demanded(), 5);
  for (size_t c = 0; c < 5; ++c) EXPECT_EQ(monitor.Snapshot(c)->view.primary, 0) << c;
}

// Request threads keep the snapshot they read and re-read it only when the
// cluster's generation moves: each thread still follows the publications
// (its answers' bounds fall back as probes come in, where one kept snapshot
// would show a bound growing with the clock), and under TSan the hand-over
// is race-free.
TEST(Monitor, RequestThreadsFollowThePublications) {
  using test_support::ClusterSpec;
  InstantMonitor m(
      test_support::ConfigText()
          .Probe("10ms", "100ms")
          .Cluster(ClusterSpec("shop", "postgres").Server("p", 1).Server("r1", 2).Server("r2", 3))
          .Class("reports", "1h", "", "0s"));
  Monitor& monitor = m.monitor;
  HttpApi api(m.config, monitor, m.metrics);
  const uint64_t first_generation = monitor.Generation(0);
  monitor.Start();
  ASSERT_TRUE(WaitReady(monitor));
  constexpr int kThreads = 3;
  std::vector<int> bounds_fell(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
      int64_t last = -1;
      while (std::chrono::steady_clock::now() < until || (bounds_fell[t] == 0 && last < 5000)) {
        const auto r = api.Route(ParseQuery("cluster=shop&class=reports"), router::Clock::now());
        if (r.status != 200) continue;
        const auto body = nlohmann::json::parse(r.body);
        if (body["reason"] != "fresh_replica") continue;
        const auto bound = body["staleness_bound_ms"].get<int64_t>();
        bounds_fell[t] += bound < last;
        last = bound;
      }
    });
  }
  for (auto& t : threads) t.join();
  monitor.Stop();
  EXPECT_GT(monitor.Generation(0), first_generation + 3);
  for (int t = 0; t < kThreads; ++t) EXPECT_GT(bounds_fell[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace lagrouter::daemon
