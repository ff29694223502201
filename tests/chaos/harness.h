// What every part of the freshness checker shares: the log, the classes read
// in, connections with deadlines, the commit log, the read counters and the
// stop flag. One Harness per run; readers, the writer, the faults and the
// judgements each take it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/chaos/commit_log.h"
#include "tests/chaos/options.h"
#include "tests/support/db.h"
#include "tests/support/process.h"

namespace lagrouter::chaos {

using std::chrono::milliseconds;
using test_support::Clock;
using test_support::SqlConn;

// A line on stdout, prefixed with the seconds since the start.
void Log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Seconds from the start of the run to `t`.
double SinceStart(Clock::time_point t);
// Sleeps until `d` passed or `stop` is set; false when stopped.
bool SleepFor(Clock::duration d, const std::atomic<bool>& stop);
// The p-th percentile (0-100) of `v` (sorted here); 0 when empty.
int64_t Percentile(std::vector<int64_t>& v, double p);

// The classes readers read in; the first three unless --classes says otherwise.
inline constexpr std::array<const char*, 5> kClasses = {"c300ms", "c1s", "c10s", "c50ms", "c5s"};
inline constexpr std::array<int64_t, 5> kClassMs = {300, 1000, 10000, 50, 5000};
inline constexpr size_t kDefaultClasses = 3;
std::optional<size_t> ClassIndex(const std::string& name);

// What a read came to.
enum Outcome { kReplica, kPrimary, k503, kRouteError, kReadError, kOutcomes };
inline constexpr std::array<const char*, kOutcomes> kOutcomeNames = {"replica", "primary", "503",
                                                                     "route_error", "read_error"};
// The server's answer to "is it a replica": PostgreSQL 1/0, MariaDB's read_only ON/OFF.
inline bool IsReplica(const std::string& answer) {
  return answer == "1" || answer == "ON";
}

// Reads per class and outcome, and the time each successful read took.
struct ReadCounts {
  std::array<std::array<std::atomic<uint64_t>, kOutcomes>, kClasses.size()> by_class{};
  std::mutex mu;
  std::vector<int64_t> read_us;  // time to choose the server and read

  void Count(size_t k, Outcome o) { by_class[k][o]++; }
  void AddDurations(const std::vector<int64_t>& us);
};

constexpr int kDbTimeoutSeconds = 2;  // a SIGSTOPped server must not hang us

// The application's connection to the server on `port`; nullptr with *error
// when it cannot be had.
std::unique_ptr<SqlConn> Connect(bool postgres, int port, std::string* error);

// Idle connections per server port.
class Pool {
 public:
  explicit Pool(bool postgres) : postgres_(postgres) {}
  std::unique_ptr<SqlConn> Acquire(int port, std::string* error);
  void Release(int port, std::unique_ptr<SqlConn> db);

 private:
  bool postgres_;
  std::mutex mu_;
  std::map<int, std::vector<std::unique_ptr<SqlConn>>> idle_;
};

struct Harness {
  explicit Harness(Options options) : o(std::move(options)), pool(o.postgres) {}

  // The read every path makes: the highest id, whether the server is a
  // replica and its port, in one value ("ID REPLICA PORT").
  std::string ReadSql() const;
  // ReadSql on the server on `port` through the pool; false when it failed
  // (the connection is dropped).
  bool ReadSeqOn(int port, int64_t* seen, bool* replica, int* server_port);
  std::string SeqTable() const { return o.postgres ? "seq" : "shop.seq"; }
  std::string RywTable() const { return o.postgres ? "ryw" : "shop.ryw"; }

  const Options o;
  Pool pool;
  CommitLog log;                  // the writer's commits
  ReadCounts reads;               // every reader's reads
  std::atomic<bool> stop{false};  // readers and the writer stop
  int64_t start_id = 0;           // the highest id before the run
  int naive_node = -1;            // Path::kNaive: the replica read
  std::string data_dir;           // where the cluster keeps its data (pid files)
  std::vector<size_t> classes;    // indexes into kClasses the readers read in
};

}  // namespace lagrouter::chaos
