// The freshness checker's command line: which cluster, how readers reach a
// server (the path), which classes, which faults, how long.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lagrouter::chaos {

// How readers reach a server (--path); see freshness_checker.cc.
enum class Path { kRoute, kListen, kPrimary, kNaive, kClient };
const char* PathName(Path p);

// Every fault --faults may name (fault_schedule.cc injects them).
extern const std::vector<std::string> kFaultKinds;

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
  // --faults; by default every kind the cluster has (Patroni's with --patroni-urls).
  std::vector<std::string> faults;
  std::string client_reader;      // Path::kClient: the Python reader program
  std::string check_margin;       // --print-config: check_margin of the 1 s and 10 s classes
  std::string interval = "50ms";  // the daemon's probe interval (--print-config)
  std::string wait;               // route requests ask to wait this long (wait=)
  int ryw_readers = 0;
  int session_readers = 0;        // readers that each are one session (session=)
  bool no_session_token = false;  // the session readers ask without session=: the baseline
  int session_writes = 0;         // session readers commit a row every N reads (0: never)
  int strict_readers = 0;         // readers of the strict 0 s class (strict_replicas)
  std::string strict_wait;        // their wait= (default: --wait, else 50ms)
  bool strict_primary = false;    // --strict-primary: they read the 0 s class "primary" instead
  int write_pause_ms = 2;         // the writer's pause between commits (long: an idle primary)
  bool print_config = false;
  int readers = 4;
  int min_faults = 0;  // run past --seconds until this many faults were injected
  uint64_t seed = 0;

  bool patroni() const { return !patroni_urls.empty(); }
  const char* engine() const { return postgres ? "postgres" : "mariadb"; }
};

void Usage();
std::vector<std::string> SplitComma(const std::string& text);
// nullopt: the arguments are invalid (print Usage(), exit 2).
std::optional<Options> ParseArgs(int argc, char** argv);

}  // namespace lagrouter::chaos
