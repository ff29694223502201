# shellcheck shell=bash
# Shared by the shell tests and benchmarks (sourced; defines functions only):
# free ports, a lagrouter config from a few arguments, starting a daemon.
# The daemon reads the password of every cluster from $LAGROUTER_DB_PASSWORD.

# free_ports N: N distinct TCP ports free on 127.0.0.1 right now, one a line.
# They are held open together while chosen, so no two are the same.
free_ports() {
  python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))' "$1"
}
free_port() { free_ports 1; }

# lagrouter_config OPTION...: prints a lagrouter config (TOML). Options, in
# any order (clusters and classes keep theirs):
#   --listen PORT               listen on 127.0.0.1:PORT
#   --interval D, --timeout D   [probe] interval and timeout (defaults otherwise)
#   --cluster NAME ENGINE       a cluster (postgres or mysql), user lagrouter
#   --database DB               the database the last cluster's probes use
#   --server NAME PORT          a server of the last cluster, on 127.0.0.1
#   --pg NAME BASE              cluster NAME of scripts/pg-cluster.sh: pg-a
#                               (primary), pg-b, pg-c on ports BASE, +1, +2
#   --mariadb NAME BASE         likewise for scripts/mariadb-cluster.sh: db-0..db-2
#   --class NAME MAX_STALENESS  a query class
#   --fallback F                the last class's fallback (primary or error)
#   --check-margin D            the last class's check_margin
#   --toml TEXT                 more TOML, appended as it is
lagrouter_config() {
  local listen="" interval="" timeout="" clusters="" classes="" more=""
  local -a names
  while (($#)); do
    case $1 in
      --listen) listen=$2; shift 2 ;;
      --interval) interval=$2; shift 2 ;;
      --timeout) timeout=$2; shift 2 ;;
      --cluster)
        printf -v clusters '%s[[cluster]]\nname = "%s"\nengine = "%s"\nuser = "lagrouter"\npassword_env = "LAGROUTER_DB_PASSWORD"\n' \
          "$clusters" "$2" "$3"
        shift 3 ;;
      --database) printf -v clusters '%sdatabase = "%s"\n' "$clusters" "$2"; shift 2 ;;
      --server)
        printf -v clusters '%s  [[cluster.server]]\n  name = "%s"\n  host = "127.0.0.1"\n  port = %d\n' \
          "$clusters" "$2" "$3"
        shift 3 ;;
      --pg | --mariadb)
        if [[ $1 == --pg ]]; then names=(pg-a pg-b pg-c); else names=(db-0 db-1 db-2); fi
        local cluster=$2 engine=postgres base=$3
        [[ $1 == --pg ]] || engine=mysql
        shift 3
        set -- --cluster "$cluster" "$engine" \
          --server "${names[0]}" "$base" --server "${names[1]}" $((base + 1)) \
          --server "${names[2]}" $((base + 2)) "$@"
        ;;
      --class) printf -v classes '%s[class.%s]\nmax_staleness = "%s"\n' "$classes" "$2" "$3"; shift 3 ;;
      --fallback) printf -v classes '%sfallback = "%s"\n' "$classes" "$2"; shift 2 ;;
      --check-margin) printf -v classes '%scheck_margin = "%s"\n' "$classes" "$2"; shift 2 ;;
      --toml) more+="$2"$'\n'; shift 2 ;;
      *) echo "lagrouter_config: unknown option $1" >&2; return 2 ;;
    esac
  done
  [[ -z $listen ]] || printf '[listen]\naddress = "127.0.0.1:%s"\n' "$listen"
  [[ -z $interval$timeout ]] || echo "[probe]"
  [[ -z $interval ]] || printf 'interval = "%s"\n' "$interval"
  [[ -z $timeout ]] || printf 'timeout = "%s"\n' "$timeout"
  printf '%s%s%s' "$clusters" "$classes" "$more"
}

# wait_ready URL SECONDS [PID]: polls URL/readyz every 100 ms until it answers
# 200; false after SECONDS, or as soon as process PID (if given) is gone.
wait_ready() {
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null "$1/readyz"; do
    [[ -z ${3:-} ]] || kill -0 "$3" 2>/dev/null || return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
