// wire_responder: answers lagrouter's probe statements over the PostgreSQL or
// the MariaDB wire protocol, for scale_bench --wire: the real probes (libpq,
// libmariadb) over real sockets, in a process of its own so that scale_bench
// measures lagrouter's CPU alone. Lean on purpose (it shares the machine with
// what it measures): epoll, canned replies with the positions patched in.
//
// The role is the port: the primary's write position grows with the clock (1
// per microsecond since start: LSN bytes, MariaDB GTID sequence numbers), a
// replica streams and has replayed what the primary had 50 ms before.
// Statements other than the probe's are refused with an error, so a changed
// probe statement fails the bench rather than getting stale columns.
//   wire_responder --engine postgres|mysql [--primary-port P] [--replica-port R]
//                  [--threads N] [--replicas N]
// Ports 0 (the default) are chosen by the kernel. Prints
// "listening primary=P replica=R" once both accept connections.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "probes/mysql_status.h"
#include "probes/postgres_parse.h"

namespace {

constexpr uint64_t kReplicaLagUs = 50'000;

uint64_t NowUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

const uint64_t kStartUs = NowUs();

// A position as the engine prints it, in a fixed width so that a reply's
// length fields never change: PostgreSQL "1/0000ABCD" (the high word stays one
// digit for 17 hours), MariaDB "0-1-1000000001234" (13 digits for 100 days).
enum class Engine { kPostgres, kMariadb };

constexpr std::string_view kLsnPlaceholder = "1/00000000";
constexpr std::string_view kGtidPlaceholder = "0-1-1000000000000";

void WritePosition(Engine engine, uint64_t us, char* at) {
  if (engine == Engine::kPostgres) {
    const uint64_t lsn = (uint64_t{1} << 32) + us;
    static constexpr char kHex[] = "0123456789ABCDEF";
    at[0] = kHex[(lsn >> 32) & 0xF];
    for (int i = 0; i < 8; ++i) at[2 + i] = kHex[(lsn >> (28 - 4 * i)) & 0xF];
  } else {
    uint64_t seq = 1'000'000'000'000 + us;
    for (int i = 16; i >= 4; --i, seq /= 10) at[i] = static_cast<char>('0' + seq % 10);
  }
}

// Reply bytes with placeholders where the positions go.
struct Reply {
  std::string bytes;
  std::vector<size_t> now_at;     // the primary's position as of now
  std::vector<size_t> lagged_at;  // what it had kReplicaLagUs ago

