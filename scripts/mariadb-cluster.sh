#!/usr/bin/env bash
# A local MariaDB cluster for development and integration tests: one primary and
# two GTID replicas on 127.0.0.1, owned entirely by this script.
#
#   scripts/mariadb-cluster.sh start            init (first time) and start; idempotent
#   scripts/mariadb-cluster.sh stop             shut every node down, nothing left running
#   scripts/mariadb-cluster.sh reset            stop and delete all data (next start is fresh)
#   scripts/mariadb-cluster.sh status           one line per node
#   scripts/mariadb-cluster.sh sql N "SQL" [client args...]
#                                               run SQL on node N as root (batch, no headers)
#   scripts/mariadb-cluster.sh promote N        make node N the writable primary
#   scripts/mariadb-cluster.sh repoint N M      make node N a read-only replica of node M
#   scripts/mariadb-cluster.sh port N | socket N | env
#
# Nodes are numbered 0, 1, 2 and listen on BASE+N (default 3407, 3408, 3409).
# Node 0 starts as the primary; node 1 is "replica 1" and node 2 is "replica 2".
#
# Environment:
#   LAGROUTER_MYSQL_BASE_PORT  first port (default 3407)
#   LAGROUTER_RUN_DIR          parent of the data directory (default $REPO/run);
#                              data lives in $LAGROUTER_RUN_DIR/mariadb
#   LAGROUTER_DB_PASSWORD      password of the `lagrouter`, `app` and `repl` users
#                              (default lagrouter-demo-pw)
#   LAGROUTER_WAIT_SECONDS     deadline for each wait (default 60)
#
# Users (created once on the first primary, replicated to the others):
#   lagrouter  monitoring only: REPLICA MONITOR (SHOW REPLICA STATUS) and
#              BINLOG MONITOR; system variables such as @@gtid_binlog_pos need
#              no privilege at all.
#   app        ALL on database `shop` (table shop.orders), for tests that write.
#   repl       REPLICATION SLAVE, used by the replicas.
#   root       socket only (unix_socket/normal auth, no password), used by this script.
#
# Failover by hand (what `promote 2` and `repoint 1 2` / `repoint 0 2` run):
#   old primary:  SET GLOBAL read_only=ON;                         -- fence writes
#   new primary:  SELECT MASTER_GTID_WAIT('<old gtid_binlog_pos>', 10);
#                 STOP REPLICA; RESET REPLICA ALL; SET GLOBAL read_only=OFF;
#   other nodes:  STOP REPLICA;
#                 SET GLOBAL gtid_slave_pos=@@gtid_binlog_pos;      -- only if it was a primary
#                 CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=<new port>,
#                   MASTER_USER='repl', MASTER_PASSWORD='...', MASTER_USE_GTID=slave_pos;
#                 START REPLICA; SET GLOBAL read_only=ON;
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh" mariadb-cluster
DIR="$RUN_DIR/mariadb"
NODES=(0 1 2)

for tool in mariadbd mariadb mariadb-install-db mariadb-admin; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] ||
    die "$tool not found (apt-get install -y mariadb-server mariadb-client)"
done
MARIADBD="$(command -v mariadbd || echo /usr/sbin/mariadbd)"

cluster_base_port LAGROUTER_MYSQL_BASE_PORT 3407

node_dir() { echo "$DIR/n$1"; }
sock() { echo "$(node_dir "$1")/mariadbd.sock"; }
pidfile() { echo "$(node_dir "$1")/mariadbd.pid"; }
role_file() { echo "$(node_dir "$1")/role"; }

check_node() {
  [[ "${1:-}" =~ ^[0-2]$ ]] || die "node must be 0, 1 or 2 (got '${1:-}')"
}

# Quotes a string as an SQL literal.
sql_quote() { printf "'%s'" "$(printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/''/g")"; }

pid_of() {
  local f; f="$(pidfile "$1")"
  [[ -s "$f" ]] || return 1
  local pid; pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Only ever signal our own server, never a recycled pid.
  grep -q mariadbd "/proc/$pid/comm" 2>/dev/null || return 1
  echo "$pid"
}

