#include "tests/chaos/strict_readers.h"

#include <algorithm>
#include <cstdio>

#include "tests/chaos/daemon_api.h"

namespace lagrouter::chaos {

class StrictReaders::Reader {
 public:
  Reader(StrictReaders& s, int index)
      : s_(s), h_(s.h_), index_(index), client_(h_.o.daemon_port, Http()) {}

  void Run();

 private:
  // One strict read; false when it failed (counted).
  bool ReadOnce();

  StrictReaders& s_;
  Harness& h_;
  const int index_;
  HttpClient client_;
  std::vector<int64_t> answer_us_, proven_us_;
};

bool StrictReaders::Reader::ReadOnce() {
  // Right after a commit returns: wait for the writer's next one (up to
  // 100 ms; an idle or failing-over primary does not hold the reader up).
  if (h_.log.WaitForMore(h_.log.size(), milliseconds(100))) s_.after_commit_++;
  const auto sent = Clock::now();
  Clock::time_point returned{};
  const int64_t required = h_.log.RequiredBefore(sent, &returned);
  const Route r = AskRoute(client_, s_.Class(), h_.o.strict_wait);
  const auto answered = Clock::now();
  if (r.status != 200) {
    s_.route_errors_++;
    return false;
  }
  const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(answered - sent).count();
  answer_us_.push_back(us);
  if (r.reason == "proven_replica") proven_us_.push_back(us);
  {
    std::lock_guard lock(s_.mu_);
    s_.reasons_[r.reason.empty() ? "none" : r.reason]++;
  }
  int64_t seen = 0;
  bool replica = false;
  int port = 0;
  if (!h_.ReadSeqOn(r.port, &seen, &replica, &port)) {
    s_.read_errors_++;
    return false;
  }
  s_.reads_++;
  if (replica) s_.on_replica_++;
  if (seen >= required) return true;
  Miss m;
  m.reader = index_;
  m.server = r.server + " (port " + std::to_string(port) + (replica ? ", replica)" : ", primary)");
  m.reason = r.reason;
  m.at_s = SinceStart(sent);
  m.required = required;
  m.seen = seen;
  m.age_ms = std::chrono::duration_cast<milliseconds>(sent - returned).count();
  s_.Suspect(m);
  return true;
}

void StrictReaders::Reader::Run() {
  while (!h_.stop.load()) {
    if (!ReadOnce()) SleepFor(milliseconds(5), h_.stop);
  }
  std::lock_guard lock(s_.mu_);
  s_.answer_us_.insert(s_.answer_us_.end(), answer_us_.begin(), answer_us_.end());
  s_.proven_us_.insert(s_.proven_us_.end(), proven_us_.begin(), proven_us_.end());
}

const char* StrictReaders::Class() const {
  return h_.o.strict_primary ? "primary" : kStrictClass;
}

void StrictReaders::Start(std::vector<std::thread>* threads) {
  for (int i = 0; i < h_.o.strict_readers; ++i) {
    threads->emplace_back([this, i] { Reader(*this, i).Run(); });
  }
}

void StrictReaders::Suspect(const Miss& m) {
  std::lock_guard lock(mu_);
  if (suspects_.size() < 1000000) {
    suspects_.push_back(m);
  } else {
    suspects_dropped_++;
  }
}

void StrictReaders::Classify(const std::set<int64_t>& lost) {
  std::lock_guard lock(mu_);
  missed_ = suspects_dropped_;
  for (const auto& m : suspects_) {
    // Missed ids (seen, required], all lost: nothing that exists was missed.
    const auto first = lost.upper_bound(m.seen);
    const auto last = lost.upper_bound(m.required);
    if (std::distance(first, last) == m.required - m.seen) {
      missed_lost_++;
      continue;
    }
    missed_++;
    if (shown_.size() < 20) shown_.push_back(m);
  }
}

void StrictReaders::Print() {
  for (const auto& m : shown_) {
    std::printf(
        "STRICT VIOLATION at %.3f s: reader %d on %s (reason %s) saw id %lld, but id %lld had "
        "returned %lld ms before the request\n",
        m.at_s, m.reader, m.server.c_str(), m.reason.c_str(), static_cast<long long>(m.seen),
        static_cast<long long>(m.required), static_cast<long long>(m.age_ms));
  }
  std::string reasons;
  for (const auto& [reason, n] : reasons_) {
    reasons += (reasons.empty() ? "" : ",") + reason + ":" + std::to_string(n);
  }
  const uint64_t reads = reads_;
  const auto it = reasons_.find("proven_replica");
  const uint64_t proven = it == reasons_.end() ? 0 : it->second;
  const uint64_t answers = answer_us_.size();
  const double proven_share = answers > 0 ? 100.0 * static_cast<double>(proven) / answers : 0;
  const double replica_share = reads > 0 ? 100.0 * static_cast<double>(on_replica_) / reads : 0;
  const double p50_ms = static_cast<double>(Percentile(answer_us_, 50)) / 1000.0;
  const double p99_ms = static_cast<double>(Percentile(answer_us_, 99)) / 1000.0;
  const double proven_p50_ms = static_cast<double>(Percentile(proven_us_, 50)) / 1000.0;
  const double proven_p99_ms = static_cast<double>(Percentile(proven_us_, 99)) / 1000.0;
  std::printf(
      "SUMMARY path=strict class=%s readers=%d reads=%llu replica_share=%.1f "
      "proven_replica_share=%.1f reasons=%s answer_p50_ms=%.2f answer_p99_ms=%.2f "
      "proven_p50_ms=%.2f proven_p99_ms=%.2f "
      "asked_after_commit=%llu route_errors=%llu read_errors=%llu missed_lost_commit=%llu "
      "wait=%s violations=%llu\n",
      Class(), h_.o.strict_readers, static_cast<unsigned long long>(reads), replica_share,
      proven_share, reasons.empty() ? "none" : reasons.c_str(), p50_ms, p99_ms, proven_p50_ms,
      proven_p99_ms, static_cast<unsigned long long>(after_commit_.load()),
      static_cast<unsigned long long>(route_errors_.load()),
      static_cast<unsigned long long>(read_errors_.load()),
      static_cast<unsigned long long>(missed_lost_), h_.o.strict_wait.c_str(),
      static_cast<unsigned long long>(missed_));
}

}  // namespace lagrouter::chaos
