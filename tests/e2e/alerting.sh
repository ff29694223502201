#!/usr/bin/env bash
# End-to-end test of lagrouter's alerting, on this machine with real servers,
# each listening on a port of 127.0.0.1 found free at start:
#
#   PostgreSQL cluster (scripts/pg-cluster.sh; started if needed, never stopped)
#     <- lagrouter          (its own config, probe every 250ms)
#     <- Prometheus         (scrape/evaluate every 1s; the shipped rules + test
#                            overrides)
#     -> Alertmanager       (alerts/alertmanager.example.yml, webhooks pointed
#                            at the receiver)
#     -> webhook receiver   (python3; one JSON line per POST)
#
# Checks:
#   1. replay paused on pg-b while the primary is written to: ReplicationLagHigh
#      for pg-b fires in Prometheus and Alertmanager delivers it to the receiver;
#   2. replay resumed: the alert resolves in Prometheus and the receiver gets
#      the resolved notification;
#   3. every dashboard and rule expression parses and returns data
#      (tests/alerts/dashboard_queries.sh --strict);
#   4. the daemon's /metrics passes `promtool check metrics`.
#
# Other tests pause pg-b too, and PostgreSQL's replay pause has no owner. So
# the script waits until nobody else holds a pause on pg-b, and asserts on
# pg-b only while its own pause is in effect: if another process resumes pg-b
# before the alert is delivered, that attempt is void and it retries (up to 3
# times). It never overrides somebody else's pause or resume.
#
# Needs: a built lagrouter (build/bin/lagrouter or $LAGROUTER_BIN), prometheus,
# prometheus-alertmanager (or alertmanager), promtool, amtool, psql, curl,
# python3. Prints one line per check and a last line "N passed, M failed";
# exits non-zero on any failure. Logs are kept in the temp dir on failure
# (KEEP_TMP=1 keeps them always).
#
# Usage: tests/e2e/alerting.sh

# Functions called from traps and through wait_until look unreachable to shellcheck.
# shellcheck disable=SC2317
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 2

LAGROUTER_BIN=${LAGROUTER_BIN:-$repo/build/bin/lagrouter}
PY=${PYTHON:-python3}
HELPER="$here/e2e_helper.py"
PG_PASSWORD=${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}
source "$repo/tests/support/config.sh"

{ read -r LR_PORT; read -r PROM_PORT; read -r AM_PORT; read -r HOOK_PORT; } < <(free_ports 4)
LR="http://127.0.0.1:$LR_PORT"
PROM="http://127.0.0.1:$PROM_PORT"
AM="http://127.0.0.1:$AM_PORT"
HOOK="http://127.0.0.1:$HOOK_PORT"

# Test-sized alerting: the staleness-bound threshold comes from an override
# rules file (alerts/README.md, "Changing thresholds without editing the
# shipped file"); the `for:` of ReplicationLagHigh is part of the rule text,
# so it is shortened in a generated copy (README, "Changes thresholds can't
# express").
LAG_THRESHOLD=2
LAG_FOR=5s
FIRE_DEADLINE=60      # seconds from pause to the webhook receiving "firing"
RESOLVE_DEADLINE=60   # seconds from resume to the webhook receiving "resolved"
ATTEMPTS=3

source "$here/checks.sh"
holding_pause=0
pids=()
tmp=""

indent() { while IFS= read -r line; do printf '       %s\n' "$line"; done <<<"$1"; }

secs_since() { local d=$(($(now_ms) - $1)); printf '%d.%01d' $((d / 1000)) $((d % 1000 / 100)); }

# wait_until SECONDS COMMAND...: polls COMMAND every 200 ms until it succeeds or the deadline passes.
wait_until() { local s=$1; shift; wait_ms $((s * 1000)) 0.2 "$@"; }

