#!/usr/bin/env bash
# Pgpool-II 4.3 (Debian's pgpool2) in front of a cluster of
# scripts/pg-cluster.sh, for side-by-side freshness measurements against
# lagrouter's paths (bench/edge_bench.sh, through tests/chaos/run.sh --pgpool).
#
#   bench/pgpool.sh start BASE_PORT LISTEN_PORT WORKDIR strict|defaults
#   bench/pgpool.sh stop WORKDIR
#
# start: writes WORKDIR/pgpool.conf and WORKDIR/pcp.conf and runs
#   pgpool -n -D -f WORKDIR/pgpool.conf -F WORKDIR/pcp.conf -a /dev/null
# in the background (its own session; pid in WORKDIR/pgpool.pid, log in
# WORKDIR/pgpool.log, every socket and status file in WORKDIR), listening on
# 127.0.0.1:LISTEN_PORT (pcp on LISTEN_PORT+1, or a free port if that one is
# taken), with backends 127.0.0.1:BASE_PORT (pg-a, the primary), BASE_PORT+1
# and BASE_PORT+2 (pg-b, pg-c, replicas). It returns once
#   psql "host=127.0.0.1 port=LISTEN_PORT user=app dbname=shop" -c 'SELECT 1'
# answers (deadline $LAGROUTER_PGPOOL_WAIT_SECONDS, default 20 s); otherwise
# it stops what it started, prints the end of the log and exits 1.
# stop: fast shutdown of that pgpool and its children (SIGKILL after 10 s),
#   then waits until its ports are free. The log stays in WORKDIR.
#
# Modes (the only difference between them):
#   strict    sr_check_period = 1 (s), delay_threshold = 1 (byte): a standby
#             whose replayed WAL is any byte behind the primary's current WAL
#             position at the last check gets no more reads.
#   defaults  Pgpool-II 4.3's defaults, not set here: sr_check_period = 10 (s)
#             and delay_threshold = 0, which disables the delay check: standbys
#             get reads however far behind they are.
#
# What Pgpool-II does that matters for the measurements (seen here, 4.3.5):
#   - The load-balance node is chosen once per client session, at random by
#     backend_weight (statement_level_load_balance = off, the default); the
#     delay is checked for each SELECT: while the session's node is over
#     delay_threshold as of the last check, its SELECTs go to the primary,
#     and back to the node once a check sees it caught up. A session never
#     moves to the other standby (prefer_lower_delay_standby = off).
#   - The delay is in WAL bytes, as of the last check (every
#     sr_check_period), never in time. The check asks every node in one go:
#     while any standby is down or hung, it fails or hangs and the other
#     standby's delay keeps its last value (a paused standby then still gets
#     reads, in strict mode as well).
#   - Each session connects to every backend, not only its load-balance node:
#     a standby that refuses connections is skipped for that session
#     (failover_on_backend_error = off), but while one is SIGSTOPped every new
#     session waits until it resumes (connect_timeout covers connect() only).
#   - A SELECT calling a volatile function goes to the primary unless
#     write_function_list says otherwise: see below.
#
# Environment: LAGROUTER_DB_PASSWORD (password of `app` and `lagrouter`,
# default lagrouter-demo-pw), LAGROUTER_PGPOOL_WAIT_SECONDS (default 20).
# Needs: apt-get install -y pgpool2 (the package's own service is not used).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# die, log, PASSWORD; closes inherited descriptors above 2 (pgpool outlives
# this script: see there).
source "$REPO/scripts/cluster-lib.sh" pgpool
source "$REPO/tests/support/config.sh"  # free_port
WAIT="${LAGROUTER_PGPOOL_WAIT_SECONDS:-20}"

usage() {
  sed -n '6,7p' "$0" | sed 's/^# */usage: /' >&2
  exit 2
}

PGPOOL="$(command -v pgpool || true)"
[[ -n "$PGPOOL" ]] || PGPOOL=/usr/sbin/pgpool

port_free() {  # port_free PORT: nothing listens on PORT
  [[ -z "$(ss -Hltn "sport = :$1")" ]]
}

