#include "daemon/monitor/monitor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <utility>

namespace lagrouter::daemon {

using probes::Sample;

struct Monitor::Cluster {
  Cluster(const ClusterConfig& cfg, const Config& config, uint64_t seed)
      : random(seed), state(cfg, config) {}

  size_t index = 0;

  // The schedule's side: the cluster's loop asks it, request threads add
  // demands (then poke the loop).
  std::mutex schedule_mu;
  std::vector<ProbeSchedule> schedules;  // per server; guarded by schedule_mu
  PrimaryProgress primary_progress;      // guarded by schedule_mu
  int primary = -1;                      // state.primary() as of the last sample; schedule_mu
  SeededRandom random;                   // guarded by schedule_mu

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
  // A cluster's servers come one after another: they share the login made
  // for the first (one is made again whenever the settings differ).
  return [shared = std::shared_ptr<const probes::Login>()](const ClusterConfig& c,
                                                           const ServerConfig& s) mutable {
    probes::Login login{c.user,        c.password, c.database, c.sslmode,
                        c.sslrootcert, c.sslcert,  c.sslkey};
    if (!shared || *shared != login)
      shared = std::make_shared<const probes::Login>(std::move(login));
    probes::ServerEndpoint ep;
    ep.host = s.host;
    ep.port = s.port;
    ep.login = shared;
    return c.engine == router::Engine::kPostgres ? probes::MakePostgresProbe(ep)
                                                 : probes::MakeMysqlProbe(ep);
  };
}

size_t DefaultProbeLoops(size_t clusters) {
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::max<size_t>(1, std::min(cores, clusters));
}

Monitor::Monitor(std::shared_ptr<const Config> config, ProbeObserver* observer,
                 ProbeFactory factory, uint64_t seed, size_t loops)
    : config_(std::move(config)), observer_(observer), factory_(std::move(factory)) {
  const auto options =
      ProbeSchedule::Defaults(config_->probe_interval, config_->on_demand_probes_per_second);
  const size_t n = config_->clusters.size();
  if (loops == 0) loops = DefaultProbeLoops(n);
  std::vector<std::vector<ProbeLoop::Server>> shares(std::max<size_t>(1, std::min(loops, n)));
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& cc = config_->clusters[i];
    auto c = std::make_unique<Cluster>(cc, *config_, seed + i);
    c->index = i;
    for (size_t s = 0; s < cc.servers.size(); ++s) {
      shares[i % shares.size()].push_back({i, s, factory_(cc, cc.servers[s])});
    }
    c->schedules.assign(cc.servers.size(), ProbeSchedule(options));
    total += cc.servers.size();
    c->Publish(c->state.Initial());
    clusters_.push_back(std::move(c));
  }
  for (auto& share : shares) {
    if (share.empty()) continue;
    loops_.push_back(std::make_unique<ProbeLoop>(static_cast<ProbeCycle&>(*this), std::move(share),
                                                 config_->probe_interval, config_->probe_timeout));
  }
  unprobed_.store(total);
}

Monitor::~Monitor() {
  Stop();
}

void Monitor::Start() {
  // spdlog makes its registry on first use. The loops may log first at the
  // same moment, and TSan cannot see the guard of that lazy static inside the
  // uninstrumented libspdlog: make it here, before any loop runs.
  spdlog::default_logger_raw();
  for (auto& loop : loops_) loop->Start();
}

void Monitor::Stop() {
  for (auto& loop : loops_) loop->Stop();
}

std::shared_ptr<const ClusterSnapshot> Monitor::Snapshot(size_t cluster) const {
  const Cluster& c = *clusters_[cluster];
  std::lock_guard<std::mutex> lock(c.snapshot_mu);
  return c.snapshot;
}

uint64_t Monitor::Generation(size_t cluster) const {
  return clusters_[cluster]->generation.load(std::memory_order_acquire);
}

void Monitor::Demand(size_t cluster, const router::ProbePlan& plan, router::TimePoint since) {
  Cluster& c = *clusters_[cluster];
  {
    std::lock_guard<std::mutex> lock(c.schedule_mu);
    for (size_t s : plan.servers) {
      if (s < c.schedules.size()) {
        c.schedules[s].Demand(since, plan.primary_first,
                              /*whole=*/static_cast<int>(s) == plan.visibility_of);
      }
    }
  }
  if (!loops_.empty()) loops_[cluster % loops_.size()]->Poke(cluster);
}

void Monitor::Tick(size_t cluster) {
  Cluster& c = *clusters_[cluster];
  std::lock_guard<std::mutex> lock(c.schedule_mu);
  for (auto& schedule : c.schedules) schedule.Tick();
}

ProbeSchedule::Step Monitor::Next(size_t cluster, size_t server, router::TimePoint now) {
  Cluster& c = *clusters_[cluster];
  std::lock_guard<std::mutex> lock(c.schedule_mu);
  const bool replica_of_known_primary = c.primary >= 0 && c.primary != static_cast<int>(server);
  return c.schedules[server].Next(now, replica_of_known_primary ? &c.primary_progress : nullptr);
}

void Monitor::Done(size_t cluster, size_t server, const ProbeSchedule::Step& step,
                   router::TimePoint started, router::TimePoint finished, Sample sample) {
  Cluster& c = *clusters_[cluster];
  const bool ok = sample.ok;
  if (observer_ != nullptr) {
    observer_->ObserveProbe(cluster, server,
                            std::chrono::duration<double>(finished - started).count(),
                            ok ? probes::ErrorKind::kNone : sample.error_kind);
  }
  const int primary = OnSample(c, server, std::move(sample), step.on_demand);
  {
    std::lock_guard<std::mutex> lock(c.schedule_mu);
    c.schedules[server].Finished(ok, finished, c.random);
    c.primary = primary;
    if (primary == static_cast<int>(server)) c.primary_progress.Record(step.tick, started);
  }
  if (on_publish_) on_publish_(cluster);
}

int Monitor::OnSample(Cluster& c, size_t index, Sample sample, bool on_demand) {
  std::lock_guard<std::mutex> lock(c.mu);
  auto update = c.state.Apply(index, std::move(sample), router::Clock::now(),
                              std::chrono::system_clock::now(), on_demand);
  c.Publish(std::move(update.snapshot));
  for (const auto& event : update.events) OnEvent(c.state, event);
  return c.state.primary();
}

// State changes are logged once, when they happen, not every cycle.
void Monitor::OnEvent(const ClusterState& state, const ClusterEvent& event) {
  using Kind = ClusterEvent::Kind;
  const std::string& cluster = state.config().name;
  const std::string& name = state.server_config(event.server).name;
  // Every event but a failure follows a successful sample.
  static const Sample kNoSample;
  const Sample* ok = state.last_ok(event.server);
  const Sample& s = ok != nullptr ? *ok : kNoSample;
  switch (event.kind) {
    case Kind::kFirstProbe:
      if (unprobed_.fetch_sub(1) == 1) {
        ready_.store(true, std::memory_order_release);
        spdlog::info("first probe cycle complete: ready");
      }
      break;
    case Kind::kProbeFailed:
      spdlog::warn("cluster={} server={} probe failed ({}): {}", cluster, name,
                   probes::ErrorKindName(state.error_kind(event.server)),
                   state.error(event.server));
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
    case Kind::kVisibilityUnknown:
      spdlog::warn(
          "cluster={} server={} primary cannot tell which commits are not visible yet (needs "
          "PostgreSQL 13 or later and pg_monitor for the monitoring user): a session moving "
          "to it from a replica may miss a commit the replica showed",
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
