#!/usr/bin/env bash
# A PostgreSQL HA stack on loopback, run the way most production clusters are:
# one etcd member and Patroni 3 managing PostgreSQL 15 nodes pt1..pt4 (pt1-pt3
# start; pt4 is the member a test adds at run time). Short ttl/loop_wait, and
# master_start_timeout = 0 (a crashed leader fails over instead of being
# restarted in place), so failovers take seconds. Owned entirely by this
# script: its own ports and data directory; the shared test clusters
# (scripts/pg-cluster.sh, mariadb-cluster.sh) are never touched.
#
#   scripts/patroni-cluster.sh start            etcd + pt1..pt3; waits for a leader and 2 streaming replicas
#   scripts/patroni-cluster.sh stop             every node and etcd; nothing left running
#   scripts/patroni-cluster.sh destroy          stop, then delete the data directory
#   scripts/patroni-cluster.sh status           patronictl list
#   scripts/patroni-cluster.sh leader           the leader's member name (pt1..pt4), from Patroni
#   scripts/patroni-cluster.sh kill-leader      kill -9 the leader's postmaster; prints its name
#   scripts/patroni-cluster.sh wait-leader OLD  waits until a member other than OLD leads; prints it
#   scripts/patroni-cluster.sh switchover [TO]  patronictl switchover (to TO, or any replica)
#   scripts/patroni-cluster.sh reinit N         patronictl reinit of member ptN (a replica)
#   scripts/patroni-cluster.sh add-member N     start ptN afresh (4: the fourth member); waits until it streams
#   scripts/patroni-cluster.sh remove-member N  stop ptN's Patroni and PostgreSQL, delete its data; waits until it left /cluster
#   scripts/patroni-cluster.sh wait-streaming N waits until ptN is a streaming replica
#   scripts/patroni-cluster.sh sql N "SQL"      run SQL on ptN as the superuser (unaligned, no headers)
#   scripts/patroni-cluster.sh port N | rest-port N | env
#
# Ports: PostgreSQL BASE+N-1 (default 5481-5484), Patroni REST REST_BASE+N-1
# (8081-8084), etcd client ETCD and peer ETCD+1 (2389, 2390).
# Environment:
#   LAGROUTER_PATRONI_PG_PORT     first PostgreSQL port (default 5481)
#   LAGROUTER_PATRONI_REST_PORT   first Patroni REST port (default 8081)
#   LAGROUTER_PATRONI_ETCD_PORT   etcd client port (default 2389; the peer port is the next one)
#   LAGROUTER_RUN_DIR             parent of the data directory (default $REPO/run); data in .../patroni
#   LAGROUTER_DB_PASSWORD         password of the `lagrouter` and `app` roles (default lagrouter-demo-pw)
#   LAGROUTER_WAIT_SECONDS        deadline for each wait (default 60)
# Roles as in scripts/pg-cluster.sh: lagrouter (pg_monitor), app (owns database
# shop), postgres (superuser, trusted on loopback: test cluster only).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh" patroni-cluster
PGBIN="${LAGROUTER_PGBIN:-/usr/lib/postgresql/15/bin}"
SCOPE=lagrouter-patroni

[[ -x "$PGBIN/postgres" ]] || die "PostgreSQL 15 not found in $PGBIN (apt-get install -y postgresql-15)"
command -v patroni >/dev/null || die "patroni not found (apt-get install -y patroni)"
command -v etcd >/dev/null || die "etcd not found (apt-get install -y etcd-server)"
cluster_base_port LAGROUTER_PATRONI_PG_PORT 5481
REST_BASE="${LAGROUTER_PATRONI_REST_PORT:-8081}"
ETCD_PORT="${LAGROUTER_PATRONI_ETCD_PORT:-2389}"
[[ "$REST_BASE" =~ ^[0-9]+$ ]] || die "LAGROUTER_PATRONI_REST_PORT must be a number: $REST_BASE"
[[ "$ETCD_PORT" =~ ^[0-9]+$ ]] || die "LAGROUTER_PATRONI_ETCD_PORT must be a number: $ETCD_PORT"

# PostgreSQL refuses to run as root, so Patroni runs as postgres and the data
# lives where that user can reach it.
postgres_dir patroni
SOCK="$DIR/sock"

