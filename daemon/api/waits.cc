#include "daemon/api/waits.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "daemon/metrics/metrics.h"

namespace lagrouter::daemon {

using router::Reason;
using router::TimePoint;

ProbePlan PlanProbes(const ClusterSnapshot& snapshot, const router::QueryClass& cls,
                     size_t class_index, const router::Position* after, TimePoint now) {
  ProbePlan plan;
  const router::ClusterView& view = snapshot.view;
  if (cls.max_staleness <= router::Duration::zero()) return plan;  // primary only
  for (size_t i = 0; i < view.servers.size(); ++i) {
    const Reason r = router::Explain(view, i, cls, class_index, now, after);
    if (r == Reason::kStale || r == Reason::kNotReplayed) plan.servers.push_back(i);
  }
  if (plan.empty()) return plan;
  // A replica's bound is at least the age of the primary's latest sample:
  // past half the limit, sample the primary again before the replicas.
  const bool primary_old =
      !snapshot.history_latest_at || now - *snapshot.history_latest_at > cls.max_staleness / 2;
  if (primary_old && view.primary >= 0) {
    plan.primary_first = true;
    plan.servers.push_back(static_cast<size_t>(view.primary));
  }
  return plan;
}

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

bool Waits::Park(Waiter waiter, const ProbePlan& plan) {
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
  demand_.Demand(cluster, plan.servers, plan.primary_first, since);
  return true;
}

void Waits::OnPublish(size_t cluster, TimePoint now) {
  const auto snapshot = source_.Snapshot(cluster);
  std::vector<std::pair<Waiter, router::Decision>> done;
  ProbePlan again;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& ws = parked_[cluster];
    if (ws.empty()) return;
    for (size_t i = 0; i < ws.size();) {
      Waiter& w = ws[i];
      const auto& cls = config_->classes[w.klass];
      const router::Position* after = w.after ? &*w.after : nullptr;
      const auto d = router::Route(snapshot->view, cls, w.klass, after, now, w.spread);
      ProbePlan plan;
      if (d.outcome != router::Outcome::kFreshReplica) {
        plan = PlanProbes(*snapshot, cls, w.klass, after, now);
      }
      if (d.outcome == router::Outcome::kFreshReplica || plan.empty()) {
        done.emplace_back(std::move(w), d);
        w = std::move(ws.back());
        ws.pop_back();
        continue;
      }
      for (size_t s : plan.servers) {
        if (std::find(again.servers.begin(), again.servers.end(), s) == again.servers.end()) {
          again.servers.push_back(s);
        }
      }
      again.primary_first = again.primary_first || plan.primary_first;
      ++i;
    }
  }
  // Still waiting: probe again (coalesced and rate-capped per server).
  if (!again.empty()) demand_.Demand(cluster, again.servers, again.primary_first, now);
  for (auto& [w, d] : done) Finish(w, *snapshot, d, now);
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
    const router::Position* after = w.after ? &*w.after : nullptr;
    const auto d =
        router::Route(snapshot->view, config_->classes[w.klass], w.klass, after, now, w.spread);
    Finish(w, *snapshot, d, now);
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

void Waits::Finish(Waiter& w, const ClusterSnapshot& snapshot, const router::Decision& d,
                   TimePoint now) {
  if (metrics_ != nullptr) {
    metrics_->CountWaitFinished(w.cluster, w.klass, d.outcome == router::Outcome::kFreshReplica,
                                std::chrono::duration<double>(now - w.started).count());
  }
  w.answer(snapshot, d);
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
