#!/usr/bin/python3
"""Cost per read of choosing the server, through the Python client
(clients/python): `client.route(cluster, class)` with the cache (a decision
picked from the cached answer by weight) and without it (one HTTP round trip
to lagrouter on a kept-alive connection), against a real daemon over the
shared PostgreSQL and MariaDB clusters (tests/support/pydaemon.py; started
if not running).

    bench/client_bench.py [CACHED_CALLS] [UNCACHED_CALLS]   default 200000 and 5000

Each call is timed on its own (time.perf_counter_ns around it); prints a
markdown table of p50, p90, p99 and the mean, in microseconds, per engine.
Run it on a quiet machine: it measures this machine's Python and loopback.
"""
import os
import platform
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "clients", "python"))
sys.path.insert(0, os.path.join(REPO, "tests", "support"))
import lagrouter  # noqa: E402
import pydaemon  # noqa: E402


def timed(fn, calls):
    out = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    out.sort()
    return out


def row(name, samples):
    def pct(p):
        return samples[min(len(samples) - 1, int(p / 100 * len(samples)))] / 1000
    return "| %s | %d | %.1f | %.1f | %.1f | %.1f |" % (
        name, len(samples), pct(50), pct(90), pct(99), statistics.fmean(samples) / 1000)


def main():
    cached_calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    uncached_calls = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    # The clock's own cost, to read the figures against.
    overhead = timed(lambda: None, 100000)
    print("Python %s on %s; an empty timed call: p50 %.2f us" % (
        platform.python_version(), platform.machine(), overhead[len(overhead) // 2] / 1000))
    print()
    print("| route() | calls | p50 us | p90 us | p99 us | mean us |")
    print("|---|---|---|---|---|---|")
    with pydaemon.Daemon() as d:
        for engine, (cluster, _, names) in pydaemon.ENGINES.items():
            for name in names[1:]:
                d.wait_eligible(cluster, name, "reports")
            # reports (1 h): a decision stays valid for long, so the cached
            # figure is the pick itself (plus one refresh a second, max_cache_age).
            cached = lagrouter.Client(d.url, token=d.token())
            cached.route(cluster, "reports")
            samples = timed(lambda: cached.route(cluster, "reports"), cached_calls)
            asked = cached.stats()["route_requests"]
            print(row("%s, cached (%d HTTP requests in all)" % (engine, asked), samples))
            uncached = lagrouter.Client(d.url, token=d.token(), cache=False)
            uncached.route(cluster, "reports")  # the connection is open
            samples = timed(lambda: uncached.route(cluster, "reports"), uncached_calls)
            print(row("%s, no cache (one HTTP round trip each)" % engine, samples))


if __name__ == "__main__":
    main()
