#include "daemon/http_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lagrouter::daemon {

namespace {

// How long a stopping server keeps answering requests already under way.
constexpr auto kDrain = std::chrono::milliseconds(200);

std::string Decode(std::string_view s, bool plus_is_space) {
  // evhttp_uridecode needs a NUL-terminated input and reports the decoded
  // length, so "%00" survives as a NUL byte instead of cutting the value.
  const std::string in(s);
  size_t size = 0;
  char* out = evhttp_uridecode(in.c_str(), plus_is_space ? 1 : 0, &size);
  if (out == nullptr) return in;
  std::string decoded(out, size);
  std::free(out);
  return decoded;
}

const char* MethodName(evhttp_cmd_type cmd) {
  switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
  }
  return "UNKNOWN";
}

std::string Errno(int e) {
  return std::strerror(e);
}

// Answers handed to a loop by other threads (LaterReply), written by the loop.
struct Mailbox {
  std::mutex mu;
  std::vector<std::pair<evhttp_request*, ApiResponse>> replies;  // guarded by mu
  int wake_fd = -1;                                              // the loop's command pipe
  bool closed = false;  // the loop and its connections are gone; guarded by mu
};

class LoopReply final : public LaterReply {
 public:
  LoopReply(std::shared_ptr<Mailbox> mailbox, evhttp_request* req)
      : mailbox_(std::move(mailbox)), req_(req) {}
  ~LoopReply() override {
    if (!sent_)
      Send({500, R"({"error":"internal","message":"internal error; see the daemon's log"})"});
  }

  void Send(ApiResponse response) override {
    if (std::exchange(sent_, true)) return;
    std::lock_guard<std::mutex> lock(mailbox_->mu);
    if (mailbox_->closed) return;
    mailbox_->replies.emplace_back(req_, std::move(response));
    // One wake-up per batch: the loop takes every queued answer when it wakes.
    if (mailbox_->replies.size() == 1 && write(mailbox_->wake_fd, "r", 1) != 1) {
      spdlog::error("cannot wake an HTTP event loop for a deferred answer: {}", Errno(errno));
    }
  }

 private:
  std::shared_ptr<Mailbox> mailbox_;
  evhttp_request* req_;
  bool sent_ = false;
};

}  // namespace

QueryParams ParseQuery(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    const std::string_view key = piece.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    params.emplace(Decode(key, true), Decode(value, true));
  }
  return params;
}

std::string DecodePath(std::string_view path) {
  return Decode(path, false);
}

struct HttpServer::Loop final : Deferrer {
  HttpServer* server = nullptr;
  event_base* base = nullptr;
  evhttp* http = nullptr;
  evconnlistener* listener = nullptr;
  event* resume = nullptr;  // re-enables accepting after an accept error
  // Stop() writes commands to wake[1]: 'd' (drain), then 'x' (exit). The loop
  // acts on them itself; reaching into a loop from another thread would need
  // libevent's locks on every event.
  int wake[2] = {-1, -1};
  event* wake_event = nullptr;
  // Draining: no more accepting, and every answer closes its connection.
  bool draining = false;
  std::chrono::steady_clock::time_point last_accept_warning{};
  std::thread thread;
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();
  evhttp_request* current = nullptr;  // the request the handler has now
  bool deferred = false;              // the handler took its answer out (Defer)

  ~Loop() {
    {
      // Answers still to come find the loop gone and are dropped: its
      // connections, and their requests, are freed below.
      std::lock_guard<std::mutex> lock(mailbox->mu);
      mailbox->closed = true;
      mailbox->replies.clear();
    }
    if (listener != nullptr) {
      std::lock_guard<std::mutex> lock(RegistryMutex());
      Registry().erase(listener);
    }
    if (wake_event != nullptr) event_free(wake_event);
    if (resume != nullptr) event_free(resume);
    if (http != nullptr) evhttp_free(http);  // closes its listener dup and connections
    if (base != nullptr) event_base_free(base);
    for (int fd : wake) {
      if (fd >= 0) close(fd);
    }
  }

  static void OnWake(evutil_socket_t fd, short, void* arg) {
    Loop* loop = static_cast<Loop*>(arg);
    char commands[16];
    for (ssize_t n; (n = read(fd, commands, sizeof commands)) > 0;) {
      for (ssize_t i = 0; i < n; ++i) {
        if (commands[i] == 'd' && !loop->draining) {
          loop->draining = true;
          evconnlistener_disable(loop->listener);
        } else if (commands[i] == 'x') {
          event_base_loopbreak(loop->base);
        }
      }
    }
    loop->WriteDeferred();
  }

  std::unique_ptr<LaterReply> Defer() override {
    deferred = true;
    return std::make_unique<LoopReply>(mailbox, current);
  }

