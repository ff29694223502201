#!/usr/bin/env bash
# A fleet on one instance: the real probes (libpq, libmariadb) over real
# sockets against bench/wire_responder (scale_bench --wire), the machine as it
# is (autogroup left alone; the daemon in a session of its own, as systemd
# starts it). Rounds interleave the runs so a busy spell on this shared VM
# hits all of them alike:
#   1. --wire postgres and --wire mysql, 2,000 clusters x 5 servers (10,000)
#      at 250 ms: probes on time, lagrouter's CPU and RSS, CPU per probe;
#   2. the same at 200 clusters (1,000 servers);
#   3. wrk -c64 on /v1/route during the 10,000-server postgres run, and on the
#      same daemon with its probes idle (a 1 h interval): requests per second
#      and their ratio.
# Usage: bench/fleet_bench.sh [ROUNDS] [SECONDS]    (default 3 rounds, 10 s)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS=${1:-3}
SECS=${2:-10}
source "$REPO/tests/support/config.sh"
command -v wrk >/dev/null || { echo "apt-get install -y wrk" >&2; exit 2; }
BIN="$REPO/build/bin/scale_bench"
[[ -x $BIN && -x $REPO/build/bin/wire_responder ]] || { echo "build first: scripts/build.sh" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out" "$out".*' EXIT

# run NAME WRK(0|1) ARGS...: one scale_bench run; with WRK, wrk drives
# /v1/route at 64 connections once the daemon is ready.
run() {
  local name=$1 with_wrk=$2
  shift 2
  local port
  port=$(free_port)
  setsid "$BIN" --port "$port" --seconds "$SECS" "$@" >"$out.run" 2>&1 &
  local pid=$!
  local rps="-"
  if [[ $with_wrk == 1 ]]; then
    for _ in $(seq 600); do grep -q "^ready" "$out.run" && break; sleep 0.1; done
    rps=$(wrk -t2 -c64 -d"$((SECS - 1))s" "http://127.0.0.1:$port/v1/route?cluster=c123&class=dashboard" |
      awk '/Requests\/sec/ {print $2}')
  fi
  wait "$pid" || { echo "$name: scale_bench failed:" >&2; cat "$out.run" >&2; return 1; }
  local probes late cpu rss per_probe
  probes=$(sed -n 's/^probes: \([0-9]*\) of \([0-9]*\) expected.*/\1 \2/p' "$out.run" |
    awk '{printf "%.1f %%", 100 * $1 / $2}')
  late=$(sed -n 's/.*late cycles (gap > 1.5 intervals): \([0-9]*\).*/\1/p' "$out.run")
  cpu=$(sed -n 's/^cpu: \([0-9.]*\) cores.*/\1/p' "$out.run")
  rss=$(sed -n 's/.*rss: \([0-9.]*\) MB$/\1/p' "$out.run" | head -1)
  per_probe=$(sed -n 's/^cpu per probe: \([0-9.]*\) us lagrouter.*/\1/p' "$out.run")
  printf '%-34s probes %-8s late %-6s cpu %-5s rss %-6s us/probe %-6s route/s %s\n' \
    "$name" "$probes" "$late" "$cpu" "$rss" "${per_probe:--}" "$rps"
  echo "$name|$rps" >>"$out.rps"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); autogroup $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo '?')"
for round in $(seq "$ROUNDS"); do
  echo "## round $round"
  run "postgres 10,000" 0 --wire postgres --clusters 2000 --servers 5 --interval-ms 250
  run "mysql 10,000" 0 --wire mysql --clusters 2000 --servers 5 --interval-ms 250
  run "postgres 1,000" 0 --wire postgres --clusters 200 --servers 5 --interval-ms 250
  run "mysql 1,000" 0 --wire mysql --clusters 200 --servers 5 --interval-ms 250
  run "postgres 10,000 + wrk" 1 --wire postgres --clusters 2000 --servers 5 --interval-ms 250
  run "postgres 10,000 idle probes + wrk" 1 --wire postgres --clusters 2000 --servers 5 \
    --interval-ms 3600000
done
# The median of each, and the route throughput under probes against idle.
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
busy=$(grep '^postgres 10,000 + wrk|' "$out.rps" | cut -d'|' -f2 | median)
idle=$(grep '^postgres 10,000 idle probes + wrk|' "$out.rps" | cut -d'|' -f2 | median)
echo "route/s median: $busy probing 10,000 servers, $idle with the probes idle: $(awk -v b="$busy" -v i="$idle" 'BEGIN {printf "%.2f", b / i}')x"
