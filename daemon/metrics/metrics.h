// Prometheus metrics. Counters and histograms live in a prometheus-cpp
// registry; gauges that follow the clock (the staleness bound grows between
// probes) are computed from the snapshots at scrape time by SnapshotCollector.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/monitor/discovery_status.h"
#include "daemon/monitor/probe_observer.h"
#include "daemon/monitor/snapshot.h"
#include "probes/probe.h"
#include "router/router.h"

namespace lagrouter::daemon {

// Counts that outlive a reload (each configuration has its own Metrics): the
// daemon's run loop owns them and hands them to each configuration.
struct ProcessCounters {
  std::atomic<uint64_t> reloads_applied{0};
  std::atomic<uint64_t> reloads_rejected{0};
  std::atomic<uint64_t> accept_errors{0};  // HttpServer::Options::accept_errors
};

// The gauges of every cluster, server and class, computed from the latest
// snapshots when scraped.
class SnapshotCollector final : public prometheus::Collectable {
 public:
  SnapshotCollector(const Config& config, const SnapshotSource& source)
      : config_(config), source_(source) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Config& config_;
  const SnapshotSource& source_;
};

class Metrics final : public ProbeObserver {
 public:
  // `discovery` (may be null: no lagrouter_discovery_* series): what member
  // discovery saw; like `process`, it outlives this configuration.
  Metrics(const Config& config, const ProcessCounters& process,
          const DiscoveryBoards* discovery = nullptr);

  void ObserveProbe(size_t cluster, size_t server, double seconds,
                    probes::ErrorKind error) override;
  // Hot path: pre-resolved counters, no label lookups. `client` indexes
  // Config::clients (label = its name); -1 when auth is off ("anonymous").
  // Series exist only for the clusters and classes a client may use, so the
  // cardinality is bounded by the configuration.
  void CountRoute(int client, size_t cluster, size_t klass, router::Outcome outcome);
  // A /v1/check answer, by cluster, class and reason (near_limit counts the
  // checks a class's check_margin failed). Series appear on first use, so
  // only the reasons that happen add to the exposition.
  void CountCheck(size_t cluster, size_t klass, router::Reason reason);
  // A /v1/route request parked to wait for an on-demand probe, and how its
  // wait ended: answered by a replica, or the wait over (the class's fallback).
  void CountWaitStarted(size_t cluster, size_t klass);
  void CountWaitFinished(size_t cluster, size_t klass, bool replica, double seconds);
  // A request refused with 401/403, by reason and client ("" when unknown).
  void CountDenied(std::string_view reason, std::string_view client);
  void ObserveRouteDuration(double seconds);
  // A request that named an unknown cluster or class, or bad parameters.
  void CountBadRequest(std::string_view error);

  // The whole exposition, in the Prometheus text format.
  std::string Render(const SnapshotSource& source) const;

 private:
  prometheus::MetricFamily RouteDuration() const;
  prometheus::MetricFamily RouteRequests() const;
  std::vector<prometheus::MetricFamily> ProbeFamilies() const;
  std::vector<prometheus::MetricFamily> ProcessFamilies() const;
  std::vector<prometheus::MetricFamily> DiscoveryFamilies() const;

  const Config& config_;
  const ProcessCounters& process_;
  const DiscoveryBoards* discovery_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* bad_requests_;
  prometheus::Family<prometheus::Counter>* denied_requests_;
  prometheus::Family<prometheus::Counter>* check_requests_;
  // Route waits: plain counters rendered when scraped, as the probes' are
  // (a prometheus-cpp histogram and nine counters per cluster took ~4 KB).
  static constexpr std::array<double, 12> kWaitBuckets = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                          0.1,   0.2,   0.5,   1,    2,    5};
  struct WaitCounts {
    std::array<std::atomic<uint64_t>, kWaitBuckets.size() + 1> buckets{};  // + the +Inf one
    std::atomic<uint64_t> sum_ns{0};
  };
  // [cluster * classes + class]: started, answered by a replica, fell back
  std::unique_ptr<std::array<std::atomic<uint64_t>, 3>[]> waits_;
  size_t wait_series_ = 0;
  std::unique_ptr<WaitCounts[]> wait_hist_;  // [cluster]
  std::vector<prometheus::MetricFamily> WaitFamilies() const;
  static constexpr std::array<double, 9> kRouteBuckets = {1e-6, 5e-6, 1e-5, 5e-5, 1e-4,
                                                          5e-4, 1e-3, 5e-3, 1e-2};
  // What every /v1/route answer counts, sharded: a request thread adds to its
  // own shard and a scrape sums them. One counter shared by every event loop
  // cost each answer a cache-line transfer between cores.
  static constexpr size_t kShards = 8;
  struct alignas(64) RouteShard {
    std::unique_ptr<std::atomic<uint64_t>[]> answers;                       // [RouteSeries index]
    std::array<std::atomic<uint64_t>, kRouteBuckets.size() + 1> buckets{};  // + the +Inf one
    std::atomic<uint64_t> sum_ns{0};
  };
  RouteShard& ThisThreadsShard();
  std::array<RouteShard, kShards> shards_;
  // The shards in use: one per HTTP event loop (listen.threads, at least one,
  // as HttpServer runs them), at most kShards. Each holds a counter per route
  // series (~0.2 KB a server for eight).
  size_t route_shards_ = 1;
  std::span<const RouteShard> RouteShards() const { return {shards_.data(), route_shards_}; }
  // [((client slot * clusters + cluster) * classes + class) * outcomes + outcome]:
  // whether the series exists (the client may go there). Its labels are made
  // when scraped: kept, they took about 1 KB per server (15 series of five
  // labels per cluster and class set).
  std::vector<bool> route_allowed_;
  // Every probe's duration and failure, per server: plain counters written by
  // the server's probe loop, rendered when scraped. A prometheus-cpp
  // histogram and five counters per server took about 5 KB of labels and
  // maps each (50 MB at 10,000 servers) and a mutex per observation.
  static constexpr std::array<double, 13> kProbeBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  static constexpr size_t kProbeErrorKinds = 5;
  struct ProbeCounts {
    std::array<std::atomic<uint64_t>, kProbeBuckets.size() + 1> buckets{};  // + the +Inf one
    std::atomic<uint64_t> sum_ns{0};
    std::array<std::atomic<uint64_t>, kProbeErrorKinds> errors{};
  };
  std::vector<std::unique_ptr<ProbeCounts[]>> probe_counts_;  // [cluster][server]
  // [(cluster * classes + class) * reasons + reason]; nullptr until first used
  std::vector<std::atomic<prometheus::Counter*>> checks_;
  std::mutex checks_mu_;
  mutable std::mutex bad_mu_;
};

}  // namespace lagrouter::daemon
