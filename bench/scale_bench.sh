#!/usr/bin/env bash
# Scale: 200 clusters x 5 servers at 250 ms with an
# in-process simulated probe, while wrk drives /v1/route at 64 connections.
#   bench/scale_bench.sh [--wire postgres|mysql] [SECONDS]    default 30
# --wire: the real probes (libpq or libmariadb, one connection per server)
# against build/bin/wire_responder, a process of its own that speaks the
# engine's wire protocol on 127.0.0.1 (s0 of every cluster on its primary
# port, the others on its replica port). scale_bench then also prints the
# failed probes, the roles and bounds the probes made of the replies, the
# responder's CPU and the CPU per probe.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WIRE=()
if [[ ${1:-} == --wire ]]; then
  WIRE=(--wire "$2")
  shift 2
fi
SECONDS_TO_RUN="${1:-30}"
source "$REPO/tests/support/config.sh"
PORT=$(free_port)
source "$REPO/bench/lib.sh"
autogroup_off
"$REPO/build/bin/scale_bench" --clusters 200 --servers 5 --interval-ms 250 \
  --seconds "$SECONDS_TO_RUN" --port "$PORT" "${WIRE[@]}" >/tmp/scale_bench.$$ 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f /tmp/scale_bench.$$; autogroup_restore' EXIT
# With --wire, opening a connection per server comes first.
for _ in $(seq 300); do grep -q "^ready" /tmp/scale_bench.$$ && break; sleep 0.1; done
wrk -t2 -c64 -d"$((SECONDS_TO_RUN - 2))s" --latency \
  "http://127.0.0.1:$PORT/v1/route?cluster=c123&class=dashboard" |
  grep -E "Requests/sec|  50%|  99%|Socket errors|Non-2xx" || true
wait $pid
cat /tmp/scale_bench.$$
echo "($(autogroup_note))"
