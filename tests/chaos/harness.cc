#include "tests/chaos/harness.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <sstream>
#include <thread>

namespace lagrouter::chaos {

namespace {
const Clock::time_point kStart = Clock::now();
std::mutex log_mu;
}  // namespace

void Log(const char* fmt, ...) {
  std::lock_guard lock(log_mu);
  const double t = std::chrono::duration<double>(Clock::now() - kStart).count();
  std::fprintf(stdout, "[%7.3f] ", t);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stdout, fmt, ap);
  va_end(ap);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

double SinceStart(Clock::time_point t) {
  return std::chrono::duration<double>(t - kStart).count();
}

bool SleepFor(Clock::duration d, const std::atomic<bool>& stop) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
    if (stop.load()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(milliseconds(10), until - Clock::now()));
  }
  return !stop.load();
}

int64_t Percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  return v[i];
}

std::optional<size_t> ClassIndex(const std::string& name) {
  for (size_t k = 0; k < kClasses.size(); ++k) {
    if (name == kClasses[k]) return k;
  }
  return std::nullopt;
}

void ReadCounts::AddDurations(const std::vector<int64_t>& us) {
  std::lock_guard lock(mu);
  read_us.insert(read_us.end(), us.begin(), us.end());
}

std::unique_ptr<SqlConn> Connect(bool postgres, int port, std::string* error) {
  using test_support::MysqlConn;
  using test_support::PgConn;
  using test_support::PgOptions;
  if (postgres) {
    auto c = std::make_unique<PgConn>(port, "app", "shop",
                                      PgOptions{.connect_timeout_s = kDbTimeoutSeconds,
                                                .query_timeout_s = kDbTimeoutSeconds,
                                                .application_name = ""});
    if (c->ok()) return c;
    *error = c->error();
  } else {
    auto c = std::make_unique<MysqlConn>(port, "app", "shop", kDbTimeoutSeconds);
    if (c->ok()) return c;
    *error = c->error();
  }
  return nullptr;
}

std::unique_ptr<SqlConn> Pool::Acquire(int port, std::string* error) {
  {
    std::lock_guard lock(mu_);
    auto& idle = idle_[port];
    if (!idle.empty()) {
      auto db = std::move(idle.back());
      idle.pop_back();
      return db;
    }
  }
  return Connect(postgres_, port, error);
}

void Pool::Release(int port, std::unique_ptr<SqlConn> db) {
  std::lock_guard lock(mu_);
  idle_[port].push_back(std::move(db));
}

// PostgreSQL: a replica is in recovery; MariaDB: read_only, which the cluster
// script sets on replicas.
std::string Harness::ReadSql() const {
  return o.postgres ? "SELECT COALESCE(MAX(id), 0) || ' ' || pg_is_in_recovery()::int || ' ' || "
                      "inet_server_port() FROM seq"
                    : "SELECT CONCAT(COALESCE(MAX(id), 0), ' ', @@read_only, ' ', @@port) "
                      "FROM shop.seq";
}

bool Harness::ReadSeqOn(int port, int64_t* seen, bool* replica, int* server_port) {
  std::string error, value, answer;
  std::unique_ptr<SqlConn> db = pool.Acquire(port, &error);
  if (db == nullptr || !db->TryQuery(ReadSql(), &value, &error)) return false;
  pool.Release(port, std::move(db));
  std::istringstream in(value);
  in >> *seen >> answer >> *server_port;
  *replica = IsReplica(answer);
  return !in.fail();
}

}  // namespace lagrouter::chaos
