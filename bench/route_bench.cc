// The routing decision alone: router::Route over a snapshot of 1 primary and
// 16 replicas. Goal: under 1 us per call, no allocation.
#include <benchmark/benchmark.h>

#include "bench/allocation_counter.h"
#include "router/router.h"

namespace lagrouter::router {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const TimePoint kNow = TimePoint{} + seconds(100000);

ClusterView MakeCluster(size_t replicas, size_t classes) {
  ClusterView c;
  c.name = "shop";
  ServerView p;
  p.name = "primary";
  p.role = Role::kPrimary;
  p.probed = true;
  p.up = true;
  c.servers.push_back(p);
  c.primary = 0;
  c.primaries_claimed = 1;
  for (size_t i = 0; i < replicas; ++i) {
    ServerView r;
    r.name = "replica-" + std::to_string(i);
    r.role = Role::kReplica;
    r.probed = true;
    r.up = true;
    r.replicating = true;
    // A mix: most fresh, some lagging by seconds.
    r.fresh_as_of = kNow - milliseconds(i % 4 == 3 ? 3000 : 100 + 10 * i);
    r.bound_known = true;
    r.replayed = Lsn{1000000 + i};
    r.gates.resize(classes);
    c.servers.push_back(r);
  }
  return c;
}

void BM_RouteReplicaClass(benchmark::State& state) {
  const auto cluster = MakeCluster(static_cast<size_t>(state.range(0)), 4);
  QueryClass cls;
  cls.name = "dashboard";
  cls.max_staleness = seconds(1);
  uint64_t spread = 0;
  const uint64_t before = lagrouter::bench::Allocations();
  for (auto _ : state) {
    auto d = Route(cluster, cls, 1, nullptr, kNow, spread++);
    benchmark::DoNotOptimize(d);
  }
  state.counters["allocs_per_call"] =
      benchmark::Counter(static_cast<double>(lagrouter::bench::Allocations() - before),
                         benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_RouteReplicaClass)->Arg(2)->Arg(16);

void BM_RouteWithAfterPosition(benchmark::State& state) {
  const auto cluster = MakeCluster(16, 4);
  QueryClass cls;
  cls.name = "reports";
  cls.max_staleness = std::chrono::hours(1);
  const Position after = Lsn{1000008};
  uint64_t spread = 0;
  const uint64_t before = lagrouter::bench::Allocations();
  for (auto _ : state) {
    auto d = Route(cluster, cls, 2, &after, kNow, spread++);
    benchmark::DoNotOptimize(d);
  }
  state.counters["allocs_per_call"] =
      benchmark::Counter(static_cast<double>(lagrouter::bench::Allocations() - before),
                         benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_RouteWithAfterPosition);

void BM_RoutePrimaryClass(benchmark::State& state) {
  const auto cluster = MakeCluster(16, 4);
  QueryClass cls;
  cls.name = "inventory";
  cls.max_staleness = seconds(0);
  for (auto _ : state) {
    auto d = Route(cluster, cls, 0, nullptr, kNow, 0);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_RoutePrimaryClass);

}  // namespace
}  // namespace lagrouter::router

BENCHMARK_MAIN();
