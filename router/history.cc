#include "router/history.h"

#include <algorithm>

namespace lagrouter::router {

PositionHistory::PositionHistory(Duration horizon, size_t max_entries)
    : horizon_(horizon), max_entries_(std::max<size_t>(max_entries, 2)) {}

bool PositionHistory::Record(TimePoint t, const Position& p) {
  if (!IsKnown(p)) return true;
  bool restarted = false;
  if (!entries_.empty()) {
    Entry& last = entries_.back();
    if (t < last.t) return true;  // a late, older sample adds nothing
    if (!Covers(p, last.p)) {
      entries_.clear();
      restarted = true;
    } else if (p == last.p) {
      // Same position, later time: the later sample proves strictly more.
      last.t = t;
      return true;
    }
  }
  entries_.push_back(Entry{t, p});
  while (entries_.size() > max_entries_ ||
         (entries_.size() > 1 && t - entries_.front().t > horizon_)) {
    entries_.pop_front();
  }
  return !restarted;
}

std::optional<TimePoint> PositionHistory::FreshAsOf(const Position& r) const {
  // P is non-decreasing in k, so "P_k <= r" holds for a prefix: binary search
  // for its end.
  auto first_not_covered = std::partition_point(entries_.begin(), entries_.end(),
                                                [&r](const Entry& e) { return Covers(r, e.p); });
  if (first_not_covered == entries_.begin()) return std::nullopt;
  return std::prev(first_not_covered)->t;
}

}  // namespace lagrouter::router
