// A trace of the run for diagnosis (CHAOS_TRACE=FILE): every read's outcome,
// every fault's injection and heal, and each server's /v1/check answer for
// the traced class (reason, role, bound) whenever its reason changes (every
// answer, polled each 20 ms, with CHAOS_TRACE_BOUNDS=1), each line stamped with
// CLOCK_MONOTONIC seconds. tests/chaos/trace_report.py attributes the reads
// that did not land on a replica to fault windows and to the daemon's
// reasons. Off (and free) without CHAOS_TRACE.
#pragma once

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "tests/chaos/harness.h"

namespace lagrouter::chaos {

class Trace {
 public:
  // Opens $CHAOS_TRACE, if set; CHAOS_TRACE_CLASS names the class whose
  // checks are polled (default c1s).
  static Trace& Get();
  bool on() const { return file_ != nullptr; }

  // A read of class k: its outcome, the route's reason (or ""), the port read.
  void Read(size_t k, Outcome outcome, const std::string& reason, int port);
  // A line of free text ("F inject failover 2", "F heal failover 2").
  void Event(const std::string& text);

  // Polls /v1/status for the server names, then each server's /v1/check
  // every 20 ms, writing a line when its answer changes, until `stop`.
  void StartPolling(const Options& o, const std::atomic<bool>& stop);
  void StopPolling();

 private:
  Trace();
  void Line(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  std::FILE* file_ = nullptr;
  std::mutex mu_;
  std::string cls_ = "c1s";
  bool bounds_ = false;
  std::thread poller_;
};

}  // namespace lagrouter::chaos
