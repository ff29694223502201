#!/usr/bin/env bash
# Instructions and heap allocations per HttpApi::Handle() of GET /v1/route
# (bench/handle_bench.cc), counted by callgrind: repeatable on a loaded
# machine, unlike wall time. Two runs, N=0 and N calls: the difference is
# the calls alone, set-up excluded.
#   bench/handle_cost.sh [CALLS]   default 20000; needs the build and valgrind
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLS="${1:-20000}"
BENCH="$REPO/build/bin/handle_bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() {  # ir N -> total instructions of a run of N calls
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out.$1" "$BENCH" "$1" >"$tmp/stdout.$1" 2>"$tmp/log.$1"
  awk '/^summary:/ {print $2}' "$tmp/out.$1"
}
base=$(ir 0)
total=$(ir "$CALLS")
allocations=$(sed -n 's/.*allocations\/call=\([0-9.]*\).*/\1/p' "$tmp/stdout.$CALLS")
awk -v b="$base" -v t="$total" -v n="$CALLS" -v a="$allocations" \
  'BEGIN { printf "instructions/call=%.0f allocations/call=%s (N=%d)\n", (t - b) / n, a, n }'
# The costliest functions of the calls, inclusive, for where to look next.
if [[ -n "${HANDLE_COST_PROFILE:-}" ]]; then
  callgrind_annotate --inclusive=yes "$tmp/out.$CALLS" | head -40
fi
