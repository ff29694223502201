#!/usr/bin/env bash
# /v1/route throughput and latency against nginx serving the same body, on
# loopback, with wrk at 8 and 64 keep-alive connections.
#   bench/http_bench.sh [SECONDS [ROUNDS]]   default 10 s per run, 3 rounds
#   HTTP_BENCH_THREADS=N     lagrouter's [listen] threads (default: its own, "auto")
#   HTTP_BENCH_AUTOGROUP=on  leave the kernel's autogroup scheduling as it is
#                            (the machine as users have it; default: off for the run)
# Needs: the build (scripts/build.sh), the PostgreSQL cluster (started here if
# needed), nginx (apt-get install nginx-light) and wrk.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
DURATION="${1:-10}"
ROUNDS="${2:-3}"
source "$REPO/tests/support/config.sh"
{ read -r LR_PORT; read -r NGINX_PORT; } < <(free_ports 2)
export LAGROUTER_DB_PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || { echo "apt-get install -y nginx-light" >&2; exit 2; }
command -v wrk >/dev/null || { echo "apt-get install -y wrk" >&2; exit 2; }

tmp=$(mktemp -d)
pids=()
source "$REPO/bench/lib.sh"
[[ "${HTTP_BENCH_AUTOGROUP:-off}" == on ]] || autogroup_off
cleanup() {
  autogroup_restore
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -f $tmp/nginx.pid ]]; then kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

scripts/pg-cluster.sh start >/dev/null
threads_line=""
[[ -n "${HTTP_BENCH_THREADS:-}" ]] && threads_line="\\nthreads = $HTTP_BENCH_THREADS"
sed -e "s/^address = \"127.0.0.1:8432\"/address = \"127.0.0.1:$LR_PORT\"$threads_line/" \
  examples/lagrouter.toml >"$tmp/lagrouter.toml"
build/bin/lagrouter --config "$tmp/lagrouter.toml" >"$tmp/lagrouter.log" 2>&1 &
pids+=($!)
URL="http://127.0.0.1:$LR_PORT/v1/route?cluster=shop&class=dashboard"
wait_ready "http://127.0.0.1:$LR_PORT" 10 || true
# Measure the replica path: wait until a replica is fresh (settle included).
for _ in $(seq 200); do
  body=$(curl -sf "$URL" || true)
  [[ "$body" == *fresh_replica* ]] && break
  sleep 0.1
done
[[ "$body" == *fresh_replica* ]] || { echo "no fresh replica: $body" >&2; exit 1; }

# nginx: the same body, as a static 200 from memory.
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
/usr/sbin/nginx -c "$tmp/nginx.conf"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$NGINX_PORT/v1/route" >/dev/null && break; sleep 0.1; done

run() {  # run NAME URL CONNECTIONS -> "rps p50 p99"
  local out
  out=$(wrk -t2 -c"$3" -d"${DURATION}s" --latency "$2")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(grep -E "Socket errors|Non-2xx" <<<"$out" | tr '\n' ' ' || true)
  echo "$rps $p50 $p99 ${errors:-none}"
}

# p99 as wrk prints it (us, ms or s) -> milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { u = v; sub(/[0-9.]+/, "", u); n = v + 0;
  printf "%.2f", u == "us" ? n / 1000 : u == "s" ? n * 1000 : n }'; }
median() { tr ' ' '\n' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

answer_errors=()
ratios=()
goal_met=1
echo "| connections | round | server | requests/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|---|---|"
for c in 8 64; do
  n_all="" l_all="" l_p99_max=0
  # Interleaved rounds: a burst of other work on the machine hits both servers.
  for r in $(seq "$ROUNDS"); do
    read -r n_rps n_p50 n_p99 n_err < <(run nginx "http://127.0.0.1:$NGINX_PORT/v1/route" "$c")
    read -r l_rps l_p50 l_p99 l_err < <(run lagrouter "$URL" "$c")
    echo "| $c | $r | nginx (static body) | ${n_rps%.*} | $n_p50 | $n_p99 | $n_err |"
    echo "| $c | $r | lagrouter /v1/route | ${l_rps%.*} | $l_p50 | $l_p99 | $l_err |"
    [[ $l_err == none ]] || answer_errors+=("$c connections: $l_err")
    n_all+=" $n_rps" l_all+=" $l_rps"
    l_p99_max=$(awk -v a="$l_p99_max" -v b="$(to_ms "$l_p99")" 'BEGIN { print (b > a ? b : a) }')
  done
  n_med=$(median <<<"${n_all# }") l_med=$(median <<<"${l_all# }")
  ratio=$(awk -v a="$l_med" -v b="$n_med" 'BEGIN {printf "%.2f", a / b}')
  ratios+=("$c connections: ${ratio}x (median ${l_med%.*} vs ${n_med%.*} req/s, lagrouter p99 <= ${l_p99_max} ms)")
  awk -v r="$ratio" 'BEGIN { exit !(r >= 0.5) }' || goal_met=0
  if [[ $c == 64 ]]; then awk -v p="$l_p99_max" 'BEGIN { exit !(p < 5) }' || goal_met=0; fi
done
echo
echo "lagrouter / nginx, median of $ROUNDS rounds:"
printf '  %s\n' "${ratios[@]}"
echo "goal (>= 0.5x nginx at 8 and 64 connections, p99 < 5 ms at 64): $([[ $goal_met == 1 ]] && echo met || echo NOT met)"
# Throughput counts only if every answer was right: no probe may have failed
# under the load (a failed probe turns routes into 503s).
probe_failures=$(grep -c "probe failed" "$tmp/lagrouter.log" || true)
echo "probe failures during the run: $probe_failures"
loops=$(sed -n 's/.*(\([0-9]*\) event loops,.*/\1/p' "$tmp/lagrouter.log" | head -1)
autogroup=$(autogroup_note)
[[ "${HTTP_BENCH_AUTOGROUP:-off}" == on ]] && autogroup="autogroup $(cat "$AUTOGROUP" 2>/dev/null || echo '?'), as the machine is"
echo "(body: ${#body} bytes; wrk -t2; ${DURATION}s per run, $ROUNDS rounds; $(nproc) cores shared by wrk and the server; lagrouter ${loops:-?} event loops; $autogroup)"
[[ $probe_failures == 0 ]] || { echo "FAIL: probes failed under load" >&2; exit 1; }
[[ ${#answer_errors[@]} == 0 ]] || { echo "FAIL: lagrouter answered errors: ${answer_errors[*]}" >&2; exit 1; }
