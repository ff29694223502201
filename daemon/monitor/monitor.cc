#include "daemon/monitor/monitor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <utility>

#include "daemon/metrics/metrics.h"

namespace lagrouter::daemon {

using probes::Sample;

// How long replicas of a known primary wait for its sample each cycle.
constexpr auto kPrimaryLead = std::chrono::milliseconds(20);
namespace {

// On-demand probes a server may get back to back: 1/20 of its per-second
// budget (at least one), i.e. the budget of 50 ms.
double BurstOf(int per_second) {
  return std::max(1.0, per_second / 20.0);
}

}  // namespace

// The longest wait between two probes of a failing server.
constexpr router::Duration kMaxBackoff = std::chrono::seconds(2);

struct Monitor::Cluster {
  Cluster(const ClusterConfig& cfg, const Config& config) : state(cfg, config) {}

  size_t index = 0;
  std::vector<std::unique_ptr<probes::Probe>> probes;
  std::vector<std::thread> threads;

  // Probes asked for by waiting requests, per server (ProbeDemand).
  struct Demanded {
    router::TimePoint since = router::TimePoint::min();  // a probe must start at or after this
    bool primary_first = false;
    router::TimePoint last_started = router::TimePoint::min();  // scheduled or not
    // The per-server rate cap, a token bucket: probes_per_second on average,
    // bursts of BurstOf() it, so a replica that missed a write by a
    // millisecond is asked again at once, not a whole spacing later.
    double tokens = -1;  // < 0: full (never used)
    router::TimePoint refilled_at{};
  };

  std::mutex tick_mu;
  std::condition_variable tick_cv;
  uint64_t tick = 0;          // guarded by tick_mu
  uint64_t primary_done = 0;  // the last tick whose primary sample is in; guarded by tick_mu
  // When the primary's newest finished probe started; guarded by tick_mu.
  router::TimePoint primary_sampled = router::TimePoint::min();
  std::vector<Demanded> demanded;  // per server; guarded by tick_mu
  bool stopping = false;

  std::mutex mu;  // guards state
  ClusterState state;

  // The published snapshot. Not std::atomic<shared_ptr>: libstdc++ guards it
  // with a spin lock, and with more request threads than cores a preempted
  // holder left the others spinning (probes starved and timed out at 64
  // connections). A mutex held for one reference-count increment does not spin.
  mutable std::mutex snapshot_mu;
  std::shared_ptr<const ClusterSnapshot> snapshot;
  // SnapshotSource::Generation: every request thread reads it, only Publish
  // writes it; its own cache line, so the writes to the fields around it do
  // not evict it from the readers' caches.
  alignas(64) std::atomic<uint64_t> generation{SnapshotSource::kUntracked + 1};

  void Publish(std::shared_ptr<const ClusterSnapshot> next) {
    std::shared_ptr<const ClusterSnapshot> old;  // released outside the lock
    {
      std::lock_guard<std::mutex> lock(snapshot_mu);
      old = std::exchange(snapshot, std::move(next));
    }
    // After the swap: a reader that sees the new generation reads the new snapshot.
    generation.fetch_add(1, std::memory_order_release);
  }
};

ProbeFactory RealProbes() {
  return [](const ClusterConfig& c, const ServerConfig& s) {
    probes::ServerEndpoint ep;
    ep.cluster = c.name;
    ep.name = s.name;
    ep.host = s.host;
    ep.port = s.port;
    ep.user = c.user;
    ep.password = c.password;
    ep.database = c.database;
    ep.sslmode = c.sslmode;
    ep.sslrootcert = c.sslrootcert;
    ep.sslcert = c.sslcert;
    ep.sslkey = c.sslkey;
    return c.engine == router::Engine::kPostgres ? probes::MakePostgresProbe(ep)
                                                 : probes::MakeMysqlProbe(ep);
  };
}

Monitor::Monitor(std::shared_ptr<const Config> config, Metrics* metrics, ProbeFactory factory)
    : config_(std::move(config)), metrics_(metrics), factory_(std::move(factory)) {
  size_t total = 0;
  for (size_t i = 0; i < config_->clusters.size(); ++i) {
    const auto& cc = config_->clusters[i];
    auto c = std::make_unique<Cluster>(cc, *config_);
    c->index = i;
    for (const auto& sc : cc.servers) c->probes.push_back(factory_(cc, sc));
    c->demanded.resize(cc.servers.size());
    total += cc.servers.size();
    c->Publish(c->state.Initial());
    clusters_.push_back(std::move(c));
  }
  unprobed_.store(total);
}

Monitor::~Monitor() {
  Stop();
}

void Monitor::Start() {
  for (auto& c : clusters_) {
    for (size_t i = 0; i < c->probes.size(); ++i) {
      c->threads.emplace_back([this, cp = c.get(), i] { WorkerLoop(*cp, i); });
    }
  }
  scheduler_ = std::thread([this] { SchedulerLoop(); });
}

void Monitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  for (auto& c : clusters_) {
    {
      std::lock_guard<std::mutex> lock(c->tick_mu);
      c->stopping = true;
    }
    c->tick_cv.notify_all();
  }
  for (auto& c : clusters_) {
    for (auto& t : c->threads) {
      if (t.joinable()) t.join();
    }
  }
}

