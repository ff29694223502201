#include "tests/chaos/ryw_readers.h"

#include <cstdio>
#include <random>
#include <sstream>

namespace lagrouter::chaos {

class RywReaders::Reader {
 public:
  Reader(RywReaders& r, int index)
      : r_(r),
        h_(r.h_),
        index_(index),
        client_(h_.o.daemon_port, Http()),
        rng_(h_.o.seed + 1000 + static_cast<uint64_t>(index)) {}

  void Run();

 private:
  // Commits row n_ + 1 on the primary; its position, or nullopt (then
  // whether it committed is unknown: that row is never asked for).
  std::optional<std::string> Write();
  // The highest row of this reader on the server routed after `position`
  // in class k, and whether that is a replica; nullopt (counted) on failure.
  std::optional<std::pair<int64_t, bool>> ReadAfter(size_t k, const std::string& position,
                                                    std::string* server);
  void Judge(size_t k, int64_t seen, const std::string& server, const std::string& position);
  // Whether row n of this reader is on the current primary (nullopt: cannot tell now).
  std::optional<bool> OnPrimary(int64_t n);

  RywReaders& r_;
  Harness& h_;
  const int index_;
  HttpClient client_;
  std::mt19937_64 rng_;
  std::unique_ptr<SqlConn> primary_;
  int64_t n_ = 0;
  std::vector<int64_t> route_us_;
};

std::optional<std::string> RywReaders::Reader::Write() {
  std::string value, error, position;
  if (primary_ == nullptr) {
    const Route p = AskRoute(client_, "primary");
    if (p.status != 200 || (primary_ = h_.pool.Acquire(p.port, &error)) == nullptr) {
      return std::nullopt;
    }
  }
  ++n_;
  const bool pg = h_.o.postgres;
  const std::string insert = std::string(pg ? "INSERT" : "INSERT IGNORE") + " INTO " +
                             h_.RywTable() + " (reader, n) VALUES (" + std::to_string(index_) +
                             ", " + std::to_string(n_) + ")" +
                             (pg ? " ON CONFLICT DO NOTHING" : "");
  if (!primary_->TryQuery(insert, &value, &error) ||
      !primary_->TryQuery(pg ? "SELECT pg_current_wal_lsn()" : "SELECT @@gtid_binlog_pos",
                          &position, &error)) {
    primary_.reset();
    return std::nullopt;
  }
  return position;
}

std::optional<std::pair<int64_t, bool>> RywReaders::Reader::ReadAfter(size_t k,
                                                                      const std::string& position,
                                                                      std::string* server) {
  const auto asked = Clock::now();
  const Route r = AskRoute(client_, kClasses[k], h_.o.wait, position);
  const auto routed = Clock::now();
  if (r.status != 200) {
    h_.reads.Count(k, r.status == 503 ? k503 : kRouteError);
    return std::nullopt;
  }
  std::string value, error;
  std::unique_ptr<SqlConn> db = h_.pool.Acquire(r.port, &error);
  const std::string sql = "SELECT CONCAT(COALESCE(MAX(n), 0), ' ', " +
                          std::string(h_.o.postgres ? "pg_is_in_recovery()::int" : "@@read_only") +
                          ") FROM " + h_.RywTable() + " WHERE reader = " + std::to_string(index_);
  if (db == nullptr || !db->TryQuery(sql, &value, &error)) {
    h_.reads.Count(k, kReadError);
    return std::nullopt;
  }
  h_.pool.Release(r.port, std::move(db));
  route_us_.push_back(
      std::chrono::duration_cast<std::chrono::microseconds>(routed - asked).count());
  int64_t seen = 0;
  std::string replica;
  std::istringstream(value) >> seen >> replica;
  *server = r.server;
  return std::make_pair(seen, IsReplica(replica));
}

void RywReaders::Reader::Judge(size_t k, int64_t seen, const std::string& server,
                               const std::string& position) {
  if (seen >= n_) return;
  // Lost by a failover (the primary lacks it too), or misrouted.
  const std::optional<bool> kept = OnPrimary(n_);
  if (kept && !*kept) {
    r_.lost_++;
    Log("ryw reader %d: row %lld lost (not on the current primary either)", index_,
        static_cast<long long>(n_));
    return;
  }
  r_.missed_++;
  std::lock_guard lock(r_.mu_);
  if (r_.violations_.size() < 20) {
    r_.violations_.push_back("class " + std::string(kClasses[k]) + " on " + server + ": reader " +
                             std::to_string(index_) + " wrote row " + std::to_string(n_) + " at " +
                             position + " but read up to row " + std::to_string(seen));
  }
}

std::optional<bool> RywReaders::Reader::OnPrimary(int64_t n) {
  for (int attempt = 0; attempt < 20 && !h_.stop.load(); ++attempt) {
    const Route p = AskRoute(client_, "primary");
    std::string error, value;
    if (p.status == 200) {
      auto db = h_.pool.Acquire(p.port, &error);
      if (db != nullptr && db->TryQuery("SELECT COUNT(*) FROM " + h_.RywTable() +
                                            " WHERE reader = " + std::to_string(index_) +
                                            " AND n = " + std::to_string(n),
                                        &value, &error)) {
        h_.pool.Release(p.port, std::move(db));
        return value == "1";
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return std::nullopt;
}

void RywReaders::Reader::Run() {
  while (!h_.stop.load()) {
    const std::optional<std::string> position = Write();
    if (!position) {
      SleepFor(milliseconds(20), h_.stop);
      continue;
    }
    const size_t k = h_.classes[rng_() % h_.classes.size()];
    std::string server;
    const auto read = ReadAfter(k, *position, &server);
    if (!read) {
      SleepFor(milliseconds(5), h_.stop);
      continue;
    }
    r_.reads_++;
    if (read->second) r_.on_replica_++;
    Judge(k, read->first, server, *position);
    std::this_thread::sleep_for(milliseconds(5));
  }
  std::lock_guard lock(r_.mu_);
  r_.route_us_.insert(r_.route_us_.end(), route_us_.begin(), route_us_.end());
}

void RywReaders::Start(std::vector<std::thread>* threads) {
  for (int i = 0; i < h_.o.ryw_readers; ++i) {
    threads->emplace_back([this, i] { Reader(*this, i).Run(); });
  }
}

void RywReaders::Print() {
  for (const auto& v : violations_) std::printf("RYW VIOLATION: %s\n", v.c_str());
  std::printf(
      "RYW reads=%llu on_replica=%llu missed_own_write=%llu lost_by_failover=%llu "
      "route_p50_us=%lld route_p99_us=%lld (wait=%s)\n",
      static_cast<unsigned long long>(reads_.load()),
      static_cast<unsigned long long>(on_replica_.load()),
      static_cast<unsigned long long>(missed_.load()),
      static_cast<unsigned long long>(lost_.load()),
      static_cast<long long>(Percentile(route_us_, 50)),
      static_cast<long long>(Percentile(route_us_, 99)),
      h_.o.wait.empty() ? "none" : h_.o.wait.c_str());
}

}  // namespace lagrouter::chaos
