// MySQL/MariaDB probe on libmariadb's non-blocking API, as a state machine an
// event loop drives (probe.h): each library call is started (_start) and
// continued (_cont) when its socket or timer is ready. One persistent
// connection per server, re-opened by the next Start after any failure (never
// the library's auto-reconnect, which would silently drop session state
// mid-cycle).
//
// Deadlines: the loop bounds each sample and calls Abort when it passes; the
// library's whole-second socket timeouts are not set.
//
// Host names are resolved synchronously inside mysql_real_connect_start (the
// library has no asynchronous resolver); servers are normally configured by IP
// address, which needs no lookup.
//
// Per cycle, one round trip: "SELECT <variables>; SHOW REPLICA STATUS" as a
// multi-statement. Servers without SHOW REPLICA STATUS (MySQL < 8.0.22,
// MariaDB < 10.5.1) answer it with a syntax error; from then on the probe
// sends SHOW SLAVE STATUS instead.
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "probes/mysql_client.h"
#include "probes/mysql_status.h"
#include "probes/probe.h"
#include "probes/row.h"
#include "probes/scrub.h"

namespace lagrouter::probes {
namespace {

bool IsAuthError(unsigned err) {
  switch (err) {
    case ER_ACCESS_DENIED_ERROR:           // 1045 bad user or password
    case ER_DBACCESS_DENIED_ERROR:         // 1044
    case ER_SPECIFIC_ACCESS_DENIED_ERROR:  // 1227 missing privilege (REPLICA MONITOR)
    case ER_TABLEACCESS_DENIED_ERROR:      // 1142
    case 1698:                             // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
    case 1251:                             // ER_NOT_SUPPORTED_AUTH_MODE
    case CR_AUTH_PLUGIN_CANNOT_LOAD:       // 2059
      return true;
    default: return false;
  }
}

bool IsConnectionLost(unsigned err) {
  return err == CR_SERVER_LOST || err == CR_SERVER_GONE_ERROR || err == CR_CONN_HOST_ERROR ||
         err == CR_CONNECTION_ERROR || err == CR_SERVER_LOST_EXTENDED;
}

class MysqlProbe final : public Probe {
 public:
  explicit MysqlProbe(ServerEndpoint endpoint) : ep_(std::move(endpoint)) {
    InitMysqlLibraryOnce();
  }
  ~MysqlProbe() override { Close(); }

  MysqlProbe(const MysqlProbe&) = delete;
  MysqlProbe& operator=(const MysqlProbe&) = delete;

  bool connected() const override { return conn_ != nullptr; }

  // Every depth reads in full: the MySQL probe has no lighter statement.
  Step Start(Clock::time_point deadline, Depth) override {
    sample_ = std::make_unique<Sample>();
    deadline_ = deadline;
    if (conn_ == nullptr) {
      if (!Init()) return Step::Done();
      stage_ = Stage::kConnect;
    } else {
      stage_ = Stage::kProbe;
    }
    return Advance(Begin());
  }

  Step Resume() override {
    const int events = Occurred();
    if (events == 0) return waiting_;  // woken for nothing: wait on
    return Advance(Continue(events));
  }

  Sample Take() override {
    Sample s = std::move(*sample_);
    sample_.reset();
    s.error = ScrubSecret(std::move(s.error), ep_.login->password);
    return s;
  }

  Sample Abort() override {
    if (stage_ == Stage::kConnect) {
      Drop(ErrorKind::kTimeout, "connect to " + Where() + " timed out");
    } else {
      Drop(ErrorKind::kTimeout, std::string(What()) + " on " + Where() + " timed out");
    }
    return Take();
  }

 private:
  // The library calls of one sample, in order; each stage is one call.
  enum class Stage {
    kConnect,      // mysql_real_connect
    kGrants,       // SHOW GRANTS, once per connection
    kGrantsRows,   // its result
    kProbe,        // the probe's multi-statement
    kVariables,    // its first result: the variables row
    kReplicaNext,  // to its second statement
    kReplicaRows,  // the replica status rows
    kDrainNext,    // to any further result (none is sent; drained defensively)
    kDrainRows,
    kSlaveQuery,  // SHOW SLAVE STATUS, when SHOW REPLICA STATUS is unknown
    kSlaveRows,
  };
  enum class Call { kConnect, kQuery, kStore, kNext };

