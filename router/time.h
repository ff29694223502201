// Router time is the daemon's monotonic clock, always passed in as an argument.
#pragma once

#include <chrono>

namespace lagrouter::router {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::nanoseconds;

inline int64_t ToMillis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
// Staleness is reported rounded up (never less than it may be), remaining
// validity rounded down (never longer than it is).
inline int64_t ToMillisCeil(Duration d) {
  return std::chrono::ceil<std::chrono::milliseconds>(d).count();
}
inline double ToSeconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace lagrouter::router
