#!/usr/bin/env bash
# examples/read_your_writes.sh against a real lagrouter and the shared
# PostgreSQL cluster, with replay paused on pg-c: pg-c stays within the 1 h
# class, so without `after` it would be routed reads it lacks; with `after`
# every run must read its own write and never be sent to pg-c.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=6

ensure_pg_cluster
start_daemon --interval 250ms --pg shop "$PG_PRIMARY" --class inventory 0s --class hour 1h
export LAGROUTER_URL=$DAEMON_URL LAGROUTER_CLASS=hour

check "pg-c eligible for the 1 h class" wait_until 30 answers 200 "/v1/check/shop/pg-c?class=hour"
# Healthy cluster: the example runs as documented.
out=$("$REPO/examples/read_your_writes.sh" 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
check "example succeeds on a healthy cluster" test $rc -eq 0
check "example reads its own write" grep -q 'read your own write: OK' <<<"$out"
check "the follow-up read went to a replica that replayed the write" grep -Eq -- '-> pg-[bc] \(replica' <<<"$out"

pause_replay 5443
# A write after the pause is one pg-c cannot have; it stays eligible for 1 h reads.
pg_app $PG_PRIMARY "INSERT INTO orders (item) VALUES ('after-pause')" >/dev/null
check "paused pg-c still eligible for the 1 h class without 'after'" answers 200 "/v1/check/shop/pg-c?class=hour"
ok=0 on_c=0
for ((i = 0; i < RUNS; i++)); do
  out=$("$REPO/examples/read_your_writes.sh" 2>&1) && grep -q 'read your own write: OK' <<<"$out" && ok=$((ok + 1))
  grep -q -- '-> pg-c' <<<"$out" && on_c=$((on_c + 1))
done
echo "$out" | sed 's/^/    /'
check "with replay paused on pg-c, $ok of $RUNS runs read their own write" test $ok -eq $RUNS
check "no read routed to paused pg-c ($on_c of $RUNS)" test $on_c -eq 0
# Control: without after, the same class does route to pg-c (so 'after' is what kept it away).
seen_c=0
for ((i = 0; i < 10; i++)); do
  [[ $(curl -s "$DAEMON_URL/v1/route?cluster=shop&class=hour" | jq -r .server) == pg-c ]] && seen_c=1
done
check "without 'after', the 1 h class does route to paused pg-c" test $seen_c -eq 1
resume_replay 5443
summary
