#!/usr/bin/env bash
# lagrouter stopped in the middle of a chaos run through examples/haproxy.cfg:
# how long until HAProxy takes every server out (fail closed), and whether any
# read was older than its class.
#   bench/haproxy_failclosed.sh postgres|mariadb KILL|STOP [SEED]
# A 45 s run of tests/chaos/run.sh ENGINE 45 --haproxy new (1 s class, 250 ms
# probes, replay pauses, SIGSTOP and SIGKILL of replicas); about 25 s after its
# start lagrouter gets SIGKILL (restarted 3 s later, as a supervisor would) or
# SIGSTOP (resumed 3 s later). Prints each HAProxy DOWN (and, after a restart,
# UP) with its delay after the signal, then the run's result. Uses the chaos
# run's environment (CHAOS_RUN_DIR, CHAOS_PG_BASE_PORT, ...).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engine=${1:?engine} sig=${2:?KILL or STOP} seed=${3:-1313}
BIN="${LAGROUTER_BIN:-$REPO/build/bin/lagrouter}"
out=$(mktemp -d /tmp/lagrouter-failclosed-XXXXXX)
start=$(date +%s)
CHAOS_SEED=$seed "$REPO/tests/chaos/run.sh" "$engine" 45 --haproxy new -- --interval 250ms \
  --faults pause_replay,pause_replay,hang_replica,kill_replica >"$out/run.log" 2>&1 &
runpid=$!
dir=""
for _ in $(seq 600); do
  for d in $(ls -td /tmp/lagrouter-chaos-run-* 2>/dev/null); do
    if [[ $(stat -c %Y "$d") -ge $start && -f $d/haproxy.log && -f $d/lagrouter.toml ]] &&
      pgrep -f "lagrouter --config $d/lagrouter.toml" >/dev/null; then
      dir=$d
      break 2
    fi
  done
  sleep 0.1
done
[[ -n $dir ]] || { echo "no chaos run found" >&2; exit 1; }
tail -n +1 -F "$dir/haproxy.log" 2>/dev/null | while IFS= read -r l; do echo "$(date +%s.%N) $l"; done >"$out/haproxy.ts" &
tailpid=$!
sleep 25
lpid=$(pgrep -f "lagrouter --config $dir/lagrouter.toml")
t0=$(date +%s.%N)
kill -"$sig" "$lpid"
sleep 3
npid=""
if [[ $sig == STOP ]]; then
  kill -CONT "$lpid"
else
  LAGROUTER_DB_PASSWORD=${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw} \
    "$BIN" --config "$dir/lagrouter.toml" >"$out/lagrouter-restarted.log" 2>&1 &
  npid=$!
  echo "lagrouter restarted $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b - a}') s after the signal"
fi
sleep 5
awk -v t0="$t0" '/^[0-9.]+ (Backup )?Server .* is (DOWN|UP)/ && $1 > t0 {
  line = substr($0, index($0, $2)); sub(/, reason.*|\. [0-9]+ active.*/, "", line)
  printf "%.3f s after the signal: %s\n", $1 - t0, line }' "$out/haproxy.ts"
if [[ -n $npid ]]; then
  port=$(sed -n 's/^address *= *"[^:]*:\([0-9]*\)".*/\1/p' "$dir/lagrouter.toml" | head -1)
  while pgrep -f "freshness_checker.*--daemon-port $port " >/dev/null; do sleep 0.2; done
  kill "$npid"
fi
wait "$runpid" || true
kill "$tailpid" 2>/dev/null || true
grep -E '^(reads|SUMMARY|RESULT)' "$out/run.log" || true
echo "logs: $out"
