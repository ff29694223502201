#include "daemon/http/server.h"

// h2o's event-loop flavour (libh2o-evloop), not its libuv one.
#define H2O_USE_LIBUV 0
#include <fcntl.h>
#include <h2o.h>
#include <h2o/socket/evloop.h>
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
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/text.h"

namespace lagrouter::daemon {

namespace {

// How long a stopping server keeps answering requests already under way.
constexpr auto kDrain = std::chrono::milliseconds(200);
// Then how long it waits for the connections it cut to be closed.
constexpr auto kCloseWait = std::chrono::milliseconds(500);
// Request line and headers, and the body: larger requests are refused.
// h2o itself buffers up to H2O_MAX_REQLEN (~400 KiB) of headers per
// connection before it parses them; the 16 KiB limit is applied on top.
constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024;
// After accept() failed for lack of descriptors, a loop pauses accepting this long.
constexpr uint64_t kAcceptPauseMs = 100;

constexpr const char* kInternalError =
    R"({"error":"internal","message":"internal error; see the daemon's log"})";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX becomes its byte (so "%00" is a NUL byte, not the end of the value);
// an escape that is not two hex digits is kept as written.
std::string Decode(std::string_view s, bool plus_is_space) {
  if (s.find_first_of(plus_is_space ? "%+" : "%") == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
  }
  return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
}

std::string Errno(int e) {
  return std::strerror(e);
}

bool HasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Answers handed to a loop by other threads (LaterReply), written by the loop.
// A parked request is known by its number: the loop alone knows whether it
// still exists (its client may have gone, and h2o freed it).
struct Mailbox {
  std::mutex mu;
  std::vector<std::pair<uint64_t, ApiResponse>> replies;  // guarded by mu
  int wake_fd = -1;                                       // the loop's command pipe
  bool closed = false;  // the loop and its connections are gone; guarded by mu
};

class LoopReply final : public LaterReply {
 public:
  LoopReply(std::shared_ptr<Mailbox> mailbox, uint64_t id)
      : mailbox_(std::move(mailbox)), id_(id) {}
  ~LoopReply() override {
    if (!sent_) Send({500, kInternalError});
  }

  void Send(ApiResponse response) override {
    if (std::exchange(sent_, true)) return;
    std::lock_guard<std::mutex> lock(mailbox_->mu);
    if (mailbox_->closed) return;
    mailbox_->replies.emplace_back(id_, std::move(response));
    // One wake-up per batch: the loop takes every queued answer when it wakes.
    if (mailbox_->replies.size() == 1 && write(mailbox_->wake_fd, "r", 1) != 1) {
      spdlog::error("cannot wake an HTTP event loop for a deferred answer: {}", Errno(errno));
    }
  }

 private:
  std::shared_ptr<Mailbox> mailbox_;
  uint64_t id_;
  bool sent_ = false;
};

// The threads event loops run on, kept when a server stops for the next
// server's loops (a reload): h2o caches freed memory per thread and never
// returns it, so a new thread per loop per reload would leak those caches.
class LoopThreads {
 public:
  static LoopThreads& Instance() {
    static auto* threads = new LoopThreads();  // never destroyed: idle threads outlive main()
    return *threads;
  }

  // Runs `work` on an idle thread, or a new one when none is idle.
  std::future<void> Run(std::function<void()> work) {
    std::packaged_task<void()> task(std::move(work));
    std::future<void> done = task.get_future();
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
    if (idle_ < tasks_.size()) {
      std::thread([this] { Serve(); }).detach();
    } else {
      wake_.notify_one();
    }
    return done;
  }

