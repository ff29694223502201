#!/usr/bin/env bash
# The application's edge, side by side: the freshness checker reads as an
# application through each path, under the same faults (same seed, same
# readers), and one table compares them:
#   direct to the primary; /v1/route then direct; HAProxy with lagrouter's
#   check (the recipe shipped before check_margin; the 500 ms-margin recipe
#   shipped before issue 25, tests/chaos/haproxy-500ms-recipe.cfg; and
#   examples/haproxy.cfg); Pgpool-II (Debian's pgpool2) at sr_check_period = 1,
#   delay_threshold = 1 and at its defaults.
#   bench/edge_bench.sh [SECONDS] [SEED]     default 60 s per path, seed 1313
# Environment: EDGE_BENCH_CLASS (the tight class, default c1s; c5s),
# EDGE_BENCH_INTERVAL (lagrouter's probe interval, default 250ms, its own
# default), EDGE_BENCH_FAULTS (default below).
# PostgreSQL (Pgpool-II is PostgreSQL only). Faults: replay paused, replication
# stopped, a replica SIGSTOPped, a replica killed and restarted; no failover,
# which Pgpool-II would follow only with a failover script of its own. Readers
# read in a 1 s (EDGE_BENCH_CLASS) and a 10 s class (HAProxy: a listener each; Pgpool-II: one
# port for both, as it knows no classes). Prints a markdown table; each run's
# log is kept in $EDGE_BENCH_LOGS (default /tmp/lagrouter-edge-bench).
# Needs: the build (scripts/build.sh), haproxy, pgpool2 (apt-get install -y
# pgpool2). The machine is left as it is (autogroup on): these are the
# latencies an application sees on it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_PATH="${1:-60}"
SEED="${2:-1313}"
LOGS="${EDGE_BENCH_LOGS:-/tmp/lagrouter-edge-bench}"
FAULTS="${EDGE_BENCH_FAULTS:-pause_replay,stop_replication,hang_replica,kill_replica}"
CLASS="${EDGE_BENCH_CLASS:-c1s}"
INTERVAL="${EDGE_BENCH_INTERVAL:-250ms}"
command -v haproxy >/dev/null || { echo "apt-get install -y haproxy" >&2; exit 2; }
command -v pgpool >/dev/null || [[ -x /usr/sbin/pgpool ]] || {
  echo "apt-get install -y pgpool2" >&2
  exit 2
}
mkdir -p "$LOGS"

# name|run.sh arguments before "--"|checker arguments|recipe (500ms: the recipe
# shipped before issue 25, run with its 500 ms margin)
paths=(
  "direct to the primary||--path primary --classes $CLASS,c10s|"
  "/v1/route, then direct||--classes $CLASS,c10s|"
  "HAProxy + /v1/check, old recipe (inter 500ms, no margin)|--haproxy old||"
  "HAProxy + /v1/check, 500 ms margin, 100 ms checks (haproxy-500ms-recipe.cfg)|--haproxy new||500ms"
  "HAProxy + /v1/check, examples/haproxy.cfg (200 ms margin, 50 ms checks)|--haproxy new||"
  "Pgpool-II 4.3, sr_check_period = 1, delay_threshold = 1 byte|--pgpool strict||"
  "Pgpool-II 4.3, defaults|--pgpool defaults||"
)
rows=()
for entry in "${paths[@]}"; do
  IFS='|' read -r name run_args checker_args recipe <<<"$entry"
  log="$LOGS/$CLASS-$(echo "$name" | tr -c 'a-zA-Z0-9' '_' | tr -s _).log"
  recipe_env=()
  [[ $recipe == 500ms ]] &&
    recipe_env=(CHAOS_HAPROXY_CFG="$REPO/tests/chaos/haproxy-500ms-recipe.cfg" CHAOS_CHECK_MARGIN=500ms)
  echo "edge-bench: $name ($SECONDS_PER_PATH s, seed $SEED, $CLASS) -> $log" >&2
  # shellcheck disable=SC2086  # the arguments are words
  env "${recipe_env[@]}" CHAOS_SEED="$SEED" CHAOS_HAPROXY_CLASS="$CLASS" \
    "$REPO/tests/chaos/run.sh" postgres "$SECONDS_PER_PATH" $run_args \
    -- --interval "$INTERVAL" --faults "$FAULTS" $checker_args >"$log" 2>&1 || true
  summary=$(grep '^SUMMARY ' "$log" | tail -1)
  if [[ -z "$summary" ]]; then
    rows+=("| $name | (no result: see $log) | | | | | | | |")
    continue
  fi
  declare -A v=()
  for kv in ${summary#SUMMARY }; do v[${kv%%=*}]=${kv#*=}; done
  faults=$(sed -n 's/^faults: //p' "$log" | tail -1)
  excess="—"
  ((v[violations] > 0)) && excess="${v[worst_excess_ms]} ms"
  cls=$(awk -v c="$CLASS" '$1 == "reads" && $2 == c {
    for (i = 3; i <= NF; i++) { split($i, kv, "="); n[kv[1]] = kv[2] }
    t = n["replica"] + n["primary"]; if (t) printf "%.1f %%", 100 * n["replica"] / t }' "$log")
  rows+=("| $name | ${faults// /, } | ${v[reads]} | ${v[violations]} | $excess | ${v[replica_share]} % | $cls | ${v[read_errors]} | $(awk "BEGIN{printf \"%.2f / %.2f\", ${v[p50_us]}/1000, ${v[p99_us]}/1000}") |")
  unset v
done

echo
echo "PostgreSQL, $SECONDS_PER_PATH s per path, seed $SEED, 4 readers, classes $CLASS and c10s, probes every $INTERVAL, faults: ${FAULTS//,/, }"
echo
echo "| path | faults injected | reads | older than the class allows | worst excess | reads on replicas | $CLASS reads on replicas | read errors | choose + read, p50 / p99 (ms) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
