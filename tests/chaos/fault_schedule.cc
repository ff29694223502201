#include "tests/chaos/fault_schedule.h"

#include <algorithm>
#include <cstdio>

#include "tests/chaos/daemon_api.h"
#include "tests/chaos/trace.h"

namespace lagrouter::chaos {

Fault FaultSchedule::InjectKind(const std::string& kind, int node) {
  if (kind == "pause_replay") return PauseReplay(c_, node);
  if (kind == "stop_replication") return StopReplication(c_, node);
  if (kind == "kill_replica" || kind == "kill_primary") return KillServer(c_, node);
  if (kind == "stall_replay") return StallReplay(c_, node);
  if (kind == "hang_replica") return StopServer(c_, node);
  if (kind == "patroni_failover") return patroni_.Failover(false);
  if (kind == "patroni_switchover") return patroni_.Failover(true);
  if (kind == "failover") {
    const auto topo = CurrentTopology(h_.o);
    if (topo && topo->primary != node) return Failover(c_, topo->primary, node);
  }
  return Fault{};
}

void FaultSchedule::Inject(const std::string& kind, int node) {
  std::uniform_int_distribution<int> hold_ms(1000, 4000);
  const auto hold = kind == "failover" ? milliseconds(0) : milliseconds(hold_ms(rng_));
  Trace::Get().Event("inject " + kind + " " + std::to_string(node));
  const Fault fault = InjectKind(kind, node);
  Trace::Get().Event("injected " + kind + " " + std::to_string(node) +
                     (fault.injected ? "" : " FAILED"));
  {
    std::lock_guard lock(mu_);
    (fault.injected ? injected_ : inject_failed_)[kind]++;
  }
  Log("fault %s on node %d%s, held %lld ms", kind.c_str(), node, fault.injected ? "" : " FAILED",
      static_cast<long long>(hold.count()));
  SleepFor(hold, stop_);
  Trace::Get().Event("heal " + kind + " " + std::to_string(node));
  const bool healed = fault.heal();
  Trace::Get().Event("healed " + kind + " " + std::to_string(node));
  if (!healed) {
    std::lock_guard lock(mu_);
    heal_failed_[kind]++;
    Log("HEAL FAILED: %s on node %d", kind.c_str(), node);
  }
}

void FaultSchedule::Run() {
  const std::vector<std::string>& kinds = h_.o.faults;
  bool first = std::find(kinds.begin(), kinds.end(), "pause_replay") != kinds.end();
  std::uniform_int_distribution<int> gap_ms(300, 2000);
  // Let the daemon admit the replicas before the first fault.
  if (!SleepFor(std::chrono::seconds(3), stop_)) return;
  while (!stop_.load()) {
    const auto topo = CurrentTopology(h_.o);
    if (!topo) {
      SleepFor(milliseconds(100), stop_);
      continue;
    }
    // The first fault always delays the first replica: the naive reader's.
    std::string kind = first ? "pause_replay" : kinds[rng_() % kinds.size()];
    int node = first && h_.naive_node >= 0 ? h_.naive_node
                                           : topo->replicas[rng_() % topo->replicas.size()];
    if (kind == "kill_primary") node = topo->primary;
    first = false;
    Inject(kind, node);
    SleepFor(milliseconds(gap_ms(rng_)), stop_);
  }
}

int FaultSchedule::Injected() {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [kind, count] : injected_) n += count;
  return n;
}

int FaultSchedule::HealFailed() {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [kind, count] : heal_failed_) n += count;
  return n;
}

void FaultSchedule::Print() {
  std::lock_guard lock(mu_);
  std::printf("faults:");
  for (const auto& [kind, n] : injected_) std::printf(" %s=%d", kind.c_str(), n);
  std::printf("\n");
  for (const auto& [kind, n] : inject_failed_) {
    std::printf("fault could not be injected: %s x%d\n", kind.c_str(), n);
  }
  for (const auto& [kind, n] : heal_failed_) {
    std::printf("fault could not be healed: %s x%d\n", kind.c_str(), n);
  }
}

}  // namespace lagrouter::chaos
