// The monitor probes every server on its own thread at each tick of the
// scheduler, folds the samples into each cluster's position history, and
// publishes a fresh ClusterSnapshot after every sample.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config.h"
#include "daemon/snapshot.h"
#include "probes/probe.h"
#include "router/history.h"

namespace lagrouter::daemon {

class Metrics;

using ProbeFactory =
    std::function<std::unique_ptr<probes::Probe>(const ClusterConfig&, const ServerConfig&)>;

// The real probes, by engine.
ProbeFactory RealProbes();

class Monitor {
 public:
  Monitor(std::shared_ptr<const Config> config, Metrics* metrics, ProbeFactory factory);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  void Start();
  void Stop();

  size_t cluster_count() const { return clusters_.size(); }
  // Never blocks on a probe: an atomic load of the latest snapshot.
  std::shared_ptr<const ClusterSnapshot> Snapshot(size_t cluster) const;
  // True once every server has finished at least one probe.
  bool Ready() const { return ready_.load(std::memory_order_acquire); }

 private:
  struct Server;
  struct Cluster;

  void SchedulerLoop();
  void WorkerLoop(Cluster& c, size_t index);
  // Folds in a sample; true when it came from the (single) primary.
  bool OnSample(Cluster& c, size_t index, probes::Sample sample);
  void Publish(Cluster& c, router::TimePoint now);

  std::shared_ptr<const Config> config_;
  Metrics* metrics_;
  ProbeFactory factory_;
  std::vector<std::unique_ptr<Cluster>> clusters_;
  std::thread scheduler_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::atomic<bool> ready_{false};
  std::atomic<size_t> unprobed_{0};
};

}  // namespace lagrouter::daemon
