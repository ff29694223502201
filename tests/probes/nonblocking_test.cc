// The probes never block, on either engine, without a database: a local
// listener that accepts connections and never answers, and a closed port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "probes/probe.h"

namespace lagrouter::probes {
namespace {

using std::chrono::milliseconds;

constexpr char kPassword[] = "nb-test-secret-pw";
// A call "returns promptly": well under any probe timeout, with room for a
// loaded machine.
constexpr milliseconds kPrompt{100};

// A TCP socket on 127.0.0.1 and a port chosen by the kernel; listening when
// asked (the kernel completes connections into the backlog, nobody answers),
// else a port nothing listens on.
class LocalPort {
 public:
  explicit LocalPort(bool listening) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
        (listening && listen(fd_, 16) != 0)) {
      ADD_FAILURE() << "cannot set up a local port";
    }
    port_ = ntohs(a.sin_port);
  }
  ~LocalPort() { close(fd_); }
  LocalPort(const LocalPort&) = delete;
  LocalPort& operator=(const LocalPort&) = delete;
  int port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct Engine {
  const char* name;
  std::function<std::unique_ptr<Probe>(const ServerEndpoint&)> make;
};

class NonBlocking : public testing::TestWithParam<Engine> {
 protected:
  std::unique_ptr<Probe> ProbeOn(int port) const {
    ServerEndpoint ep;
    ep.host = "127.0.0.1";
    ep.port = port;
    ep.login = std::make_shared<const Login>(
        Login{.user = "lagrouter", .password = kPassword, .database = "postgres"});
    return GetParam().make(ep);
  }
};

// Times one call.
template <typename F>
Clock::duration Timed(F&& f) {
  const auto t0 = Clock::now();
  f();
  return Clock::now() - t0;
}

TEST_P(NonBlocking, ASilentServerIsWaitedForOnASocketNeverInACall) {
  LocalPort silent(true);
  auto probe = ProbeOn(silent.port());
  Step step;
  EXPECT_LT(
      Timed([&] { step = probe->Start(Clock::now() + std::chrono::seconds(5), Depth::kFull); }),
      kPrompt);
  // Whatever the probe waits for comes (the connect completes), then the
  // server says nothing: every step returns at once and waits on a socket.
  const auto until = Clock::now() + milliseconds(300);
  int steps = 1;
  while (Clock::now() < until) {
    ASSERT_FALSE(step.done) << "after " << steps << " steps";
    ASSERT_GE(step.fd, 0);
    ASSERT_TRUE(step.read || step.write);
    pollfd p{step.fd, static_cast<short>((step.read ? POLLIN : 0) | (step.write ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 20) <= 0) continue;
    EXPECT_LT(Timed([&] { step = probe->Resume(); }), kPrompt);
    ++steps;
  }
  EXPECT_TRUE(step.read) << "waits for the server's answer";
  Sample s;
  EXPECT_LT(Timed([&] { s = probe->Abort(); }), kPrompt);
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.error_kind, ErrorKind::kTimeout) << s.error;
  EXPECT_NE(s.error, "");
  EXPECT_EQ(s.error.find(kPassword), std::string::npos) << s.error;

  // The aborted connection is gone: the next sample connects afresh.
  EXPECT_LT(
      Timed([&] { step = probe->Start(Clock::now() + std::chrono::seconds(5), Depth::kFull); }),
      kPrompt);
  EXPECT_FALSE(step.done);
  EXPECT_EQ(probe->Abort().error_kind, ErrorKind::kTimeout);
}

TEST_P(NonBlocking, RunToCompletionKeepsItsDeadline) {
  LocalPort silent(true);
  auto probe = ProbeOn(silent.port());
  const auto started = Clock::now();
  const auto deadline = started + milliseconds(300);
  const Sample s = RunToCompletion(*probe, deadline);
  const auto finished = Clock::now();
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.error_kind, ErrorKind::kTimeout) << s.error;
  EXPECT_GE(finished, deadline);
  EXPECT_LT(finished - deadline, milliseconds(50));
}

TEST_P(NonBlocking, AClosedPortIsAConnectError) {
  int port;
  {
    LocalPort closed(false);
    port = closed.port();
  }
  auto probe = ProbeOn(port);
  const auto started = Clock::now();
  const Sample s = RunToCompletion(*probe, started + std::chrono::seconds(5));
  EXPECT_LT(Clock::now() - started, milliseconds(500));
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.error_kind, ErrorKind::kConnect) << s.error;
  EXPECT_NE(s.error.find("127.0.0.1"), std::string::npos) << s.error;
  EXPECT_EQ(s.error.find(kPassword), std::string::npos) << s.error;
}

// libmariadb runs its TLS handshake in a wait of its own (no yield): a server
// that offers TLS in its greeting and then falls silent must not hold the
// probe past its deadline.
TEST(NonBlockingMysql, AServerSilentInTheTlsHandshakeKeepsTheDeadline) {
  LocalPort server(true);
  const int listener = server.fd();
  // A protocol 10 greeting from a MariaDB that offers TLS (CLIENT_SSL), then
  // nothing: the client's TLS ClientHello is never answered.
  std::string payload =
      "\x0a"
      "5.5.5-10.11.0-MariaDB";
  payload += '\0';
  payload += std::string("\x01\x00\x00\x00", 4);  // connection id
  payload += "abcdefgh";                          // auth data, part 1
  payload += '\0';
  payload += std::string("\x01\xaa", 2);  // capabilities: PROTOCOL_41, SSL, SECURE_CONNECTION...
  payload += '\x2d';                      // utf8mb4
  payload += std::string("\x02\x00", 2);  // status: autocommit
  payload += std::string("\x0b\x00", 2);  // ...MULTI_STATEMENTS, MULTI_RESULTS, PLUGIN_AUTH
  payload += '\x15';                      // auth data length
  payload += std::string(10, '\0');
  payload += "ijklmnopqrst";
  payload += '\0';
  payload += "mysql_native_password";
  payload += '\0';
  std::string packet = {static_cast<char>(payload.size()), 0, 0, 0};
  packet += payload;
  int client = -1;
  std::thread greeter([&] {
    client = accept(listener, nullptr, nullptr);
    if (client >= 0) send(client, packet.data(), packet.size(), MSG_NOSIGNAL);
  });

  ServerEndpoint ep;
  ep.host = "127.0.0.1";
  ep.port = server.port();
  ep.login = std::make_shared<const Login>(
      Login{.user = "lagrouter", .password = kPassword, .sslmode = "require"});
  auto probe = MakeMysqlProbe(ep);
  // Room for the TLS set-up's own work before the wait (OpenSSL reads the
  // system CA bundle: ~10 ms, far more under the sanitizers).
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  const Sample s = RunToCompletion(*probe, deadline);
  const auto finished = Clock::now();
  greeter.join();
  if (client >= 0) close(client);
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.error_kind, ErrorKind::kTimeout) << s.error;
  EXPECT_LT(finished - deadline, milliseconds(50)) << s.error;
  EXPECT_NE(s.error.find("SSL"), std::string::npos) << "not in the TLS handshake: " << s.error;
}

INSTANTIATE_TEST_SUITE_P(Engines, NonBlocking,
                         testing::Values(Engine{"postgres", MakePostgresProbe},
                                         Engine{"mysql", MakeMysqlProbe}),
                         [](const testing::TestParamInfo<Engine>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace lagrouter::probes
