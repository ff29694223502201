// Clusters driven by scripted samples instead of probes: the daemon's own
// ClusterState folds them, so the API, the metrics and the fuzzers see real
// snapshots at exactly the times a test chooses. No thread, no clock, no sleep.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/api/http_api.h"
#include "daemon/metrics/metrics.h"
#include "daemon/monitor/cluster_state.h"
#include "tests/support/config_text.h"

namespace lagrouter::test_support {

using router::TimePoint;

// A successful probe of a server in `role`, answered at once.
inline probes::Sample OkSample(router::Role role, TimePoint sent) {
  probes::Sample s;
  s.ok = true;
  s.sent_at = sent;
  s.received_at = sent;
  s.role = role;
  s.flavor = "scripted";
  return s;
}

// A primary's answer: its write position, sampled at `sent`.
inline probes::Sample PrimarySample(router::Position write, TimePoint sent) {
  probes::Sample s = OkSample(router::Role::kPrimary, sent);
  s.write_position = std::move(write);
  return s;
}

// A replica's answer: what it has replayed, and whether its stream runs.
inline probes::Sample ReplicaSample(router::Position replayed, TimePoint sent,
                                    bool streaming = true) {
  probes::Sample s = OkSample(router::Role::kReplica, sent);
  s.replicating = streaming;
  s.replication_state = streaming ? "streaming" : "stopped";
  s.replay_position = replayed;
  s.receive_position = std::move(replayed);
  return s;
}

// A failed probe.
inline probes::Sample FailedSample(TimePoint sent, std::string error = "connection refused",
                                   probes::ErrorKind kind = probes::ErrorKind::kConnect) {
  probes::Sample s;
  s.sent_at = sent;
  s.received_at = sent;
  s.error_kind = kind;
  s.error = std::move(error);
  return s;
}

// Every configured cluster as a ClusterState fed by the test.
class ScriptedClusters final : public daemon::SnapshotSource {
 public:
  explicit ScriptedClusters(const daemon::Config& config) {
    for (const auto& c : config.clusters) {
      states_.push_back(std::make_unique<daemon::ClusterState>(c, config));
      snapshots_.push_back(states_.back()->Initial());
      generations_.push_back(SnapshotSource::kUntracked + 1);
      unprobed_ += c.servers.size();
    }
  }

  // Folds a sample of `server` of `cluster` in at `now`; returns what changed.
  std::vector<daemon::ClusterEvent> Apply(std::string_view cluster, std::string_view server,
                                          probes::Sample sample, TimePoint now) {
    const size_t c = ClusterIndex(cluster);
    daemon::ClusterState& state = *states_[c];
    const auto& servers = state.config().servers;
    size_t s = 0;
    while (s < servers.size() && servers[s].name != server) ++s;
    if (s == servers.size()) throw std::invalid_argument("no server " + std::string(server));
    auto update = state.Apply(s, std::move(sample), now, std::chrono::system_clock::now());
    snapshots_[c] = std::move(update.snapshot);
    ++generations_[c];
    for (const auto& e : update.events) {
      if (e.kind == daemon::ClusterEvent::Kind::kFirstProbe) --unprobed_;
    }
    return std::move(update.events);
  }

  const daemon::ClusterState& state(std::string_view cluster) const {
    return *states_[ClusterIndex(cluster)];
  }

  size_t cluster_count() const override { return states_.size(); }
  std::shared_ptr<const daemon::ClusterSnapshot> Snapshot(size_t cluster) const override {
    return snapshots_[cluster];
  }
  uint64_t Generation(size_t cluster) const override { return generations_[cluster]; }
  bool Ready() const override { return unprobed_ == 0; }

 private:
  size_t ClusterIndex(std::string_view name) const {
    for (size_t i = 0; i < states_.size(); ++i) {
      if (states_[i]->config().name == name) return i;
    }
    throw std::invalid_argument("no cluster " + std::string(name));
  }

  std::vector<std::unique_ptr<daemon::ClusterState>> states_;
  std::vector<std::shared_ptr<const daemon::ClusterSnapshot>> snapshots_;
  std::vector<uint64_t> generations_;
  size_t unprobed_ = 0;
};

// A configuration of cluster "shop" (PostgreSQL) with the servers of `view`
// and the one class `cls`.
inline std::shared_ptr<const daemon::Config> OneClassConfig(const router::ClusterView& view,
                                                            const router::QueryClass& cls) {
  ClusterSpec spec("shop", "postgres");
  for (const auto& s : view.servers) spec.Server(s.name, 1);
  ConfigText text;
  text.Cluster(spec).Class(cls.name, std::to_string(router::ToMillis(cls.max_staleness)) + "ms");
  if (cls.strict_replicas) text.ClassSet(cls.name, "strict_replicas", true);
  auto parsed = daemon::ParseConfig(text, "test.toml");
  if (!parsed) throw std::invalid_argument(parsed.error());
  return std::make_shared<const daemon::Config>(std::move(parsed).value());
}

// Serves one fixed view of one cluster, as the monitor would publish it;
// `primary_sampled_at`: when its primary's newest sample was taken.
class FixedView final : public daemon::SnapshotSource {
 public:
  explicit FixedView(router::ClusterView view,
                     std::optional<TimePoint> primary_sampled_at = std::nullopt) {
    auto snap = std::make_shared<daemon::ClusterSnapshot>();
    snap->status.resize(view.servers.size());
    snap->view = std::move(view);
    snap->history_latest_at = primary_sampled_at;
    snapshot_ = std::move(snap);
  }
  size_t cluster_count() const override { return 1; }
  std::shared_ptr<const daemon::ClusterSnapshot> Snapshot(size_t) const override {
    return snapshot_;
  }
  bool Ready() const override { return true; }

 private:
  std::shared_ptr<const daemon::ClusterSnapshot> snapshot_;
};

// The config -> metrics -> clusters -> API set-up of a daemon, without a
// socket or a probe: requests go straight to HttpApi::Handle.
class ApiUnderTest {
 public:
  explicit ApiUnderTest(const std::string& toml)
      : config_(Parse(toml)),
        metrics_(*config_, process_),
        clusters_(*config_),
        api_(config_, clusters_, metrics_) {}

  daemon::ApiResponse Get(const std::string& path, const std::string& query = "",
                          const std::string& method = "GET",
                          const std::string& authorization = "") {
    daemon::HttpRequest r;
    r.method = method;
    r.path = path;
    r.params = daemon::ParseQuery(query);
    r.authorization = authorization;
    return api_.Handle(r);
  }

  const daemon::Config& config() const { return *config_; }
  ScriptedClusters& clusters() { return clusters_; }
  daemon::Metrics& metrics() { return metrics_; }
  daemon::HttpApi& api() { return api_; }

 private:
  static std::shared_ptr<const daemon::Config> Parse(const std::string& toml) {
    auto parsed = daemon::ParseConfig(toml, "test.toml");
    if (!parsed) throw std::invalid_argument(parsed.error());
    return std::make_shared<const daemon::Config>(std::move(parsed).value());
  }

  std::shared_ptr<const daemon::Config> config_;
  daemon::ProcessCounters process_;
  daemon::Metrics metrics_;
  ScriptedClusters clusters_;
  daemon::HttpApi api_;
};

}  // namespace lagrouter::test_support