  // The answers other threads handed in, written in the order they came.
  void WriteDeferred() {
    std::vector<std::pair<evhttp_request*, ApiResponse>> replies;
    {
      std::lock_guard<std::mutex> lock(mailbox->mu);
      replies.swap(mailbox->replies);
    }
    // A request whose client has gone is detached from its connection by
    // libevent and freed by the reply, so writing it is always safe.
    for (auto& [req, res] : replies) Write(req, res);
  }

  static void OnRequest(evhttp_request* req, void* arg) { static_cast<Loop*>(arg)->Serve(req); }

  void Serve(evhttp_request* req) {
    HttpRequest r;
    r.method = MethodName(evhttp_request_get_command(req));
    if (const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req)) {
      if (const char* path = evhttp_uri_get_path(uri)) r.path = DecodePath(path);
      if (const char* query = evhttp_uri_get_query(uri)) r.params = ParseQuery(query);
    }
    if (r.path.empty()) r.path = "/";
    if (const char* auth =
            evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization")) {
      r.authorization = auth;
    }
    if (evhttp_connection* conn = evhttp_request_get_connection(req)) {
      char* addr = nullptr;
      ev_uint16_t port = 0;
      evhttp_connection_get_peer(conn, &addr, &port);
      if (addr != nullptr) r.remote_addr = addr;
      r.remote_port = port;
    }

    r.deferrer = this;
    current = req;
    deferred = false;
    ApiResponse res;
    try {
      res = server->handler_(r);
    } catch (const std::exception& e) {
      spdlog::error("handler for {} failed: {}", r.path, e.what());
      res = {500, R"({"error":"internal","message":"internal error; see the daemon's log"})"};
    }
    current = nullptr;
    if (deferred) return;  // a LaterReply answers
    Write(req, res);
  }

  void Write(evhttp_request* req, const ApiResponse& res) {
    evkeyvalq* headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", res.content_type);
    // The client's next request goes to a fresh connection, and so to the
    // next listener's loops (a reload) or nowhere (a shutdown): never lost.
    if (draining) evhttp_add_header(headers, "Connection", "close");
    for (const auto& [name, value] : res.headers) {
      evhttp_add_header(headers, name.c_str(), value.c_str());  // refuses CR/LF
    }
    evbuffer_add(evhttp_request_get_output_buffer(req), res.body.data(), res.body.size());
    evhttp_send_reply(req, res.status, nullptr, nullptr);  // HEAD: headers only
  }

  // The accept error callback gets the listener's own argument, which is
  // evhttp's: the loop is found by its listener instead (a rare path; a lock
  // is fine).
  static std::mutex& RegistryMutex() {
    static std::mutex mu;
    return mu;
  }
  static std::unordered_map<const evconnlistener*, Loop*>& Registry() {
    static std::unordered_map<const evconnlistener*, Loop*> loops;
    return loops;
  }
  void Register() {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    Registry()[listener] = this;
  }
  static Loop* FindLoop(const evconnlistener* listener) {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    const auto it = Registry().find(listener);
    return it == Registry().end() ? nullptr : it->second;
  }

  // accept() failed for a reason that retrying at once cannot fix (out of
  // file descriptors, most likely): pause this loop's accepting briefly
  // instead of spinning on the readable listener.
  static void OnAcceptError(evconnlistener* listener, void*) {
    const int err = EVUTIL_SOCKET_ERROR();
    Loop* loop = FindLoop(listener);
    if (loop == nullptr) return;
    if (auto* count = loop->server->options_.accept_errors) {
      count->fetch_add(1, std::memory_order_relaxed);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - loop->last_accept_warning > std::chrono::seconds(10)) {
      loop->last_accept_warning = now;
      spdlog::warn(
          "accepting a connection failed: {}; new connections wait (raise the open file "
          "limit, LimitNOFILE=, if this repeats)",
          Errno(err));
    }
    evconnlistener_disable(listener);
    const timeval pause{0, 100 * 1000};
    event_add(loop->resume, &pause);
  }

  static void OnResume(evutil_socket_t, short, void* arg) {
    Loop* loop = static_cast<Loop*>(arg);
    if (!loop->draining) evconnlistener_enable(loop->listener);
  }

