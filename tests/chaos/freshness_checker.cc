// Freshness checker: proves (or disproves) lagrouter's promise that a read
// routed for a class sees data at most max_staleness old, while faults are
// injected into a real PostgreSQL or MariaDB cluster.
//
// A writer commits ids 1, 2, 3... into `seq` on the current primary and records
// the monotonic time each commit returned. Readers ask /v1/route for classes of
// 300 ms, 1 s and 10 s, then read max(id) on the server they were given. A read
// whose request was sent at t violates the promise when it misses an id whose
// commit had returned before t - max_staleness. The daemon and this program
// share CLOCK_MONOTONIC (std::chrono::steady_clock), so no clock sync is needed.
//
// Faults, one at a time at random intervals, each healed before the next: replay
// paused, replication stopped, a replica or the primary SIGKILLed and
// restarted, a replica SIGSTOPped (postmaster and backends) then SIGCONTed, and
// a failover (MariaDB: the cluster script's promote/repoint; PostgreSQL: a clean
// switchover). The writer follows the primary through the daemon's answer for
// a 0 s class. With Patroni (--patroni-urls, scripts/patroni-cluster.sh as
// --script) the faults are Patroni's own failovers and switchovers.
//
// Lost writes: an asynchronous failover can lose commits that had returned on
// the old leader. At the end the checker reads every id from the final
// primary; a read that misses lost commits only is reported apart.
//
// How readers reach a server (--path): route (the default), listen, primary,
// naive (--naive: must find violations), client (the Python client). Every
// read also returns the server's port and whether it is a replica, so the
// share of reads on replicas is measured, not assumed. Read-your-writes
// readers (--ryw-readers N) route a read after their own write. Session
// readers (--session-readers N) each are one session of /v1/route and must
// never go back (monotonic reads); strict readers (--strict-readers N) read a
// 0 s class that replicas may serve and must see every returned commit.
//
// The parts, a file each (tests/chaos/):
//   options          the command line
//   harness          what every part shares: log, classes, connections, counters
//   daemon_api       /v1/route, /v1/status, the daemon's configuration
//   setup            data directory, topology, classes, tables before a run
//   writer           the writer and its commit log (commit_log.h)
//   path_readers     readers of --path route, listen, primary, naive
//   client_readers   readers of --path client, and their read-your-writes judgement
//   ryw_readers      read-your-writes readers, and their judgement
//   session_readers  session readers (session=), and the monotonic-reads judgement
//   strict_readers   readers of the strict 0 s class, and their judgement
//   cluster_control  the cluster script and the servers' processes
//   faults           the faults as named helpers, each with its heal
//   patroni_faults   Patroni's failovers as faults, timed, and their judgement
//   fault_schedule   which fault when, held how long, counted
//   freshness        the freshness judgement (VIOLATION and SUMMARY lines)
//   judgement        what a judgement is; report: the report and the exit code
// This file composes them into the scenario.
//
// Exit: 0 no violation, 1 violations, 2 setup error or a vacuous run (no
// replica reads, no faults) or a fault that could not be healed.
#include <mysql.h>

#include <cstdio>
#include <thread>
#include <vector>

#include "tests/chaos/client_readers.h"
#include "tests/chaos/cluster_control.h"
#include "tests/chaos/daemon_api.h"
#include "tests/chaos/fault_schedule.h"
#include "tests/chaos/freshness.h"
#include "tests/chaos/harness.h"
#include "tests/chaos/options.h"
#include "tests/chaos/path_readers.h"
#include "tests/chaos/patroni_faults.h"
#include "tests/chaos/report.h"
#include "tests/chaos/ryw_readers.h"
#include "tests/chaos/session_readers.h"
#include "tests/chaos/setup.h"
#include "tests/chaos/strict_readers.h"
#include "tests/chaos/trace.h"
#include "tests/chaos/writer.h"

namespace lagrouter::chaos {
namespace {

// Past --seconds, until --min-faults were injected; a failover cycle (kill,
// promotion, rejoin) takes ~15 s here: 30 s allowed each.
void AwaitMinFaults(const Options& o, FaultSchedule& faults) {
  const auto give_up = Clock::now() + std::chrono::seconds(o.seconds + 30 * o.min_faults);
  while (faults.Injected() < o.min_faults && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(100));
  }
}

int Run(Options options) {
  Harness h(std::move(options));
  if (!PrepareRun(h)) return 2;
  ClusterControl cluster(h.o, h.data_dir);
  PatroniFaults patroni(cluster);
  FaultSchedule faults(h, cluster, patroni);
  Freshness freshness(h);
  ClientReaders client(h, freshness);
  RywReaders ryw(h);
  SessionReaders sessions(h, freshness);
  StrictReaders strict(h);
  Writer writer(h);
  // The judgements, in the order the report prints them.
  std::vector<Judgement*> judgements = {&patroni};

  std::thread writing([&writer] { writer.Run(); });
  std::vector<std::thread> readers;
  if (h.o.path == Path::kClient) {
    client.Start(&readers);
    judgements.push_back(&client);
  } else {
    StartPathReaders(h, freshness, &readers);
  }
  judgements.push_back(&freshness);
  if (h.o.ryw_readers > 0) {
    ryw.Start(&readers);
    judgements.push_back(&ryw);
  }
  if (h.o.session_readers > 0) {
    sessions.Start(&readers);
    judgements.push_back(&sessions);
  }
  if (h.o.strict_readers > 0) {
    strict.Start(&readers);
    judgements.push_back(&strict);
  }
  std::thread faulting([&faults] { faults.Run(); });
  Trace::Get().StartPolling(h.o, h.stop);

  std::this_thread::sleep_for(std::chrono::seconds(h.o.seconds));
  AwaitMinFaults(h.o, faults);
  faults.Stop();
  faulting.join();  // heals the fault in progress
  h.stop = true;
  writing.join();
  for (auto& t : readers) t.join();
  Trace::Get().StopPolling();

  const auto lost = freshness.LostCommits();
  if (!lost) {
    std::printf("RESULT: error (the ids on the final primary could not be read)\n");
    return 2;
  }
  freshness.Classify(*lost);
  sessions.Classify(*lost);
  strict.Classify(*lost);
  RunResults results{writer, faults, freshness, *lost, judgements};
  return Report(h, results);
}

}  // namespace
}  // namespace lagrouter::chaos

int main(int argc, char** argv) {
  using namespace lagrouter::chaos;
  auto options = ParseArgs(argc, argv);
  if (!options) {
    Usage();
    return 2;
  }
  if (options->print_config) {
    std::fputs(DaemonConfig(*options).c_str(), stdout);
    return 0;
  }
  mysql_library_init(0, nullptr, nullptr);
  const int rc = Run(std::move(*options));
  mysql_library_end();
  return rc;
}
