#!/usr/bin/env bash
# The freshness checker across Patroni's own automatic failovers: kill -9 of
# the leader's postmaster, Patroni promotes a replica, the old leader rejoins
# (pg_rewind), again and again. lagrouter discovers the members from Patroni
# (scripts/patroni-cluster.sh: PostgreSQL 5481-5484, REST 8081-8084, etcd
# 2389; the daemon on a free port).
#
#   tests/chaos/patroni.sh FAILOVERS [--haproxy lagrouter|patroni] [-- CHECKER_ARGS]
#
# CHECKER_ARGS go to the freshness checker, e.g. `--faults
# patroni_failover,stall_replay --min-faults 10` (replay stuck on a replica
# between failovers; FAILOVERS still counts failovers only), or
# `--session-readers 4 --wait 50ms` (sessions across failovers: none may go
# back except across commits a failover lost, reported apart).
#
# Readers ask /v1/route (default), or connect through HAProxy:
#   --haproxy lagrouter  examples/haproxy.cfg's class listeners (checks: /v1/check)
#   --haproxy patroni    the same listeners checked by Patroni's REST API,
#                        GET /replica?lag=1MB (examples/haproxy-patroni.cfg):
#                        measured, not failed on (lag in bytes bounds no time)
# Passes when FAILOVERS automatic failovers happened, no read was older than
# its class (reads that missed only commits the failover lost are reported
# apart), no 0s route named a demoted leader, and (route path) every
# failover was routed within one probe interval (50 ms) plus 100 ms of the
# promotion being visible on the new leader; with session readers, no session
# went back and none read off replicas (or failed) for longer than the
# longest failover plus 5 s.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$REPO/tests/support/config.sh"
source "$REPO/tests/support/haproxy.sh"

usage() { echo "usage: tests/chaos/patroni.sh FAILOVERS [--haproxy lagrouter|patroni] [-- CHECKER_ARGS]" >&2; exit 2; }
failovers="${1:-}"
shift || usage
[[ "$failovers" =~ ^[1-9][0-9]*$ ]] || usage
haproxy_mode=""
extra=()
while (($#)); do
  case $1 in
    --haproxy) haproxy_mode=${2:-}; shift 2 || usage ;;
    --) shift; extra=("$@"); break ;;
    *) usage ;;
  esac
done
[[ -z "$haproxy_mode" || "$haproxy_mode" =~ ^(lagrouter|patroni)$ ]] || usage

export LAGROUTER_DB_PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
BIN="${LAGROUTER_BIN:-$REPO/build/bin/lagrouter}"
CHECKER="${FRESHNESS_CHECKER:-$REPO/build/bin/freshness_checker}"
PATRONI="$REPO/scripts/patroni-cluster.sh"
for f in "$BIN" "$CHECKER"; do
  [[ -x "$f" ]] || { echo "chaos: $f not built (scripts/build.sh)" >&2; exit 2; }
done
"$PATRONI" start >/dev/null
eval "$("$PATRONI" env)"
base=$("$PATRONI" port 1)

