#include "daemon/monitor/probe_loop.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>

namespace lagrouter::daemon {
namespace {

constexpr size_t kNone = std::numeric_limits<size_t>::max();
constexpr uint64_t kWakeTag = std::numeric_limits<uint64_t>::max();

// epoll_pwait2's timeout: until `at`, rounded up to the next whole
// millisecond of the clock, so that timers due within the same millisecond
// (ticks, deadlines, the replicas' lead) cost one wake-up, at most 1 ms late;
// never early, which would only wake the loop to wait again.
timespec Until(router::TimePoint at, router::TimePoint now) {
  if (at <= now) return timespec{0, 0};
  const auto since_epoch = std::chrono::ceil<std::chrono::milliseconds>(at.time_since_epoch());
  const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::min<router::Duration>(router::TimePoint(since_epoch) - now, std::chrono::seconds(60)));
  return timespec{static_cast<time_t>(left.count() / 1'000'000'000),
                  static_cast<long>(left.count() % 1'000'000'000)};
}

}  // namespace

ProbeLoop::ProbeLoop(ProbeCycle& cycle, std::vector<Server> servers, router::Duration interval,
                     router::Duration timeout)
    : cycle_(cycle), interval_(interval), timeout_(timeout) {
  size_t most = 0;
  for (auto& s : servers) {
    if (clusters_.empty() || clusters_.back().cluster != s.cluster) {
      clusters_.push_back({s.cluster, slots_.size(), slots_.size()});
    }
    ++clusters_.back().end;
    most = std::max(most, s.cluster + 1);
    slots_.emplace_back().target = std::move(s);
  }
  local_of_.assign(most, kNone);
  for (size_t i = 0; i < clusters_.size(); ++i) local_of_[clusters_[i].cluster] = i;
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_ < 0 || wake_fd_ < 0) {
    // Without them no probe can run: every server would look down. Out of
    // file descriptors at start is a configuration problem, said loudly.
    spdlog::critical("probe loop: cannot create epoll/eventfd: {}", std::strerror(errno));
    std::abort();
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

ProbeLoop::~ProbeLoop() {
  Stop();
  slots_.clear();  // the probes close their sockets first
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_ >= 0) close(epoll_);
}

void ProbeLoop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ProbeLoop::Stop() {
  if (stopping_.exchange(true)) return;
  Wake();
  if (thread_.joinable()) thread_.join();
}

void ProbeLoop::Poke(size_t cluster) {
  if (cluster >= local_of_.size() || local_of_[cluster] == kNone) return;
  {
    std::lock_guard<std::mutex> lock(poke_mu_);
    poked_.push_back(local_of_[cluster]);
  }
  // One eventfd write per batch of pokes, not per request.
  if (!woken_.exchange(true, std::memory_order_acq_rel)) Wake();
}

void ProbeLoop::Wake() {
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof one);
}

void ProbeLoop::Run() {
  ClusterTicks ticks(interval_, clusters_.size(), router::Clock::now());
  std::vector<epoll_event> events(256);
  const auto start = router::Clock::now();
  for (size_t i = 0; i < clusters_.size(); ++i) AskCluster(i, start);
  while (!stopping_.load(std::memory_order_acquire)) {
    auto now = router::Clock::now();
    for (size_t local : ticks.Due(now)) {
      cycle_.Tick(clusters_[local].cluster);
      AskCluster(local, now);
    }
    FireTimers(now);
    router::TimePoint next = ticks.next();
    if (!timers_.empty()) next = std::min(next, timers_.top().at);
    const timespec timeout = Until(next, router::Clock::now());
    const int n =
        epoll_pwait2(epoll_, events.data(), static_cast<int>(events.size()), &timeout, nullptr);
    if (n < 0 && errno != EINTR) {
      spdlog::error("probe loop: epoll_pwait2: {}", std::strerror(errno));
      continue;
    }
    now = router::Clock::now();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeTag) {
        uint64_t count;
        [[maybe_unused]] const ssize_t r = read(wake_fd_, &count, sizeof count);
        TakePokes(now);
        continue;
      }
      const auto slot = static_cast<uint32_t>(events[i].data.u64);
      // An event for a probe that finished meanwhile (its last step was a
      // timer) is stale: the next Start re-arms the socket.
      if (slot < slots_.size() && slots_[slot].probing) {
        Follow(slot, slots_[slot].target.probe->Resume(), now);
      }
    }
  }
}

void ProbeLoop::TakePokes(router::TimePoint now) {
  std::vector<size_t> poked;
  {
    std::lock_guard<std::mutex> lock(poke_mu_);
    poked.swap(poked_);
    woken_.store(false, std::memory_order_release);
  }
  std::sort(poked.begin(), poked.end());
  poked.erase(std::unique(poked.begin(), poked.end()), poked.end());
  for (size_t local : poked) AskCluster(local, now);
}

void ProbeLoop::AskCluster(size_t local, router::TimePoint now) {
  const ClusterSlots& c = clusters_[local];
  for (size_t s = c.first; s < c.end; ++s) Ask(static_cast<uint32_t>(s), now);
}

