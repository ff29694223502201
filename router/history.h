// The primary's position history: a ring of (t_k, P_k) samples, where t_k is
// taken before the query that returned P_k, so every transaction committed
// before t_k is at or below P_k. A replica that has replayed R is then at most
// `now - t_k` stale for the latest k with P_k <= R: a bound, not an estimate.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>

#include "router/position.h"
#include "router/time.h"

namespace lagrouter::router {

class PositionHistory {
 public:
  // Keeps samples for `horizon` (the loosest class plus a margin) and at most
  // `max_entries` of them, whichever is fewer.
  PositionHistory(Duration horizon, size_t max_entries);

  // Records the primary's position `p` sampled at `t`. A position that does
  // not cover the previous one (a new timeline, a reset) restarts the history:
  // positions of another history prove nothing. Returns false on a restart.
  bool Record(TimePoint t, const Position& p);
  void Reset() { entries_.clear(); }

  // The latest t_k with P_k <= r, or nullopt when no sample is covered.
  std::optional<TimePoint> FreshAsOf(const Position& r) const;

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // Oldest remembered sample time: a replica covering none of the history is
  // at least `now - oldest()` stale.
  TimePoint oldest() const { return entries_.front().t; }
  const Position& latest() const { return entries_.back().p; }
  // When the latest position was sampled: no replica's bound can be less
  // than `now - latest_at()`.
  TimePoint latest_at() const { return entries_.back().t; }

 private:
  struct Entry {
    TimePoint t;
    Position p;
  };
  Duration horizon_;
  size_t max_entries_;
  std::deque<Entry> entries_;  // t ascending, P non-decreasing
};

}  // namespace lagrouter::router
