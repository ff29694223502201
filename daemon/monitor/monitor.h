// The monitor is the shell around the pure parts: the ProbeSchedule says when
// to probe each server, the ClusterState folds the samples in. The probes run
// on a few event loops (ProbeLoop), each owning whole clusters; the monitor
// answers their questions (what next, what a sample means), publishes the
// snapshots and logs what changed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/monitor/cluster_state.h"
#include "daemon/monitor/probe_loop.h"
#include "daemon/monitor/probe_observer.h"
#include "daemon/monitor/probe_schedule.h"
#include "daemon/monitor/snapshot.h"
#include "probes/probe.h"

namespace lagrouter::daemon {

using ProbeFactory =
    std::function<std::unique_ptr<probes::Probe>(const ClusterConfig&, const ServerConfig&)>;

// The real probes, by engine.
ProbeFactory RealProbes();

// How many event loops drive the probes: about one per core, never more than
// there are clusters (a loop owns whole clusters).
size_t DefaultProbeLoops(size_t clusters);

class Monitor final : public SnapshotSource, public ProbeDemand, private ProbeCycle {
 public:
  // `observer` (may be null) hears of every probe. `seed` seeds each
  // cluster's random source (the backoff's jitter); tests fix it. `loops`:
  // the number of probe loops (0: DefaultProbeLoops).
  Monitor(std::shared_ptr<const Config> config, ProbeObserver* observer, ProbeFactory factory,
          uint64_t seed = std::random_device{}(), size_t loops = 0);
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

  void Demand(size_t cluster, const router::ProbePlan& plan, router::TimePoint since) override;
  // Called with the cluster's index after each snapshot it publishes, on the
  // probe loop's thread (keep it short: the loop's other probes wait). Set
  // before Start().
  void OnPublish(std::function<void(size_t cluster)> listener) {
    on_publish_ = std::move(listener);
  }

 private:
  struct Cluster;

  // ProbeCycle, on the cluster's loop.
  void Tick(size_t cluster) override;
  ProbeSchedule::Step Next(size_t cluster, size_t server, router::TimePoint now) override;
  void Done(size_t cluster, size_t server, const ProbeSchedule::Step& step,
            router::TimePoint started, router::TimePoint finished, probes::Sample sample) override;

  // Folds in a sample and publishes; returns the elected primary (or -1).
  int OnSample(Cluster& c, size_t index, probes::Sample sample, bool on_demand);
  // Logs an event once, when it happens; first probes count towards Ready().
  void OnEvent(const ClusterState& state, const ClusterEvent& event);

  std::shared_ptr<const Config> config_;
  ProbeObserver* observer_;
  ProbeFactory factory_;
  std::function<void(size_t)> on_publish_;
  std::vector<std::unique_ptr<Cluster>> clusters_;
  std::vector<std::unique_ptr<ProbeLoop>> loops_;  // cluster i runs on loop i % size
  std::atomic<bool> ready_{false};
  std::atomic<size_t> unprobed_{0};
};

}  // namespace lagrouter::daemon