# The pid of the pgpool running for WORKDIR, if any (and only if that pid
# still is a pgpool: a stale file must not make us signal something else).
running_pid() {  # running_pid WORKDIR
  local pid
  # (pgpool writes its pid followed by a NUL byte.)
  pid="$(tr -cd '0-9\n' 2>/dev/null <"$1/pgpool.pid" | head -1 || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == pgpool ]] || return 1
  echo "$pid"
}

conf_value() {  # conf_value WORKDIR NAME: a numeric setting of WORKDIR/pgpool.conf
  sed -n "s/^$2 = \([0-9]*\)$/\1/p" "$1/pgpool.conf" 2>/dev/null | head -1
}

app_select_1() {  # app_select_1 PORT
  PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=3 /usr/bin/psql -X -q -At \
    "host=127.0.0.1 port=$1 user=app dbname=shop" -c 'SELECT 1' 2>/dev/null | grep -qx 1
}

write_conf() {  # write_conf BASE LISTEN PCP WORKDIR MODE
  local base=$1 listen=$2 pcp=$3 dir=$4 mode=$5 delay
  if [[ "$mode" == strict ]]; then
    delay="sr_check_period = 1
delay_threshold = 1"
  else
    delay="# sr_check_period, delay_threshold: Pgpool-II 4.3's defaults (10 s; 0, no delay check)"
  fi
  cat >"$dir/pgpool.conf" <<CONF
# Written by bench/pgpool.sh ($mode); every setting not here is Pgpool-II 4.3's default.
backend_clustering_mode = 'streaming_replication'

listen_addresses = '127.0.0.1'
port = $listen
socket_dir = '$dir'
pcp_listen_addresses = '127.0.0.1'
pcp_port = $pcp
pcp_socket_dir = '$dir'
wd_ipc_socket_dir = '$dir'
pid_file_name = '$dir/pgpool.pid'
# pgpool_status (the nodes' up/down state) lives in logdir; -D discards it at start.
logdir = '$dir'
memqcache_oiddir = '$dir/oiddir'
log_destination = 'stderr'
logging_collector = off
# The delay is in the measurements, not in the log (each check over the
# threshold would log a line per standby).
log_standby_delay = 'none'

# Backends. The primary's weight is 0: reads go to the standbys and reach the
# primary only when the session's standby is over delay_threshold (or cannot
# be connected to), as with lagrouter's routes (replicas, primary fallback).
# Pgpool-II's sample gives every node weight 1, which would send a third of
# the sessions to the primary however fresh the standbys are.
# DISALLOW_TO_FAILOVER: no fault of the benchmark (a standby paused, stopped,
# killed) may detach a node or move the primary; the primary never changes.
backend_hostname0 = '127.0.0.1'
backend_port0 = $base
backend_weight0 = 0
backend_flag0 = 'DISALLOW_TO_FAILOVER'
backend_application_name0 = 'pg-a'
backend_hostname1 = '127.0.0.1'
backend_port1 = $((base + 1))
backend_weight1 = 1
backend_flag1 = 'DISALLOW_TO_FAILOVER'
backend_application_name1 = 'pg-b'
backend_hostname2 = '127.0.0.1'
backend_port2 = $((base + 2))
backend_weight2 = 1
backend_flag2 = 'DISALLOW_TO_FAILOVER'
backend_application_name2 = 'pg-c'

# Authentication: no pool_hba, an empty pool_passwd (none at all makes
# Pgpool-II warn on every connection). Pgpool-II asks the client for its
# password in clear text (loopback only) and answers the backends'
# scram-sha-256 with it.
enable_pool_hba = off
pool_passwd = '$dir/pool_passwd'
allow_clear_text_frontend_auth = on

# Connections: 32 children (the default) with one pooled backend connection
# set each (max_pool = 1: only app/shop goes through here) stay well under the
# backends' max_connections = 60.
num_init_children = 32
max_pool = 1

# Load balancing, decided once per session (statement_level_load_balance off).
load_balance_mode = on
# Only these functions make a SELECT a write. By default Pgpool-II sends any
# SELECT calling a volatile function to the primary, and the checker's read
# calls pg_is_in_recovery() (volatile): it would never be load balanced.
# This is the example list of Pgpool-II's documentation.
write_function_list = 'nextval,setval,lastval,currval'

# Streaming replication check: who is primary, and the standbys' delay.
sr_check_user = 'lagrouter'
sr_check_password = '$PASSWORD'
sr_check_database = 'postgres'
$delay

# No failover: no failover_command, backend errors do not detach a node, no
# health check (health_check_period = 0, the default). A standby that is down
# is skipped by each new session while it is down and used again once it
# accepts connections. auto_failback re-attaches a standby should one be
# detached all the same (it needs the sr check; at most once per second).
failover_command = ''
failover_on_backend_error = off
health_check_period = 0
health_check_user = 'lagrouter'
health_check_password = '$PASSWORD'
auto_failback = on
auto_failback_interval = 1
CONF
  chmod 600 "$dir/pgpool.conf"
  # pcp (pcp_node_info -h 127.0.0.1 -p PCP -U lagrouter): same password.
  echo "lagrouter:$(pg_md5 "$PASSWORD")" >"$dir/pcp.conf"
  chmod 600 "$dir/pcp.conf"
  : >"$dir/pool_passwd"
  chmod 600 "$dir/pool_passwd"
}

