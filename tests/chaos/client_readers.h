// The readers of --path client: the Python client (clients/python, cache on)
// reads in a process of its own (--client-reader tests/chaos/client_reader.py)
// that reports each read's request time, server and result, line by line.
// Its plain reads go to the freshness judgement as any other read; its
// read-your-writes rounds (a write with a session, then a read routed with
// the session's token) are judged here: each must find its row.
//
// Monotonic reads, judged here too, per reader: a read (R or W line) that
// shows less than the highest id the reader read before went back. With
// sessions ($CHAOS_CLIENT_SESSIONS=1: each reader one lagrouter.Session, the
// program's first line "M session") that is a violation, unless every id it
// missed was lost by a failover (counted apart); without (the baseline, "M
// plain") it is measured, not failed on.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/freshness.h"
#include "tests/chaos/harness.h"
#include "tests/chaos/judgement.h"

namespace lagrouter::chaos {

class ClientReaders : public Judgement {
 public:
  ClientReaders(Harness& h, Freshness& freshness) : h_(h), freshness_(freshness) {}

  // One thread that runs the Python readers for --seconds and judges their lines.
  void Start(std::vector<std::thread>* threads);

  // The read-your-writes line, the monotonic-reads lines (WENT BACK, then
  // SUMMARY path=client-session|client-plain) and the client's own counters.
  void Print() override;
  uint64_t Violations() const override { return ryw_misses_ + (sessions_ ? went_back_ : 0); }
  bool Vacuous() const override { return ryw_reads_ == 0; }

 private:
  std::string Command() const;
  void Run();
  void Handle(const char* text);
  // A W line's read: did it find the row written just before?
  void JudgeRyw(size_t k, const std::string& cls, int64_t sent_ns, std::istringstream& line);
  // Did reader `reader`'s read (class k, sent at `sent`) showing `seen` on
  // `server` go back? (The reading thread only: no lock.)
  void JudgeMonotonic(int reader, size_t k, int64_t sent_ns, int64_t seen,
                      const std::string& server, bool replica);
  // Sorts the reads that went back: across lost commits only, or not.
  void ClassifyWentBack();

  Harness& h_;
  Freshness& freshness_;
  // Read-your-writes rounds: reads, those on replicas, reads that missed their
  // write, rounds whose write failed, rounds whose read failed.
  std::atomic<uint64_t> ryw_reads_{0}, ryw_on_replicas_{0}, ryw_misses_{0}, ryw_write_errors_{0},
      ryw_not_read_{0};
  std::string client_stats_;  // the Python client's counters, as it printed them

  // Monotonic reads.
  struct WentBack {
    int reader = 0;
    std::string cls, from, to;  // the servers of the high-water read and of this one
    double at_s = 0;
    int64_t high = 0, seen = 0;
    Clock::time_point sent;
    bool on_primary = false;
  };
  bool sessions_ = false;                                // the program's "M session"
  std::map<int, std::pair<int64_t, std::string>> high_;  // reader -> (highest id read, server)
  uint64_t judged_ = 0;
  std::vector<WentBack> suspects_;
  // went_back_in_flight_: of went_back_, reads on the primary that missed
  // only commits that had not returned when the read was sent (PostgreSQL
  // makes a commit visible on a standby that replayed it before the primary
  // itself does, in the committing backend's last steps).
  uint64_t went_back_ = 0, went_back_lost_ = 0, went_back_in_flight_ = 0;
  int64_t worst_back_ids_ = 0, worst_back_ms_ = 0;
};

}  // namespace lagrouter::chaos
