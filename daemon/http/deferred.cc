// Answers given later, from any thread: a handler Defer()s, its request is
// parked under a number, and the LaterReply hands the answer to the loop's
// mailbox; the loop writes it if the request is still parked.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>

#include "daemon/http/loop.h"

namespace lagrouter::daemon {

namespace {

using http_internal::Errno;
using http_internal::kInternalError;
using http_internal::Mailbox;

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

}  // namespace

void HttpServer::Loop::ParkedMark::Forget(void* p) {
  auto* mark = static_cast<ParkedMark*>(p);
  mark->loop->parked.erase(mark->id);
}

std::unique_ptr<LaterReply> HttpServer::Loop::Defer() {
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
void HttpServer::Loop::WriteDeferred() {
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
void HttpServer::Loop::AnswerParked() {
  while (!parked.empty()) {
    h2o_req_t* req = parked.begin()->second;
    parked.erase(parked.begin());
    Write(req, {503, R"({"error":"unavailable","message":"the server is stopping; ask again"})"});
  }
}

void HttpServer::Loop::CloseMailbox() {
  std::lock_guard<std::mutex> lock(mailbox->mu);
  mailbox->closed = true;
  mailbox->replies.clear();
}

}  // namespace lagrouter::daemon
