#include "tests/chaos/session_readers.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "tests/chaos/daemon_api.h"

namespace lagrouter::chaos {

namespace {

int64_t MsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

// A run of reads of one kind (off replicas, failed): when it began, the longest.
struct Spell {
  bool open = false;
  Clock::time_point since{};
  int64_t longest_ms = 0;

  void Mark(bool in_streak, Clock::time_point now) {
    if (in_streak && !open) {
      open = true;
      since = now;
    } else if (!in_streak && open) {
      open = false;
      longest_ms = std::max(longest_ms, MsBetween(since, now));
    }
  }
};

}  // namespace

class SessionReaders::Reader {
 public:
  Reader(SessionReaders& s, int index)
      : s_(s),
        h_(s.h_),
        index_(index),
        client_(h_.o.daemon_port, Http()),
        rng_(h_.o.seed + 2000 + static_cast<uint64_t>(index)) {}

  void Run();

 private:
  // One read of class k in the session; false when it failed (counted).
  bool ReadOnce(size_t k);
  // Monotonic reads: `seen` against the session's highest id so far.
  void Judge(size_t k, const Route& r, int64_t seen, Clock::time_point sent);
  // Commits the session's next row on the primary; false when it failed
  // (the row may be committed: it is written again, never asked for).
  bool Write();
  // Read-your-writes: the server on `port` has the session's last row.
  void JudgeOwnWrite(const Route& r);
  // Row n of this session on the current primary (nullopt: cannot tell now).
  std::optional<bool> OnPrimary(int64_t n);
  int RywReader() const { return 100 + index_; }

  SessionReaders& s_;
  Harness& h_;
  const int index_;
  HttpClient client_;
  std::mt19937_64 rng_;
  std::string token_;        // the session token ("": a new session)
  int64_t high_ = 0;         // the highest id the session read
  std::string high_server_;  // where it read it
  Spell off_replica_, error_;
  std::unique_ptr<SqlConn> primary_;  // --session-writes: the writes' connection
  int64_t rows_ = 0;                  // the session's rows committed
  std::string after_;                 // the position of its last row ("": none)
  std::vector<int64_t> route_us_;
};

bool SessionReaders::Reader::ReadOnce(size_t k) {
  RouteAsk ask;
  ask.cls = kClasses[k];
  ask.wait = h_.o.wait;
  ask.after = after_;
  if (!s_.baseline()) ask.session = token_;
  const auto sent = Clock::now();
  const Route r = AskRoute(client_, ask);
  const auto routed = Clock::now();
  if (r.status != 200) {
    if (r.status == 400 && r.error == "bad_session") {
      s_.bad_session_++;  // a token the daemon gave back was refused: start again
      token_.clear();
    }
    s_.route_errors_++;
    h_.reads.Count(k, r.status == 503 ? k503 : kRouteError);
    return false;
  }
  route_us_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(routed - sent).count());
  if (!s_.baseline()) {
    if (r.session.empty()) s_.missing_token_++;
    token_ = r.session;
  }
  {
    std::lock_guard lock(s_.mu_);
    s_.reasons_[r.reason.empty() ? "none" : r.reason]++;
  }
  Read read;
  bool replica = false;
  if (!h_.ReadSeqOn(r.port, &read.seen, &replica, &read.port)) {
    s_.read_errors_++;
    h_.reads.Count(k, kReadError);
    return false;
  }
  s_.reads_++;
  if (replica) s_.on_replica_++;
  off_replica_.Mark(!replica, Clock::now());
  read.k = k;
  read.sent = sent;
  read.server = r.server;
  read.bound_ms = r.bound_ms;
  read.replica = replica ? "1" : "0";
  s_.freshness_.Judge(read);
  Judge(k, r, read.seen, sent);
  if (rows_ > 0) JudgeOwnWrite(r);
  return true;
}

bool SessionReaders::Reader::Write() {
  std::string value, error, position;
  if (primary_ == nullptr) {
    const Route p = AskRoute(client_, "primary");
    if (p.status != 200 || (primary_ = h_.pool.Acquire(p.port, &error)) == nullptr) return false;
  }
  const bool pg = h_.o.postgres;
  const std::string insert = std::string(pg ? "INSERT" : "INSERT IGNORE") + " INTO " +
                             h_.RywTable() + " (reader, n) VALUES (" + std::to_string(RywReader()) +
                             ", " + std::to_string(rows_ + 1) + ")" +
                             (pg ? " ON CONFLICT DO NOTHING" : "");
  if (!primary_->TryQuery(insert, &value, &error) ||
      !primary_->TryQuery(pg ? "SELECT pg_current_wal_lsn()" : "SELECT @@gtid_binlog_pos",
                          &position, &error)) {
    primary_.reset();
    return false;
  }
  rows_++;
  after_ = position;
  return true;
}

