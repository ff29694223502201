// The writer: commits ids start_id + 1, 2, 3... into `seq` on the current
// primary (the daemon's answer for the 0 s class "primary", followed through
// failovers) and records in the commit log when each commit returned.
#pragma once

#include <atomic>
#include <cstdint>

#include "tests/chaos/harness.h"

namespace lagrouter::chaos {

class Writer {
 public:
  explicit Writer(Harness& h) : h_(h) {}
  // Until h.stop.
  void Run();

  uint64_t commits() const { return commits_; }
  uint64_t errors() const { return errors_; }

 private:
  Harness& h_;
  std::atomic<uint64_t> commits_{0}, errors_{0};
};

}  // namespace lagrouter::chaos
