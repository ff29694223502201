#include "daemon/http/bind.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "daemon/http/server.h"

namespace lagrouter::daemon {

namespace http_internal {

std::optional<std::string> BindEachAddress(const std::string& host, int port, BindFor purpose,
                                           const std::function<bool(int fd, int error)>& each) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* list = nullptr;
  const int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), std::to_string(port).c_str(),
                              &hints, &list);
  if (gai != 0) return std::string(gai_strerror(gai));
  const bool listener = purpose == BindFor::kListen;
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | (listener ? SOCK_NONBLOCK : 0),
               a->ai_protocol);
    if (fd < 0) {
      if (each(-1, errno)) break;
      continue;
    }
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (listener) {
      // A reload that moves to another address binds it while the old one
      // still serves; SO_REUSEPORT also lets it come back to the old one.
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
      // Accepted sockets inherit it: answers leave at once, never held by Nagle.
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    }
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      const int e = errno;
      close(fd);
      if (each(-1, e)) break;
      continue;
    }
    if (each(fd, 0)) break;
  }
  freeaddrinfo(list);
  return std::nullopt;
}

}  // namespace http_internal

bool PortInUse(const std::string& host, int port) {
  bool in_use = false;
  http_internal::BindEachAddress(host, port, http_internal::BindFor::kProbe, [&](int fd, int e) {
    if (fd >= 0) close(fd);
    in_use = fd < 0 && e == EADDRINUSE;
    return in_use;
  });
  return in_use;
}

}  // namespace lagrouter::daemon
