#!/usr/bin/env bash
# The lagrouter demo: a PostgreSQL primary with two replicas and a MariaDB
# primary with two replicas on loopback, lagrouter watching both, and a small
# workload that writes continuously and now and then pauses replay on one
# replica, so you can watch routing change. Ctrl-C tears everything down.
#   LAGROUTER_DEMO_SECONDS=N scripts/demo.sh   stop by itself after N seconds
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export LAGROUTER_DB_PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
URL=http://127.0.0.1:8432

scripts/install-deps.sh
scripts/build.sh

pids=()
stop_clusters=()  # only those this demo started
# A cluster already answering on its first port was started by someone else.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open "${LAGROUTER_PG_BASE_PORT:-5441}" || stop_clusters+=(pg)
port_open "${LAGROUTER_MYSQL_BASE_PORT:-3407}" || stop_clusters+=(mariadb)
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: tearing down"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg-cluster.sh sql 1 "SELECT pg_wal_replay_resume()" >/dev/null 2>&1 || true
  scripts/mariadb-cluster.sh sql 1 "START REPLICA SQL_THREAD" >/dev/null 2>&1 || true
  for c in "${stop_clusters[@]}"; do "scripts/$c-cluster.sh" stop || true; done
}
trap cleanup EXIT
trap 'exit 0' INT TERM

scripts/pg-cluster.sh start
scripts/mariadb-cluster.sh start

build/bin/lagrouter --config examples/demo.toml --check
build/bin/lagrouter --config examples/demo.toml >run/lagrouter-demo.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/readyz" >/dev/null || { cat run/lagrouter-demo.log; echo "demo: lagrouter did not become ready" >&2; exit 1; }

# Workload: one INSERT every 50 ms on each primary, over one connection each.
(while sleep 0.05; do echo "INSERT INTO orders (item) VALUES ('demo');"; done |
  PGPASSWORD=$LAGROUTER_DB_PASSWORD psql -X -q -h 127.0.0.1 -p 5441 -U app shop >/dev/null 2>&1) &
pids+=($!)
(while sleep 0.05; do echo "INSERT INTO orders (item) VALUES ('demo');"; done |
  mariadb -h 127.0.0.1 -P 3407 -u app -p"$LAGROUTER_DB_PASSWORD" shop >/dev/null 2>&1) &
pids+=($!)
# Every 30 s: pause replay on pg-b and stop the SQL thread on db-1 for 10 s.
(while sleep 20; do
  scripts/pg-cluster.sh sql 1 "SELECT pg_wal_replay_pause()" >/dev/null
  scripts/mariadb-cluster.sh sql 1 "STOP REPLICA SQL_THREAD" >/dev/null
  sleep 10
  scripts/pg-cluster.sh sql 1 "SELECT pg_wal_replay_resume()" >/dev/null
  scripts/mariadb-cluster.sh sql 1 "START REPLICA SQL_THREAD" >/dev/null
done) &
pids+=($!)

cat <<TXT

lagrouter is running on $URL (log: run/lagrouter-demo.log).
Open the live status page: $URL/
Try:
  build/bin/lagrouter status --url $URL
  examples/read_your_writes.sh
  curl -s '$URL/v1/route?cluster=shop&class=dashboard'
  curl -s '$URL/v1/route?cluster=shop&class=inventory'
  curl -s '$URL/v1/route?cluster=billing&class=reports'
  curl -s '$URL/v1/status' | jq .
  curl -s '$URL/metrics' | grep lagrouter_replica_lag_seconds
Every 30 s, replay pauses for 10 s on pg-b and db-1: watch them leave the
5 s class once their bound passes 5 s, and come back. Ctrl-C stops everything.

TXT
end=$((SECONDS + ${LAGROUTER_DEMO_SECONDS:-1000000000}))
while ((SECONDS < end)); do
  line=$(date +%T)
  for c in shop billing; do
    for k in dashboard reports; do
      a=$(curl -s "$URL/v1/route?cluster=$c&class=$k")
      line+=$(jq -r --arg c "$c" --arg k "$k" '"  \($c)/\($k): \(.server // .error) \(if .staleness_bound_ms then "(\(.staleness_bound_ms) ms)" else "" end)"' <<<"$a")
    done
  done
  echo "$line"
  sleep 2
done