 private:
  void Serve() {
    pthread_setname_np(pthread_self(), "lagrouter-http");
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      wake_.wait(lock, [this] { return !tasks_.empty(); });
      --idle_;
      std::packaged_task<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> tasks_;  // guarded by mu_
  size_t idle_ = 0;                               // threads waiting for a task; guarded by mu_
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

// What HttpServer keeps of h2o: the configuration every loop's context reads.
struct HttpServer::H2oConfig {
  h2o_globalconf_t global{};
  bool initialized = false;
  ~H2oConfig() {
    if (initialized) h2o_config_dispose(&global);
  }
};

struct HttpServer::Loop final : Deferrer {
  // h2o hands a request with its context: the context leads to its loop.
  struct Context {
    h2o_context_t h2o;  // first member: a Context* is an h2o_context_t*
    Loop* loop;
  };
  // An accepted connection, until h2o closes its socket.
  struct Connection {
    Loop* loop;
    int fd;
    std::string peer_addr;  // for the handler's logs: looked up once, not per request
    int peer_port = 0;
  };
  // Lives in a parked request's memory pool: h2o runs Forget when it frees
  // the request (its client left, or the server stopped).
  struct ParkedMark {
    Loop* loop;
    uint64_t id;
    static void Forget(void* p) {
      auto* mark = static_cast<ParkedMark*>(p);
      mark->loop->parked.erase(mark->id);
    }
  };

  HttpServer* server = nullptr;
  int listen_fd = -1;  // this loop's own descriptor of the listening socket
  h2o_evloop_t* evloop = nullptr;
  Context context{};
  bool context_ready = false;
  h2o_accept_ctx_t accept_ctx{};
  h2o_socket_t* listener = nullptr;
  // Commands come through wake[1]: 's' (start accepting), 'd' (drain), 'x'
  // (exit); other threads' answers write 'r'. The loop acts on them itself.
  int wake[2] = {-1, -1};
  h2o_socket_t* wake_socket = nullptr;
  // The timer that resumes accepting after a pause (entry first: h2o hands
  // the entry back).
  struct ResumeTimer {
    h2o_timeout_entry_t entry;
    Loop* loop;
  };
  h2o_timeout_t accept_pause{};
  ResumeTimer resume_accepting{};
  bool accept_pause_ready = false;
  bool accepting = false;
  bool draining = false;  // no more accepting, and every answer closes its connection
  bool exiting = false;
  std::chrono::steady_clock::time_point last_accept_warning{};
  std::unordered_set<Connection*> connections;
  std::unordered_map<uint64_t, h2o_req_t*> parked;  // deferred requests still alive
  uint64_t next_parked = 0;
  h2o_req_t* current = nullptr;  // the request the handler has now
  bool deferred = false;         // the handler took its answer out (Defer)
  std::future<void> ran;         // ready once Run() has returned
  bool told_exit = false;        // by the thread that owns the server
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();

  ~Loop() {
    {
      // Answers still to come find the loop gone and are dropped.
      std::lock_guard<std::mutex> lock(mailbox->mu);
      mailbox->closed = true;
      mailbox->replies.clear();
    }
    if (ran.valid()) {
      Tell('x');  // unless Stop() did
      ran.wait();
    }
    for (int fd : wake) {
      if (fd >= 0) close(fd);
    }
  }

  // Once told to exit, a loop closes its end of the pipe: nothing more is
  // written to it (a write would fail, or raise SIGPIPE).
  void Tell(char command) {
    if (told_exit) return;
    told_exit = command == 'x';
    if (write(wake[1], &command, 1) != 1) {
      spdlog::error("cannot reach an HTTP event loop: {}", Errno(errno));
    }
  }

  // The loop's thread: h2o keeps per-thread buffer pools (and frees a buffer
  // into the pool of the thread that made it), so everything of h2o's is
  // made, run and freed here, never on the thread that binds or stops.
  void Run(std::promise<std::optional<StartError>>& ready) {
    auto failed = SetUp();
    ready.set_value(failed);
    if (failed) {
      TearDown();
      return;
    }
    while (!exiting) h2o_evloop_run(evloop, INT32_MAX);
    // Cut every connection left (idle keep-alive ones, mostly): h2o sees the
    // end of its stream and closes it the way it closes any other.
    for (const Connection* conn : connections) shutdown(conn->fd, SHUT_RDWR);
    const auto deadline = std::chrono::steady_clock::now() + kCloseWait;
    while (!connections.empty() && std::chrono::steady_clock::now() < deadline) {
      h2o_evloop_run(evloop, 10);
    }
    TearDown();
  }

  std::optional<StartError> SetUp() {
    const StartError no_loop{StartError::Kind::kEventLoop, "cannot create an event loop"};
    evloop = h2o_evloop_create();
    if (evloop == nullptr) return no_loop;
    h2o_context_init(&context.h2o, evloop, &server->h2o_config_->global);
    context.loop = this;
    context_ready = true;
    accept_ctx.ctx = &context.h2o;
    accept_ctx.hosts = server->h2o_config_->global.hosts;
    accept_ctx.ssl_ctx = server->tls_ctx_;
    h2o_timeout_init(evloop, &accept_pause, kAcceptPauseMs);
    resume_accepting.entry.cb = &Loop::OnResume;
    resume_accepting.loop = this;
    accept_pause_ready = true;
    // Not accepting until Start(): the kernel queues connections meanwhile.
    listener =
        h2o_evloop_socket_create(evloop, std::exchange(listen_fd, -1), H2O_SOCKET_FLAG_DONT_READ);
    listener->data = this;
    wake_socket = h2o_evloop_socket_create(evloop, wake[0], 0);
    wake[0] = -1;  // the socket owns it now
    wake_socket->data = this;
    h2o_socket_read_start(wake_socket, &Loop::OnWake);
    return std::nullopt;
  }

  void TearDown() {
    {
      // Answers from now on are dropped, before the pipe they wake us by closes.
      std::lock_guard<std::mutex> lock(mailbox->mu);
      mailbox->closed = true;
      mailbox->replies.clear();
    }
    if (listen_fd >= 0) close(std::exchange(listen_fd, -1));
    if (evloop == nullptr) return;
    if (listener != nullptr) h2o_socket_close(std::exchange(listener, nullptr));
    if (wake_socket != nullptr) h2o_socket_close(std::exchange(wake_socket, nullptr));
    h2o_evloop_run(evloop, 0);  // frees the sockets just closed
    if (!connections.empty()) {
      // h2o still owns them: freeing the loop under them would be worse
      // than leaving this stopped loop's memory behind.
      spdlog::error("an HTTP event loop stopped with {} connections still open",
                    connections.size());
      return;
    }
    if (accept_pause_ready) {
      h2o_timeout_unlink(&resume_accepting.entry);
      h2o_timeout_dispose(evloop, &accept_pause);
    }
    if (context_ready) h2o_context_dispose(&context.h2o);
    h2o_evloop_destroy(std::exchange(evloop, nullptr));
    // h2o 2.2.5 destroys the context's message queue without freeing it.
    if (context_ready) free(context.h2o.queue);
  }

  void StartAccepting() {
    if (accepting || draining || listener == nullptr) return;
    accepting = true;
    h2o_socket_read_start(listener, &Loop::OnAccept);
  }
  void StopAccepting() {
    if (!accepting) return;
    accepting = false;
    h2o_socket_read_stop(listener);
  }

  static void OnWake(h2o_socket_t* sock, const char* err) {
    Loop* loop = static_cast<Loop*>(sock->data);
    if (err != nullptr) {
      spdlog::error("an HTTP event loop lost its command pipe: {}", err);
      loop->exiting = true;
      return;
    }
    const std::string_view commands(sock->input->bytes, sock->input->size);
    for (char c : commands) {
      if (c == 's') {
        loop->StartAccepting();
      } else if (c == 'd' && !loop->draining) {
        loop->StopAccepting();
        loop->draining = true;
        // New requests get no keep-alive. (h2o_context_request_shutdown also
        // arms HTTP/2's shutdown timer, which this HTTP/1.1 server never uses.)
        loop->context.h2o.shutdown_requested = 1;
      } else if (c == 'x') {
        loop->exiting = true;
      }
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
    loop->WriteDeferred();
    if (loop->exiting) loop->AnswerParked();
  }

  std::unique_ptr<LaterReply> Defer() override {
    deferred = true;
    const uint64_t id = ++next_parked;
    parked.emplace(id, current);
    auto* mark = static_cast<ParkedMark*>(
        h2o_mem_alloc_shared(&current->pool, sizeof(ParkedMark), &ParkedMark::Forget));
    mark->loop = this;
    mark->id = id;
    return std::make_unique<LoopReply>(mailbox, id);
  }

  // The answers other threads handed in, written in the order they came; a
  // request whose client has gone is no longer parked, and its answer dropped.
  void WriteDeferred() {
    std::vector<std::pair<uint64_t, ApiResponse>> replies;
    {
      std::lock_guard<std::mutex> lock(mailbox->mu);
      replies.swap(mailbox->replies);
    }
    for (auto& [id, res] : replies) {
      const auto it = parked.find(id);
      if (it == parked.end()) continue;
      h2o_req_t* req = it->second;
      parked.erase(it);
      Write(req, res);
    }
  }

  // Stopping: the requests still parked get an answer rather than a cut.
  void AnswerParked() {
    while (!parked.empty()) {
      h2o_req_t* req = parked.begin()->second;
      parked.erase(parked.begin());
      Write(req, {503, R"({"error":"unavailable","message":"the server is stopping; ask again"})"});
    }
  }

  static int OnRequest(h2o_handler_t*, h2o_req_t* req) {
    reinterpret_cast<Context*>(req->conn->ctx)->loop->Serve(req);
    return 0;
  }

  void Serve(h2o_req_t* req) {
    size_t header_bytes = req->input.method.len + req->input.path.len;
    for (size_t i = 0; i < req->headers.size; ++i) {
      header_bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    }
    if (header_bytes > kMaxHeaderBytes) {
      req->http1_is_persistent = 0;
      Write(req, {431, R"({"error":"bad_request","message":"request headers over 16 KiB"})"});
      return;
    }

    HttpRequest r;
    r.method.assign(req->input.method.base, req->input.method.len);
    const std::string_view target(req->input.path.base, req->input.path.len);
    const size_t q = req->input.query_at;
    if (q == SIZE_MAX || q > target.size()) {
      r.path = DecodePath(target);
    } else {
      r.path = DecodePath(target.substr(0, q));
      r.params = ParseQuery(target.substr(q + 1));
    }
    if (r.path.empty()) r.path = "/";
    const ssize_t auth = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (auth >= 0) {
      const h2o_iovec_t& v = req->headers.entries[auth].value;
      r.authorization.assign(v.base, v.len);
    }
    if (const Connection* conn = ConnectionOf(req)) {
      r.remote_addr = conn->peer_addr;
      r.remote_port = conn->peer_port;
    }

    r.deferrer = this;
    current = req;
    deferred = false;
    ApiResponse res;
    try {
      res = server->handler_(r);
    } catch (const std::exception& e) {
      spdlog::error("handler for {} failed: {}", r.path, e.what());
      res = {500, kInternalError};
    }
    current = nullptr;
    if (deferred) return;  // a LaterReply answers
    Write(req, res);
  }

  void Write(h2o_req_t* req, const ApiResponse& res) {
    req->res.status = res.status;
    req->res.reason = ReasonPhrase(res.status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                   res.content_type, std::strlen(res.content_type));
    for (const auto& [name, value] : res.headers) {
      if (name.empty() || HasLineBreakOrNul(name) || HasLineBreakOrNul(value)) {
        spdlog::error("refusing to send a header with a line break: {}", Printable(name, 64));
        continue;
      }
      const h2o_iovec_t n = h2o_strdup(&req->pool, name.data(), name.size());
      const h2o_iovec_t v = h2o_strdup(&req->pool, value.data(), value.size());
      h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 1, n.base, v.base, v.len);
    }
    // The client's next request goes to a fresh connection, and so to the
    // next listener's loops (a reload) or nowhere (a shutdown): never lost.
    if (draining) req->http1_is_persistent = 0;
    req->res.content_length = res.body.size();
    h2o_send_inline(req, res.body.data(), res.body.size());  // HEAD: headers only
  }

  static void OnAccept(h2o_socket_t* listener, const char* err) {
    Loop* loop = static_cast<Loop*>(listener->data);
    if (err != nullptr) return;
    // A bounded batch: a flood of connections cannot starve answers.
    for (int i = 0; i < 16; ++i) {
      h2o_socket_t* sock = h2o_evloop_socket_accept(listener);
      if (sock == nullptr) {
        const int e = errno;
        if (e == EINTR || e == ECONNABORTED) continue;
        if (e != EAGAIN && e != EWOULDBLOCK) loop->AcceptFailed(e);
        return;
      }
      auto* conn = new Connection{loop, h2o_socket_get_fd(sock), {}, 0};
      sockaddr_storage peer{};
      const socklen_t len = h2o_socket_getpeername(sock, reinterpret_cast<sockaddr*>(&peer));
      char host[NI_MAXHOST];
      const size_t n =
          len > 0 ? h2o_socket_getnumerichost(reinterpret_cast<sockaddr*>(&peer), len, host)
                  : SIZE_MAX;
      if (n != SIZE_MAX) {
        conn->peer_addr.assign(host, n);
        conn->peer_port = std::max(0, h2o_socket_getport(reinterpret_cast<sockaddr*>(&peer)));
      }
      loop->connections.insert(conn);
      sock->on_close.cb = &Loop::OnClosed;
      sock->on_close.data = conn;
      h2o_accept(&loop->accept_ctx, sock);
    }
  }

  static const Connection* ConnectionOf(h2o_req_t* req) {
    h2o_socket_t* sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == nullptr || sock->on_close.cb != &Loop::OnClosed) return nullptr;
    return static_cast<const Connection*>(sock->on_close.data);
  }

  static void OnClosed(void* data) {
    auto* conn = static_cast<Connection*>(data);
    conn->loop->connections.erase(conn);
    delete conn;
  }

  // accept() failed for a reason that retrying at once cannot fix (out of
  // file descriptors, most likely): pause this loop's accepting briefly
  // instead of spinning on the readable listener.
  void AcceptFailed(int err) {
    if (auto* count = server->options_.accept_errors)
      count->fetch_add(1, std::memory_order_relaxed);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_accept_warning > std::chrono::seconds(10)) {
      last_accept_warning = now;
      spdlog::warn(
          "accepting a connection failed: {}; new connections wait (raise the open file "
          "limit, LimitNOFILE=, if this repeats)",
          Errno(err));
    }
    StopAccepting();
    if (!h2o_timeout_is_linked(&resume_accepting.entry)) {
      h2o_timeout_link(evloop, &accept_pause, &resume_accepting.entry);
    }
  }

