// Route requests that wait for a replica (/v1/route with `wait`, or a class's
// max_wait): when no replica qualifies from the latest snapshot only because
// its bound is over the limit or it has not replayed `after` yet, the request
// is parked here and probes are asked for at once. Each parked request is
// answered from the first snapshot in which a replica qualifies, or when its
// wait is over with what the latest snapshot says then (the class's
// fallback). The judgement is router::Decide's, on newer samples, the same
// call /v1/route makes: waiting changes when a request is answered, never
// what may serve it.
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
#include "router/decide.h"
#include "router/router.h"

namespace lagrouter::daemon {

class Metrics;

class Waits {
 public:
  // Called once with the snapshot the answer was decided on and the verdict.
  using Answer = std::function<void(const ClusterSnapshot&, const router::Verdict&)>;
  struct Waiter {
    size_t cluster = 0;
    size_t klass = 0;
    std::optional<router::Position> after;
    uint64_t spread = 0;   // as for router::Route
    bool session = false;  // as for router::Ask
    int sticky = -1;
    router::TimePoint started{};  // when the request arrived: what a proof counts from
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
  bool Park(Waiter waiter, const router::ProbePlan& plan);

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
  // Decides `w` on `snapshot` at `now` (its remaining wait included).
  router::Verdict Decide(const Waiter& w, const ClusterSnapshot& snapshot,
                         router::TimePoint now) const;
  void Finish(Waiter& w, const ClusterSnapshot& snapshot, const router::Verdict& v,
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
