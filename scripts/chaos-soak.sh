#!/usr/bin/env bash
# Chaos soak: the freshness checker for SECONDS (default 600) per engine, with
# faults injected at random, against isolated clusters (see tests/chaos/run.sh).
#   scripts/chaos-soak.sh [SECONDS [ENGINE...]]   (engines: postgres mariadb)
#   CHAOS_SOAK_ARGS="--haproxy new" scripts/chaos-soak.sh 600
#       the same through HAProxy running examples/haproxy.cfg (tests/chaos/run.sh
#       takes CHAOS_SOAK_ARGS after the engine and the seconds)
# Logs go to $CHAOS_LOG_DIR (default /tmp/lagrouter-chaos-soak); the results
# are recorded by hand in docs/reliability.md.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-600}"
engines=("${@:2}")
((${#engines[@]})) || engines=(postgres mariadb)
logs="${CHAOS_LOG_DIR:-/tmp/lagrouter-chaos-soak}"
mkdir -p "$logs"
"$REPO/scripts/build.sh" "" lagrouter freshness_checker
read -r -a run_args <<<"${CHAOS_SOAK_ARGS:-}"
status=0
for engine in "${engines[@]}"; do
  echo "=== $engine, $seconds s (log: $logs/$engine.log)"
  rc=0
  "$REPO/tests/chaos/run.sh" "$engine" "$seconds" "${run_args[@]}" >"$logs/$engine.log" 2>&1 || rc=$?
  grep -E '^(commits|reads|faults|fault could|VIOLATION|SUMMARY|RESULT)|passed,' "$logs/$engine.log" || true
  ((rc == 0)) || status=1
done
exit "$status"
