// Internal to daemon/http/: the one resolve-and-bind loop, shared by the
// listener (HttpServer::Bind) and PortInUse.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace lagrouter::daemon::http_internal {

enum class BindFor {
  // The listener: non-blocking, SO_REUSEPORT (a reload binds the address
  // while the old server still serves it) and TCP_NODELAY, which accepted
  // sockets inherit.
  kListen,
  // A probe of the address: SO_REUSEADDR only, so its bind fails wherever
  // another socket holds the port, SO_REUSEPORT or not.
  kProbe,
};

// Resolves host:port for a passive TCP socket (an empty host: every local
// address) and, for each address in turn, makes a close-on-exec socket with
// SO_REUSEADDR and binds it. Each outcome goes to `each`: the bound
// descriptor (`each` owns it from then on) and 0, or -1 and the errno of the
// step that failed. Stops once `each` returns true. Returns the resolver's
// error, or nothing.
std::optional<std::string> BindEachAddress(const std::string& host, int port, BindFor purpose,
                                           const std::function<bool(int fd, int error)>& each);

}  // namespace lagrouter::daemon::http_internal
