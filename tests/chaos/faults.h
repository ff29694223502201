// The faults, one named helper each. Every helper injects its fault on one
// node and returns what undoes it: heal() brings the node back to serving
// and replicating as before (true), or reports that it could not (false:
// the run ends with exit 2). A fault that could not be injected has
// injected = false; its heal() is still called and is harmless.
#pragma once

#include <sys/types.h>

#include <functional>
#include <vector>

#include "tests/chaos/cluster_control.h"

namespace lagrouter::chaos {

struct Fault {
  bool injected = false;
  std::function<bool()> heal = [] { return true; };
};

// Replay stopped while WAL (binlog events) still arrive: PostgreSQL
// pg_wal_replay_pause(), MariaDB STOP REPLICA SQL_THREAD.
// Heal: replay resumes (pg_wal_replay_resume(), START REPLICA SQL_THREAD).
Fault PauseReplay(const ClusterControl& c, int node);

// The replica stops receiving: PostgreSQL primary_conninfo emptied and
// reloaded, MariaDB STOP REPLICA. Heal: the same primary_conninfo back,
// START REPLICA.
Fault StopReplication(const ClusterControl& c, int node);

// SIGKILL of the server's main process (a replica's or the primary's),
// waited for. Heal: the node started again (ClusterControl::RestartNode).
Fault KillServer(const ClusterControl& c, int node);

// Replay stuck while the replica keeps answering and receiving WAL: SIGSTOP
// of PostgreSQL's startup process alone. Heal: SIGCONT of it.
Fault StallReplay(const ClusterControl& c, int node);

// The whole server hangs: SIGSTOP of its main process and (PostgreSQL) every
// child. Heal: ContinueServer.
Fault StopServer(const ClusterControl& c, int node);
// SIGCONT of `stopped` and of every process the server has now (any child
// forked since).
void ContinueServer(const ClusterControl& c, int node, const std::vector<pid_t>& stopped);

// `node` (a replica) becomes the primary, the old primary and the other
// replica follow it. PostgreSQL: a clean switchover (PgSwitchover), healed
// when both standbys stream from the new primary; MariaDB: the cluster
// script's promote and repoint, nothing left to heal.
Fault Failover(const ClusterControl& c, int old_primary, int node);

}  // namespace lagrouter::chaos
