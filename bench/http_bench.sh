#!/usr/bin/env bash
# /v1/route throughput and latency against nginx serving the same body, on
# loopback, with wrk at 8 and 64 keep-alive connections. One run measures two
# schedulers: the machine as it is, then the kernel's autogroup off (put back
# at exit). lagrouter and nginx are started afresh for each, since the
# setting only applies to processes as they are forked.
#   bench/http_bench.sh [SECONDS [ROUNDS]]   default 10 s per run, 3 rounds
#   HTTP_BENCH_THREADS=N        lagrouter's [listen] threads (default: its own, "auto")
#   HTTP_BENCH_SAME_SESSION=1   start lagrouter in wrk's session (the old placement)
#
# Placement: lagrouter runs in a session of its own (setsid), as systemd starts
# a service and as nginx daemonizes itself, so both servers sit where a
# deployment puts them. Autogroup shares the CPU per session: with the daemon
# in wrk's session, a 10 ms sleep loop in another session (as the PostgreSQL
# servers answering its probes are) woke up to 700 ms late under the load and
# probes failed; with the daemon in its own session, 4 ms at most.
#
# Probe schedule: during every lagrouter run, /v1/status is polled about every
# 100 ms for the largest last_probe_age_ms (a late cycle: above 1.5 probe
# intervals), and /metrics' probe counts are compared with elapsed / interval.
# Exit 1 if a lagrouter answer was not a 2xx, a probe failed or a cycle was
# late; the goal line is a measurement and does not change the exit status.
# Needs: the build (scripts/build.sh), the PostgreSQL cluster (started here if
# needed), nginx (apt-get install nginx-light), wrk, curl and jq.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
DURATION="${1:-10}"
ROUNDS="${2:-3}"
# shellcheck source=/dev/null  # tests/support/config.sh: shellcheck it on its own
source tests/support/config.sh
source bench/lib.sh
{ read -r LR_PORT; read -r NGINX_PORT; } < <(free_ports 2)
LR="http://127.0.0.1:$LR_PORT"
URL="$LR/v1/route?cluster=shop&class=dashboard"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/v1/route"
export LAGROUTER_DB_PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "apt-get install -y nginx-light" >&2; exit 2; }
for tool in wrk curl jq; do
  command -v "$tool" >/dev/null || { echo "apt-get install -y $tool" >&2; exit 2; }
done

