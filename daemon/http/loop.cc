// The event loop: its thread, h2o's loop and context, the command pipe other
// threads steer it by, and accepting from the shared listening socket.
#include "daemon/http/loop.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <string_view>
#include <thread>

namespace lagrouter::daemon {

using http_internal::Errno;

namespace {

// How long a stopping loop waits for the connections it cut to be closed.
constexpr auto kCloseWait = std::chrono::milliseconds(500);
// After accept() failed for lack of descriptors, a loop pauses accepting this long.
constexpr uint64_t kAcceptPauseMs = 100;

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

std::future<void> HttpServer::Loop::RunOnLoopThread(std::function<void()> work) {
  return LoopThreads::Instance().Run(std::move(work));
}

HttpServer::Loop::~Loop() {
  // Answers still to come find the loop gone and are dropped.
  CloseMailbox();
  if (ran.valid()) {
    Tell('x');  // unless Stop() did
    ran.wait();
  }
  for (int fd : wake) {
    if (fd >= 0) close(fd);
  }
}

void HttpServer::Loop::Tell(char command) {
  if (told_exit) return;
  told_exit = command == 'x';
  if (write(wake[1], &command, 1) != 1) {
    spdlog::error("cannot reach an HTTP event loop: {}", Errno(errno));
  }
}

// The loop's thread: h2o keeps per-thread buffer pools (and frees a buffer
// into the pool of the thread that made it), so everything of h2o's is
// made, run and freed here, never on the thread that binds or stops.
void HttpServer::Loop::Run(std::promise<std::optional<StartError>>& ready) {
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

std::optional<StartError> HttpServer::Loop::SetUp() {
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

void HttpServer::Loop::TearDown() {
  // Answers from now on are dropped, before the pipe they wake us by closes.
  CloseMailbox();
  if (listen_fd >= 0) close(std::exchange(listen_fd, -1));
  if (evloop == nullptr) return;
  if (listener != nullptr) h2o_socket_close(std::exchange(listener, nullptr));
  if (wake_socket != nullptr) h2o_socket_close(std::exchange(wake_socket, nullptr));
  h2o_evloop_run(evloop, 0);  // frees the sockets just closed
  if (!connections.empty()) {
    // h2o still owns them: freeing the loop under them would be worse
    // than leaving this stopped loop's memory behind.
    spdlog::error("an HTTP event loop stopped with {} connections still open", connections.size());
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

void HttpServer::Loop::StartAccepting() {
  if (accepting || draining || listener == nullptr) return;
  accepting = true;
  h2o_socket_read_start(listener, &Loop::OnAccept);
}

void HttpServer::Loop::StopAccepting() {
  if (!accepting) return;
  accepting = false;
  h2o_socket_read_stop(listener);
}

void HttpServer::Loop::OnWake(h2o_socket_t* sock, const char* err) {
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

void HttpServer::Loop::OnAccept(h2o_socket_t* listener, const char* err) {
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
    loop->Adopt(sock);
  }
}

// accept() failed for a reason that retrying at once cannot fix (out of
// file descriptors, most likely): pause this loop's accepting briefly
// instead of spinning on the readable listener.
void HttpServer::Loop::AcceptFailed(int err) {
  if (auto* count = server->options_.accept_errors) count->fetch_add(1, std::memory_order_relaxed);
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

void HttpServer::Loop::OnResume(h2o_timeout_entry_t* entry) {
  reinterpret_cast<ResumeTimer*>(entry)->loop->StartAccepting();
}

}  // namespace lagrouter::daemon
