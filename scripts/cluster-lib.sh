# shellcheck shell=bash
# What scripts/pg-cluster.sh, scripts/mariadb-cluster.sh and
# scripts/patroni-cluster.sh share, sourced as
# `source cluster-lib.sh NAME` (NAME: the prefix of their messages): the
# settings they read from the environment (see their headers), messages,
# node N's port and the PostgreSQL data directory (postgres_dir).
#   cluster_base_port VARIABLE DEFAULT   BASE_PORT from $VARIABLE, checked
# shellcheck disable=SC2034  # the settings are for the scripts that source this
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The servers started here outlive this script, so they must not inherit the
# caller's descriptors beyond 0-2: under `flock /tmp/lagrouter-servers.lock
# ...` (how tests share these clusters) an inherited lock descriptor keeps
# the lock held for as long as the servers run, and every later test waits
# for ever. (255 is bash's own descriptor of the script it runs.)
for fd in "/proc/$$/fd/"*; do
  fd=${fd##*/}
  if ((fd > 2 && fd != 255)); then eval "exec $fd>&-"; fi
done
unset fd

CLUSTER_NAME=$1
RUN_DIR="${LAGROUTER_RUN_DIR:-$REPO/run}"
PASSWORD="${LAGROUTER_DB_PASSWORD:-lagrouter-demo-pw}"
WAIT_SECONDS="${LAGROUTER_WAIT_SECONDS:-60}"

die() { echo "$CLUSTER_NAME: $*" >&2; exit 1; }
log() { echo "$CLUSTER_NAME: $*" >&2; }

cluster_base_port() {
  BASE_PORT="${!1:-$2}"
  [[ "$BASE_PORT" =~ ^[0-9]+$ ]] || die "$1 must be a number: $BASE_PORT"
}
port() { echo $((BASE_PORT + $1)); }

# postgres_dir NAME: sets DIR to $RUN_DIR/NAME, made writable by the postgres
# user (PostgreSQL refuses to run as root), or, when that user cannot reach it
# (a checkout under a root-only home), to a directory of this checkout's own
# under /var/tmp; defines as_pg, which runs a command as that user (as it is
# when not root).
postgres_dir() {
  DIR="$RUN_DIR/$1"
  mkdir -p "$DIR"
  if [[ "$(id -u)" != 0 ]]; then
    as_pg() { "$@"; }
    return
  fi
  runuser -u postgres -- test -w "$DIR" 2>/dev/null || chown postgres: "$DIR" 2>/dev/null || true
  if ! runuser -u postgres -- test -w "$DIR" 2>/dev/null; then
    DIR="/var/tmp/lagrouter-$1-$(echo "$REPO" | md5sum | cut -c1-8)"
    mkdir -p "$DIR" && chown postgres: "$DIR"
  fi
  as_pg() { runuser -u postgres -- "$@"; }
}
