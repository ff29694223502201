// The primary's position history: a ring of (t_k, P_k) samples, where t_k is
// taken before the query that returned P_k, so every transaction committed
// before t_k is at or below P_k. A replica that has replayed R is then at most
// `now - t_k` stale for the latest k with P_k <= R: a bound, not an estimate.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <vector>

#include "router/position.h"
#include "router/time.h"

namespace lagrouter::router {

class PositionHistory {
 public:
  // Keeps samples for `horizon` (the loosest class plus a margin) in at most
  // `max_entries`. When they are all taken, older samples are thinned: one
  // is dropped while the gap it leaves between the samples kept around it is
  // at most its age / kThinning, so a bound read from a thinned history is
  // never less than the full history's and at most ~1/kThinning more. Only
  // if thinning frees too little does the oldest go.
  PositionHistory(Duration horizon, size_t max_entries);
  static constexpr int kThinning = 64;

  // Records the primary's position `p` sampled at `t`. A position that does
  // not cover the previous one (a new timeline, a reset) restarts the history:
  // positions of another history prove nothing. Returns false on a restart.
  bool Record(TimePoint t, const Position& p);
  void Reset();

  // The latest t_k with P_k <= r, or nullopt when no sample is covered.
  std::optional<TimePoint> FreshAsOf(const Position& r) const;

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // Oldest remembered sample time: a replica covering none of the history is
  // at least `now - oldest()` stale.
  TimePoint oldest() const { return At(0).t; }
  const Position& latest() const { return At(size_ - 1).p; }
  // When the latest position was sampled: no replica's bound can be less
  // than `now - latest_at()`.
  TimePoint latest_at() const { return At(size_ - 1).t; }

 private:
  struct Entry {
    TimePoint t;
    Position p;
  };
  Duration horizon_;
  size_t max_entries_;
  // The i-th entry, oldest first: t ascending, P non-decreasing.
  const Entry& At(size_t i) const { return ring_[(head_ + i) % ring_.size()]; }
  Entry& At(size_t i) { return ring_[(head_ + i) % ring_.size()]; }
  void PopOldest();
  // Drops samples as the constructor says; false when it freed too little.
  bool Thin();
  // What a full history must free (an eighth), so thinning stays amortized.
  size_t FreedByThinning() const { return std::max<size_t>(1, max_entries_ / 8); }
  // A ring in one vector, grown by doubling up to max_entries_: a deque's
  // first block took 512 B a cluster for the one entry an idle primary needs.
  std::vector<Entry> ring_;
  size_t head_ = 0;  // the oldest entry's slot
  size_t size_ = 0;
};

}  // namespace lagrouter::router
