// Connections for driving the test clusters' PostgreSQL and MariaDB servers
// (writes, pauses, admin statements): libpq and the MySQL C API (libmariadb).
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace lagrouter::test_support {

// The clusters' password of the `lagrouter` and `app` users:
// $LAGROUTER_DB_PASSWORD, as the cluster scripts default it.
std::string DbPassword();

enum class Engine { kPostgres, kMysql };

class SqlConn {
 public:
  virtual ~SqlConn() = default;
  virtual bool ok() const = 0;
  // Runs `sql`; the first column of the first row in *value ("" when there is
  // no row). False on error or timeout, with the reason in *error.
  virtual bool TryQuery(const std::string& sql, std::string* value, std::string* error) = 0;
  // Same, but returns the value and throws std::runtime_error on failure.
  std::string Query(const std::string& sql);
};

struct PgOptions {
  int connect_timeout_s = 5;
  int query_timeout_s = 0;                          // 0: wait as long as the server takes
  std::string application_name = "lagrouter-test";  // "" = libpq's default
};

// TCP to 127.0.0.1:`port` as `user` (password DbPassword()), database `db`.
class PgConn : public SqlConn {
 public:
  PgConn(int port, const std::string& user, const std::string& db, const PgOptions& options = {});
  ~PgConn() override;
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;
  bool ok() const override;
  std::string error() const;
  bool TryQuery(const std::string& sql, std::string* value, std::string* error) override;

 private:
  void* conn_ = nullptr;  // PGconn*
  int query_timeout_s_;
};

class MysqlConn : public SqlConn {
 public:
  // TCP to 127.0.0.1:`port` as `user` (password DbPassword()), database `db`;
  // `timeout_s` for connecting, reading and writing.
  MysqlConn(int port, const std::string& user, const std::string& db, int timeout_s = 5);
  // Root over the unix socket of node `node` of scripts/mariadb-cluster.sh.
  static MysqlConn Root(int node);
  ~MysqlConn() override;
  MysqlConn(MysqlConn&& other) noexcept;
  MysqlConn(const MysqlConn&) = delete;
  MysqlConn& operator=(const MysqlConn&) = delete;
  MysqlConn& operator=(MysqlConn&&) = delete;

  bool ok() const override { return conn_ != nullptr; }
  const std::string& error() const { return error_; }
  // NULL reads as "NULL".
  bool TryQuery(const std::string& sql, std::string* value, std::string* error) override;
  // One column of the first row by name (nullopt: NULL or no row/column).
  // Throws std::runtime_error on failure.
  std::optional<std::string> QueryColumn(const std::string& sql, const std::string& column);

 private:
  MysqlConn() = default;
  void Connect(const char* host, int port, const char* socket, const std::string& user,
               const std::string& password, const std::string& db, int timeout_s);

  void* conn_ = nullptr;  // MYSQL*
  std::string error_;
};

// The application's connection (user `app`, database `shop`) to a server.
std::unique_ptr<SqlConn> ConnectApp(Engine engine, int port);

}  // namespace lagrouter::test_support
