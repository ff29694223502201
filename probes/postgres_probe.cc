// PostgreSQL probe on non-blocking libpq, as a state machine an event loop
// drives (probe.h): connect (PQconnectPoll), send (PQsendQuery, PQflush), read
// (PQconsumeInput, PQgetResult). The loop bounds the whole sample by its
// deadline; libpq's connect_timeout only applies to its blocking connect.
//
// Host names are resolved synchronously inside PQconnectStartParams and
// PQconnectPoll (libpq has no asynchronous resolver); servers are normally
// configured by IP address, which needs no lookup.
#include <libpq-fe.h>

#include <cstring>
#include <memory>
#include <optional>

#include "common/text.h"
#include "probes/postgres_parse.h"
#include "probes/probe.h"
#include "probes/scrub.h"

namespace lagrouter::probes {
namespace {

// SQLSTATE class 28: invalid authorization specification (28000, 28P01
// invalid password).
bool IsAuthSqlState(const char* sqlstate) {
  return sqlstate != nullptr && std::strncmp(sqlstate, "28", 2) == 0;
}

class PostgresProbe final : public Probe {
 public:
  explicit PostgresProbe(ServerEndpoint endpoint) : ep_(std::move(endpoint)) {}
  ~PostgresProbe() override {
    ClearResults();
    Close();
  }

  PostgresProbe(const PostgresProbe&) = delete;
  PostgresProbe& operator=(const PostgresProbe&) = delete;

  bool connected() const override { return conn_ != nullptr; }

  Step Start(Clock::time_point, Depth depth) override {
    sample_ = std::make_unique<Sample>();
    depth_ = depth;
    return conn_ == nullptr ? StartConnect() : SendQuery();
  }

  Step Resume() override {
    switch (phase_) {
      case Phase::kConnecting: return Connecting(PQconnectPoll(conn_));
      case Phase::kSending:
        // PQflush wants the input read when the socket is readable (the
        // server may answer before it took the whole query); harmless when not.
        if (PQconsumeInput(conn_) == 0)
          return Fail(ErrorKind::kQuery, "connection lost: " + Message());
        return Flush();
      case Phase::kReading: return Read();
      case Phase::kIdle:
      case Phase::kDone: break;
    }
    return Step::Done();
  }

  Sample Take() override {
    phase_ = Phase::kIdle;
    Sample s = std::move(*sample_);
    sample_.reset();
    s.error = ScrubSecret(std::move(s.error), ep_.login->password);
    return s;
  }

  Sample Abort() override {
    if (phase_ == Phase::kConnecting) {
      Fail(ErrorKind::kTimeout, "connecting to " + Where() + " timed out");
    } else {
      Fail(ErrorKind::kTimeout, "probe query timed out");
    }
    return Take();
  }

 private:
  enum class Phase { kIdle, kConnecting, kSending, kReading, kDone };

  Step StartConnect() {
    const std::string port = std::to_string(ep_.port);
    std::vector<const char*> keys = {"host", "port", "user", "dbname", "application_name"};
    std::vector<const char*> values = {ep_.host.c_str(), port.c_str(), ep_.login->user.c_str(),
                                       ep_.login->database.c_str(), "lagrouter"};
    auto add = [&](const char* k, const std::string& v) {
      if (!v.empty()) {
        keys.push_back(k);
        values.push_back(v.c_str());
      }
    };
    add("password", ep_.login->password);
    add("sslmode", ep_.login->sslmode);
    add("sslrootcert", ep_.login->sslrootcert);
    add("sslcert", ep_.login->sslcert);
    add("sslkey", ep_.login->sslkey);
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
    if (conn_ == nullptr) return Fail(ErrorKind::kConnect, "out of memory starting a connection");
    phase_ = Phase::kConnecting;
    // libpq: after PQconnectStart, wait as if PQconnectPoll said "writing".
    return Connecting(PGRES_POLLING_WRITING);
  }

