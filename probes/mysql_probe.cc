// MySQL/MariaDB probe on the MySQL C API (libmariadb): one persistent connection
// per server, re-opened on the next Run after any failure (never the library's
// auto-reconnect, which would silently drop session state mid-cycle).
//
// Deadlines: the C API only has per-operation socket timeouts in whole seconds,
// fixed when the connection is opened. They are derived from the deadline of
// the Run that connects (rounded up, at least 1 s), and the deadline is checked
// between steps, so a hung server returns kTimeout by the deadline plus at most
// that rounding (one timeout), and the connection is dropped.
//
// Per cycle, one round trip: "SELECT <variables>; SHOW REPLICA STATUS" as a
// multi-statement. Servers without SHOW REPLICA STATUS (MySQL < 8.0.22,
// MariaDB < 10.5.1) answer it with a syntax error; from then on the probe
// sends SHOW SLAVE STATUS instead.
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "probes/mysql_status.h"
#include "probes/probe.h"
#include "probes/row.h"
#include "probes/scrub.h"

namespace lagrouter::probes {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

void InitLibraryOnce() {
  // mysql_library_init is not thread-safe; mysql_init would call it lazily
  // from whichever probe thread comes first.
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

// Whole seconds left until `deadline`, rounded up, at least 1.
unsigned TimeoutSeconds(Clock::time_point deadline) {
  auto left = duration_cast<milliseconds>(deadline - Clock::now()).count();
  if (left <= 1000) return 1;
  return static_cast<unsigned>(std::min<int64_t>((left + 999) / 1000, 3600));
}

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

// Fetches every row of a result as column name -> text (NULL = nullopt).
std::vector<Row> FetchRows(MYSQL_RES* res) {
  std::vector<Row> rows;
  const unsigned n = mysql_num_fields(res);
  MYSQL_FIELD* fields = mysql_fetch_fields(res);
  while (MYSQL_ROW r = mysql_fetch_row(res)) {
    unsigned long* lengths = mysql_fetch_lengths(res);
    Row row;
    for (unsigned i = 0; i < n; ++i) {
      if (r[i] == nullptr) {
        row[fields[i].name] = std::nullopt;
      } else {
        row[fields[i].name] = std::string(r[i], lengths[i]);
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

class MysqlProbe final : public Probe {
 public:
  explicit MysqlProbe(ServerEndpoint endpoint) : ep_(std::move(endpoint)) { InitLibraryOnce(); }
  ~MysqlProbe() override { Close(); }

  MysqlProbe(const MysqlProbe&) = delete;
  MysqlProbe& operator=(const MysqlProbe&) = delete;

  Sample Run(Clock::time_point deadline) override {
    Sample s = Take(deadline);
    s.error = ScrubSecret(std::move(s.error), ep_.password);
    return s;
  }

 private:
  Sample Take(Clock::time_point deadline) {
    Sample s;
    if (conn_ == nullptr && !Connect(deadline, s)) return s;
    if (Clock::now() >= deadline) return Drop(s, ErrorKind::kTimeout, "deadline passed");

    const std::string status_sql = slave_status_ ? "SHOW SLAVE STATUS" : "SHOW REPLICA STATUS";
    const std::string sql = std::string(MysqlVariablesQuery(flavor_)) + "; " + status_sql;
    s.sent_at = Clock::now();  // t_k: before the query leaves
    query_started_ = s.sent_at;
    if (mysql_real_query(conn_, sql.data(), sql.size()) != 0) return QueryFailed(s, "probe query");
    std::vector<Row> vars;
    if (!StoreResult(&vars)) return QueryFailed(s, "probe query");
    std::vector<Row> replica_rows;
    const int next = mysql_next_result(conn_);
    if (next > 0) {
      // Only a syntax error means "this server predates SHOW REPLICA STATUS".
      if (mysql_errno(conn_) != ER_PARSE_ERROR || slave_status_) {
        return QueryFailed(s, status_sql.c_str());
      }
      slave_status_ = true;
      if (Clock::now() >= deadline) return Drop(s, ErrorKind::kTimeout, "deadline passed");
      query_started_ = Clock::now();
      if (mysql_query(conn_, "SHOW SLAVE STATUS") != 0 || !StoreResult(&replica_rows)) {
        return QueryFailed(s, "SHOW SLAVE STATUS");
      }
    } else if (next == 0) {
      if (!StoreResult(&replica_rows)) return QueryFailed(s, status_sql.c_str());
      // Nothing else was sent; drain defensively so the connection stays usable.
      while (mysql_next_result(conn_) == 0) {
        if (MYSQL_RES* extra = mysql_store_result(conn_)) mysql_free_result(extra);
      }
    } else {
      return Drop(s, ErrorKind::kQuery, "probe query returned no replica status result");
    }
    s.received_at = Clock::now();

    if (vars.size() != 1) {
      s.error_kind = ErrorKind::kParse;
      s.error = "server variables: " + std::to_string(vars.size()) + " rows, want 1";
      return s;
    }
    auto parsed = ParseMysqlStatus(vars[0], replica_rows, s);
    if (!parsed) {
      // The server answered; only its reply is odd, so the connection stays.
      s.error_kind = ErrorKind::kParse;
      s.error = parsed.error();
      return s;
    }
    s.superuser = superuser_;
    s.ok = true;
    return s;
  }

  bool Connect(Clock::time_point deadline, Sample& s) {
    conn_ = mysql_init(nullptr);
    if (conn_ == nullptr) {
      s.error_kind = ErrorKind::kConnect;
      s.error = "mysql_init failed (out of memory)";
      return false;
    }
    const unsigned secs = TimeoutSeconds(deadline);
    timeout_ = std::chrono::seconds(secs);
    mysql_options(conn_, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
    mysql_options(conn_, MYSQL_OPT_READ_TIMEOUT, &secs);
    mysql_options(conn_, MYSQL_OPT_WRITE_TIMEOUT, &secs);
    const unsigned tcp = MYSQL_PROTOCOL_TCP;  // "localhost" must not mean a socket
    mysql_options(conn_, MYSQL_OPT_PROTOCOL, &tcp);
    const my_bool no = 0;
    mysql_options(conn_, MYSQL_OPT_RECONNECT, &no);
    const unsigned no_infile = 0;
    mysql_options(conn_, MYSQL_OPT_LOCAL_INFILE, &no_infile);
    mysql_options(conn_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    ApplyTls();

    query_started_ = Clock::now();
    const char* db = ep_.database.empty() ? nullptr : ep_.database.c_str();
    if (mysql_real_connect(conn_, ep_.host.c_str(), ep_.user.c_str(), ep_.password.c_str(), db,
                           static_cast<unsigned>(ep_.port), nullptr,
                           CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS) == nullptr) {
      const unsigned err = mysql_errno(conn_);
      ErrorKind kind = IsAuthError(err) ? ErrorKind::kAuth : ErrorKind::kConnect;
      if (kind == ErrorKind::kConnect && TimedOut(deadline)) kind = ErrorKind::kTimeout;
      s.error_kind = kind;
      s.error = "connect to " + Where() + " failed: " + mysql_error(conn_) + " (" +
                std::to_string(err) + ")";
      Close();
      return false;
    }
    // libmariadb 3.3 enforces TLS only together with certificate
    // verification: with sslmode=require against a server without TLS it
    // falls back to plaintext. Never keep such a connection.
    if (TlsRequired() && mysql_get_ssl_cipher(conn_) == nullptr) {
      s.error_kind = ErrorKind::kConnect;
      s.error = "connect to " + Where() + " refused: sslmode=" + ep_.sslmode +
                " but the server does not offer TLS (SSL); enable TLS on the server, or use "
                "sslmode = \"verify-full\"";
      Close();
      return false;
    }
    flavor_ = FlavorFromVersion(mysql_get_server_info(conn_));
    slave_status_ = false;  // another server may now answer on this address

    // Once per connection: the monitoring user should not be a superuser (a
    // superuser bypasses read_only and max_connections); only reported.
    if (Clock::now() >= deadline) {
      Drop(s, ErrorKind::kTimeout, "deadline passed while connecting");
      return false;
    }
    query_started_ = Clock::now();
    std::vector<Row> grants;
    if (mysql_query(conn_, "SHOW GRANTS") != 0 || !StoreResult(&grants)) {
      QueryFailed(s, "SHOW GRANTS");
      return false;
    }
    std::vector<std::string> lines;
    for (const Row& row : grants) {
      for (const auto& [name, value] : row) {
        if (value) lines.push_back(*value);
      }
    }
    superuser_ = GrantsShowSuperuser(lines);
    return true;
  }

  bool TlsRequired() const {
    const std::string& mode = ep_.sslmode;
    return mode == "require" || mode == "verify-ca" || mode == "verify-full";
  }

  void ApplyTls() {
    // sslmode as for PostgreSQL: disable/allow/prefer (no TLS demanded),
    // require (TLS, no verification), verify-ca and verify-full (the server
    // certificate against sslrootcert, or the system CAs, and its name
    // against the host: libmariadb checks both when asked to verify).
    if (!TlsRequired()) return;
    const std::string& mode = ep_.sslmode;
    auto opt = [](const std::string& v) { return v.empty() ? nullptr : v.c_str(); };
    mysql_ssl_set(conn_, opt(ep_.sslkey), opt(ep_.sslcert), opt(ep_.sslrootcert), nullptr, nullptr);
    const my_bool yes = 1;
    mysql_options(conn_, MYSQL_OPT_SSL_ENFORCE, &yes);
    const my_bool verify = (mode == "verify-ca" || mode == "verify-full") ? 1 : 0;
    mysql_options(conn_, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }

  // Stores the current result set (a statement without one gives no rows).
  bool StoreResult(std::vector<Row>* rows) {
    MYSQL_RES* res = mysql_store_result(conn_);
    if (res == nullptr) return mysql_field_count(conn_) == 0;
    *rows = FetchRows(res);
    mysql_free_result(res);
    return true;
  }

  // A failed statement: classifies it, drops the connection (it may hold
  // unread results or be half dead) and returns the failed sample.
  Sample& QueryFailed(Sample& s, const char* what) {
    const unsigned err = mysql_errno(conn_);
    ErrorKind kind = ErrorKind::kQuery;
    if (IsAuthError(err)) {
      kind = ErrorKind::kAuth;
    } else if (IsConnectionLost(err) && TimedOut(Clock::time_point::max())) {
      kind = ErrorKind::kTimeout;
    }
    std::string message = std::string(what) + " on " + Where() + " failed: " + mysql_error(conn_) +
                          " (" + std::to_string(err) + ")";
    if (err == ER_SPECIFIC_ACCESS_DENIED_ERROR) {
      message += "; grant REPLICA MONITOR (MariaDB) or REPLICATION CLIENT (MySQL)";
    }
    return Drop(s, kind, message);
  }

  // The socket timeout fired (the step took the whole timeout) or the
  // deadline has passed: either way, a timeout rather than a refusal.
  bool TimedOut(Clock::time_point deadline) const {
    const auto now = Clock::now();
    return now >= deadline || now - query_started_ >= timeout_ - milliseconds(50);
  }

  Sample& Drop(Sample& s, ErrorKind kind, const std::string& message) {
    s.ok = false;
    s.error_kind = kind;
    s.error = message;
    s.received_at = Clock::now();
    Close();
    return s;
  }

  void Close() {
    if (conn_ != nullptr) mysql_close(conn_);
    conn_ = nullptr;
    superuser_ = false;
  }

  std::string Where() const { return ep_.host + ":" + std::to_string(ep_.port); }

  ServerEndpoint ep_;
  MYSQL* conn_ = nullptr;
  MysqlFlavor flavor_ = MysqlFlavor::kMysql;
  bool slave_status_ = false;  // this server only knows SHOW SLAVE STATUS
  bool superuser_ = false;
  Clock::duration timeout_{};          // socket timeouts of the open connection
  Clock::time_point query_started_{};  // start of the step in flight
};

}  // namespace

std::unique_ptr<Probe> MakeMysqlProbe(const ServerEndpoint& endpoint) {
  return std::make_unique<MysqlProbe>(endpoint);
}

}  // namespace lagrouter::probes