name() { echo "pt$1"; }
pg_port() { echo $((BASE_PORT + $1 - 1)); }
rest_port() { echo $((REST_BASE + $1 - 1)); }
config_file() { echo "$DIR/$(name "$1").yml"; }
pid_file() { echo "$DIR/$(name "$1").patroni.pid"; }
check_node() { [[ "$1" =~ ^[1-4]$ ]] || die "node must be 1-4: $1"; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
patroni_running() { alive "$(pid_file "$1")"; }
etcd_running() { alive "$DIR/etcd.pid"; }

wait_until() {  # wait_until DESCRIPTION COMMAND...
  local what=$1; shift
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${WAIT_SECONDS}s waiting for $what"
    sleep 0.2
  done
}

rest() { curl -fsS --max-time 2 "http://127.0.0.1:$(rest_port "$1")$2"; }
# GET /cluster from the first member that answers.
cluster_json() {
  local n
  for n in 1 2 3 4; do rest "$n" /cluster 2>/dev/null && return 0; done
  return 1
}
leader() { cluster_json | jq -er '.members[] | select(.role == "leader") | .name'; }
ctl() { as_pg patronictl -c "$(config_file 1)" "$@"; }

psql_node() {
  local n=$1; shift
  PGOPTIONS='-c client_min_messages=warning' as_pg /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(pg_port "$n")" -U postgres -d postgres "$@"
}

start_etcd() {
  etcd_running && return 0
  mkdir -p "$DIR/etcd"
  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  setsid etcd --name lagrouter-etcd --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "lagrouter-etcd=http://127.0.0.1:$((ETCD_PORT + 1))" \
    --enable-v2=false </dev/null >"$DIR/etcd.log" 2>&1 &
  echo $! >"$DIR/etcd.pid"
  wait_until "etcd to answer" curl -fsS --max-time 1 "http://127.0.0.1:$ETCD_PORT/health"
}

write_config() {  # write_config N
  local n=$1
  cat >"$(config_file "$n")" <<YML
scope: $SCOPE
namespace: /lagrouter/
name: $(name "$n")
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$(rest_port "$n")
  connect_address: 127.0.0.1:$(rest_port "$n")
etcd3:
  hosts: 127.0.0.1:$ETCD_PORT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1073741824
    master_start_timeout: 0
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 60
  initdb:
  - encoding: UTF8
  - auth-local: trust
  pg_hba:
  - local all all trust
  - host all postgres 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
  - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:$(pg_port "$n")
  connect_address: 127.0.0.1:$(pg_port "$n")
  data_dir: $DIR/$(name "$n")
  bin_dir: $PGBIN
  pgpass: $DIR/$(name "$n").pgpass
  authentication:
    superuser: {username: postgres, password: postgres-pw}
    replication: {username: postgres, password: postgres-pw}
    rewind: {username: postgres, password: postgres-pw}
  parameters:
    unix_socket_directories: $SOCK
    cluster_name: $(name "$n")
    shared_buffers: 32MB
    fsync: "off"
    wal_receiver_status_interval: 1s
    wal_retrieve_retry_interval: 500ms
    log_line_prefix: '%m [%p] %u@%d '
  basebackup:
  - checkpoint: fast
YML
  [[ "$(id -u)" == 0 ]] && chown postgres: "$(config_file "$n")"
  chmod 0600 "$(config_file "$n")"
}

start_patroni() {  # start_patroni N
  local n=$1
  patroni_running "$n" && return 0
  write_config "$n"
  log "starting $(name "$n"): postgres 127.0.0.1:$(pg_port "$n"), REST 127.0.0.1:$(rest_port "$n")"
  # The pid file holds Patroni's own pid (not runuser's), so stop signals it.
  # shellcheck disable=SC2016  # expanded by the inner sh
  as_pg setsid sh -c 'echo $$ >"$1"; exec patroni "$2"' sh "$(pid_file "$n")" "$(config_file "$n")" \
    </dev/null >>"$DIR/$(name "$n").log" 2>&1 &
  wait_until "$(name "$n")'s pid file" test -s "$(pid_file "$n")"
}

stop_patroni() {  # stop_patroni N: Patroni stops its PostgreSQL, then exits
  local n=$1 pid
  patroni_running "$n" || return 0
  pid="$(cat "$(pid_file "$n")")"
  # A stopped (SIGSTOP) postmaster would never shut down: wake it first.
  local pm
  pm="$(head -1 "$DIR/$(name "$n")/postmaster.pid" 2>/dev/null || true)"
  if [[ -n "$pm" ]]; then kill -CONT "$pm" 2>/dev/null || true; fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + WAIT_SECONDS))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  # Patroni normally stops PostgreSQL; make sure after a kill.
  if [[ -f "$DIR/$(name "$n")/postmaster.pid" ]]; then
    as_pg "$PGBIN/pg_ctl" -D "$DIR/$(name "$n")" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -f "$(pid_file "$n")"
}

