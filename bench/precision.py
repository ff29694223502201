#!/usr/bin/env python3
"""Precision of the staleness bound.

For each probe interval (250 ms and 50 ms) and each load (an idle primary, and
a writer committing every 10 ms), runs lagrouter against the local PostgreSQL
cluster and samples the bound of caught-up replicas from /v1/route answers of
a 1 h class at random moments. Prints percentiles per case.
Usage: bench/precision.py [SECONDS_PER_CASE]   (default 15)
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = os.environ.setdefault("LAGROUTER_DB_PASSWORD", "lagrouter-demo-pw")


def support(*args):
    """Output of a function of tests/support/config.sh (free_port, lagrouter_config)."""
    return subprocess.run(
        ["bash", "-c", 'source "$0"; "$@"', os.path.join(REPO, "tests/support/config.sh"), *args],
        check=True, capture_output=True, text=True).stdout


PORT = int(support("free_port"))


def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=2) as r:
        return json.loads(r.read())


def writer(stop):
    p = subprocess.Popen(
        ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", "5441", "-U", "app", "shop"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, PGPASSWORD=PASSWORD), text=True)
    while not stop.is_set():
        p.stdin.write("INSERT INTO orders (item) VALUES ('precision');\n")
        p.stdin.flush()
        time.sleep(0.01)
    p.stdin.close()
    p.wait()


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_case(interval_ms, load, seconds):
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "lagrouter.toml")
        with open(cfg, "w") as f:
            f.write(support("lagrouter_config", "--listen", str(PORT), "--interval",
                            f"{interval_ms}ms", "--timeout", "1s", "--pg", "shop", "5441",
                            "--class", "hour", "1h"))
        daemon = subprocess.Popen([os.path.join(REPO, "build/bin/lagrouter"), "--config", cfg],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stop = threading.Event()
        t = threading.Thread(target=writer, args=(stop,)) if load == "writes every 10 ms" else None
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    if get("/v1/route?cluster=shop&class=hour")["role"] == "replica":
                        break
                except Exception:
                    pass
                time.sleep(0.05)
            if t:
                t.start()
            time.sleep(2)
            bounds = []
            end = time.time() + seconds
            while time.time() < end:
                a = get("/v1/route?cluster=shop&class=hour")
                if a.get("role") == "replica":
                    bounds.append(a["staleness_bound_ms"])
                time.sleep(random.uniform(0, 0.01))
        finally:
            stop.set()
            if t:
                t.join()
            daemon.terminate()
            daemon.wait()
    return bounds


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 15
    subprocess.run([os.path.join(REPO, "scripts/pg-cluster.sh"), "start"], check=True,
                   stdout=subprocess.DEVNULL)
    print("| interval | primary | samples | p50 | p90 | p99 | max |")
    print("|---|---|---|---|---|---|---|")
    for interval in (250, 50):
        for load in ("idle", "writes every 10 ms"):
            b = run_case(interval, load, seconds)
            if not b:
                print(f"| {interval} ms | {load} | 0 | - | - | - | - |")
                continue
            print(f"| {interval} ms | {load} | {len(b)} | {percentile(b, .5)} ms | "
                  f"{percentile(b, .9)} ms | {percentile(b, .99)} ms | {max(b)} ms |")


if __name__ == "__main__":
    main()