  Step Connecting(PostgresPollingStatusType st) {
    if (st == PGRES_POLLING_FAILED || PQstatus(conn_) == CONNECTION_BAD) {
      const std::string msg = Message();
      // libpq 15 keeps a failed start-up's SQLSTATE private (no accessor):
      // only the text tells an authentication failure.
      const bool auth = msg.find("authentication") != std::string::npos ||
                        msg.find("password") != std::string::npos;
      return Fail(auth ? ErrorKind::kAuth : ErrorKind::kConnect,
                  "connecting to " + Where() + " failed: " + msg);
    }
    if (st != PGRES_POLLING_OK)
      return WaitSocket(st == PGRES_POLLING_READING, st == PGRES_POLLING_WRITING);
    if (PQsetnonblocking(conn_, 1) != 0) {
      return Fail(ErrorKind::kConnect, "cannot make the connection non-blocking: " + Message());
    }
    return SendQuery();
  }

  Step SendQuery() {
    sample_->sent_at = Clock::now();  // t_k: before the query leaves
    // The position alone needs the settings (the WAL geometry) and a role to
    // check it against: a changed one is read again in full (Finish).
    position_asked_ = depth_ == Depth::kPosition && settings_ && last_role_ != Role::kUnknown;
    if (position_asked_) return Send(kPostgresPositionQuery);
    const bool was_primary = last_role_ == Role::kPrimary;
    const bool transactions = was_primary && settings_ &&
                              TellsTransactions(PQserverVersion(conn_), settings_->reads_all_stats);
    // The senders are for people (the primary's view of its replicas' lag):
    // a primary's, once a second. They cost the server ~0.3 ms a round trip,
    // which on-demand probes (strict reads wait for two in a row) are spared.
    senders_asked_ =
        was_primary && (!senders_read_at_ || sample_->sent_at - *senders_read_at_ >= kSendersEvery);
    return Send(PostgresProbeQuery(!settings_, transactions, senders_asked_).c_str());
  }

  Step Send(const char* query) {
    if (PQsendQuery(conn_, query) == 0) {
      return Fail(ErrorKind::kQuery, "sending the probe query failed: " + Message());
    }
    phase_ = Phase::kSending;
    return Flush();
  }

  // Non-blocking: what the socket did not take at once is flushed when it is
  // writable again.
  Step Flush() {
    const int r = PQflush(conn_);
    if (r < 0) return Fail(ErrorKind::kQuery, "sending the probe query failed: " + Message());
    if (r > 0) return WaitSocket(true, true);
    // The reply is hardly ever there yet: wait for it rather than try a read
    // that would only say EAGAIN (a system call per probe, at fleet scale).
    phase_ = Phase::kReading;
    return WaitSocket(true, false);
  }

  Step Read() {
    if (PQconsumeInput(conn_) == 0) return Fail(ErrorKind::kQuery, "connection lost: " + Message());
    while (PQisBusy(conn_) == 0) {
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) return Finish();
      results_.push_back(r);
    }
    return WaitSocket(true, false);
  }

  Step Finish() {
    sample_->received_at = Clock::now();
    if (position_asked_) {
      InterpretPosition(results_, *sample_);
    } else {
      Interpret(results_, *sample_);
    }
    ClearResults();
    if (sample_->ok && position_asked_ && sample_->role != last_role_) {
      // A promotion or demotion: the fold needs the new role's whole status.
      sample_ = std::make_unique<Sample>();
      depth_ = Depth::kFull;
      return SendQuery();
    }
    if (sample_->ok) last_role_ = sample_->role;
    if (!sample_->ok && sample_->error_kind != ErrorKind::kParse) Close();
    phase_ = Phase::kDone;
    return Step::Done();
  }

  // False (with the error in `s`) when a statement failed.
  static bool Succeeded(const std::vector<PGresult*>& results, Sample& s) {
    for (auto* r : results) {
      if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s.error_kind = IsAuthSqlState(PQresultErrorField(r, PG_DIAG_SQLSTATE)) ? ErrorKind::kAuth
                                                                               : ErrorKind::kQuery;
        s.error = "probe query failed: " + std::string(Trim(PQresultErrorMessage(r)));
        return false;
      }
    }
    return true;
  }

  void InterpretPosition(const std::vector<PGresult*>& results, Sample& s) {
    if (!Succeeded(results, s)) return;
    if (results.size() != 1 || PQntuples(results[0]) != 1) {
      s.error_kind = ErrorKind::kParse;
      s.error = "the position query returned " + std::to_string(results.size()) +
                " results, the first with " +
                std::to_string(results.empty() ? 0 : PQntuples(results[0])) + " rows";
      return;
    }
    if (auto parsed = ParsePostgresPosition(ToRow(results[0], 0), *settings_, s); !parsed) {
      s.error_kind = ErrorKind::kParse;
      s.error = "unexpected reply: " + parsed.error();
      return;
    }
    s.ok = true;
  }

