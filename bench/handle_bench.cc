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
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "daemon/http_api.h"
#include "tests/support/scripted.h"

namespace {

std::atomic<uint64_t> g_allocations{0};

}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n)) return p;
  throw std::bad_alloc();
}
// GCC cannot see that operator new above is malloc-based.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace {

using lagrouter::router::Lsn;
using lagrouter::test_support::ApiUnderTest;
using lagrouter::test_support::PrimarySample;
using lagrouter::test_support::ReplicaSample;
using std::chrono::milliseconds;

// examples/lagrouter.toml (what bench/http_bench.sh serves), except that
// dashboard allows 1h: under callgrind a run lasts long enough for the
// replicas' bounds to pass 5s, and the answer must stay a fresh replica's.
constexpr const char* kConfig = R"(
[probe]
interval = "250ms"
timeout = "1s"
[[cluster]]
name = "shop"
engine = "postgres"
user = "lagrouter"
  [[cluster.server]]
  name = "pg-a"
  host = "127.0.0.1"
  port = 5441
  [[cluster.server]]
  name = "pg-b"
  host = "127.0.0.1"
  port = 5442
  [[cluster.server]]
  name = "pg-c"
  host = "127.0.0.1"
  port = 5443
[class.inventory]
max_staleness = "0s"
[class.fraud]
max_staleness = "0s"
[class.dashboard]
max_staleness = "1h"
check_margin = "500ms"
[class.reports]
max_staleness = "1h"
check_margin = "500ms"
fallback = "error"
)";

}  // namespace

int main(int argc, char** argv) {
  const long calls = argc > 1 ? std::atol(argv[1]) : 100000;
  ApiUnderTest t(kConfig);
  // Probe rounds over the last 3 s: pg-a primary, pg-b and pg-c replicas that
  // replay each write at once, so both are fresh and settled.
  const auto now = lagrouter::router::Clock::now();
  uint64_t lsn = 1000;
  for (auto at = now - milliseconds(3000); at <= now; at += milliseconds(250)) {
    ++lsn;
    t.clusters().Apply("shop", "pg-a", PrimarySample(Lsn{lsn}, at), at);
    for (const char* replica : {"pg-b", "pg-c"}) {
      t.clusters().Apply("shop", replica, ReplicaSample(Lsn{lsn}, at + milliseconds(1)),
                         at + milliseconds(1));
    }
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
  const uint64_t before = g_allocations.load();
  for (long i = 0; i < calls; ++i) bytes += t.api().Handle(req).body.size();
  const uint64_t allocations = g_allocations.load() - before;
  std::printf("calls=%ld allocations/call=%.2f body_bytes=%zu\n%s\n", calls,
              calls ? static_cast<double>(allocations) / static_cast<double>(calls) : 0.0, bytes,
              first.body.c_str());
  return 0;
}