  static bufferevent* MakeTlsConnection(event_base* base, void* arg) {
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(arg));
    if (ssl == nullptr) return nullptr;
    bufferevent* bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE);
    // Clients that close without a TLS close_notify are not an error.
    if (bev != nullptr) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
  }
};

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
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* list = nullptr;
  const int gai = getaddrinfo(options_.host.empty() ? nullptr : options_.host.c_str(),
                              std::to_string(options_.port).c_str(), &hints, &list);
  if (gai != 0) {
    return StartError{StartError::Kind::kListen,
                      "cannot resolve " + where + ": " + gai_strerror(gai)};
  }
  std::string failure = "no address";
  for (addrinfo* a = list; a != nullptr && listen_fd_ < 0; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      failure = Errno(errno);
      continue;
    }
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    // A reload that moves to another address binds it while the old one
    // still serves; SO_REUSEPORT also lets it come back to the old one.
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
    // Accepted sockets inherit it: answers leave at once, never held by Nagle.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      failure = Errno(errno);
      close(fd);
      continue;
    }
    listen_fd_ = fd;
  }
  freeaddrinfo(list);
  if (listen_fd_ < 0) return fail(failure);
  return std::nullopt;
}

std::optional<StartError> HttpServer::AddLoop() {
  using Kind = StartError::Kind;
  const StartError no_loop{Kind::kEventLoop, "cannot create an event loop"};
  auto loop = std::make_unique<Loop>();
  loop->server = this;
  // Changelist: a connection's read/write interest flips several times per
  // request; epoll then sees one change per loop turn instead of each flip.
  event_config* cfg = event_config_new();
  if (cfg == nullptr) return no_loop;
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  // One thread per base: no locks (Stop() reaches a loop through its pipe).
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  loop->base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (loop->base == nullptr) return no_loop;
  loop->http = evhttp_new(loop->base);
  if (loop->http == nullptr) return StartError{Kind::kEventLoop, "cannot create an HTTP server"};
  evhttp_set_gencb(loop->http, &Loop::OnRequest, loop.get());
  // Every method reaches the handler, which answers 405 in JSON itself.
  evhttp_set_allowed_methods(loop->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                             EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
  evhttp_set_timeout(loop->http, options_.idle_timeout_seconds);
  evhttp_set_max_headers_size(loop->http, 16 * 1024);
  evhttp_set_max_body_size(loop->http, 64 * 1024);
  if (tls_ctx_ != nullptr) evhttp_set_bevcb(loop->http, &Loop::MakeTlsConnection, tls_ctx_);
  // Every loop accepts from the same socket (its own descriptor of it).
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  const int fd = fcntl(listen_fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return StartError{Kind::kListen, "cannot listen on " + where + ": " + Errno(errno)};
  evhttp_bound_socket* bound = evhttp_accept_socket_with_handle(loop->http, fd);
  if (bound == nullptr) {
    close(fd);
    return StartError{Kind::kListen, "cannot listen on " + where + ": libevent refused the socket"};
  }
  loop->listener = evhttp_bound_socket_get_listener(bound);
  loop->resume = evtimer_new(loop->base, &Loop::OnResume, loop.get());
  if (pipe2(loop->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    return StartError{Kind::kEventLoop, "cannot create an event loop: " + Errno(errno)};
  }
  loop->mailbox->wake_fd = loop->wake[1];
  loop->wake_event =
      event_new(loop->base, loop->wake[0], EV_READ | EV_PERSIST, &Loop::OnWake, loop.get());
  if (loop->resume == nullptr || loop->wake_event == nullptr ||
      event_add(loop->wake_event, nullptr) != 0) {
    return no_loop;
  }
  loop->Register();
  evconnlistener_set_error_cb(loop->listener, &Loop::OnAcceptError);
  // Not accepting until Start(): the kernel queues connections meanwhile.
  evconnlistener_disable(loop->listener);
  loops_.push_back(std::move(loop));
  return std::nullopt;
}

void HttpServer::Start() {
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& loop : loops_) {
    evconnlistener_enable(loop->listener);
    loop->thread = std::thread([base = loop->base] {
      pthread_setname_np(pthread_self(), "lagrouter-http");
      event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    });
  }
}

void HttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  auto tell = [](Loop& loop, const char* command) {
    if (loop.thread.joinable() && write(loop.wake[1], command, 1) != 1) {
      spdlog::error("cannot reach an HTTP event loop: {}", Errno(errno));
    }
  };
  if (started_) {
    // Drain: requests already on their way are answered (with Connection:
    // close), new connections wait in the accept queue for the next server.
    for (auto& loop : loops_) tell(*loop, "d");
    std::this_thread::sleep_for(kDrain);
  }
  for (auto& loop : loops_) tell(*loop, "x");
  for (auto& loop : loops_) {
    if (loop->thread.joinable()) loop->thread.join();
  }
  loops_.clear();  // closes the connections and the loops' listener descriptors
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
  if (tls_ctx_ != nullptr) SSL_CTX_free(tls_ctx_);
  tls_ctx_ = nullptr;
}

HttpServer::~HttpServer() {
  Stop();
}

}  // namespace lagrouter::daemon
