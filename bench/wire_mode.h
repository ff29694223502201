// scale_bench --wire: the real probes against bench/wire_responder, a process
// of its own speaking the engine's wire protocol on 127.0.0.1.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "daemon/config/config.h"
#include "daemon/monitor/monitor.h"
#include "daemon/monitor/probe_observer.h"

namespace lagrouter::bench {

// Raises RLIMIT_NOFILE's soft limit to its hard limit; an error if that is
// below `need` (one socket per server, in each process).
Result<void> RaiseFileLimit(size_t need);

// The responder, started from scale_bench's own directory; stopped (SIGTERM)
// when destroyed.
class WireResponder {
 public:
  // Starts it and waits until both ports listen. `replicas`: the rows of a
  // PostgreSQL primary's pg_stat_replication.
  static Result<std::unique_ptr<WireResponder>> Start(router::Engine engine, int replicas);
  ~WireResponder();
  WireResponder(const WireResponder&) = delete;
  WireResponder& operator=(const WireResponder&) = delete;

  int primary_port() const { return primary_port_; }
  int replica_port() const { return replica_port_; }
  // User and system CPU seconds so far, and resident memory, from /proc.
  double CpuSeconds() const;
  long RssKb() const;
  // Empty while it runs; otherwise how it ended.
  std::string Exited();

 private:
  WireResponder() = default;
  pid_t pid_ = -1;
  int primary_port_ = 0;
  int replica_port_ = 0;
};

// Points every cluster at the responder: s0 at the primary port, the other
// servers at the replica port.
void AimAt(daemon::Config& config, router::Engine engine, const WireResponder& responder);

// Counts the Monitor's finished probes, failed ones by kind, and per server
// the gap between two finished probes; forwards each to `next` (the metrics).
class ProbeCounter final : public daemon::ProbeObserver {
 public:
  ProbeCounter(const daemon::Config& config, daemon::ProbeObserver& next,
               probes::Clock::duration interval);
  void ObserveProbe(size_t cluster, size_t server, double seconds,
                    probes::ErrorKind error) override;
  // Starts counting afresh (after the warm-up).
  void Reset();

  int64_t probes() const { return probes_.load(); }
  int64_t late_cycles() const { return late_.load(); }
  int64_t max_gap_us() const { return max_gap_us_.load(); }
  int64_t failed() const;
  // "connect 3, timeout 1" (failed probes by kind), or "none".
  std::string FailedByKind() const;

 private:
  daemon::ProbeObserver& next_;
  const int64_t late_us_;                      // 1.5 intervals
  std::vector<size_t> first_;                  // per cluster: its first server's index in last_us_
  std::vector<std::atomic<int64_t>> last_us_;  // per server: when its last probe finished
  std::atomic<int64_t> probes_{0}, late_{0}, max_gap_us_{0};
  std::array<std::atomic<int64_t>, 6> failed_{};  // by ErrorKind
};

// "roles: 200 primaries, 800 replicas, 0 other; failing now: 0; replicas' bound: max 301 ms"
// from the monitor's latest snapshots: what the probes made of the replies.
std::string DescribeRoles(const daemon::Monitor& monitor);

}  // namespace lagrouter::bench
