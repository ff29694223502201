# Shared helpers of the end-to-end tests (sourced). Real servers: the shared
# PostgreSQL cluster of scripts/pg-cluster.sh, a real lagrouter, real clients.
# Each check prints one line; `summary` prints "N passed, M failed" and sets
# the exit code. Waits poll with deadlines; cleanup runs on every exit.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$REPO/tests/support/config.sh"
BIN="${LAGROUTER_BIN:-$REPO/build/bin/lagrouter}"
ARTIFACTS="${LAGROUTER_ARTIFACTS:-$REPO/build/test-artifacts}"
export LAGROUTER_DB_PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
PG_PRIMARY=5441
WORK="$(mktemp -d /tmp/lagrouter-e2e-XXXXXX)"
mkdir -p "$ARTIFACTS"

passed=0
failed=0
pass() { echo "PASS  $*"; passed=$((passed + 1)); }
fail() { echo "FAIL  $*"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
summary() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 && $passed -gt 0 ]]
}
die() { fail "$*"; summary; exit 1; }

# wait_until SECONDS COMMAND...: polls every 100 ms; false on timeout.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

now_ms() { date +%s%3N; }

# Superuser SQL on a PostgreSQL node by port (trusted on 127.0.0.1 in the test cluster).
pg_super() { psql -X -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atc "$2"; }
# SQL as the application user on database shop.
pg_app() { PGPASSWORD=$LAGROUTER_DB_PASSWORD psql -X -q -h 127.0.0.1 -p "$1" -U app shop -Atc "$2"; }

cleanups=()
on_exit() {
  local i
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[$i]}" >/dev/null 2>&1; done
  rm -rf "$WORK"
}
trap on_exit EXIT
trap 'exit 1' INT TERM

ensure_pg_cluster() {
  "$REPO/scripts/pg-cluster.sh" start >/dev/null 2>&1 || die "scripts/pg-cluster.sh start failed"
}

# Replay paused by this test is always resumed, whatever happens.
pause_replay() {
  pg_super "$1" "SELECT pg_wal_replay_pause()" >/dev/null
  cleanups+=("pg_super $1 'SELECT pg_wal_replay_resume()'")
}
resume_replay() { pg_super "$1" "SELECT pg_wal_replay_resume()" >/dev/null; }

# start_daemon OPTION...: runs lagrouter until the test exits, on a port free
# at run time (DAEMON_PORT, DAEMON_URL), with the config lagrouter_config
# (tests/support/config.sh) makes of the options.
DAEMON_URL=""
DAEMON_PORT=""
start_daemon() {
  DAEMON_PORT=$(free_port)
  lagrouter_config --listen "$DAEMON_PORT" "$@" >"$WORK/lagrouter.toml"
  "$BIN" --config "$WORK/lagrouter.toml" >"$WORK/lagrouter.log" 2>&1 &
  local pid=$!
  cleanups+=("kill $pid; wait $pid")
  DAEMON_URL="http://127.0.0.1:$DAEMON_PORT"
  wait_ready "$DAEMON_URL" 15 "$pid" ||
    { cat "$WORK/lagrouter.log"; die "lagrouter did not become ready on port $DAEMON_PORT"; }
  kill -0 "$pid" 2>/dev/null || die "lagrouter exited (port $DAEMON_PORT in use?)"
}

# start_shop DASHBOARD_STALENESS [CHECK_MARGIN]: the set-up of the tests that
# pause a replica while a writer commits: the cluster, a daemon probing it
# every 250 ms with classes inventory (0 s), dashboard (as given) and reports
# (1 h, fallback error), both with CHECK_MARGIN if given, and the writer.
start_shop() {
  local margin=()
  [[ -n "${2:-}" ]] && margin=(--check-margin "$2")
  ensure_pg_cluster
  start_daemon --interval 250ms --pg shop "$PG_PRIMARY" --class inventory 0s \
    --class dashboard "$1" "${margin[@]}" --class reports 1h --fallback error "${margin[@]}"
  start_writer
}

# A writer committing on the primary every 50 ms, so a paused replica falls behind.
# The loop stops by itself once the test's shell is gone (and on its stop file).
start_writer() {
  local test_pid=$$ stop="$WORK/writer.stop"
  (while [[ ! -e $stop ]] && kill -0 "$test_pid" 2>/dev/null && sleep 0.05; do
    echo "INSERT INTO orders (item) VALUES ('e2e');"
  done | PGPASSWORD=$LAGROUTER_DB_PASSWORD psql -X -q -h 127.0.0.1 -p "$PG_PRIMARY" -U app shop \
    >/dev/null 2>&1) &
  cleanups+=("touch $stop; wait $!")
}

# http_code PATH: the daemon's HTTP status for PATH.
http_code() { curl -s -o /dev/null -w '%{http_code}' "$DAEMON_URL$1"; }

# answers CODE PATH: the daemon answers PATH with HTTP status CODE (for wait_until).
answers() { test "$(http_code "$2")" = "$1"; }