// An idle server: probe now, or sleep until the schedule says (a demand, a
// tick or the primary's sample may come sooner; they ask again).
void ProbeLoop::Ask(uint32_t slot, router::TimePoint now) {
  Slot& s = slots_[slot];
  if (s.probing) return;
  const ProbeSchedule::Step step = cycle_.Next(s.target.cluster, s.target.server, now);
  if (step.action == ProbeSchedule::Step::Action::kProbe) {
    Begin(slot, step, now);
  } else {
    SetTimer(slot, step.until);
  }
}

void ProbeLoop::Begin(uint32_t slot, const ProbeSchedule::Step& turn, router::TimePoint now) {
  Slot& s = slots_[slot];
  s.probing = true;
  s.turn = turn;
  s.connecting = !s.target.probe->connected();
  if (s.connecting && connecting_ >= kConnectsInFlight) {
    SetTimer(slot, router::TimePoint::max());
    connect_queue_.push_back(slot);
    return;
  }
  Launch(slot, now);
}

// Iterative, not from each Finish: connects that fail at once (out of
// descriptors) would otherwise nest a call per queued server.
void ProbeLoop::LaunchQueued(router::TimePoint now) {
  if (launching_) return;
  launching_ = true;
  while (connecting_ < kConnectsInFlight && !connect_queue_.empty()) {
    const uint32_t next = connect_queue_.front();
    connect_queue_.pop_front();
    Launch(next, now);
  }
  launching_ = false;
}

void ProbeLoop::Launch(uint32_t slot, router::TimePoint now) {
  Slot& s = slots_[slot];
  if (s.connecting) ++connecting_;
  s.started = now;
  s.deadline = now + timeout_;
  Follow(slot,
         s.target.probe->Start(
             s.deadline, s.turn.position_only ? probes::Depth::kPosition : probes::Depth::kFull),
         now);
}

// Waits for what the probe asked for: its socket (one-shot, re-armed each
// step) and the earlier of its own wake-up and the deadline.
void ProbeLoop::Follow(uint32_t slot, const probes::Step& step, router::TimePoint now) {
  Slot& s = slots_[slot];
  if (step.done) {
    Finish(slot, s.target.probe->Take());
    return;
  }
  if (now >= s.deadline) {
    Finish(slot, s.target.probe->Abort());
    return;
  }
  if (step.fd >= 0 && (step.read || step.write)) {
    epoll_event ev{};
    ev.events = EPOLLONESHOT | (step.read ? EPOLLIN : 0u) | (step.write ? EPOLLOUT : 0u);
    ev.data.u64 = slot;
    // The probe closes a socket before opening another, and a closed socket
    // leaves epoll by itself: a socket we knew may be gone (ENOENT), a new
    // one may reuse a number we never saw (ADD).
    const int op = step.fd == s.fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(epoll_, op, step.fd, &ev) != 0) {
      const int retry = errno == ENOENT ? EPOLL_CTL_ADD : errno == EEXIST ? EPOLL_CTL_MOD : -1;
      if (retry < 0 || epoll_ctl(epoll_, retry, step.fd, &ev) != 0) {
        spdlog::error("probe loop: epoll_ctl on a probe's socket: {}", std::strerror(errno));
        Finish(slot, s.target.probe->Abort());
        return;
      }
    }
    s.fd = step.fd;
  }
  SetTimer(slot, std::min(step.wake_at, s.deadline));
}

void ProbeLoop::Finish(uint32_t slot, probes::Sample sample) {
  Slot& s = slots_[slot];
  s.probing = false;
  const auto finished = router::Clock::now();
  if (s.connecting) {
    s.connecting = false;
    --connecting_;
    LaunchQueued(finished);
  }
  cycle_.Done(s.target.cluster, s.target.server, s.turn, s.started, finished, std::move(sample));
  // The cluster's other servers may have waited for this sample (the
  // primary's lead), and this one for its next turn.
  AskCluster(local_of_[s.target.cluster], finished);
}

void ProbeLoop::SetTimer(uint32_t slot, router::TimePoint at) {
  Slot& s = slots_[slot];
  ++s.timer;  // the slot's earlier entries, still in the heap, are stale now
  if (at != router::TimePoint::max()) timers_.push(Timer{at, slot, s.timer});
}

void ProbeLoop::FireTimers(router::TimePoint now) {
  // Timers set while firing wait for the next turn of the loop, so a schedule
  // that answers "wait until now" cannot hold the loop here.
  for (size_t budget = timers_.size(); budget > 0 && !timers_.empty() && timers_.top().at <= now;
       --budget) {
    const Timer t = timers_.top();
    timers_.pop();
    Slot& s = slots_[t.slot];
    if (t.generation != s.timer) continue;
    ++s.timer;
    if (!s.probing) {
      Ask(t.slot, now);
    } else if (now >= s.deadline) {
      Finish(t.slot, s.target.probe->Abort());
    } else {
      Follow(t.slot, s.target.probe->Resume(), now);
    }
  }
}

}  // namespace lagrouter::daemon