# Root over the node's own socket; the connect timeout keeps a hung server from
# hanging the script.
q() {
  local n="$1"; shift
  mariadb --no-defaults --socket="$(sock "$n")" -uroot --connect-timeout=5 \
    --batch --skip-column-names "$@"
}

answers() { q "$1" -e "SELECT 1" >/dev/null 2>&1; }

# wait_for DESCRIPTION COMMAND...: polls until COMMAND succeeds or the deadline;
# COMMAND exiting with 2 means "will never succeed" and stops the wait at once.
wait_for() {
  local what="$1"; shift
  local deadline=$((SECONDS + WAIT_SECONDS)) rc
  while true; do
    rc=0; "$@" || rc=$?
    ((rc == 0)) && return 0
    if ((rc == 2)); then
      log "gave up waiting for $what"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${WAIT_SECONDS}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

write_config() {
  local n="$1" d; d="$(node_dir "$n")"
  local role=replica
  [[ -s "$(role_file "$n")" ]] && role="$(cat "$(role_file "$n")")"
  local ro=ON
  [[ "$role" == primary ]] && ro=OFF
  cat >"$d/my.cnf" <<EOF
# Written by scripts/mariadb-cluster.sh on every start; edit the script instead.
[mariadbd]
user = root
datadir = $d/data
socket = $d/mariadbd.sock
pid-file = $d/mariadbd.pid
log-error = $d/error.log
port = $(port "$n")
bind-address = 127.0.0.1
skip-name-resolve
server-id = $((n + 1))
log-bin = $d/data/binlog
binlog-format = ROW
gtid-strict-mode = ON
log-slave-updates = ON
read-only = $ro
# A dead primary is noticed in seconds, not the default minute.
slave-net-timeout = 10
# Small footprint: this is a test cluster.
innodb-buffer-pool-size = 64M
innodb-log-file-size = 32M
performance-schema = OFF
max-connections = 100
EOF
}

install_node() {
  local n="$1" d; d="$(node_dir "$n")"
  [[ -d "$d/data/mysql" ]] && return 0
  mkdir -p "$d"
  rm -rf "$d/data"
  log "installing node $n in $d/data"
  if ! mariadb-install-db --no-defaults --datadir="$d/data" --user=root \
      --auth-root-authentication-method=normal --skip-test-db \
      >"$d/install.log" 2>&1; then
    rm -rf "$d/data"
    die "mariadb-install-db failed for node $n; see $d/install.log"
  fi
  [[ "$n" == 0 ]] && echo primary >"$(role_file "$n")" || echo replica >"$(role_file "$n")"
}

start_node() {
  local n="$1" d; d="$(node_dir "$n")"
  if pid_of "$n" >/dev/null; then
    if answers "$n"; then return 0; fi
    die "node $n (pid $(pid_of "$n")) runs but does not answer (SIGSTOPped?); try: $0 stop"
  fi
  # A port taken by something else is an error to report, not to fight over.
  if (exec 3<>"/dev/tcp/127.0.0.1/$(port "$n")") 2>/dev/null; then
    die "port $(port "$n") is in use by another process; set LAGROUTER_MYSQL_BASE_PORT"
  fi
  write_config "$n"
  rm -f "$(sock "$n")" "$(pidfile "$n")"
  log "starting node $n on 127.0.0.1:$(port "$n")"
  setsid "$MARIADBD" --defaults-file="$d/my.cnf" </dev/null >>"$d/stdout.log" 2>&1 &
  local started=$!
  node_up() {
    kill -0 "$started" 2>/dev/null || return 2
    answers "$1"
  }
  if ! wait_for "node $n to answer" node_up "$n"; then
    tail -n 20 "$d/error.log" >&2 || true
    die "node $n did not start; see $d/error.log"
  fi
}

replica_running() {
  local st; st="$(q "$1" --column-names -e "SHOW REPLICA STATUS\\G" 2>/dev/null)" || return 1
  grep -q "Slave_IO_Running: Yes" <<<"$st" && grep -q "Slave_SQL_Running: Yes" <<<"$st"
}

# True when node $1 has applied everything node $2 has written.
caught_up() {
  local want
  want="$(q "$2" -e "SELECT @@gtid_binlog_pos" 2>/dev/null)" || return 1
  [[ "$(q "$1" -e "SELECT MASTER_GTID_WAIT($(sql_quote "$want"), 0)" 2>/dev/null)" == 0 ]]
}

change_master() {
  local n="$1" m="$2"
  q "$n" -e "STOP REPLICA;
    CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$(port "$m"),
      MASTER_USER='repl', MASTER_PASSWORD=$(sql_quote "$PASSWORD"),
      MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos;
    START REPLICA;"
}

setup_primary() {
  local pw; pw="$(sql_quote "$PASSWORD")"
  log "creating users and database shop on node 0"
  # Root without a password stays reachable over the socket only.
  q 0 -e "
    DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1',
      'root'@$(sql_quote "$(hostname)");
    CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY $pw;
    GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
    CREATE USER IF NOT EXISTS 'lagrouter'@'127.0.0.1' IDENTIFIED BY $pw;
    CREATE USER IF NOT EXISTS 'lagrouter'@'localhost' IDENTIFIED BY $pw;
    GRANT REPLICA MONITOR, BINLOG MONITOR ON *.* TO 'lagrouter'@'127.0.0.1';
    GRANT REPLICA MONITOR, BINLOG MONITOR ON *.* TO 'lagrouter'@'localhost';
    CREATE DATABASE IF NOT EXISTS shop;
    CREATE TABLE IF NOT EXISTS shop.orders (
      id BIGINT AUTO_INCREMENT PRIMARY KEY,
      item VARCHAR(64) NOT NULL,
      qty INT NOT NULL DEFAULT 1,
      created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ENGINE=InnoDB;
    CREATE USER IF NOT EXISTS 'app'@'127.0.0.1' IDENTIFIED BY $pw;
    CREATE USER IF NOT EXISTS 'app'@'localhost' IDENTIFIED BY $pw;
    GRANT ALL ON shop.* TO 'app'@'127.0.0.1';
    GRANT ALL ON shop.* TO 'app'@'localhost';"
}

cmd_start() {
  mkdir -p "$DIR"
  local fresh=0
  [[ -f "$DIR/.initialized" ]] || fresh=1
  for n in "${NODES[@]}"; do install_node "$n"; done
  for n in "${NODES[@]}"; do start_node "$n"; done
  if ((fresh)); then
    setup_primary
    # Replicas start from an empty gtid_slave_pos and replay the primary's whole
    # binlog, users and schema included.
    for n in 1 2; do change_master "$n" 0; done
  fi
  # Replication settings survive restarts (master.info); wait for every replica
  # of the current topology to run and catch up with its source.
  local primary=""
  for n in "${NODES[@]}"; do
    if [[ "$(cat "$(role_file "$n")")" == primary ]]; then primary="$n"; fi
  done
  for n in "${NODES[@]}"; do
    [[ "$(cat "$(role_file "$n")")" == replica ]] || continue
    wait_for "replication on node $n" replica_running "$n" || {
      q "$n" --column-names -e "SHOW REPLICA STATUS\\G" >&2 || true
      die "replication on node $n is not running"
    }
    if [[ -n "$primary" ]]; then
      wait_for "node $n to catch up with node $primary" caught_up "$n" "$primary" ||
        die "node $n did not catch up with node $primary"
    fi
  done
  touch "$DIR/.initialized"
  cmd_status
}

stop_node() {
  local n="$1" pid
  pid="$(pid_of "$n")" || { rm -f "$(sock "$n")"; return 0; }
  # A SIGSTOPped server (hung-server tests) must be resumed to shut down.
  kill -CONT "$pid" 2>/dev/null || true
  log "stopping node $n (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  gone() { ! kill -0 "$1" 2>/dev/null; }
  if ! WAIT_SECONDS=30 wait_for "node $n to exit" gone "$pid"; then
    log "node $n did not exit after SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for "node $n to die" gone "$pid" || die "cannot kill node $n (pid $pid)"
  fi
  rm -f "$(sock "$n")" "$(pidfile "$n")"
}

cmd_stop() {
  local n
  for n in "${NODES[@]}"; do stop_node "$n"; done
}

cmd_status() {
  local n pid
  for n in "${NODES[@]}"; do
    if ! pid="$(pid_of "$n")"; then
      printf 'node %s  127.0.0.1:%s  down\n' "$n" "$(port "$n")"
      continue
    fi
    if ! answers "$n"; then
      printf 'node %s  127.0.0.1:%s  pid %s  not answering\n' "$n" "$(port "$n")" "$pid"
      continue
    fi
    local info st io sqlt src
    info="$(q "$n" -e "SELECT IF(@@read_only, 'read-only', 'writable'), @@gtid_binlog_pos,
        @@gtid_slave_pos" | tr '\t' ' ')"
    st="$(q "$n" --column-names -e "SHOW REPLICA STATUS\\G")"
    if [[ -n "$st" ]]; then
      io="$(sed -n 's/^ *Slave_IO_Running: //p' <<<"$st")"
      sqlt="$(sed -n 's/^ *Slave_SQL_Running: //p' <<<"$st")"
      src="$(sed -n 's/^ *Master_Port: //p' <<<"$st")"
      printf 'node %s  127.0.0.1:%s  pid %s  replica of :%s io=%s sql=%s  %s\n' \
        "$n" "$(port "$n")" "$pid" "$src" "$io" "$sqlt" "$info"
    else
      printf 'node %s  127.0.0.1:%s  pid %s  no replication  %s\n' \
        "$n" "$(port "$n")" "$pid" "$info"
    fi
  done
}

cmd_sql() {
  local n="${1:-}"; check_node "$n"; shift
  [[ $# -ge 1 ]] || die "usage: $0 sql N \"SQL\" [client args...]"
  local sql="$1"; shift
  pid_of "$n" >/dev/null || die "node $n is not running"
  q "$n" "$@" -e "$sql"
}

cmd_promote() {
  local n="${1:-}"; check_node "$n"
  answers "$n" || die "node $n does not answer"
  local m
  # Fence every other writable node first, and let node n apply what they wrote.
  for m in "${NODES[@]}"; do
    [[ "$m" == "$n" ]] && continue
    answers "$m" || { log "node $m does not answer; not fencing it"; continue; }
    if [[ "$(q "$m" -e "SELECT @@read_only")" == 0 ]]; then
      log "making node $m read-only"
      q "$m" -e "SET GLOBAL read_only=ON"
      local pos; pos="$(q "$m" -e "SELECT @@gtid_binlog_pos")"
      if [[ "$(q "$n" -e "SELECT MASTER_GTID_WAIT($(sql_quote "$pos"), 10)")" != 0 ]]; then
        log "warning: node $n has not applied $pos of node $m within 10s; promoting anyway"
      fi
    fi
    echo replica >"$(role_file "$m")"
  done
  log "promoting node $n"
  q "$n" -e "STOP REPLICA; RESET REPLICA ALL; SET GLOBAL read_only=OFF;"
  echo primary >"$(role_file "$n")"
}

cmd_repoint() {
  local n="${1:-}" m="${2:-}"; check_node "$n"; check_node "$m"
  [[ "$n" != "$m" ]] || die "a node cannot replicate from itself"
  answers "$n" || die "node $n does not answer"
  log "pointing node $n at node $m"
  q "$n" -e "SET GLOBAL read_only=ON; STOP REPLICA;"
  # A former primary has its own transactions in gtid_binlog_pos but not in
  # gtid_slave_pos; start from what it actually has.
  if [[ -z "$(q "$n" -e "SHOW REPLICA STATUS")" ]]; then
    q "$n" -e "SET GLOBAL gtid_slave_pos=@@gtid_binlog_pos"
  fi
  change_master "$n" "$m"
  echo replica >"$(role_file "$n")"
  wait_for "replication on node $n" replica_running "$n" ||
    die "replication on node $n did not start"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  reset) cmd_stop; rm -rf "$DIR" ;;
  status) cmd_status ;;
  sql) shift; cmd_sql "$@" ;;
  promote) shift; cmd_promote "$@" ;;
  repoint) shift; cmd_repoint "$@" ;;
  port) check_node "${2:-}"; port "$2" ;;
  socket) check_node "${2:-}"; sock "$2" ;;
  env)
    echo "LAGROUTER_MYSQL_BASE_PORT=$BASE_PORT"
    echo "LAGROUTER_MARIADB_DIR=$DIR"
    ;;
  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