# wait_stable QUIET_SECONDS DEADLINE_SECONDS COMMAND...: polls until COMMAND has
# succeeded at every poll for QUIET_SECONDS in a row, or the deadline passes.
wait_stable() {
  local quiet=$(($1 * 1000)) end=$(($(now_ms) + $2 * 1000)) since=""
  shift 2
  while (($(now_ms) < end)); do
    if "$@" >/dev/null 2>&1; then
      [[ -n "$since" ]] || since=$(now_ms)
      (($(now_ms) - since >= quiet)) && return 0
    else
      since=""
    fi
    sleep 0.2
  done
  return 1
}

stop_proc() {  # stop_proc PID: TERM, up to 5 s, then KILL
  local pid=$1 end
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  end=$(($(now_ms) + 5000))
  while kill -0 "$pid" 2>/dev/null && (($(now_ms) < end)); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Resume only a pause we hold: never undo another test's pause.
  if ((holding_pause)); then
    pg_b "SELECT pg_wal_replay_resume()" >/dev/null 2>&1 ||
      echo "# WARNING: could not resume replay on pg-b" >&2
  fi
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_proc "${pids[i]}"; done
  if [[ -n "$tmp" ]]; then
    if ((failed == 0 && rc == 0)) && [[ -z "${KEEP_TMP:-}" ]]; then
      rm -rf "$tmp"
    else
      echo "# logs and configs kept in $tmp"
    fi
  fi
  # The PostgreSQL cluster is left running: other tests use it.
  checks_end "$rc"
}
trap cleanup EXIT
trap 'fail "interrupted"; exit 1' INT TERM

# --- PostgreSQL helpers -------------------------------------------------------
PG_A_PORT=5441
PG_B_PORT=5442
pg_b() {  # SQL on pg-b as the superuser (trusted on 127.0.0.1 in the test cluster)
  PGCONNECT_TIMEOUT=5 psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_B_PORT" \
    -U postgres -d postgres -c "$1"
}
pause_state() { pg_b "SELECT pg_get_wal_replay_pause_state()"; }
pg_b_not_paused() { [[ "$(pause_state)" == "not paused" ]]; }
pg_b_paused() { [[ "$(pause_state)" == "paused" ]]; }

writer() {  # inserts on the primary, ~5 per second, until killed
  trap - EXIT INT TERM
  while :; do
    PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -h 127.0.0.1 -p "$PG_A_PORT" -U app \
      -d shop -c "INSERT INTO orders (item) VALUES ('e2e-alerting')" >/dev/null 2>&1
    sleep 0.2  # write rate, not a wait for a condition
  done
}

# --- Prometheus / receiver helpers --------------------------------------------
helper() { "$PY" "$HELPER" "$@"; }
prom_has() { helper query "$PROM" "$1" >/dev/null; }
prom_at_has() { helper query "$PROM" "$1" "$2" >/dev/null; }
alert_state() { helper alert "$PROM" ReplicationLagHigh pg-b | cut -d' ' -f1; }
alert_inactive() { [[ "$(alert_state)" == inactive ]]; }
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }
alive() { kill -0 "$1" 2>/dev/null; }

# start NAME LOG COMMAND...: starts COMMAND in the background, remembers its pid.
start() {
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  pids+=($!)
  eval "${name}_pid=$!"
}