cmd_start() {  # cmd_start BASE LISTEN WORKDIR MODE
  local base=$1 listen=$2 dir=$3 mode=$4 pcp pid
  [[ "$base" =~ ^[0-9]+$ && "$listen" =~ ^[0-9]+$ && -n "$dir" &&
    "$mode" =~ ^(strict|defaults)$ ]] || usage
  [[ -x "$PGPOOL" ]] || { echo "apt-get install -y pgpool2" >&2; exit 2; }
  mkdir -p "$dir/oiddir"
  dir="$(cd "$dir" && pwd)"
  if pid="$(running_pid "$dir")"; then
    die "already running for $dir (pid $pid): bench/pgpool.sh stop $dir first"
  fi
  port_free "$listen" || die "127.0.0.1:$listen is in use"
  pcp=$((listen + 1))
  port_free "$pcp" || pcp="$(free_port)"
  write_conf "$base" "$listen" "$pcp" "$dir" "$mode"

  # Its own session (setsid: this script runs without job control, so setsid
  # does not fork and $! is pgpool), so that stop can signal the whole group.
  # Pgpool-II (unlike PostgreSQL) runs as root without complaint: it runs as
  # whoever calls this.
  setsid "$PGPOOL" -n -D -f "$dir/pgpool.conf" -F "$dir/pcp.conf" -a /dev/null \
    </dev/null >>"$dir/pgpool.log" 2>&1 &
  pid=$!
  local deadline=$((SECONDS + WAIT))
  until app_select_1 "$listen"; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      log "pgpool did not answer SELECT 1 as app on 127.0.0.1:$listen within ${WAIT}s; end of $dir/pgpool.log:"
      tail -n 30 "$dir/pgpool.log" >&2
      stop_pid "$pid"
      exit 1
    fi
    sleep 0.2
  done
  log "$mode: 127.0.0.1:$listen (pcp $pcp) in front of 127.0.0.1:$base-$((base + 2)), pid $pid, log $dir/pgpool.log"
}

stop_pid() {  # stop_pid PID: fast shutdown of pgpool PID and its session
  local pid=$1 deadline
  kill -INT "$pid" 2>/dev/null || true  # SIGINT: fast shutdown (SIGTERM waits for clients)
  deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  # Children left behind (or a main process that would not go): same session.
  if pgrep -s "$pid" >/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  deadline=$((SECONDS + 5))
  while pgrep -s "$pid" >/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
}

cmd_stop() {  # cmd_stop WORKDIR
  local dir=$1 pid port deadline
  [[ -n "$dir" ]] || usage
  [[ -d "$dir" ]] || return 0
  if pid="$(running_pid "$dir")"; then stop_pid "$pid"; fi
  deadline=$((SECONDS + 10))
  for port in $(conf_value "$dir" port) $(conf_value "$dir" pcp_port); do
    until port_free "$port"; do
      ((SECONDS < deadline)) || die "127.0.0.1:$port still in use"
      sleep 0.1
    done
  done
  rm -f "$dir/pgpool.pid"
}

case "${1:-}" in
  start) (($# == 5)) || usage; cmd_start "$2" "$3" "$4" "$5" ;;
  stop) (($# == 2)) || usage; cmd_stop "$2" ;;
  *) usage ;;
esac
