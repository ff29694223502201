# shellcheck shell=bash
# Shared by the HAProxy tests and benchmarks (sourced; defines functions only):
# runs a shipped HAProxy recipe (examples/haproxy.cfg) as it is, with only its
# addresses changed for the test. Needs tests/support/config.sh (free_ports).

# haproxy_render SRC OUT DAEMON_PORT PREFIX [SED_EXPR...]: writes SRC to OUT
# keeping the global and defaults sections and the `listen` sections whose
# name starts with PREFIX (e.g. shop_), with
#   - every check sent to lagrouter on DAEMON_PORT instead of 8432,
#   - every `bind 127.0.0.1:PORT` moved to a free port,
#   - each SED_EXPR applied (server ports, cluster and class names).
# OUT.ports lists "LISTEN_NAME PORT", a line per listener kept.
haproxy_render() {
  local src=$1 out=$2 daemon_port=$3 prefix=$4
  shift 4
  local -a exprs=(-e "s/check port 8432 /check port $daemon_port /")
  local e
  for e in "$@"; do exprs+=(-e "$e"); done
  awk -v prefix="$prefix" '
    /^[a-z]/ { keep = ($1 == "global" || $1 == "defaults" || ($1 == "listen" && index($2, prefix) == 1)) }
    /^# ----/ { next }
    keep' "$src" | sed "${exprs[@]}" >"$out.tmp"
  local n
  n=$(grep -c '^ *bind 127\.0\.0\.1:' "$out.tmp")
  local -a ports
  mapfile -t ports < <(free_ports "$n")
  awk -v ports="${ports[*]}" '
    BEGIN { split(ports, p, " "); i = 0 }
    /^listen / { name = $2 }
    /^ *bind 127\.0\.0\.1:/ { i++; sub(/127\.0\.0\.1:[0-9]+/, "127.0.0.1:" p[i]); print name, p[i] > "/dev/stderr" }
    { print }' "$out.tmp" >"$out" 2>"$out.ports"
  rm -f "$out.tmp"
}

# example_check_margin: the check_margin examples/lagrouter.toml gives the
# classes examples/haproxy.cfg polls ("" if none), for running the recipe as
# shipped.
example_check_margin() {
  local examples
  examples="$(dirname "${BASH_SOURCE[0]}")/../../examples"
  sed -n 's/^check_margin = "\([^"]*\)".*/\1/p' "$examples/lagrouter.toml" | head -1
}

# haproxy_port OUT NAME: the port haproxy_render gave listener NAME.
haproxy_port() {
  awk -v name="$2" '$1 == name { print $2 }' "$1.ports"
}
