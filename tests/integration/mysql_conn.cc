#include "tests/integration/mysql_conn.h"

#include <mysql.h>

#include <stdexcept>

#include "tests/integration/harness.h"

namespace lagrouter::testing {

MysqlConn::MysqlConn(int port, const std::string& user, const std::string& db) {
  Connect("127.0.0.1", port, nullptr, user, DbPassword(), db);
}

MysqlConn MysqlConn::Root(int node) {
  std::string socket;
  const int rc = RunCommand(
      RepoPath("scripts/mariadb-cluster.sh") + " socket " + std::to_string(node), &socket);
  while (!socket.empty() && (socket.back() == '\n' || socket.back() == '\r')) socket.pop_back();
  MysqlConn c;
  if (rc != 0) {
    c.error_ = "no socket for node " + std::to_string(node) + ": " + socket;
    return c;
  }
  c.Connect("localhost", 0, socket.c_str(), "root", "", "");
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
                        const std::string& password, const std::string& db) {
  MYSQL* m = mysql_init(nullptr);
  if (m == nullptr) {
    error_ = "mysql_init failed";
    return;
  }
  const unsigned timeout = 5;
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

// Runs `sql` and returns its result (nullptr for a statement without rows).
MYSQL_RES* Run(MYSQL* m, const std::string& sql, const std::string& error) {
  if (m == nullptr) throw std::runtime_error("not connected: " + error + " (running " + sql + ")");
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    throw std::runtime_error("SQL failed: " + sql + ": " + mysql_error(m));
  }
  MYSQL_RES* res = mysql_store_result(m);
  if (res == nullptr && mysql_field_count(m) != 0) {
    throw std::runtime_error("SQL result failed: " + sql + ": " + mysql_error(m));
  }
  return res;
}

}  // namespace

std::string MysqlConn::Query(const std::string& sql) {
  MYSQL_RES* res = Run(static_cast<MYSQL*>(conn_), sql, error_);
  if (res == nullptr) return "";
  std::string out;
  if (MYSQL_ROW row = mysql_fetch_row(res); row != nullptr && mysql_num_fields(res) > 0) {
    out = row[0] != nullptr ? std::string(row[0], mysql_fetch_lengths(res)[0]) : "NULL";
  }
  mysql_free_result(res);
  return out;
}

std::optional<std::string> MysqlConn::QueryColumn(const std::string& sql,
                                                  const std::string& column) {
  MYSQL_RES* res = Run(static_cast<MYSQL*>(conn_), sql, error_);
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

}  // namespace lagrouter::testing
