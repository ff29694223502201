#!/usr/bin/env bash
# A real HAProxy running examples/haproxy.cfg (its PostgreSQL listeners, with
# listener and check ports moved for the test) in front of the shared
# PostgreSQL cluster, checking a real lagrouter with the examples' 500 ms
# check margin: with both replicas fresh new connections reach both and not
# the primary; when this test pauses replay on one while a writer commits,
# HAProxy stops sending new connections to it within a deadline; after
# resuming, it comes back. With both replicas paused, the dashboard listener
# falls back to the primary; once they resume, a connection held open on the
# primary is cut and new ones land on replicas again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$REPO/tests/support/haproxy.sh"
PAUSED=5443 OTHER=5442  # pg-c is the replica this test pauses
export PGCONNECT_TIMEOUT=3

command -v haproxy >/dev/null || die "haproxy is not installed (apt-get install -y haproxy)"
margin=$(example_check_margin)
check "examples/lagrouter.toml sets a check_margin ($margin) for the recipe" test -n "$margin"
start_shop 1s "$margin"

haproxy_render "$REPO/examples/haproxy.cfg" "$WORK/haproxy.cfg" "$DAEMON_PORT" shop_
LB=$(haproxy_port "$WORK/haproxy.cfg" shop_dashboard)
LB_REPORTS=$(haproxy_port "$WORK/haproxy.cfg" shop_reports)
check "examples/haproxy.cfg is valid for HAProxy $(haproxy -v | head -1 | awk '{print $3}')" \
  haproxy -c -q -f "$WORK/haproxy.cfg"
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
cleanups+=("kill $HAPROXY_PID; wait $HAPROXY_PID")

# The backend port a new connection through a listener lands on ("" on failure).
land() { pg_app "$1" "SELECT inet_server_port()" 2>/dev/null; }
# all_land LISTENER PORT N: N consecutive new connections all land on PORT.
all_land() {
  local i
  for ((i = 0; i < $3; i++)); do [[ "$(land "$1")" == "$2" ]] || return 1; done
}
# reaches_both: within 12 new connections, both replicas are reached.
reaches_both() {
  local seen="" i p
  for ((i = 0; i < 12; i++)); do
    p=$(land $LB)
    seen+=" $p"
    [[ "$seen" == *" $PAUSED"* && "$seen" == *" $OTHER"* ]] && return 0
  done
  echo "  (connections landed on:$seen)"
  return 1
}
never_lands() {  # never_lands LISTENER PORT N
  local i p
  for ((i = 0; i < $3; i++)); do
    p=$(land "$1")
    [[ -n "$p" && "$p" != "$2" ]] || return 1
  done
}
# lands_on LISTENER PORT: some of 12 new connections land on PORT.
lands_on() {
  local i
  for ((i = 0; i < 12; i++)); do [[ "$(land "$1")" == "$2" ]] && return 0; done
  return 1
}

# 1. Both replicas fresh (other engineers may pause them too: wait with a deadline).
check "both replicas fresh for dashboard" wait_until 30 bash -c \
  "curl -sf '$DAEMON_URL/v1/check/shop/pg-b?class=dashboard' >/dev/null && curl -sf '$DAEMON_URL/v1/check/shop/pg-c?class=dashboard' >/dev/null"
check "new connections through HAProxy reach both replicas" wait_until 20 reaches_both
check "the dashboard listener keeps off the backup primary while replicas are fresh" \
  never_lands $LB $PG_PRIMARY 6
check "the reports listener reaches pg-c" lands_on $LB_REPORTS $PAUSED

# 2. Pause replay on pg-c while the writer commits: it must stop receiving new
#    dashboard connections (1 s class) within 10 s; reports (1 h) keep it.
t0=$(now_ms)
pause_replay $PAUSED
if wait_until 10 answers 503 "/v1/check/shop/pg-c?class=dashboard"; then
  t_check=$(now_ms)
  pass "lagrouter marks pg-c unfit for dashboard $((t_check - t0)) ms after the pause"
else
  fail "lagrouter still passes pg-c for dashboard 10 s after the pause"
fi
drained=""
deadline=$((SECONDS + 10))
while ((SECONDS < deadline)); do
  t=$(now_ms)
  if all_land $LB $OTHER 10; then drained=$((t - t0)); break; fi
done
if [[ -n "$drained" ]]; then
  pass "HAProxy sends every new dashboard connection to pg-b ${drained} ms after the pause (10 of 10)"
else
  fail "HAProxy still sends dashboard connections to pg-c 10 s after the pause"
fi
down_line=$(grep -m1 'shop_dashboard/pg-c is DOWN' "$WORK/haproxy.log")
check "HAProxy logged pg-c DOWN: ${down_line:0:110}" test -n "$down_line"
check "paused pg-c still serves reports (1 h class) through HAProxy" lands_on $LB_REPORTS $PAUSED

# 3. Resume: pg-c must come back for dashboard.
t1=$(now_ms)
resume_replay $PAUSED
if wait_until 20 lands_on $LB $PAUSED; then
  pass "pg-c receives dashboard connections again $(($(now_ms) - t1)) ms after resuming"
else
  fail "pg-c did not come back within 20 s after resuming replay"
fi

# 4. Both replicas paused: dashboard falls back to the primary (backup). A
#    session held open there (an application's pooled connection) is cut once
#    a replica passes again, and new connections land on replicas.
pause_replay $PAUSED
pause_replay $OTHER
check "with both replicas paused, new dashboard connections land on the primary" \
  wait_until 10 all_land $LB $PG_PRIMARY 3
coproc HELD { PGPASSWORD=$LAGROUTER_DB_PASSWORD psql -X -q -h 127.0.0.1 -p "$LB" -U app shop -At 2>&1; }
held_port() {  # the held session's answer to one more query ("" once it is cut)
  local line=""
  echo "SELECT inet_server_port();" >&"${HELD[1]}" 2>/dev/null || return 0
  read -t 5 -r line <&"${HELD[0]}" || true
  echo "$line"
}
check "a session held open through the dashboard listener is on the primary" \
  test "$(held_port)" == "$PG_PRIMARY"
t2=$(now_ms)
resume_replay $PAUSED
resume_replay $OTHER
cut=""
deadline=$((SECONDS + 15))
while ((SECONDS < deadline)); do
  if [[ "$(held_port)" != "$PG_PRIMARY" ]]; then cut=$(($(now_ms) - t2)); break; fi
  sleep 0.1
done
if [[ -n "$cut" ]]; then
  pass "the session held on the primary is cut ${cut} ms after the replicas resumed"
else
  fail "the session held on the primary still reads there 15 s after the replicas resumed"
fi
check "new dashboard connections land on replicas again" wait_until 10 never_lands $LB $PG_PRIMARY 6
[[ -n "${HELD_PID:-}" ]] && kill "$HELD_PID" 2>/dev/null
cp "$WORK/haproxy.log" "$ARTIFACTS/haproxy.log"
summary
