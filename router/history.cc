#include "router/history.h"

#include <algorithm>

namespace lagrouter::router {

PositionHistory::PositionHistory(Duration horizon, size_t max_entries)
    : horizon_(horizon), max_entries_(std::max<size_t>(max_entries, 2)) {}

void PositionHistory::Reset() {
  ring_ = {};
  head_ = 0;
  size_ = 0;
}

void PositionHistory::PopOldest() {
  At(0) = Entry{};  // a GTID's memory goes with it
  head_ = (head_ + 1) % ring_.size();
  --size_;
}

bool PositionHistory::Record(TimePoint t, const Position& p) {
  if (!IsKnown(p)) return true;
  bool restarted = false;
  if (size_ > 0) {
    Entry& last = At(size_ - 1);
    if (t < last.t) return true;  // a late, older sample adds nothing
    if (!Covers(p, last.p)) {
      Reset();
      restarted = true;
    } else if (p == last.p) {
      // Same position, later time: the later sample proves strictly more.
      last.t = t;
      return true;
    }
  }
  if (size_ == max_entries_ && !Thin()) {
    while (size_ > max_entries_ - FreedByThinning()) PopOldest();
  }
  if (size_ == ring_.size()) {  // full: a ring twice the size, oldest first
    const size_t slots = std::min(std::max<size_t>(1, 2 * size_), max_entries_);
    std::vector<Entry> bigger;
    bigger.reserve(slots);
    for (size_t i = 0; i < size_; ++i) bigger.push_back(std::move(At(i)));
    bigger.resize(slots);
    ring_ = std::move(bigger);
    head_ = 0;
  }
  At(size_++) = Entry{t, p};
  while (size_ > 1 && t - At(0).t > horizon_) PopOldest();
  return !restarted;
}

bool PositionHistory::Thin() {
  const TimePoint latest = At(size_ - 1).t;
  std::vector<Entry> kept;
  kept.reserve(ring_.size());
  kept.push_back(std::move(At(0)));
  for (size_t i = 1; i + 1 < size_; ++i) {
    // Without sample i, the answer for a replica between its position and the
    // next one is the last kept sample's time: early by at most this gap.
    const Duration gap = At(i + 1).t - kept.back().t;
    if (gap * kThinning > latest - At(i).t) kept.push_back(std::move(At(i)));
  }
  kept.push_back(std::move(At(size_ - 1)));
  const bool enough = kept.size() <= max_entries_ - FreedByThinning();
  size_ = kept.size();
  kept.resize(ring_.size());
  ring_ = std::move(kept);
  head_ = 0;
  return enough;
}

std::optional<TimePoint> PositionHistory::FreshAsOf(const Position& r) const {
  // P is non-decreasing in k, so "P_k <= r" holds for a prefix: binary search
  // for its end.
  size_t covered = 0, end = size_;
  while (covered < end) {
    const size_t mid = covered + (end - covered) / 2;
    if (Covers(r, At(mid).p)) {
      covered = mid + 1;
    } else {
      end = mid;
    }
  }
  if (covered == 0) return std::nullopt;
  return At(covered - 1).t;
}

}  // namespace lagrouter::router
