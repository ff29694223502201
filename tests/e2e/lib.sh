# Shared helpers of the end-to-end tests (sourced). Real servers: the shared
# PostgreSQL cluster of scripts/pg-cluster.sh, a real lagrouter, real clients.
# Each check prints one line; `summary` prints "N passed, M failed" and sets
# the exit code. Waits poll with deadlines; cleanup runs on every exit.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
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

# start_daemon PORT CONFIG_TEXT: runs lagrouter until the test exits.
DAEMON_URL=""
start_daemon() {
  local port=$1 config=$2
  printf '%s\n' "$config" >"$WORK/lagrouter.toml"
  "$BIN" --config "$WORK/lagrouter.toml" >"$WORK/lagrouter.log" 2>&1 &
  local pid=$!
  cleanups+=("kill $pid; wait $pid")
  DAEMON_URL="http://127.0.0.1:$port"
  wait_until 15 curl -sf "$DAEMON_URL/readyz" -o /dev/null ||
    { cat "$WORK/lagrouter.log"; die "lagrouter did not become ready on port $port"; }
  kill -0 "$pid" 2>/dev/null || die "lagrouter exited (port $port in use?)"
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

# The shop cluster of scripts/pg-cluster.sh, for test configs.
SHOP_CLUSTER='[[cluster]]
name = "shop"
engine = "postgres"
user = "lagrouter"
password_env = "LAGROUTER_DB_PASSWORD"
  [[cluster.server]]
  name = "pg-a"
  host = "127.0.0.1"
  port = 5441
  [[cluster.server]]
  name = "pg-b"
  host = "127.0.0.1"
  port = 5442
  [[cluster.server]]
  name = "pg-c"
  host = "127.0.0.1"
  port = 5443'
# answers CODE PATH: the daemon answers PATH with HTTP status CODE (for wait_until).
answers() { test "$(http_code "$2")" = "$1"; }