  void AppendTo(Engine engine, std::string& out) const {
    const size_t base = out.size();
    out += bytes;
    const uint64_t us = NowUs() - kStartUs;
    const uint64_t lagged = us > kReplicaLagUs ? us - kReplicaLagUs : 0;
    for (size_t at : now_at) WritePosition(engine, us, &out[base + at]);
    for (size_t at : lagged_at) WritePosition(engine, lagged, &out[base + at]);
  }
};

// A value of a reply row: text, NULL, or a position placeholder.
struct Value {
  enum Kind { kText, kNull, kNow, kLagged } kind = kText;
  std::string text;
};
Value Text(std::string s) {
  return {Value::kText, std::move(s)};
}
const Value kNull{Value::kNull, {}};
const Value kNow{Value::kNow, {}};
const Value kLagged{Value::kLagged, {}};

void PutU16(std::string& s, uint16_t v) {
  s += static_cast<char>(v >> 8);
  s += static_cast<char>(v & 0xFF);
}
void PutU32(std::string& s, uint32_t v) {
  PutU16(s, static_cast<uint16_t>(v >> 16));
  PutU16(s, static_cast<uint16_t>(v & 0xFFFF));
}

// ---- PostgreSQL (protocol 3.0, simple queries) ----

struct PgColumn {
  const char* name;
  uint32_t type_oid;  // bool 16, text 25, pg_lsn 3220, numeric 1700
};

// Starts message `type`; FinishPg fills in its length.
size_t StartPg(std::string& s, char type) {
  s += type;
  const size_t at = s.size();
  PutU32(s, 0);
  return at;
}
void FinishPg(std::string& s, size_t at) {
  const uint32_t len = static_cast<uint32_t>(s.size() - at);
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(len >> (24 - 8 * i));
}

void PgResultSet(Reply& r, const std::vector<PgColumn>& columns,
                 const std::vector<std::vector<Value>>& rows) {
  std::string& s = r.bytes;
  size_t at = StartPg(s, 'T');
  PutU16(s, static_cast<uint16_t>(columns.size()));
  for (const auto& c : columns) {
    s.append(c.name, std::strlen(c.name) + 1);
    PutU32(s, 0);  // table oid
    PutU16(s, 0);  // attribute number
    PutU32(s, c.type_oid);
    PutU16(s, c.type_oid == 16 ? 1 : c.type_oid == 3220 ? 8 : 0xFFFF);  // typlen
    PutU32(s, 0xFFFFFFFF);                                              // typmod
    PutU16(s, 0);                                                       // text format
  }
  FinishPg(s, at);
  for (const auto& row : rows) {
    at = StartPg(s, 'D');
    PutU16(s, static_cast<uint16_t>(row.size()));
    for (const Value& v : row) {
      if (v.kind == Value::kNull) {
        PutU32(s, 0xFFFFFFFF);
        continue;
      }
      const std::string_view text = v.kind == Value::kText ? v.text : kLsnPlaceholder;
      PutU32(s, static_cast<uint32_t>(text.size()));
      if (v.kind == Value::kNow) r.now_at.push_back(s.size());
      if (v.kind == Value::kLagged) r.lagged_at.push_back(s.size());
      s += text;
    }
    FinishPg(s, at);
  }
  at = StartPg(s, 'C');
  const std::string tag = "SELECT " + std::to_string(rows.size());
  s.append(tag.c_str(), tag.size() + 1);
  FinishPg(s, at);
}

void PgReadyForQuery(std::string& s) {
  const size_t at = StartPg(s, 'Z');
  s += 'I';
  FinishPg(s, at);
}

// The probe query's result sets (PostgresProbeQuery): its status row, and
// with `senders` the senders (the primary's `replicas` rows);
// `with_settings`: the connection's first probe, the settings row
// (kPostgresSettingsQuery) before them; `transactions`: a primary's
// Sample::transactions (none active).
Reply PgProbeReply(bool primary, int replicas, int primary_port, bool with_settings,
                   bool transactions, bool senders) {
  Reply r;
  if (with_settings) {
    PgResultSet(r,
                {{"version", 25},
                 {"superuser", 16},
                 {"wal_block_size", 25},
                 {"wal_segment_size", 25},
                 {"reads_all_stats", 16}},
                {{Text("15.18"), Text("f"), Text("8192"), Text("16777216"), Text("t")}});
  }
  std::vector<PgColumn> status = {
      {"in_recovery", 16}, {"write_lsn", 3220},     {"replay_lsn", 3220}, {"receive_lsn", 3220},
      {"paused", 16},      {"receiver_status", 25}, {"upstream", 25},
  };
  std::vector<Value> row =
      primary ? std::vector<Value>{Text("f"), kNow, kNull, kNull, Text("f"), kNull, kNull}
              : std::vector<Value>{Text("t"),
                                   kNull,
                                   kLagged,
                                   kLagged,
                                   Text("f"),
                                   Text("streaming"),
                                   Text("127.0.0.1:" + std::to_string(primary_port))};
  if (transactions) {  // none active: every commit is visible
    status.push_back({"next_xid", 20});
    status.push_back({"oldest_active_xid", 20});
    row.push_back(primary ? Text("1000") : kNull);
    row.push_back(kNull);
  }
  PgResultSet(r, status, {row});
  if (senders) {
    std::vector<std::vector<Value>> rows;
    for (int i = 1; primary && i <= replicas; ++i) {
      rows.push_back({Text("s" + std::to_string(i)), Text("127.0.0.1"), Text("streaming"), kLagged,
                      Text("0.050000")});
    }
    PgResultSet(r,
                {{"application_name", 25},
                 {"client_addr", 25},
                 {"state", 25},
                 {"replay_lsn", 3220},
                 {"replay_lag", 1700}},
                rows);
  }
  PgReadyForQuery(r.bytes);
  return r;
}

std::string PgStartupReply() {
  std::string s;
  size_t at = StartPg(s, 'R');
  PutU32(s, 0);  // AuthenticationOk: trust, whoever asks
  FinishPg(s, at);
  // What libpq reads at start-up (it asks for nothing else).
  for (auto [k, v] : {std::pair{"server_version", "15.18"},
                      {"server_encoding", "UTF8"},
                      {"client_encoding", "UTF8"},
                      {"DateStyle", "ISO, MDY"},
                      {"integer_datetimes", "on"},
                      {"standard_conforming_strings", "on"},
                      {"TimeZone", "UTC"}}) {
    at = StartPg(s, 'S');
    s.append(k, std::strlen(k) + 1);
    s.append(v, std::strlen(v) + 1);
    FinishPg(s, at);
  }
  at = StartPg(s, 'K');
  PutU32(s, static_cast<uint32_t>(getpid()));
  PutU32(s, 0x1a2b3c4d);  // cancel key: cancels are not served
  FinishPg(s, at);
  PgReadyForQuery(s);
  return s;
}

std::string PgError(const char* message) {
  std::string s;
  const size_t at = StartPg(s, 'E');
  for (auto [field, text] : {std::pair{'S', "ERROR"}, {'V', "ERROR"}, {'C', "42601"}}) {
    s += field;
    s.append(text, std::strlen(text) + 1);
  }
  s += 'M';
  s.append(message, std::strlen(message) + 1);
  s += '\0';
  FinishPg(s, at);
  PgReadyForQuery(s);
  return s;
}

// ---- MariaDB (protocol 41, text result sets) ----
//
// libmariadb does not ask for CLIENT_DEPRECATE_EOF (mariadb_com.h's
// CLIENT_CAPABILITIES), and the responder does not offer it: result sets end
// with EOF packets.

// CLIENT_MYSQL (1) unset: a MariaDB server.
constexpr uint32_t kMysqlCapabilities =
    4 /*LONG_FLAG*/ | 8 /*CONNECT_WITH_DB*/ | 0x200 /*PROTOCOL_41*/ | 0x2000 /*TRANSACTIONS*/ |
    0x8000 /*SECURE_CONNECTION*/ | (1u << 16) /*MULTI_STATEMENTS*/ | (1u << 17) /*MULTI_RESULTS*/ |
    (1u << 18) /*PS_MULTI_RESULTS*/ | (1u << 19) /*PLUGIN_AUTH*/ |
    (1u << 21) /*PLUGIN_AUTH_LENENC_CLIENT_DATA*/;
constexpr uint16_t kStatusAutocommit = 2;
constexpr uint16_t kStatusMoreResults = 8;
constexpr uint8_t kTypeVarString = 253;

void PutLe(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void PutLenenc(std::string& s, std::string_view text) {
  // Every string here is shorter than 251 bytes: a one-byte length.
  s += static_cast<char>(text.size());
  s += text;
}

// Appends packets, numbering them from `seq`.
class MysqlPackets {
 public:
  explicit MysqlPackets(Reply& r, uint8_t seq) : r_(r), seq_(seq) {}
  std::string& Start() {
    at_ = r_.bytes.size();
    r_.bytes.append(3, '\0');
    r_.bytes += static_cast<char>(seq_++);
    return r_.bytes;
  }
  void Finish() {
    const size_t len = r_.bytes.size() - at_ - 4;
    for (int i = 0; i < 3; ++i) r_.bytes[at_ + i] = static_cast<char>((len >> (8 * i)) & 0xFF);
  }
  void Eof(uint16_t status) {
    std::string& s = Start();
    s += '\xFE';
    PutLe(s, 0, 2);  // warnings
    PutLe(s, status, 2);
    Finish();
  }
  void ResultSet(const std::vector<std::pair<std::string, Value>>& columns, bool with_row,
                 uint16_t status) {
    Start() += static_cast<char>(columns.size());  // fewer than 251 columns
    Finish();
    for (const auto& [name, value] : columns) {
      std::string& s = Start();
      PutLenenc(s, "def");
      PutLenenc(s, "");  // schema
      PutLenenc(s, "");  // table
      PutLenenc(s, "");  // org_table
      PutLenenc(s, name);
      PutLenenc(s, "");
      s += '\x0C';
      PutLe(s, 45, 2);   // utf8mb4_general_ci
      PutLe(s, 256, 4);  // column length
      s += static_cast<char>(kTypeVarString);
      PutLe(s, 0, 2);  // flags
      s += '\0';       // decimals
      PutLe(s, 0, 2);
      Finish();
    }
    Eof(status);
    if (with_row) {
      std::string& s = Start();
      for (const auto& [name, v] : columns) {
        if (v.kind == Value::kNull) {
          s += '\xFB';
          continue;
        }
        if (v.kind == Value::kText) {
          PutLenenc(s, v.text);
          continue;
        }
        s += static_cast<char>(kGtidPlaceholder.size());
        (v.kind == Value::kNow ? r_.now_at : r_.lagged_at).push_back(s.size());
        s += kGtidPlaceholder;
      }
      Finish();
    }
    Eof(status);
  }
  void Ok() {
    std::string& s = Start();
    s += '\0';
    s += '\0';  // affected rows
    s += '\0';  // last insert id
    PutLe(s, kStatusAutocommit, 2);
    PutLe(s, 0, 2);  // warnings
    Finish();
  }
  void Err(uint16_t code, const char* message) {
    std::string& s = Start();
    s += '\xFF';
    PutLe(s, code, 2);
    s += "#42000";
    s += message;
    Finish();
  }

 private:
  Reply& r_;
  uint8_t seq_;
  size_t at_ = 0;
};

const char* const kMariadbVersion = "10.11.6-MariaDB-log";

std::string MysqlGreeting(uint32_t connection_id) {
  Reply r;
  MysqlPackets p(r, 0);
  std::string& s = p.Start();
  s += '\x0A';
  // MariaDB's replication prefix, as 10.x servers send it; libmariadb drops it.
  s += "5.5.5-";
  s.append(kMariadbVersion, std::strlen(kMariadbVersion) + 1);
  PutLe(s, connection_id, 4);
  s += "abcdefgh";  // scramble, first 8 bytes: any answer to it is accepted
  s += '\0';
  PutLe(s, kMysqlCapabilities & 0xFFFF, 2);
  s += '\x2D';  // utf8mb4_general_ci
  PutLe(s, kStatusAutocommit, 2);
  PutLe(s, kMysqlCapabilities >> 16, 2);
  s += '\x15';          // scramble length, 21
  s.append(6, '\0');    // reserved
  PutLe(s, 0, 4);       // MariaDB extended capabilities: none
  s += "ijklmnopqrst";  // scramble, last 12 bytes
  s += '\0';
  s.append("mysql_native_password", 22);
  p.Finish();
  return r.bytes;
}

// The probe's multi-statement: its variables row, then SHOW REPLICA STATUS
// (no row on the primary; the running replica row of MariaDB 10.11 on a
// replica, as in tests/probes/fixtures/mariadb-10.11-replica-running.txt).
Reply MysqlProbeReply(bool primary, int primary_port) {
  Reply r;
  MysqlPackets p(r, 1);
  p.ResultSet({{"version", Text(kMariadbVersion)},
               {"read_only", Text(primary ? "0" : "1")},
               {"log_bin", Text("1")},
               {"gtid_binlog_pos", primary ? kNow : kLagged},
               {"gtid_slave_pos", primary ? Text("") : kLagged}},
              true, kStatusAutocommit | kStatusMoreResults);
  const std::vector<std::pair<std::string, Value>> replica = {
      {"Slave_IO_State", Text("Waiting for master to send event")},
      {"Master_Host", Text("127.0.0.1")},
      {"Master_User", Text("repl")},
      {"Master_Port", Text(std::to_string(primary_port))},
      {"Connect_Retry", Text("1")},
      {"Master_Log_File", Text("binlog.000001")},
      {"Read_Master_Log_Pos", Text("3091")},
      {"Relay_Log_File", Text("mariadbd-relay-bin.000002")},
      {"Relay_Log_Pos", Text("3387")},
      {"Relay_Master_Log_File", Text("binlog.000001")},
      {"Slave_IO_Running", Text("Yes")},
      {"Slave_SQL_Running", Text("Yes")},
      {"Replicate_Do_DB", Text("")},
      {"Replicate_Ignore_DB", Text("")},
      {"Replicate_Do_Table", Text("")},
      {"Replicate_Ignore_Table", Text("")},
      {"Replicate_Wild_Do_Table", Text("")},
      {"Replicate_Wild_Ignore_Table", Text("")},
      {"Last_Errno", Text("0")},
      {"Last_Error", Text("")},
      {"Skip_Counter", Text("0")},
      {"Exec_Master_Log_Pos", Text("3091")},
      {"Relay_Log_Space", Text("3699")},
      {"Until_Condition", Text("None")},
      {"Until_Log_File", Text("")},
      {"Until_Log_Pos", Text("0")},
      {"Master_SSL_Allowed", Text("No")},
      {"Master_SSL_CA_File", Text("")},
      {"Master_SSL_CA_Path", Text("")},
      {"Master_SSL_Cert", Text("")},
      {"Master_SSL_Cipher", Text("")},
      {"Master_SSL_Key", Text("")},
      {"Seconds_Behind_Master", Text("0")},
      {"Master_SSL_Verify_Server_Cert", Text("No")},
      {"Last_IO_Errno", Text("0")},
      {"Last_IO_Error", Text("")},
      {"Last_SQL_Errno", Text("0")},
      {"Last_SQL_Error", Text("")},
      {"Replicate_Ignore_Server_Ids", Text("")},
      {"Master_Server_Id", Text("1")},
      {"Master_SSL_Crl", Text("")},
      {"Master_SSL_Crlpath", Text("")},
      {"Using_Gtid", Text("Slave_Pos")},
      {"Gtid_IO_Pos", kLagged},
      {"Replicate_Do_Domain_Ids", Text("")},
      {"Replicate_Ignore_Domain_Ids", Text("")},
      {"Parallel_Mode", Text("optimistic")},
      {"SQL_Delay", Text("0")},
      {"SQL_Remaining_Delay", kNull},
      {"Slave_SQL_Running_State", Text("Slave has read all relay log; waiting for more updates")},
      {"Slave_DDL_Groups", Text("13")},
      {"Slave_Non_Transactional_Groups", Text("0")},
      {"Slave_Transactional_Groups", Text("1")},
      {"Replicate_Rewrite_DB", Text("")},
  };
  p.ResultSet(replica, !primary, kStatusAutocommit);
  return r;
}

Reply MysqlGrantsReply() {
  Reply r;
  MysqlPackets p(r, 1);
  p.ResultSet({{"Grants for lagrouter@%", Text("GRANT REPLICA MONITOR ON *.* TO `lagrouter`@`%`")}},
              true, kStatusAutocommit);
  return r;
}

std::string MysqlOk(uint8_t seq) {
  Reply r;
  MysqlPackets(r, seq).Ok();
  return r.bytes;
}

std::string MysqlErr(const char* message) {
  Reply r;
  MysqlPackets(r, 1).Err(1064, message);
  return r.bytes;
}

// ---- Serving ----

constexpr const char* kUnknownStatement =
    "wire_responder answers only lagrouter's probe statements (bench/wire_responder.cc)";

struct Replies {
  Engine engine;
  // [primary?][the query's flags: 1 with the settings (a connection's
  // first), 2 transactions, 4 senders]
  Reply pg_probe[2][8];
  Reply mysql_probe[2];  // [primary?]
  std::string pg_startup, pg_error;
  Reply mysql_grants;
  std::string mysql_ok_after_auth, mysql_ok, mysql_err;
  std::string pg_query[8];  // [the flags, as above], as sent
  std::string mysql_query;  // the probe statement, as sent
};

struct Endpoint {
  bool listener;
};

struct Listener : Endpoint {
  int fd = -1;
  bool primary = false;
};

struct Conn : Endpoint {
  int fd = -1;
  bool primary = false;
  bool started = false;  // past start-up (postgres) / authentication (mysql)
  bool want_out = false;
  std::string in, out;
};

void Fail(const char* what) {
  std::fprintf(stderr, "wire_responder: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

uint32_t Be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

// Consumes the complete messages in c.in; false: close the connection.
bool ServePostgres(const Replies& r, Conn& c) {
  size_t pos = 0;
  bool keep = true;
  while (keep) {
    const char* p = c.in.data() + pos;
    const size_t left = c.in.size() - pos;
    if (!c.started) {
      if (left < 8) break;
      const uint32_t len = Be32(p);
      if (len < 8 || len > 10000) return false;
      if (left < len) break;
      const uint32_t code = Be32(p + 4);
      if (code == 80877103 || code == 80877104) {
        c.out += 'N';  // SSLRequest, GSSENCRequest: neither is offered
      } else if (code == 196608) {
        c.out += r.pg_startup;
        c.started = true;
      } else {
        return false;  // CancelRequest or an unknown protocol
      }
      pos += len;
      continue;
    }
    if (left < 5) break;
    const uint32_t len = Be32(p + 1);
    if (len < 4 || len > (1u << 20)) return false;
    if (left < len + 1) break;
    const std::string_view body(p + 5, len - 4);
    if (p[0] == 'Q') {
      // The query text ends with a NUL.
      const auto is = [&](const std::string& q) {
        return body.size() == q.size() + 1 && body.compare(0, q.size(), q) == 0;
      };
      bool known = false;
      for (int q = 0; q < 8 && !known; ++q) {
        if (!is(r.pg_query[q])) continue;
        r.pg_probe[c.primary][q].AppendTo(Engine::kPostgres, c.out);
        known = true;
      }
      if (!known) c.out += r.pg_error;
    } else {
      keep = false;  // Terminate, or anything a probe does not send
    }
    pos += len + 1;
  }
  c.in.erase(0, pos);
  return keep;
}

bool ServeMysql(const Replies& r, Conn& c) {
  size_t pos = 0;
  bool keep = true;
  while (keep) {
    const char* p = c.in.data() + pos;
    const size_t left = c.in.size() - pos;
    if (left < 4) break;
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    const size_t len = u[0] | (size_t{u[1]} << 8) | (size_t{u[2]} << 16);
    if (left < len + 4) break;
    const std::string_view payload(p + 4, len);
    if (!c.started) {
      c.out += r.mysql_ok_after_auth;  // any user, any scramble
      c.started = true;
    } else if (payload.empty() || payload[0] == 0x01) {
      keep = false;  // COM_QUIT
    } else if (payload[0] == 0x0E) {
      c.out += r.mysql_ok;  // COM_PING
    } else if (payload[0] == 0x03) {
      const std::string_view sql = payload.substr(1);
      if (sql == r.mysql_query) {
        r.mysql_probe[c.primary].AppendTo(Engine::kMariadb, c.out);
      } else if (sql == "SHOW GRANTS") {
        r.mysql_grants.AppendTo(Engine::kMariadb, c.out);
      } else {
        c.out += r.mysql_err;
      }
    } else {
      c.out += r.mysql_err;
    }
    pos += len + 4;
  }
  c.in.erase(0, pos);
  return keep;
}

void Close(Conn* c) {
  close(c->fd);  // also leaves the epoll set
  delete c;
}

// Writes what it can of c.out; watches for writability while some is left.
bool Flush(int ep, Conn& c) {
  while (!c.out.empty()) {
    const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return false;
      break;
    }
    c.out.erase(0, static_cast<size_t>(n));
  }
  const bool want_out = !c.out.empty();
  if (want_out != c.want_out) {
    epoll_event ev{};
    ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
    ev.data.ptr = &c;
    epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_out = want_out;
  }
  return true;
}

void Accept(int ep, const Replies& r, const Listener& l) {
  static std::atomic<uint32_t> next_id{1};
  for (;;) {
    const int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: another thread took it, or none left
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new Conn{};
    c->listener = false;
    c->fd = fd;
    c->primary = l.primary;
    if (r.engine == Engine::kMariadb) c->out = MysqlGreeting(next_id++);  // the server speaks first
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0 || !Flush(ep, *c)) Close(c);
  }
}

void Serve(const Replies& r, const std::vector<Listener>& listeners) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) Fail("epoll_create1");
  for (const Listener& l : listeners) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;  // one thread wakes per connection
    ev.data.ptr = const_cast<Listener*>(&l);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, l.fd, &ev) != 0) Fail("epoll_ctl");
  }
  epoll_event events[256];
  char buf[16384];
  for (;;) {
    const int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      auto* e = static_cast<Endpoint*>(events[i].data.ptr);
      if (e->listener) {
        Accept(ep, r, *static_cast<Listener*>(e));
        continue;
      }
      auto* c = static_cast<Conn*>(e);
      bool keep = true;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        const ssize_t got = recv(c->fd, buf, sizeof buf, 0);
        if (got > 0) {
          c->in.append(buf, static_cast<size_t>(got));
          keep = r.engine == Engine::kPostgres ? ServePostgres(r, *c) : ServeMysql(r, *c);
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          keep = false;
        }
      }
      if (!keep || !Flush(ep, *c)) Close(c);
    }
  }
}

