// The freshness judgement: a read of class C whose request was sent at t
// violates the promise when it misses an id whose commit had returned before
// t - max_staleness(C) and survived (is on the final primary). A read that
// misses commits lost by a failover only saw all of the history that exists:
// it is counted apart, not as a violation.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/chaos/harness.h"
#include "tests/chaos/judgement.h"

namespace lagrouter::chaos {

// What one read of class `cls` saw.
struct Read {
  size_t k = 0;            // index into kClasses
  Clock::time_point sent;  // when the request (route or connection) was sent
  int64_t seen = 0;        // the highest id it read
  std::string replica;     // the server's answer (IsReplica)
  int port = 0;            // the server's own port (0: unknown)
  std::string server;      // as the path named it
  int64_t bound_ms = -1;   // the daemon's staleness bound (-1: none)
};

class Freshness : public Judgement {
 public:
  explicit Freshness(Harness& h) : h_(h) {}

  // Counts the read (on a replica or the primary) and keeps it as a suspect
  // when it misses a commit the class required.
  void Judge(const Read& read);
  // Commits that returned but are absent from the final primary; nullopt when
  // they could not be read.
  std::optional<std::set<int64_t>> LostCommits();
  // Sorts the suspects into violations and reads that missed lost commits only.
  void Classify(const std::set<int64_t>& lost);
  // The lost commits Classify was given (for judgements printed after it).
  const std::set<int64_t>& Lost() const { return lost_; }

  // Reads on a replica or the primary, in the classes read in.
  uint64_t Checked() const;
  uint64_t LostWriteReads() const { return lost_write_reads_; }

  void Print() override;  // VIOLATION lines, then SUMMARY
  uint64_t Violations() const override { return violation_count_; }
  // No read, or (through lagrouter) a class never read on a replica.
  bool Vacuous() const override;

 private:
  struct Violation {
    std::string cls, server;
    Clock::time_point sent;
    int64_t class_ms;
    double at_s;
    int64_t required, seen, bound_ms;
    int64_t missed_age_ms;  // the missed commit had returned this long before the request
    int64_t excess_ms;      // the data read was this much older than the class allows
  };
  // The oldest missed commit of `v` that survived; 0 when all were lost.
  static int64_t FirstSurvivor(const Violation& v, const std::set<int64_t>& lost);

  Harness& h_;
  std::mutex mu_;
  std::vector<Violation> suspects_;    // reads that missed commits: violations or lost writes
  uint64_t suspects_dropped_ = 0;      // past the cap: counted as violations
  std::vector<Violation> violations_;  // the first 20, printed
  uint64_t violation_count_ = 0, lost_write_reads_ = 0;
  int64_t worst_excess_ms_ = 0;
  std::set<int64_t> lost_;
};

}  // namespace lagrouter::chaos
