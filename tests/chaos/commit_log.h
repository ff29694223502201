// The commit log: id -> monotonic time its commit returned (ids and times grow).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <iterator>
#include <mutex>
#include <optional>
#include <vector>

#include "tests/support/process.h"

namespace lagrouter::chaos {

class CommitLog {
 public:
  using Clock = test_support::Clock;

  void Append(int64_t id, Clock::time_point returned) {
    {
      std::lock_guard lock(mu_);
      entries_.push_back({id, returned});
    }
    appended_.notify_all();
  }
  // Waits up to `timeout` for the log to hold more than `n` entries; whether it does.
  bool WaitForMore(size_t n, Clock::duration timeout) const {
    std::unique_lock lock(mu_);
    return appended_.wait_for(lock, timeout, [&] { return entries_.size() > n; });
  }
  // When the commit of `id` returned (ids are logged in order); nullopt if never.
  std::optional<Clock::time_point> ReturnedAt(int64_t id) const {
    std::lock_guard lock(mu_);
    auto it = std::lower_bound(entries_.begin(), entries_.end(), id,
                               [](const Entry& e, int64_t i) { return e.id < i; });
    if (it == entries_.end() || it->id != id) return std::nullopt;
    return it->at;
  }
  // The highest id whose commit returned before `cutoff` (0: none), and when.
  int64_t RequiredBefore(Clock::time_point cutoff, Clock::time_point* returned = nullptr) const {
    std::lock_guard lock(mu_);
    auto it = std::lower_bound(entries_.begin(), entries_.end(), cutoff,
                               [](const Entry& e, Clock::time_point t) { return e.at < t; });
    if (it == entries_.begin()) return 0;
    if (returned != nullptr) *returned = std::prev(it)->at;
    return std::prev(it)->id;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }
  std::vector<int64_t> Ids() const {
    std::lock_guard lock(mu_);
    std::vector<int64_t> ids;
    for (const auto& e : entries_) ids.push_back(e.id);
    return ids;
  }

 private:
  struct Entry {
    int64_t id;
    Clock::time_point at;
  };
  mutable std::mutex mu_;
  mutable std::condition_variable appended_;
  std::vector<Entry> entries_;
};

}  // namespace lagrouter::chaos
