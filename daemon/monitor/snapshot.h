// What the monitor publishes: immutable per-cluster snapshots, swapped in by
// pointer so a route request never waits for a probe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "probes/probe.h"
#include "router/decide.h"
#include "router/router.h"

namespace lagrouter::daemon {

// What /v1/status and /metrics show of a server beyond what routing needs.
struct ServerStatus {
  probes::ErrorKind last_error_kind = probes::ErrorKind::kNone;
  std::string last_error;
  router::TimePoint last_probe_at{};
  std::optional<std::chrono::system_clock::time_point> last_ok_wall;
  double last_probe_seconds = 0;
  // The latest successful sample (null before one), shared with the
  // ClusterState rather than copied into every snapshot: flavor, version and,
  // of a replica, its replication words and positions.
  std::shared_ptr<const probes::Sample> sample;
  bool replay_paused = false;
  bool replication_running = false;  // as the engine says (IO thread / WAL receiver)
  std::optional<double> reported_lag_seconds;
  std::optional<uint64_t> lag_distance;  // WAL bytes (postgres) / transactions (GTID)
  uint64_t on_demand_probes = 0;         // probes asked for by waiting requests, so far
  std::string write_position;            // a primary's, in text (a session's route answer)
};

struct ClusterSnapshot {
  router::ClusterView view;
  std::vector<ServerStatus> status;  // indexed like view.servers
  std::string primary_problem;       // empty, or why no primary may be used
  std::string history_latest;        // the primary's latest sampled position
  // When the primary's latest position was sampled (its probe's sent_at);
  // unset while the history is empty.
  std::optional<router::TimePoint> history_latest_at;
  size_t history_size = 0;
};

// Where the API and the metrics read snapshots from: the Monitor, or a test's
// scripted clusters.
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  virtual size_t cluster_count() const = 0;
  // Never blocks on a probe.
  virtual std::shared_ptr<const ClusterSnapshot> Snapshot(size_t cluster) const = 0;
  // Changes whenever Snapshot(cluster) may return another snapshot, and is
  // incremented only after it does: a reader that keeps the snapshot it read
  // (a thread's cache in HttpApi) re-reads only when it changed, rather than
  // take a lock and a reference count per request. kUntracked: re-read
  // every time.
  static constexpr uint64_t kUntracked = 0;
  virtual uint64_t Generation(size_t /*cluster*/) const { return kUntracked; }
  // True once every server has finished at least one probe.
  virtual bool Ready() const = 0;
};

}  // namespace lagrouter::daemon

namespace lagrouter::daemon {

// Where requests that wait ask for probes outside the schedule: the Monitor,
// or a test's recorder.
class ProbeDemand {
 public:
  virtual ~ProbeDemand() = default;
  // Asks for one probe of each of the plan's servers of `cluster` that
  // starts at or after `since`. Coalesced: a probe already started later
  // satisfies it (one that read the position alone does not satisfy the
  // plan's visibility_of), and each server gets at most [on_demand]
  // probes_per_second. With primary_first the primary is among the servers
  // and replicas wait briefly for its sample, so their bound can count from it.
  virtual void Demand(size_t cluster, const router::ProbePlan& plan, router::TimePoint since) = 0;
};

}  // namespace lagrouter::daemon
