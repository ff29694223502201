#include "daemon/monitor/probe_schedule.h"

#include <algorithm>

namespace lagrouter::daemon {

using router::Duration;
using router::TimePoint;

ClusterTicks::ClusterTicks(Duration interval, size_t clusters, TimePoint start)
    : interval_(interval), idle_next_(start + interval) {
  // Spread over the interval, but over one second at most: with a long
  // interval the last cluster would wait most of it for its first probe (and
  // the daemon for readiness). Clusters share phases at least 5 ms apart: a
  // probe loop woken once for a few clusters' ticks (and their replies)
  // spends less on waking than one woken per cluster.
  const auto n = static_cast<int64_t>(clusters);
  const Duration spread = std::min<Duration>(interval, std::chrono::seconds(1));
  const int64_t phases =
      std::max<int64_t>(1, std::min<int64_t>(n, spread / std::chrono::milliseconds(5)));
  for (int64_t i = 0; i < n; ++i) {
    next_.push({start + spread * (i * phases / n) / phases, static_cast<size_t>(i)});
  }
}

std::vector<size_t> ClusterTicks::Due(TimePoint now) {
  std::vector<size_t> due;
  while (!next_.empty() && next_.top().at <= now) {
    auto [at, i] = next_.top();
    next_.pop();
    due.push_back(i);
    at += interval_;
    if (at <= now) at = now + interval_;
    next_.push({at, i});
  }
  if (next_.empty() && idle_next_ <= now) idle_next_ = now + interval_;
  std::sort(due.begin(), due.end());
  return due;
}

TimePoint ClusterTicks::next() const {
  return next_.empty() ? idle_next_ : next_.top().at;
}

ProbeSchedule::Options ProbeSchedule::Defaults(Duration interval, int on_demand_probes_per_second) {
  Options o;
  o.interval = interval;
  o.per_second = std::max(1, on_demand_probes_per_second);
  // Bursts of the budget of 50 ms (at least one probe).
  o.burst = std::max(1.0, on_demand_probes_per_second / 20.0);
  return o;
}

void ProbeSchedule::Demand(TimePoint since, bool primary_first, bool whole) {
  if (since > since_) since_ = since;
  if (whole && since > whole_since_) whole_since_ = since;
  primary_first_ = primary_first_ || primary_first;
}

bool ProbeSchedule::Take(TimePoint now, Step& wait) {
  if (tick_ != seen_) {
    seen_ = tick_;
    turn_ = Turn{};
    return true;
  }
  // A probe that read the position alone satisfies no demand for the whole.
  const bool whole = whole_since_ > last_whole_started_;
  if (since_ <= last_started_ && !whole) {
    wait.until = TimePoint::max();
    return false;
  }
  const double refill =
      options_.per_second * std::chrono::duration<double>(now - refilled_at_).count();
  tokens_ = tokens_ < 0 ? options_.burst : std::min(options_.burst, tokens_ + refill);
  refilled_at_ = now;
  if (tokens_ < 1) {
    // Rounded up: a wait rounded down to nothing would ask again at once.
    wait.until = now + std::chrono::ceil<Duration>(
                           std::chrono::duration<double>((1 - tokens_) / options_.per_second));
    return false;
  }
  tokens_ -= 1;
  turn_ = Turn{true, since_, primary_first_, !whole};
  return true;
}

bool ProbeSchedule::Waited(const Turn& turn, TimePoint now, const PrimaryProgress* primary) const {
  if (primary == nullptr || (turn.on_demand && !turn.primary_first)) return true;
  if (now >= turn.lead_until) return true;
  return turn.on_demand ? primary->sampled >= turn.since : primary->tick_done >= seen_;
}

ProbeSchedule::Step ProbeSchedule::Next(TimePoint now, const PrimaryProgress* primary) {
  Step step;
  while (!has_turn_) {
    if (!Take(now, step)) return step;
    // Backing off: the turn is dropped, and a demand with it.
    if (failures_ > 0 && now < retry_at_) {
      if (turn_.on_demand) since_ = whole_since_ = TimePoint::min();
      continue;
    }
    has_turn_ = true;
    turn_.lead_until = now + options_.primary_lead;
  }
  if (!Waited(turn_, now, primary)) {
    step.until = turn_.lead_until;
    return step;
  }
  has_turn_ = false;
  last_started_ = now;
  if (!turn_.position_only) last_whole_started_ = now;
  if (since_ <= now) primary_first_ = false;
  step.action = Step::Action::kProbe;
  step.on_demand = turn_.on_demand;
  step.position_only = turn_.position_only;
  step.tick = seen_;
  return step;
}

void ProbeSchedule::Finished(bool ok, TimePoint now, RandomSource& random) {
  if (ok) {
    failures_ = 0;
    return;
  }
  ++failures_;
  const Duration backoff = std::min<Duration>(
      options_.interval * (1 << std::min(failures_ - 1, 10)), options_.max_backoff);
  const double jitter = 0.75 + 0.5 * random.Uniform();  // within +-25%
  // The retry itself waits for a tick: the first one from here on probes
  // again, so failing probes are about backoff * jitter apart.
  retry_at_ = now + std::chrono::duration_cast<Duration>(backoff * jitter) - options_.interval;
}

}  // namespace lagrouter::daemon
