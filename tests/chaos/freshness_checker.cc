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
// switchover, see PgSwitchover). The writer follows the primary through the
// daemon's answer for a 0 s class.
//
// Patroni (--patroni-urls, with scripts/patroni-cluster.sh as --script): the
// daemon discovers the members from Patroni, and the faults are Patroni's own
// automatic failovers (patroni_failover: kill -9 of the leader's postmaster)
// and switchovers (patroni_switchover). For each, the checker times the
// promotion (the first moment a new leader answers pg_is_in_recovery() =
// false, polled every 5 ms) and the first /v1/route answer for the 0 s class
// that names it, and counts 0 s answers naming the old leader after that.
//
// Lost writes: an asynchronous failover can lose commits that had returned on
// the old leader. At the end the checker reads every id from the final
// primary; an id whose commit returned but is absent there was lost. A read
// that misses commits is a routing violation only when one of the commits it
// misses survived; a read that misses lost commits only is reported apart
// ("reads missing lost commits only"): it saw all of the history that exists.
//
// How readers reach a server (--path):
//   route    ask /v1/route, then read on the server it names (the default)
//   listen   connect to a listener per class (--listen CLASS=PORT: HAProxy,
//            Pgpool-II), keep that connection like a pool, reconnect after an
//            error: an unmodified application
//   primary  read on the primary (the writer's server): the baseline
//   naive    always the first replica, bypassing lagrouter; run with faults,
//            it must find violations (the checker can fail). --naive = this.
//   client   the Python client (clients/python, cache on) reads, in a process
//            of its own (--client-reader tests/chaos/client_reader.py) that
//            reports each read's request time, server and result; this
//            program judges them as any other read. Its readers also do
//            read-your-writes rounds (a write with a session, then a read
//            routed with the session's token), each of which must find its row.
// Every read also returns the server's port and whether it is a replica, so
// the share of reads on replicas is measured, not assumed.
//
// Read-your-writes readers (--ryw-readers N) each commit their own row
// (ryw: reader, n) on the primary, take its position on the same connection
// (pg_current_wal_lsn(), @@gtid_binlog_pos), route a read with after=<it>
// (and --wait) and check that the server named has the row. A read without
// it counts as a violation, unless the current primary lacks the row too:
// then an asynchronous failover lost the write itself, which no routing can
// give back; such writes are reported apart as lost.
//
// Exit: 0 no violation, 1 violations, 2 setup error or a vacuous run (no
// replica reads, no faults) or a fault that could not be healed.
#include <mysql.h>
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/config_text.h"
#include "tests/support/db.h"
#include "tests/support/free_port.h"
#include "tests/support/http.h"
#include "tests/support/process.h"

namespace {

using namespace lagrouter::test_support;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// Options

enum class Path { kRoute, kListen, kPrimary, kNaive, kClient };
const char* PathName(Path p) {
  switch (p) {
    case Path::kRoute: return "route";
    case Path::kListen: return "listen";
    case Path::kPrimary: return "primary";
    case Path::kNaive: return "naive";
    case Path::kClient: return "client";
  }
  return "?";
}

const std::vector<std::string> kFaultKinds = {
    "pause_replay", "stop_replication", "kill_replica",     "kill_primary",      "hang_replica",
    "failover",     "stall_replay",     "patroni_failover", "patroni_switchover"};

struct Options {
  bool postgres = true;
  int seconds = 45;
  int daemon_port = 0;  // required
  int base_port = 5461;
  std::string script;  // scripts/pg-cluster.sh, mariadb-cluster.sh or patroni-cluster.sh
  std::vector<std::string> patroni_urls;  // set: the daemon discovers members from Patroni
  Path path = Path::kRoute;
  std::map<std::string, int> listen;  // class -> listener port (Path::kListen)
  std::vector<std::string> classes;   // --classes: read in these only (default: all)
  std::vector<std::string> faults = kFaultKinds;
  std::string client_reader;      // Path::kClient: the Python reader program
  std::string check_margin;       // --print-config: check_margin of the 1 s and 10 s classes
  std::string interval = "50ms";  // the daemon's probe interval (--print-config)
  std::string wait;               // route requests ask to wait this long (wait=)
  int ryw_readers = 0;
  int write_pause_ms = 2;  // the writer's pause between commits (long: an idle primary)
  bool print_config = false;
  int readers = 4;
  int min_faults = 0;  // run past --seconds until this many faults were injected
  uint64_t seed = 0;
};

void Usage() {
  std::fprintf(stderr,
               "usage: freshness_checker --engine postgres|mariadb --script CLUSTER_SCRIPT\n"
               "         --base-port PORT --daemon-port PORT [--seconds N] [--readers N]\n"
               "         [--seed N] [--path route|listen|primary|naive|client] [--naive]\n"
               "         [--client-reader tests/chaos/client_reader.py] (with --path client)\n"
               "         [--listen CLASS=PORT]... [--classes CLASS,...] [--faults KIND,...]\n"
               "         [--wait DURATION] [--ryw-readers N] [--write-pause MS]\n"
               "         [--patroni-urls URL,...] [--min-faults N]\n"
               "       freshness_checker --print-config --engine E --base-port P --daemon-port P\n"
               "         [--check-margin DURATION] [--interval DURATION]\n"
               "         (prints the daemon's configuration for the cluster)\n"
               "classes: c300ms c1s c10s (the default), c50ms (settle 0s: use --wait)\n"
               "faults: pause_replay stop_replication kill_replica\n"
               "         kill_primary hang_replica failover stall_replay; with --patroni-urls:\n"
               "         patroni_failover patroni_switchover\n");
}

std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::optional<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--engine") {
      const std::string e = next();
      if (e != "postgres" && e != "mariadb") return std::nullopt;
      o.postgres = e == "postgres";
    } else if (a == "--script") {
      o.script = next();
    } else if (a == "--seconds") {
      o.seconds = std::atoi(next().c_str());
    } else if (a == "--base-port") {
      o.base_port = std::atoi(next().c_str());
    } else if (a == "--daemon-port") {
      o.daemon_port = std::atoi(next().c_str());
    } else if (a == "--readers") {
      o.readers = std::atoi(next().c_str());
    } else if (a == "--seed") {
      o.seed = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--naive") {
      o.path = Path::kNaive;
    } else if (a == "--path") {
      const std::string p = next();
      if (p == "route") {
        o.path = Path::kRoute;
      } else if (p == "listen") {
        o.path = Path::kListen;
      } else if (p == "primary") {
        o.path = Path::kPrimary;
      } else if (p == "naive") {
        o.path = Path::kNaive;
      } else if (p == "client") {
        o.path = Path::kClient;
      } else {
        return std::nullopt;
      }
    } else if (a == "--listen") {
      const std::string spec = next();
      const auto eq = spec.find('=');
      const int port = eq == std::string::npos ? 0 : std::atoi(spec.c_str() + eq + 1);
      if (port <= 0) return std::nullopt;
      o.listen[spec.substr(0, eq)] = port;
    } else if (a == "--faults") {
      o.faults = SplitComma(next());
      for (const auto& f : o.faults) {
        if (std::find(kFaultKinds.begin(), kFaultKinds.end(), f) == kFaultKinds.end()) {
          return std::nullopt;
        }
      }
      if (o.faults.empty()) return std::nullopt;
    } else if (a == "--classes") {
      o.classes = SplitComma(next());
      if (o.classes.empty()) return std::nullopt;
    } else if (a == "--client-reader") {
      o.client_reader = next();
    } else if (a == "--min-faults") {
      o.min_faults = std::atoi(next().c_str());
    } else if (a == "--patroni-urls") {
      o.patroni_urls = SplitComma(next());
      if (o.patroni_urls.empty()) return std::nullopt;
    } else if (a == "--check-margin") {
      o.check_margin = next();
    } else if (a == "--interval") {
      o.interval = next();
    } else if (a == "--wait") {
      o.wait = next();
    } else if (a == "--ryw-readers") {
      o.ryw_readers = std::atoi(next().c_str());
    } else if (a == "--write-pause") {
      o.write_pause_ms = std::atoi(next().c_str());
    } else if (a == "--print-config") {
      o.print_config = true;
    } else {
      return std::nullopt;
    }
  }
  if ((o.script.empty() && !o.print_config) || o.daemon_port <= 0 || o.seconds <= 0 ||
      o.readers <= 0 || o.ryw_readers < 0 || o.write_pause_ms < 0 ||
      (o.path == Path::kListen) != !o.listen.empty() ||
      (o.path == Path::kClient) == o.client_reader.empty()) {
    return std::nullopt;
  }
  if (o.seed == 0) o.seed = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  return o;
}

