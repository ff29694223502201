#!/usr/bin/env bash
# Chaos run: starts an isolated cluster and a lagrouter daemon, runs the
# freshness checker while it injects faults, and tears everything down.
#
#   tests/chaos/run.sh postgres|mariadb SECONDS [--naive | --client | --haproxy new|old |
#                      --pgpool strict|defaults] [-- CHECKER_ARGS]
#
# Isolated from the shared test clusters: data in $CHAOS_RUN_DIR (default
# /tmp/lagrouter-chaos; never the shared clusters' $LAGROUTER_RUN_DIR, since
# a chaos run deletes and recreates its data), PostgreSQL on 5461-5463,
# MariaDB on 3461-3463 (or from $CHAOS_PG_BASE_PORT / $CHAOS_MYSQL_BASE_PORT),
# the daemon on a port found free at start. Readers ask /v1/route, except:
#   --naive        readers bypass lagrouter and read the first replica: the run
#                  passes only when the checker finds violations.
#   --client       readers read through the Python client (clients/python,
#                  cache on; tests/chaos/client_reader.py), with read-your-writes
#                  rounds: no violation, no read-your-writes miss.
#   --haproxy new  readers connect through HAProxy running examples/haproxy.cfg
#                  (its listeners for this engine, addresses changed only) with
#                  the check_margin of examples/lagrouter.toml: no violation.
#   --haproxy old  the recipe shipped before check_margin
#                  (tests/chaos/haproxy-old-recipe.cfg, PostgreSQL): the run
#                  passes only when the checker finds violations.
#   --pgpool MODE  readers connect through Pgpool-II (bench/pgpool.sh, PostgreSQL)
#                  for side-by-side measurements: violations are reported, not
#                  failed on.
#   With --haproxy new: CHAOS_HAPROXY_CFG runs another recipe file in its place
#                  (e.g. tests/chaos/haproxy-500ms-recipe.cfg, the recipe shipped
#                  before issue 25), CHAOS_CHECK_MARGIN another check_margin, and
#                  CHAOS_HAPROXY_CLASS another class on the dashboard listener
#                  (default c1s; e.g. c5s; with --pgpool, the class read beside
#                  c10s).
# CHECKER_ARGS go to the freshness checker (e.g. --faults pause_replay,
# --ryw-readers 2 --wait 50ms, --interval 250ms --classes c50ms;
# --session-readers 4 [--no-session-token]: sessions that must never go back;
# --strict-readers 2 [--strict-wait 50ms]: a 0s class with strict_replicas,
# which the daemon's config gets from them).
# Prints "N passed, M failed" last.
#
# Environment: LAGROUTER_BIN, FRESHNESS_CHECKER (default build/bin/...),
# CHAOS_READERS (default 4), CHAOS_SEED, CHAOS_KEEP_LOGS=1 (print the daemon log).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$REPO/tests/support/config.sh"
source "$REPO/tests/support/haproxy.sh"

usage() {
  echo "usage: tests/chaos/run.sh postgres|mariadb SECONDS [--naive | --client | --haproxy new|old | --pgpool strict|defaults] [-- CHECKER_ARGS]" >&2
  exit 2
}
engine="${1:-}"
seconds="${2:-}"
shift 2 || usage
path=route  # route | naive | client | haproxy | pgpool
recipe=""
pgpool_mode=""
extra=()
while (($#)); do
  case $1 in
    --naive) path=naive; shift ;;
    --client) path=client; shift ;;
    --haproxy) path=haproxy; recipe=${2:-}; shift 2 || usage ;;
    --pgpool) path=pgpool; pgpool_mode=${2:-}; shift 2 || usage ;;
    --) shift; extra=("$@"); break ;;
    *) usage ;;
  esac
done
if [[ ! "$engine" =~ ^(postgres|mariadb)$ || ! "$seconds" =~ ^[0-9]+$ ||
  ($path == haproxy && ! "$recipe" =~ ^(new|old)$) ||
  ($recipe == old && $engine != postgres) ||
  ($path == pgpool && (! "$pgpool_mode" =~ ^(strict|defaults)$ || $engine != postgres)) ]]; then
  usage
fi
# Runs that must be caught: the checker must find violations (exit 1);
# Pgpool-II is measured, either way.
expect_violations=0
[[ $path == naive || $recipe == old ]] && expect_violations=1
[[ $path == pgpool ]] && expect_violations=either

export LAGROUTER_RUN_DIR="${CHAOS_RUN_DIR:-/tmp/lagrouter-chaos}"
export LAGROUTER_PG_BASE_PORT="${CHAOS_PG_BASE_PORT:-5461}"
export LAGROUTER_MYSQL_BASE_PORT="${CHAOS_MYSQL_BASE_PORT:-3461}"
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
haproxy_pid=""
pgpool_dir=""
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
  if [[ -n "$haproxy_pid" ]]; then
    kill "$haproxy_pid" 2>/dev/null || true
    wait "$haproxy_pid" 2>/dev/null || true
  fi
  if [[ -n "$pgpool_dir" ]]; then "$REPO/bench/pgpool.sh" stop "$pgpool_dir" >/dev/null 2>&1 || true; fi
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
# The new HAProxy recipe needs the check margin the example config sets.
config_args=(--engine "$engine" --base-port "$base" --daemon-port "$daemon_port")
if [[ $recipe == new ]]; then
  margin=${CHAOS_CHECK_MARGIN:-$(example_check_margin)}
  [[ -n "$margin" ]] || { echo "chaos: no check_margin in examples/lagrouter.toml" >&2; exit 2; }
  config_args+=(--check-margin "$margin")
