#!/usr/bin/env bash
# Scale: 200 clusters x 5 servers at 250 ms with an
# in-process simulated probe, while wrk drives /v1/route at 64 connections.
#   bench/scale_bench.sh [SECONDS]    default 30
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TO_RUN="${1:-30}"
source "$REPO/tests/support/config.sh"
PORT=$(free_port)
source "$REPO/bench/lib.sh"
autogroup_off
"$REPO/build/bin/scale_bench" --clusters 200 --servers 5 --interval-ms 250 \
  --seconds "$SECONDS_TO_RUN" --port "$PORT" >/tmp/scale_bench.$$ 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f /tmp/scale_bench.$$; autogroup_restore' EXIT
for _ in $(seq 100); do grep -q "^ready" /tmp/scale_bench.$$ && break; sleep 0.1; done
wrk -t2 -c64 -d"$((SECONDS_TO_RUN - 2))s" --latency \
  "http://127.0.0.1:$PORT/v1/route?cluster=c123&class=dashboard" |
  grep -E "Requests/sec|  50%|  99%|Socket errors|Non-2xx" || true
wait $pid
cat /tmp/scale_bench.$$
echo "($(autogroup_note))"
