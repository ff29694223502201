#!/usr/bin/env bash
# lagrouter beside a real Patroni cluster (scripts/patroni-cluster.sh: etcd,
# Patroni 3, PostgreSQL 15 on 5481-5484), members discovered from Patroni's
# REST API: an automatic failover (kill -9 of the leader's postmaster), a
# switchover, a fourth member added and removed at run time, a replica
# re-initialised; and a lying, unreachable and half-answering manager (a fake
# Patroni beside the real one) that must not make lagrouter route wrongly.
# The daemon probes every 250 ms (the default).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PATRONI="$REPO/scripts/patroni-cluster.sh"
INTERVAL_MS=250

"$PATRONI" start >"$WORK/patroni-start.log" 2>&1 || { cat "$WORK/patroni-start.log"; die "scripts/patroni-cluster.sh start failed"; }
eval "$("$PATRONI" env)"
pg_port() { "$PATRONI" port "${1#pt}"; }
leader() { "$PATRONI" leader; }

# A fake Patroni: GET /cluster answers the file $WORK/fake/cluster, or 503
# while $WORK/fake/down exists.
mkdir -p "$WORK/fake"
FAKE_PORT=$(free_port)
python3 - "$FAKE_PORT" "$WORK/fake" >"$WORK/fake.log" 2>&1 <<'PY' &
import http.server, os, sys
port, root = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/cluster" or os.path.exists(root + "/down"):
            self.send_response(503); self.end_headers(); return
        body = open(root + "/cluster", "rb").read()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
cleanups+=("kill $!")
# The fake lies: it calls the real leader a replica and a replica the leader,
# and lists a member "ghost" where nothing listens.
real_leader=$(leader)
liar_leader=$(curl -s "http://127.0.0.1:$("$PATRONI" rest-port 1)/cluster" | jq -r '[.members[] | select(.role != "leader")][0].name')
fake_cluster() {  # fake_cluster JQ_FILTER: the real /cluster, lied about, then filtered
  curl -s "http://127.0.0.1:$("$PATRONI" rest-port 1)/cluster" |
    jq --arg l "$real_leader" --arg f "$liar_leader" '
      .members |= (map(if .name == $l then .role = "replica" elif .name == $f then .role = "leader" else . end)
                   + [{"name": "ghost", "role": "replica", "state": "running", "host": "127.0.0.1", "port": 5489}])
      | '"${1:-.}" >"$WORK/fake/cluster.tmp" && mv "$WORK/fake/cluster.tmp" "$WORK/fake/cluster"
}
fake_cluster
wait_until 10 curl -sf "http://127.0.0.1:$FAKE_PORT/cluster" -o /dev/null || die "the fake Patroni did not start"

urls_toml="\"${PATRONI_REST_URLS//,/\", \"}\""
DAEMON_PORT=$(free_port)
DAEMON_URL="http://127.0.0.1:$DAEMON_PORT"
cat >"$WORK/lagrouter.toml" <<TOML
[listen]
address = "127.0.0.1:$DAEMON_PORT"
[probe]
interval = "${INTERVAL_MS}ms"
timeout = "1s"
[[cluster]]
name = "ha"
engine = "postgres"
user = "lagrouter"
password_env = "LAGROUTER_DB_PASSWORD"
database = "shop"
discovery = "patroni"
patroni_urls = [$urls_toml]
discovery_interval = "500ms"
[[cluster]]
name = "liar"
engine = "postgres"
user = "lagrouter"
password_env = "LAGROUTER_DB_PASSWORD"
discovery = "patroni"
patroni_urls = ["http://127.0.0.1:$FAKE_PORT"]
discovery_interval = "200ms"
[class.inventory]
max_staleness = "0s"
[class.dashboard]
max_staleness = "2s"
TOML
"$BIN" --config "$WORK/lagrouter.toml" >"$WORK/lagrouter.log" 2>&1 &
daemon_pid=$!
cleanups+=("kill $daemon_pid; wait $daemon_pid; cp $WORK/lagrouter.log $ARTIFACTS/patroni-lagrouter.log")
wait_ready "$DAEMON_URL" 20 "$daemon_pid" || { cat "$WORK/lagrouter.log"; die "lagrouter did not become ready"; }

