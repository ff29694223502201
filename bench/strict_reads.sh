#!/usr/bin/env bash
# Strict (0s) reads served by proven replicas, on a busy primary, the machine
# as it is (autogroup left alone):
#   1. a 0s class with strict_replicas = true asked with wait=50ms against the
#      same class without it (the primary-only baseline): share of answers
#      with a replica (reason proven_replica), and time to the answer
#      (p50/p99, wrk at 8 connections) while pgbench commits on the primary;
#   2. a burst of strict requests (wrk at 100 connections): requests per
#      second, and the primary's on-demand probes per second against the cap
#      ([on_demand] probes_per_second), since every request asks for a
#      primary sample taken after it arrived.
# Whether such reads show every commit that returned before they were asked
# is the freshness checker's to judge (tests/chaos: --strict-readers).
# A PostgreSQL cluster of its own (ports LAGROUTER_PG_BASE_PORT, default
# 5511, data under a temporary directory), stopped at the end.
# Usage: bench/strict_reads.sh [SECONDS]    (default 10 per run)
# Environment: ON_DEMAND_RATE: [on_demand] probes_per_second (default: the
# daemon's default); COMMIT_RATE: commits a second on the primary (pgbench
# -R; default: as fast as two clients go, which saturates a 2-core machine).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
SECONDS_PER_RUN=${1:-10}
source tests/support/config.sh
export LAGROUTER_DB_PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
export LAGROUTER_PG_BASE_PORT="${LAGROUTER_PG_BASE_PORT:-5511}"
command -v wrk >/dev/null || { echo "apt-get install -y wrk" >&2; exit 2; }
PGBENCH=/usr/lib/postgresql/15/bin/pgbench

tmp=$(mktemp -d)
export LAGROUTER_RUN_DIR="$tmp/run"
pid=""
cleanup() {
  [[ -z $pid ]] || kill "$pid" 2>/dev/null || true
  scripts/pg-cluster.sh stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

base=$LAGROUTER_PG_BASE_PORT
scripts/pg-cluster.sh start >/dev/null
port=$(free_port)
lagrouter_config --listen "$port" --pg shop "$base" --class primary 0s \
  --toml $'[class.strict]\nmax_staleness = "0s"\nstrict_replicas = true'"${ON_DEMAND_RATE:+$'\n[on_demand]\nprobes_per_second = '$ON_DEMAND_RATE}" \
  >"$tmp/lagrouter.toml"
build/bin/lagrouter --config "$tmp/lagrouter.toml" >"$tmp/lagrouter.log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port"
wait_ready "$url" 10 "$pid" || { echo "lagrouter did not start" >&2; cat "$tmp/lagrouter.log" >&2; exit 1; }
rate=$(curl -s "$url/v1/status" | jq .on_demand.probes_per_second)

# A busy primary: two clients committing one-row inserts back to back.
export PGPASSWORD=$LAGROUTER_DB_PASSWORD
psql -h 127.0.0.1 -p "$base" -U app -d shop -qc \
  'CREATE TABLE IF NOT EXISTS strict_bench (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())'
echo 'INSERT INTO strict_bench DEFAULT VALUES;' >"$tmp/insert.sql"
# The cluster's data can outlive a run: count this run's commits only.
rows_before=$(psql -h 127.0.0.1 -p "$base" -U app -d shop -Atc 'SELECT count(*) FROM strict_bench')
"$PGBENCH" -n -h 127.0.0.1 -p "$base" -U app -c 2 -T $((3 * SECONDS_PER_RUN + 10)) ${COMMIT_RATE:+-R "$COMMIT_RATE"} \
  -f "$tmp/insert.sql" shop >"$tmp/pgbench.txt" 2>&1 &
writer=$!
sleep 1

# outcome_count OUTCOME CLASS: answers of the class with that outcome so far.
outcome_count() {
  curl -s "$url/metrics" | awk -v o="outcome=\"$1\"" -v k="class=\"$2\"" \
    'index($0, "lagrouter_route_requests_total{") == 1 && index($0, o) && index($0, k) {s += $NF}
     END {printf "%d", s}'
}
primary_probes() {
  curl -s "$url/v1/status" | jq '[.clusters[0].servers[] | select(.role == "primary") | .on_demand_probes] | add'
}
quantile() { awk -v q="$1" '$1 == q {print $2}'; }
rps() { awk '/Requests\/sec/ {print int($2)}'; }

run_class() {  # run_class CLASS QUERY CONNECTIONS -> "rps p50 p99 replica_share"
  local cls=$1 query=$2 conns=$3 proven0 primary0 out proven primary
  proven0=$(outcome_count proven_replica "$cls")
  primary0=$(outcome_count primary_class "$cls")
  out=$(wrk -t1 -c"$conns" -d"${SECONDS_PER_RUN}s" --latency "$url/v1/route?cluster=shop&class=$cls$query")
  proven=$(($(outcome_count proven_replica "$cls") - proven0))
  primary=$(($(outcome_count primary_class "$cls") - primary0))
  echo "$(rps <<<"$out") $(quantile 50% <<<"$out") $(quantile 99% <<<"$out") \
$(awk -v r="$proven" -v p="$primary" 'BEGIN { printf "%.1f", (r + p) ? 100 * r / (r + p) : 0 }')"
}

echo "== 1. strict reads on a busy primary ($SECONDS_PER_RUN s per run, 8 connections)"
echo "| class | requests/s | p50 | p99 | answered by a replica |"
echo "|---|---|---|---|---|"
read -r r p50 p99 share <<<"$(run_class primary '&wait=50ms' 8)"
echo "| 0s, primary only (baseline) | $r | $p50 | $p99 | $share % |"
read -r r p50 p99 share <<<"$(run_class strict '&wait=50ms' 8)"
echo "| 0s, strict_replicas, wait=50ms | $r | $p50 | $p99 | $share % |"

echo
echo "== 2. a burst of strict reads (100 connections)"
before=$(primary_probes)
started=$(date +%s.%N)
read -r r p50 p99 share <<<"$(run_class strict '&wait=50ms' 100)"
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
after=$(primary_probes)
echo "strict requests: $r/s (p50 $p50, p99 $p99, $share % by a replica)"
awk -v d="$((after - before))" -v s="$elapsed" -v cap="$rate" \
  'BEGIN { printf "primary on-demand probes: %.1f/s (cap %d)\n", d / s, cap }'
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true
commits=$(($(psql -h 127.0.0.1 -p "$base" -U app -d shop -Atc 'SELECT count(*) FROM strict_bench') - rows_before))
echo "commits on the primary during the runs: $commits; probe failures: $(grep -c 'probe failed' "$tmp/lagrouter.log" || true); autogroup $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo '?')"
