// The readers of --path client: the Python client (clients/python, cache on)
// reads in a process of its own (--client-reader tests/chaos/client_reader.py)
// that reports each read's request time, server and result, line by line.
// Its plain reads go to the freshness judgement as any other read; its
// read-your-writes rounds (a write with a session, then a read routed with
// the session's token) are judged here: each must find its row.
#pragma once

#include <atomic>
#include <cstdint>
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

  void Print() override;  // the read-your-writes line and the client's own counters
  uint64_t Violations() const override { return ryw_misses_; }
  bool Vacuous() const override { return ryw_reads_ == 0; }

 private:
  std::string Command() const;
  void Run();
  void Handle(const char* text);
  // A W line's read: did it find the row written just before?
  void JudgeRyw(size_t k, const std::string& cls, std::istringstream& line);

  Harness& h_;
  Freshness& freshness_;
  // Read-your-writes rounds: reads, those on replicas, reads that missed their
  // write, rounds whose write failed, rounds whose read failed.
  std::atomic<uint64_t> ryw_reads_{0}, ryw_on_replicas_{0}, ryw_misses_{0}, ryw_write_errors_{0},
      ryw_not_read_{0};
  std::string client_stats_;  // the Python client's counters, as it printed them
};

}  // namespace lagrouter::chaos
