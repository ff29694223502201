#!/usr/bin/env bash
# End-to-end test of lagrouter under real network partitions: packets
# silently dropped by iptables, inside a network namespace of its own.
#
# Everything runs in a fresh namespace lgr-part-PID with its own loopback, so
# the default ports are free there and nothing touches the root namespace (its
# firewall, its loopback or the clusters other tests run on it):
#
#   PostgreSQL  pg-a (primary) 5441, pg-b 5442, pg-c 5443   scripts/pg-cluster.sh
#   MariaDB     db-0 (primary) 3407, db-1 3408, db-2 3409   scripts/mariadb-cluster.sh
#   lagrouter   127.0.0.1:<a free port>, as uid 65534       probe 250 ms, timeout 1 s
#
# all with LAGROUTER_RUN_DIR=/tmp/lagrouter-netns-PID.
#
# How a partition is cut. The daemon runs as its own uid (as in production,
# where the systemd unit uses DynamicUser), PostgreSQL as postgres and
# mariadbd as root. The iptables owner match works on loopback in a namespace,
# and a CONNMARK rule installed before the daemon starts marks every
# connection the daemon opens, so both directions can be dropped:
#   daemon <-> server S   OUTPUT -p tcp --dport S -m owner --uid-owner 65534 -j DROP
#                         OUTPUT -p tcp --sport S -m connmark --mark 1 -j DROP
#   replica <-> primary   the replica's replication connection, by its 4-tuple
#                         (client port from pg_stat_replication, or from `ss`
#                         for mariadbd), both directions; plus new replication
#                         connections to the primary (SYN from the servers' uid),
#                         so a reconnect cannot heal the partition either.
# DROP, not REJECT: packets vanish, the hard case for a prober.
#
# Checks (one line each), for PostgreSQL and MariaDB:
#   1. daemon <-> replica: marked down within timeout + interval; no route
#      answer names it after that; every answer < 100 ms; the other servers'
#      probes keep their cadence; healed: back, with exactly one monitoring
#      connection (ss in the namespace).
#   2. daemon <-> primary: the 0 s class gets 503 within timeout + interval;
#      replicas keep serving the 1 h class, answers < 100 ms; healed: recovers.
#   3. replica <-> primary while a writer commits: the replica's bound grows,
#      it leaves the 1 s class, and no 1 s answer names it once a commit it
#      lacks (checked on the replica) returned more than 1 s before the request;
#      healed: catches up and returns to the class.
#
# Needs root, ip (iproute2), iptables, ss, curl, jq, psql, mariadb and a built
# lagrouter (build/bin/lagrouter or $LAGROUTER_BIN). Prints one line per check,
# measurements as "#" lines, and "N passed, M failed" last; exits non-zero on
# any failure. The trap stops every server and process started in the
# namespace and deletes it (its iptables rules go with it) and the run dir
# (kept with the daemon log on failure, or with KEEP_TMP=1).
#
# Usage: tests/e2e/partitions.sh

# Functions called from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAGROUTER_BIN=${LAGROUTER_BIN:-$repo/build/bin/lagrouter}
export LAGROUTER_DB_PASSWORD=${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}