void SessionReaders::Reader::JudgeOwnWrite(const Route& r) {
  std::string value, error;
  auto db = h_.pool.Acquire(r.port, &error);
  if (db == nullptr || !db->TryQuery("SELECT COALESCE(MAX(n), 0) FROM " + h_.RywTable() +
                                         " WHERE reader = " + std::to_string(RywReader()),
                                     &value, &error)) {
    return;  // not judged: the server went away between the two queries
  }
  h_.pool.Release(r.port, std::move(db));
  s_.own_write_reads_++;
  const int64_t seen = std::strtoll(value.c_str(), nullptr, 10);
  if (seen >= rows_) return;
  const std::optional<bool> kept = OnPrimary(rows_);
  if (kept && !*kept) {
    s_.own_write_lost_++;
    return;
  }
  s_.missed_own_write_++;
  std::lock_guard lock(s_.mu_);
  if (s_.missed_shown_.size() < 20) {
    s_.missed_shown_.push_back("reader " + std::to_string(index_) + " on " + r.server +
                               " (reason " + r.reason + ") wrote row " + std::to_string(rows_) +
                               " at " + after_ + " but read up to row " + std::to_string(seen));
  }
}

std::optional<bool> SessionReaders::Reader::OnPrimary(int64_t n) {
  for (int attempt = 0; attempt < 20 && !h_.stop.load(); ++attempt) {
    const Route p = AskRoute(client_, "primary");
    std::string error, value;
    if (p.status == 200) {
      auto db = h_.pool.Acquire(p.port, &error);
      if (db != nullptr && db->TryQuery("SELECT COUNT(*) FROM " + h_.RywTable() +
                                            " WHERE reader = " + std::to_string(RywReader()) +
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

void SessionReaders::Reader::Judge(size_t k, const Route& r, int64_t seen, Clock::time_point sent) {
  if (seen >= high_) {
    high_ = seen;
    high_server_ = r.server;
    return;
  }
  WentBack w;
  w.reader = index_;
  w.cls = kClasses[k];
  w.from = high_server_;
  w.to = r.server;
  w.reason = r.reason;
  w.at_s = SinceStart(Clock::now());
  w.high = high_;
  w.seen = seen;
  const auto high_at = h_.log.ReturnedAt(high_);
  const auto missed_at = h_.log.ReturnedAt(seen + 1);
  if (high_at && missed_at) w.back_ms = MsBetween(*missed_at, *high_at);
  // Whether the first missed commit had returned when the request was sent
  // (in flight: a replica may show a commit before the primary does).
  w.missed_in_flight = !missed_at || *missed_at > sent;
  if (missed_at) {
    w.missed_returned_us =
        std::chrono::duration_cast<std::chrono::microseconds>(sent - *missed_at).count();
  }
  s_.Suspect(w);
}

void SessionReaders::Reader::Run() {
  for (uint64_t i = 1; !h_.stop.load(); ++i) {
    const int every = h_.o.session_writes;
    if (every > 0 && i % static_cast<uint64_t>(every) == 0 && !Write()) {
      SleepFor(milliseconds(20), h_.stop);
      continue;
    }
    const size_t k = h_.classes[rng_() % h_.classes.size()];
    const bool ok = ReadOnce(k);
    const auto now = Clock::now();
    error_.Mark(!ok, now);
    if (!ok) off_replica_.Mark(true, now);
    // Leave CPU to the servers and the daemon (2 cores run everything).
    std::this_thread::sleep_for(milliseconds(ok ? 1 : 5));
  }
  const auto end = Clock::now();
  off_replica_.Mark(false, end);
  error_.Mark(false, end);
  s_.AddSpells(off_replica_.longest_ms, error_.longest_ms);
  std::lock_guard lock(s_.mu_);
  s_.route_us_.insert(s_.route_us_.end(), route_us_.begin(), route_us_.end());
}

void SessionReaders::Start(std::vector<std::thread>* threads) {
  for (int i = 0; i < h_.o.session_readers; ++i) {
    threads->emplace_back([this, i] { Reader(*this, i).Run(); });
  }
}

void SessionReaders::Suspect(const WentBack& w) {
  std::lock_guard lock(mu_);
  if (suspects_.size() < 1000000) {
    suspects_.push_back(w);
  } else {
    suspects_dropped_++;
  }
}

void SessionReaders::AddSpells(int64_t off_replica_ms, int64_t error_ms) {
  std::lock_guard lock(mu_);
  longest_off_replica_ms_ = std::max(longest_off_replica_ms_, off_replica_ms);
  longest_error_ms_ = std::max(longest_error_ms_, error_ms);
}

void SessionReaders::Classify(const std::set<int64_t>& lost) {
  std::lock_guard lock(mu_);
  went_back_ = suspects_dropped_;
  for (const auto& w : suspects_) {
    // Every id in (seen, high] lost: the session's earlier read saw a
    // timeline that a failover cut off, and this one all that survived.
    const auto first = lost.upper_bound(w.seen);
    const auto last = lost.upper_bound(w.high);
    if (std::distance(first, last) == w.high - w.seen) {
      went_back_lost_++;
      continue;
    }
    went_back_++;
    if (w.missed_in_flight) went_back_in_flight_++;
    worst_back_ids_ = std::max(worst_back_ids_, w.high - w.seen);
    worst_back_ms_ = std::max(worst_back_ms_, w.back_ms);
    if (shown_.size() < 20) shown_.push_back(w);
  }
}

std::string SessionReaders::InFlight(const WentBack& w) {
  if (w.missed_in_flight && w.missed_returned_us == 0) return "never returned (in flight)";
  const std::string us =
      std::to_string(w.missed_returned_us < 0 ? -w.missed_returned_us : w.missed_returned_us);
  return w.missed_in_flight ? "returned " + us + " us after the request was sent (in flight)"
                            : "had returned " + us + " us before the request";
}

void SessionReaders::Print() {
  const char* label = baseline() ? "SESSION WENT BACK (baseline, no token)" : "SESSION VIOLATION";
  for (const auto& w : shown_) {
    std::printf(
        "%s at %.3f s: reader %d, class %s on %s (reason %s) saw id %lld, but the session had "
        "read id %lld on %s: %lld ids, %lld ms back; id %lld %s\n",
        label, w.at_s, w.reader, w.cls.c_str(), w.to.c_str(), w.reason.c_str(),
        static_cast<long long>(w.seen), static_cast<long long>(w.high), w.from.c_str(),
        static_cast<long long>(w.high - w.seen), static_cast<long long>(w.back_ms),
        static_cast<long long>(w.seen + 1), InFlight(w).c_str());
  }
  for (const auto& m : missed_shown_) std::printf("SESSION RYW VIOLATION: %s\n", m.c_str());
  std::string reasons;
  for (const auto& [reason, n] : reasons_) {
    reasons += (reasons.empty() ? "" : ",") + reason + ":" + std::to_string(n);
  }
  const uint64_t reads = reads_;
  const double share = reads > 0 ? 100.0 * static_cast<double>(on_replica_) / reads : 0;
  if (h_.o.session_writes > 0) {
    std::printf(
        "SESSION RYW reads_after_own_write=%llu missed_own_write=%llu lost_by_failover=%llu\n",
        static_cast<unsigned long long>(own_write_reads_.load()),
        static_cast<unsigned long long>(missed_own_write_.load()),
        static_cast<unsigned long long>(own_write_lost_.load()));
  }
  std::printf(
      "SUMMARY path=session token=%s readers=%d reads=%llu went_back=%llu "
      "went_back_lost_commit=%llu went_back_in_flight=%llu worst_back_ids=%lld worst_back_ms=%lld "
      "replica_share=%.1f "
      "reasons=%s route_errors=%llu read_errors=%llu bad_session=%llu missing_token=%llu "
      "longest_off_replica_ms=%lld longest_error_ms=%lld route_p50_us=%lld route_p99_us=%lld "
      "wait=%s violations=%llu\n",
      baseline() ? "no" : "yes", h_.o.session_readers, static_cast<unsigned long long>(reads),
      static_cast<unsigned long long>(went_back_), static_cast<unsigned long long>(went_back_lost_),
      static_cast<unsigned long long>(went_back_in_flight_),
      static_cast<long long>(worst_back_ids_), static_cast<long long>(worst_back_ms_), share,
      reasons.empty() ? "none" : reasons.c_str(),
      static_cast<unsigned long long>(route_errors_.load()),
      static_cast<unsigned long long>(read_errors_.load()),
      static_cast<unsigned long long>(bad_session_.load()),
      static_cast<unsigned long long>(missing_token_.load()),
      static_cast<long long>(longest_off_replica_ms_), static_cast<long long>(longest_error_ms_),
      static_cast<long long>(Percentile(route_us_, 50)),
      static_cast<long long>(Percentile(route_us_, 99)),
      h_.o.wait.empty() ? "none" : h_.o.wait.c_str(),
      static_cast<unsigned long long>(Violations()));
}

}  // namespace lagrouter::chaos