route() { curl -s "$DAEMON_URL/v1/route?cluster=$1&class=$2" | jq -r '.server // .error'; }
status() { curl -s "$DAEMON_URL/v1/status"; }
members() { status | jq -r --arg c "$1" '.clusters[] | select(.name == $c) | [.servers[].name] | join(",")'; }
discovery() { status | jq -r --arg c "$1" ".clusters[] | select(.name == \$c) | .discovery.$2"; }
role_of() { status | jq -r --arg s "$2" --arg c "$1" '.clusters[] | select(.name == $c) | .servers[] | select(.name == $s) | .role'; }
routes_to() { test "$(route "$1" "$2")" = "$3"; }
# For wait_until (which re-runs a command, not its arguments' substitutions):
members_are() { test "$(members "$1")" = "$2"; }
discovery_is() { test "$(discovery "$1" "$2")" = "$3"; }
role_is() { test "$(role_of "$1" "$2")" = "$3"; }
# streams NAME: the leader's pg_stat_replication shows NAME streaming.
streams() {
  local l; l=$(leader) || return 1
  [[ "$(psql -X -q -h 127.0.0.1 -p "$(pg_port "$l")" -U postgres -d postgres -Atc \
    "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$1' AND state = 'streaming'" 2>/dev/null)" == 1 ]]
}
check_ok() { test "$(http_code "/v1/check/ha/$1?class=dashboard&role=replica")" = 200; }
is_recovering() { psql -X -q -h 127.0.0.1 -p "$(pg_port "$1")" -U postgres -d postgres -Atc "SELECT pg_is_in_recovery()" 2>/dev/null; }

check "members discovered from Patroni: pt1,pt2,pt3" test "$(members ha)" = "pt1,pt2,pt3"
check "0s class routed to Patroni's leader $real_leader" wait_until 5 routes_to ha inventory "$real_leader"

# --- A lying manager: roles come from probing, never from the manager.
check "liar: members as the fake lists them, ghost included" test "$(members liar)" = "ghost,pt1,pt2,pt3"
check "liar: 0s class still routed to the real leader $real_leader, not to the fake's leader $liar_leader" \
  routes_to liar inventory "$real_leader"
check "liar: lagrouter probes $real_leader as primary and $liar_leader as replica" \
  test "$(role_of liar "$real_leader"),$(role_of liar "$liar_leader")" = "primary,replica"
ghost_routed=0
for ((i = 0; i < 40; i++)); do
  [[ "$(route liar dashboard)" == ghost ]] && ghost_routed=$((ghost_routed + 1))
  [[ "$(route liar inventory)" == "$real_leader" ]] || ghost_routed=$((ghost_routed + 100))
done
check "liar: 80 routes, none to ghost (nothing listens there) and every 0s one to $real_leader" test $ghost_routed -eq 0
check "liar: ghost's check fails (down)" test "$(http_code "/v1/check/liar/ghost?class=dashboard")" = 503

# --- The manager unreachable: last known members kept, and it shows.
touch "$WORK/fake/down"
check "liar unreachable: /v1/status discovery.state" wait_until 5 discovery_is liar state unreachable
check "liar unreachable: members kept" test "$(members liar)" = "ghost,pt1,pt2,pt3"
check "liar unreachable: error says HTTP 503" grep -q "HTTP 503" <<<"$(discovery liar error)"
check "liar unreachable: lagrouter_discovery_ok{cluster=\"liar\"} 0" \
  grep -q '^lagrouter_discovery_ok{cluster="liar"} 0' <<<"$(curl -s "$DAEMON_URL/metrics")"
check "liar unreachable: a warning in the log" grep -q "cluster=liar discovery unreachable: keeping the last known members (ghost, pt1, pt2, pt3)" "$WORK/lagrouter.log"
check "liar unreachable: still routes the 0s class to $real_leader" routes_to liar inventory "$real_leader"
# The status page (headless Chromium, after its scripts ran) says so too.
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --virtual-time-budget=3000 \
  --user-data-dir="$(mktemp -d "$WORK/chr-XXXX")" --dump-dom "$DAEMON_URL/" >"$WORK/page.html" 2>/dev/null
check "liar unreachable: the status page shows 'patroni unreachable: keeping 4 members'" \
  grep -q "patroni unreachable: keeping 4 members" "$WORK/page.html"
check "the status page shows the healthy cluster's 'patroni: 3 members'" grep -q "patroni: 3 members" "$WORK/page.html"
# --- Half an answer: a member without a port. Nothing is removed.
fake_cluster '.members |= map(if .name == "ghost" then del(.port) else . end)'
rm -f "$WORK/fake/down"
check "liar partial: /v1/status discovery.state" wait_until 5 discovery_is liar state partial
check "liar partial: ghost kept" test "$(members liar)" = "ghost,pt1,pt2,pt3"
check "liar partial: error names the member" grep -q "(ghost): no usable port" <<<"$(discovery liar error)"
# --- A complete answer without ghost: it is dropped.
fake_cluster '.members |= map(select(.name != "ghost"))'
check "liar: ghost removed once the manager answers completely without it" wait_until 5 members_are liar "pt1,pt2,pt3"
check "liar: discovery ok again" test "$(discovery liar state)" = ok

# --- 1. kill -9 of the leader's postmaster: Patroni fails over by itself.
old=$(leader)
others=()
for m in pt1 pt2 pt3; do [[ $m == "$old" ]] || others+=("$m"); done
t_kill=$(now_ms)
"$PATRONI" kill-leader >/dev/null
t_promoted="" new="" t_routed=""
deadline=$((SECONDS + 60))
while [[ -z "$t_routed" ]] && ((SECONDS < deadline)); do
  if [[ -z "$t_promoted" ]]; then
    for m in "${others[@]}"; do
      if [[ "$(is_recovering "$m")" == f ]]; then t_promoted=$(now_ms); new=$m; break; fi
    done
  fi
  if [[ -n "$new" ]] && routes_to ha inventory "$new"; then t_routed=$(now_ms); fi
  sleep 0.01
done
check "failover: Patroni promoted a new leader ($new)" test -n "$new"
check "failover: lagrouter routes the 0s class to $new" test -n "$t_routed"
if [[ -n "$t_routed" ]]; then
  echo "    kill -> promoted ${new}: $((t_promoted - t_kill)) ms; promoted -> routed: $((t_routed - t_promoted)) ms (probe interval ${INTERVAL_MS} ms)"
  # One probe interval, plus a round trip and this loop's own polling (~50 ms of psql and curl).
  check "failover: routed within one probe interval + 150 ms of the promotion" test $((t_routed - t_promoted)) -le $((INTERVAL_MS + 150))
fi
# Until the old leader streams again, no 0s route may name it.
to_old=0 n=0
until streams "$old" && ((n > 20)); do
  [[ "$(route ha inventory)" == "$old" ]] && to_old=$((to_old + 1))
  n=$((n + 1))
  sleep 0.05
done
check "failover: $n 0s routes while $old rejoined, none to the demoted $old ($to_old)" test $to_old -eq 0
check "failover: lagrouter probes $old as a replica again" wait_until 10 role_is ha "$old" replica
check "failover: the members did not change" test "$(members ha)" = "pt1,pt2,pt3"

# --- 2. patronictl switchover.
old=$(leader)
new=$("$PATRONI" switchover 2>/dev/null)
check "switchover: Patroni moved the leader from $old to $new" test -n "$new" -a "$new" != "$old"
check "switchover: 0s class routed to $new within 2 s" wait_until 2 routes_to ha inventory "$new"
check "switchover: $old probed as a replica" wait_until 20 role_is ha "$old" replica

# --- 3. A fourth member, added and removed at run time.
"$PATRONI" add-member 4 >"$WORK/add.log" 2>&1 || cat "$WORK/add.log"
check "add: pt4 discovered (member_changes 1)" wait_until 5 members_are ha "pt1,pt2,pt3,pt4"
check "add: pt4 passes the 2 s class's check once fresh" wait_until 20 check_ok pt4
seen4=0
for ((i = 0; i < 60; i++)); do [[ "$(route ha dashboard)" == pt4 ]] && seen4=1; done
check "add: pt4 serves reads of the 2 s class" test $seen4 -eq 1
"$PATRONI" remove-member 4 >"$WORK/remove.log" 2>&1 || cat "$WORK/remove.log"
check "remove: pt4 dropped once Patroni no longer lists it" wait_until 5 members_are ha "pt1,pt2,pt3"
check "remove: member_changes is 2" test "$(discovery ha member_changes)" = 2
check "remove: lagrouter_discovery_members{cluster=\"ha\"} 3" \
  grep -q '^lagrouter_discovery_members{cluster="ha"} 3' <<<"$(curl -s "$DAEMON_URL/metrics")"

# --- 4. patronictl reinit of a replica: out while rebuilt, back once fresh.
target=""
for m in pt3 pt2 pt1; do [[ "$m" != "$(leader)" ]] && { target=$m; break; }; done
check "reinit: $target eligible before" wait_until 10 check_ok "$target"
"$PATRONI" reinit "${target#pt}" >/dev/null &
reinit_pid=$!
out_seen=0 bad=0 rebuilding_seen=0
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
  state=$(curl -s "http://127.0.0.1:$("$PATRONI" rest-port 1)/cluster" | jq -r --arg t "$target" '.members[] | select(.name == $t) | .state')
  code=$(http_code "/v1/check/ha/$target?class=dashboard&role=replica")
  [[ $code == 503 ]] && out_seen=1
  # Patroni stops the member, wipes it and runs a base backup: any state
  # but running proves the rebuild (a fast one can pass "creating replica"
  # between two polls). While it copies, nothing may pass or route to it.
  [[ -n $state && $state != running && $state != streaming ]] && rebuilding_seen=1
  if [[ "$state" == "creating replica" ]]; then
    [[ $code == 200 || "$(route ha dashboard)" == "$target" ]] && bad=$((bad + 1))
  fi
  ((out_seen && rebuilding_seen)) && [[ "$state" == running && $code == 200 ]] && break
  sleep 0.05
done
wait $reinit_pid
check "reinit: Patroni rebuilt $target (a state other than running seen)" test $rebuilding_seen -eq 1
check "reinit: $target left the 2 s class" test $out_seen -eq 1
check "reinit: never passed or routed while being rebuilt ($bad)" test $bad -eq 0
check "reinit: $target eligible again once fresh" wait_until 30 check_ok "$target"

check "no error-level line in lagrouter's log" bash -c "! grep -E ' (error|critical) ' '$WORK/lagrouter.log'"
summary
