#include "daemon/monitor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <utility>

#include "daemon/metrics.h"

namespace lagrouter::daemon {

using probes::Sample;
using router::Role;
using router::TimePoint;

// How long replicas of a known primary wait for its sample each cycle.
constexpr auto kPrimaryLead = std::chrono::milliseconds(20);
// The longest wait between two probes of a failing server.
constexpr router::Duration kMaxBackoff = std::chrono::seconds(2);

struct Monitor::Server {
  ServerConfig config;
  std::unique_ptr<probes::Probe> probe;
  std::thread thread;
  // Guarded by Cluster::mu.
  bool probed = false;
  Sample last;                    // the latest sample, ok or not
  std::optional<Sample> last_ok;  // the latest successful one
  std::optional<std::chrono::system_clock::time_point> last_ok_wall;
  std::optional<TimePoint> fresh_as_of;  // from the previous publish, for gate peaks
  // When this replica first reported its stream not running (the probe's
  // sent_at), until it runs again.
  std::optional<TimePoint> not_streaming_since;
  std::vector<router::Gate> gates;
};

struct Monitor::Cluster {
  Cluster(const ClusterConfig& cfg, const Config& config)
      : config(cfg),
        // Keep history for the loosest class plus a margin; one entry per
        // changed primary sample at most.
        history(config.HistoryHorizon() + 4 * config.probe_interval,
                static_cast<size_t>((config.HistoryHorizon() + 4 * config.probe_interval) /
                                    config.probe_interval) +
                    16) {}

  ClusterConfig config;
  size_t index = 0;

  std::mutex tick_mu;
  std::condition_variable tick_cv;
  uint64_t tick = 0;          // guarded by tick_mu
  uint64_t primary_done = 0;  // the last tick whose primary sample is in; guarded by tick_mu
  bool stopping = false;

  std::mutex mu;  // guards the servers' sample state, history and primary
  std::vector<std::unique_ptr<Server>> servers;
  router::PositionHistory history;
  int history_owner = -1;  // the server whose samples fill the history
  int last_primary = -1;   // for logging role changes

  // The published snapshot. Not std::atomic<shared_ptr>: libstdc++ guards it
  // with a spin lock, and with more request threads than cores a preempted
  // holder left the others spinning (probes starved and timed out at 64
  // connections). A mutex held for one reference-count increment does not spin.
  mutable std::mutex snapshot_mu;
  std::shared_ptr<const ClusterSnapshot> snapshot;
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
    for (const auto& sc : cc.servers) {
      auto s = std::make_unique<Server>();
      s->config = sc;
      s->probe = factory_(cc, sc);
      s->gates.resize(config_->classes.size());
      c->servers.push_back(std::move(s));
      ++total;
    }
    Publish(*c, router::Clock::now());
    clusters_.push_back(std::move(c));
  }
  unprobed_.store(total);
}

Monitor::~Monitor() {
  Stop();
}

void Monitor::Start() {
  for (auto& c : clusters_) {
    for (size_t i = 0; i < c->servers.size(); ++i) {
      c->servers[i]->thread = std::thread([this, cp = c.get(), i] { WorkerLoop(*cp, i); });
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
    for (auto& s : c->servers) {
      if (s->thread.joinable()) s->thread.join();
    }
  }
}

std::shared_ptr<const ClusterSnapshot> Monitor::Snapshot(size_t cluster) const {
  const Cluster& c = *clusters_[cluster];
  std::lock_guard<std::mutex> lock(c.snapshot_mu);
  return c.snapshot;
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

void Monitor::WorkerLoop(Cluster& c, size_t index) {
  Server& s = *c.servers[index];
  uint64_t seen = 0;
  int failures = 0;  // consecutive failed probes
  router::TimePoint retry_at{};
  std::mt19937 rng(std::random_device{}());
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(c.tick_mu);
      c.tick_cv.wait(lock, [&] { return c.stopping || c.tick != seen; });
      if (c.stopping) return;
      seen = c.tick;  // a probe that overran misses ticks instead of queueing them
    }
    // A failing server is retried with jittered exponential backoff, so a
    // flapping or hung server never sees a storm of connection attempts.
    if (failures > 0 && router::Clock::now() < retry_at) continue;
    bool replica_of_known_primary;
    {
      std::lock_guard<std::mutex> lock(c.mu);
      replica_of_known_primary = c.last_primary >= 0 && c.last_primary != static_cast<int>(index);
    }
    if (replica_of_known_primary) {
      // Sample replicas just after the primary's reply: a replica position
      // read then covers the primary's newest sample more often, which
      // tightens the bound under load. Bounded, so a hung primary costs
      // replicas at most kPrimaryLead per cycle.
      std::unique_lock<std::mutex> lock(c.tick_mu);
      c.tick_cv.wait_for(lock, kPrimaryLead, [&] { return c.stopping || c.primary_done >= seen; });
      if (c.stopping) return;
    }
    const auto started = router::Clock::now();
    Sample sample = s.probe->Run(started + config_->probe_timeout);
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
    const bool was_primary = OnSample(c, index, std::move(sample));
    if (was_primary) {
      {
        std::lock_guard<std::mutex> lock(c.tick_mu);
        c.primary_done = seen;
      }
      c.tick_cv.notify_all();
    }
  }
}

