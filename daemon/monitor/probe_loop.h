// The probe engine: a few event loops (about one per core), each driving the
// probes of its share of the clusters without blocking. A loop waits in epoll
// for the probes' sockets, keeps their deadlines and the schedule's waits in
// one timer heap, and ticks its clusters. What to probe when, and what a
// sample means, it asks of its owner (ProbeCycle): the loop is only I/O and
// time. A thread per server cost more than the work past a few thousand
// servers (context switches, stacks, timer wake-ups per thread).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "daemon/monitor/probe_schedule.h"
#include "probes/probe.h"
#include "router/time.h"

namespace lagrouter::daemon {

// The loop's owner: the schedule and the fold, called on the loop's thread.
class ProbeCycle {
 public:
  virtual ~ProbeCycle() = default;
  // A scheduled tick of the cluster.
  virtual void Tick(size_t cluster) = 0;
  // What the server does next at `now` (its ProbeSchedule).
  virtual ProbeSchedule::Step Next(size_t cluster, size_t server, router::TimePoint now) = 0;
  // The probe `step` started at `started` is done (`finished` is now).
  virtual void Done(size_t cluster, size_t server, const ProbeSchedule::Step& step,
                    router::TimePoint started, router::TimePoint finished,
                    probes::Sample sample) = 0;
};

class ProbeLoop {
 public:
  struct Server {
    size_t cluster = 0;
    size_t server = 0;
    std::unique_ptr<probes::Probe> probe;
  };

  // `servers`: this loop's servers, a cluster's servers next to each other
  // (the loop re-asks a whole cluster after each of its samples: the
  // primary's sample ends its replicas' lead). Every probe is bounded by
  // `timeout`; ticks come every `interval`, spread over the loop's clusters.
  ProbeLoop(ProbeCycle& cycle, std::vector<Server> servers, router::Duration interval,
            router::Duration timeout);
  ~ProbeLoop();
  ProbeLoop(const ProbeLoop&) = delete;
  ProbeLoop& operator=(const ProbeLoop&) = delete;

  void Start();
  // Stops the thread; a probe in flight is abandoned (its connection closed
  // with the probe).
  void Stop();
  // Any thread: the cluster's schedules changed (a demand); ask them again.
  void Poke(size_t cluster);

 private:
  struct Slot {
    Server target;
    bool probing = false;
    ProbeSchedule::Step turn;  // the schedule's step the probe in flight takes
    router::TimePoint started{};
    router::TimePoint deadline{};
    bool connecting = false;  // the probe in flight opens a connection
    int fd = -1;              // the socket last registered with epoll (one-shot)
    uint32_t timer = 0;       // the generation of the slot's live timer entry
  };
  struct Timer {
    router::TimePoint at;
    uint32_t slot;
    uint32_t generation;
    bool operator>(const Timer& o) const { return at > o.at; }
  };
  struct ClusterSlots {
    size_t cluster;
    size_t first, end;  // slots_[first, end)
  };

  void Run();
  void AskCluster(size_t local, router::TimePoint now);
  void Ask(uint32_t slot, router::TimePoint now);
  void Begin(uint32_t slot, const ProbeSchedule::Step& turn, router::TimePoint now);
  void Launch(uint32_t slot, router::TimePoint now);
  void LaunchQueued(router::TimePoint now);
  void Follow(uint32_t slot, const probes::Step& step, router::TimePoint now);
  void Finish(uint32_t slot, probes::Sample sample);
  void SetTimer(uint32_t slot, router::TimePoint at);
  void FireTimers(router::TimePoint now);
  void TakePokes(router::TimePoint now);
  void Wake();

  ProbeCycle& cycle_;
  router::Duration interval_;
  router::Duration timeout_;
  std::vector<Slot> slots_;
  std::vector<ClusterSlots> clusters_;
  std::vector<size_t> local_of_;  // cluster index -> clusters_ index (or npos)
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  // Opening a connection costs both ends far more than a probe: ten thousand
  // at once (a start, a reload, a network back) took longer than the probe
  // timeout, timed out and were retried as a storm. At most
  // kConnectsInFlight open at once per loop; the others queue, their
  // deadlines not yet running.
  static constexpr size_t kConnectsInFlight = 64;
  size_t connecting_ = 0;
  std::deque<uint32_t> connect_queue_;
  bool launching_ = false;
  int epoll_ = -1;
  int wake_fd_ = -1;  // eventfd: pokes and Stop

  std::mutex poke_mu_;
  std::vector<size_t> poked_;  // guarded by poke_mu_
  std::atomic<bool> woken_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace lagrouter::daemon