# --- outer part: create the namespace, run the checks inside it, clean up -----
if [[ "${1:-}" != --inside ]]; then
  [[ "$(id -u)" == 0 ]] || { echo "partitions.sh: needs root (ip netns, iptables)"; exit 2; }
  for tool in ip iptables ss curl jq psql mariadb setpriv; do
    command -v "$tool" >/dev/null || { echo "partitions.sh: $tool not found (scripts/install-deps.sh)"; exit 2; }
  done
  [[ -x "$LAGROUTER_BIN" ]] || { echo "partitions.sh: no lagrouter binary at $LAGROUTER_BIN"; exit 2; }
  NS=lgr-part-$$
  RUN=/tmp/lagrouter-netns-$$
  export LAGROUTER_RUN_DIR=$RUN LAGROUTER_BIN
  unset LAGROUTER_PG_BASE_PORT LAGROUTER_MYSQL_BASE_PORT  # the defaults: the namespace is ours
  outer_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if ip netns list | grep -qw "$NS"; then
      ip netns exec "$NS" "$repo/scripts/mariadb-cluster.sh" stop >/dev/null 2>&1
      ip netns exec "$NS" "$repo/scripts/pg-cluster.sh" stop >/dev/null 2>&1
      # Anything still running in the namespace was started by this test.
      local pid
      for pid in $(ip netns pids "$NS"); do kill -KILL "$pid" 2>/dev/null; done
      ip netns del "$NS"
    fi
    if ((rc == 0)) && [[ -z "${KEEP_TMP:-}" ]]; then
      rm -rf "$RUN"
    else
      echo "# run dir kept: $RUN"
    fi
    exit "$rc"
  }
  trap outer_cleanup EXIT
  trap 'exit 1' INT TERM
  ip netns add "$NS" || exit 2
  ip -n "$NS" link set lo up || exit 2
  mkdir -p "$RUN" && chmod 755 "$RUN"
  # Timing assertions (answers < 100 ms) measure the daemon, not the other
  # work on a shared 2-core machine: the test, its servers and its daemon run
  # at a slightly raised priority (nice -5).
  ip netns exec "$NS" nice -n -5 "${BASH_SOURCE[0]}" --inside "$NS" "$RUN"
  exit $?
fi

# --- inner part: runs inside the namespace ----------------------------------
NS=$2
RUN=$3
DAEMON_UID=65534
INTERVAL_MS=250
TIMEOUT_MS=1000
source "$repo/tests/support/config.sh"
LR_PORT=""  # free_port, chosen once the servers run
LR=""       # http://127.0.0.1:$LR_PORT
PG=$repo/scripts/pg-cluster.sh
MDB=$repo/scripts/mariadb-cluster.sh

source "$here/checks.sh"
daemon_pid=""
writer_pid=""

# wait_until MILLISECONDS COMMAND...: polls COMMAND every 20 ms until it succeeds.
wait_until() { local ms=$1; shift; wait_ms "$ms" 0.02 "$@"; }

inner_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$writer_pid" ]] && kill "$writer_pid" 2>/dev/null && wait "$writer_pid" 2>/dev/null
  if [[ -n "$daemon_pid" ]]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  iptables -F OUTPUT 2>/dev/null  # this namespace's own table only
  if ((failed > 0 || rc != 0)) && [[ -f "$RUN/daemon.log" ]]; then
    echo "# last lines of the daemon log ($RUN/daemon.log):"
    tail -n 25 "$RUN/daemon.log" | sed 's/^/#   /'
  fi
  checks_end "$rc"
}
trap inner_cleanup EXIT
trap 'fail "interrupted"; exit 1' INT TERM

