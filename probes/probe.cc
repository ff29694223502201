#include "probes/probe.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace lagrouter::probes {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kConnect: return "connect";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kQuery: return "query";
    case ErrorKind::kParse: return "parse";
    case ErrorKind::kAuth: return "auth";
    case ErrorKind::kNone: break;
  }
  return "none";
}

Sample RunToCompletion(Probe& probe, Clock::time_point deadline, Depth depth) {
  for (Step step = probe.Start(deadline, depth); !step.done; step = probe.Resume()) {
    const pollfd wanted{
        step.fd, static_cast<short>((step.read ? POLLIN : 0) | (step.write ? POLLOUT : 0)), 0};
    for (;;) {
      const auto now = Clock::now();
      if (now >= deadline) return probe.Abort();
      if (now >= step.wake_at) break;
      // Rounded up: waking before the time would only spin.
      const auto until = std::min(deadline, step.wake_at);
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
      pollfd p = wanted;
      const int n = poll(&p, step.fd >= 0 ? 1 : 0, static_cast<int>(std::min<int64_t>(ms, 60000)));
      if (n > 0) break;  // ready, or an error or hang-up the probe reads as such
      if (n < 0 && errno != EINTR) {
        const std::string why = std::strerror(errno);
        Sample s = probe.Abort();
        s.error_kind = ErrorKind::kQuery;
        s.error = "waiting for the server failed: " + why;
        return s;
      }
    }
  }
  return probe.Take();
}

}  // namespace lagrouter::probes