bool Monitor::OnSample(Cluster& c, size_t index, Sample sample) {
  const auto now = router::Clock::now();
  std::lock_guard<std::mutex> lock(c.mu);
  Server& s = *c.servers[index];
  const std::string& cluster = c.config.name;
  const std::string& name = s.config.name;

  // State changes are logged once, not every cycle.
  if (!sample.ok && (!s.probed || s.last.ok)) {
    spdlog::warn("cluster={} server={} probe failed ({}): {}", cluster, name,
                 probes::ErrorKindName(sample.error_kind), sample.error);
  } else if (sample.ok && s.probed && !s.last.ok) {
    spdlog::info("cluster={} server={} probe recovered", cluster, name);
  }
  if (sample.ok) {
    const Role before = s.last_ok ? s.last_ok->role : Role::kUnknown;
    if (before != sample.role) {
      spdlog::info("cluster={} server={} role {} ({} {})", cluster, name,
                   router::RoleName(sample.role), sample.flavor, sample.version);
    }
    if (sample.role == Role::kReplica && s.last_ok &&
        (s.last_ok->replicating != sample.replicating ||
         s.last_ok->replication_state != sample.replication_state)) {
      // Any change of the engine's replication state (a stopped SQL thread,
      // paused replay, a receiver reconnecting) is logged once; healthy
      // states at info, degraded ones at warn.
      const bool healthy =
          sample.replication_state == "streaming" || sample.replication_state == "io=Yes sql=Yes";
      spdlog::log(healthy ? spdlog::level::info : spdlog::level::warn,
                  "cluster={} server={} replication {}: {}{}", cluster, name,
                  sample.replicating ? "running" : "not running", sample.replication_state,
                  sample.replication_error.empty() ? "" : " (" + sample.replication_error + ")");
    }
    if (sample.superuser && (!s.last_ok || !s.last_ok->superuser)) {
      spdlog::warn(
          "cluster={} server={} the monitoring user is a superuser; grant it pg_monitor "
          "(or REPLICA MONITOR, BINLOG MONITOR) instead",
          cluster, name);
    }
    if (sample.role != Role::kReplica || sample.replicating) {
      s.not_streaming_since.reset();
    } else if (!s.not_streaming_since) {
      s.not_streaming_since = sample.sent_at;
    }
    s.last_ok = sample;
    s.last_ok_wall = std::chrono::system_clock::now();
  }
  if (!s.probed) {
    s.probed = true;
    if (unprobed_.fetch_sub(1) == 1) {
      ready_.store(true, std::memory_order_release);
      spdlog::info("first probe cycle complete: ready");
    }
  }
  s.last = std::move(sample);

  // Who is primary: exactly one up server claiming the role.
  int primary = -1;
  int claims = 0;
  for (size_t i = 0; i < c.servers.size(); ++i) {
    const Server& o = *c.servers[i];
    if (o.last.ok && o.last.role == Role::kPrimary) {
      ++claims;
      primary = static_cast<int>(i);
    }
  }
  if (claims > 1) primary = -1;
  if (primary != c.last_primary && primary >= 0) {
    spdlog::info("cluster={} primary is {}", cluster,
                 c.servers[static_cast<size_t>(primary)]->config.name);
  } else if (primary != c.last_primary && claims > 1) {
    spdlog::error("cluster={} split brain: {} servers claim to be primary", cluster, claims);
  }
  c.last_primary = primary;

  // The history belongs to one primary: a new primary restarts it.
  if (primary >= 0 && static_cast<size_t>(primary) == index && s.last.ok) {
    if (c.history_owner != primary) {
      if (c.history_owner >= 0) {
        spdlog::warn("cluster={} primary changed to {}: position history restarts", cluster, name);
      }
      c.history.Reset();
      c.history_owner = primary;
    }
    if (!c.history.Record(s.last.sent_at, s.last.write_position)) {
      spdlog::warn("cluster={} primary {} position went backwards: history restarts", cluster,
                   name);
    }
  }
  Publish(c, now);
  return primary == static_cast<int>(index);
}