std::shared_ptr<const ClusterSnapshot> Monitor::Snapshot(size_t cluster) const {
  const Cluster& c = *clusters_[cluster];
  std::lock_guard<std::mutex> lock(c.snapshot_mu);
  return c.snapshot;
}

uint64_t Monitor::Generation(size_t cluster) const {
  return clusters_[cluster]->generation.load(std::memory_order_acquire);
}

void Monitor::SchedulerLoop() {
  const auto interval =
      std::chrono::duration_cast<router::Clock::duration>(config_->probe_interval);
  // Clusters tick at phases spread evenly over the interval: with hundreds of
  // clusters, every probe thread woke at the same instant and the HTTP loops
  // queued behind them (p99 of /v1/route under wrk at 200 clusters x 5
  // servers: 3.3 ms, spread 1.6-2.5 ms; docs/benchmarks.md). A cluster's
  // servers still tick together.
  const size_t n = clusters_.size();
  std::vector<router::TimePoint> next(n);
  const auto start = router::Clock::now();
  for (size_t i = 0; i < n; ++i) next[i] = start + interval * static_cast<int64_t>(i) / n;
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stopping_) {
    const auto now = router::Clock::now();
    auto earliest = router::TimePoint::max();
    for (size_t i = 0; i < n; ++i) {
      if (next[i] <= now) {
        Cluster& c = *clusters_[i];
        {
          std::lock_guard<std::mutex> tick_lock(c.tick_mu);
          ++c.tick;
        }
        c.tick_cv.notify_all();
        next[i] += interval;
        if (next[i] < now) next[i] = now;  // fell behind (e.g. suspended): skip, don't burst
      }
      earliest = std::min(earliest, next[i]);
    }
    if (n == 0) earliest = now + interval;
    stop_cv_.wait_until(lock, earliest, [this] { return stopping_; });
  }
}

void Monitor::Demand(size_t cluster, const std::vector<size_t>& servers, bool primary_first,
                     router::TimePoint since) {
  Cluster& c = *clusters_[cluster];
  {
    std::lock_guard<std::mutex> lock(c.tick_mu);
    for (size_t s : servers) {
      if (s >= c.demanded.size()) continue;
      Cluster::Demanded& d = c.demanded[s];
      if (since > d.since) d.since = since;
      d.primary_first = d.primary_first || primary_first;
    }
  }
  c.tick_cv.notify_all();
}

// What a worker's next probe is for.
struct Monitor::Turn {
  uint64_t seen = 0;  // the latest scheduled tick taken
  bool on_demand = false;
  router::TimePoint since{};  // on demand: the probe must start at or after this
  bool primary_first = false;
};

bool Monitor::NextTurn(Cluster& c, size_t index, Turn& turn) {
  const double rate = std::max(1, config_->on_demand_probes_per_second);  // per second
  const double burst = BurstOf(config_->on_demand_probes_per_second);
  std::unique_lock<std::mutex> lock(c.tick_mu);
  Cluster::Demanded& d = c.demanded[index];
  for (;;) {
    if (c.stopping) return false;
    if (c.tick != turn.seen) {
      turn.seen = c.tick;  // a probe that overran misses ticks instead of queueing them
      turn.on_demand = false;
      return true;
    }
    if (d.since > d.last_started) {
      const auto now = router::Clock::now();
      d.tokens =
          d.tokens < 0
              ? burst
              : std::min(
                    burst,
                    d.tokens + rate * std::chrono::duration<double>(now - d.refilled_at).count());
      d.refilled_at = now;
      if (d.tokens >= 1) {
        d.tokens -= 1;
        turn.on_demand = true;
        turn.since = d.since;
        turn.primary_first = d.primary_first;
        return true;
      }
      c.tick_cv.wait_until(lock, now + std::chrono::duration_cast<router::Clock::duration>(
                                           std::chrono::duration<double>((1 - d.tokens) / rate)));
    } else {
      c.tick_cv.wait(lock);
    }
  }
}

