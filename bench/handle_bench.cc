// lagrouter's own cost of one GET /v1/route answer: HttpApi::Handle() over
// scripted clusters (no socket, no probe), called N times on one prebuilt
// request. Meant for callgrind, whose instruction counts stay repeatable on a
// loaded machine where wall time does not:
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bin/handle_bench 0
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bin/handle_bench 20000
//
// instructions per call = (Ir of the second - Ir of the first) / 20000 (the
// difference removes the set-up). It prints the heap allocations per call
// itself (a global operator new counts them, as in route_bench.cc).
//
// A server counts as down once its last answer is older than interval +
// timeout, and a callgrind run lasts seconds: every kCallsPerRound calls a
// new probe round keeps the servers up, as the monitor would (it also
// publishes new snapshots, as the monitor does). The rounds are left out of
// the counts, instructions and allocations alike.
#include <valgrind/callgrind.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/allocation_counter.h"
#include "daemon/api/http_api.h"
#include "tests/support/scripted.h"

namespace {

using lagrouter::router::Lsn;
using lagrouter::test_support::ApiUnderTest;
using lagrouter::test_support::PrimarySample;
using lagrouter::test_support::ReplicaSample;
using std::chrono::milliseconds;

// examples/lagrouter.toml (what bench/http_bench.sh serves), except that
// dashboard allows 1h: under callgrind a run lasts long enough for the
// replicas' bounds to pass 5s, and the answer must stay a fresh replica's.
std::string Config() {
  using lagrouter::test_support::ClusterSpec;
  using lagrouter::test_support::ConfigText;
  return ConfigText()
      .Probe("250ms", "1s")
      .Cluster(ClusterSpec("shop", "postgres")
                   .NoPassword()
                   .Server("pg-a", 5441)
                   .Server("pg-b", 5442)
                   .Server("pg-c", 5443))
      .Class("inventory", "0s")
      .Class("fraud", "0s")
      .Class("dashboard", "1h")
      .ClassSet("dashboard", "check_margin", "500ms")
      .Class("reports", "1h", "error")
      .ClassSet("reports", "check_margin", "500ms");
}

constexpr long kCallsPerRound = 1000;

// pg-a primary, pg-b and pg-c replicas that replay each write at once.
void ProbeRound(ApiUnderTest& t, lagrouter::router::TimePoint at, uint64_t lsn) {
  t.clusters().Apply("shop", "pg-a", PrimarySample(Lsn{lsn}, at), at);
  for (const char* replica : {"pg-b", "pg-c"}) {
    t.clusters().Apply("shop", replica, ReplicaSample(Lsn{lsn}, at + milliseconds(1)),
                       at + milliseconds(1));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const long calls = argc > 1 ? std::atol(argv[1]) : 100000;
  ApiUnderTest t(Config());
  // Rounds over the last 3 s, so the replicas are fresh and settled.
  uint64_t lsn = 1000;
  const auto start = lagrouter::router::Clock::now();
  for (auto at = start - milliseconds(3000); at <= start; at += milliseconds(250)) {
    ProbeRound(t, at, ++lsn);
  }
  lagrouter::daemon::HttpRequest req;
  req.method = "GET";
  req.path = "/v1/route";
  req.params = lagrouter::daemon::ParseQuery("cluster=shop&class=dashboard");

  const auto first = t.api().Handle(req);
  if (first.status != 200 || first.body.find("fresh_replica") == std::string::npos) {
    std::fprintf(stderr, "not a fresh replica's answer: %d %s\n", first.status, first.body.c_str());
    return 1;
  }
  size_t bytes = 0;  // keeps the answers observable
  long not_fresh = 0;
  uint64_t allocations = 0;
  for (long done = 0; done < calls;) {
    const long round = std::min(kCallsPerRound, calls - done);
    const uint64_t before = lagrouter::bench::Allocations();
    std::string last;
    for (long i = 0; i < round; ++i) {
      auto res = t.api().Handle(req);
      bytes += res.body.size();
      not_fresh += res.status != 200;
      if (i + 1 == round) last = std::move(res.body);
    }
    allocations += lagrouter::bench::Allocations() - before;
    not_fresh += last.find("fresh_replica") == std::string::npos;
    done += round;
    CALLGRIND_TOGGLE_COLLECT;
    ProbeRound(t, lagrouter::router::Clock::now(), ++lsn);
    CALLGRIND_TOGGLE_COLLECT;
  }
  if (not_fresh > 0) {
    std::fprintf(stderr, "%ld answers were not a fresh replica's\n", not_fresh);
    return 1;
  }
  std::printf("calls=%ld allocations/call=%.2f body_bytes=%zu\n%s\n", calls,
              calls ? static_cast<double>(allocations) / static_cast<double>(calls) : 0.0, bytes,
              first.body.c_str());
  return 0;
}
