// Builds lagrouter TOML configurations for tests, so no test writes the whole
// file by hand:
//
//   ConfigText().Listen(port).Probe("100ms", "1s").Cluster(PgShop())
//       .Class("inventory", "0s").Client("ops", sha, {"*"}, {"*"}).str()
//
// Depends only on the standard library: unit tests link it as well as the
// integration tests and the chaos freshness checker.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace lagrouter::test_support {

// A TOML value as written in the file: strings are quoted, lists of strings
// become ["a", "b"]; Toml::Raw() passes text through unchanged.
class Toml {
 public:
  Toml(const char* text);                         // NOLINT: implicit on purpose, "x" -> "\"x\""
  Toml(const std::string& text);                  // NOLINT
  Toml(int number);                               // NOLINT
  Toml(bool flag);                                // NOLINT
  Toml(std::initializer_list<std::string> list);  // NOLINT
  Toml(const std::vector<std::string>& list);     // NOLINT
  static Toml Raw(std::string text);
  const std::string& text() const { return text_; }

 private:
  Toml() = default;
  std::string text_;
};

// Ordered key = value lines of one table.
using TomlKeys = std::vector<std::pair<std::string, Toml>>;

// One [[cluster]] with its [[cluster.server]] entries. User "lagrouter" and
// password_env "LAGROUTER_DB_PASSWORD" unless changed.
class ClusterSpec {
 public:
  ClusterSpec(std::string name, std::string engine);
  ClusterSpec& Name(std::string name);
  ClusterSpec& User(std::string user);
  ClusterSpec& PasswordEnv(std::string env);    // replaces password_file
  ClusterSpec& PasswordFile(std::string path);  // replaces password_env
  ClusterSpec& NoPassword();                    // neither (e.g. a trusted superuser)
  // Any other cluster key (database, sslmode, sslrootcert, sslcert, sslkey).
  ClusterSpec& Set(const std::string& key, Toml value);
  ClusterSpec& Server(std::string name, int port, std::string host = "127.0.0.1");
  // Keeps only the servers named, in the cluster's order.
  ClusterSpec& Only(std::initializer_list<std::string> names);
  const std::string& name() const { return name_; }
  std::string str() const;

 private:
  struct ServerEntry {
    std::string name;
    std::string host;
    int port;
  };
  std::string name_;
  TomlKeys keys_;  // engine, user, password_*, extras, in order
  std::vector<ServerEntry> servers_;
};

// One [[client]]: a token's hash (or token_file) and what it may use.
class ClientSpec {
 public:
  explicit ClientSpec(std::string name);
  ClientSpec& TokenSha256(std::string hex);
  ClientSpec& TokenFile(std::string path);
  ClientSpec& Clusters(std::vector<std::string> clusters);  // default ["*"]
  ClientSpec& Classes(std::vector<std::string> classes);    // default ["*"]
  std::string str() const;

 private:
  std::string name_;
  std::string token_key_ = "token_sha256";
  std::string token_;
  std::vector<std::string> clusters_{"*"};
  std::vector<std::string> classes_{"*"};
};

// A whole configuration file, written in the order
// [listen] [probe] [log] [[cluster]]... [class.X]... [[client]]... [auth] raw.
// Sections never set are left out (the daemon's defaults apply).
class ConfigText {
 public:
  ConfigText& Listen(int port);  // address = "127.0.0.1:PORT"
  ConfigText& ListenAddress(std::string address);
  // Any other [listen] key (threads, allow_unauthenticated, tls_cert, ...).
  ConfigText& ListenSet(const std::string& key, Toml value);
  // interval, and timeout unless "" (the daemon's default then).
  ConfigText& Probe(std::string interval, std::string timeout = "");
  ConfigText& LogLevel(std::string level);
  ConfigText& Cluster(const ClusterSpec& cluster);
  // [class.NAME]; fallback and settle only when not "".
  ConfigText& Class(const std::string& name, std::string max_staleness, std::string fallback = "",
                    std::string settle = "");
  // Any other key of a class added before (check_margin, ...).
  ConfigText& ClassSet(const std::string& name, const std::string& key, Toml value);
  // The three classes most tests use: inventory 0s, second 1s, hour 1h with
  // fallback "error".
  ConfigText& StandardClasses();
  ConfigText& Client(const ClientSpec& client);
  ConfigText& Client(std::string name, std::string token_sha256,
                     std::vector<std::string> clusters = {"*"},
                     std::vector<std::string> classes = {"*"});
  ConfigText& AuthSet(const std::string& key, Toml value);  // protect_metrics, ...
  // TOML appended verbatim at the end (for what the builder has no word for,
  // or deliberately broken text).
  ConfigText& Raw(std::string toml);
  std::string str() const;
  operator std::string() const { return str(); }  // NOLINT

 private:
  TomlKeys listen_;
  TomlKeys probe_;
  TomlKeys log_;
  std::vector<std::string> clusters_;
  std::vector<std::pair<std::string, TomlKeys>> classes_;
  std::vector<std::string> clients_;
  TomlKeys auth_;
  std::string raw_;
};

// The port of node `node` (0-2) of the project's clusters, as the cluster
// scripts choose it: LAGROUTER_PG_BASE_PORT (default 5441) or
// LAGROUTER_MYSQL_BASE_PORT (default 3407) plus the node.
int PgPort(int node);
int MariadbPort(int node);

// The project's local PostgreSQL cluster (scripts/pg-cluster.sh): cluster
// "shop", primary pg-a 5441, replicas pg-b 5442 and pg-c 5443 (from
// `base_port`).
ClusterSpec PgShop(int base_port = PgPort(0));
// The project's local MariaDB cluster (scripts/mariadb-cluster.sh): servers
// db-0 3407 (primary), db-1 3408, db-2 3409 (from `base_port`), in a cluster
// named `name`.
ClusterSpec MariaDbShop(std::string name = "shop", int base_port = MariadbPort(0));

}  // namespace lagrouter::test_support
