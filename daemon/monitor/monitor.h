// The monitor is the shell around the pure parts: the ProbeSchedule says when
// to probe each server, the ClusterState folds the samples in. The shell owns
// the threads (a scheduler ticking each cluster, one worker per server), reads
// the clock and hands it in, publishes the snapshots and logs what changed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/monitor/cluster_state.h"
#include "daemon/monitor/probe_observer.h"
#include "daemon/monitor/probe_schedule.h"
#include "daemon/monitor/snapshot.h"
#include "probes/probe.h"

namespace lagrouter::daemon {

using ProbeFactory =
    std::function<std::unique_ptr<probes::Probe>(const ClusterConfig&, const ServerConfig&)>;

// The real probes, by engine.
ProbeFactory RealProbes();

class Monitor final : public SnapshotSource, public ProbeDemand {
 public:
  // `observer` (may be null) hears of every probe. `seed` seeds each
  // cluster's random source (the backoff's jitter); tests fix it.
  Monitor(std::shared_ptr<const Config> config, ProbeObserver* observer, ProbeFactory factory,
          uint64_t seed = std::random_device{}());
  ~Monitor() override;
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  void Start();
  void Stop();

  size_t cluster_count() const override { return clusters_.size(); }
  // An atomic load of the latest snapshot: never waits for a probe.
  std::shared_ptr<const ClusterSnapshot> Snapshot(size_t cluster) const override;
  uint64_t Generation(size_t cluster) const override;
  bool Ready() const override { return ready_.load(std::memory_order_acquire); }

  void Demand(size_t cluster, const std::vector<size_t>& servers, bool primary_first,
              router::TimePoint since) override;
  // Called with the cluster's index after each snapshot it publishes, on the
  // probe's thread. Set before Start().
  void OnPublish(std::function<void(size_t cluster)> listener) {
    on_publish_ = std::move(listener);
  }

 private:
  struct Cluster;

  void SchedulerLoop();
  void WorkerLoop(Cluster& c, size_t index);
  // Folds in a sample and publishes; returns the elected primary (or -1).
  int OnSample(Cluster& c, size_t index, probes::Sample sample, bool on_demand);
  // Logs an event once, when it happens; first probes count towards Ready().
  void OnEvent(const ClusterState& state, const ClusterEvent& event);

  std::shared_ptr<const Config> config_;
  ProbeObserver* observer_;
  ProbeFactory factory_;
  std::function<void(size_t)> on_publish_;
  std::vector<std::unique_ptr<Cluster>> clusters_;
  std::thread scheduler_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::atomic<bool> ready_{false};
  std::atomic<size_t> unprobed_{0};
};

}  // namespace lagrouter::daemon
