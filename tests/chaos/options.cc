#include "tests/chaos/options.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tests/support/process.h"

namespace lagrouter::chaos {

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

void Usage() {
  std::fprintf(stderr,
               "usage: freshness_checker --engine postgres|mariadb --script CLUSTER_SCRIPT\n"
               "         --base-port PORT --daemon-port PORT [--seconds N] [--readers N]\n"
               "         [--seed N] [--path route|listen|primary|naive|client] [--naive]\n"
               "         [--client-reader tests/chaos/client_reader.py] (with --path client)\n"
               "         [--listen CLASS=PORT]... [--classes CLASS,...] [--faults KIND,...]\n"
               "         [--wait DURATION] [--ryw-readers N] [--write-pause MS]\n"
               "         [--session-readers N [--no-session-token] [--session-writes N]]\n"
               "         [--strict-readers N [--strict-wait DURATION] [--strict-primary]]\n"
               "         (--strict-readers also with --print-config: the strict class\n"
               "         c0s_strict; --strict-primary: the primary-only class instead)\n"
               "         [--patroni-urls URL,...] [--min-faults N]\n"
               "       freshness_checker --print-config --engine E --base-port P --daemon-port P\n"
               "         [--check-margin DURATION] [--interval DURATION]\n"
               "         (prints the daemon's configuration for the cluster)\n"
               "classes: c300ms c1s c10s (the default), c50ms (settle 0s: use --wait), c5s\n"
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

namespace {

std::optional<Path> ParsePath(const std::string& p) {
  if (p == "route") return Path::kRoute;
  if (p == "listen") return Path::kListen;
  if (p == "primary") return Path::kPrimary;
  if (p == "naive") return Path::kNaive;
  if (p == "client") return Path::kClient;
  return std::nullopt;
}

// --listen CLASS=PORT into o->listen; false when PORT is not a port.
bool ParseListen(const std::string& spec, Options* o) {
  const auto eq = spec.find('=');
  const int port = eq == std::string::npos ? 0 : std::atoi(spec.c_str() + eq + 1);
  if (port <= 0) return false;
  o->listen[spec.substr(0, eq)] = port;
  return true;
}

bool ParseFaults(const std::string& list, Options* o) {
  o->faults = SplitComma(list);
  for (const auto& f : o->faults) {
    if (std::find(kFaultKinds.begin(), kFaultKinds.end(), f) == kFaultKinds.end()) return false;
  }
  return !o->faults.empty();
}

// Options that take an integer.
bool ParseNumber(const std::string& a, const std::string& v, Options* o) {
  if (a == "--seconds") {
    o->seconds = std::atoi(v.c_str());
  } else if (a == "--base-port") {
    o->base_port = std::atoi(v.c_str());
  } else if (a == "--daemon-port") {
    o->daemon_port = std::atoi(v.c_str());
  } else if (a == "--readers") {
    o->readers = std::atoi(v.c_str());
  } else if (a == "--seed") {
    o->seed = std::strtoull(v.c_str(), nullptr, 10);
  } else if (a == "--min-faults") {
    o->min_faults = std::atoi(v.c_str());
  } else if (a == "--ryw-readers") {
    o->ryw_readers = std::atoi(v.c_str());
  } else if (a == "--session-readers") {
    o->session_readers = std::atoi(v.c_str());
  } else if (a == "--session-writes") {
    o->session_writes = std::atoi(v.c_str());
  } else if (a == "--strict-readers") {
    o->strict_readers = std::atoi(v.c_str());
  } else if (a == "--write-pause") {
    o->write_pause_ms = std::atoi(v.c_str());
  } else {
    return false;
  }
  return true;
}

// Options that take a word or a list; false when `a` is none of them or `v` is invalid.
bool ParseValue(const std::string& a, const std::string& v, Options* o) {
  if (a == "--engine") {
    o->postgres = v == "postgres";
    return v == "postgres" || v == "mariadb";
  }
  if (a == "--path") {
    const auto p = ParsePath(v);
    if (p) o->path = *p;
    return p.has_value();
  }
  if (a == "--listen") return ParseListen(v, o);
  if (a == "--faults") return ParseFaults(v, o);
  if (a == "--classes") {
    o->classes = SplitComma(v);
    return !o->classes.empty();
  }
  if (a == "--patroni-urls") {
    o->patroni_urls = SplitComma(v);
    return !o->patroni_urls.empty();
  }
  std::string* text = a == "--script"          ? &o->script
                      : a == "--client-reader" ? &o->client_reader
                      : a == "--check-margin"  ? &o->check_margin
                      : a == "--interval"      ? &o->interval
                      : a == "--wait"          ? &o->wait
                      : a == "--strict-wait"   ? &o->strict_wait
                                               : nullptr;
  if (text == nullptr) return ParseNumber(a, v, o);
  *text = v;
  return true;
}

bool IsPatroniFault(const std::string& kind) {
  return kind.rfind("patroni_", 0) == 0;
}

// Patroni's faults need a Patroni cluster: without one, a switchover would
// wait a minute for a promotion that never comes, and inject nothing meanwhile.
void DefaultFaults(Options& o) {
  if (!o.faults.empty()) return;
  for (const auto& kind : kFaultKinds) {
    if (!IsPatroniFault(kind) || !o.patroni_urls.empty()) o.faults.push_back(kind);
  }
}

bool Consistent(const Options& o) {
  const bool patroni_faults_have_patroni =
      o.patroni_urls.size() > 0 || std::none_of(o.faults.begin(), o.faults.end(), IsPatroniFault);
  return patroni_faults_have_patroni && !(o.script.empty() && !o.print_config) &&
         o.daemon_port > 0 && o.seconds > 0 && o.readers > 0 && o.ryw_readers >= 0 &&
         o.session_readers >= 0 && o.strict_readers >= 0 && o.write_pause_ms >= 0 &&
         (o.session_readers > 0 || !o.no_session_token) &&
         (o.path == Path::kListen) == !o.listen.empty() &&
         (o.path == Path::kClient) != o.client_reader.empty();
}

}  // namespace

std::optional<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--naive") {
      o.path = Path::kNaive;
    } else if (a == "--strict-primary") {
      o.strict_primary = true;
    } else if (a == "--no-session-token") {
      o.no_session_token = true;
    } else if (a == "--print-config") {
      o.print_config = true;
    } else if (!ParseValue(a, i + 1 < argc ? argv[++i] : "", &o)) {
      return std::nullopt;
    }
  }
  DefaultFaults(o);
  if (!Consistent(o)) return std::nullopt;
  if (o.strict_wait.empty()) o.strict_wait = o.wait.empty() ? "50ms" : o.wait;
  if (o.seed == 0) {
    o.seed = static_cast<uint64_t>(test_support::Clock::now().time_since_epoch().count());
  }
  return o;
}

}  // namespace lagrouter::chaos