  void Interpret(const std::vector<PGresult*>& results, Sample& s) {
    if (!Succeeded(results, s)) return;
    // The connection's first probe also read its settings (a result before
    // the status), and the senders come last when asked.
    const size_t first = settings_ ? 0 : 1;
    const size_t expected = first + (senders_asked_ ? 2 : 1);
    if (results.size() != expected) {
      s.error_kind = ErrorKind::kParse;
      s.error = "expected " + std::to_string(expected) + " results, got " +
                std::to_string(results.size());
      return;
    }
    for (size_t i = 0; i < first + 1; ++i) {
      if (PQntuples(results[i]) != 1) {
        s.error_kind = ErrorKind::kParse;
        s.error = (i < first ? "settings" : "status") + std::string(" query returned ") +
                  std::to_string(PQntuples(results[i])) + " rows";
        return;
      }
    }
    if (!settings_) {
      auto settings = ParsePostgresSettings(ToRow(results[0], 0));
      if (!settings) {
        s.error_kind = ErrorKind::kParse;
        s.error = "unexpected reply: " + settings.error();
        return;
      }
      settings_ = std::move(settings).value();
    }
    const Row status = ToRow(results[first], 0);
    std::vector<Row> senders;
    for (int i = 0; senders_asked_ && i < PQntuples(results[first + 1]); ++i) {
      senders.push_back(ToRow(results[first + 1], i));
    }
    auto parsed = ParsePostgresStatus(status, senders, *settings_, s);
    if (parsed && s.role == Role::kPrimary) {
      if (senders_asked_) {
        downstream_ = s.downstream;
        senders_read_at_ = s.sent_at;
      } else {
        s.downstream = downstream_;
      }
    }
    s.tells_transactions = TellsTransactions(PQserverVersion(conn_), settings_->reads_all_stats);
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

  // The socket can change while connecting (libpq tries the next address).
  Step WaitSocket(bool read, bool write) const {
    return Step{.fd = PQsocket(conn_), .read = read, .write = write};
  }

  std::string Message() const {
    return conn_ == nullptr ? std::string("no connection")
                            : std::string(Trim(PQerrorMessage(conn_)));
  }

  std::string Where() const { return ep_.host + ":" + std::to_string(ep_.port); }

  // Ends the sample as failed and drops the connection.
  Step Fail(ErrorKind kind, std::string message) {
    sample_->ok = false;
    sample_->error_kind = kind;
    sample_->error = std::move(message);
    ClearResults();
    Close();
    phase_ = Phase::kDone;
    return Step::Done();
  }

  void ClearResults() {
    for (auto* r : results_) PQclear(r);
    results_.clear();
  }

  void Close() {
    settings_.reset();
    last_role_ = Role::kUnknown;
    senders_read_at_.reset();
    downstream_.clear();
    if (conn_ != nullptr) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
  }

  ServerEndpoint ep_;
  PGconn* conn_ = nullptr;
  std::optional<PostgresSettings> settings_;  // read by the connection's first probe
  Role last_role_ = Role::kUnknown;           // the connection's previous sample's
  Depth depth_ = Depth::kFull;                // asked by Start
  bool position_asked_ = false;               // the query in flight is the position alone
  static constexpr std::chrono::seconds kSendersEvery{1};
  bool senders_asked_ = false;  // by the query in flight
  std::optional<Clock::time_point> senders_read_at_;
  std::vector<DownstreamReplica> downstream_;  // as last read
  Phase phase_ = Phase::kIdle;
  // The sample in progress; none between samples (a Sample is 0.4 KB).
  std::unique_ptr<Sample> sample_;
  std::vector<PGresult*> results_;  // results read so far
};

}  // namespace

std::unique_ptr<Probe> MakePostgresProbe(const ServerEndpoint& endpoint) {
  return std::make_unique<PostgresProbe>(endpoint);
}

}  // namespace lagrouter::probes
