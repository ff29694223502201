// Read-your-writes readers (--ryw-readers N): each commits its own row
// (ryw: reader, n) on the primary, takes its position on the same connection
// (pg_current_wal_lsn(), @@gtid_binlog_pos), routes a read with after=<it>
// (and --wait) and checks that the server named has the row. A read without
// it is a violation, unless the current primary lacks the row too: then an
// asynchronous failover lost the write itself, which no routing can give
// back; such writes are reported apart as lost.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/daemon_api.h"
#include "tests/chaos/harness.h"
#include "tests/chaos/judgement.h"

namespace lagrouter::chaos {

class RywReaders : public Judgement {
 public:
  explicit RywReaders(Harness& h) : h_(h) {}

  // --ryw-readers threads.
  void Start(std::vector<std::thread>* threads);

  void Print() override;  // RYW VIOLATION lines, then the RYW line
  uint64_t Violations() const override { return missed_; }
  bool Vacuous() const override { return reads_ == 0; }

 private:
  class Reader;

  Harness& h_;
  // Reads made, on replicas, missing their own write (violations) or its
  // write lost by a failover; route time (wait included).
  std::atomic<uint64_t> reads_{0}, on_replica_{0}, missed_{0}, lost_{0};
  std::mutex mu_;
  std::vector<int64_t> route_us_;
  std::vector<std::string> violations_;  // the first 20
};

}  // namespace lagrouter::chaos
