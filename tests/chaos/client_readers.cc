#include "tests/chaos/client_readers.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "tests/support/process.h"

namespace lagrouter::chaos {

using test_support::ShellQuote;

void ClientReaders::Start(std::vector<std::thread>* threads) {
  threads->emplace_back([this] { Run(); });
}

std::string ClientReaders::Command() const {
  std::string classes;
  for (size_t k : h_.classes) classes += (classes.empty() ? "" : ",") + std::string(kClasses[k]);
  return "/usr/bin/python3 " + ShellQuote(h_.o.client_reader) + " --engine " + h_.o.engine() +
         " --daemon-port " + std::to_string(h_.o.daemon_port) + " --seconds " +
         std::to_string(h_.o.seconds) + " --readers " + std::to_string(h_.o.readers) + " --seed " +
         std::to_string(h_.o.seed % 1000000) + " --classes " + classes + " --sql " +
         ShellQuote(h_.ReadSql());
}

void ClientReaders::Run() {
  const std::string command = Command();
  FILE* in = popen(command.c_str(), "r");
  if (in == nullptr) {
    Log("cannot run %s", command.c_str());
    return;
  }
  char buf[4096];
  while (std::fgets(buf, sizeof buf, in) != nullptr) Handle(buf);
  const int rc = pclose(in);
  if (rc != 0) Log("client reader exited with status %d", rc);
}

// One line of client_reader.py (its docstring has the format).
void ClientReaders::Handle(const char* text) {
  static const std::map<std::string, Outcome> failures = {
      {"503", k503}, {"route_error", kRouteError}, {"read_error", kReadError}};
  std::istringstream line(text);
  std::string kind, cls, outcome;
  int64_t sent_ns = 0, duration_us = 0;
  line >> kind;
  if (kind == "S") {
    std::getline(line, client_stats_);
    return;
  }
  if (kind == "M") {
    std::string mode;
    line >> mode;
    sessions_ = mode == "session";
    return;
  }
  line >> cls >> sent_ns >> duration_us >> outcome;
  const auto k = ClassIndex(cls);
  if ((kind != "R" && kind != "W") || !k) {
    Log("client reader: unexpected line: %s", text);
    return;
  }
  if (outcome != "ok") {
    if (kind == "W" && outcome == "write_error") {
      ryw_write_errors_++;
    } else if (failures.count(outcome) != 0) {
      h_.reads.Count(*k, failures.at(outcome));
      if (kind == "W") ryw_not_read_++;
    }
    return;
  }
  if (kind == "R") {
    Read read;
    read.k = *k;
    read.sent = Clock::time_point(std::chrono::nanoseconds(sent_ns));
    int reader = -1;
    line >> read.seen >> read.replica >> read.port >> read.server >> read.bound_ms >> reader;
    read.server = "client: " + read.server;
    freshness_.Judge(read);
    if (reader >= 0) {
      JudgeMonotonic(reader, *k, sent_ns, read.seen, read.server, IsReplica(read.replica));
    }
  } else {
    JudgeRyw(*k, cls, sent_ns, line);
  }
  h_.reads.AddDurations({duration_us});
}

void ClientReaders::JudgeRyw(size_t k, const std::string& cls, int64_t sent_ns,
                             std::istringstream& line) {
  int64_t written = 0, found = 0;
  int port = 0;
  std::string replica, server;
  int64_t seen = -1;
  int reader = -1;
  line >> written >> found >> replica >> port >> server >> seen >> reader;
  if (reader >= 0 && seen >= 0) {
    JudgeMonotonic(reader, k, sent_ns, seen, "client: " + server, IsReplica(replica));
  }
  const bool on_replica = IsReplica(replica);
  ryw_reads_++;
  if (on_replica) ryw_on_replicas_++;
  h_.reads.Count(k, on_replica ? kReplica : kPrimary);
  if (found != 1) {
    ryw_misses_++;
    Log("READ-YOUR-WRITES MISS: class %s on %s did not find id %lld written just before",
        cls.c_str(), server.c_str(), static_cast<long long>(written));
  }
}

void ClientReaders::JudgeMonotonic(int reader, size_t k, int64_t sent_ns, int64_t seen,
                                   const std::string& server, bool replica) {
  judged_++;
  auto& [high, from] = high_[reader];
  if (seen >= high) {
    high = seen;
    from = server;
    return;
  }
  WentBack w;
  w.reader = reader;
  w.cls = kClasses[k];
  w.from = from;
  w.to = server;
  w.sent = Clock::time_point(std::chrono::nanoseconds(sent_ns));
  w.at_s = SinceStart(w.sent);
  w.on_primary = !replica;
  w.high = high;
  w.seen = seen;
  if (suspects_.size() < 1000000) suspects_.push_back(w);
}

void ClientReaders::ClassifyWentBack() {
  const std::set<int64_t>& lost = freshness_.Lost();
  std::vector<std::pair<WentBack, bool>> shown;
  for (const auto& w : suspects_) {
    bool survivor = false;
    for (int64_t id = w.seen + 1; id <= w.high && !survivor; ++id) survivor = lost.count(id) == 0;
    if (!survivor) {
      went_back_lost_++;
      continue;
    }
    went_back_++;
    const auto first_missed = h_.log.ReturnedAt(w.seen + 1);
    const bool in_flight = w.on_primary && (!first_missed || *first_missed >= w.sent);
    if (in_flight) went_back_in_flight_++;
    worst_back_ids_ = std::max(worst_back_ids_, w.high - w.seen);
    const auto high_at = h_.log.ReturnedAt(w.high), next_at = h_.log.ReturnedAt(w.seen + 1);
    if (high_at && next_at) {
      worst_back_ms_ = std::max<int64_t>(
          worst_back_ms_, std::chrono::duration_cast<milliseconds>(*high_at - *next_at).count());
    }
    if (shown.size() < 20) shown.emplace_back(w, in_flight);
  }
  for (const auto& [w, in_flight] : shown) {
    std::printf(
        "%s at %.3f s: reader %d, class %s on %s%s saw id %lld, but an earlier read of the same "
        "reader (on %s) had seen id %lld%s\n",
        sessions_ ? "SESSION WENT BACK" : "went back (no session)", w.at_s, w.reader, w.cls.c_str(),
        w.to.c_str(), w.on_primary ? " (the primary)" : "", static_cast<long long>(w.seen),
        w.from.c_str(), static_cast<long long>(w.high),
        in_flight ? " (the commit had not returned when the read was sent: visible on the "
                    "replica before the primary)"
                  : "");
  }
}

void ClientReaders::Print() {
  ClassifyWentBack();
  // One line for scripts, as the freshness SUMMARY.
  std::printf(
      "SUMMARY path=client-%s reads=%llu went_back=%llu went_back_lost_commits=%llu "
      "went_back_primary_in_flight=%llu worst_back_ids=%lld worst_back_ms=%lld readers=%zu\n",
      sessions_ ? "session" : "plain", static_cast<unsigned long long>(judged_),
      static_cast<unsigned long long>(went_back_), static_cast<unsigned long long>(went_back_lost_),
      static_cast<unsigned long long>(went_back_in_flight_),
      static_cast<long long>(worst_back_ids_), static_cast<long long>(worst_back_ms_),
      high_.size());
  std::printf(
      "read-your-writes: reads=%llu (on replicas %llu) misses=%llu not_read=%llu "
      "write_errors=%llu\n",
      static_cast<unsigned long long>(ryw_reads_.load()),
      static_cast<unsigned long long>(ryw_on_replicas_.load()),
      static_cast<unsigned long long>(ryw_misses_.load()),
      static_cast<unsigned long long>(ryw_not_read_.load()),
      static_cast<unsigned long long>(ryw_write_errors_.load()));
  std::printf("client stats:%s\n", client_stats_.c_str());
}

}  // namespace lagrouter::chaos
