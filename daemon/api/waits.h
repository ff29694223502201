// Route requests that wait for a replica (/v1/route with `wait`, or a class's
// max_wait): when no replica qualifies from the latest snapshot only because
// its bound is over the limit or it has not replayed `after` yet, the request
// is parked here and probes are asked for at once. Each parked request is
// answered from the first snapshot in which a replica qualifies, or when its
// wait is over with what the latest snapshot says then (the class's
// fallback). The judgement is router::Route's, on newer samples: waiting
// changes when a request is answered, never what may serve it.
//
// Nothing here runs on an HTTP event loop: answers leave through each
// waiter's callback, on a probe's thread or the timer's.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/monitor/snapshot.h"
#include "router/router.h"

namespace lagrouter::daemon {

class Metrics;

// Which servers to probe so that a replica may serve a read: those held out
// only by their bound (stale) or by `after` (not replayed), and the primary
// first when even a replica that replays its latest sampled position would
// be too stale for the class. Empty: probing cannot help, answer now.
struct ProbePlan {
  std::vector<size_t> servers;
  bool primary_first = false;
  bool empty() const { return servers.empty(); }
};
ProbePlan PlanProbes(const ClusterSnapshot& snapshot, const router::QueryClass& cls,
                     size_t class_index, const router::Position* after, router::TimePoint now);

class Waits {
 public:
  // Called once with the snapshot the answer was decided on and the decision.
  using Answer = std::function<void(const ClusterSnapshot&, const router::Decision&)>;
  struct Waiter {
    size_t cluster = 0;
    size_t klass = 0;
    std::optional<router::Position> after;
    uint64_t spread = 0;  // as for router::Route
    router::TimePoint started{};
    router::TimePoint deadline{};
    Answer answer;
  };

  // `metrics` may be null (tests).
  Waits(std::shared_ptr<const Config> config, const SnapshotSource& source, ProbeDemand& demand,
        Metrics* metrics);
  ~Waits();  // Close()s
  Waits(const Waits&) = delete;
  Waits& operator=(const Waits&) = delete;

  // Starts the timer that answers waiters whose wait is over.
  void Start();

  // Parks `waiter` and asks for the probes of `plan`. False when closed (a
  // shutdown or reload): the caller answers now.
  bool Park(Waiter waiter, const ProbePlan& plan);

  // A new snapshot of `cluster` is out (at `now`): answers the waiters a
  // replica may now serve, and those that probing can no longer help; asks
  // for probes again for the others.
  void OnPublish(size_t cluster, router::TimePoint now);

  // Answers the waiters whose deadline is at or before `now` (the timer
  // calls it; tests call it directly).
  void ExpireDue(router::TimePoint now);

  // Answers every waiter now and refuses new ones; stops the timer. Idempotent.
  void Close();

  // Requests parked on `cluster` now.
  size_t waiting(size_t cluster) const;

 private:
  // Decides and answers `w` from the latest snapshot, outside the lock.
  // Answers the waiters whose deadline is at or before `cutoff`, decided at `now`.
  void Expire(router::TimePoint cutoff, router::TimePoint now);
  void Finish(Waiter& w, const ClusterSnapshot& snapshot, const router::Decision& d,
              router::TimePoint now);
  void TimerLoop();

  std::shared_ptr<const Config> config_;
  const SnapshotSource& source_;
  ProbeDemand& demand_;
  Metrics* metrics_;

  mutable std::mutex mu_;
  std::condition_variable timer_cv_;
  std::vector<std::vector<Waiter>> parked_;  // per cluster; guarded by mu_
  bool closed_ = false;                      // guarded by mu_
  std::thread timer_;
};

}  // namespace lagrouter::daemon