member_state() {  # member_state N: "role state" of ptN in /cluster
  cluster_json | jq -er --arg n "$(name "$1")" '.members[] | select(.name == $n) | "\(.role) \(.state)"'
}
is_streaming() {  # ptN is a replica that streams from the leader
  local n=$1 leader_name
  leader_name="$(leader)" || return 1
  [[ "$leader_name" != "$(name "$n")" ]] || return 1
  local l=${leader_name#pt}
  [[ "$(psql_node "$l" -Atc "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$(name "$n")' AND state = 'streaming'")" == 1 ]]
}
absent() { ! cluster_json | jq -e --arg n "$(name "$1")" '.members[] | select(.name == $n)' >/dev/null; }

create_roles() {
  local l; l="$(leader)"; l=${l#pt}
  psql_node "$l" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lagrouter') THEN CREATE ROLE lagrouter LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app LOGIN; END IF;
END \$\$;
ALTER ROLE lagrouter PASSWORD '$PASSWORD' NOSUPERUSER;
GRANT pg_monitor TO lagrouter;
ALTER ROLE app PASSWORD '$PASSWORD';
SELECT 'CREATE DATABASE shop OWNER app' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'shop')
\gexec
SQL
  PGOPTIONS='-c client_min_messages=warning' PGPASSWORD="$PASSWORD" /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(pg_port "$l")" -U app -d shop \
    -c "CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, item text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())" \
    -c "CREATE TABLE IF NOT EXISTS seq (id bigint PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT now())"
}

cmd_start() {
  mkdir -p "$SOCK"
  [[ "$(id -u)" == 0 ]] && chown postgres: "$SOCK"
  start_etcd
  # The first node bootstraps alone, so it is the first leader.
  start_patroni 1
  wait_until "a leader" leader
  create_roles
  start_patroni 2
  start_patroni 3
  for n in 1 2 3; do
    [[ "$(leader)" == "$(name "$n")" ]] || wait_until "$(name "$n") to stream" is_streaming "$n"
  done
  cmd_status
}

cmd_stop() {
  local n
  # Replicas first, so the leader does not fail over to a node that is stopping.
  local l; l="$(leader 2>/dev/null || true)"
  for n in 4 3 2 1; do [[ "$(name "$n")" == "$l" ]] || stop_patroni "$n"; done
  for n in 4 3 2 1; do stop_patroni "$n"; done
  if etcd_running; then
    kill -TERM "$(cat "$DIR/etcd.pid")" 2>/dev/null || true
    wait_until "etcd to stop" bash -c "! kill -0 $(cat "$DIR/etcd.pid") 2>/dev/null"
  fi
  rm -f "$DIR/etcd.pid"
  log "stopped"
}

cmd_status() {
  ctl list 2>/dev/null || cluster_json | jq -r '.members[] | "\(.name) \(.host):\(.port) \(.role) \(.state)"'
}

cmd_kill_leader() {
  local l; l="$(leader)" || die "no leader"
  local pm; pm="$(head -1 "$DIR/$l/postmaster.pid")"
  [[ "$pm" =~ ^[0-9]+$ ]] || die "no postmaster pid for $l"
  kill -KILL "$pm"
  echo "$l"
}

cmd_wait_leader() {  # wait-leader OLD
  local old=$1
  new_leader() { local l; l="$(leader)" && [[ "$l" != "$old" ]]; }
  wait_until "a leader other than $old" new_leader
  leader
}

cmd_switchover() {  # switchover [TO]
  local l; l="$(leader)" || die "no leader"
  local args=(switchover --force --leader "$l")
  [[ -n "${1:-}" ]] && args+=(--candidate "$1")
  ctl "${args[@]}" "$SCOPE" >/dev/null
  cmd_wait_leader "$l"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  destroy) cmd_stop; rm -rf "$DIR" ;;
  status) cmd_status ;;
  leader) leader ;;
  kill-leader) cmd_kill_leader ;;
  wait-leader) [[ -n "${2:-}" ]] || die "usage: wait-leader OLD"; cmd_wait_leader "$2" ;;
  switchover) cmd_switchover "${2:-}" ;;
  reinit) check_node "${2:-}"; ctl reinit --force "$SCOPE" "$(name "$2")" >/dev/null ;;
  add-member)
    # A new member: no data left from an earlier life (it would be on an old timeline).
    check_node "${2:-}"
    patroni_running "$2" || rm -rf "${DIR:?}/$(name "$2")"
    start_patroni "$2"
    wait_until "$(name "$2") to stream" is_streaming "$2" ;;
  remove-member)
    check_node "${2:-}"; stop_patroni "$2"; rm -rf "${DIR:?}/$(name "$2")"
    wait_until "$(name "$2") to leave /cluster" absent "$2" ;;
  wait-streaming) check_node "${2:-}"; wait_until "$(name "$2") to stream" is_streaming "$2" ;;
  member-state) check_node "${2:-}"; member_state "$2" ;;
  sql) check_node "${2:-}"; psql_node "$2" -Atc "$3" ;;
  port) check_node "${2:-}"; pg_port "$2" ;;
  rest-port) check_node "${2:-}"; rest_port "$2" ;;
  env)
    echo "PATRONI_PG_PORTS=$(pg_port 1),$(pg_port 2),$(pg_port 3),$(pg_port 4)"
    echo "PATRONI_REST_URLS=http://127.0.0.1:$(rest_port 1),http://127.0.0.1:$(rest_port 2),http://127.0.0.1:$(rest_port 3)"
    echo "PATRONI_DIR=$DIR" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
