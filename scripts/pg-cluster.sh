#!/usr/bin/env bash
# A local PostgreSQL 15 cluster for the demo and the integration tests: one
# primary and two streaming replicas on 127.0.0.1, owned entirely by this script.
#
#   scripts/pg-cluster.sh start          init (first time) and start; idempotent
#   scripts/pg-cluster.sh stop           stop every node; nothing left running
#   scripts/pg-cluster.sh status         one line per node
#   scripts/pg-cluster.sh sql N "SQL"    run SQL on node N as the superuser (unaligned, no headers)
#   scripts/pg-cluster.sh stop-node N    stop node N (fast shutdown)
#   scripts/pg-cluster.sh start-node N   start node N again
#   scripts/pg-cluster.sh promote N      promote replica N to a primary (pg_promote)
#   scripts/pg-cluster.sh reclone N      make node N a fresh replica of pg-a again (new base backup)
#   scripts/pg-cluster.sh port N | env
#
# Nodes 0, 1, 2 are pg-a (primary), pg-b and pg-c (replicas of pg-a), on ports
# BASE+N (default 5441, 5442, 5443). Each replica's cluster_name is its node
# name, so the primary's pg_stat_replication shows it as application_name.
#
# Environment:
#   LAGROUTER_PG_BASE_PORT   first port (default 5441)
#   LAGROUTER_RUN_DIR        parent of the data directory (default $REPO/run); data in .../pg
#   LAGROUTER_DB_PASSWORD    password of the `lagrouter` and `app` roles (default lagrouter-demo-pw)
#   LAGROUTER_WAIT_SECONDS   deadline for each wait (default 60)
#
# Roles:
#   lagrouter  monitoring only: LOGIN, member of pg_monitor (not a superuser)
#   app        owner of database `shop` (table orders), for writes in tests and the demo
#   postgres   superuser, trusted on the socket and on 127.0.0.1 (test cluster only)
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh" pg-cluster
PGBIN="${LAGROUTER_PGBIN:-/usr/lib/postgresql/15/bin}"
NAMES=(pg-a pg-b pg-c)

[[ -x "$PGBIN/postgres" ]] || die "PostgreSQL 15 not found in $PGBIN (apt-get install -y postgresql-15)"
cluster_base_port LAGROUTER_PG_BASE_PORT 5441

# PostgreSQL refuses to run as root: the data lives where the postgres user
# can reach it. The repository may sit under a directory it cannot traverse.
postgres_dir pg
SOCK="$DIR/sock"

data() { echo "$DIR/${NAMES[$1]}"; }
running() { as_pg "$PGBIN/pg_ctl" -D "$(data "$1")" status >/dev/null 2>&1; }
psql_node() {
  local n=$1; shift
  PGOPTIONS='-c client_min_messages=warning' as_pg /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$(port "$n")" -U postgres -d postgres "$@"
}

wait_until() {  # wait_until DESCRIPTION COMMAND...
  local what=$1; shift
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${WAIT_SECONDS}s waiting for $what"
    sleep 0.1
  done
}

write_conf() {  # write_conf N
  local n=$1
  cat >>"$(data "$n")/postgresql.conf" <<CONF

# --- lagrouter test cluster ---
port = $(port "$n")
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
cluster_name = '${NAMES[$n]}'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 500ms
max_connections = 60
shared_buffers = 32MB
fsync = off
full_page_writes = off
log_line_prefix = '%m [%p] %u@%d '
logging_collector = off
CONF
}

init_primary() {
  local d; d="$(data 0)"
  log "initialising ${NAMES[0]} in $d"
  as_pg "$PGBIN/initdb" -D "$d" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --no-sync >/dev/null
  write_conf 0
  cat >"$d/pg_hba.conf" <<HBA
# Test cluster only: the superuser and replication are trusted on loopback.
local   all          all                       trust
host    all          postgres   127.0.0.1/32   trust
host    replication  postgres   127.0.0.1/32   trust
host    all          all        127.0.0.1/32   scram-sha-256
HBA
}

init_replica() {  # init_replica N
  local n=$1 d; d="$(data "$n")"
  log "cloning ${NAMES[$n]} from ${NAMES[0]}"
  as_pg "$PGBIN/pg_basebackup" -D "$d" -h 127.0.0.1 -p "$(port 0)" -U postgres -R \
    --checkpoint=fast --no-sync --wal-method=stream
  # The clone copied pg-a's settings; the last setting of a name wins.
  write_conf "$n"
}

