# shellcheck shell=bash
# What scripts/pg-cluster.sh and scripts/mariadb-cluster.sh share (sourced by
# both after they set CLUSTER_NAME, the prefix of their messages): the
# settings they read from the environment (see their headers), messages, and
# node N's port.
#   cluster_base_port VARIABLE DEFAULT   BASE_PORT from $VARIABLE, checked
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
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