Listener Listen(int port, bool primary) {
  Listener l;
  l.listener = true;
  l.primary = primary;
  l.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l.fd < 0) Fail("socket");
  const int one = 1;
  setsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const std::string what = "binding 127.0.0.1:" + std::to_string(port);
    Fail(what.c_str());
  }
  // Thousands of probes connect at once at start; the kernel caps this at
  // net.core.somaxconn, and a refused SYN is retried a second later.
  if (listen(l.fd, 65535) != 0) Fail("listen");
  return l;
}

int BoundPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

int Usage() {
  std::fprintf(stderr,
               "usage: wire_responder --engine postgres|mysql [--primary-port P] "
               "[--replica-port R] [--threads N] [--replicas N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string engine_name;
  int primary_port = 0, replica_port = 0, threads = 2, replicas = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--engine") {
      engine_name = v;
    } else if (k == "--primary-port") {
      primary_port = std::atoi(v);
    } else if (k == "--replica-port") {
      replica_port = std::atoi(v);
    } else if (k == "--threads") {
      threads = std::atoi(v);
    } else if (k == "--replicas") {
      replicas = std::atoi(v);
    } else {
      return Usage();
    }
  }
  if ((engine_name != "postgres" && engine_name != "mysql") || threads < 1 || replicas < 0 ||
      argc % 2 != 1) {
    return Usage();
  }
  // One socket per monitored server.
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  std::vector<Listener> listeners = {Listen(primary_port, true), Listen(replica_port, false)};
  primary_port = BoundPort(listeners[0].fd);
  replica_port = BoundPort(listeners[1].fd);

  Replies r;
  r.engine = engine_name == "postgres" ? Engine::kPostgres : Engine::kMariadb;
  if (r.engine == Engine::kPostgres) {
    // The startup says 15.18 and the settings grant pg_read_all_stats: the
    // probe asks a server it saw as primary for its transactions.
    // Every variant of the probe query, indexed by its flags.
    for (int q = 0; q < 8; ++q) {
      const bool settings = (q & 1) != 0, transactions = (q & 2) != 0, senders = (q & 4) != 0;
      r.pg_query[q] = lagrouter::probes::PostgresProbeQuery(settings, transactions, senders);
      for (bool primary : {false, true}) {
        r.pg_probe[primary][q] =
            PgProbeReply(primary, replicas, primary_port, settings, transactions, senders);
      }
    }
    r.pg_startup = PgStartupReply();
    r.pg_error = PgError(kUnknownStatement);
  } else {
    r.mysql_query = std::string(lagrouter::probes::MysqlVariablesQuery(
                        lagrouter::probes::MysqlFlavor::kMariadb)) +
                    "; SHOW REPLICA STATUS";
    r.mysql_ok_after_auth = MysqlOk(2);
    r.mysql_ok = MysqlOk(1);
    r.mysql_err = MysqlErr(kUnknownStatement);
    r.mysql_grants = MysqlGrantsReply();
    for (bool primary : {false, true})
      r.mysql_probe[primary] = MysqlProbeReply(primary, primary_port);
  }

  std::printf("listening primary=%d replica=%d\n", primary_port, replica_port);
  std::fflush(stdout);
  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i) workers.emplace_back([&] { Serve(r, listeners); });
  Serve(r, listeners);
}