# --- HTTP helpers -------------------------------------------------------------
# route CLUSTER CLASS: sets R_CODE, R_MS (time to the whole answer), R_SERVER.
R_CODE=0 R_MS=0 R_SERVER=""
route() {
  local out tail
  out=$(curl -s -m 2 -w '\n%{http_code} %{time_total}' "$LR/v1/route?cluster=$1&class=$2")
  tail=${out##*$'\n'}
  R_CODE=${tail%% *}
  local t=${tail#* }  # seconds, e.g. 0.001234
  R_MS=$(awk -v t="$t" 'BEGIN { printf "%d", t * 1000 + 0.999 }')
  R_SERVER=""
  [[ $out =~ \"server\":\"([^\"]+)\" ]] && R_SERVER=${BASH_REMATCH[1]}
  return 0
}

# status_lines: one line per server: cluster server up age_ms bound_ms classes
status_lines() {
  curl -s -m 2 "$LR/v1/status" | jq -r '.clusters[] | .name as $c | .servers[] |
    [$c, .name, (.up | tostring), (.last_probe_age_ms | tostring),
     (.staleness_bound_ms // "null" | tostring),
     ((.eligible_classes // []) | join(",") | if . == "" then "-" else . end)] | join(" ")'
}
# field CLUSTER SERVER N: field N (3 up, 4 age, 5 bound, 6 classes) of one server.
field() { status_lines | awk -v c="$1" -v s="$2" -v n="$3" '$1 == c && $2 == s { print $n }'; }
is_up() { [[ "$(field "$1" "$2" 3)" == true ]]; }
in_class() { [[ ",$(field "$1" "$2" 6)," == *",$3,"* ]]; }
route_is() { route "$1" "$2"; [[ "$R_CODE" == "$3" ]]; }

# Established connections of the daemon to a port (ss in this namespace).
daemon_conns() {
  ss -Htnp state established "( dport = :$1 )" | grep -c "pid=$daemon_pid," || true
}
one_conn_stable() {  # exactly one, at 5 samples over a second
  local i
  for i in 1 2 3 4 5; do
    [[ "$(daemon_conns "$1")" == 1 ]] || return 1
    sleep 0.2
  done
}

# --- iptables helpers (this namespace only) -----------------------------------
ipt_counter() {  # ipt_counter COMMENT: packets counted by the rule with that comment
  iptables -L OUTPUT -v -x -n | awk -v c="/* $1 */" 'index($0, c) { print $1; exit }'
}
# daemon_rules -A|-D PORT: daemon <-> server on PORT, both directions (and a
# counter of the daemon's SYNs to it)
daemon_rules() {
  iptables "$1" OUTPUT -o lo -p tcp --dport "$2" --syn -m owner --uid-owner "$DAEMON_UID" \
    -m comment --comment "syn-$2"
  iptables "$1" OUTPUT -o lo -p tcp --dport "$2" -m owner --uid-owner "$DAEMON_UID" \
    -m comment --comment "to-$2" -j DROP
  iptables "$1" OUTPUT -o lo -p tcp --sport "$2" -m connmark --mark 0x1 \
    -m comment --comment "from-$2" -j DROP
}
cut_daemon() { daemon_rules -A "$1"; }
heal_daemon() { daemon_rules -D "$1"; }
# repl_rules -A|-D PRIMARY_PORT CLIENT_PORT SERVER_UID
repl_rules() {
  iptables "$1" OUTPUT -o lo -p tcp --sport "$3" --dport "$2" -m comment --comment repl-up -j DROP &&
    iptables "$1" OUTPUT -o lo -p tcp --sport "$2" --dport "$3" -m comment --comment repl-down -j DROP &&
    iptables "$1" OUTPUT -o lo -p tcp --dport "$2" --syn -m owner --uid-owner "$4" \
      -m comment --comment repl-new -j DROP
}

# --- database helpers -----------------------------------------------------------
pg_sock() { "$PG" env | sed -n 's/.*LAGROUTER_PG_DIR=\([^ ]*\).*/\1/p' | sed 's|$|/sock|'; }
mdb_sql() { "$MDB" sql "$1" "$2" 2>/dev/null; }
PG_SOCK=""
pg_write() { psql -X -q -h "$PG_SOCK" -p 5441 -U app -d shop -c "$1" >/dev/null 2>&1; }
mdb_write() { mdb_sql 0 "$1" >/dev/null; }
pg_shop() {  # pg_shop NODE SQL: as postgres over the socket, database shop
  psql -X -q -At -h "$PG_SOCK" -p $((5441 + $1)) -U postgres -d shop -c "$2" 2>/dev/null
}

# --- setup ----------------------------------------------------------------------
export LAGROUTER_WAIT_SECONDS=60
setup_start=$(now_ms)
"$PG" start >"$RUN/pg-start.log" 2>&1 || die "PostgreSQL cluster did not start in $NS (see $RUN/pg-start.log)"
[[ "$("$PG" env)" == *"LAGROUTER_PG_DIR=$RUN/pg"* ]] || die "pg-cluster.sh did not use $RUN/pg: $("$PG" env)"
PG_SOCK=$(pg_sock)
pg_ready=$(now_ms)
"$MDB" start >"$RUN/mariadb-start.log" 2>&1 || die "MariaDB cluster did not start in $NS (see $RUN/mariadb-start.log)"
mdb_sql 0 "CREATE TABLE IF NOT EXISTS shop.seq (id BIGINT PRIMARY KEY) ENGINE=InnoDB" ||
  die "cannot create shop.seq on db-0"
pg_write "TRUNCATE seq" || die "cannot write to pg-a as app"

mdb_ready=$(now_ms)
# Every connection the daemon opens is marked, so replies can be dropped too.
iptables -A OUTPUT -o lo -p tcp -m owner --uid-owner "$DAEMON_UID" -j CONNMARK --set-mark 0x1 ||
  die "iptables CONNMARK in $NS"

LR_PORT=$(free_port)
LR=http://127.0.0.1:$LR_PORT
lagrouter_config --listen "$LR_PORT" --interval "${INTERVAL_MS}ms" --timeout "${TIMEOUT_MS}ms" \
  --pg shop 5441 --mariadb mdb 3407 \
  --class inventory 0s --class second 1s --class hour 1h --fallback error >"$RUN/lagrouter.toml"
chmod 644 "$RUN/lagrouter.toml"
setpriv --reuid="$DAEMON_UID" --regid="$DAEMON_UID" --clear-groups \
  "$LAGROUTER_BIN" --config "$RUN/lagrouter.toml" >"$RUN/daemon.log" 2>&1 &
daemon_pid=$!
all_eligible() {
  local c s
  for c in "shop pg-b" "shop pg-c" "mdb db-1" "mdb db-2"; do
    # shellcheck disable=SC2086
    in_class $c hour || return 1
  done
}
wait_until 20000 all_eligible || die "replicas not eligible within 20 s after the daemon started"
ok "setup: PostgreSQL and MariaDB clusters and lagrouter (uid $DAEMON_UID) in namespace $NS"
note "setup: PostgreSQL $((pg_ready - setup_start)) ms, MariaDB $((mdb_ready - pg_ready)) ms, lagrouter to all replicas eligible $(($(now_ms) - mdb_ready)) ms"

# --- scenario 1: daemon <-> replica -------------------------------------------
# replica_partition CLUSTER SERVER PORT
replica_partition() {
  local c=$1 s=$2 port=$3 limit=$((TIMEOUT_MS + INTERVAL_MS))
  wait_until 20000 in_class "$c" "$s" hour || { fail "$c: $s eligible before the partition"; return; }
  local cut down_ms="" last_up=-1 slowest=0 oldest=0 wrong=0 bad_code=0 answers=0 asked
  cut_daemon "$port"
  cut=$(now_ms)  # every rule is in place: no reply of $s reaches the daemon after this
  while (($(now_ms) - cut < limit + 1500)); do
    asked=$(($(now_ms) - cut))
    route "$c" hour
    answers=$((answers + 1))
    ((R_MS > slowest)) && slowest=$R_MS
    [[ "$R_CODE" == 200 ]] || bad_code=$((bad_code + 1))
    if [[ "$R_SERVER" == "$s" ]] && { [[ -n "$down_ms" ]] || ((asked > limit + 50)); }; then
      wrong=$((wrong + 1))
    fi
    asked=$(($(now_ms) - cut))
    while read -r lc ls lup lage _; do
      if [[ "$lc" == "$c" && "$ls" == "$s" ]]; then
        if [[ "$lup" == false ]]; then
          [[ -n "$down_ms" ]] || down_ms=$asked
        else
          last_up=$asked
        fi
      elif ((lage > oldest)); then
        oldest=$lage
      fi
    done < <(status_lines)
    sleep 0.01
  done
  local syns dropped
  syns=$(ipt_counter "syn-$port")
  dropped=$(ipt_counter "to-$port")
  note "$c $s cut at +0: last seen up by a status request sent at +${last_up} ms, first seen down at +${down_ms:-never} ms (limit $limit); $answers route answers, slowest ${slowest} ms; oldest probe of another server ${oldest} ms; ${dropped} packets to $s dropped, ${syns} SYNs in $((limit + 1500)) ms"
  check "$c: daemon<->$s partition: $s marked down within timeout + interval (up until +$last_up ms <= $limit + 50, down from +${down_ms:-never} ms)" \
    test -n "$down_ms" -a "$last_up" -le $((limit + 50))
  check "$c: no route answer names $s once it is down or asked after +$((limit + 50)) ms ($wrong of $answers did)" \
    test "$wrong" -eq 0
  check "$c: every route answer during the partition is 200 and < 100 ms (slowest ${slowest} ms, $bad_code not 200)" \
    test "$slowest" -lt 100 -a "$bad_code" -eq 0
  check "$c: other servers' probes keep their cadence (oldest ${oldest} ms < $((2 * INTERVAL_MS + 100)))" \
    test "$oldest" -lt $((2 * INTERVAL_MS + 100))
  check "$c: packets to $s really vanished ($dropped dropped)" test "${dropped:-0}" -gt 0
  check "$c: no connection storm: ${syns} SYNs to $s in $((limit + 1500)) ms (at most one per 2 intervals)" \
    test "${syns:-0}" -le $(((limit + 1500) / (2 * INTERVAL_MS)))
  check "$c: $s's last_error says why" test -n "$(curl -s "$LR/v1/status" |
    jq -r --arg c "$c" --arg s "$s" '.clusters[] | select(.name == $c) | .servers[] | select(.name == $s) | .last_error')"
  local healed
  heal_daemon "$port"
  healed=$(now_ms)
  if wait_until 15000 in_class "$c" "$s" hour; then
    ok "$c: healed: $s up and back in the 1 h class after $(($(now_ms) - healed)) ms"
  else
    fail "$c: healed: $s back in the 1 h class within 15 s"
  fi
  wait_until 5000 one_conn_stable "$port"
  check "$c: exactly one monitoring connection to $s after the heal ($(daemon_conns "$port") established)" \
    test "$(daemon_conns "$port")" -eq 1
}

# --- scenario 2: daemon <-> primary -------------------------------------------
# primary_partition CLUSTER PRIMARY PORT
primary_partition() {
  local c=$1 p=$2 port=$3 limit=$((TIMEOUT_MS + INTERVAL_MS))
  wait_until 10000 route_is "$c" inventory 200 || { fail "$c: $p serves the 0 s class before"; return; }
  local cut t503="" last_200=-1 slowest=0 bad=0 i asked
  cut_daemon "$port"
  cut=$(now_ms)
  while (($(now_ms) - cut < limit + 2000)); do
    asked=$(($(now_ms) - cut))
    route "$c" inventory
    if [[ "$R_CODE" == 503 ]]; then t503=$asked; break; fi
    [[ "$R_CODE" == 200 ]] && last_200=$asked
    sleep 0.005
  done
  note "$c $p cut at +0: 0 s class last served by a request sent at +${last_200} ms, first 503 at +${t503:-never} ms (limit $limit)"
  check "$c: daemon<->$p partition: 0 s class gets 503 within timeout + interval (200 until +$last_200 ms <= $limit + 50, 503 from +${t503:-never} ms)" \
    test -n "$t503" -a "$last_200" -le $((limit + 50))
  for ((i = 0; i < 40; i++)); do
    route "$c" hour
    ((R_MS > slowest)) && slowest=$R_MS
    [[ "$R_CODE" == 200 && "$R_SERVER" != "$p" && -n "$R_SERVER" ]] || bad=$((bad + 1))
    sleep 0.02
  done
  check "$c: replicas keep serving the 1 h class (40 answers, $bad not a replica, slowest ${slowest} ms < 100)" \
    test "$bad" -eq 0 -a "$slowest" -lt 100
  route "$c" inventory
  check "$c: 0 s class still 503 while $p is cut off (got $R_CODE)" test "$R_CODE" == 503
  local healed
  heal_daemon "$port"
  healed=$(now_ms)
  if wait_until 15000 route_is "$c" inventory 200; then
    ok "$c: healed: 0 s class served by $R_SERVER again after $(($(now_ms) - healed)) ms"
  else
    fail "$c: healed: 0 s class served again within 15 s"
  fi
  wait_until 5000 one_conn_stable "$port"
  check "$c: exactly one monitoring connection to $p after the heal ($(daemon_conns "$port") established)" \
    test "$(daemon_conns "$port")" -eq 1
}

# --- scenario 3: replica <-> primary while a writer commits ---------------------
# The writer commits ids 1, 2, ... and logs "id epoch_ms" once each commit returned.
start_writer() {  # start_writer pg|mdb START_ID
  local kind=$1 id=$2
  : >"$RUN/writes-$kind.log"
  (
    trap 'exit 0' TERM
    while true; do
      if [[ "$kind" == pg ]]; then
        pg_write "INSERT INTO seq (id) VALUES ($id)" || { sleep 0.05; continue; }
      else
        mdb_write "INSERT INTO shop.seq VALUES ($id)" || { sleep 0.05; continue; }
      fi
      echo "$id $(now_ms)" >>"$RUN/writes-$kind.log"
      id=$((id + 1))
      sleep 0.03
    done
  ) &
  writer_pid=$!
}
stop_writer() {
  [[ -n "$writer_pid" ]] || return 0
  kill "$writer_pid" 2>/dev/null
  wait "$writer_pid" 2>/dev/null
  writer_pid=""
}
max_id() {  # max_id pg|mdb NODE
  if [[ "$1" == pg ]]; then
    pg_shop "$2" "SELECT coalesce(max(id), 0) FROM seq"
  else
    mdb_sql "$2" "SELECT coalesce(max(id), 0) FROM shop.seq"
  fi
}
last_written() { tail -n 1 "$RUN/writes-$1.log" 2>/dev/null | cut -d' ' -f1; }
has_id() { local m; m=$(max_id "$1" "$2"); [[ -n "$m" ]] && ((m >= $3)); }

# repl_partition KIND CLUSTER REPLICA NODE PRIMARY_PORT CLIENT_PORT SERVER_UID
repl_partition() {
  local kind=$1 c=$2 s=$3 node=$4 pport=$5 cport=$6 uid=$7
  local first_id
  first_id=$(($(max_id "$kind" 0) + 1))
  start_writer "$kind" "$first_id"
  wait_until 5000 test -s "$RUN/writes-$kind.log" || { fail "$c: the writer commits"; stop_writer; return; }
  wait_until 20000 in_class "$c" "$s" second || { fail "$c: $s in the 1 s class before the partition"; stop_writer; return; }
  local cut answers_log=$RUN/answers-$kind.log left="" peak=0 end line not_up=0
  : >"$answers_log"
  cut=$(now_ms)
  repl_rules -A "$pport" "$cport" "$uid" || { fail "$c: cut $s's replication connection"; stop_writer; return; }
  end=$((cut + 8000))
  while (($(now_ms) < end)); do
    local asked
    asked=$(now_ms)
    route "$c" second
    echo "$asked $R_CODE ${R_SERVER:--}" >>"$answers_log"
    line=$(status_lines | awk -v c="$c" -v s="$s" '$1 == c && $2 == s')
    local bound classes
    bound=$(awk '{ print $5 }' <<<"$line")
    classes=$(awk '{ print $6 }' <<<"$line")
    [[ "$bound" =~ ^[0-9]+$ ]] && ((bound > peak)) && peak=$bound
    [[ "$(awk '{ print $3 }' <<<"$line")" == true && ",$classes," == *",hour,"* ]] ||
      not_up=$((not_up + 1))
    if [[ -z "$left" && ",$classes," != *",second,"* ]]; then
      left=$(($(now_ms) - cut))
      end=$(($(now_ms) + 2000))  # watch two more seconds with the replica out
    fi
    sleep 0.01
  done
  # Still cut off: what does the replica lack?
  local have total first_missing t_missing
  have=$(max_id "$kind" "$node")
  total=$(last_written "$kind")
  first_missing=$((have + 1))
  t_missing=$(awk -v id="$first_missing" '$1 == id { print $2 }' "$RUN/writes-$kind.log")
  check "$c: replica<->primary partition: $s lacks commits (has id $have, the primary $total)" \
    test -n "$t_missing" -a "${have:-0}" -lt "${total:-0}"
  check "$c: $s's bound grew past 1 s (peak ${peak} ms)" test "$peak" -gt 1000
  check "$c: $s left the 1 s class (${left:-never} ms after the cut)" test -n "$left"
  check "$c: the daemon still reaches $s: up and in the 1 h class throughout ($not_up polls not)" \
    test "$not_up" -eq 0
  local viol=0 named=0 last_named=""
  if [[ -n "$t_missing" ]]; then
    while read -r asked _ server; do
      [[ "$server" == "$s" ]] || continue
      named=$((named + 1))
      last_named=$asked
      ((asked > t_missing + 1000)) && viol=$((viol + 1))
    done <"$answers_log"
  fi
  local n_ans
  n_ans=$(wc -l <"$answers_log")
  note "$c $s: first missing commit id $first_missing returned at cut+$((t_missing - cut)) ms; last 1 s answer naming $s at $([[ -n "$last_named" ]] && echo "cut+$((last_named - cut)) ms, $((last_named - t_missing)) ms after that commit" || echo never); left the class at cut+${left:-never} ms; bound peak ${peak} ms"
  check "$c: no 1 s answer names $s more than 1 s after a commit it lacks ($viol of $n_ans answers; $named named it)" \
    test "$viol" -eq 0 -a "$n_ans" -gt 0
  note "$c $s: $(ipt_counter repl-up) packets $s->primary and $(ipt_counter repl-down) primary->$s dropped, $(ipt_counter repl-new) new replication connections blocked"
  local healed target
  repl_rules -D "$pport" "$cport" "$uid"
  healed=$(now_ms)
  target=$(last_written "$kind")
  if wait_until 30000 has_id "$kind" "$node" "$target"; then
    note "$c $s: caught up with id $target $(($(now_ms) - healed)) ms after the heal"
    if wait_until 20000 in_class "$c" "$s" second; then
      ok "$c: healed: $s caught up and is back in the 1 s class after $(($(now_ms) - healed)) ms"
    else
      fail "$c: healed: $s back in the 1 s class within 20 s"
    fi
  else
    fail "$c: healed: $s caught up with id $target within 30 s"
  fi
  stop_writer
}

pg_client_port() {  # pg-c's replication connection: its port on the client side
  "$PG" sql 0 "SELECT client_port FROM pg_stat_replication WHERE application_name = 'pg-c'" 2>/dev/null
}
mdb_client_port() {  # db-2's IO thread connection to db-0
  local pid
  pid=$(cat "$RUN/mariadb/n2/mariadbd.pid" 2>/dev/null) || return 1
  ss -Htnp state established "( dport = :3407 )" | awk -v p="pid=$pid," 'index($0, p) {
    n = split($3, a, ":"); print a[n]; exit }'
}

echo "# PostgreSQL"
replica_partition shop pg-c 5443
primary_partition shop pg-a 5441
port=$(pg_client_port)
if [[ "$port" =~ ^[0-9]+$ ]]; then
  repl_partition pg shop pg-c 2 5441 "$port" "$(id -u postgres)"
else
  fail "shop: pg-c's replication connection found in pg_stat_replication"
fi

echo "# MariaDB"
replica_partition mdb db-2 3409
primary_partition mdb db-0 3407
port=$(mdb_client_port)
if [[ "$port" =~ ^[0-9]+$ ]]; then
  repl_partition mdb mdb db-2 2 3407 "$port" 0
else
  fail "mdb: db-2's replication connection found with ss"
fi
echo "# total $(($(now_ms) - setup_start)) ms"
