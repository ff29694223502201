// Session readers (--session-readers N), issue 23: each reader is one session
// on /v1/route. It starts with session= (empty), reads max(id) on the server
// the answer names, and passes the answer's token back with its next read
// (with --wait as wait=). Its reads are judged for monotonic reads: a read
// that shows less than the highest id the session read before went back. A
// read that went back only across commits a failover lost (every id between
// what it shows and what the session had seen is absent from the final
// primary) saw all the history that exists: it is counted apart.
//
// --session-writes N: every N reads a reader commits a row of its own (ryw:
// reader 100 + its index, n) on the primary and passes its position as
// after= with its later reads, which must show the row (read-your-writes in
// the session; a row the current primary lacks too was lost by a failover,
// counted apart).
//
// --no-session-token: the same readers ask without session=, the baseline
// that shows the problem (reads of one reader go back); what went back is
// measured, not failed on.
//
// Every session read is also a class read: the freshness judgement judges it
// (and counts it among the route reads).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/freshness.h"
#include "tests/chaos/harness.h"
#include "tests/chaos/judgement.h"

namespace lagrouter::chaos {

class SessionReaders : public Judgement {
 public:
  SessionReaders(Harness& h, Freshness& freshness) : h_(h), freshness_(freshness) {}

  // --session-readers threads.
  void Start(std::vector<std::thread>* threads);
  // Sorts the reads that went back into violations and reads that went back
  // across lost commits only.
  void Classify(const std::set<int64_t>& lost);

  void Print() override;  // SESSION WENT BACK lines, then the SUMMARY path=session line
  uint64_t Violations() const override { return (baseline() ? 0 : went_back_) + missed_own_write_; }
  bool Vacuous() const override { return reads_ == 0 || on_replica_ == 0; }

 private:
  class Reader;
  struct WentBack {
    int reader = 0;
    std::string cls, from, to, reason;  // the servers of the high-water read and of this one
    double at_s = 0;
    int64_t high = 0, seen = 0;  // the session's highest id before, and what this read shows
    int64_t back_ms = 0;         // how much older: the return of `high` - the return of `seen` + 1
    bool missed_in_flight = false;   // `seen` + 1 had not returned when the request was sent
    int64_t missed_returned_us = 0;  // it returned this long before the request (< 0: after)
  };
  bool baseline() const { return h_.o.no_session_token; }
  static std::string InFlight(const WentBack& w);  // when the first missed commit returned
  void Suspect(const WentBack& w);
  void AddSpells(int64_t off_replica_ms, int64_t error_ms);

  Harness& h_;
  Freshness& freshness_;
  std::atomic<uint64_t> reads_{0}, on_replica_{0}, route_errors_{0}, read_errors_{0},
      bad_session_{0}, missing_token_{0};
  // Reads after the session's own write: those, missing it, missing it lost.
  std::atomic<uint64_t> own_write_reads_{0}, missed_own_write_{0}, own_write_lost_{0};
  std::vector<std::string> missed_shown_;  // the first 20 missed own writes
  std::mutex mu_;
  std::map<std::string, uint64_t> reasons_;  // the answers' reason
  std::vector<int64_t> route_us_;
  std::vector<WentBack> suspects_;  // reads that went back (classified at the end)
  uint64_t suspects_dropped_ = 0;   // past the cap: counted as went back
  std::vector<WentBack> shown_;     // the first 20 that went back, printed
  // Went back: violations; of those, missing a commit still in flight (it had
  // not returned when the request was sent); apart: across lost commits only.
  uint64_t went_back_ = 0, went_back_in_flight_ = 0, went_back_lost_ = 0;
  int64_t worst_back_ids_ = 0, worst_back_ms_ = 0;
  // The longest time a session read off replicas (the primary, or no read at
  // all), and the longest time it could not read at all.
  int64_t longest_off_replica_ms_ = 0, longest_error_ms_ = 0;
};

}  // namespace lagrouter::chaos
