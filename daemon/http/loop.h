// Internal to daemon/http/: one event loop of HttpServer, shared by the
// transport's parts. Its members are defined where their concern lives:
//   loop.cc        the loop itself: its thread (LoopThreads), h2o's loop and
//                  context, the command pipe, accepting
//   connection.cc  a connection's requests: parsing limits, the handler,
//                  answering, keep-alive and drain, timeouts
//   deferred.cc    answers given later: LaterReply, the parked requests known
//                  by number, the mark in a parked request's pool
//   server.cc      HttpServer: bind, start, stop
#pragma once

// h2o's event-loop flavour (libh2o-evloop), not its libuv one.
#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/socket/evloop.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "daemon/http/server.h"

namespace lagrouter::daemon::http_internal {

constexpr const char* kInternalError =
    R"({"error":"internal","message":"internal error; see the daemon's log"})";

inline std::string Errno(int e) {
  return std::strerror(e);
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

}  // namespace lagrouter::daemon::http_internal

namespace lagrouter::daemon {

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
    static void Forget(void* p);
  };
  // The timer that resumes accepting after a pause (entry first: h2o hands
  // the entry back).
  struct ResumeTimer {
    h2o_timeout_entry_t entry;
    Loop* loop;
  };

  // --- The event loop (loop.cc) ---
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
  h2o_timeout_t accept_pause{};
  ResumeTimer resume_accepting{};
  bool accept_pause_ready = false;
  bool accepting = false;
  bool draining = false;  // no more accepting, and every answer closes its connection
  bool exiting = false;
  std::chrono::steady_clock::time_point last_accept_warning{};
  std::future<void> ran;   // ready once Run() has returned
  bool told_exit = false;  // by the thread that owns the server

  // --- Connections (connection.cc) ---
  std::unordered_set<Connection*> connections;

  // --- Deferred answers (deferred.cc) ---
  std::unordered_map<uint64_t, h2o_req_t*> parked;  // deferred requests still alive
  uint64_t next_parked = 0;
  h2o_req_t* current = nullptr;  // the request the handler has now
  bool deferred = false;         // the handler took its answer out (Defer)
  std::shared_ptr<http_internal::Mailbox> mailbox = std::make_shared<http_internal::Mailbox>();

  ~Loop();

  // loop.cc
  // Once told to exit, a loop closes its end of the pipe: nothing more is
  // written to it (a write would fail, or raise SIGPIPE).
  void Tell(char command);
  // The loop's thread; `ready` gets the outcome of setting the loop up.
  void Run(std::promise<std::optional<StartError>>& ready);
  std::optional<StartError> SetUp();
  void TearDown();
  void StartAccepting();
  void StopAccepting();
  static void OnWake(h2o_socket_t* sock, const char* err);
  static void OnAccept(h2o_socket_t* listener, const char* err);
  void AcceptFailed(int err);
  static void OnResume(h2o_timeout_entry_t* entry);
  // Runs `work` on one of the threads kept for event loops (LoopThreads).
  static std::future<void> RunOnLoopThread(std::function<void()> work);

  // connection.cc
  static int OnRequest(h2o_handler_t*, h2o_req_t* req);
  void Serve(h2o_req_t* req);
  void Write(h2o_req_t* req, const ApiResponse& res);
  static const Connection* ConnectionOf(h2o_req_t* req);
  static void OnClosed(void* data);
  // Each accepted socket: tracked until h2o closes it, then handed to h2o.
  void Adopt(h2o_socket_t* sock);

  // deferred.cc
  std::unique_ptr<LaterReply> Defer() override;
  void WriteDeferred();
  void AnswerParked();
  // The loop is going: answers still to come are dropped.
  void CloseMailbox();
};

}  // namespace lagrouter::daemon
