// The fault schedule: one fault at a time, of a kind drawn from --faults, on
// a replica drawn at random (the primary for kill_primary), held 1-4 s, then
// healed before the next, 0.3-2 s later. The first fault, when pause_replay
// is among the kinds, delays the first replica: the naive reader's.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>

#include "tests/chaos/cluster_control.h"
#include "tests/chaos/faults.h"
#include "tests/chaos/harness.h"
#include "tests/chaos/patroni_faults.h"

namespace lagrouter::chaos {

class FaultSchedule {
 public:
  FaultSchedule(Harness& h, const ClusterControl& c, PatroniFaults& patroni)
      : h_(h), c_(c), patroni_(patroni), rng_(h.o.seed) {}

  // Until Stop(); the fault in progress is healed before it returns.
  void Run();
  void Stop() { stop_ = true; }

  int Injected();    // faults injected so far
  int HealFailed();  // faults that could not be healed (the run is an error)
  // The "faults:" line and a line per kind that could not be injected or healed.
  void Print();

 private:
  // The helper that injects `kind` on `node` (faults.h, patroni_faults.h).
  Fault InjectKind(const std::string& kind, int node);
  // One fault: inject, hold, heal, count.
  void Inject(const std::string& kind, int node);

  Harness& h_;
  const ClusterControl& c_;
  PatroniFaults& patroni_;
  std::mt19937_64 rng_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, int> injected_, inject_failed_, heal_failed_;
};

}  // namespace lagrouter::chaos
