// A MySQL C API (libmariadb) connection for driving MariaDB in tests: writes as
// `app` over TCP, admin statements as root over a node's unix socket.
#pragma once

#include <optional>
#include <string>

namespace lagrouter::testing {

class MysqlConn {
 public:
  // TCP to 127.0.0.1:`port` as `user` (password DbPassword()), database `db`.
  MysqlConn(int port, const std::string& user, const std::string& db);
  // Root over the unix socket of node `node` of scripts/mariadb-cluster.sh.
  static MysqlConn Root(int node);
  ~MysqlConn();
  MysqlConn(MysqlConn&& other) noexcept;
  MysqlConn(const MysqlConn&) = delete;
  MysqlConn& operator=(const MysqlConn&) = delete;
  MysqlConn& operator=(MysqlConn&&) = delete;

  // Runs one statement; returns the first column of the first row ("" when
  // there is no row, "NULL" for NULL). Throws std::runtime_error on failure.
  std::string Query(const std::string& sql);
  // One column of the first row by name (nullopt: NULL or no row/column).
  std::optional<std::string> QueryColumn(const std::string& sql, const std::string& column);
  bool ok() const { return conn_ != nullptr; }
  const std::string& error() const { return error_; }

 private:
  MysqlConn() = default;
  void Connect(const char* host, int port, const char* socket, const std::string& user,
               const std::string& password, const std::string& db);

  void* conn_ = nullptr;  // MYSQL*
  std::string error_;
};

}  // namespace lagrouter::testing
