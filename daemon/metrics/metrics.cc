#include "daemon/metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <limits>
#include <sstream>

#include "daemon/version.h"

namespace lagrouter::daemon {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Every router::Reason, for the per-reason check counters.
constexpr size_t kReasons = static_cast<size_t>(router::Reason::kFreshReplica) + 1;
constexpr router::Outcome kOutcomes[] = {
    router::Outcome::kFreshReplica, router::Outcome::kPrimaryClass,
    router::Outcome::kFallbackPrimary, router::Outcome::kNoEligibleServer,
    router::Outcome::kProvenReplica};
constexpr probes::ErrorKind kErrorKinds[] = {probes::ErrorKind::kConnect,
                                             probes::ErrorKind::kTimeout, probes::ErrorKind::kQuery,
                                             probes::ErrorKind::kParse, probes::ErrorKind::kAuth};

// A histogram series from the count of each bucket (not cumulative; the
// last one is +Inf) and the sum in nanoseconds.
template <size_t N, typename CountOf>
ClientMetric HistogramOf(const std::array<double, N>& bounds, CountOf count_of, uint64_t sum_ns) {
  ClientMetric m;
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= N; ++b) {
    cumulative += count_of(b);
    ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound = b < N ? bounds[b] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(bucket);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = static_cast<double>(sum_ns) / 1e9;
  return m;
}

const char* RoleOf(router::Outcome o) {
  switch (o) {
    case router::Outcome::kFreshReplica:
    case router::Outcome::kProvenReplica: return "replica";
    case router::Outcome::kPrimaryClass:
    case router::Outcome::kFallbackPrimary: return "primary";
    case router::Outcome::kNoEligibleServer: break;
  }
  return "none";
}

MetricFamily Family(MetricType type, const char* name, const char* help) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}
MetricFamily Gauge(const char* name, const char* help) {
  return Family(MetricType::Gauge, name, help);
}
MetricFamily Counter(const char* name, const char* help) {
  return Family(MetricType::Counter, name, help);
}

// A sample of a gauge or a counter family, as the family's type says.
void Add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  (f.type == MetricType::Counter ? m.counter.value : m.gauge.value) = value;
  f.metric.push_back(std::move(m));
}

}  // namespace

Metrics::Metrics(const Config& config, const ProcessCounters& process,
                 const DiscoveryBoards* discovery)
    : config_(config),
      process_(process),
      discovery_(discovery),
      registry_(std::make_shared<prometheus::Registry>()) {
  bad_requests_ = &prometheus::BuildCounter()
                       .Name("lagrouter_http_bad_requests_total")
                       .Help("Requests refused with 400, by error code.")
                       .Register(*registry_);
  denied_requests_ = &prometheus::BuildCounter()
                          .Name("lagrouter_http_denied_requests_total")
                          .Help(
                              "Requests refused with 401 or 403, by reason and client (\"\" "
                              "when no valid token was given).")
                          .Register(*registry_);
  check_requests_ = &prometheus::BuildCounter()
                         .Name("lagrouter_check_requests_total")
                         .Help(
                             "/v1/check answers by cluster, class and reason (fresh_replica and "
                             "primary pass; near_limit: failed by the class's check_margin).")
                         .Register(*registry_);
  wait_series_ = config_.clusters.size() * config_.classes.size();
  waits_ = std::make_unique<std::array<std::atomic<uint64_t>, 3>[]>(wait_series_);
  for (size_t i = 0; i < wait_series_; ++i) {
    for (auto& n : waits_[i]) n.store(0);
  }
  wait_hist_ = std::make_unique<WaitCounts[]>(config_.clusters.size());
  checks_ = std::vector<std::atomic<prometheus::Counter*>>(config_.clusters.size() *
                                                           config_.classes.size() * kReasons);
  for (const auto& c : config_.clusters) {
    probe_counts_.push_back(std::make_unique<ProbeCounts[]>(c.servers.size()));
  }
  // One slot per configured client, or one "anonymous" slot when auth is off.
  const size_t slots = config_.clients.empty() ? 1 : config_.clients.size();
  for (size_t cl = 0; cl < slots; ++cl) {
    const ClientConfig* client = config_.clients.empty() ? nullptr : &config_.clients[cl];
    for (const auto& c : config_.clusters) {
      for (const auto& k : config_.classes) {
        const bool allowed =
            !client || (client->AllowsCluster(c.name) && client->AllowsClass(k.name));
        route_allowed_.insert(route_allowed_.end(), std::size(kOutcomes), allowed);
      }
    }
  }
  route_shards_ = std::min<size_t>(std::max(config_.http_threads, 1), kShards);
  for (size_t s = 0; s < route_shards_; ++s) {
    RouteShard& shard = shards_[s];
    shard.answers = std::make_unique<std::atomic<uint64_t>[]>(route_allowed_.size());
    for (size_t i = 0; i < route_allowed_.size(); ++i) shard.answers[i].store(0);
  }
}