// ---------------------------------------------------------------------------
// Small helpers

void Log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
const Clock::time_point kStart = Clock::now();
std::mutex log_mu;
void Log(const char* fmt, ...) {
  std::lock_guard lock(log_mu);
  const double t = std::chrono::duration<double>(Clock::now() - kStart).count();
  std::fprintf(stdout, "[%7.3f] ", t);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stdout, fmt, ap);
  va_end(ap);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Sleeps until `d` passed or `stop` is set; false when stopped.
bool SleepFor(Clock::duration d, const std::atomic<bool>& stop) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
    if (stop.load()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(milliseconds(10), until - Clock::now()));
  }
  return !stop.load();
}

// ---------------------------------------------------------------------------
// Database connections with deadlines (a SIGSTOPped server must not hang us)

constexpr int kDbTimeoutSeconds = 2;

// The application's connection to the server on `port`; nullptr with *error
// when it cannot be had.
std::unique_ptr<SqlConn> Connect(bool postgres, int port, std::string* error) {
  if (postgres) {
    auto c = std::make_unique<PgConn>(port, "app", "shop",
                                      PgOptions{.connect_timeout_s = kDbTimeoutSeconds,
                                                .query_timeout_s = kDbTimeoutSeconds,
                                                .application_name = ""});
    if (c->ok()) return c;
    *error = c->error();
  } else {
    auto c = std::make_unique<MysqlConn>(port, "app", "shop", kDbTimeoutSeconds);
    if (c->ok()) return c;
    *error = c->error();
  }
  return nullptr;
}

// Idle connections per server port.
class Pool {
 public:
  explicit Pool(bool postgres) : postgres_(postgres) {}

  std::unique_ptr<SqlConn> Acquire(int port, std::string* error) {
    {
      std::lock_guard lock(mu_);
      auto& idle = idle_[port];
      if (!idle.empty()) {
        auto db = std::move(idle.back());
        idle.pop_back();
        return db;
      }
    }
    return Connect(postgres_, port, error);
  }
  void Release(int port, std::unique_ptr<SqlConn> db) {
    std::lock_guard lock(mu_);
    idle_[port].push_back(std::move(db));
  }

 private:
  bool postgres_;
  std::mutex mu_;
  std::map<int, std::vector<std::unique_ptr<SqlConn>>> idle_;
};

// ---------------------------------------------------------------------------
// The commit log: id -> monotonic time its commit returned (ids and times grow)

class CommitLog {
 public:
  void Append(int64_t id, Clock::time_point returned) {
    std::lock_guard lock(mu_);
    entries_.push_back({id, returned});
  }
  // When the commit of `id` returned (ids are logged in order); nullopt if never.
  std::optional<Clock::time_point> ReturnedAt(int64_t id) const {
    std::lock_guard lock(mu_);
    auto it = std::lower_bound(entries_.begin(), entries_.end(), id,
                               [](const Entry& e, int64_t i) { return e.id < i; });
    if (it == entries_.end() || it->id != id) return std::nullopt;
    return it->at;
  }
  // The highest id whose commit returned before `cutoff` (0: none), and when.
  int64_t RequiredBefore(Clock::time_point cutoff, Clock::time_point* returned = nullptr) const {
    std::lock_guard lock(mu_);
    auto it = std::lower_bound(entries_.begin(), entries_.end(), cutoff,
                               [](const Entry& e, Clock::time_point t) { return e.at < t; });
    if (it == entries_.begin()) return 0;
    if (returned != nullptr) *returned = std::prev(it)->at;
    return std::prev(it)->id;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }
  std::vector<int64_t> Ids() const {
    std::lock_guard lock(mu_);
    std::vector<int64_t> ids;
    for (const auto& e : entries_) ids.push_back(e.id);
    return ids;
  }

