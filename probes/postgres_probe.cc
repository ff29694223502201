// PostgreSQL probe on non-blocking libpq: connect and query are both bounded by
// the caller's deadline (connect_timeout alone does not bound a query).
#include <libpq-fe.h>
#include <poll.h>

#include <cstring>

#include "common/text.h"
#include "probes/postgres_parse.h"
#include "probes/probe.h"
#include "probes/scrub.h"

namespace lagrouter::probes {
namespace {

enum class Wait { kReady, kTimeout, kError };

Wait WaitSocket(int fd, bool for_write, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Wait::kTimeout;
    pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    const int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 60000)));
    if (n > 0) return Wait::kReady;
    if (n < 0 && errno != EINTR) return Wait::kError;
  }
}

// SQLSTATE class 28: invalid authorization specification (28000, 28P01
// invalid password).
bool IsAuthSqlState(const char* sqlstate) {
  return sqlstate != nullptr && std::strncmp(sqlstate, "28", 2) == 0;
}

class PostgresProbe final : public Probe {
 public:
  explicit PostgresProbe(ServerEndpoint endpoint) : ep_(std::move(endpoint)) {}
  ~PostgresProbe() override { Close(); }

  Sample Run(Clock::time_point deadline) override {
    Sample s = Take(deadline);
    s.error = ScrubSecret(std::move(s.error), ep_.password);
    return s;
  }

