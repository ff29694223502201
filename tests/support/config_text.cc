#include "tests/support/config_text.h"

#include <algorithm>
#include <cstdlib>

namespace lagrouter::test_support {
namespace {

std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string List(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : ", ") + Quote(items[i]);
  return out + "]";
}

void Put(TomlKeys& keys, const std::string& key, Toml value) {
  for (auto& [k, v] : keys) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  keys.emplace_back(key, std::move(value));
}

void Drop(TomlKeys& keys, const std::string& key) {
  keys.erase(
      std::remove_if(keys.begin(), keys.end(), [&](const auto& kv) { return kv.first == key; }),
      keys.end());
}

std::string Lines(const TomlKeys& keys, const std::string& indent = "") {
  std::string out;
  for (const auto& [k, v] : keys) out += indent + k + " = " + v.text() + "\n";
  return out;
}

std::string Table(const std::string& header, const TomlKeys& keys) {
  return keys.empty() ? "" : "[" + header + "]\n" + Lines(keys);
}

}  // namespace

Toml::Toml(const char* text) : text_(Quote(text)) {}
Toml::Toml(const std::string& text) : text_(Quote(text)) {}
Toml::Toml(int number) : text_(std::to_string(number)) {}
Toml::Toml(bool flag) : text_(flag ? "true" : "false") {}
Toml::Toml(std::initializer_list<std::string> list) : text_(List(list)) {}
Toml::Toml(const std::vector<std::string>& list) : text_(List(list)) {}
Toml Toml::Raw(std::string text) {
  Toml t;
  t.text_ = std::move(text);
  return t;
}

ClusterSpec::ClusterSpec(std::string name, std::string engine) : name_(std::move(name)) {
  keys_ = {{"engine", Toml(engine)},
           {"user", Toml("lagrouter")},
           {"password_env", Toml("LAGROUTER_DB_PASSWORD")}};
}

ClusterSpec& ClusterSpec::Name(std::string name) {
  name_ = std::move(name);
  return *this;
}

ClusterSpec& ClusterSpec::User(std::string user) {
  Put(keys_, "user", Toml(user));
  return *this;
}

ClusterSpec& ClusterSpec::PasswordEnv(std::string env) {
  Drop(keys_, "password_file");
  Put(keys_, "password_env", Toml(env));
  return *this;
}

ClusterSpec& ClusterSpec::PasswordFile(std::string path) {
  Drop(keys_, "password_env");
  Put(keys_, "password_file", Toml(path));
  return *this;
}

ClusterSpec& ClusterSpec::NoPassword() {
  Drop(keys_, "password_env");
  Drop(keys_, "password_file");
  return *this;
}

ClusterSpec& ClusterSpec::Set(const std::string& key, Toml value) {
  Put(keys_, key, std::move(value));
  return *this;
}

ClusterSpec& ClusterSpec::Server(std::string name, int port, std::string host) {
  servers_.push_back({std::move(name), std::move(host), port});
  return *this;
}

ClusterSpec& ClusterSpec::Only(std::initializer_list<std::string> names) {
  servers_.erase(std::remove_if(servers_.begin(), servers_.end(),
                                [&](const ServerEntry& s) {
                                  return std::find(names.begin(), names.end(), s.name) ==
                                         names.end();
                                }),
                 servers_.end());
  return *this;
}

std::string ClusterSpec::str() const {
  std::string out = "[[cluster]]\nname = " + Quote(name_) + "\n" + Lines(keys_);
  for (const auto& s : servers_) {
    out += "  [[cluster.server]]\n  name = " + Quote(s.name) + "\n  host = " + Quote(s.host) +
           "\n  port = " + std::to_string(s.port) + "\n";
  }
  return out;
}

ClientSpec::ClientSpec(std::string name) : name_(std::move(name)) {}

ClientSpec& ClientSpec::TokenSha256(std::string hex) {
  token_key_ = "token_sha256";
  token_ = std::move(hex);
  return *this;
}

ClientSpec& ClientSpec::TokenFile(std::string path) {
  token_key_ = "token_file";
  token_ = std::move(path);
  return *this;
}

ClientSpec& ClientSpec::Clusters(std::vector<std::string> clusters) {
  clusters_ = std::move(clusters);
  return *this;
}

ClientSpec& ClientSpec::Classes(std::vector<std::string> classes) {
  classes_ = std::move(classes);
  return *this;
}