 private:
  struct Entry {
    int64_t id;
    Clock::time_point at;
  };
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// ---------------------------------------------------------------------------
// The daemon

struct Route {
  int status = 0;  // 0: no answer
  std::string server;
  int port = 0;
  int64_t bound_ms = -1;
};

// `wait`: wait= (empty: none); `after`: after= (empty: none).
Route AskRoute(HttpClient& client, const std::string& cls, const std::string& wait = "",
               const std::string& after = "") {
  Route r;
  const HttpReply reply =
      client.Get(RoutePath("shop", cls, after) + (wait.empty() ? "" : "&wait=" + wait));
  r.status = reply.status;
  if (r.status != 200) return r;
  const Json& j = reply.json;
  if (!j.is_object() || !j.contains("port") || !j.contains("server")) {
    r.status = -1;
    return r;
  }
  r.server = j["server"].get<std::string>();
  r.port = j["port"].get<int>();
  r.bound_ms = j["staleness_bound_ms"].get<int64_t>();
  return r;
}

// Every request has 2 s; one connection per thread.
HttpOptions Http() {
  HttpOptions o;
  o.connect_timeout_s = o.read_timeout_s = o.write_timeout_s = 2;
  o.keep_alive = true;
  return o;
}

// The current topology as the daemon sees it: node numbers (port - base).
struct Topology {
  int primary = -1;
  std::vector<int> replicas;
};

std::optional<Topology> CurrentTopology(const Options& o) {
  const HttpReply status = HttpClient(o.daemon_port, Http()).Get("/v1/status");
  if (status.status != 200) return std::nullopt;
  const Json& j = status.json;
  if (!j.is_object()) return std::nullopt;
  Topology t;
  for (const auto& c : j["clusters"]) {
    for (const auto& s : c["servers"]) {
      const int node = s["port"].get<int>() - o.base_port;
      const std::string role = s["role"].get<std::string>();
      if (role == "primary" && s["up"].get<bool>()) {
        if (t.primary >= 0) return std::nullopt;  // ambiguous: try again later
        t.primary = node;
      } else if (role == "replica") {
        t.replicas.push_back(node);
      }
    }
  }
  if (t.primary < 0 || t.replicas.empty()) return std::nullopt;
  return t;
}

// The daemon's configuration: the cluster probed every 50 ms, a 0 s class the
// writer follows, and the readers' classes; with --check-margin, the 1 s and
// 10 s classes carry it (a load balancer's checks poll them).
std::string DaemonConfig(const Options& o) {
  ClusterSpec cluster = o.postgres ? PgShop(o.base_port) : MariaDbShop("shop", o.base_port);
  if (!o.patroni_urls.empty()) {
    cluster = ClusterSpec("shop", "postgres");
    cluster.Set("discovery", "patroni")
        .Set("patroni_urls", o.patroni_urls)
        .Set("discovery_interval", "500ms");
  }
  ConfigText config;
  config.Listen(o.daemon_port)
      .Probe(o.interval, "500ms")
      .Cluster(cluster)
      .Class("primary", "0s")
      .Class("c50ms", "50ms")
      .ClassSet("c50ms", "settle", "0s")
      .Class("c300ms", "300ms")
      .Class("c1s", "1s")
      .Class("c10s", "10s");
  if (!o.check_margin.empty()) {
    config.ClassSet("c1s", "check_margin", o.check_margin);
    config.ClassSet("c10s", "check_margin", o.check_margin);
  }
  return config.str();
}

// ---------------------------------------------------------------------------
// Statistics

// The first three are read in unless --classes says otherwise.
const std::array<const char*, 4> kClasses = {"c300ms", "c1s", "c10s", "c50ms"};
const std::array<int64_t, 4> kClassMs = {300, 1000, 10000, 50};
constexpr size_t kDefaultClasses = 3;
enum Outcome { kReplica, kPrimary, k503, kRouteError, kReadError, kOutcomes };
const std::array<const char*, kOutcomes> kOutcomeNames = {"replica", "primary", "503",
                                                          "route_error", "read_error"};

struct Violation {
  std::string cls, server;
  Clock::time_point sent;
  int64_t class_ms;
  double at_s;
  int64_t required, seen, bound_ms;
  int64_t missed_age_ms;  // the missed commit had returned this long before the request
  int64_t excess_ms;      // the data read was this much older than the class allows
};

struct Stats {
  std::array<std::array<std::atomic<uint64_t>, kOutcomes>, kClasses.size()> reads{};
  std::atomic<uint64_t> commits{0}, write_errors{0};
  std::mutex mu;
  std::map<std::string, int> faults, inject_failed, heal_failed;
  std::vector<Violation> suspects;  // reads that missed commits: violations or lost writes
  std::vector<Violation> violations;
  uint64_t violation_count = 0, lost_write_reads = 0, suspects_dropped = 0;
  // Patroni failovers: ms from the kill to the promotion, and from the
  // promotion to the first route naming the new leader.
  std::vector<int64_t> promote_ms, route_after_promote_ms, kill_to_route_ms;
  uint64_t routes_to_demoted = 0;
  int64_t worst_excess_ms = 0;
  std::vector<int64_t> read_us;  // time to choose the server and read, per successful read
  // Read-your-writes readers: reads made, on replicas, missing their own
  // write (violations) or its write lost by a failover; route time (wait incl.).
  std::atomic<uint64_t> ryw_reads{0}, ryw_on_replica{0}, ryw_missed{0}, ryw_lost{0};
  std::vector<int64_t> ryw_route_us;
  std::vector<std::string> ryw_violations;
  // Path::kClient: read-your-writes rounds (reads routed with the session of a
  // write just committed), those whose read missed the write, writes that failed.
  std::atomic<uint64_t> client_ryw_reads{0}, client_ryw_on_replicas{0}, client_ryw_misses{0},
      client_ryw_write_errors{0}, client_ryw_not_read{0};
  std::string client_stats;  // the Python client's counters, as it printed them
};

// The p-th percentile (0-100) of `v` (sorted here); 0 when empty.
int64_t Percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  return v[i];
}

// ---------------------------------------------------------------------------
// Writer, readers, faults

class Checker {
 public:
  explicit Checker(Options o) : o_(std::move(o)), pool_(o_.postgres), rng_(o_.seed) {}

  int Run();

 private:
  std::string Table() const { return o_.postgres ? "seq" : "shop.seq"; }
  std::string ReadSql() const;
  void Writer();
  void Reader(int index);
  // Path::kClient: runs the Python readers and judges what they report.
  void ClientReaders();
  // Counts a read of class k whose request was sent at `sent` and saw id
  // `seen` on a server (`replica`: 1/ON on a replica), and records a
  // violation when it misses an id whose commit returned before sent -
  // max_staleness.
  void Judge(size_t k, Clock::time_point sent, int64_t seen, const std::string& replica, int port,
             const std::string& server, int64_t bound_ms);
  void RywReader(int index);
  // Whether row n of ryw reader `index` is on the current primary (nullopt:
  // cannot tell now).
  std::optional<bool> OnPrimary(HttpClient& client, int index, int64_t n);
  void Faults();

  // Cluster script helpers.
  bool Script(const std::string& args, std::string* out = nullptr) {
    std::string text;
    const int rc = RunCommand(o_.script + " " + args, &text);
    text = TrimRight(text);
    if (out != nullptr) *out = text;
    if (rc != 0) Log("script failed (%d): %s: %s", rc, args.c_str(), text.c_str());
    return rc == 0;
  }
  bool Sql(int node, const std::string& sql, std::string* out = nullptr) {
    // scripts/patroni-cluster.sh numbers its members from 1 (pt1 on the base port).
    const int script_node = o_.patroni_urls.empty() ? node : node + 1;
    return Script("sql " + std::to_string(script_node) + " " + ShellQuote(sql), out);
  }
  std::vector<pid_t> ServerPids(int node);
  bool WaitGone(pid_t pid);
  bool RestartNode(int node);
  bool PgSwitchover(int old_primary, int new_primary, int other);
  // Patroni: kill -9 the leader's postmaster (or switch over), time the
  // promotion and the route, heal when the old leader streams again.
  bool PatroniFailover(bool switchover, std::function<bool()>* heal);
  // Commits that returned but are absent from the final primary; nullopt
  // when they could not be read.
  std::optional<std::set<int64_t>> LostCommits();
  // Sorts the suspects into violations and reads that missed lost commits only.
  void Classify(const std::set<int64_t>& lost);

  // One fault: inject, hold, heal. False when the heal failed.
  void Inject(const std::string& kind, int node);

  Options o_;
  Pool pool_;
  CommitLog log_;
  Stats stats_;
  std::mt19937_64 rng_;
  std::atomic<bool> stop_{false}, faults_stop_{false};
  std::atomic<int64_t> start_id_{0};
  int naive_node_ = -1;
  std::string data_dir_;
  std::vector<size_t> classes_;  // indexes into kClasses the readers read in
};

void Checker::Writer() {
  HttpClient client(o_.daemon_port, Http());
  std::unique_ptr<SqlConn> db;
  int port = 0;
  int64_t next = start_id_.load() + 1;
  std::string value, error;
  while (!stop_.load()) {
    if (db == nullptr) {
      // Follow the current primary: the daemon's answer for a 0 s class.
      const Route r = AskRoute(client, "primary");
      if (r.status != 200) {
        SleepFor(milliseconds(20), stop_);
        continue;
      }
      port = r.port;
      db = pool_.Acquire(port, &error);
      if (db == nullptr) {
        stats_.write_errors++;
        SleepFor(milliseconds(20), stop_);
        continue;
      }
    }
    const std::string sql =
        o_.postgres ? "INSERT INTO seq (id) VALUES (" + std::to_string(next) +
                          ") ON CONFLICT (id) DO NOTHING"
                    : "INSERT IGNORE INTO shop.seq (id) VALUES (" + std::to_string(next) + ")";
    if (db->TryQuery(sql, &value, &error)) {
      // A retried id that had committed already is recorded late: that only
      // loosens the check for that id, never makes it wrong.
      log_.Append(next, Clock::now());
      ++next;
      stats_.commits++;
      std::this_thread::sleep_for(milliseconds(o_.write_pause_ms));
    } else {
      stats_.write_errors++;
      db.reset();
    }
  }
}

// The read every path makes: the highest id, whether the server is a replica
// (PostgreSQL: in recovery; MariaDB: read_only, which the cluster script sets
// on replicas) and its port, in one value.
std::string Checker::ReadSql() const {
  return o_.postgres ? "SELECT COALESCE(MAX(id), 0) || ' ' || pg_is_in_recovery()::int || ' ' || "
                       "inet_server_port() FROM seq"
                     : "SELECT CONCAT(COALESCE(MAX(id), 0), ' ', @@read_only, ' ', @@port) "
                       "FROM shop.seq";
}