  static Call CallOf(Stage stage) {
    switch (stage) {
      case Stage::kConnect: return Call::kConnect;
      case Stage::kGrants:
      case Stage::kProbe:
      case Stage::kSlaveQuery: return Call::kQuery;
      case Stage::kReplicaNext:
      case Stage::kDrainNext: return Call::kNext;
      case Stage::kGrantsRows:
      case Stage::kVariables:
      case Stage::kReplicaRows:
      case Stage::kDrainRows:
      case Stage::kSlaveRows: break;
    }
    return Call::kStore;
  }

  // The statement of the stage, for messages.
  const char* What() const {
    switch (stage_) {
      case Stage::kConnect: return "connect";
      case Stage::kGrants:
      case Stage::kGrantsRows: return "SHOW GRANTS";
      case Stage::kProbe:
      case Stage::kVariables: return "probe query";
      case Stage::kReplicaNext:
      case Stage::kReplicaRows:
      case Stage::kDrainNext:
      case Stage::kDrainRows: return status_sql_;
      case Stage::kSlaveQuery:
      case Stage::kSlaveRows: break;
    }
    return "SHOW SLAVE STATUS";
  }

  bool Init() {
    conn_ = mysql_init(nullptr);
    if (conn_ == nullptr || mysql_options(conn_, MYSQL_OPT_NONBLOCK, nullptr) != 0) {
      Fail(ErrorKind::kConnect, "mysql_init failed (out of memory)");
      Close();
      return false;
    }
    const unsigned tcp = MYSQL_PROTOCOL_TCP;  // "localhost" must not mean a socket
    mysql_options(conn_, MYSQL_OPT_PROTOCOL, &tcp);
    const my_bool no = 0;
    mysql_options(conn_, MYSQL_OPT_RECONNECT, &no);
    const unsigned no_infile = 0;
    mysql_options(conn_, MYSQL_OPT_LOCAL_INFILE, &no_infile);
    mysql_options(conn_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(conn_, MARIADB_OPT_IO_WAIT, TlsHandshakeWait);
    ApplyTls();
    return true;
  }

  // Before every call into the library.
  void Prepare() {
    // OpenSSL's error queue is per thread, and a loop runs many connections:
    // libmariadb reads it after a TLS call without clearing it first, so an
    // error another connection left there (a refused certificate) would end
    // this one's next query as "Lost connection" (2013).
    ERR_clear_error();
    SetCallContext(conn_, deadline_, stage_ == Stage::kConnect);
    // The library sets its socket blocking only while it connects: once the
    // connection is up, one fcntl for good (one per call cost seven
    // system calls a probe).
    if (!socket_nonblocking_) {
      MakeNonBlocking(mysql_get_socket(conn_));
      socket_nonblocking_ = stage_ != Stage::kConnect;
    }
  }

  // Starts the stage's call; its status (0: done at once).
  int Begin() {
    Prepare();
    switch (stage_) {
      case Stage::kConnect: {
        const char* db = ep_.login->database.empty() ? nullptr : ep_.login->database.c_str();
        return mysql_real_connect_start(&connected_, conn_, ep_.host.c_str(),
                                        ep_.login->user.c_str(), ep_.login->password.c_str(), db,
                                        static_cast<unsigned>(ep_.port), nullptr,
                                        CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS);
      }
      case Stage::kGrants: return StartQuery("SHOW GRANTS");
      case Stage::kProbe:
        status_sql_ = slave_status_ ? "SHOW SLAVE STATUS" : "SHOW REPLICA STATUS";
        sample_->sent_at = Clock::now();  // t_k: before the query leaves
        return StartQuery(std::string(MysqlVariablesQuery(flavor_)) + "; " + status_sql_);
      case Stage::kSlaveQuery: return StartQuery("SHOW SLAVE STATUS");
      case Stage::kReplicaNext:
      case Stage::kDrainNext: return mysql_next_result_start(&status_, conn_);
      case Stage::kGrantsRows:
      case Stage::kVariables:
      case Stage::kReplicaRows:
      case Stage::kDrainRows:
      case Stage::kSlaveRows: break;
    }
    return mysql_store_result_start(&result_, conn_);
  }

  int StartQuery(std::string sql) {
    sql_ = std::move(sql);  // the library reads it until the call is done
    return mysql_real_query_start(&status_, conn_, sql_.data(), sql_.size());
  }

  // Continues the stage's call with the events that came; its status.
  int Continue(int events) {
    Prepare();
    switch (CallOf(stage_)) {
      case Call::kConnect: return mysql_real_connect_cont(&connected_, conn_, events);
      case Call::kQuery: return mysql_real_query_cont(&status_, conn_, events);
      case Call::kNext: return mysql_next_result_cont(&status_, conn_, events);
      case Call::kStore: break;
    }
    return mysql_store_result_cont(&result_, conn_, events);
  }

  // Runs the stages on while their calls finish at once; what the call in
  // flight waits for, or done.
  Step Advance(int status) {
    for (wait_status_ = status; wait_status_ == 0; wait_status_ = Begin()) {
      if (!Completed()) return Step::Done();
    }
    waiting_ = Step{.fd = mysql_get_socket(conn_),
                    .read = (wait_status_ & (MYSQL_WAIT_READ | MYSQL_WAIT_EXCEPT)) != 0,
                    .write = (wait_status_ & MYSQL_WAIT_WRITE) != 0};
    if ((wait_status_ & MYSQL_WAIT_TIMEOUT) != 0) {
      waiting_.wake_at =
          Clock::now() + std::chrono::milliseconds(mysql_get_timeout_value_ms(conn_));
    }
    return waiting_;
  }

  // The events the call in flight waited for that have come: the library
  // takes a wake-up as its event (a connect in progress would pass for done).
  int Occurred() const {
    int events = 0;
    if ((wait_status_ & MYSQL_WAIT_TIMEOUT) != 0 && Clock::now() >= waiting_.wake_at) {
      events |= MYSQL_WAIT_TIMEOUT;
    }
    pollfd p{waiting_.fd,
             static_cast<short>(((wait_status_ & MYSQL_WAIT_READ) != 0 ? POLLIN : 0) |
                                ((wait_status_ & MYSQL_WAIT_WRITE) != 0 ? POLLOUT : 0) |
                                ((wait_status_ & MYSQL_WAIT_EXCEPT) != 0 ? POLLPRI : 0)),
             0};
    if (poll(&p, 1, 0) > 0) {
      // An error or hang-up is for the library to read.
      const bool broken = (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
      if (broken || (p.revents & POLLIN) != 0) events |= wait_status_ & MYSQL_WAIT_READ;
      if (broken || (p.revents & POLLOUT) != 0) events |= wait_status_ & MYSQL_WAIT_WRITE;
      if (broken || (p.revents & POLLPRI) != 0) events |= wait_status_ & MYSQL_WAIT_EXCEPT;
    }
    return events;
  }

  // The stage's call is done: moves to the next stage (true) or ends the
  // sample (false).
  bool Completed() {
    switch (stage_) {
      case Stage::kConnect: return Connected();
      case Stage::kGrants: return status_ == 0 ? Go(Stage::kGrantsRows) : QueryFailed();
      case Stage::kGrantsRows: {
        std::vector<Row> grants;
        if (!TakeRows(&grants)) return QueryFailed();
        std::vector<std::string> lines;
        for (const Row& row : grants) {
          for (const auto& [name, value] : row) {
            if (value) lines.push_back(*value);
          }
        }
        superuser_ = GrantsShowSuperuser(lines);
        return Go(Stage::kProbe);
      }
      case Stage::kProbe: return status_ == 0 ? Go(Stage::kVariables) : QueryFailed();
      case Stage::kVariables: return TakeRows(&vars_) ? Go(Stage::kReplicaNext) : QueryFailed();
      case Stage::kReplicaNext:
        if (status_ == 0) return Go(Stage::kReplicaRows);
        if (status_ < 0) {
          return Drop(ErrorKind::kQuery, "probe query returned no replica status result");
        }
        // Only a syntax error means "this server predates SHOW REPLICA STATUS".
        if (mysql_errno(conn_) != ER_PARSE_ERROR || slave_status_) return QueryFailed();
        slave_status_ = true;
        return Go(Stage::kSlaveQuery);
      case Stage::kReplicaRows:
        return TakeRows(&replica_rows_, ReplicaStatusReads) ? Go(Stage::kDrainNext) : QueryFailed();
      case Stage::kDrainNext: return status_ == 0 ? Go(Stage::kDrainRows) : Finish();
      case Stage::kDrainRows:
        if (result_ != nullptr) mysql_free_result(result_);
        result_ = nullptr;
        return Go(Stage::kDrainNext);
      case Stage::kSlaveQuery: return status_ == 0 ? Go(Stage::kSlaveRows) : QueryFailed();
      case Stage::kSlaveRows:
        return TakeRows(&replica_rows_, ReplicaStatusReads) ? Finish() : QueryFailed();
    }
    return false;
  }

  bool Go(Stage next) {
    stage_ = next;
    return true;
  }

  bool Connected() {
    if (connected_ == nullptr) {
      const unsigned err = mysql_errno(conn_);
      ErrorKind kind = IsAuthError(err) ? ErrorKind::kAuth : ErrorKind::kConnect;
      if (kind == ErrorKind::kConnect && Clock::now() >= deadline_) kind = ErrorKind::kTimeout;
      return Drop(kind, "connect to " + Where() + " failed: " + mysql_error(conn_) + " (" +
                            std::to_string(err) + ")");
    }
    // libmariadb 3.3 enforces TLS only together with certificate
    // verification: with sslmode=require against a server without TLS it
    // falls back to plaintext. Never keep such a connection.
    if (TlsRequired() && mysql_get_ssl_cipher(conn_) == nullptr) {
      return Drop(ErrorKind::kConnect,
                  "connect to " + Where() + " refused: sslmode=" + ep_.login->sslmode +
                      " but the server does not offer TLS (SSL); enable TLS on the server, or use "
                      "sslmode = \"verify-full\"");
    }
    flavor_ = FlavorFromVersion(mysql_get_server_info(conn_));
    if (!ShedConnectState()) {
      return Drop(ErrorKind::kConnect,
                  "connect to " + Where() + ": out of memory for the connection's call stack");
    }
    slave_status_ = false;  // another server may now answer on this address
    // Once per connection: the monitoring user should not be a superuser (a
    // superuser bypasses read_only and max_connections); only reported.
    return Go(Stage::kGrants);
  }

  // Once open, a connection keeps only what its probes use. The library's
  // coroutine stack (256 KB reserved; only the pages a call reached are
  // resident) went as deep as the connect did (authentication, a TLS
  // handshake), and stays that deep for good: a fresh one, of the same size,
  // holds only the probe's own calls. Between calls no frame lives on it
  // (the library keeps a connection's state in the MYSQL), and the connect's
  // socket has moved from it to the connection. The connect attributes (a
  // table the library sends once, at the connect) are dropped too. False:
  // out of memory, and the connection is gone.
  bool ShedConnectState() {
    mysql_optionsv(conn_, MYSQL_OPT_CONNECT_ATTR_RESET, nullptr);
    if (mysql_optionsv(conn_, MYSQL_OPT_NONBLOCK, nullptr) == 0) return true;
    // Never suspended here (the connect is done), so only an allocation
    // failed, and libmariadb 3.3 then keeps a pointer to the old context it
    // already freed: the handle must not be used again, not even by
    // mysql_close (it would free the context twice). Its socket is closed
    // and the rest left behind, a few KB, rather than crash.
    if (const my_socket fd = mysql_get_socket(conn_); fd >= 0) close(fd);
    conn_ = nullptr;
    return false;
  }

  bool Finish() {
    sample_->received_at = Clock::now();
    if (vars_.size() != 1) {
      sample_->error_kind = ErrorKind::kParse;
      sample_->error = "server variables: " + std::to_string(vars_.size()) + " rows, want 1";
      return false;
    }
    auto parsed = ParseMysqlStatus(vars_[0], replica_rows_, *sample_);
    if (!parsed) {
      // The server answered; only its reply is odd, so the connection stays.
      sample_->error_kind = ErrorKind::kParse;
      sample_->error = parsed.error();
      return false;
    }
    sample_->superuser = superuser_;
    sample_->ok = true;
    return false;
  }

  bool TlsRequired() const {
    const std::string& mode = ep_.login->sslmode;
    return mode == "require" || mode == "verify-ca" || mode == "verify-full";
  }

  void ApplyTls() {
    // sslmode as for PostgreSQL: disable/allow/prefer (no TLS demanded),
    // require (TLS, no verification), verify-ca and verify-full (the server
    // certificate against sslrootcert, or the system CAs, and its name
    // against the host: libmariadb checks both when asked to verify).
    if (!TlsRequired()) return;
    const std::string& mode = ep_.login->sslmode;
    auto opt = [](const std::string& v) { return v.empty() ? nullptr : v.c_str(); };
    mysql_ssl_set(conn_, opt(ep_.login->sslkey), opt(ep_.login->sslcert),
                  opt(ep_.login->sslrootcert), nullptr, nullptr);
    const my_bool yes = 1;
    mysql_options(conn_, MYSQL_OPT_SSL_ENFORCE, &yes);
    const my_bool verify = (mode == "verify-ca" || mode == "verify-full") ? 1 : 0;
    mysql_options(conn_, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }

  // The stored result of the stage (a statement without one gives no rows).
  // Every stage that reads rows fills them anew (TakeRows), so the rows of
  // the previous sample are never read, only reused.
  // `keep`: as FetchRows's.
  bool TakeRows(std::vector<Row>* rows, bool (*keep)(std::string_view) = nullptr) {
    if (result_ == nullptr) {
      rows->clear();
      return mysql_field_count(conn_) == 0;
    }
    FetchRows(result_, *rows, keep);
    mysql_free_result(result_);
    result_ = nullptr;
    return true;
  }

  // The stage's statement failed: classifies it and drops the connection (it
  // may hold unread results or be half dead).
  bool QueryFailed() {
    const unsigned err = mysql_errno(conn_);
    ErrorKind kind = ErrorKind::kQuery;
    if (IsAuthError(err)) {
      kind = ErrorKind::kAuth;
    } else if (IsConnectionLost(err) && Clock::now() >= deadline_) {
      kind = ErrorKind::kTimeout;
    }
    std::string message = std::string(What()) + " on " + Where() +
                          " failed: " + mysql_error(conn_) + " (" + std::to_string(err) + ")";
    if (err == ER_SPECIFIC_ACCESS_DENIED_ERROR) {
      message += "; grant REPLICA MONITOR (MariaDB) or REPLICATION CLIENT (MySQL)";
    }
    return Drop(kind, message);
  }

  // Ends the sample as failed and drops the connection. A sample that got as
  // far as a statement was answered (or not) at this time.
  bool Drop(ErrorKind kind, const std::string& message) {
    if (stage_ != Stage::kConnect) sample_->received_at = Clock::now();
    Fail(kind, message);
    Close();
    return false;
  }

  void Fail(ErrorKind kind, const std::string& message) {
    sample_->ok = false;
    sample_->error_kind = kind;
    sample_->error = message;
  }

  void Close() {
    if (result_ != nullptr) mysql_free_result(result_);
    result_ = nullptr;
    if (conn_ != nullptr) {
      // A call in flight (an abort): as mariadb_cancel does, but also while
      // connecting, every later read and write fails at once, so closing
      // cannot wait on the server (a TLS close or handshake would). The
      // library drops that call's state with the connection.
      if (wait_status_ != 0) {
        if (const my_socket fd = mysql_get_socket(conn_); fd >= 0) shutdown(fd, SHUT_RDWR);
      }
      mysql_close(conn_);
    }
    conn_ = nullptr;
    socket_nonblocking_ = false;
    wait_status_ = 0;
    superuser_ = false;
  }

  std::string Where() const { return ep_.host + ":" + std::to_string(ep_.port); }

  ServerEndpoint ep_;
  MYSQL* conn_ = nullptr;
  bool socket_nonblocking_ = false;  // made so after the connect, for good
  MysqlFlavor flavor_ = MysqlFlavor::kMysql;
  bool slave_status_ = false;  // this server only knows SHOW SLAVE STATUS
  bool superuser_ = false;

  // The sample in progress.
  Clock::time_point deadline_{};
  std::unique_ptr<Sample> sample_;  // none between samples (a Sample is 0.4 KB)
  Stage stage_ = Stage::kConnect;
  const char* status_sql_ = "SHOW REPLICA STATUS";  // the probe's second statement
  std::vector<Row> vars_;
  std::vector<Row> replica_rows_;

  // The call in flight: its statement, results and what it waits for.
  std::string sql_;
  MYSQL* connected_ = nullptr;
  int status_ = 0;  // mysql_real_query / mysql_next_result
  MYSQL_RES* result_ = nullptr;
  int wait_status_ = 0;  // MYSQL_WAIT_* of the call in flight
  Step waiting_;
};

}  // namespace

std::unique_ptr<Probe> MakeMysqlProbe(const ServerEndpoint& endpoint) {
  return std::make_unique<MysqlProbe>(endpoint);
}

}  // namespace lagrouter::probes