tmp=$(mktemp -d)
lr_pid="" poller_pid=""
# gone PID: the process has exited (or is a zombie).
gone() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 0; [[ $s == Z* ]]; }
stop_pid() {  # TERM, then KILL after 10 s; reaps it if it is our child
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do gone "$1" && break; sleep 0.1; done
  gone "$1" || kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
stop_poller() {
  [[ -n $poller_pid ]] || return 0
  touch "$tmp/stop-poller"
  wait "$poller_pid" 2>/dev/null || true
  poller_pid=""
}
stop_lagrouter() { [[ -z $lr_pid ]] || stop_pid "$lr_pid"; lr_pid=""; }
stop_nginx() {
  [[ ! -s $tmp/nginx.pid ]] || stop_pid "$(cat "$tmp/nginx.pid")"
  rm -f "$tmp/nginx.pid"
}
cleanup() {
  stop_poller
  stop_lagrouter
  stop_nginx
  autogroup_restore
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# examples/lagrouter.toml probes 5441-5443: a cluster already there (maybe
# another checkout's) is used as it is; otherwise this checkout's is started.
pg_up() { local p; for p in 5441 5442 5443; do pg_isready -q -h 127.0.0.1 -p "$p" || return 1; done; }
pg_up 2>/dev/null || scripts/pg-cluster.sh start >/dev/null
threads_line=""
[[ -n "${HTTP_BENCH_THREADS:-}" ]] && threads_line="\\nthreads = $HTTP_BENCH_THREADS"
sed -e "s/^address = \"127.0.0.1:8432\"/address = \"127.0.0.1:$LR_PORT\"$threads_line/" \
  examples/lagrouter.toml >"$tmp/lagrouter.toml"

launcher=(setsid) placement="its own session (setsid, as deployed)"
if [[ ${HTTP_BENCH_SAME_SESSION:-0} == 1 ]]; then
  launcher=() placement="wrk's session (HTTP_BENCH_SAME_SESSION=1)"
fi
# start_servers LOG: lagrouter, a fresh replica, then nginx with the same body.
# Sets lr_pid, body and interval_ms (the probe interval of the config it read).
start_servers() {
  rm -f "$tmp/lagrouter.pid"
  # setsid forks when it would lead a process group already: the pid is the
  # one the wrapper writes before it becomes lagrouter.
  # shellcheck disable=SC2016
  "${launcher[@]}" bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$tmp/lagrouter.pid" \
    build/bin/lagrouter --config "$tmp/lagrouter.toml" >"$1" 2>&1 </dev/null &
  for _ in $(seq 50); do [[ -s $tmp/lagrouter.pid ]] && break; sleep 0.1; done
  lr_pid=$(cat "$tmp/lagrouter.pid")
  wait_ready "$LR" 10 "$lr_pid" || { echo "lagrouter not ready:" >&2; cat "$1" >&2; exit 1; }
  local sid want
  sid=$(ps -o sid= -p "$lr_pid" | tr -d ' ')
  want=$lr_pid
  ((${#launcher[@]})) || want=$(ps -o sid= -p $$ | tr -d ' ')
  [[ $sid == "$want" ]] || { echo "lagrouter $lr_pid is in session $sid, not $want" >&2; exit 1; }
  # Measure the replica path: wait until a replica is fresh (settle included).
  for _ in $(seq 200); do
    body=$(curl -sf "$URL" || true)
    [[ "$body" == *fresh_replica* ]] && break
    sleep 0.1
  done
  [[ "$body" == *fresh_replica* ]] || { echo "no fresh replica: $body" >&2; exit 1; }
  interval_ms=$(curl -sf "$LR/v1/status" | jq -er .probe_interval_ms)
  cat >"$tmp/nginx.conf" <<CONF
worker_processes auto;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { default_type application/json; return 200 '$body'; }
  }
}
CONF
  "$NGINX" -c "$tmp/nginx.conf"
  for _ in $(seq 50); do curl -sf "$NGINX_URL" >/dev/null && break; sleep 0.1; done
}

run() {  # run URL CONNECTIONS -> "rps p50 p99 errors"
  local out rps p50 p99 errors
  out=$(wrk -t2 -c"$2" -d"${DURATION}s" --latency "$1")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(grep -E "Socket errors|Non-2xx" <<<"$out" | tr '\n' ' ' || true)
  echo "$rps $p50 $p99 ${errors:-none}"
}

# The status poller: one /v1/status body a line in $tmp/status.json. One
# process on one keep-alive connection, in a session of its own: a curl per
# poll (20 forks a second) took CPU from wrk's session during lagrouter's runs
# only, which showed as lagrouter being slower.
start_poller() {
  rm -f "$tmp/stop-poller"
  : >"$tmp/status.json"
  : >"$tmp/status-failed"
  setsid python3 - "$LR_PORT" "$tmp" <<'PY' &
import http.client, os, sys, time
port, tmp = int(sys.argv[1]), sys.argv[2]
conn = None
with open(f"{tmp}/status.json", "a") as ok, open(f"{tmp}/status-failed", "a") as failed:
    while not os.path.exists(f"{tmp}/stop-poller"):
        try:
            conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/v1/status")
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise OSError(r.status)
            ok.write(body.decode().replace("\n", " ") + "\n")
        except (OSError, http.client.HTTPException):
            failed.write("x\n")
            conn = None
        time.sleep(0.1)
PY
  poller_pid=$!
}
# poll_summary LATE_MS -> "polls failed_polls max_age late_cycles": a late
# cycle is a run of polls in which one server's age stays above LATE_MS.
poll_summary() {
  jq -r '.clusters[] as $c | $c.servers[] | "\($c.name)/\(.name) \(.last_probe_age_ms // -1)"' \
    "$tmp/status.json" |
    awk -v late="$1" -v polls="$(wc -l <"$tmp/status.json")" -v failed="$(wc -l <"$tmp/status-failed")" '
      { if ($2 > max) max = $2
        if ($2 > late) { if (!in_late[$1]) cycles++; in_late[$1] = 1 } else in_late[$1] = 0 }
      END { printf "%d %d %d %d\n", polls, failed, max, cycles }'
}
probe_counts() {  # "cluster/server count" a line, from /metrics
  curl -sf "$LR/metrics" | awk '/^lagrouter_probe_duration_seconds_count\{/ {
    c = $0; sub(/.*cluster="/, "", c); sub(/".*/, "", c)
    s = $0; sub(/.*server="/, "", s); sub(/".*/, "", s)
    print c "/" s, $NF }' | sort
}

# p99 as wrk prints it (us, ms or s) -> milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { u = v; sub(/[0-9.]+/, "", u); n = v + 0;
  printf "%.2f", u == "us" ? n / 1000 : u == "s" ? n * 1000 : n }'; }
median() { tr ' ' '\n' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
maximum() { tr ' ' '\n' | sort -g | tail -1; }

autogroup_first=$(autogroup_now)
[[ $autogroup_first != 0 ]] ||
  echo "note: autogroup is already 0 on this machine: both passes run with it off."
modes=("as is (autogroup $autogroup_first)" "autogroup off")
declare -A rps_n rps_l p99_n p99_l
answer_errors=() summary=() schedule=() failures=()
loops=""
echo "| scheduler | connections | round | server | requests/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|---|---|---|"
for m in 0 1; do
  if [[ $m == 1 ]]; then
    if ! autogroup_set 0; then
      modes[1]="autogroup off NOT set (still $(autogroup_now))"
    elif [[ $autogroup_first == 0 ]]; then
      modes[1]="autogroup off (as is too)"
    fi
  fi
  mode=${modes[$m]}
  start_servers "$tmp/lagrouter-$m.log"
  [[ -n $loops ]] || loops=$(sed -n 's/.*(\([0-9]*\) event loops,.*/\1/p' "$tmp/lagrouter-$m.log" | head -1)
  late_ms=$((interval_ms * 3 / 2))
  polls=0 failed_polls=0 max_age=0 late_cycles=0 elapsed_ns=0
  declare -A probes=()
  for c in 8 64; do
    # Interleaved rounds: a burst of other work on the machine hits both servers.
    for r in $(seq "$ROUNDS"); do
      read -r n_rps n_p50 n_p99 n_err <<<"$(run "$NGINX_URL" "$c")"
      probe_counts >"$tmp/probes-before"
      t0=$(date +%s%N)
      start_poller
      read -r l_rps l_p50 l_p99 l_err <<<"$(run "$URL" "$c")"
      stop_poller
      probe_counts >"$tmp/probes-after"
      elapsed_ns=$((elapsed_ns + $(date +%s%N) - t0))
      while read -r server before after; do
        probes[$server]=$((${probes[$server]:-0} + after - before))
      done < <(join "$tmp/probes-before" "$tmp/probes-after")
      read -r p f a l <<<"$(poll_summary "$late_ms")"
      polls=$((polls + p)) failed_polls=$((failed_polls + f)) late_cycles=$((late_cycles + l))
      ((a <= max_age)) || max_age=$a
      echo "| $mode | $c | $r | nginx (static body) | ${n_rps%.*} | $n_p50 | $n_p99 | $n_err |"
      echo "| $mode | $c | $r | lagrouter /v1/route | ${l_rps%.*} | $l_p50 | $l_p99 | $l_err |"
      [[ $l_err == none ]] || answer_errors+=("$mode, $c connections: $l_err")
      rps_n[$m/$c]+=" $n_rps" rps_l[$m/$c]+=" $l_rps"
      p99_n[$m/$c]+=" $(to_ms "$n_p99")" p99_l[$m/$c]+=" $(to_ms "$l_p99")"
    done
    n_med=$(median <<<"${rps_n[$m/$c]# }") l_med=$(median <<<"${rps_l[$m/$c]# }")
    ratio=$(awk -v a="$l_med" -v b="$n_med" 'BEGIN {printf "%.2f", a / b}')
    rps_n[$m/$c]=$n_med rps_l[$m/$c]=$l_med
    summary+=("| $mode | $c | ${ratio}x (${l_med%.*} / ${n_med%.*}) | $(median <<<"${p99_n[$m/$c]# }") | $(median <<<"${p99_l[$m/$c]# }") | $(maximum <<<"${p99_n[$m/$c]# }") | $(maximum <<<"${p99_l[$m/$c]# }") |")
  done
  probe_failures=$(grep -c "probe failed" "$tmp/lagrouter-$m.log" || true)
  expected=$(awk -v ns="$elapsed_ns" -v i="$interval_ms" 'BEGIN { printf "%.1f", ns / 1e6 / i }')
  done_list=""
  for server in $(printf '%s\n' "${!probes[@]}" | sort); do done_list+="${done_list:+, }$server ${probes[$server]}"; done
  schedule+=("| $mode | $polls ($failed_polls failed) | $max_age ms | $late_cycles | $probe_failures | ${done_list:-none} of $expected expected |")
  ((probe_failures == 0)) || failures+=("$mode: $probe_failures probe failures")
  ((polls > 0)) || failures+=("$mode: /v1/status never answered during the runs")
  ((late_cycles == 0)) || failures+=("$mode: $late_cycles late probe cycles (age > $late_ms ms)")
  unset probes
  stop_nginx
  stop_lagrouter
done

echo
echo "Medians of $ROUNDS rounds (p99 in ms):"
echo
echo "| scheduler | connections | lagrouter / nginx req/s | p99 nginx, median | p99 lagrouter, median | p99 nginx, worst | p99 lagrouter, worst |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
echo
echo "Probe schedule during the lagrouter runs (interval $interval_ms ms; late: age > $late_ms ms):"
echo
echo "| scheduler | /v1/status polls | max last_probe_age_ms | late cycles | probe failed (log) | probes per server, done |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${schedule[@]}"
echo
# The goal, with the machine as it is (mode 0).
r8=$(awk -v a="${rps_l[0/8]}" -v b="${rps_n[0/8]}" 'BEGIN {printf "%.2f", a / b}')
r64=$(awk -v a="${rps_l[0/64]}" -v b="${rps_n[0/64]}" 'BEGIN {printf "%.2f", a / b}')
p99n=$(median <<<"${p99_n[0/64]# }") p99l=$(median <<<"${p99_l[0/64]# }")
goal="NOT met"
awk -v r8="$r8" -v r64="$r64" -v n="$p99n" -v l="$p99l" \
  'BEGIN { exit !(r8 >= 0.9 && r64 >= 0.9 && l <= n) }' && goal=met
echo "goal (${modes[0]}: lagrouter >= 0.9x nginx's req/s at 8 and at 64 connections, p99 at 64 no higher than nginx's): $goal (${r8}x at 8, ${r64}x at 64; p99 at 64 $p99l vs $p99n ms)"
echo "(body: ${#body} bytes; wrk -t2; ${DURATION}s per run, $ROUNDS rounds; $(nproc) cores shared by wrk and the servers; lagrouter ${loops:-?} event loops, in $placement; autogroup put back to $autogroup_first at exit)"
# Throughput counts only if every answer was right and the probes kept their
# schedule (a failed probe turns routes into 503s).
[[ ${#answer_errors[@]} == 0 ]] || failures+=("lagrouter answered errors: ${answer_errors[*]}")
[[ ${#failures[@]} == 0 ]] || { printf 'FAIL: %s\n' "${failures[@]}" >&2; exit 1; }
