#!/usr/bin/env bash
# Chaos run: starts an isolated cluster and a lagrouter daemon, runs the
# freshness checker while it injects faults, and tears everything down.
#
#   tests/chaos/run.sh postgres|mariadb SECONDS [--naive]
#
# Isolated from the shared test clusters: data in $LAGROUTER_RUN_DIR (default
# /tmp/lagrouter-chaos), PostgreSQL on 5461-5463, MariaDB on 3461-3463, the
# daemon on a port found free at start. With --naive the readers bypass
# lagrouter and read the first replica: the run passes only when the checker
# finds violations. Prints "N passed, M failed" last.
#
# Environment: LAGROUTER_BIN, FRESHNESS_CHECKER (default build/bin/...),
# CHAOS_READERS (default 4), CHAOS_SEED, CHAOS_KEEP_LOGS=1 (print the daemon log).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$REPO/tests/support/config.sh"

engine="${1:-}"
seconds="${2:-}"
naive=0
[[ "${3:-}" == --naive ]] && naive=1
if [[ ! "$engine" =~ ^(postgres|mariadb)$ || ! "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: tests/chaos/run.sh postgres|mariadb SECONDS [--naive]" >&2
  exit 2
fi

export LAGROUTER_RUN_DIR="${LAGROUTER_RUN_DIR:-/tmp/lagrouter-chaos}"
export LAGROUTER_PG_BASE_PORT=5461
export LAGROUTER_MYSQL_BASE_PORT=3461
export LAGROUTER_DB_PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
BIN="${LAGROUTER_BIN:-$REPO/build/bin/lagrouter}"
CHECKER="${FRESHNESS_CHECKER:-$REPO/build/bin/freshness_checker}"
for f in "$BIN" "$CHECKER"; do
  [[ -x "$f" ]] || { echo "chaos: $f not built (scripts/build.sh)" >&2; exit 2; }
done

if [[ "$engine" == postgres ]]; then
  script="$REPO/scripts/pg-cluster.sh"
  base=$LAGROUTER_PG_BASE_PORT
else
  script="$REPO/scripts/mariadb-cluster.sh"
  base=$LAGROUTER_MYSQL_BASE_PORT
fi

work="$(mktemp -d /tmp/lagrouter-chaos-run-XXXXXX)"
daemon_pid=""
passed=0
failed=0
check() {  # check DESCRIPTION RESULT(0 = pass)
  if [[ "$2" == 0 ]]; then
    passed=$((passed + 1))
    echo "chaos: PASS $1"
  else
    failed=$((failed + 1))
    echo "chaos: FAIL $1"
  fi
}

teardown() {
  if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  "$script" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap teardown EXIT

if [[ "$engine" == postgres ]]; then
  # A failover leaves pg-a a standby, which pg-cluster.sh's start does not
  # expect: every run starts from a fresh PostgreSQL cluster (a few seconds).
  "$script" stop >/dev/null 2>&1 || true
  pgdir="$("$script" env | sed -n 's/.*LAGROUTER_PG_DIR=//p')"
  [[ "$pgdir" == */pg || "$pgdir" == /var/tmp/lagrouter-pg-* ]] && rm -rf "$pgdir"
fi
echo "chaos: starting the $engine cluster in $LAGROUTER_RUN_DIR (ports $base-$((base + 2)))"
"$script" start

daemon_port=$(free_port)
# The checker knows the classes it reads in: it writes the daemon's config.
"$CHECKER" --print-config --engine "$engine" --base-port "$base" --daemon-port "$daemon_port" \
  >"$work/lagrouter.toml"

"$BIN" --config "$work/lagrouter.toml" >"$work/lagrouter.log" 2>&1 &
daemon_pid=$!
ready=0
wait_ready "http://127.0.0.1:$daemon_port" 30 "$daemon_pid" || ready=1
check "lagrouter ready on port $daemon_port" "$ready"

if ((ready == 0)); then
  args=(--engine "$engine" --script "$script" --base-port "$base" --daemon-port "$daemon_port"
    --seconds "$seconds" --readers "${CHAOS_READERS:-4}")
  [[ -n "${CHAOS_SEED:-}" ]] && args+=(--seed "$CHAOS_SEED")
  ((naive)) && args+=(--naive)
  rc=0
  "$CHECKER" "${args[@]}" || rc=$?
  if ((naive)); then
    # The naive router must be caught: exit 1 means violations were found.
    check "naive routing is caught by the checker (exit $rc, want 1)" "$([[ $rc == 1 ]]; echo $?)"
  else
    check "no read staler than its class ($engine, exit $rc, want 0)" "$rc"
  fi
  alive=1
  kill -0 "$daemon_pid" 2>/dev/null && alive=0
  check "lagrouter survived the faults" "$alive"
fi
if [[ "${CHAOS_KEEP_LOGS:-0}" == 1 || $failed -gt 0 ]]; then
  echo "--- lagrouter log (last 40 lines)"
  tail -n 40 "$work/lagrouter.log" || true
fi

teardown
trap - EXIT
left=0
for i in 0 1 2; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null; then left=1; fi
done
(exec 3<>"/dev/tcp/127.0.0.1/$daemon_port") 2>/dev/null && left=1
check "nothing left running on ports $base-$((base + 2)), $daemon_port" "$left"
echo "$passed passed, $failed failed"
((failed == 0))