void Checker::Reader(int index) {
  HttpClient client(o_.daemon_port, Http());
  std::mt19937_64 rng(o_.seed + static_cast<uint64_t>(index) + 1);
  const std::string sql = ReadSql();
  // Path::kListen: this reader's open connection per class, kept until it fails.
  std::map<size_t, std::unique_ptr<SqlConn>> held;
  int primary_port = 0;  // Path::kPrimary: the server the last route for "primary" named
  std::vector<int64_t> read_us;
  std::string value, error;
  while (!stop_.load()) {
    const size_t k = classes_[rng() % classes_.size()];
    const auto sent = Clock::now();
    Route r;
    std::unique_ptr<SqlConn> db;
    switch (o_.path) {
      case Path::kNaive:
        r.status = 200;
        r.port = o_.base_port + naive_node_;
        r.server = "node" + std::to_string(naive_node_);
        break;
      case Path::kRoute: r = AskRoute(client, kClasses[k], o_.wait); break;
      case Path::kPrimary:
        if (primary_port == 0) {
          const Route p = AskRoute(client, "primary");
          primary_port = p.status == 200 ? p.port : 0;
        }
        r.status = primary_port > 0 ? 200 : 503;
        r.port = primary_port;
        r.server = "primary";
        break;
      case Path::kListen:
        r.status = 200;
        r.port = o_.listen.at(kClasses[k]);
        r.server = "listener :" + std::to_string(r.port);
        db = std::move(held[k]);
        break;
      case Path::kClient: return;  // ClientReaders() reads instead
    }
    if (r.status == 503) {
      stats_.reads[k][k503]++;
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    if (r.status != 200) {
      stats_.reads[k][kRouteError]++;
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    if (db == nullptr) db = pool_.Acquire(r.port, &error);
    if (db == nullptr || !db->TryQuery(sql, &value, &error)) {
      // The connection is dropped: the next read connects again (and, through
      // a listener, lands on whatever server it now offers).
      stats_.reads[k][kReadError]++;
      primary_port = 0;
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    read_us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent).count());
    if (o_.path == Path::kListen) {
      held[k] = std::move(db);
    } else {
      pool_.Release(r.port, std::move(db));
    }
    int64_t seen = 0;
    int port = 0;
    std::string replica;  // PostgreSQL: 1/0; MariaDB's read_only: ON/OFF
    std::istringstream(value) >> seen >> replica >> port;
    Judge(k, sent, seen, replica, port, r.server, r.bound_ms);
    // Leave CPU to the servers and the daemon (2 cores run everything).
    std::this_thread::sleep_for(milliseconds(1));
  }
  std::lock_guard lock(stats_.mu);
  stats_.read_us.insert(stats_.read_us.end(), read_us.begin(), read_us.end());
}

void Checker::Judge(size_t k, Clock::time_point sent, int64_t seen, const std::string& replica,
                    int port, const std::string& server, int64_t bound_ms) {
  const auto cutoff = sent - milliseconds(kClassMs[k]);
  Clock::time_point returned{};
  const int64_t required = log_.RequiredBefore(cutoff, &returned);
  stats_.reads[k][replica == "1" || replica == "ON" ? kReplica : kPrimary]++;
  if (seen < required) {
    // The read lacks commit seen + 1: its data is at least as old as that
    // commit's return, which the class allows to be max_staleness old.
    const auto missed = log_.ReturnedAt(seen + 1).value_or(returned);
    Violation v;
    v.sent = sent;
    v.class_ms = kClassMs[k];
    v.cls = kClasses[k];
    v.server = server + (port > 0 ? " (port " + std::to_string(port) + ")" : "");
    v.at_s = std::chrono::duration<double>(sent - kStart).count();
    v.required = required;
    v.seen = seen;
    v.bound_ms = bound_ms;
    v.missed_age_ms = std::chrono::duration_cast<milliseconds>(sent - returned).count();
    v.excess_ms =
        std::chrono::ceil<milliseconds>(sent - missed - milliseconds(kClassMs[k])).count();
    // Classified at the end, once the lost commits are known.
    std::lock_guard lock(stats_.mu);
    if (stats_.suspects.size() < 1000000) {
      stats_.suspects.push_back(v);
    } else {
      stats_.suspects_dropped++;  // counted as violations
    }
  }
}

void Checker::ClientReaders() {
  std::string classes;
  for (size_t k : classes_) classes += (classes.empty() ? "" : ",") + std::string(kClasses[k]);
  const std::string command =
      "/usr/bin/python3 " + ShellQuote(o_.client_reader) + " --engine " +
      (o_.postgres ? "postgres" : "mariadb") + " --daemon-port " + std::to_string(o_.daemon_port) +
      " --seconds " + std::to_string(o_.seconds) + " --readers " + std::to_string(o_.readers) +
      " --seed " + std::to_string(o_.seed % 1000000) + " --classes " + classes + " --sql " +
      ShellQuote(ReadSql());
  FILE* in = popen(command.c_str(), "r");
  if (in == nullptr) {
    Log("cannot run %s", command.c_str());
    return;
  }
  auto class_index = [](const std::string& name) -> std::optional<size_t> {
    for (size_t k = 0; k < kClasses.size(); ++k) {
      if (name == kClasses[k]) return k;
    }
    return std::nullopt;
  };
  const std::map<std::string, Outcome> failures = {
      {"503", k503}, {"route_error", kRouteError}, {"read_error", kReadError}};
  char buf[4096];
  while (std::fgets(buf, sizeof buf, in) != nullptr) {
    std::istringstream line(buf);
    std::string kind, cls, outcome, replica, server;
    int64_t sent_ns = 0, duration_us = 0;
    line >> kind;
    if (kind == "S") {
      std::getline(line, stats_.client_stats);
      continue;
    }
    line >> cls >> sent_ns >> duration_us >> outcome;
    const auto k = class_index(cls);
    if ((kind != "R" && kind != "W") || !k) {
      Log("client reader: unexpected line: %s", buf);
      continue;
    }
    const Clock::time_point sent{std::chrono::nanoseconds(sent_ns)};
    if (outcome != "ok") {
      if (kind == "W" && outcome == "write_error") {
        stats_.client_ryw_write_errors++;
      } else if (failures.count(outcome) != 0) {
        stats_.reads[*k][failures.at(outcome)]++;
        if (kind == "W") stats_.client_ryw_not_read++;
      }
      continue;
    }
    int port = 0;
    if (kind == "R") {
      int64_t seen = 0, bound_ms = -1;
      line >> seen >> replica >> port >> server >> bound_ms;
      Judge(*k, sent, seen, replica, port, "client: " + server, bound_ms);
    } else {
      int64_t written = 0, found = 0;
      line >> written >> found >> replica >> port >> server;
      const bool on_replica = replica == "1" || replica == "ON";
      stats_.client_ryw_reads++;
      if (on_replica) stats_.client_ryw_on_replicas++;
      stats_.reads[*k][on_replica ? kReplica : kPrimary]++;
      if (found != 1) {
        stats_.client_ryw_misses++;
        Log("READ-YOUR-WRITES MISS: class %s on %s did not find id %lld written just before",
            cls.c_str(), server.c_str(), static_cast<long long>(written));
      }
    }
    std::lock_guard lock(stats_.mu);
    stats_.read_us.push_back(duration_us);
  }
  const int rc = pclose(in);
  if (rc != 0) Log("client reader exited with status %d", rc);
}

void Checker::RywReader(int index) {
  HttpClient client(o_.daemon_port, Http());
  std::mt19937_64 rng(o_.seed + 1000 + static_cast<uint64_t>(index));
  std::unique_ptr<SqlConn> primary;
  int64_t n = 0;
  std::vector<int64_t> route_us;
  std::string value, error;
  const std::string table = o_.postgres ? "ryw" : "shop.ryw";
  while (!stop_.load()) {
    if (primary == nullptr) {
      const Route p = AskRoute(client, "primary");
      if (p.status != 200 || (primary = pool_.Acquire(p.port, &error)) == nullptr) {
        SleepFor(milliseconds(20), stop_);
        continue;
      }
    }
    const int64_t next = n + 1;
    const std::string insert = std::string(o_.postgres ? "INSERT" : "INSERT IGNORE") + " INTO " +
                               table + " (reader, n) VALUES (" + std::to_string(index) + ", " +
                               std::to_string(next) + ")" +
                               (o_.postgres ? " ON CONFLICT DO NOTHING" : "");
    std::string position;
    if (!primary->TryQuery(insert, &value, &error) ||
        !primary->TryQuery(o_.postgres ? "SELECT pg_current_wal_lsn()" : "SELECT @@gtid_binlog_pos",
                           &position, &error)) {
      primary.reset();  // whether it committed is unknown: that row is never asked for
      n = next;
      SleepFor(milliseconds(20), stop_);
      continue;
    }
    n = next;
    const size_t k = classes_[rng() % classes_.size()];
    const auto asked = Clock::now();
    const Route r = AskRoute(client, kClasses[k], o_.wait, position);
    const auto routed = Clock::now();
    if (r.status != 200) {
      stats_.reads[k][r.status == 503 ? k503 : kRouteError]++;
      SleepFor(milliseconds(5), stop_);
      continue;
    }
    std::unique_ptr<SqlConn> db = pool_.Acquire(r.port, &error);
    const std::string sql = "SELECT CONCAT(COALESCE(MAX(n), 0), ' ', " +
                            std::string(o_.postgres ? "pg_is_in_recovery()::int" : "@@read_only") +
                            ") FROM " + table + " WHERE reader = " + std::to_string(index);
    if (db == nullptr || !db->TryQuery(sql, &value, &error)) {
      stats_.reads[k][kReadError]++;
      SleepFor(milliseconds(5), stop_);
      continue;
    }
    pool_.Release(r.port, std::move(db));
    route_us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(routed - asked).count());
    int64_t seen = 0;
    std::string replica;
    std::istringstream(value) >> seen >> replica;
    stats_.ryw_reads++;
    if (replica == "1" || replica == "ON") stats_.ryw_on_replica++;
    if (seen < n) {
      // Lost by a failover (the primary lacks it too), or misrouted.
      const std::optional<bool> kept = OnPrimary(client, index, n);
      if (kept && !*kept) {
        stats_.ryw_lost++;
        Log("ryw reader %d: row %lld lost (not on the current primary either)", index,
            static_cast<long long>(n));
      } else {
        stats_.ryw_missed++;
        std::lock_guard lock(stats_.mu);
        if (stats_.ryw_violations.size() < 20) {
          stats_.ryw_violations.push_back("class " + std::string(kClasses[k]) + " on " + r.server +
                                          ": reader " + std::to_string(index) + " wrote row " +
                                          std::to_string(n) + " at " + position +
                                          " but read up to row " + std::to_string(seen));
        }
      }
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  std::lock_guard lock(stats_.mu);
  stats_.ryw_route_us.insert(stats_.ryw_route_us.end(), route_us.begin(), route_us.end());
}

std::optional<bool> Checker::OnPrimary(HttpClient& client, int index, int64_t n) {
  for (int attempt = 0; attempt < 20 && !stop_.load(); ++attempt) {
    const Route p = AskRoute(client, "primary");
    std::string error, value;
    if (p.status == 200) {
      auto db = pool_.Acquire(p.port, &error);
      if (db != nullptr &&
          db->TryQuery("SELECT COUNT(*) FROM " + std::string(o_.postgres ? "ryw" : "shop.ryw") +
                           " WHERE reader = " + std::to_string(index) +
                           " AND n = " + std::to_string(n),
                       &value, &error)) {
        pool_.Release(p.port, std::move(db));
        return value == "1";
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return std::nullopt;
}

std::vector<pid_t> Checker::ServerPids(int node) {
  std::vector<pid_t> pids;
  std::ifstream in;
  if (o_.postgres) {
    in.open(data_dir_ +
            (o_.patroni_urls.empty() ? "/pg-" + std::string(1, static_cast<char>('a' + node))
                                     : "/pt" + std::to_string(node + 1)) +
            "/postmaster.pid");
  } else {
    in.open(data_dir_ + "/n" + std::to_string(node) + "/mariadbd.pid");
  }
  pid_t main_pid = 0;
  if (!(in >> main_pid) || main_pid <= 0 || kill(main_pid, 0) != 0) return pids;
  pids.push_back(main_pid);
  if (!o_.postgres) return pids;
  // The postmaster's backends and auxiliary processes: its children.
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == main_pid) pids.push_back(static_cast<pid_t>(std::atoi(name.c_str())));
  }
  return pids;
}

bool Checker::WaitGone(pid_t pid) {
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    if (kill(pid, 0) != 0) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

bool Checker::RestartNode(int node) {
  // PostgreSQL: the killed postmaster's backends exit on their own within
  // moments; until then a new postmaster refuses the old shared memory.
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    if (o_.postgres ? Script("start-node " + std::to_string(node)) : Script("start")) return true;
    std::this_thread::sleep_for(milliseconds(500));
  }
  return false;
}

// A clean PostgreSQL switchover without pg_rewind: the old primary shuts down
// (fast: its WAL senders first send every record to the streaming standbys),
// the new one is promoted, the other standby follows it to the new timeline,
// and the old primary restarts as a standby of the new one (its WAL ends at
// its shutdown checkpoint, which the new primary has too).
bool Checker::PgSwitchover(int old_primary, int new_primary, int other) {
  std::string streaming;
  if (!Sql(old_primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
           &streaming) ||
      streaming != "2") {
    Log("switchover skipped: %s standbys stream from node %d", streaming.c_str(), old_primary);
    return false;
  }
  const std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(o_.base_port + new_primary) + " user=postgres";
  std::string promoted;
  if (!Script("stop-node " + std::to_string(old_primary)) ||
      !Sql(new_primary, "SELECT pg_promote(true, 30)", &promoted) || promoted != "t" ||
      !Sql(other, "ALTER SYSTEM SET primary_conninfo = '" + conninfo + "'") ||
      !Sql(other, "SELECT pg_reload_conf()")) {
    return false;
  }
  const std::string dir = data_dir_ + "/pg-" + std::string(1, static_cast<char>('a' + old_primary));
  std::ofstream(dir + "/standby.signal").flush();
  std::ofstream(dir + "/postgresql.auto.conf", std::ios::app)
      << "primary_conninfo = '" << conninfo << "'\n";
  return RunCommand("chown --reference=" + ShellQuote(dir) + " " +
                    ShellQuote(dir + "/standby.signal")) == 0 &&
         Script("start-node " + std::to_string(old_primary));
}

void Checker::Inject(const std::string& kind, int node) {
  std::uniform_int_distribution<int> hold_ms(1000, 4000);
  const auto hold = kind == "failover" ? milliseconds(0) : milliseconds(hold_ms(rng_));
  const std::string n = std::to_string(node);
  bool injected = false;
  std::function<bool()> heal = [] { return true; };
  if (kind == "pause_replay") {
    injected = o_.postgres ? Sql(node, "SELECT pg_wal_replay_pause()")
                           : Sql(node, "STOP REPLICA SQL_THREAD");
    heal = [this, node] {
      return o_.postgres ? Sql(node, "SELECT pg_wal_replay_resume()")
                         : Sql(node, "START REPLICA SQL_THREAD");
    };
  } else if (kind == "stop_replication") {
    if (o_.postgres) {
      std::string conninfo;
      injected = Sql(node, "SHOW primary_conninfo", &conninfo) && !conninfo.empty() &&
                 Sql(node, "ALTER SYSTEM SET primary_conninfo = ''") &&
                 Sql(node, "SELECT pg_reload_conf()");
      std::string quoted;
      for (char c : conninfo) quoted += c == '\'' ? std::string("''") : std::string(1, c);
      heal = [this, node, quoted] {
        return Sql(node, "ALTER SYSTEM SET primary_conninfo = '" + quoted + "'") &&
               Sql(node, "SELECT pg_reload_conf()");
      };
    } else {
      injected = Sql(node, "STOP REPLICA");
      heal = [this, node] { return Sql(node, "START REPLICA"); };
    }
  } else if (kind == "kill_replica" || kind == "kill_primary") {
    const auto pids = ServerPids(node);
    if (!pids.empty()) {
      injected = kill(pids[0], SIGKILL) == 0 && WaitGone(pids[0]);
    }
    heal = [this, node] { return RestartNode(node); };
  } else if (kind == "stall_replay") {
    // Replay stuck while the replica keeps answering and receiving WAL (as
    // behind a query conflicting with replay, up to max_standby_streaming_delay):
    // SIGSTOP of the startup process alone. Unlike pg_wal_replay_pause(),
    // which Patroni resumes by itself on PostgreSQL 14+, Patroni leaves it be.
    std::vector<pid_t> startup;
    for (pid_t p : ServerPids(node)) {
      std::ifstream cmd("/proc/" + std::to_string(p) + "/cmdline");
      std::string text;
      std::getline(cmd, text, '\0');
      if (text.find("startup") != std::string::npos) startup.push_back(p);
    }
    for (pid_t p : startup) injected = kill(p, SIGSTOP) == 0 || injected;
    heal = [startup] {
      for (pid_t p : startup) kill(p, SIGCONT);
      return true;
    };
  } else if (kind == "hang_replica") {
    const auto pids = ServerPids(node);
    for (pid_t p : pids) injected = kill(p, SIGSTOP) == 0 || injected;
    heal = [this, node, pids] {
      for (pid_t p : pids) kill(p, SIGCONT);
      for (pid_t p : ServerPids(node)) kill(p, SIGCONT);  // any child forked since
      return true;
    };
  } else if (kind == "patroni_failover" || kind == "patroni_switchover") {
    injected = PatroniFailover(kind == "patroni_switchover", &heal);
  } else if (kind == "failover") {
    const auto topo = CurrentTopology(o_);
    if (topo && topo->primary != node) {
      const int old_primary = topo->primary, other = 3 - topo->primary - node;
      if (o_.postgres) {
        injected = PgSwitchover(old_primary, node, other);
        // Healed when both standbys stream from the new primary.
        heal = [this, node] {
          const auto deadline = Clock::now() + std::chrono::seconds(30);
          std::string streaming;
          while (Clock::now() < deadline) {
            if (Sql(node, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                    &streaming) &&
                streaming == "2") {
              return true;
            }
            std::this_thread::sleep_for(milliseconds(100));
          }
          return false;
        };
      } else {
        // MariaDB: promote a replica, point the old primary and the other replica at it.
        injected = Script("promote " + n);
        for (int o : {old_primary, other}) {
          injected = injected && Script("repoint " + std::to_string(o) + " " + n);
        }
      }
    }
  }
  {
    std::lock_guard lock(stats_.mu);
    (injected ? stats_.faults : stats_.inject_failed)[kind]++;
  }
  Log("fault %s on node %d%s, held %lld ms", kind.c_str(), node, injected ? "" : " FAILED",
      static_cast<long long>(hold.count()));
  SleepFor(hold, faults_stop_);
  if (!heal()) {
    std::lock_guard lock(stats_.mu);
    stats_.heal_failed[kind]++;
    Log("HEAL FAILED: %s on node %d", kind.c_str(), node);
  }
}

bool Checker::PatroniFailover(bool switchover, std::function<bool()>* heal) {
  const auto topo = CurrentTopology(o_);
  if (!topo) return false;
  const int old_node = topo->primary;
  const std::string old_name = "pt" + std::to_string(old_node + 1);
  // Connections to the other members, to see the promotion happen; (re)opened
  // as needed (a member that just rejoined may not accept connections yet).
  std::map<int, std::unique_ptr<SqlConn>> others;
  for (int node : topo->replicas) others[node] = nullptr;
  const auto connect = [this](int node) {
    PgOptions po;
    po.connect_timeout_s = 1;
    po.query_timeout_s = 1;
    po.application_name = "";
    auto c = std::make_unique<PgConn>(o_.base_port + node, "lagrouter", "postgres", po);
    return c->ok() ? std::move(c) : nullptr;
  };
  for (auto& [node, c] : others) c = connect(node);
  const auto killed = Clock::now();
  std::string out;
  std::thread switcher;
  if (switchover) {
    // patronictl waits for the switchover: run it beside the timing loop.
    switcher = std::thread([this] { Script("switchover"); });
  } else if (!Script("kill-leader", &out) || out != old_name) {
    Log("kill-leader killed '%s', expected %s", out.c_str(), old_name.c_str());
    return false;
  }
  HttpClient client(o_.daemon_port, Http());
  std::optional<Clock::time_point> promoted, routed;
  int new_node = -1;
  const auto deadline = killed + std::chrono::seconds(60);
  while ((!promoted || !routed) && Clock::now() < deadline) {
    if (!promoted) {
      for (auto& [node, c] : others) {
        if (c == nullptr && (c = connect(node)) == nullptr) continue;
        std::string value, error;
        if (!c->TryQuery("SELECT pg_is_in_recovery()", &value, &error)) {
          c.reset();
        } else if (value == "f") {
          promoted = Clock::now();
          new_node = node;
          break;
        }
      }
    }
    const Route r = AskRoute(client, "primary");
    if (r.status == 200 && promoted && r.port == o_.base_port + new_node && !routed) {
      routed = Clock::now();
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  if (switcher.joinable()) switcher.join();
  if (!promoted || !routed) {
    Log("%s: no promotion routed within 60 s", switchover ? "switchover" : "failover");
    return false;
  }
  const auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<milliseconds>(d).count();
  };
  Log("%s: %s -> pt%d promoted %lld ms after the %s, routed %lld ms after the promotion",
      switchover ? "switchover" : "failover", old_name.c_str(), new_node + 1,
      static_cast<long long>(ms(*promoted - killed)), switchover ? "request" : "kill",
      static_cast<long long>(ms(*routed - *promoted)));
  {
    std::lock_guard lock(stats_.mu);
    if (!switchover) {
      stats_.promote_ms.push_back(ms(*promoted - killed));
      stats_.route_after_promote_ms.push_back(ms(*routed - *promoted));
      stats_.kill_to_route_ms.push_back(ms(*routed - killed));
    }
  }
  // Healed when the old leader streams from the new one; meanwhile no 0 s
  // route may name the old leader (demoted, restarting as a replica).
  *heal = [this, old_node, old_name] {
    HttpClient client(o_.daemon_port, Http());
    std::atomic<bool> done{false};
    std::thread watcher([&] {
      while (!done.load()) {
        const Route r = AskRoute(client, "primary");
        if (r.status == 200 && r.port == o_.base_port + old_node) {
          std::lock_guard lock(stats_.mu);
          stats_.routes_to_demoted++;
        }
        std::this_thread::sleep_for(milliseconds(5));
      }
    });
    const bool ok = Script("wait-streaming " + std::to_string(old_node + 1));
    done = true;
    watcher.join();
    if (!ok) Log("%s did not stream again", old_name.c_str());
    return ok;
  };
  return true;
}

std::optional<std::set<int64_t>> Checker::LostCommits() {
  std::set<int64_t> lost;
  if (!o_.postgres) return lost;  // MariaDB runs fail over cleanly (promote/repoint)
  std::optional<Topology> topo;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!(topo = CurrentTopology(o_)) && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  if (!topo) return std::nullopt;
  std::string error, value;
  auto db = pool_.Acquire(o_.base_port + topo->primary, &error);
  if (db == nullptr ||
      !db->TryQuery("SELECT COALESCE(string_agg(id::text, ',' ORDER BY id), '') FROM seq WHERE id "
                    "> " +
                        std::to_string(start_id_.load()),
                    &value, &error)) {
    Log("cannot read the ids on the final primary: %s", error.c_str());
    return std::nullopt;
  }
  std::set<int64_t> present;
  for (const auto& id : SplitComma(value)) present.insert(std::strtoll(id.c_str(), nullptr, 10));
  for (int64_t id : log_.Ids()) {
    if (present.count(id) == 0) lost.insert(id);
  }
  return lost;
}

void Checker::Classify(const std::set<int64_t>& lost) {
  std::lock_guard lock(stats_.mu);
  stats_.violation_count = stats_.suspects_dropped;
  for (auto v : stats_.suspects) {
    // The oldest missed commit that survived, if any.
    int64_t first_survivor = 0;
    for (int64_t id = v.seen + 1; id <= v.required; ++id) {
      if (lost.count(id) == 0) {
        first_survivor = id;
        break;
      }
    }
    if (first_survivor == 0) {
      stats_.lost_write_reads++;
      continue;
    }
    const auto missed = log_.ReturnedAt(first_survivor);
    if (missed) {
      v.excess_ms =
          std::chrono::ceil<milliseconds>(v.sent - *missed - milliseconds(v.class_ms)).count();
    }
    stats_.violation_count++;
    stats_.worst_excess_ms = std::max(stats_.worst_excess_ms, v.excess_ms);
    if (stats_.violations.size() < 20) stats_.violations.push_back(v);
  }
}

void Checker::Faults() {
  const std::vector<std::string>& kinds = o_.faults;
  const bool pauses = std::find(kinds.begin(), kinds.end(), "pause_replay") != kinds.end();
  bool first = pauses;
  std::uniform_int_distribution<int> gap_ms(300, 2000);
  // Let the daemon admit the replicas before the first fault.
  if (!SleepFor(std::chrono::seconds(3), faults_stop_)) return;
  while (!faults_stop_.load()) {
    const auto topo = CurrentTopology(o_);
    if (!topo) {
      SleepFor(milliseconds(100), faults_stop_);
      continue;
    }
    // The first fault always delays the first replica: the naive reader's.
    std::string kind = first ? "pause_replay" : kinds[rng_() % kinds.size()];
    int node =
        first && naive_node_ >= 0 ? naive_node_ : topo->replicas[rng_() % topo->replicas.size()];
    if (kind == "kill_primary") node = topo->primary;
    first = false;
    Inject(kind, node);
    SleepFor(milliseconds(gap_ms(rng_)), faults_stop_);
  }
}

int Checker::Run() {
  // Where the cluster keeps its data (pid files), from the script itself.
  const std::string key = !o_.patroni_urls.empty() ? "PATRONI_DIR"
                          : o_.postgres            ? "LAGROUTER_PG_DIR"
                                                   : "LAGROUTER_MARIADB_DIR";
  data_dir_ = ScriptEnv(o_.script, key);
  if (data_dir_.empty()) {
    Log("no %s in the output of '%s env'", key.c_str(), o_.script.c_str());
    return 2;
  }

  // Wait for the daemon to know the topology, then prepare the table.
  std::optional<Topology> topo;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!(topo = CurrentTopology(o_)) && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  if (!topo) {
    Log("the daemon on port %d does not report a primary and replicas", o_.daemon_port);
    return 2;
  }
  if (o_.path == Path::kNaive) naive_node_ = topo->replicas.front();
  // The classes read in: those given, or with a listener, or all.
  std::vector<std::string> wanted = o_.classes;
  if (wanted.empty() && o_.path == Path::kListen) {
    for (const auto& [name, port] : o_.listen) wanted.push_back(name);
  }
  if (wanted.empty()) wanted.assign(kClasses.begin(), kClasses.begin() + kDefaultClasses);
  for (size_t k = 0; k < kClasses.size(); ++k) {
    if (std::find(wanted.begin(), wanted.end(), kClasses[k]) != wanted.end()) {
      if (o_.path != Path::kListen || o_.listen.count(kClasses[k]) != 0) classes_.push_back(k);
    }
  }
  if (classes_.empty() || (!wanted.empty() && classes_.size() != wanted.size())) {
    Log("a class given to --classes or --listen is not one this checker reads in (c300ms, c1s, "
        "c10s, c50ms), or has no listener");
    return 2;
  }
  std::string error, value;
  auto db = pool_.Acquire(o_.base_port + topo->primary, &error);
  if (db == nullptr ||
      (!o_.postgres && !db->TryQuery("CREATE TABLE IF NOT EXISTS shop.seq (id BIGINT PRIMARY KEY, "
                                     "committed_at TIMESTAMP(6) NOT NULL DEFAULT "
                                     "CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
                                     &value, &error)) ||
      !db->TryQuery(o_.postgres ? "CREATE TABLE IF NOT EXISTS ryw (reader int, n bigint, "
                                  "PRIMARY KEY (reader, n))"
                                : "CREATE TABLE IF NOT EXISTS shop.ryw (reader INT, n BIGINT, "
                                  "PRIMARY KEY (reader, n)) ENGINE=InnoDB",
                    &value, &error) ||
      !db->TryQuery("DELETE FROM " + std::string(o_.postgres ? "ryw" : "shop.ryw"), &value,
                    &error) ||
      !db->TryQuery("SELECT COALESCE(MAX(id), 0) FROM " + Table(), &value, &error)) {
    Log("cannot prepare %s on the primary (node %d): %s", Table().c_str(), topo->primary,
        error.c_str());
    return 2;
  }
  db.reset();
  start_id_ = std::strtoll(value.c_str(), nullptr, 10);
  Log("engine %s, %d s, path %s, %d readers, seed %llu, primary node %d, ids from %lld",
      o_.postgres ? "postgres" : "mariadb", o_.seconds, PathName(o_.path), o_.readers,
      static_cast<unsigned long long>(o_.seed), topo->primary,
      static_cast<long long>(start_id_.load() + 1));

  std::thread writer([this] { Writer(); });
  std::vector<std::thread> readers;
  if (o_.path == Path::kClient) {
    readers.emplace_back([this] { ClientReaders(); });
  } else {
    for (int i = 0; i < o_.readers; ++i) readers.emplace_back([this, i] { Reader(i); });
  }
  for (int i = 0; i < o_.ryw_readers; ++i) readers.emplace_back([this, i] { RywReader(i); });
  std::thread faults([this] { Faults(); });

  std::this_thread::sleep_for(std::chrono::seconds(o_.seconds));
  const auto injected = [this] {
    std::lock_guard lock(stats_.mu);
    int n = 0;
    for (const auto& [kind, count] : stats_.faults) n += count;
    return n;
  };
  // A failover cycle (kill, promotion, rejoin) takes ~15 s here: allow 30 s each.
  const auto give_up = Clock::now() + std::chrono::seconds(o_.seconds + 30 * o_.min_faults);
  while (injected() < o_.min_faults && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  faults_stop_ = true;
  faults.join();  // heals the fault in progress
  stop_ = true;
  writer.join();
  for (auto& t : readers) t.join();
  const auto lost = LostCommits();
  if (!lost) {
    std::printf("RESULT: error (the ids on the final primary could not be read)\n");
    return 2;
  }
  Classify(*lost);

  // Report.
  std::printf("\n== freshness checker report (%s, path %s, %d s)\n",
              o_.postgres ? "postgres" : "mariadb", PathName(o_.path), o_.seconds);
  std::printf("commits: %llu (write errors %llu)\n",
              static_cast<unsigned long long>(stats_.commits.load()),
              static_cast<unsigned long long>(stats_.write_errors.load()));
  uint64_t checked = 0, on_replicas = 0, read_errors = 0;
  bool every_class_used_replicas = true;
  for (size_t k : classes_) {
    std::printf("reads %-7s", kClasses[k]);
    for (int oc = 0; oc < kOutcomes; ++oc) {
      std::printf(" %s=%llu", kOutcomeNames[oc],
                  static_cast<unsigned long long>(stats_.reads[k][oc].load()));
    }
    std::printf("\n");
    checked += stats_.reads[k][kReplica] + stats_.reads[k][kPrimary];
    on_replicas += stats_.reads[k][kReplica];
    read_errors += stats_.reads[k][kReadError];
    if (stats_.reads[k][kReplica] == 0) every_class_used_replicas = false;
  }
  int faults_total = 0, heal_failed = 0;
  std::printf("faults:");
  for (const auto& [kind, n] : stats_.faults) {
    std::printf(" %s=%d", kind.c_str(), n);
    faults_total += n;
  }
  std::printf("\n");
  for (const auto& [kind, n] : stats_.inject_failed) {
    std::printf("fault could not be injected: %s x%d\n", kind.c_str(), n);
  }
  for (const auto& [kind, n] : stats_.heal_failed) {
    std::printf("fault could not be healed: %s x%d\n", kind.c_str(), n);
    heal_failed += n;
  }
  if (!lost->empty()) {
    std::printf("commits lost by failovers: %zu (ids %lld-%lld), absent from the final primary\n",
                lost->size(), static_cast<long long>(*lost->begin()),
                static_cast<long long>(*lost->rbegin()));
  }
  std::printf("reads missing lost commits only (not routing violations): %llu\n",
              static_cast<unsigned long long>(stats_.lost_write_reads));
  if (!stats_.promote_ms.empty()) {
    std::printf(
        "patroni failovers: %zu; kill -> promoted ms: p50 %lld max %lld; promoted -> "
        "routed ms: p50 %lld max %lld; kill -> routed ms: p50 %lld max %lld\n",
        stats_.promote_ms.size(), static_cast<long long>(Percentile(stats_.promote_ms, 50)),
        static_cast<long long>(Percentile(stats_.promote_ms, 100)),
        static_cast<long long>(Percentile(stats_.route_after_promote_ms, 50)),
        static_cast<long long>(Percentile(stats_.route_after_promote_ms, 100)),
        static_cast<long long>(Percentile(stats_.kill_to_route_ms, 50)),
        static_cast<long long>(Percentile(stats_.kill_to_route_ms, 100)));
  }
  if (!o_.patroni_urls.empty()) {
    std::printf("0s routes naming a demoted leader: %llu\n",
                static_cast<unsigned long long>(stats_.routes_to_demoted));
  }
  if (o_.path == Path::kClient) {
    std::printf(
        "read-your-writes: reads=%llu (on replicas %llu) misses=%llu not_read=%llu "
        "write_errors=%llu\n",
        static_cast<unsigned long long>(stats_.client_ryw_reads.load()),
        static_cast<unsigned long long>(stats_.client_ryw_on_replicas.load()),
        static_cast<unsigned long long>(stats_.client_ryw_misses.load()),
        static_cast<unsigned long long>(stats_.client_ryw_not_read.load()),
        static_cast<unsigned long long>(stats_.client_ryw_write_errors.load()));
    std::printf("client stats:%s\n", stats_.client_stats.c_str());
  }
  for (const auto& v : stats_.violations) {
    std::printf(
        "VIOLATION at %.3f s: class %s on %s%s saw id %lld, but id %lld had "
        "returned %lld ms before the request: %lld ms older than the class allows\n",
        v.at_s, v.cls.c_str(), v.server.c_str(),
        v.bound_ms >= 0 ? (" (bound " + std::to_string(v.bound_ms) + " ms)").c_str() : "",
        static_cast<long long>(v.seen), static_cast<long long>(v.required),
        static_cast<long long>(v.missed_age_ms), static_cast<long long>(v.excess_ms));
  }
  // One line for scripts (bench/edge_bench.sh builds its table from it).
  const double share = checked > 0 ? 100.0 * static_cast<double>(on_replicas) / checked : 0;
  std::printf(
      "SUMMARY path=%s reads=%llu violations=%llu worst_excess_ms=%lld replica_share=%.1f "
      "read_errors=%llu p50_us=%lld p99_us=%lld\n",
      PathName(o_.path), static_cast<unsigned long long>(checked),
      static_cast<unsigned long long>(stats_.violation_count),
      static_cast<long long>(stats_.worst_excess_ms), share,
      static_cast<unsigned long long>(read_errors),
      static_cast<long long>(Percentile(stats_.read_us, 50)),
      static_cast<long long>(Percentile(stats_.read_us, 99)));
  if (o_.ryw_readers > 0) {
    for (const auto& v : stats_.ryw_violations) std::printf("RYW VIOLATION: %s\n", v.c_str());
    std::printf(
        "RYW reads=%llu on_replica=%llu missed_own_write=%llu lost_by_failover=%llu "
        "route_p50_us=%lld route_p99_us=%lld (wait=%s)\n",
        static_cast<unsigned long long>(stats_.ryw_reads.load()),
        static_cast<unsigned long long>(stats_.ryw_on_replica.load()),
        static_cast<unsigned long long>(stats_.ryw_missed.load()),
        static_cast<unsigned long long>(stats_.ryw_lost.load()),
        static_cast<long long>(Percentile(stats_.ryw_route_us, 50)),
        static_cast<long long>(Percentile(stats_.ryw_route_us, 99)),
        o_.wait.empty() ? "none" : o_.wait.c_str());
  }
  std::printf("reads checked: %llu, faults injected: %d, violations: %llu\n",
              static_cast<unsigned long long>(checked), faults_total,
              static_cast<unsigned long long>(stats_.violation_count));
  std::fflush(stdout);
  if (heal_failed > 0) {
    std::printf("RESULT: error (a fault could not be healed)\n");
    return 2;
  }
  if (stats_.violation_count > 0 || stats_.ryw_missed > 0 || stats_.routes_to_demoted > 0 ||
      stats_.client_ryw_misses > 0) {
    std::printf("RESULT: violations found\n");
    return 1;
  }
  if (checked == 0 || faults_total == 0 || stats_.commits == 0 ||
      (o_.path == Path::kClient && stats_.client_ryw_reads == 0) ||
      (o_.ryw_readers > 0 && stats_.ryw_reads == 0) ||
      (o_.path != Path::kNaive && o_.path != Path::kPrimary && !every_class_used_replicas)) {
    std::printf("RESULT: vacuous run (no reads, commits, faults or replica reads in a class)\n");
    return 2;
  }
  std::printf("RESULT: no violations\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
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
  Checker checker(std::move(*options));
  const int rc = checker.Run();
  mysql_library_end();
  return rc;
}
