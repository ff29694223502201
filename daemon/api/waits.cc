#include "daemon/api/waits.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "daemon/metrics/metrics.h"

namespace lagrouter::daemon {

using router::TimePoint;

Waits::Waits(std::shared_ptr<const Config> config, const SnapshotSource& source,
             ProbeDemand& demand, Metrics* metrics)
    : config_(std::move(config)),
      source_(source),
      demand_(demand),
      metrics_(metrics),
      parked_(config_->clusters.size()) {}

Waits::~Waits() {
  Close();
}

void Waits::Start() {
  timer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "lagrouter-waits");
    TimerLoop();
  });
}

bool Waits::Park(Waiter waiter, const router::ProbePlan& plan) {
  const size_t cluster = waiter.cluster;
  const size_t klass = waiter.klass;
  const TimePoint since = waiter.started;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    const bool earliest =
        std::all_of(parked_.begin(), parked_.end(), [&](const std::vector<Waiter>& ws) {
          return std::all_of(ws.begin(), ws.end(),
                             [&](const Waiter& w) { return w.deadline > waiter.deadline; });
        });
    parked_[cluster].push_back(std::move(waiter));
    if (earliest) timer_cv_.notify_one();
  }
  if (metrics_ != nullptr) metrics_->CountWaitStarted(cluster, klass);
  demand_.Demand(cluster, plan, since);
  return true;
}

router::Verdict Waits::Decide(const Waiter& w, const ClusterSnapshot& snapshot,
                              TimePoint now) const {
  auto ask = router::Ask::Route(config_->classes[w.klass], w.klass, w.after ? &*w.after : nullptr,
                                w.spread, std::max(w.deadline - now, router::Duration::zero()));
  ask.For(w.session, w.sticky, w.started);
  return router::Decide(snapshot.view, ask, now, snapshot.history_latest_at);
}

void Waits::OnPublish(size_t cluster, TimePoint now) {
  const auto snapshot = source_.Snapshot(cluster);
  std::vector<std::pair<Waiter, router::Verdict>> done;
  router::ProbePlan again;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& ws = parked_[cluster];
    if (ws.empty()) return;
    for (size_t i = 0; i < ws.size();) {
      Waiter& w = ws[i];
      router::Verdict v = Decide(w, *snapshot, now);
      if (!v.wait) {  // a replica serves, or probing can no longer help
        done.emplace_back(std::move(w), std::move(v));
        w = std::move(ws.back());
        ws.pop_back();
        continue;
      }
      for (size_t s : v.plan.servers) {
        if (std::find(again.servers.begin(), again.servers.end(), s) == again.servers.end()) {
          again.servers.push_back(s);
        }
      }
      again.primary_first = again.primary_first || v.plan.primary_first;
      if (v.plan.visibility_of >= 0) again.visibility_of = v.plan.visibility_of;
      ++i;
    }
  }
  // Still waiting: probe again (coalesced and rate-capped per server).
  if (!again.empty()) demand_.Demand(cluster, again, now);
  for (auto& [w, v] : done) Finish(w, *snapshot, v, now);
}

void Waits::ExpireDue(TimePoint now) {
  Expire(now, now);
}

void Waits::Expire(TimePoint cutoff, TimePoint now) {
  std::vector<Waiter> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& ws : parked_) {
      for (size_t i = 0; i < ws.size();) {
        if (ws[i].deadline > cutoff) {
          ++i;
          continue;
        }
        due.push_back(std::move(ws[i]));
        ws[i] = std::move(ws.back());
        ws.pop_back();
      }
    }
  }
  for (Waiter& w : due) {
    const auto snapshot = source_.Snapshot(w.cluster);
    w.deadline = std::min(w.deadline, now);  // the wait is over: decide without one
    Finish(w, *snapshot, Decide(w, *snapshot, now), now);
  }
}

void Waits::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  // Every wait is cut short: parked requests are answered now.
  Expire(TimePoint::max(), router::Clock::now());
}

size_t Waits::waiting(size_t cluster) const {
  std::lock_guard<std::mutex> lock(mu_);
  return cluster < parked_.size() ? parked_[cluster].size() : 0;
}

void Waits::Finish(Waiter& w, const ClusterSnapshot& snapshot, const router::Verdict& v,
                   TimePoint now) {
  if (metrics_ != nullptr) {
    metrics_->CountWaitFinished(w.cluster, w.klass, router::IsReplica(v.decision.outcome),
                                std::chrono::duration<double>(now - w.started).count());
  }
  w.answer(snapshot, v);
}

void Waits::TimerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_) {
    TimePoint next = TimePoint::max();
    for (const auto& ws : parked_) {
      for (const auto& w : ws) next = std::min(next, w.deadline);
    }
    if (next == TimePoint::max()) {
      timer_cv_.wait(lock);
    } else if (router::Clock::now() < next) {
      timer_cv_.wait_until(lock, next);
    } else {
      lock.unlock();
      ExpireDue(router::Clock::now());
      lock.lock();
    }
  }
}

}  // namespace lagrouter::daemon