std::string ClientSpec::str() const {
  return "[[client]]\nname = " + Quote(name_) + "\n" + token_key_ + " = " + Quote(token_) +
         "\nclusters = " + List(clusters_) + "\nclasses = " + List(classes_) + "\n";
}

ConfigText& ConfigText::Listen(int port) {
  return ListenAddress("127.0.0.1:" + std::to_string(port));
}

ConfigText& ConfigText::ListenAddress(std::string address) {
  Put(listen_, "address", Toml(address));
  return *this;
}

ConfigText& ConfigText::ListenSet(const std::string& key, Toml value) {
  Put(listen_, key, std::move(value));
  return *this;
}

ConfigText& ConfigText::Probe(std::string interval, std::string timeout) {
  Put(probe_, "interval", Toml(interval));
  if (timeout.empty()) {
    Drop(probe_, "timeout");
  } else {
    Put(probe_, "timeout", Toml(timeout));
  }
  return *this;
}

ConfigText& ConfigText::LogLevel(std::string level) {
  Put(log_, "level", Toml(level));
  return *this;
}

ConfigText& ConfigText::Cluster(const ClusterSpec& cluster) {
  clusters_.push_back(cluster.str());
  return *this;
}

ConfigText& ConfigText::Class(const std::string& name, std::string max_staleness,
                              std::string fallback, std::string settle) {
  TomlKeys keys{{"max_staleness", Toml(max_staleness)}};
  if (!fallback.empty()) keys.emplace_back("fallback", Toml(fallback));
  if (!settle.empty()) keys.emplace_back("settle", Toml(settle));
  for (auto& [n, k] : classes_) {
    if (n == name) {
      k = std::move(keys);
      return *this;
    }
  }
  classes_.emplace_back(name, std::move(keys));
  return *this;
}

ConfigText& ConfigText::ClassSet(const std::string& name, const std::string& key, Toml value) {
  for (auto& [n, k] : classes_) {
    if (n == name) {
      k.emplace_back(key, std::move(value));
      return *this;
    }
  }
  classes_.emplace_back(name, TomlKeys{{key, std::move(value)}});
  return *this;
}

ConfigText& ConfigText::StandardClasses() {
  return Class("inventory", "0s").Class("second", "1s").Class("hour", "1h", "error");
}

ConfigText& ConfigText::Client(const ClientSpec& client) {
  clients_.push_back(client.str());
  return *this;
}

ConfigText& ConfigText::Client(std::string name, std::string token_sha256,
                               std::vector<std::string> clusters,
                               std::vector<std::string> classes) {
  return Client(ClientSpec(std::move(name))
                    .TokenSha256(std::move(token_sha256))
                    .Clusters(std::move(clusters))
                    .Classes(std::move(classes)));
}

ConfigText& ConfigText::AuthSet(const std::string& key, Toml value) {
  Put(auth_, key, std::move(value));
  return *this;
}

ConfigText& ConfigText::Raw(std::string toml) {
  raw_ += toml;
  if (!raw_.empty() && raw_.back() != '\n') raw_ += '\n';
  return *this;
}

std::string ConfigText::str() const {
  std::string out = Table("listen", listen_) + Table("probe", probe_) + Table("log", log_);
  for (const auto& c : clusters_) out += c;
  for (const auto& [name, keys] : classes_) out += Table("class." + name, keys);
  for (const auto& c : clients_) out += c;
  return out + Table("auth", auth_) + raw_;
}

namespace {

int BasePort(const char* env, int fallback) {
  const char* text = std::getenv(env);
  return text != nullptr && *text != '\0' ? std::atoi(text) : fallback;
}

}  // namespace

int PgPort(int node) {
  return BasePort("LAGROUTER_PG_BASE_PORT", 5441) + node;
}

int MariadbPort(int node) {
  return BasePort("LAGROUTER_MYSQL_BASE_PORT", 3407) + node;
}

ClusterSpec PgShop(int base_port) {
  return ClusterSpec("shop", "postgres")
      .Server("pg-a", base_port)
      .Server("pg-b", base_port + 1)
      .Server("pg-c", base_port + 2);
}

ClusterSpec MariaDbShop(std::string name, int base_port) {
  return ClusterSpec(std::move(name), "mysql")
      .Server("db-0", base_port)
      .Server("db-1", base_port + 1)
      .Server("db-2", base_port + 2);
}

}  // namespace lagrouter::test_support