work="$(mktemp -d /tmp/lagrouter-chaos-patroni-XXXXXX)"
daemon_pid="" haproxy_pid=""
passed=0 failed=0
check() {  # check DESCRIPTION RESULT(0 = pass)
  if [[ "$2" == 0 ]]; then passed=$((passed + 1)); echo "chaos: PASS $1"; else failed=$((failed + 1)); echo "chaos: FAIL $1"; fi
}
teardown() {  # (wait returns the killed process's status: never let errexit stop this)
  if [[ -n "$haproxy_pid" ]]; then kill "$haproxy_pid" 2>/dev/null || true; wait "$haproxy_pid" 2>/dev/null || true; fi
  if [[ -n "$daemon_pid" ]]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap teardown EXIT

daemon_port=$(free_port)
config_args=(--engine postgres --base-port "$base" --daemon-port "$daemon_port" --patroni-urls "$PATRONI_REST_URLS")
[[ $haproxy_mode == lagrouter ]] && config_args+=(--check-margin "$(example_check_margin)")
# CHECKER_ARGS shape the config too (--strict-readers adds a strict 0s class).
"$CHECKER" --print-config "${config_args[@]}" "${extra[@]}" >"$work/lagrouter.toml"
"$BIN" --config "$work/lagrouter.toml" >"$work/lagrouter.log" 2>&1 &
daemon_pid=$!
ready=0
wait_ready "http://127.0.0.1:$daemon_port" 30 "$daemon_pid" || ready=1
check "lagrouter ready on port $daemon_port, members from Patroni" "$ready"

args=(--engine postgres --script "$PATRONI" --base-port "$base" --daemon-port "$daemon_port"
  --patroni-urls "$PATRONI_REST_URLS" --faults patroni_failover --min-faults "$failovers"
  --seconds 20 --readers "${CHAOS_READERS:-4}")
[[ -n "${CHAOS_SEED:-}" ]] && args+=(--seed "$CHAOS_SEED")
if [[ -n "$haproxy_mode" ]]; then
  src="$REPO/examples/haproxy.cfg"
  [[ $haproxy_mode == patroni ]] && src="$REPO/examples/haproxy-patroni.cfg"
  # examples/haproxy.cfg names the demo's pg-a..pg-c: lagrouter's names here are Patroni's.
  haproxy_render "$src" "$work/haproxy.cfg" "$daemon_port" shop_ \
    "s/pg-a/pt1/g" "s/pg-b/pt2/g" "s/pg-c/pt3/g" \
    "s/127\.0\.0\.1:5441\b/127.0.0.1:$base/" "s/127\.0\.0\.1:5442\b/127.0.0.1:$((base + 1))/" \
    "s/127\.0\.0\.1:5443\b/127.0.0.1:$((base + 2))/" \
    "s/class=dashboard/class=c1s/" "s/class=reports/class=c10s/" "s/class=inventory/class=primary/"
  haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  c1s=$(haproxy_port "$work/haproxy.cfg" shop_dashboard)
  c10s=$(haproxy_port "$work/haproxy.cfg" shop_reports)
  up=1
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$c1s") 2>/dev/null; then up=0; break; fi
    sleep 0.1
  done
  check "HAProxy ($haproxy_mode checks) listening on $c1s (c1s) and $c10s (c10s)" "$up"
  args+=(--path listen --listen "c1s=$c1s" --listen "c10s=$c10s")
fi

start=$SECONDS
rc=0
"$CHECKER" "${args[@]}" "${extra[@]}" | tee "$work/checker.out" || rc=${PIPESTATUS[0]}
echo "chaos: checker ran $((SECONDS - start)) s"
if [[ $haproxy_mode == patroni ]]; then
  check "HAProxy with Patroni's checks measured (exit $rc: 0 no violation, 1 violations)" "$([[ $rc == 0 || $rc == 1 ]]; echo $?)"
else
  check "no read older than its class across Patroni's failovers (exit $rc, want 0)" "$rc"
fi
n=$(sed -n 's/^faults: .*patroni_failover=\([0-9]*\).*/\1/p' "$work/checker.out")
check "$failovers automatic failovers (got ${n:-0})" "$([[ ${n:-0} -ge $failovers ]]; echo $?)"
check "no 0s route named a demoted leader" "$(grep -q '^0s routes naming a demoted leader: 0$' "$work/checker.out"; echo $?)"
if [[ -z "$haproxy_mode" ]]; then
  worst=$(sed -n 's/.*promoted -> routed ms: p50 [0-9]* max \([0-9]*\);.*/\1/p' "$work/checker.out")
  check "every failover routed within 50 ms + 100 ms of the promotion (worst ${worst:-?} ms)" \
    "$([[ -n "$worst" && $worst -le 150 ]]; echo $?)"
  # Sessions (--session-readers) are never wedged by a failover: none reads
  # off replicas, or not at all, for longer than the longest failover (kill ->
  # routed) plus 5 s for the replicas to stream from the new leader.
  off=$(sed -n 's/^SUMMARY path=session .*longest_off_replica_ms=\([0-9]*\).*/\1/p' "$work/checker.out")
  if [[ -n "$off" ]]; then
    failover=$(sed -n 's/.*kill -> routed ms: p50 [0-9]* max \([0-9]*\).*/\1/p' "$work/checker.out")
    err=$(sed -n 's/^SUMMARY path=session .*longest_error_ms=\([0-9]*\).*/\1/p' "$work/checker.out")
    check "no session off replicas or failing longer than a failover + 5 s (off ${off} ms, failing ${err:-?} ms, failover ${failover:-?} ms)" \
      "$([[ -n "$failover" && -n "$err" && $off -le $((failover + 5000)) && $err -le $((failover + 5000)) ]]; echo $?)"
  fi
fi
alive=1
kill -0 "$daemon_pid" 2>/dev/null && alive=0
check "lagrouter survived the failovers" "$alive"
if ((failed > 0)) || [[ "${CHAOS_KEEP_LOGS:-0}" == 1 ]]; then
  echo "--- lagrouter log (last 40 lines)"
  tail -n 40 "$work/lagrouter.log"
fi
teardown
trap - EXIT
left=1
for p in "$daemon_port" ${c1s:-} ${c10s:-}; do
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && left=0
done
check "nothing left listening on $daemon_port${c1s:+, HAProxy $c1s, $c10s}" "$((1 - left))"
echo "$passed passed, $failed failed"
((failed == 0))
