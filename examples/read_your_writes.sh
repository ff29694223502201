#!/usr/bin/env bash
# Read-your-writes with lagrouter, against the demo (scripts/demo.sh):
#   1. ask lagrouter for the primary (a 0 s class) and write a row there;
#   2. take the primary's WAL position after the commit (pg_current_wal_lsn());
#   3. route the follow-up read with after=<that position>&wait=50ms: lagrouter
#      only returns a server that has replayed it, probing the replicas at once
#      if none had in its last probe (a replica, or the primary after 50 ms);
#   4. read the row on the returned server: it is there.
# Without `after`, a replica that is fresh enough for the class but has not
# replayed this very write yet could be returned, and the read would miss it.
#
# Environment: LAGROUTER_URL (default http://127.0.0.1:8432), LAGROUTER_CLUSTER
# (shop), LAGROUTER_CLASS (dashboard), LAGROUTER_WRITE_CLASS (inventory),
# LAGROUTER_WAIT (50ms: how long lagrouter may probe for a replica that has
# replayed the write before answering with the primary), LAGROUTER_DB_PASSWORD
# (the demo's app password). Needs curl, jq, psql.
set -euo pipefail
URL="${LAGROUTER_URL:-http://127.0.0.1:8432}"
CLUSTER="${LAGROUTER_CLUSTER:-shop}"
CLASS="${LAGROUTER_CLASS:-dashboard}"
WRITE_CLASS="${LAGROUTER_WRITE_CLASS:-inventory}"
WAIT="${LAGROUTER_WAIT:-50ms}"  # how long lagrouter may probe for a replica that has the write
export PGPASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}" PGCONNECT_TIMEOUT=5

route() {  # route CLASS [AFTER] -> the JSON answer of /v1/route (fails on non-200)
  local args=(-sS --fail-with-body -G "$URL/v1/route" --data-urlencode "cluster=$CLUSTER"
    --data-urlencode "class=$1")
  [[ -n "${2:-}" ]] && args+=(--data-urlencode "after=$2" --data-urlencode "wait=$WAIT")
  curl "${args[@]}" || { echo "read_your_writes: lagrouter at $URL refused: see above" >&2; exit 1; }
}
sql() { psql -X -q -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U app shop -At "${@:3}"; }

primary=$(route "$WRITE_CLASS")
p_name=$(jq -r .server <<<"$primary") p_host=$(jq -r .host <<<"$primary")
p_port=$(jq -r .port <<<"$primary")

# One session: the INSERT commits (autocommit), then the position is read.
item="ryw-$(date +%s%N)"
mapfile -t out < <(sql "$p_host" "$p_port" -c "INSERT INTO orders (item) VALUES ('$item') RETURNING id" \
  -c "SELECT pg_current_wal_lsn()")
id=${out[0]} lsn=${out[1]}
echo "1. wrote order $id ('$item') on the primary $p_name ($p_host:$p_port)"
echo "2. primary WAL position after the commit: $lsn"

# Right after the commit no scheduled probe has seen a replica replay the
# write yet. With wait=, lagrouter probes the replicas now and answers as soon
# as one has it (usually within a few ms), or with the primary once the wait
# is over (fallback_primary).
answer=$(route "$CLASS" "$lsn")
s_name=$(jq -r .server <<<"$answer") s_host=$(jq -r .host <<<"$answer")
s_port=$(jq -r .port <<<"$answer")
echo "3. GET /v1/route?cluster=$CLUSTER&class=$CLASS&after=$lsn&wait=$WAIT -> $s_name ($(jq -r .role <<<"$answer"), $s_host:$s_port, bound $(jq -r .staleness_bound_ms <<<"$answer") ms, $(jq -r .reason <<<"$answer"))"

got=$(sql "$s_host" "$s_port" -c "SELECT item FROM orders WHERE id = $id")
if [[ "$got" == "$item" ]]; then
  echo "4. read on $s_name: order $id = '$got' -- read your own write: OK"
else
  echo "4. read on $s_name: order $id NOT FOUND -- read-your-writes broken" >&2
  exit 1
fi
