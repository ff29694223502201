// A Probe takes one sample of a server's role and replication position within
// a deadline, without blocking.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "router/position.h"
#include "router/router.h"

namespace lagrouter::probes {

using Clock = std::chrono::steady_clock;

using router::Role;

// Why a probe failed; a label of lagrouter_probe_errors_total.
enum class ErrorKind { kNone, kConnect, kTimeout, kQuery, kParse, kAuth };
const char* ErrorKindName(ErrorKind kind);

// A replica as its primary sees it (pg_stat_replication), for people.
struct DownstreamReplica {
  std::string application_name;
  std::string client_addr;
  std::string state;  // e.g. "streaming"
  router::Position replay_position;
  std::optional<double> replay_lag_seconds;
};

struct Sample {
  bool ok = false;
  ErrorKind error_kind = ErrorKind::kNone;
  std::string error;  // a message for people; never a password or conninfo

  // Monotonic time taken *before* the query was sent: every transaction
  // committed before it is at or below write_position (the design's t_k).
  Clock::time_point sent_at{};
  Clock::time_point received_at{};

  Role role = Role::kUnknown;
  std::string flavor;      // "postgres", "mariadb", "mysql"
  std::string version;     // server version string
  bool superuser = false;  // the monitoring user is a superuser (warned about)

  // Primary: its current write position (PostgreSQL insert LSN, MariaDB
  // gtid_binlog_pos, MySQL gtid_executed).
  router::Position write_position;
  // Replica: replayed/applied and received positions.
  router::Position replay_position;
  router::Position receive_position;

  // Replica: its replication stream is running (PostgreSQL WAL receiver
  // streaming; MySQL IO thread running or connecting). Routing also requires
  // a known bound; this flag only excludes deliberately stopped replication.
  bool replicating = false;
  bool replay_paused = false;                  // PostgreSQL pg_is_wal_replay_paused()
  std::string replication_state;               // engine words, e.g. "streaming", "io=Yes sql=No"
  std::string replication_error;               // engine's last error fields, if any
  std::string upstream;                        // host:port the replica replicates from, if known
  std::optional<double> reported_lag_seconds;  // engine's own figure, for people only

  std::vector<DownstreamReplica> downstream;  // primary only

  // Primary (PostgreSQL 13 and later, read with pg_read_all_stats): the next
  // transaction id, and the oldest id held by a backend that is not idle in
  // its transaction, which may be committing. PostgreSQL makes a commit
  // visible only after its WAL is flushed, and a replica replaying that WAL
  // can show it first; until then the transaction keeps its id and its
  // backend is active. So once no active backend holds an id below an earlier
  // sample's next id, every commit flushed before that sample is visible
  // (ClusterState). Unset where the server cannot tell, and in the first
  // sample of a connection or of a server newly seen as primary.
  struct Transactions {
    uint64_t next_xid = 0;
    std::optional<uint64_t> oldest_active_xid;  // none active
  };
  std::optional<Transactions> transactions;
  bool tells_transactions = false;  // the server can tell (the version and the role's rights)

  // Depth::kPosition: only ok, role, the role's position (write_position or
  // replay_position) and the times were read; the fold carries the rest from
  // the server's previous sample, which the same connection took.
  bool position_only = false;
};

// How much a sample reads. kPosition: the role and its position alone, for
// on-demand probes that only need them (a strict read's primary position, a
// waiting read's replica replay): on a busy PostgreSQL primary the full status
// (transactions, receiver, senders) took 1.8-3.4 ms a round trip against 0.6-0.8 ms.
// A probe that cannot (a new connection, a role that changed, an engine with
// one statement) reads in full.
enum class Depth { kFull, kPosition };

// What a probe waits for before it can go on: its socket (readable,
// writable or both) and/or a time. A done step waits for nothing.
struct Step {
  bool done = false;
  int fd = -1;  // -1: no socket to wait for
  bool read = false;
  bool write = false;
  // Resume at this time even if the socket stays quiet (the MySQL client's
  // own timers; simulated servers).
  Clock::time_point wake_at = Clock::time_point::max();

  static Step Done() { return Step{.done = true}; }
};

// The one seam between lagrouter and a database server. A Probe is driven by
// an event loop and never blocks: Start begins one sample and each call
// returns what it waits for next; the loop calls Resume when that comes, until
// a step is done, then Take. The loop owns the deadline: when it passes first,
// it calls Abort, which drops the connection (re-opened by the next Start) and
// returns the timeout sample. One sample at a time; not thread-safe.
//
// Socket rules for the loop: a probe's socket can change between steps (a
// reconnect) and only after the probe closed the old one; a closed socket is
// gone from epoll by itself.
class Probe {
 public:
  virtual ~Probe() = default;
  virtual Step Start(Clock::time_point deadline, Depth depth) = 0;
  virtual Step Resume() = 0;
  // The sample of the step that was done.
  virtual Sample Take() = 0;
  virtual Sample Abort() = 0;
  // Between samples: whether the next Start reuses an open connection rather
  // than opens one (the loop bounds how many connections open at once).
  virtual bool connected() const { return true; }
};

// Drives a probe to its sample on poll(2), for tools and tests that want one
// sample now: never blocks past `deadline`.
Sample RunToCompletion(Probe& probe, Clock::time_point deadline, Depth depth = Depth::kFull);

// How to log in to a cluster's servers: one copy, shared by their probes
// (copied into each, it was 0.3 KB a server).
struct Login {
  std::string user;
  std::string password;  // resolved from env/file at start; never logged
  std::string database;  // postgres: dbname (default "postgres")
  // TLS: sslmode as PostgreSQL spells it (the MySQL probe maps it to its
  // ssl options), and the PEM files.
  std::string sslmode;
  std::string sslrootcert;
  std::string sslcert;
  std::string sslkey;
  bool operator==(const Login&) const = default;
};

struct ServerEndpoint {
  std::string host;
  int port = 0;
  std::shared_ptr<const Login> login;  // never null
};

std::unique_ptr<Probe> MakePostgresProbe(const ServerEndpoint& endpoint);
std::unique_ptr<Probe> MakeMysqlProbe(const ServerEndpoint& endpoint);

}  // namespace lagrouter::probes
