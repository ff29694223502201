#!/usr/bin/env bash
# Probe cost: a primary and 4 replicas probed every 100 ms.
# Reports the daemon's CPU use and whether the servers saw any new connection
# after start (one persistent connection per server, one round trip per cycle).
#   bench/probe_cost.sh [SECONDS]    default 30
# The local cluster has 2 replicas; the config lists each twice under two
# names, which costs the daemon and the servers exactly what 4 replicas would.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
DURATION="${1:-30}"
export LAGROUTER_DB_PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
source tests/support/config.sh
PORT=$(free_port)
scripts/pg-cluster.sh start >/dev/null
tmp=$(mktemp -d)
servers=()
for s in pg-a:5441 pg-b:5442 pg-c:5443 pg-b2:5442 pg-c2:5443; do servers+=(--server "${s%:*}" "${s#*:}"); done
lagrouter_config --listen "$PORT" --interval 100ms --timeout 1s --cluster shop postgres --database shop \
  "${servers[@]}" --class dashboard 5s >"$tmp/lagrouter.toml"
build/bin/lagrouter --config "$tmp/lagrouter.toml" >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
wait_ready "http://127.0.0.1:$PORT" 10 "$pid" || true
sleep 1  # let the first connections settle before the baseline

conns() {  # lagrouter's connections on every server, and the newest backend_start
  for p in 5441 5442 5443; do
    scripts/pg-cluster.sh sql "$((p - 5441))" \
      "SELECT count(*) || ' ' || coalesce(max(backend_start)::text, '-') FROM pg_stat_activity WHERE usename = 'lagrouter' AND datname = 'shop'"
  done | paste -sd' '
}
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
before_conns=$(conns)
t0=$(ticks)
s0=$(date +%s.%N)
sleep "$DURATION"
t1=$(ticks)
s1=$(date +%s.%N)
after_conns=$(conns)
probes=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^lagrouter_probe_duration_seconds_count/ {n += $2} END {print n}')
errors=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^lagrouter_probe_errors_total/ {n += $2} END {print n}')
cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$s0" -v e="$s1" 'BEGIN {printf "%.2f", 100 * (b - a) / hz / (e - s)}')
echo "interval 100 ms, 5 servers, ${DURATION} s: daemon CPU ${cpu}% of one core; $probes probes, $errors errors"
echo "connections (count, newest backend_start) per server before: $before_conns"
echo "connections (count, newest backend_start) per server after:  $after_conns"
if [[ "$before_conns" == "$after_conns" ]]; then
  echo "no new connections during the run"
else
  echo "NEW CONNECTIONS during the run" >&2
  exit 1
fi
