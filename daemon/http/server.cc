// HttpServer: binds the listening socket, sets up its event loops
// (loop.cc), starts them and stops them with a drain.
#include "daemon/http/server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <future>
#include <thread>
#include <utility>

#include "daemon/http/bind.h"
#include "daemon/http/loop.h"

namespace lagrouter::daemon {

using http_internal::Errno;

namespace {

// How long a stopping server keeps answering requests already under way.
constexpr auto kDrain = std::chrono::milliseconds(200);

}  // namespace

BindResult HttpServer::Bind(const Options& options, Handler handler, const HttpServer* previous) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->options_ = options;
  server->handler_ = std::move(handler);
  if (auto failed = server->Listen(previous)) return std::move(*failed);
  if (options.tls) {
    server->tls_ctx_ = SSL_CTX_new(TLS_server_method());
    if (server->tls_ctx_ == nullptr) {
      return StartError{StartError::Kind::kTls, "cannot set up HTTPS: OpenSSL failed"};
    }
    auto ok = ConfigureServerTls(*server->tls_ctx_, options.tls_files);
    if (!ok) return StartError{StartError::Kind::kTls, "cannot set up HTTPS: " + ok.error()};
  }
  server->ConfigureH2o();
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    if (auto failed = server->AddLoop()) return std::move(*failed);
  }
  return server;
}

std::optional<StartError> HttpServer::Listen(const HttpServer* previous) {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  auto fail = [&where](const std::string& why) {
    return StartError{StartError::Kind::kListen, "cannot listen on " + where + ": " + why};
  };
  if (previous != nullptr && previous->listen_fd_ >= 0 &&
      previous->options_.host == options_.host && previous->options_.port == options_.port) {
    // The same socket, so the same accept queue: a connection waiting in it
    // is accepted by whichever server's loops run, never reset by a close.
    listen_fd_ = fcntl(previous->listen_fd_, F_DUPFD_CLOEXEC, 0);
    if (listen_fd_ < 0) return fail(Errno(errno));
    return std::nullopt;
  }
  std::string failure = "no address";
  const auto unresolved = http_internal::BindEachAddress(
      options_.host, options_.port, http_internal::BindFor::kListen, [&](int fd, int error) {
        if (fd >= 0 && listen(fd, SOMAXCONN) == 0) {
          listen_fd_ = fd;
          return true;
        }
        failure = Errno(fd < 0 ? error : errno);
        if (fd >= 0) close(fd);
        return false;
      });
  if (unresolved) {
    return StartError{StartError::Kind::kListen, "cannot resolve " + where + ": " + *unresolved};
  }
  if (listen_fd_ < 0) return fail(failure);
  return std::nullopt;
}

std::optional<StartError> HttpServer::AddLoop() {
  using Kind = StartError::Kind;
  auto loop = std::make_unique<Loop>();
  loop->server = this;
  if (pipe2(loop->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    return StartError{Kind::kEventLoop, "cannot create an event loop: " + Errno(errno)};
  }
  loop->mailbox->wake_fd = loop->wake[1];
  // Every loop accepts from the same socket (its own descriptor of it).
  loop->listen_fd = fcntl(listen_fd_, F_DUPFD_CLOEXEC, 0);
  if (loop->listen_fd < 0) {
    return StartError{Kind::kListen, "cannot listen on " + options_.host + ":" +
                                         std::to_string(options_.port) + ": " + Errno(errno)};
  }
  std::promise<std::optional<StartError>> ready;
  auto set_up = ready.get_future();
  loop->ran = Loop::RunOnLoopThread([l = loop.get(), &ready] { l->Run(ready); });
  if (auto failed = set_up.get()) {
    loop->ran.wait();
    return failed;
  }
  loops_.push_back(std::move(loop));
  return std::nullopt;
}

void HttpServer::Start() {
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& loop : loops_) loop->Tell('s');
}

void HttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (started_) {
    // Drain: requests already on their way are answered (with Connection:
    // close), new connections wait in the accept queue for the next server.
    for (auto& loop : loops_) loop->Tell('d');
    std::this_thread::sleep_for(kDrain);
  }
  for (auto& loop : loops_) loop->Tell('x');
  loops_.clear();  // joins the loops; they close their connections first
  h2o_config_.reset();
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
  if (tls_ctx_ != nullptr) SSL_CTX_free(tls_ctx_);
  tls_ctx_ = nullptr;
}

HttpServer::~HttpServer() {
  Stop();
}

}  // namespace lagrouter::daemon