# =============================================================================
# 0. Tools, ports, cluster, configs
# =============================================================================
missing=()
for tool in prometheus promtool amtool psql curl "$PY"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
ALERTMANAGER=$(command -v prometheus-alertmanager || command -v alertmanager || true)
[[ -n "$ALERTMANAGER" ]] || missing+=(prometheus-alertmanager)
((${#missing[@]} == 0)) ||
  die "missing tools: ${missing[*]} (apt-get install -y prometheus prometheus-alertmanager postgresql-client curl python3)"
[[ -x "$LAGROUTER_BIN" ]] ||
  die "no lagrouter binary at $LAGROUTER_BIN (cmake -S . -B build -G Ninja && ninja -C build)"
ok "tools present; free ports: lagrouter $LR_PORT, Prometheus $PROM_PORT, Alertmanager $AM_PORT, receiver $HOOK_PORT"

if out=$(scripts/pg-cluster.sh start 2>&1); then
  ok "PostgreSQL cluster up: $(echo "$out" | grep -c ' running ') nodes running"
else
  indent "$out"
  die "scripts/pg-cluster.sh start"
fi
PG_A_PORT=$(scripts/pg-cluster.sh port 0)
PG_B_PORT=$(scripts/pg-cluster.sh port 1)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lagrouter-e2e-alerting.XXXXXX")
echo "# temp dir $tmp"

lagrouter_config --listen "$LR_PORT" --interval 250ms --timeout 1s --pg shop "$PG_A_PORT" \
  --class inventory 0s --class dashboard 1s --class reports 1h --fallback error >"$tmp/lagrouter.toml"

# Test copy of the shipped rules with a shorter `for:` on ReplicationLagHigh
# only (2m would make the test take minutes). This is the documented way to
# change what thresholds can't express (alerts/README.md): generate a copy with
# sed and load it instead of the shipped file. Nothing else differs.
sed -e "/- alert: ReplicationLagHigh\$/,/^ *for:/ s/^\( *\)for: 2m\$/\1for: $LAG_FOR/" \
  alerts/lagrouter.rules.yml >"$tmp/lagrouter.rules.yml"
# Test-sized threshold: a global override, exactly as alerts/README.md documents.
cat >"$tmp/lagrouter.overrides.yml" <<EOF
groups:
  - name: lagrouter.threshold-overrides
    rules:
      # e2e test: warn when a replica's staleness bound exceeds ${LAG_THRESHOLD} s.
      - record: lagrouter:alert_threshold_lag_high_seconds
        expr: vector($LAG_THRESHOLD)
        labels:
          threshold: override
EOF
changed=$(diff alerts/lagrouter.rules.yml "$tmp/lagrouter.rules.yml" | grep -c '^>')
if [[ "$changed" == 1 ]] && grep -q "^ *for: $LAG_FOR\$" "$tmp/lagrouter.rules.yml" &&
  out=$(promtool check rules "$tmp/lagrouter.rules.yml" "$tmp/lagrouter.overrides.yml" 2>&1); then
  ok "test rules: shipped rules with ReplicationLagHigh for: $LAG_FOR (1 line changed) + override threshold ${LAG_THRESHOLD}s pass promtool check rules"
else
  indent "${out:-sed changed $changed lines}"
  die "test copy of the rules"
fi

cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $tmp/lagrouter.rules.yml
  - $tmp/lagrouter.overrides.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$AM_PORT"]
scrape_configs:
  - job_name: lagrouter
    static_configs:
      - targets: ["127.0.0.1:$LR_PORT"]
EOF

# Alertmanager: the shipped example with the webhooks pointed at the local
# receiver (pager -> /pager, chat -> /chat) and test-sized timers.
sed -e "s#http://127.0.0.1:9095/pager#$HOOK/pager#" \
  -e "s#http://127.0.0.1:9096/chat#$HOOK/chat#" \
  -e 's/^\( *\)resolve_timeout: 5m$/\1resolve_timeout: 10s/' \
  -e 's/^\( *\)group_wait: 30s$/\1group_wait: 1s/' \
  -e 's/^\( *\)group_interval: 5m$/\1group_interval: 1s/' \
  alerts/alertmanager.example.yml >"$tmp/alertmanager.yml"
if [[ $(grep -cE "$HOOK/(pager|chat)\"|resolve_timeout: 10s|group_wait: 1s|group_interval: 1s" \
  "$tmp/alertmanager.yml") == 5 ]] && ! grep -qE ':909[56]/' "$tmp/alertmanager.yml" &&
  out=$(amtool check-config "$tmp/alertmanager.yml" 2>&1) &&
  out2=$(promtool check config "$tmp/prometheus.yml" 2>&1); then
  ok "Prometheus config and Alertmanager config (example, webhooks -> $HOOK, group_wait/group_interval 1s, resolve_timeout 10s) valid"
else
  indent "${out:-} ${out2:-}"
  die "derived Alertmanager/Prometheus configs"
fi

# =============================================================================
# 1. Start receiver, lagrouter, Alertmanager, Prometheus
# =============================================================================
hookfile="$tmp/webhook.jsonl"
start receiver "$tmp/receiver.log" "$PY" "$HELPER" receive "$HOOK_PORT" "$hookfile"
start lagrouter "$tmp/lagrouter.log" env LAGROUTER_DB_PASSWORD="$PG_PASSWORD" \
  "$LAGROUTER_BIN" --config "$tmp/lagrouter.toml"
start alertmanager "$tmp/alertmanager.log" "$ALERTMANAGER" \
  --config.file="$tmp/alertmanager.yml" --storage.path="$tmp/am-data" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address=
start prometheus "$tmp/prometheus.log" prometheus \
  --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom-data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --rules.alert.resend-delay=1s

# shellcheck disable=SC2154  # *_pid are set by start()
for svc in "receiver $HOOK/ $receiver_pid" "lagrouter $LR/readyz $lagrouter_pid" \
  "Alertmanager $AM/-/ready $alertmanager_pid" "Prometheus $PROM/-/ready $prometheus_pid"; do
  read -r name url pid <<<"$svc"
  if wait_until 30 http_ok "$url" && alive "$pid"; then
    ok "$name ready ($url)"
  else
    log="$tmp/$(echo "$name" | tr '[:upper:]' '[:lower:]').log"
    indent "$(tail -n 15 "$log" 2>/dev/null)"
    die "$name not ready within 30 s ($url)"
  fi
done

# =============================================================================
# 2. Prometheus scrapes lagrouter; thresholds in effect
# =============================================================================
t0=$(now_ms)
if wait_until 30 prom_has 'up{job="lagrouter"} == 1'; then
  ok "Prometheus scrapes lagrouter: up{job=\"lagrouter\"} == 1 after $(secs_since "$t0") s"
else
  die "up{job=\"lagrouter\"} never became 1"
fi
if wait_until 15 prom_has "lagrouter:alert_threshold_lag_high_seconds{threshold=\"override\"} == $LAG_THRESHOLD"; then
  ok "override threshold lagrouter:alert_threshold_lag_high_seconds = $LAG_THRESHOLD recorded"
else
  fail "override threshold not recorded"
fi

# Ask some routes, so the routing panels have real traffic, and one bad request
# so the bad-request counter is exposed for the lint below.
codes=""
for cls in inventory dashboard reports nosuchclass; do
  codes+="$cls=$(curl -s -o /dev/null -w '%{http_code}' "$LR/v1/route?cluster=shop&class=$cls") "
done
if [[ "$codes" == "inventory=200 dashboard=200 reports=200 nosuchclass=400 " ]]; then
  ok "routes answered: $codes"
else
  fail "routes answered: $codes(expected 200 200 200 400)"
fi

# =============================================================================
# 3. Pause replay on pg-b while the primary writes: the alert fires
# =============================================================================
writer &
writer_pid=$!
pids+=("$writer_pid")

baseline_clean() { pg_b_not_paused && alert_inactive; }

attempt=0
fired=0
while ((attempt < ATTEMPTS)); do
  attempt=$((attempt + 1))
  # Nobody else holds a pause on pg-b, and its alert is not already active,
  # for a few seconds in a row (10 s after an interference, so that a test
  # that just resumed pg-b can finish its checks before we pause it again).
  quiet=3
  ((attempt > 1)) && quiet=10
  if ! wait_stable "$quiet" 90 baseline_clean; then
    fail "pg-b not quiet for 90 s before pausing (pause state: $(pause_state 2>&1), alert: $(alert_state 2>&1)); another test holds a pause?"
    break
  fi
  hook_from=$(helper lines "$hookfile")
  if ! pg_b "SELECT pg_wal_replay_pause()" >/dev/null; then
    fail "pg_wal_replay_pause() on pg-b"
    break
  fi
  holding_pause=1
  t_pause=$(now_ms)
  wait_until 10 pg_b_paused || note "pg-b pause state after 10 s: $(pause_state 2>&1)"
  t_prom="" t_hook="" t_firing_unix="" prom_labels="" hook_line="" interfered=0
  end=$((t_pause + FIRE_DEADLINE * 1000))
  while (($(now_ms) < end)); do
    if pg_b_not_paused; then interfered=1; break; fi
    if [[ -z "$t_prom" ]]; then
      a=$(helper alert "$PROM" ReplicationLagHigh pg-b)
      if [[ "$a" == firing* ]]; then
        t_prom=$(secs_since "$t_pause")
        t_firing_unix=$EPOCHREALTIME
        prom_labels=${a#firing }
      fi
    fi
    if [[ -z "$t_hook" ]] && hook_line=$(helper hook "$hookfile" "$hook_from" firing ReplicationLagHigh pg-b); then
      t_hook=$(secs_since "$t_pause")
    fi
    [[ -n "$t_prom" && -n "$t_hook" ]] && break
    sleep 0.25
  done
  if ((interfered)) && [[ -z "$t_prom" || -z "$t_hook" ]]; then
    # Somebody else resumed pg-b: the pause is no longer ours. Void attempt.
    holding_pause=0
    note "attempt $attempt: pg-b's replay was resumed by another process $(secs_since "$t_pause") s after our pause; retrying"
    continue
  fi
  fired=1
  break
done

if ((fired)); then
  if [[ -n "$t_prom" ]]; then
    ok "ReplicationLagHigh{server=\"pg-b\"} firing in Prometheus $t_prom s after pause (attempt $attempt): $prom_labels"
  else
    fail "ReplicationLagHigh{server=\"pg-b\"} not firing in Prometheus within ${FIRE_DEADLINE} s of the pause (state: $(alert_state))"
  fi
  if [[ -n "$t_hook" ]]; then
    IFS=$'\t' read -r hook_path hook_labels hook_ann <<<"$hook_line"
    ok "webhook got status=firing alertname=ReplicationLagHigh server=pg-b $t_hook s after pause via $hook_path: $hook_labels"
    # warning -> chat receiver (routing by severity), with the runbook link.
    if [[ "$hook_path" == /chat && "$hook_labels" == *'"severity": "warning"'* &&
      "$hook_ann" == *'"runbook_url": "https://github.com/lagrouter/lagrouter/blob/main/docs/runbooks.md#replicationlaghigh"'* ]]; then
      ok "notification routed to the chat (warning) receiver with summary, description and runbook_url"
    else
      fail "notification routing/annotations: path=$hook_path labels=$hook_labels annotations=$hook_ann"
    fi
  else
    fail "webhook got no firing ReplicationLagHigh for pg-b within ${FIRE_DEADLINE} s of the pause"
    indent "$(tail -n 5 "$hookfile" 2>/dev/null)"
  fi
  # The dashboard's alert annotation is empty on a healthy system (below), so
  # check it here, at an instant when the alert was firing.
  if [[ -n "$t_prom" ]]; then
    ann=$(tests/alerts/dashboard_queries.sh --list | awk -F'\t' '$1 == "annotation" {print $3; exit}')
    if [[ -n "$ann" ]] && prom_at_has "$ann" "${t_firing_unix/,/.}"; then
      ok "dashboard alert annotation query returns the firing alert"
    else
      fail "dashboard alert annotation query returned nothing while ReplicationLagHigh fired: $ann"
    fi
  fi
elif ((attempt >= ATTEMPTS)); then
  fail "could not hold a pause on pg-b in $ATTEMPTS attempts: another process kept resuming it"
fi

# =============================================================================
# 4. Resume replay: the alert resolves
# =============================================================================
if ((holding_pause)); then
  hook_from=$(helper lines "$hookfile")
  if pg_b "SELECT pg_wal_replay_resume()" >/dev/null; then
    holding_pause=0
    t_resume=$(now_ms)
    t_prom="" t_hook=""
    end=$((t_resume + RESOLVE_DEADLINE * 1000))
    while (($(now_ms) < end)); do
      [[ -z "$t_prom" ]] && alert_inactive && t_prom=$(secs_since "$t_resume")
      if [[ -z "$t_hook" ]] && helper hook "$hookfile" "$hook_from" resolved ReplicationLagHigh pg-b >/dev/null; then
        t_hook=$(secs_since "$t_resume")
      fi
      [[ -n "$t_prom" && -n "$t_hook" ]] && break
      sleep 0.25
    done
    if [[ -n "$t_prom" ]]; then
      ok "ReplicationLagHigh{server=\"pg-b\"} resolved in Prometheus $t_prom s after resume"
    else
      fail "ReplicationLagHigh{server=\"pg-b\"} still $(alert_state) ${RESOLVE_DEADLINE} s after resume (pg-b pause state now: $(pause_state 2>&1))"
    fi
    if [[ -n "$t_hook" ]]; then
      ok "webhook got status=resolved alertname=ReplicationLagHigh server=pg-b $t_hook s after resume"
    else
      fail "webhook got no resolved ReplicationLagHigh for pg-b within ${RESOLVE_DEADLINE} s of resume"
    fi
  else
    fail "pg_wal_replay_resume() on pg-b"
  fi
else
  fail "resolution not tested: no pause held on pg-b"
fi
stop_proc "$writer_pid"

# =============================================================================
# 5. Every dashboard and rule expression returns data from this Prometheus
# =============================================================================
# Allowed empty on a healthy system:
#   reported_lag  lagrouter_replica_reported_lag_seconds is absent while
#                 PostgreSQL reports replay_lag as NULL, which it does for a
#                 caught-up replica once no new WAL arrives (the metric
#                 contract: "absent when NULL"). It is the "engine-reported
#                 lag" target [B] of the staleness panel.
#   discovery     lagrouter_discovery_* exist only for clusters that take their
#                 members from Patroni (discovery = "patroni"); these clusters
#                 are listed. The alert on them is exercised by e2e_patroni and
#                 the promtool tests (tests/alerts).
# Nothing else is allowed: probe-error and route counters are exposed at 0 from
# start-up, rate() panels have had many 1 s scrapes by now, routes were asked
# above. Not failures by design of dashboard_queries.sh, so not in the list:
# alert expressions (empty = quiet) and the dashboard's ALERTS annotation
# (empty while nothing fires; checked above while ReplicationLagHigh fired).
ALLOW_EMPTY='reported_lag|discovery'
# At least two scrapes inside every rate() window ($__rate_interval = 1m).
wait_until 10 prom_has 'count_over_time(lagrouter_build_info[1m]) >= 3' || true
if out=$(tests/alerts/dashboard_queries.sh --strict --allow-empty "$ALLOW_EMPTY" "$PROM" 2>&1); then
  ok "dashboard_queries.sh --strict --allow-empty '$ALLOW_EMPTY': $(echo "$out" | tail -n 1)"
  echo "$out" | grep -E '^(EMPTY|MISSING)' | while IFS= read -r l; do note "$l"; done
else
  fail "dashboard_queries.sh --strict --allow-empty '$ALLOW_EMPTY'"
  indent "$(echo "$out" | grep -vE '^(DATA|PRESENT|QUIET)')"
fi

# =============================================================================
# 6. /metrics passes promtool check metrics
# =============================================================================
if curl -fsS --max-time 5 "$LR/metrics" >"$tmp/metrics.txt"; then
  lint=$(promtool check metrics <"$tmp/metrics.txt" 2>&1)
  rc=$?
  if ((rc == 0)) && [[ -z "$lint" ]]; then
    ok "promtool check metrics: no problems in $(grep -vc '^#' "$tmp/metrics.txt") samples of $(grep -c '^# TYPE' "$tmp/metrics.txt") families"
  else
    fail "promtool check metrics (exit $rc)"
    indent "$lint"
  fi
else
  fail "GET $LR/metrics"
fi

exit 0