start_node() {  # start_node N
  local n=$1
  running "$n" && return 0
  as_pg "$PGBIN/pg_ctl" -D "$(data "$n")" -l "$DIR/${NAMES[$n]}.log" -w -t "$WAIT_SECONDS" \
    start >/dev/null || die "${NAMES[$n]} did not start; see $DIR/${NAMES[$n]}.log"
}

stop_node() {  # stop_node N
  local n=$1
  [[ -f "$(data "$n")/PG_VERSION" ]] || return 0
  # A stopped (SIGSTOP) server would never shut down: wake it first.
  local pid
  pid="$(head -1 "$(data "$n")/postmaster.pid" 2>/dev/null || true)"
  if [[ -n "$pid" ]]; then
    kill -CONT "$pid" 2>/dev/null || true
    pkill -CONT -P "$pid" 2>/dev/null || true
  fi
  running "$n" || return 0
  as_pg "$PGBIN/pg_ctl" -D "$(data "$n")" -m fast -w -t "$WAIT_SECONDS" stop >/dev/null ||
    as_pg "$PGBIN/pg_ctl" -D "$(data "$n")" -m immediate -w stop >/dev/null || true
}

create_roles() {
  psql_node 0 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lagrouter') THEN
    CREATE ROLE lagrouter LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN
    CREATE ROLE app LOGIN;
  END IF;
END \$\$;
ALTER ROLE lagrouter PASSWORD '$PASSWORD' NOSUPERUSER;
GRANT pg_monitor TO lagrouter;
ALTER ROLE app PASSWORD '$PASSWORD';
SELECT 'CREATE DATABASE shop OWNER app' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'shop')
\gexec
SQL
  PGOPTIONS='-c client_min_messages=warning' PGPASSWORD="$PASSWORD" /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port 0)" -U app -d shop \
    -c "CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, item text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())" \
    -c "CREATE TABLE IF NOT EXISTS seq (id bigint PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT now())"
}

streaming() {  # streaming N: replica N streams from the primary
  [[ "$(psql_node 0 -Atc "SELECT count(*) FROM pg_stat_replication WHERE application_name = '${NAMES[$1]}' AND state = 'streaming'")" == 1 ]]
}

cmd_start() {
  mkdir -p "$SOCK"
  [[ "$(id -u)" == 0 ]] && chown postgres: "$SOCK"
  [[ -f "$(data 0)/PG_VERSION" ]] || init_primary
  start_node 0
  create_roles
  for n in 1 2; do
    [[ -f "$(data "$n")/PG_VERSION" ]] || init_replica "$n"
    start_node "$n"
  done
  for n in 1 2; do wait_until "${NAMES[$n]} to stream from ${NAMES[0]}" streaming "$n"; done
  cmd_status
}

cmd_stop() {
  for n in 2 1 0; do stop_node "$n"; done
  log "stopped"
}

cmd_status() {
  for n in 0 1 2; do
    if running "$n"; then
      local role
      role="$(psql_node "$n" -Atc "SELECT CASE WHEN pg_is_in_recovery() THEN 'replica' ELSE 'primary' END" 2>/dev/null || echo "?")"
      echo "${NAMES[$n]} 127.0.0.1:$(port "$n") running $role"
    else
      echo "${NAMES[$n]} 127.0.0.1:$(port "$n") stopped"
    fi
  done
}

cmd_promote() {  # promote N
  psql_node "$1" -Atc "SELECT pg_promote(true, $WAIT_SECONDS)" >/dev/null
}

cmd_reclone() {  # reclone N: discard node N's data and clone it from pg-a
  local n=$1
  [[ "$n" != 0 ]] || die "pg-a is the source of every clone"
  stop_node "$n"
  rm -rf "$(data "$n")"
  init_replica "$n"
  start_node "$n"
  wait_until "${NAMES[$n]} to stream from ${NAMES[0]}" streaming "$n"
}

node_arg() {
  [[ "${1:-}" =~ ^[012]$ ]] || die "node must be 0, 1 or 2 (got '${1:-}')"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  sql) node_arg "${2:-}"; psql_node "$2" -At -c "$3" ;;
  stop-node) node_arg "${2:-}"; stop_node "$2" ;;
  start-node) node_arg "${2:-}"; start_node "$2" ;;
  promote) node_arg "${2:-}"; cmd_promote "$2" ;;
  reclone) node_arg "${2:-}"; cmd_reclone "$2" ;;
  port) node_arg "${2:-}"; port "$2" ;;
  env) echo "LAGROUTER_PG_PORTS=$(port 0),$(port 1),$(port 2) LAGROUTER_PG_DIR=$DIR" ;;
  *) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