 private:
  Sample Take(Clock::time_point deadline) {
    Sample s;
    if (conn_ == nullptr && !Connect(deadline, s)) return s;
    s.sent_at = Clock::now();  // t_k: before the query leaves
    if (PQsendQuery(conn_, kPostgresProbeQuery) == 0) {
      return Drop(s, ErrorKind::kQuery, "sending the probe query failed: " + Message());
    }
    // Non-blocking: flush what the socket did not take at once.
    for (int r; (r = PQflush(conn_)) != 0;) {
      if (r < 0) return Drop(s, ErrorKind::kQuery, "sending the probe query failed: " + Message());
      const Wait w = WaitSocket(PQsocket(conn_), true, deadline);
      if (w != Wait::kReady) return DropWait(s, w);
    }
    std::vector<PGresult*> results;
    for (;;) {
      while (PQisBusy(conn_) != 0) {
        const Wait w = WaitSocket(PQsocket(conn_), false, deadline);
        if (w != Wait::kReady) {
          for (auto* r : results) PQclear(r);
          return DropWait(s, w);
        }
        if (PQconsumeInput(conn_) == 0) {
          for (auto* r : results) PQclear(r);
          return Drop(s, ErrorKind::kQuery, "connection lost: " + Message());
        }
      }
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) break;
      results.push_back(r);
    }
    s.received_at = Clock::now();
    Interpret(results, s);
    for (auto* r : results) PQclear(r);
    if (!s.ok && s.error_kind != ErrorKind::kParse) Close();
    return s;
  }

  bool Connect(Clock::time_point deadline, Sample& s) {
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now());
    const std::string port = std::to_string(ep_.port);
    const std::string timeout = std::to_string(std::max<int64_t>(2, left.count() + 1));
    std::vector<const char*> keys = {"host",           "port", "user", "dbname", "application_name",
                                     "connect_timeout"};
    std::vector<const char*> values = {ep_.host.c_str(),     port.c_str(), ep_.user.c_str(),
                                       ep_.database.c_str(), "lagrouter",  timeout.c_str()};
    auto add = [&](const char* k, const std::string& v) {
      if (!v.empty()) {
        keys.push_back(k);
        values.push_back(v.c_str());
      }
    };
    add("password", ep_.password);
    add("sslmode", ep_.sslmode);
    add("sslrootcert", ep_.sslrootcert);
    add("sslcert", ep_.sslcert);
    add("sslkey", ep_.sslkey);
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
    if (conn_ == nullptr) {
      s.error_kind = ErrorKind::kConnect;
      s.error = "out of memory starting a connection";
      return false;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
      if (st == PGRES_POLLING_FAILED || PQstatus(conn_) == CONNECTION_BAD) {
        const std::string msg = Message();
        // libpq 15 keeps a failed start-up's SQLSTATE private (no accessor):
        // only the text tells an authentication failure.
        s.error_kind = msg.find("authentication") != std::string::npos ||
                               msg.find("password") != std::string::npos
                           ? ErrorKind::kAuth
                           : ErrorKind::kConnect;
        s.error = "connecting to " + ep_.host + ":" + port + " failed: " + msg;
        Close();
        return false;
      }
      const Wait w = WaitSocket(PQsocket(conn_), st == PGRES_POLLING_WRITING, deadline);
      if (w != Wait::kReady) {
        s.error_kind = w == Wait::kTimeout ? ErrorKind::kTimeout : ErrorKind::kConnect;
        s.error = "connecting to " + ep_.host + ":" + port +
                  (w == Wait::kTimeout ? " timed out" : " failed: poll error");
        Close();
        return false;
      }
      st = PQconnectPoll(conn_);
    }
    if (PQsetnonblocking(conn_, 1) != 0) {
      s.error_kind = ErrorKind::kConnect;
      s.error = "cannot make the connection non-blocking: " + Message();
      Close();
      return false;
    }
    return true;
  }

  void Interpret(const std::vector<PGresult*>& results, Sample& s) {
    for (auto* r : results) {
      if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s.error_kind = IsAuthSqlState(PQresultErrorField(r, PG_DIAG_SQLSTATE)) ? ErrorKind::kAuth
                                                                               : ErrorKind::kQuery;
        s.error = "probe query failed: " + std::string(Trim(PQresultErrorMessage(r)));
        return;
      }
    }
    if (results.size() != 2) {
      s.error_kind = ErrorKind::kParse;
      s.error = "expected 2 results, got " + std::to_string(results.size());
      return;
    }
    if (PQntuples(results[0]) != 1) {
      s.error_kind = ErrorKind::kParse;
      s.error = "status query returned " + std::to_string(PQntuples(results[0])) + " rows";
      return;
    }
    const Row status = ToRow(results[0], 0);
    std::vector<Row> senders;
    for (int i = 0; i < PQntuples(results[1]); ++i) senders.push_back(ToRow(results[1], i));
    auto parsed = ParsePostgresStatus(status, senders, s);
    if (!parsed) {
      s.error_kind = ErrorKind::kParse;
      s.error = "unexpected reply: " + parsed.error();
      return;
    }
    s.ok = true;
  }

  static Row ToRow(PGresult* r, int i) {
    Row row;
    for (int c = 0; c < PQnfields(r); ++c) {
      row[PQfname(r, c)] = PQgetisnull(r, i, c) != 0
                               ? std::nullopt
                               : std::optional<std::string>(PQgetvalue(r, i, c));
    }
    return row;
  }

  std::string Message() const {
    return conn_ == nullptr ? std::string("no connection")
                            : std::string(Trim(PQerrorMessage(conn_)));
  }

  Sample Drop(Sample& s, ErrorKind kind, std::string message) {
    s.ok = false;
    s.error_kind = kind;
    s.error = std::move(message);
    Close();
    return s;
  }

  Sample DropWait(Sample& s, Wait w) {
    return Drop(s, w == Wait::kTimeout ? ErrorKind::kTimeout : ErrorKind::kQuery,
                w == Wait::kTimeout ? "probe query timed out" : "poll failed on the connection");
  }

  void Close() {
    if (conn_ != nullptr) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
  }

  ServerEndpoint ep_;
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<Probe> MakePostgresProbe(const ServerEndpoint& endpoint) {
  return std::make_unique<PostgresProbe>(endpoint);
}

}  // namespace lagrouter::probes
