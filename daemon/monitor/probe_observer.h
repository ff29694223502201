// What the Monitor tells about each probe it ran (the metrics implement it),
// so that monitor/ does not depend on metrics/.
#pragma once

#include <cstddef>

#include "probes/probe.h"

namespace lagrouter::daemon {

class ProbeObserver {
 public:
  virtual ~ProbeObserver() = default;
  // After each probe, on its thread: how long it took, and how it failed
  // (ErrorKind::kNone when it did not).
  virtual void ObserveProbe(size_t cluster, size_t server, double seconds,
                            probes::ErrorKind error) = 0;
};

}  // namespace lagrouter::daemon
