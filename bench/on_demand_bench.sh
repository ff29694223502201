#!/usr/bin/env bash
# On-demand probes (/v1/route?...&wait=), against the shared clusters:
#   1. read-your-writes reads and a 50 ms class at the default 250 ms interval,
#      with and without wait, both engines: the measurements of
#      tests/integration/on_demand_test.cc (300 write-then-route rounds each);
#   2. a burst on one cluster: wrk keeps 100 connections asking
#      after=<a position no replica has>&wait=50ms, so every request waits its
#      whole 50 ms and asks for probes all along (the worst case, about 2,000
#      waiting requests a second), beside wrk at 8 connections without wait.
#      Reports the on-demand probes per server per second (from /v1/status)
#      and the p99 of the requests without wait, against the same run
#      without the burst.
# Usage: bench/on_demand_bench.sh [SECONDS]    (default 10 per run)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
SECONDS_PER_RUN=${1:-10}
source tests/support/config.sh
source bench/lib.sh
export LAGROUTER_DB_PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
command -v wrk >/dev/null || { echo "apt-get install -y wrk" >&2; exit 2; }

tmp=$(mktemp -d)
pid=""
autogroup_off
cleanup() {
  autogroup_restore
  [[ -z $pid ]] || kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== 1. read-your-writes and a 50 ms class (tests/integration/on_demand_test.cc)"
build/bin/integration_test --gtest_filter='*OnDemand*' | grep -E '^\[ measure' | sed 's/^\[ measure  \] /  /'

echo
echo "== 2. a burst of waiting requests ($SECONDS_PER_RUN s per run)"
scripts/pg-cluster.sh start >/dev/null
port=$(free_port)
lagrouter_config --listen "$port" --pg shop 5441 --class primary 0s --class hour 1h >"$tmp/lagrouter.toml"
build/bin/lagrouter --config "$tmp/lagrouter.toml" >"$tmp/lagrouter.log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port"
wait_ready "$url" 10 "$pid" || { echo "lagrouter did not start" >&2; cat "$tmp/lagrouter.log" >&2; exit 1; }
rate=$(curl -s "$url/v1/status" | jq .on_demand.probes_per_second)

plain="$url/v1/route?cluster=shop&class=hour"
# No replica ever replays this LSN: each request waits its full 50 ms.
burst="$url/v1/route?cluster=shop&class=hour&after=FFFFFFFF/FFFFFFFF&wait=50ms"

probes() {  # on-demand probes so far, one "name count" line per server
  curl -s "$url/v1/status" | jq -r '.clusters[0].servers[] | "\(.name) \(.on_demand_probes)"'
}
p99() { awk '$1 == "99%" {print $2}'; }
rps() { awk '/Requests\/sec/ {print int($2)}'; }

# Without the burst.
quiet=$(wrk -t1 -c8 -d"${SECONDS_PER_RUN}s" --latency "$plain")
# With it: the waiting requests start first and outlast the measured run.
before=$(probes)
started=$(date +%s.%N)
wrk -t1 -c100 -d"$((SECONDS_PER_RUN + 2))s" --latency "$burst" >"$tmp/burst.txt" &
burst_pid=$!
sleep 1
busy=$(wrk -t1 -c8 -d"${SECONDS_PER_RUN}s" --latency "$plain")
wait "$burst_pid"
after=$(probes)
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')

echo "| run | requests without wait / s | their p99 |"
echo "|---|---|---|"
echo "| alone | $(rps <<<"$quiet") | $(p99 <<<"$quiet") |"
echo "| beside the burst | $(rps <<<"$busy") | $(p99 <<<"$busy") |"
echo
echo "burst: $(rps <"$tmp/burst.txt") waiting requests/s (p50 $(awk '$1 == "50%" {print $2}' "$tmp/burst.txt"), each waits 50 ms); probes_per_second = $rate"
echo "on-demand probes per server per second during the burst ($elapsed s):"
join <(sort <<<"$before") <(sort <<<"$after") | while read -r name b a; do
  awk -v n="$name" -v d="$((a - b))" -v s="$elapsed" -v cap="$rate" \
    'BEGIN { printf "  %s: %.1f/s (cap %d)\n", n, d / s, cap }'
done
echo "probe failures: $(grep -c 'probe failed' "$tmp/lagrouter.log" || true); $(autogroup_note)"