// Builds and swaps in a new snapshot. Called with c.mu held (or before start).
void Monitor::Publish(Cluster& c, TimePoint now) {
  auto snap = std::make_shared<ClusterSnapshot>();
  snap->built_at = now;
  router::ClusterView& view = snap->view;
  view.name = c.config.name;
  view.engine = c.config.engine;
  view.probe_interval = config_->probe_interval;
  view.primary = c.last_primary;
  bool primary_up = c.last_primary >= 0;
  if (!c.history.empty()) {
    snap->history_latest = router::ToString(c.history.latest());
    snap->history_size = c.history.size();
  }

  const Sample* primary_sample =
      primary_up ? &c.servers[static_cast<size_t>(c.last_primary)]->last : nullptr;
  int claims = 0;
  for (size_t i = 0; i < c.servers.size(); ++i) {
    Server& s = *c.servers[i];
    router::ServerView v;
    ServerStatus st;
    v.name = s.config.name;
    v.host = s.config.host;
    v.port = s.config.port;
    v.weight = s.config.weight;
    v.up = s.probed && s.last.ok;
    st.probed = s.probed;
    st.last_error_kind = s.last.ok ? probes::ErrorKind::kNone : s.last.error_kind;
    st.last_error = s.last.ok ? "" : s.last.error;
    st.last_probe_at = s.last.received_at;
    st.last_ok_wall = s.last_ok_wall;
    if (s.last_ok) {
      const Sample& ok = *s.last_ok;
      st.last_ok_at = ok.received_at;
      // A healthy server answers every interval; one silent for longer than
      // an interval plus the probe timeout is down even if its probe overran.
      v.up_until = ok.received_at + config_->probe_interval + config_->probe_timeout;
      st.last_probe_seconds = std::chrono::duration<double>(ok.received_at - ok.sent_at).count();
      st.flavor = ok.flavor;
      st.version = ok.version;
      st.superuser = ok.superuser;
      v.role = ok.role;  // the last known role; routing also requires `up`
      if (v.up && ok.role == Role::kPrimary) ++claims;
      st.write_position = router::ToString(ok.write_position);
      if (ok.role == Role::kReplica) {
        st.replication_state = ok.replication_state;
        st.replication_error = ok.replication_error;
        st.upstream = ok.upstream;
        st.replay_paused = ok.replay_paused;
        st.replication_running = ok.replicating;
        st.replay_position = router::ToString(ok.replay_position);
        st.receive_position = router::ToString(ok.receive_position);
        st.reported_lag_seconds = ok.reported_lag_seconds;
        // A replica cannot stream from a primary that is down; then only its
        // bound (which grows) decides. Against a live primary, a replica
        // that is not streaming is broken and serves nothing. "Live" must be
        // seen after the replica said so: a dying primary drops its
        // replicas' streams up to an interval before its own probe fails,
        // and judging them broken then closed every class for a settle time.
        const bool primary_seen_since = primary_sample != nullptr && s.not_streaming_since &&
                                        primary_sample->sent_at > *s.not_streaming_since;
        v.replicating = ok.replicating || !primary_up || !primary_seen_since;
        v.replayed = ok.replay_position;
        if (!c.history.empty()) {
          st.lag_distance = router::Distance(ok.replay_position, c.history.latest());
          if (auto fresh = c.history.FreshAsOf(ok.replay_position)) {
            v.fresh_as_of = fresh;
            v.bound_known = true;
          } else {
            v.fresh_as_of = c.history.oldest();  // only a floor
          }
        }
        if (primary_sample != nullptr && !st.reported_lag_seconds) {
          for (const auto& d : primary_sample->downstream) {
            if (d.application_name == v.name) st.reported_lag_seconds = d.replay_lag_seconds;
          }
        }
      }
    }
    // Hysteresis gates see the bound just before this update (its peak) and now.
    const bool healthy = v.up && v.role == Role::kReplica && v.replicating && v.bound_known;
    const router::Duration bound = v.fresh_as_of ? now - *v.fresh_as_of : router::Duration::max();
    const router::Duration peak = s.fresh_as_of ? std::max(bound, now - *s.fresh_as_of) : bound;
    // Until the server and the primary have both been sampled once, nothing
    // was observed: leave the gates as they are, so that replicas found fresh
    // at start serve at once instead of settling first.
    if (s.probed && !c.history.empty()) {
      for (size_t k = 0; k < config_->classes.size(); ++k) {
        router::UpdateGate(s.gates[k], config_->classes[k], healthy, peak, bound, now);
      }
    }
    s.fresh_as_of = v.bound_known ? v.fresh_as_of : std::nullopt;
    v.gates = s.gates;
    view.servers.push_back(std::move(v));
    snap->status.push_back(std::move(st));
  }
  view.primaries_claimed = claims;
  if (claims > 1) {
    snap->primary_problem =
        "split brain: " + std::to_string(claims) + " servers claim to be primary";
  } else if (claims == 0) {
    snap->primary_problem = "no reachable server is primary";
  }
  std::shared_ptr<const ClusterSnapshot> old;  // released outside the lock
  {
    std::lock_guard<std::mutex> lock(c.snapshot_mu);
    old = std::exchange(c.snapshot, std::move(snap));
  }
}

}  // namespace lagrouter::daemon
