// An HTTP(S) client for talking to a lagrouter under test: plain or TLS
// (mutual TLS with a client certificate), bearer tokens, keep-alive.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace lagrouter::test_support {

using Json = nlohmann::json;

struct HttpReply {
  int status = 0;  // 0: no HTTP answer (refused, timeout, TLS failure)
  std::string body;
  Json json;          // the parsed body (null when not JSON)
  std::string error;  // why there was no answer
  std::vector<std::pair<std::string, std::string>> headers;
  // A response header by name, any case ("" when absent).
  std::string Header(const std::string& name) const;
};

struct HttpOptions {
  int connect_timeout_s = 2;
  int read_timeout_s = 5;
  int write_timeout_s = 5;
  bool keep_alive = false;  // one connection for every request of this client
  bool tls = false;         // HTTPS
  std::string ca;           // TLS: verify the server against this CA ("" = no verification)
  std::string cert, key;    // TLS: client certificate for mutual TLS ("" = none)
};

// A client of 127.0.0.1:`port`. Not thread-safe: one per thread.
class HttpClient {
 public:
  explicit HttpClient(int port, const HttpOptions& options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET with "Authorization: Bearer TOKEN" unless `token` is "".
  HttpReply Get(const std::string& path, const std::string& token = "");
  HttpReply Get(const std::string& path,
                const std::vector<std::pair<std::string, std::string>>& headers);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection (2 s to connect, 5 s to answer).
HttpReply HttpGet(int port, const std::string& path, const std::string& token = "");

// Whether the JSON array `list` holds the string `item`.
bool Contains(const Json& list, const std::string& item);

// "/v1/route?cluster=C&class=K[&after=POSITION]", the position URL-encoded.
std::string RoutePath(const std::string& cluster, const std::string& cls,
                      const std::string& after = "");

}  // namespace lagrouter::test_support
