#include "tests/chaos/client_readers.h"

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
    line >> read.seen >> read.replica >> read.port >> read.server >> read.bound_ms;
    read.server = "client: " + read.server;
    freshness_.Judge(read);
  } else {
    JudgeRyw(*k, cls, line);
  }
  h_.reads.AddDurations({duration_us});
}

void ClientReaders::JudgeRyw(size_t k, const std::string& cls, std::istringstream& line) {
  int64_t written = 0, found = 0;
  int port = 0;
  std::string replica, server;
  line >> written >> found >> replica >> port >> server;
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

void ClientReaders::Print() {
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
