// The HTTP transport: h2o's HTTP/1.1 server (libh2o-evloop) on a few
// event-loop threads that share one listening socket. Each loop serves many
// keep-alive connections, so a request costs no thread wake-up of its own, and
// idle or slow clients hold no thread (its cost per request against
// libevent's evhttp, which it replaced: docs/benchmarks.md §1).
//
// The transport knows nothing of routes: it decodes the request into an
// HttpRequest, hands it to the handler and writes back the ApiResponse.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "daemon/http/tls.h"

namespace lagrouter::daemon {

using QueryParams = std::multimap<std::string, std::string>;

// An answer given later, from any thread (a route request that waits for a
// probe); the event loop that took the request writes it. Send() once;
// destroyed unsent, it answers 500, so no client is left hanging.
class LaterReply {
 public:
  virtual ~LaterReply() = default;
  virtual void Send(struct ApiResponse response) = 0;
};

// Offered to the handler with each request: after Defer(), the handler's
// return value is ignored and the answer goes out through the LaterReply.
class Deferrer {
 public:
  virtual std::unique_ptr<LaterReply> Defer() = 0;

 protected:
  ~Deferrer() = default;
};

struct HttpRequest {
  std::string method;         // "GET", "HEAD", "POST", ...
  std::string path;           // percent-decoded; may hold any byte
  QueryParams params;         // percent-decoded ('+' is a space), every occurrence kept
  std::string authorization;  // the Authorization header, empty when absent
  std::string remote_addr;
  int remote_port = 0;
  Deferrer* deferrer = nullptr;  // null: the answer must be returned (tests, fuzzing)
};

struct ApiResponse {
  ApiResponse() = default;
  ApiResponse(int status_code, std::string text, const char* type = "application/json")
      : status(status_code), body(std::move(text)), content_type(type) {}

  int status = 200;
  std::string body;
  const char* content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, usually none
};

// "a=1&b=%20x&c" -> {a: "1", b: " x", c: ""}. Empty pieces ("a=1&&b=2") are
// skipped; malformed escapes ("%zz") are kept as written.
QueryParams ParseQuery(std::string_view query);

// Percent-decodes a path ('+' stays a '+'); the result may hold NUL bytes.
std::string DecodePath(std::string_view path);

// Why a server could not start; the daemon's exit code depends on the kind.
struct StartError {
  enum class Kind {
    kListen,     // the address: in use, not local, cannot be resolved
    kTls,        // the HTTPS certificate, key or client CA
    kEventLoop,  // h2o or the system refused a loop
  };
  Kind kind = Kind::kListen;
  std::string message;
};

class BindResult;

// True when another socket holds host:port (SO_REUSEPORT would otherwise let
// a second daemon share the port silently): checked once at start, and
// before a reload moves to another address. Binds each address host
// resolves to as HttpServer::Bind does, without SO_REUSEPORT.
bool PortInUse(const std::string& host, int port);

class HttpServer {
 public:
  using Handler = std::function<ApiResponse(const HttpRequest&)>;
  struct Options {
    std::string host;
    int port = 0;
    int threads = 2;                // event loops
    bool tls = false;               // HTTPS with `tls_files`
    TlsFiles tls_files;             // client_ca non-empty: mutual TLS
    int idle_timeout_seconds = 30;  // a connection silent this long is closed
    // Counts accept() failures (out of file descriptors, most likely), if set.
    std::atomic<uint64_t>* accept_errors = nullptr;
  };

  // Binds and listens (backlog SOMAXCONN). With `previous` (a reload) on the
  // same address, shares its listening socket instead: connections queue in
  // one accept queue, served by `previous` until this one Start()s and
  // `previous` Stop()s, so none is refused or reset. The error says what failed.
  static BindResult Bind(const Options& options, Handler handler,
                         const HttpServer* previous = nullptr);

  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts the event loops: from now on, connections are accepted.
  void Start();
  // Stops accepting, answers what is already under way for a short drain
  // (200 ms; each answer then closes its connection), closes every
  // connection and joins the loops. Idempotent.
  void Stop();

  struct Loop;  // one event loop: its thread, h2o loop and context

 private:
  struct H2oConfig;  // h2o's configuration, shared by the loops
  HttpServer() = default;
  void ConfigureH2o();
  // Bind's steps: the listening socket, then one event loop accepting from it.
  std::optional<StartError> Listen(const HttpServer* previous);
  std::optional<StartError> AddLoop();

  Options options_;
  Handler handler_;
  int listen_fd_ = -1;
  SSL_CTX* tls_ctx_ = nullptr;  // shared by the loops
  std::unique_ptr<H2oConfig> h2o_config_;
  std::vector<std::unique_ptr<Loop>> loops_;
  bool started_ = false;
  bool stopped_ = false;
};

// The bound server, or the error and its kind.
class BindResult : public Result<std::unique_ptr<HttpServer>> {
 public:
  BindResult(std::unique_ptr<HttpServer> server)  // NOLINT: implicit, as Result's
      : Result(std::move(server)) {}
  BindResult(StartError error)  // NOLINT
      : Result(MakeError(std::move(error.message))), kind_(error.kind) {}

  // What failed; only meaningful when !ok().
  StartError::Kind kind() const { return kind_; }

 private:
  StartError::Kind kind_ = StartError::Kind::kListen;
};

}  // namespace lagrouter::daemon
