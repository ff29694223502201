#include "probes/mysql_client.h"

#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <string>
#include <string_view>

namespace lagrouter::probes {
namespace {

// The connection whose library call runs on this thread and its sample's
// deadline, for the hooks below.
thread_local MYSQL* calling = nullptr;
thread_local Clock::time_point call_deadline;
thread_local bool calling_connects = false;  // the call is the connect

}  // namespace

// The one wait libmariadb 3.3 keeps to itself: its TLS handshake
// (ma_tls_connect) polls the socket instead of yielding to the caller, for
// MYSQL_OPT_CONNECT_TIMEOUT taken as milliseconds, or for ever when unset.
// This bounds that wait by the sample's deadline; a handshake that does not
// finish by then fails, like any other step the deadline passes.
int TlsHandshakeWait(my_socket fd, my_bool is_read, int /*library's timeout*/) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(call_deadline - Clock::now());
    if (left.count() <= 0) return 0;
    pollfd p{fd, static_cast<short>(is_read ? POLLIN : POLLOUT), 0};
    const int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 60000)));
    if (n != 0 && !(n < 0 && errno == EINTR)) return n;
  }
}

// libmariadb leaves its socket in blocking mode after connecting and reads
// plain sockets with MSG_DONTWAIT, but TLS reads and writes (SSL_read,
// SSL_write) only give way on a non-blocking socket.
void MakeNonBlocking(my_socket fd) {
  if (fd < 0) return;
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) == 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

namespace {

// Exported by libmariadb 3 (its ma_pvio.h is not installed): a function the
// library calls after every read and write of any connection.
extern "C" int ma_pvio_register_callback(my_bool register_callback,
                                         void (*callback)(int mode, MYSQL* mysql,
                                                          const unsigned char* buffer,
                                                          size_t length));

// The library sets its socket blocking once the TCP connect is done, before
// reading the server's greeting; when the greeting is in already it goes on
// to the TLS handshake without yielding, on that blocking socket. Made
// non-blocking after the greeting's read, the handshake waits in
// TlsHandshakeWait instead.
void AfterIo(int /*mode*/, MYSQL* mysql, const unsigned char* /*buffer*/, size_t /*length*/) {
  if (mysql == calling && calling_connects) MakeNonBlocking(mysql_get_socket(mysql));
}

}  // namespace

void SetCallContext(MYSQL* conn, Clock::time_point deadline, bool connecting) {
  calling = conn;
  call_deadline = deadline;
  calling_connects = connecting;
}

void InitMysqlLibraryOnce() {
  // mysql_library_init is not thread-safe; mysql_init would call it lazily
  // from whichever probe thread comes first.
  static std::once_flag once;
  std::call_once(once, [] {
    mysql_library_init(0, nullptr, nullptr);
    ma_pvio_register_callback(1, AfterIo);
    // The packet buffer every connection clears in full when it opens: 8 KB
    // by default, a process-wide setting of the library (set here, once,
    // before any connection). One page holds every packet a probe reads;
    // the library grows the buffer for a longer one.
    if (MYSQL* m = mysql_init(nullptr)) {
      const size_t net_buffer = 4096;
      mysql_optionsv(m, MYSQL_OPT_NET_BUFFER_LENGTH, &net_buffer);
      mysql_close(m);
    }
  });
}

// Fetches every row of a result into `rows` as column name -> text (NULL =
// nullopt). The rows of the previous sample are refilled in place: SHOW
// REPLICA STATUS has some 60 columns, and building their maps anew cost a
// third of a probe's CPU in allocations.
void FetchRows(MYSQL_RES* res, std::vector<Row>& rows, bool (*keep)(std::string_view column)) {
  const unsigned n = mysql_num_fields(res);
  MYSQL_FIELD* fields = mysql_fetch_fields(res);
  const auto kept = [&](unsigned i) {
    return keep == nullptr || keep(std::string_view(fields[i].name, fields[i].name_length));
  };
  size_t width = 0;  // the columns a row keeps
  for (unsigned i = 0; i < n; ++i) width += kept(i) ? 1 : 0;
  size_t count = 0;
  while (MYSQL_ROW r = mysql_fetch_row(res)) {
    unsigned long* lengths = mysql_fetch_lengths(res);
    if (count == rows.size()) rows.emplace_back();
    Row& row = rows[count++];
    for (unsigned i = 0; i < n; ++i) {
      if (!kept(i)) continue;
      const std::string_view name(fields[i].name, fields[i].name_length);
      auto it = row.find(name);
      if (it == row.end()) it = row.emplace(std::string(name), std::nullopt).first;
      if (r[i] == nullptr) {
        it->second.reset();
      } else {
        it->second.emplace().assign(r[i], lengths[i]);
      }
    }
    if (row.size() != width) {  // columns of another shape were left over: start afresh
      Row fresh;
      for (unsigned i = 0; i < n; ++i) {
        if (!kept(i)) continue;
        fresh.emplace(std::string(fields[i].name, fields[i].name_length),
                      r[i] == nullptr
                          ? std::nullopt
                          : std::optional<std::string>(std::in_place, r[i], lengths[i]));
      }
      row = std::move(fresh);
    }
  }
  rows.resize(count);
}

}  // namespace lagrouter::probes
