// The HTTP transport (h2o) on a loopback port with a trivial handler:
// decoding, keep-alive, and the failure modes a thread-per-connection server
// had (idle and slow clients holding every worker).
#include "daemon/http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/free_port.h"

namespace lagrouter::daemon {
namespace {

TEST(ParseQuery, DecodesAndKeepsEveryOccurrence) {
  const QueryParams p = ParseQuery("cluster=shop&class=a%20b&class=c+d&after=0%2F16B3748&flag");
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p.find("cluster")->second, "shop");
  auto [first, last] = p.equal_range("class");
  ASSERT_EQ(std::distance(first, last), 2);
  EXPECT_EQ(first->second, "a b");
  EXPECT_EQ(std::next(first)->second, "c d");
  EXPECT_EQ(p.find("after")->second, "0/16B3748");
  EXPECT_EQ(p.find("flag")->second, "");
}

TEST(ParseQuery, OddInputIsKeptNotRejected) {
  EXPECT_TRUE(ParseQuery("").empty());
  EXPECT_TRUE(ParseQuery("&&&").empty());
  const QueryParams p = ParseQuery("a=%zz&b=%00x&=v&c=1=2");
  EXPECT_EQ(p.find("a")->second, "%zz");                  // malformed escape kept as written
  EXPECT_EQ(p.find("b")->second, std::string("\0x", 2));  // NUL survives, nothing cut
  EXPECT_EQ(p.find("")->second, "v");
  EXPECT_EQ(p.find("c")->second, "1=2");  // split at the first '='
}

TEST(DecodePath, PlusStaysAPlus) {
  EXPECT_EQ(DecodePath("/v1/check/a%2Bb/c+d"), "/v1/check/a+b/c+d");
  EXPECT_EQ(DecodePath("/%ff"), "/\xff");
}

// A server on a free loopback port that echoes what it decoded.
class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE,
           SIG_IGN);  // as the daemon does: a write to a client gone is an error, not death
    HttpServer::Options o;
    o.host = "127.0.0.1";
    o.port = FreePort();
    o.threads = 2;
    port_ = o.port;
    auto server = HttpServer::Bind(o, [this](const HttpRequest& r) {
      ++requests_;
      if (r.path == "/later" && r.deferrer != nullptr) {
        // Answered by the test, from its own thread.
        std::lock_guard<std::mutex> lock(parked_mu_);
        parked_.push_back(r.deferrer->Defer());
        return ApiResponse{500, "ignored once deferred", "text/plain"};
      }
      std::string body = r.method + " " + r.path;
      for (const auto& [k, v] : r.params) body += " " + k + "=" + v;
      if (!r.authorization.empty()) body += " auth=" + r.authorization;
      ApiResponse res{r.path == "/missing" ? 404 : 200, body, "text/plain"};
      res.headers.emplace_back("X-Test", "1");
      res.headers.emplace_back("X-Remote", r.remote_addr + " " + std::to_string(r.remote_port));
      if (r.path == "/bad-header") res.headers.emplace_back("X-Split", "a\r\nSet-Cookie: x=1");
      return res;
    });
    ASSERT_TRUE(server.ok()) << server.error();
    server_ = std::move(server).value();
    server_->Start();
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  static int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
  }

  // A raw TCP connection (for clients that misbehave).
  int Connect() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  // Reads what the server sends until it closes or `timeout` passes.
  static std::string ReadAll(int fd, std::chrono::milliseconds timeout) {
    timeval tv{0, static_cast<suseconds_t>(timeout.count() * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;)
      got.append(buf, static_cast<size_t>(n));
    return got;
  }

  // A client asking /later on its own thread; `answer`: "STATUS BODY", or "failed".
  std::thread AskLater(std::string& answer) const {
    return std::thread([this, &answer] {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(5);
      auto r = c.Get("/later");
      answer = r ? std::to_string(r->status) + " " + r->body : "failed";
    });
  }

  // Waits until `n` requests to /later are parked; takes them.
  std::vector<std::unique_ptr<LaterReply>> TakeParked(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(parked_mu_);
        if (parked_.size() >= n || std::chrono::steady_clock::now() > deadline) {
          return std::move(parked_);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  int port_ = 0;
  std::atomic<int> requests_{0};
  std::mutex parked_mu_;
  std::vector<std::unique_ptr<LaterReply>> parked_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, DecodesTheRequestAndSendsTheAnswer) {
  httplib::Client c("127.0.0.1", port_);
  auto r = c.Get("/v1/x%2Fy?cluster=shop&class=a%20b", {{"Authorization", "Bearer t"}});
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /v1/x/y class=a b cluster=shop auth=Bearer t");
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain");
  EXPECT_EQ(r->get_header_value("X-Test"), "1");
  // The peer as the handler's logs name it: the client's address and port.
  EXPECT_EQ(r->get_header_value("X-Remote").rfind("127.0.0.1 ", 0), 0u)
      << r->get_header_value("X-Remote");
  EXPECT_NE(r->get_header_value("X-Remote"), "127.0.0.1 0");
  auto missing = c.Get("/missing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto head = c.Head("/v1/route");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  auto post = c.Post("/v1/route", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->body, "POST /v1/route");  // the handler decides what a method means
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  httplib::Client c("127.0.0.1", port_);
  c.set_keep_alive(true);
  for (int i = 0; i < 500; ++i) {
    auto r = c.Get("/v1/route?i=" + std::to_string(i));
    ASSERT_TRUE(r) << i;
    ASSERT_EQ(r->body, "GET /v1/route i=" + std::to_string(i));
  }
  EXPECT_EQ(requests_.load(), 500);
}

TEST_F(HttpServerTest, IdleAndHalfSentConnectionsDoNotBlockOthers) {
  // 300 connections that never send anything, and 50 that stop halfway
  // through their headers (slowloris): a pool of threads, one per
  // connection, would have none left. An event loop does not care.
  std::vector<int> fds;
  for (int i = 0; i < 350; ++i) {
    const int fd = Connect();
    ASSERT_GE(fd, 0) << i;
    if (i >= 300) {
      const std::string partial = "GET /v1/route HTTP/1.1\r\nHost: x\r\nX-Slow: ";
      ASSERT_EQ(send(fd, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
    }
    fds.push_back(fd);
  }
  httplib::Client c("127.0.0.1", port_);
  c.set_connection_timeout(2);
  c.set_read_timeout(2);
  const auto started = std::chrono::steady_clock::now();
  auto r = c.Get("/v1/route");
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(took, std::chrono::milliseconds(200));
  for (int fd : fds) close(fd);
}

TEST_F(HttpServerTest, GarbageAndOversizedRequestsAreRefusedAndTheServerGoesOn) {
  struct Case {
    const char* name;
    std::string bytes;
  };
  const Case cases[] = {
      {"garbage", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n"},
      {"no version", "GET /\r\n\r\n"},
      {"huge header",
       "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n"},
      {"huge body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\nabc"},
  };
  for (const auto& c : cases) {
    const int fd = Connect();
    ASSERT_GE(fd, 0);
    send(fd, c.bytes.data(), c.bytes.size(), MSG_NOSIGNAL);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    // Refused with a 4xx, or the connection closed: never a 200, never a hang.
    if (n > 0) {
      const std::string reply(buf, static_cast<size_t>(n));
      EXPECT_EQ(reply.rfind("HTTP/1.1 4", 0), 0u) << c.name << ": " << reply.substr(0, 40);
    } else {
      EXPECT_EQ(n, 0) << c.name << ": no answer within 2 s (errno " << errno << ")";
    }
    close(fd);
  }
  httplib::Client ok("127.0.0.1", port_);
  auto r = ok.Get("/after");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /after");
}

TEST_F(HttpServerTest, ParallelClientsAllGetTheirOwnAnswers) {
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port_);
      for (int i = 0; i < 200; ++i) {
        const std::string q = std::to_string(t) + "-" + std::to_string(i);
        auto r = c.Get("/p?q=" + q);
        if (!r || r->body != "GET /p q=" + q) ++wrong;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(HttpServerTest, StopClosesTheListenerAndConnections) {
  httplib::Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.Get("/"));
  server_->Stop();
  server_->Stop();          // idempotent
  EXPECT_LT(Connect(), 0);  // refused: nothing listens any more
  auto r = c.Get("/");
  EXPECT_FALSE(r);
}

TEST_F(HttpServerTest, ASuccessorOnTheSameAddressTakesOverWithoutALostRequest) {
  // What a reload does: the next server shares the listening socket, starts,
  // and the old one stops (draining). Clients asking all along, some with a
  // connection per request and some keeping theirs, never see a failure.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, from_next{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port_);
      c.set_keep_alive(t % 2 == 0);
      while (!stop) {
        auto r = c.Get("/who");
        if (!r || r->status != 200) {
          ++failed;
        } else {
          ++ok;
          if (r->body == "next") ++from_next;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  HttpServer::Options o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.threads = 2;
  auto next = HttpServer::Bind(
      o,
      [](const HttpRequest&) {
        return ApiResponse{200, "next", "text/plain"};
      },
      server_.get());
  ASSERT_TRUE(next.ok()) << next.error();
  (*next)->Start();
  server_->Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0) << ok.load() << " ok";
  EXPECT_GT(from_next.load(), 0);
  (*next)->Stop();
}

TEST_F(HttpServerTest, DeferredAnswersComeFromAnotherThreadAndOthersDoNotWait) {
  std::vector<std::thread> clients;
  std::vector<std::string> bodies(4);
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(5);
      auto r = c.Get("/later");
      bodies[static_cast<size_t>(i)] = r ? std::to_string(r->status) + " " + r->body : "failed";
    });
  }
  auto parked = TakeParked(4);
  ASSERT_EQ(parked.size(), 4u);
  // Parked requests hold no loop: another client is answered meanwhile.
  httplib::Client other("127.0.0.1", port_);
  auto r = other.Get("/now");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /now");
  std::thread answerer([&] {
    for (auto& later : parked) later->Send({200, "answered later", "text/plain"});
  });
  answerer.join();
  for (auto& t : clients) t.join();
  for (const auto& b : bodies) EXPECT_EQ(b, "200 answered later");
}

TEST_F(HttpServerTest, ADeferredAnswerNeverSentIsA500NotAHang) {
  std::string answer;
  std::thread client = AskLater(answer);
  TakeParked(1).clear();  // dropped unsent
  client.join();
  EXPECT_EQ(answer.rfind("500 ", 0), 0u) << answer;
}

TEST_F(HttpServerTest, ADeferredAnswerToAClientThatLeftOrAStoppedServerIsHarmless) {
  const int fd = Connect();
  ASSERT_GE(fd, 0);
  const std::string req = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  auto gone = TakeParked(1);
  ASSERT_EQ(gone.size(), 1u);
  close(fd);  // the client leaves before its answer
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  gone[0]->Send({200, "nobody reads this", "text/plain"});

  std::thread client([&] {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(2);
    c.Get("/later");
  });
  auto stranded = TakeParked(1);
  ASSERT_EQ(stranded.size(), 1u);
  server_->Stop();                                     // its loops and connections are gone...
  stranded[0]->Send({200, "too late", "text/plain"});  // ...so this is dropped
  client.join();
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  const int fd = Connect();
  ASSERT_GE(fd, 0);
  const std::string two =
      "GET /a?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /b?n=2 HTTP/1.1\r\nHost: x\r\nConnection: "
      "close\r\n\r\n";
  ASSERT_EQ(send(fd, two.data(), two.size(), 0), static_cast<ssize_t>(two.size()));
  const std::string got = ReadAll(fd, std::chrono::seconds(2));
  close(fd);
  const size_t a = got.find("GET /a n=1"), b = got.find("GET /b n=2");
  ASSERT_NE(a, std::string::npos) << got;
  ASSERT_NE(b, std::string::npos) << got;
  EXPECT_LT(a, b);
}

TEST_F(HttpServerTest, AHeaderWithALineBreakIsNotSent) {
  // A handler bug must not let a value split the answer (response splitting).
  httplib::Client c("127.0.0.1", port_);
  auto r = c.Get("/bad-header");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("X-Split"));
  EXPECT_FALSE(r->has_header("Set-Cookie"));
  EXPECT_EQ(r->get_header_value("X-Test"), "1");
}

TEST_F(HttpServerTest, ARequestStillParkedWhenTheServerStopsIsAnswered503) {
  std::string answer;
  std::thread client = AskLater(answer);
  auto parked = TakeParked(1);
  ASSERT_EQ(parked.size(), 1u);
  server_->Stop();
  client.join();
  EXPECT_EQ(answer.rfind("503 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("stopping"), std::string::npos) << answer;
}

TEST(HttpServerTimeout, SilentAndHalfSentConnectionsAreClosedAfterTheIdleTimeout) {
  HttpServer::Options o;
  o.host = "127.0.0.1";
  o.port = test_support::FreePort();
  o.threads = 1;
  o.idle_timeout_seconds = 1;
  auto server = HttpServer::Bind(o, [](const HttpRequest&) { return ApiResponse{200, "ok"}; });
  ASSERT_TRUE(server.ok()) << server.error();
  (*server)->Start();
  auto open_connection = [&] {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(o.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  };
  const int silent = open_connection(), slow = open_connection(), served = open_connection();
  // A slow client that keeps sending a byte now and then is cut all the same:
  // the timeout covers the whole request, not each read.
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(served, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) {
    send(slow, "G", 1, MSG_NOSIGNAL);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // What the server sent before it closed; "open" if it was still open at the deadline.
  auto until_closed = [](int fd, int seconds) {
    timeval tv{seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string got;
    char buf[512];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "open" : got;
  };
  for (int fd : {silent, slow}) {
    const std::string got = until_closed(fd, 2);
    // Closed, at most after a 4xx: never still open after the timeout.
    EXPECT_TRUE(got.empty() || got.rfind("HTTP/1.1 4", 0) == 0) << got;
    close(fd);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
  // The connection that asked was answered, then closed once idle too.
  EXPECT_EQ(until_closed(served, 3).rfind("HTTP/1.1 200", 0), 0u);
  close(served);
  (*server)->Stop();
}

TEST(HttpServerStop, StoppingLogsNoError) {
  // Stop and the destructor both tell the loops to exit; the second finds
  // them gone, which is no error (a reload did log one per loop).
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  {
    HttpServer::Options o;
    o.host = "127.0.0.1";
    o.port = test_support::FreePort();
    o.threads = 2;
    auto server = HttpServer::Bind(o, [](const HttpRequest&) { return ApiResponse{200, "ok"}; });
    ASSERT_TRUE(server.ok()) << server.error();
    (*server)->Start();
    httplib::Client c("127.0.0.1", o.port);
    ASSERT_TRUE(c.Get("/"));
    (*server)->Stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the loops are gone
  }                                                              // destroyed: tells them again
  spdlog::set_default_logger(previous);
  for (const auto& line : sink->last_formatted()) {
    EXPECT_EQ(line.find("[error]"), std::string::npos) << line;
  }
}

TEST(HttpServerBind, ErrorsSayWhatFailed) {
  HttpServer::Options o;
  o.host = "192.0.2.1";  // TEST-NET: not an address of this host
  o.port = test_support::FreePort();
  auto r = HttpServer::Bind(o, [](const HttpRequest&) { return ApiResponse{}; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("cannot listen on 192.0.2.1:" + std::to_string(o.port)),
            std::string::npos)
      << r.error();
  EXPECT_EQ(r.kind(), StartError::Kind::kListen);
  o.host = "no-such-host.invalid";
  r = HttpServer::Bind(o, [](const HttpRequest&) { return ApiResponse{}; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("no-such-host.invalid"), std::string::npos) << r.error();
  EXPECT_EQ(r.kind(), StartError::Kind::kListen);
  o.host = "127.0.0.1";
  o.tls = true;
  o.tls_files = {"/nonexistent/cert.pem", "/nonexistent/key.pem", ""};
  r = HttpServer::Bind(o, [](const HttpRequest&) { return ApiResponse{}; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("cannot set up HTTPS"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("/nonexistent/cert.pem"), std::string::npos) << r.error();
  EXPECT_EQ(r.kind(), StartError::Kind::kTls);
}

// PortInUse and the listener bind through one helper: the listener's
// SO_REUSEPORT must not hide it from PortInUse, or a second daemon would
// share the port.
TEST(HttpServerBind, PortInUseSeesTheListener) {
  HttpServer::Options o;
  o.host = "127.0.0.1";
  o.port = test_support::FreePort();
  EXPECT_FALSE(PortInUse(o.host, o.port));
  {
    auto r = HttpServer::Bind(o, [](const HttpRequest&) { return ApiResponse{}; });
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_TRUE(PortInUse(o.host, o.port));
  }
  EXPECT_FALSE(PortInUse(o.host, o.port));
  EXPECT_FALSE(PortInUse("no-such-host.invalid", o.port));
}

}  // namespace
}  // namespace lagrouter::daemon