void Monitor::WorkerLoop(Cluster& c, size_t index) {
  probes::Probe& probe = *c.probes[index];
  Turn turn;
  int failures = 0;  // consecutive failed probes
  router::TimePoint retry_at{};
  std::mt19937 rng(std::random_device{}());
  while (NextTurn(c, index, turn)) {
    // A failing server is retried with jittered exponential backoff, so a
    // flapping or hung server never sees a storm of connection attempts;
    // waiting requests do not shorten it.
    if (failures > 0 && router::Clock::now() < retry_at) {
      if (turn.on_demand) {
        std::lock_guard<std::mutex> lock(c.tick_mu);
        c.demanded[index].since = router::TimePoint::min();
      }
      continue;
    }
    bool replica_of_known_primary;
    {
      std::lock_guard<std::mutex> lock(c.mu);
      replica_of_known_primary =
          c.state.primary() >= 0 && c.state.primary() != static_cast<int>(index);
    }
    if (replica_of_known_primary && (!turn.on_demand || turn.primary_first)) {
      // Sample replicas just after the primary's reply: a replica position
      // read then covers the primary's newest sample more often, which
      // tightens the bound under load. Bounded, so a hung primary costs
      // replicas at most kPrimaryLead per cycle.
      std::unique_lock<std::mutex> lock(c.tick_mu);
      c.tick_cv.wait_for(lock, kPrimaryLead, [&] {
        return c.stopping ||
               (turn.on_demand ? c.primary_sampled >= turn.since : c.primary_done >= turn.seen);
      });
      if (c.stopping) return;
    }
    const auto started = router::Clock::now();
    {
      std::lock_guard<std::mutex> lock(c.tick_mu);
      Cluster::Demanded& d = c.demanded[index];
      d.last_started = started;  // satisfies every demand made until now
      if (d.since <= started) d.primary_first = false;
    }
    Sample sample = probe.Run(started + config_->probe_timeout);
    if (metrics_ != nullptr) {
      metrics_->ObserveProbe(c.index, index,
                             std::chrono::duration<double>(router::Clock::now() - started).count(),
                             sample.ok ? probes::ErrorKind::kNone : sample.error_kind);
    }
    if (sample.ok) {
      failures = 0;
    } else {
      ++failures;
      const auto backoff = std::min<router::Duration>(
          config_->probe_interval * (1 << std::min(failures - 1, 10)), kMaxBackoff);
      const double jitter = std::uniform_real_distribution<double>(0.75, 1.25)(rng);
      retry_at = router::Clock::now() +
                 std::chrono::duration_cast<router::Duration>(backoff * jitter) -
                 config_->probe_interval;  // the retry itself waits for a tick
    }
    const bool was_primary = OnSample(c, index, std::move(sample), turn.on_demand);
    if (was_primary) {
      {
        std::lock_guard<std::mutex> lock(c.tick_mu);
        c.primary_done = turn.seen;
        c.primary_sampled = std::max(c.primary_sampled, started);
      }
      c.tick_cv.notify_all();
    }
    if (on_publish_) on_publish_(c.index);
  }
}

bool Monitor::OnSample(Cluster& c, size_t index, Sample sample, bool on_demand) {
  std::lock_guard<std::mutex> lock(c.mu);
  auto update = c.state.Apply(index, std::move(sample), router::Clock::now(),
                              std::chrono::system_clock::now(), on_demand);
  c.Publish(std::move(update.snapshot));
  for (const auto& event : update.events) OnEvent(c.state, event);
  return c.state.primary() == static_cast<int>(index);
}

// State changes are logged once, when they happen, not every cycle.
void Monitor::OnEvent(const ClusterState& state, const ClusterEvent& event) {
  using Kind = ClusterEvent::Kind;
  const std::string& cluster = state.config().name;
  const std::string& name = state.server_config(event.server).name;
  const Sample& s = state.last_sample(event.server);
  switch (event.kind) {
    case Kind::kFirstProbe:
      if (unprobed_.fetch_sub(1) == 1) {
        ready_.store(true, std::memory_order_release);
        spdlog::info("first probe cycle complete: ready");
      }
      break;
    case Kind::kProbeFailed:
      spdlog::warn("cluster={} server={} probe failed ({}): {}", cluster, name,
                   probes::ErrorKindName(s.error_kind), s.error);
      break;
    case Kind::kProbeRecovered:
      spdlog::info("cluster={} server={} probe recovered", cluster, name);
      break;
    case Kind::kRoleChanged:
      spdlog::info("cluster={} server={} role {} ({} {})", cluster, name, router::RoleName(s.role),
                   s.flavor, s.version);
      break;
    case Kind::kReplicationChanged: {
      // Healthy states at info, degraded ones (a stopped SQL thread, paused
      // replay, a receiver reconnecting) at warn.
      const bool healthy =
          s.replication_state == "streaming" || s.replication_state == "io=Yes sql=Yes";
      spdlog::log(healthy ? spdlog::level::info : spdlog::level::warn,
                  "cluster={} server={} replication {}: {}{}", cluster, name,
                  s.replicating ? "running" : "not running", s.replication_state,
                  s.replication_error.empty() ? "" : " (" + s.replication_error + ")");
      break;
    }
    case Kind::kSuperuser:
      spdlog::warn(
          "cluster={} server={} the monitoring user is a superuser; grant it pg_monitor "
          "(or REPLICA MONITOR, BINLOG MONITOR) instead",
          cluster, name);
      break;
    case Kind::kPrimaryElected: spdlog::info("cluster={} primary is {}", cluster, name); break;
    case Kind::kSplitBrain:
      spdlog::error("cluster={} split brain: {} servers claim to be primary", cluster,
                    event.claims);
      break;
    case Kind::kPrimaryChanged:
      spdlog::warn("cluster={} primary changed to {}: position history restarts", cluster, name);
      break;
    case Kind::kHistoryRestarted:
      spdlog::warn("cluster={} primary {} position went backwards: history restarts", cluster,
                   name);
      break;
  }
}

}  // namespace lagrouter::daemon