fi
# CHECKER_ARGS shape the config too (--interval).
"$CHECKER" --print-config "${config_args[@]}" "${extra[@]}" >"$work/lagrouter.toml"

"$BIN" --config "$work/lagrouter.toml" >"$work/lagrouter.log" 2>&1 &
daemon_pid=$!
ready=0
wait_ready "http://127.0.0.1:$daemon_port" 30 "$daemon_pid" || ready=1
check "lagrouter ready on port $daemon_port" "$ready"

args=(--engine "$engine" --script "$script" --base-port "$base" --daemon-port "$daemon_port"
  --seconds "$seconds" --readers "${CHAOS_READERS:-4}")
[[ -n "${CHAOS_SEED:-}" ]] && args+=(--seed "$CHAOS_SEED")
[[ $path == naive ]] && args+=(--path naive)
[[ $path == client ]] && args+=(--path client --client-reader "$REPO/tests/chaos/client_reader.py")
# The class read through the first listener (HAProxy's dashboard, Pgpool-II's port).
dash_class=${CHAOS_HAPROXY_CLASS:-c1s}
if [[ $path == haproxy && $ready == 0 ]]; then
  # The shipped recipe, for this engine's cluster: only addresses and names change.
  if [[ $engine == postgres ]]; then
    src="${CHAOS_HAPROXY_CFG:-$REPO/examples/haproxy.cfg}" prefix=shop_ first=5441
    [[ $recipe == old ]] && src="$REPO/tests/chaos/haproxy-old-recipe.cfg"
  else
    src="${CHAOS_HAPROXY_CFG:-$REPO/examples/haproxy.cfg}" prefix=billing_ first=3407
  fi
  haproxy_render "$src" "$work/haproxy.cfg" "$daemon_port" "$prefix" \
    "s|/v1/check/billing/|/v1/check/shop/|" \
    "s/127\.0\.0\.1:$first\b/127.0.0.1:$base/" \
    "s/127\.0\.0\.1:$((first + 1))\b/127.0.0.1:$((base + 1))/" \
    "s/127\.0\.0\.1:$((first + 2))\b/127.0.0.1:$((base + 2))/" \
    "s/class=dashboard/class=$dash_class/" "s/class=reports/class=c10s/" "s/class=inventory/class=primary/"
  haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  dashboard=$(haproxy_port "$work/haproxy.cfg" "${prefix}dashboard")
  reports=$(haproxy_port "$work/haproxy.cfg" "${prefix}reports")
  up=1
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$dashboard") 2>/dev/null; then up=0; break; fi
    sleep 0.1
  done
  check "HAProxy ($recipe recipe) listening on $dashboard ($dash_class) and $reports (c10s)" "$up"
  ((up == 0)) || ready=1
  args+=(--path listen --listen "$dash_class=$dashboard" --listen "c10s=$reports")
fi

if [[ $path == pgpool && $ready == 0 ]]; then
  pgpool_dir="$work/pgpool"
  pgpool_port=$(free_port)
  up=0
  "$REPO/bench/pgpool.sh" start "$base" "$pgpool_port" "$pgpool_dir" "$pgpool_mode" || up=1
  check "Pgpool-II ($pgpool_mode) listening on $pgpool_port" "$up"
  ((up == 0)) || ready=1
  args+=(--path listen --listen "$dash_class=$pgpool_port" --listen "c10s=$pgpool_port")
fi

if ((ready == 0)); then
  rc=0
  "$CHECKER" "${args[@]}" "${extra[@]}" || rc=$?
  if [[ $expect_violations == either ]]; then
    check "$path ($pgpool_mode) measured (exit $rc: 0 no violation, 1 violations)" \
      "$([[ $rc == 0 || $rc == 1 ]]; echo $?)"
  elif ((expect_violations)); then
    # Exit 1 means violations were found: this path must be caught.
    check "$path${recipe:+ ($recipe recipe)} is caught by the checker (exit $rc, want 1)" \
      "$([[ $rc == 1 ]]; echo $?)"
  else
    check "no read staler than its class ($engine, $path${recipe:+ $recipe recipe}, exit $rc, want 0)" "$rc"
  fi
  alive=1
  kill -0 "$daemon_pid" 2>/dev/null && alive=0
  check "lagrouter survived the faults" "$alive"
fi
if [[ "${CHAOS_KEEP_LOGS:-0}" == 1 || $failed -gt 0 ]]; then
  echo "--- lagrouter log (last 40 lines)"
  tail -n 40 "$work/lagrouter.log" || true
  if [[ -n "$haproxy_pid" ]]; then
    echo "--- HAProxy log (server state changes, last 30)"
    grep -E ' is (UP|DOWN)' "$work/haproxy.log" | tail -n 30 || true
  fi
fi

teardown
trap - EXIT
left=0
for i in 0 1 2; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null; then left=1; fi
done
ports="$daemon_port${dashboard:+, HAProxy $dashboard}"
for p in $daemon_port ${dashboard:-}; do
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && left=1
done
check "nothing left running on ports $base-$((base + 2)), $ports" "$left"
echo "$passed passed, $failed failed"
((failed == 0))