Metrics::RouteShard& Metrics::ThisThreadsShard() {
  // Threads take shards in turn, once: with no more request threads than
  // shards in use, no two share one (any other thread shares one; the
  // counters are atomic).
  static std::atomic<size_t> next{0};
  thread_local const size_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return shards_[mine % route_shards_];
}

void Metrics::ObserveProbe(size_t cluster, size_t server, double seconds, probes::ErrorKind error) {
  static_assert(std::size(kErrorKinds) == kProbeErrorKinds);
  ProbeCounts& counts = probe_counts_[cluster][server];
  size_t b = 0;
  while (b < kProbeBuckets.size() && seconds > kProbeBuckets[b]) ++b;
  counts.buckets[b].fetch_add(1, std::memory_order_relaxed);
  counts.sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
  for (size_t k = 0; k < std::size(kErrorKinds); ++k) {
    if (kErrorKinds[k] == error) counts.errors[k].fetch_add(1, std::memory_order_relaxed);
  }
}

void Metrics::CountRoute(int client, size_t cluster, size_t klass, router::Outcome outcome) {
  const size_t slot = client < 0 ? 0 : static_cast<size_t>(client);
  const size_t i = ((slot * config_.clusters.size() + cluster) * config_.classes.size() + klass) *
                       std::size(kOutcomes) +
                   static_cast<size_t>(outcome);
  if (i >= route_allowed_.size() || !route_allowed_[i]) return;
  ThisThreadsShard().answers[i].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountCheck(size_t cluster, size_t klass, router::Reason reason) {
  const size_t i =
      (cluster * config_.classes.size() + klass) * kReasons + static_cast<size_t>(reason);
  if (i >= checks_.size()) return;
  prometheus::Counter* c = checks_[i].load(std::memory_order_acquire);
  if (c == nullptr) {
    std::lock_guard lock(checks_mu_);
    c = checks_[i].load(std::memory_order_relaxed);
    if (c == nullptr) {
      c = &check_requests_->Add({{"cluster", config_.clusters[cluster].name},
                                 {"class", config_.classes[klass].name},
                                 {"reason", router::ReasonName(reason)}});
      checks_[i].store(c, std::memory_order_release);
    }
  }
  c->Increment();
}

void Metrics::CountWaitStarted(size_t cluster, size_t klass) {
  const size_t i = cluster * config_.classes.size() + klass;
  if (i < wait_series_) waits_[i][0].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountWaitFinished(size_t cluster, size_t klass, bool replica, double seconds) {
  const size_t i = cluster * config_.classes.size() + klass;
  if (i < wait_series_) waits_[i][replica ? 1 : 2].fetch_add(1, std::memory_order_relaxed);
  if (cluster >= config_.clusters.size()) return;
  WaitCounts& h = wait_hist_[cluster];
  // The first bucket whose bound is at least the value (le), else +Inf.
  const size_t b = static_cast<size_t>(
      std::lower_bound(kWaitBuckets.begin(), kWaitBuckets.end(), seconds) - kWaitBuckets.begin());
  h.buckets[b].fetch_add(1, std::memory_order_relaxed);
  h.sum_ns.fetch_add(static_cast<uint64_t>(std::max(0.0, seconds) * 1e9),
                     std::memory_order_relaxed);
}

std::vector<MetricFamily> Metrics::WaitFamilies() const {
  auto waits = Counter("lagrouter_route_waits_total",
                       "/v1/route requests that waited for an on-demand probe, by cluster, "
                       "class and result: started, replica (a replica qualified in time), "
                       "fallback (the wait ran out: the class's fallback answered).");
  MetricFamily seconds;
  seconds.name = "lagrouter_route_wait_seconds";
  seconds.help = "How long /v1/route requests that waited were parked.";
  seconds.type = MetricType::Histogram;
  const char* results[] = {"started", "replica", "fallback"};
  for (size_t c = 0; c < config_.clusters.size(); ++c) {
    const std::string& cluster = config_.clusters[c].name;
    const WaitCounts& h = wait_hist_[c];
    ClientMetric m = HistogramOf(
        kWaitBuckets, [&h](size_t b) { return h.buckets[b].load(std::memory_order_relaxed); },
        h.sum_ns.load(std::memory_order_relaxed));
    m.label = {{"cluster", cluster}};
    seconds.metric.push_back(std::move(m));
    for (size_t k = 0; k < config_.classes.size(); ++k) {
      const auto& counts = waits_[c * config_.classes.size() + k];
      for (size_t r = 0; r < counts.size(); ++r) {
        // In name order, as prometheus-cpp writes the labels of the others.
        Add(waits,
            {{"class", config_.classes[k].name}, {"cluster", cluster}, {"result", results[r]}},
            static_cast<double>(counts[r].load(std::memory_order_relaxed)));
      }
    }
  }
  std::vector<MetricFamily> out;
  out.push_back(std::move(waits));
  out.push_back(std::move(seconds));
  return out;
}

void Metrics::CountDenied(std::string_view reason, std::string_view client) {
  std::lock_guard<std::mutex> lock(bad_mu_);  // rare path; labels bounded by reasons x clients
  denied_requests_->Add({{"reason", std::string(reason)}, {"client", std::string(client)}})
      .Increment();
}

void Metrics::ObserveRouteDuration(double seconds) {
  // Lock-free: prometheus::Histogram takes a mutex per observation, which
  // every route request would contend on.
  size_t b = 0;
  while (b < kRouteBuckets.size() && seconds > kRouteBuckets[b]) ++b;
  RouteShard& shard = ThisThreadsShard();
  shard.buckets[b].fetch_add(1, std::memory_order_relaxed);
  shard.sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void Metrics::CountBadRequest(std::string_view error) {
  std::lock_guard<std::mutex> lock(bad_mu_);  // rare path; Family::Add is keyed by labels
  bad_requests_->Add({{"error", std::string(error)}}).Increment();
}

std::vector<MetricFamily> SnapshotCollector::Collect() const {
  const auto now = router::Clock::now();
  auto lag = Gauge("lagrouter_replica_lag_seconds",
                   "Guaranteed staleness bound of a replica: its data is at most this old. Grows "
                   "with the clock while no newer primary position is confirmed on it.");
  auto lag_bytes = Gauge("lagrouter_replica_lag_bytes",
                         "WAL bytes between the primary's latest sampled position and the "
                         "replica's replay position (PostgreSQL; for people, not routing).");
  auto lag_tx = Gauge("lagrouter_replica_lag_transactions",
                      "GTID transactions of the primary's latest sampled position missing on "
                      "the replica (MySQL/MariaDB; for people, not routing).");
  auto reported = Gauge("lagrouter_replica_reported_lag_seconds",
                        "The engine's own lag figure (PostgreSQL replay_lag, MySQL "
                        "Seconds_Behind_Source); absent when the engine reports NULL.");
  auto up = Gauge("lagrouter_server_up", "1 when the latest probe of the server succeeded.");
  auto is_primary = Gauge("lagrouter_server_is_primary", "1 when the server is up and primary.");
  auto running = Gauge("lagrouter_replication_running",
                       "1 when a replica's replication stream runs (WAL receiver streaming; IO "
                       "thread running).");
  auto paused = Gauge("lagrouter_replica_replay_paused", "1 when replay is paused on a replica.");
  auto last_ok = Gauge("lagrouter_last_successful_probe_timestamp_seconds",
                       "Unix time of the latest successful probe of the server.");
  auto eligible =
      Gauge("lagrouter_class_eligible_replicas", "Replicas that may serve the class right now.");
  auto on_demand = Counter("lagrouter_on_demand_probes_total",
                           "Probes of the server asked for by waiting /v1/route requests, on top "
                           "of the schedule (at most [on_demand] probes_per_second).");
  auto primaries = Gauge("lagrouter_cluster_primaries",
                         "Servers claiming the primary role (1 normal, 0 none, >1 split brain).");
  for (size_t ci = 0; ci < source_.cluster_count(); ++ci) {
    const auto snap = source_.Snapshot(ci);
    const auto& view = snap->view;
    const bool postgres = view.engine == router::Engine::kPostgres;
    for (size_t i = 0; i < view.servers.size(); ++i) {
      const auto& v = view.servers[i];
      const auto& st = snap->status[i];
      std::vector<ClientMetric::Label> l = {{"cluster", view.name}, {"server", v.name}};
      const bool server_up = router::UpAt(v, now);
      Add(up, l, server_up ? 1 : 0);
      Add(is_primary, l, server_up && v.role == router::Role::kPrimary ? 1 : 0);
      Add(on_demand, l, static_cast<double>(st.on_demand_probes));
      if (st.last_ok_wall) {
        Add(last_ok, l, std::chrono::duration<double>(st.last_ok_wall->time_since_epoch()).count());
      }
      if (v.role != router::Role::kReplica) continue;
      Add(running, l, server_up && st.replication_running ? 1 : 0);
      if (postgres) Add(paused, l, st.replay_paused ? 1 : 0);
      if (const auto bound = router::StalenessAt(v.fresh_as_of, now)) {
        Add(lag, l, router::ToSeconds(*bound));  // known, or only a floor
      }
      if (st.lag_distance)
        Add(postgres ? lag_bytes : lag_tx, l, static_cast<double>(*st.lag_distance));
      if (st.reported_lag_seconds) Add(reported, l, *st.reported_lag_seconds);
    }
    Add(primaries, {{"cluster", view.name}}, view.primaries_claimed);
    for (size_t k = 0; k < config_.classes.size(); ++k) {
      const auto& cls = config_.classes[k];
      int n = 0;
      for (size_t i = 0; i < view.servers.size(); ++i) {
        n += router::Eligible(view, i, cls, k, now) ? 1 : 0;
      }
      Add(eligible, {{"cluster", view.name}, {"class", cls.name}}, n);
    }
  }
  auto ready = Gauge("lagrouter_ready", "1 once a full probe cycle is done.");
  Add(ready, {}, source_.Ready() ? 1 : 0);
  return {std::move(lag),      std::move(lag_bytes),  std::move(lag_tx),    std::move(reported),
          std::move(up),       std::move(is_primary), std::move(running),   std::move(paused),
          std::move(last_ok),  std::move(eligible),   std::move(primaries), std::move(ready),
          std::move(on_demand)};
}

MetricFamily Metrics::RouteDuration() const {
  MetricFamily f;
  f.name = "lagrouter_route_duration_seconds";
  f.help = "Time to answer /v1/route, from request parsed to answer built.";
  f.type = MetricType::Histogram;
  uint64_t sum_ns = 0;
  for (const auto& shard : RouteShards()) sum_ns += shard.sum_ns.load(std::memory_order_relaxed);
  f.metric.push_back(HistogramOf(
      kRouteBuckets,
      [this](size_t b) {
        uint64_t n = 0;
        for (const auto& shard : RouteShards())
          n += shard.buckets[b].load(std::memory_order_relaxed);
        return n;
      },
      sum_ns));
  return f;
}

std::vector<MetricFamily> Metrics::ProbeFamilies() const {
  MetricFamily duration;
  duration.name = "lagrouter_probe_duration_seconds";
  duration.help = "Time one probe of a server took (connect if needed, query, reply).";
  duration.type = MetricType::Histogram;
  auto errors = Counter("lagrouter_probe_errors_total",
                        "Failed probes by kind: connect, timeout, query, parse, auth.");
  for (size_t c = 0; c < config_.clusters.size(); ++c) {
    const auto& cluster = config_.clusters[c];
    for (size_t s = 0; s < cluster.servers.size(); ++s) {
      const ProbeCounts& counts = probe_counts_[c][s];
      const std::string& server = cluster.servers[s].name;
      ClientMetric m = HistogramOf(
          kProbeBuckets,
          [&counts](size_t b) { return counts.buckets[b].load(std::memory_order_relaxed); },
          counts.sum_ns.load(std::memory_order_relaxed));
      m.label = {{"cluster", cluster.name}, {"server", server}};
      duration.metric.push_back(std::move(m));
      for (size_t k = 0; k < std::size(kErrorKinds); ++k) {
        Add(errors,
            {{"cluster", cluster.name},
             {"server", server},
             {"kind", probes::ErrorKindName(kErrorKinds[k])}},
            static_cast<double>(counts.errors[k].load(std::memory_order_relaxed)));
      }
    }
  }
  std::vector<MetricFamily> out;
  out.push_back(std::move(duration));
  out.push_back(std::move(errors));
  return out;
}

MetricFamily Metrics::RouteRequests() const {
  auto f = Counter("lagrouter_route_requests_total",
                   "Route answers by client, cluster, class, role served and outcome (client "
                   "\"anonymous\" when no [[client]] is configured).");
  const size_t outcomes = std::size(kOutcomes);
  const size_t classes = config_.classes.size();
  const size_t clusters = config_.clusters.size();
  for (size_t i = 0; i < route_allowed_.size(); ++i) {
    if (!route_allowed_[i]) continue;
    uint64_t n = 0;
    for (const auto& shard : RouteShards()) n += shard.answers[i].load(std::memory_order_relaxed);
    const router::Outcome o = kOutcomes[i % outcomes];
    const size_t k = i / outcomes % classes;
    const size_t c = i / outcomes / classes % clusters;
    const size_t slot = i / outcomes / classes / clusters;
    // In name order, as prometheus-cpp writes the labels of the others.
    Add(f,
        {{"class", config_.classes[k].name},
         {"client", config_.clients.empty() ? "anonymous" : config_.clients[slot].name},
         {"cluster", config_.clusters[c].name},
         {"outcome", router::OutcomeName(o)},
         {"role", RoleOf(o)}},
        static_cast<double>(n));
  }
  return f;
}

// What the configuration and the process say, the same at every scrape
// but for the counters.
std::vector<MetricFamily> Metrics::ProcessFamilies() const {
  auto max_staleness =
      Gauge("lagrouter_class_max_staleness_seconds", "The class's configured staleness limit.");
  for (const auto& cls : config_.classes) {
    Add(max_staleness, {{"class", cls.name}}, router::ToSeconds(cls.max_staleness));
  }
  auto build = Gauge("lagrouter_build_info", "lagrouter's version; always 1.");
  Add(build, {{"version", kVersion}}, 1);
  auto reloads = Counter("lagrouter_config_reloads_total",
                         "SIGHUP configuration reloads since start, by result (applied or "
                         "rejected).");
  Add(reloads, {{"result", "applied"}}, static_cast<double>(process_.reloads_applied.load()));
  Add(reloads, {{"result", "rejected"}}, static_cast<double>(process_.reloads_rejected.load()));
  auto accept_errors = Counter("lagrouter_http_accept_errors_total",
                               "Connections the API could not accept (out of file descriptors, "
                               "most likely); accepting pauses 100 ms after each.");
  Add(accept_errors, {}, static_cast<double>(process_.accept_errors.load()));
  std::vector<MetricFamily> out = {std::move(max_staleness), std::move(build), std::move(reloads),
                                   std::move(accept_errors), RouteDuration(),  RouteRequests()};
  for (auto& f : DiscoveryFamilies()) out.push_back(std::move(f));
  for (auto& f : ProbeFamilies()) out.push_back(std::move(f));
  for (auto& f : WaitFamilies()) out.push_back(std::move(f));
  return out;
}

// Member discovery (clusters with discovery = "patroni"): what it last saw.
// Its counters live as long as the process, like the reload counters.
std::vector<MetricFamily> Metrics::DiscoveryFamilies() const {
  auto ok = Gauge("lagrouter_discovery_ok",
                  "1 when the HA manager's last answer listed the cluster's members completely; "
                  "0 while the last known members are kept (manager unreachable or answering "
                  "partly).");
  auto members = Gauge("lagrouter_discovery_members", "Members of the cluster lagrouter probes.");
  auto last_ok = Gauge("lagrouter_discovery_last_success_timestamp_seconds",
                       "Unix time of the HA manager's last complete answer.");
  auto failed = Counter("lagrouter_discovery_failed_polls_total",
                        "Polls of the HA manager that got no complete member list.");
  auto changes = Counter("lagrouter_discovery_member_changes_total",
                         "Member-set changes applied since start (members added, removed, moved).");
  for (const auto& c : config_.clusters) {
    if (discovery_ == nullptr || !c.discovery.enabled()) continue;
    const auto st = discovery_->Status(c.name);
    if (st == nullptr) continue;
    const std::vector<ClientMetric::Label> l = {{"cluster", c.name}};
    Add(ok, l, st->state == DiscoveryState::kOk ? 1 : 0);
    Add(members, l, static_cast<double>(st->members.size()));
    if (st->last_ok_wall) {
      Add(last_ok, l, std::chrono::duration<double>(st->last_ok_wall->time_since_epoch()).count());
    }
    Add(failed, l, static_cast<double>(st->failed_polls));
    Add(changes, l, static_cast<double>(st->member_changes));
  }
  if (ok.metric.empty()) return {};
  return {std::move(ok), std::move(members), std::move(last_ok), std::move(failed),
          std::move(changes)};
}

std::string Metrics::Render(const SnapshotSource& source) const {
  std::vector<MetricFamily> families = registry_->Collect();
  auto append = [&families](std::vector<MetricFamily> more) {
    for (auto& f : more) families.push_back(std::move(f));
  };
  append(SnapshotCollector(config_, source).Collect());
  append(ProcessFamilies());
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace lagrouter::daemon