  static void OnResume(h2o_timeout_entry_t* entry) {
    reinterpret_cast<ResumeTimer*>(entry)->loop->StartAccepting();
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
  server->ConfigureH2o();
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    if (auto failed = server->AddLoop()) return std::move(*failed);
  }
  return server;
}

void HttpServer::ConfigureH2o() {
  h2o_config_ = std::make_unique<H2oConfig>();
  h2o_globalconf_t& g = h2o_config_->global;
  h2o_config_init(&g);
  h2o_config_->initialized = true;
  g.server_name = h2o_iovec_init(H2O_STRLIT(""));  // no Server header
  g.max_request_entity_size = kMaxBodyBytes;
  // h2o's request timeout runs from the end of one answer (or the accept) to
  // the whole next request: an idle or a slow client is closed after it.
  g.http1.req_timeout = static_cast<uint64_t>(std::max(1, options_.idle_timeout_seconds)) * 1000;
  g.http1.upgrade_to_http2 = 0;  // HTTP/1.1 only, as documented
  h2o_hostconf_t* host = h2o_config_register_host(&g, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
  h2o_handler_t* h = h2o_create_handler(path, sizeof(h2o_handler_t));
  h->on_req = &Loop::OnRequest;
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
  loop->ran = LoopThreads::Instance().Run([l = loop.get(), &ready] { l->Run(ready); });
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
