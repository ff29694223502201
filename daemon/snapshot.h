// What the monitor publishes: immutable per-cluster snapshots, swapped in by
// atomic pointer so a route request never waits for a probe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "probes/probe.h"
#include "router/router.h"

namespace lagrouter::daemon {

// What /v1/status and /metrics show of a server beyond what routing needs.
struct ServerStatus {
  bool probed = false;  // at least one probe finished
  probes::ErrorKind last_error_kind = probes::ErrorKind::kNone;
  std::string last_error;
  router::TimePoint last_probe_at{};
  router::TimePoint last_ok_at{};
  std::optional<std::chrono::system_clock::time_point> last_ok_wall;
  double last_probe_seconds = 0;
  std::string flavor;
  std::string version;
  bool superuser = false;
  std::string replication_state;
  std::string replication_error;
  std::string upstream;
  bool replay_paused = false;
  bool replication_running = false;  // as the engine says (IO thread / WAL receiver)
  std::optional<double> reported_lag_seconds;
  std::optional<uint64_t> lag_distance;  // WAL bytes (postgres) / transactions (GTID)
  std::string replay_position;
  std::string receive_position;
  std::string write_position;
};

struct ClusterSnapshot {
  router::ClusterView view;
  std::vector<ServerStatus> status;  // indexed like view.servers
  std::string primary_problem;       // empty, or why no primary may be used
  std::string history_latest;        // the primary's latest sampled position
  size_t history_size = 0;
  router::TimePoint built_at{};
};

}  // namespace lagrouter::daemon
