#include "tests/support/db.h"

#include <libpq-fe.h>
#include <mysql.h>
#include <poll.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>

#include "tests/support/process.h"

namespace lagrouter::test_support {

std::string DbPassword() {
  const char* pw = std::getenv("LAGROUTER_DB_PASSWORD");
  return pw != nullptr ? pw : "lagrouter-demo-pw";
}

std::string SqlConn::Query(const std::string& sql) {
  std::string value, error;
  if (!TryQuery(sql, &value, &error)) throw std::runtime_error("SQL failed: " + sql + ": " + error);
  return value;
}

// --- PostgreSQL

PgConn::PgConn(int port, const std::string& user, const std::string& db, const PgOptions& o)
    : query_timeout_s_(o.query_timeout_s) {
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " user=" + user +
                         " dbname=" + db + " password=" + DbPassword() +
                         " connect_timeout=" + std::to_string(o.connect_timeout_s);
  if (!o.application_name.empty()) conninfo += " application_name=" + o.application_name;
  conn_ = PQconnectdb(conninfo.c_str());
}

PgConn::~PgConn() {
  PQfinish(static_cast<PGconn*>(conn_));
}

bool PgConn::ok() const {
  return PQstatus(static_cast<PGconn*>(conn_)) == CONNECTION_OK;
}

std::string PgConn::error() const {
  return PQerrorMessage(static_cast<PGconn*>(conn_));
}

// Sends the query and reads every result, with a deadline when one is set (a
// SIGSTOPped server must not hang the caller). The value is the first column
// of the last result that has rows.
bool PgConn::TryQuery(const std::string& sql, std::string* value, std::string* error) {
  auto* c = static_cast<PGconn*>(conn_);
  value->clear();
  if (PQsendQuery(c, sql.c_str()) == 0) {
    *error = PQerrorMessage(c);
    return false;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(query_timeout_s_);
  bool ok = true;
  while (true) {
    while (PQisBusy(c) != 0) {
      int wait_ms = -1;
      if (query_timeout_s_ > 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
          *error = "timeout";
          return false;
        }
        wait_ms = static_cast<int>(left);
      }
      pollfd pfd{PQsocket(c), POLLIN, 0};
      if (poll(&pfd, 1, wait_ms) < 0 || PQconsumeInput(c) == 0) {
        *error = PQerrorMessage(c);
        return false;
      }
    }
    PGresult* r = PQgetResult(c);
    if (r == nullptr) break;
    const auto st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK) {
      if (PQntuples(r) > 0 && PQnfields(r) > 0) *value = PQgetvalue(r, 0, 0);
    } else if (st != PGRES_COMMAND_OK) {
      *error = PQresultErrorMessage(r);
      ok = false;
    }
    PQclear(r);
  }
  return ok;
}

// --- MySQL / MariaDB

MysqlConn::MysqlConn(int port, const std::string& user, const std::string& db, int timeout_s) {
  Connect("127.0.0.1", port, nullptr, user, DbPassword(), db, timeout_s);
}

MysqlConn MysqlConn::Root(int node) {
  std::string socket;
  const std::string script = std::string(LAGROUTER_SOURCE_DIR) + "/scripts/mariadb-cluster.sh";
  const int rc = RunCommand(script + " socket " + std::to_string(node), &socket);
  socket = TrimRight(socket);
  MysqlConn c;
  if (rc != 0) {
    c.error_ = "no socket for node " + std::to_string(node) + ": " + socket;
    return c;
  }
  c.Connect("localhost", 0, socket.c_str(), "root", "", "", 5);
  return c;
}

MysqlConn::MysqlConn(MysqlConn&& other) noexcept
    : conn_(other.conn_), error_(std::move(other.error_)) {
  other.conn_ = nullptr;
}

MysqlConn::~MysqlConn() {
  if (conn_ != nullptr) mysql_close(static_cast<MYSQL*>(conn_));
}

void MysqlConn::Connect(const char* host, int port, const char* socket, const std::string& user,
                        const std::string& password, const std::string& db, int timeout_s) {
  MYSQL* m = mysql_init(nullptr);
  if (m == nullptr) {
    error_ = "mysql_init failed";
    return;
  }
  const unsigned timeout = static_cast<unsigned>(timeout_s);
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
  mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
  const unsigned protocol = socket != nullptr ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
  mysql_options(m, MYSQL_OPT_PROTOCOL, &protocol);
  if (mysql_real_connect(m, host, user.c_str(), password.empty() ? nullptr : password.c_str(),
                         db.empty() ? nullptr : db.c_str(), static_cast<unsigned>(port), socket,
                         0) == nullptr) {
    error_ = mysql_error(m);
    mysql_close(m);
    return;
  }
  conn_ = m;
}

namespace {

// Runs `sql`: false with *error on failure; *res is nullptr for a statement
// without rows.
bool Run(MYSQL* m, const std::string& connect_error, const std::string& sql, MYSQL_RES** res,
         std::string* error) {
  *res = nullptr;
  if (m == nullptr) {
    *error = "not connected: " + connect_error;
    return false;
  }
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    *error = mysql_error(m);
    return false;
  }
  *res = mysql_store_result(m);
  if (*res == nullptr && mysql_field_count(m) != 0) {
    *error = mysql_error(m);
    return false;
  }
  return true;
}

}  // namespace

bool MysqlConn::TryQuery(const std::string& sql, std::string* value, std::string* error) {
  value->clear();
  MYSQL_RES* res = nullptr;
  if (!Run(static_cast<MYSQL*>(conn_), error_, sql, &res, error)) return false;
  if (res == nullptr) return true;
  if (MYSQL_ROW row = mysql_fetch_row(res); row != nullptr && mysql_num_fields(res) > 0) {
    *value = row[0] != nullptr ? std::string(row[0], mysql_fetch_lengths(res)[0]) : "NULL";
  }
  mysql_free_result(res);
  return true;
}

std::optional<std::string> MysqlConn::QueryColumn(const std::string& sql,
                                                  const std::string& column) {
  MYSQL_RES* res = nullptr;
  std::string error;
  if (!Run(static_cast<MYSQL*>(conn_), error_, sql, &res, &error)) {
    throw std::runtime_error("SQL failed: " + sql + ": " + error);
  }
  if (res == nullptr) return std::nullopt;
  std::optional<std::string> out;
  if (MYSQL_ROW row = mysql_fetch_row(res); row != nullptr) {
    MYSQL_FIELD* fields = mysql_fetch_fields(res);
    for (unsigned i = 0; i < mysql_num_fields(res); ++i) {
      if (column == fields[i].name && row[i] != nullptr) {
        out = std::string(row[i], mysql_fetch_lengths(res)[i]);
      }
    }
  }
  mysql_free_result(res);
  return out;
}

std::unique_ptr<SqlConn> ConnectApp(Engine engine, int port) {
  if (engine == Engine::kPostgres) return std::make_unique<PgConn>(port, "app", "shop");
  return std::make_unique<MysqlConn>(port, "app", "shop");
}

}  // namespace lagrouter::test_support
