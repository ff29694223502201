#!/usr/bin/env bash
# The status page at GET / in headless Chromium against a real lagrouter and
# the shared PostgreSQL cluster: the page must show the servers, roles,
# bounds, sparklines and per-class eligibility, and follow a replica whose
# replay this test pauses. Screenshots go to build/test-artifacts/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPLICA=pg-c REPLICA_PORT=5443  # the replica this test pauses

command -v chromium >/dev/null || die "chromium is not installed (apt-get install -y chromium)"
start_shop 2s

# chromium_page OUT_PREFIX: the DOM after 3 s of virtual time (3 refreshes),
# and a 1280x900 screenshot.
chromium_page() {
  local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --hide-scrollbars --virtual-time-budget=3000)
  timeout 60 chromium "${flags[@]}" --user-data-dir="$(mktemp -d "$WORK/chr-XXXX")" \
    --dump-dom "$DAEMON_URL/" >"$1.html" 2>"$WORK/chromium.log"
  timeout 60 chromium "${flags[@]}" --user-data-dir="$(mktemp -d "$WORK/chr-XXXX")" \
    --window-size=1280,900 --screenshot="$1.png" "$DAEMON_URL/" >/dev/null 2>>"$WORK/chromium.log"
}
has() { grep -q -- "$2" "$1"; }
cell() {  # cell DOM CLASS SERVER -> data-eligible of the matrix cell
  grep -o "data-class=\"$2\" data-server=\"$3\" data-eligible=\"[a-z]*\"" "$1" | head -1 |
    sed 's/.*data-eligible="\([a-z]*\)"/\1/'
}
bound_ms() {  # bound_ms DOM SERVER -> the data-bound-ms in that server's row
  sed 's/<tr /\n<tr /g' "$1" | grep "^<tr data-server=\"$2\"" |
    grep -o 'data-bound-ms="[0-9]*"' | head -1 | grep -o '[0-9]*'
}

# 1. Healthy: wait (others may pause replicas too) until our replica is eligible.
wait_until 30 answers 200 "/v1/check/shop/$REPLICA?class=dashboard" ||
  die "$REPLICA never became eligible for dashboard: $(curl -s "$DAEMON_URL/v1/check/shop/$REPLICA?class=dashboard")"
chromium_page "$WORK/healthy"
DOM="$WORK/healthy.html"
cp "$DOM" "$ARTIFACTS/status_page_healthy.html"
cp "$WORK/healthy.png" "$ARTIFACTS/status_page_healthy.png"
check "page connected to the daemon (live)" has "$DOM" '<span id="conn" class="pill ok">live</span>'
check "page shows cluster shop" has "$DOM" 'data-cluster="shop"'
check "pg-a shown as primary" has "$DOM" '<tr data-server="pg-a" data-role="primary">'
check "pg-b shown as replica" has "$DOM" '<tr data-server="pg-b" data-role="replica">'
check "pg-c shown as replica" has "$DOM" '<tr data-server="pg-c" data-role="replica">'
b=$(bound_ms "$DOM" $REPLICA)
check "$REPLICA shows a bound (${b:-none} ms) within the 2 s class" test -n "$b" -a "${b:-99999}" -le 2000
check "$REPLICA bound rendered as text" grep -Eq '<span class="pill ok">[0-9]+ ms</span>' "$DOM"
points=$(grep -o 'data-points="[0-9]*"' "$DOM" | head -1 | grep -o '[0-9]*')
check "sparkline has several samples (${points:-0})" test "${points:-0}" -ge 2
check "every class listed" bash -c "grep -q 'tr data-class=\"inventory\"' '$DOM' && grep -q 'tr data-class=\"dashboard\"' '$DOM' && grep -q 'tr data-class=\"reports\"' '$DOM'"
check "$REPLICA eligible for dashboard" test "$(cell "$DOM" dashboard $REPLICA)" = true
check "$REPLICA eligible for reports" test "$(cell "$DOM" reports $REPLICA)" = true
check "$REPLICA not eligible for inventory (0 s)" test "$(cell "$DOM" inventory $REPLICA)" = false
check "pg-a serves inventory" test "$(cell "$DOM" inventory pg-a)" = true
check "screenshot written" test -s "$WORK/healthy.png"

# 2. Pause replay on our replica while the writer commits: once its bound
#    passes 2 s the page must show it paused, stale and out of dashboard.
pause_replay $REPLICA_PORT
wait_until 15 answers 503 "/v1/check/shop/$REPLICA?class=dashboard" ||
  fail "$REPLICA still eligible for dashboard 15 s after pausing replay"
chromium_page "$WORK/paused"
DOM="$WORK/paused.html"
cp "$DOM" "$ARTIFACTS/status_page_paused.html"
cp "$WORK/paused.png" "$ARTIFACTS/status_page.png"
check "paused $REPLICA shown as 'replay paused'" bash -c "sed 's/<tr /\n<tr /g' '$DOM' | grep '^<tr data-server=\"$REPLICA\"' | grep -q 'replay paused'"
b=$(bound_ms "$DOM" $REPLICA)
check "paused $REPLICA shows a bound over 2 s (${b:-none} ms)" test -n "$b" -a "${b:-0}" -gt 2000
check "paused $REPLICA not eligible for dashboard" test "$(cell "$DOM" dashboard $REPLICA)" = false
check "paused $REPLICA still eligible for reports (1 h)" test "$(cell "$DOM" reports $REPLICA)" = true
resume_replay $REPLICA_PORT

# 3. With API tokens configured, the page asks for a token instead of failing.
TOKEN=e2e-status-page-token
start_daemon --pg shop "$PG_PRIMARY" --class dashboard 2s --toml "[[client]]
name = \"oncall\"
token_sha256 = \"$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)\"
clusters = [\"*\"]
classes = [\"*\"]"
chromium_page "$WORK/auth"
check "with tokens configured the page asks for one" has "$WORK/auth.html" 'requires an API token'
check "and shows 'token needed'" has "$WORK/auth.html" 'token needed'
cp "$WORK/auth.png" "$ARTIFACTS/status_page_token.png"

echo "artifacts: $ARTIFACTS/status_page.png (paused $REPLICA), $ARTIFACTS/status_page_healthy.png"
summary
