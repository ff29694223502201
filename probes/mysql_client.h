// What lagrouter adds to libmariadb beneath the MySQL probe: the library's
// one-time set-up with its I/O hooks, the context those hooks read for the
// call in flight, and the rows of a result.
#pragma once

#include <mysql.h>

#include <string_view>
#include <vector>

#include "probes/probe.h"
#include "probes/row.h"

namespace lagrouter::probes {

// mysql_library_init (not thread-safe), the hook that keeps sockets
// non-blocking while a connection opens and the connections' packet buffer
// size (4 KB); once per process.
void InitMysqlLibraryOnce();

// Before every library call on `conn`, on the calling thread: the hooks act
// for this connection, bounded by `deadline`; `connecting`: the call opens it.
void SetCallContext(MYSQL* conn, Clock::time_point deadline, bool connecting);

// MARIADB_OPT_IO_WAIT: the TLS handshake's wait, bounded by the deadline of
// SetCallContext.
int TlsHandshakeWait(my_socket fd, my_bool is_read, int timeout);

void MakeNonBlocking(my_socket fd);

// Fetches every row of a result into `rows` as column name -> text (NULL =
// nullopt), refilling the rows already there. `keep` (null: every column):
// the columns to keep, as the rows are kept between samples.
void FetchRows(MYSQL_RES* res, std::vector<Row>& rows,
               bool (*keep)(std::string_view column) = nullptr);

}  // namespace lagrouter::probes
