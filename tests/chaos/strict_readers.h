// Strict readers (--strict-readers N), issue 23: reads of a 0 s class with
// strict_replicas = true (c0s_strict, configured only then), asked with
// wait=--strict-wait (default --wait, else 50ms). Each reader waits for the
// writer's next commit to return and asks right then (a busy primary, a
// commit just acknowledged); the read must show every commit that returned
// before the request was sent. One that misses only commits a failover lost
// is counted apart. Reported: the share answered with a replica (the
// answer's reason, and what the server says it is), and the time to the
// answer, p50 and p99. --strict-primary: the same readers read the 0 s class
// "primary" (no strict_replicas), the primary-only baseline.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/harness.h"
#include "tests/chaos/judgement.h"

namespace lagrouter::chaos {

class StrictReaders : public Judgement {
 public:
  explicit StrictReaders(Harness& h) : h_(h) {}

  // --strict-readers threads.
  void Start(std::vector<std::thread>* threads);
  // Sorts the reads that missed a commit into violations and reads that
  // missed lost commits only.
  void Classify(const std::set<int64_t>& lost);

  void Print() override;  // STRICT VIOLATION lines, then the SUMMARY path=strict line
  uint64_t Violations() const override { return missed_; }
  bool Vacuous() const override { return reads_ == 0; }

 private:
  class Reader;
  struct Miss {
    int reader = 0;
    std::string server, reason;
    double at_s = 0;
    int64_t required = 0, seen = 0;  // returned before the request; what the read shows
    int64_t age_ms = 0;              // the newest missed commit returned this long before
  };
  void Suspect(const Miss& m);
  const char* Class() const;

  Harness& h_;
  std::atomic<uint64_t> reads_{0}, on_replica_{0}, route_errors_{0}, read_errors_{0},
      after_commit_{0};
  std::mutex mu_;
  std::map<std::string, uint64_t> reasons_;  // the answers' reason
  std::vector<int64_t> answer_us_;           // request sent -> answer received
  std::vector<int64_t> proven_us_;           // the same, of answers with a proven replica
  std::vector<Miss> suspects_;
  uint64_t suspects_dropped_ = 0;
  std::vector<Miss> shown_;  // the first 20 violations, printed
  uint64_t missed_ = 0, missed_lost_ = 0;
};

}  // namespace lagrouter::chaos
