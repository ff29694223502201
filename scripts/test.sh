#!/usr/bin/env bash
# Runs every lagrouter test on this machine, from a fresh clone:
#   1. installs the Debian packages (scripts/install-deps.sh),
#   2. builds (scripts/build.sh) and runs the unit tests,
#   3. runs the libFuzzer targets for a bounded time (fuzz/run.sh, ~15 s each),
#   4. starts the local PostgreSQL and MariaDB clusters and the Patroni cluster (the project's scripts),
#   5. runs the integration, end-to-end and chaos tests against them (ctest; the
#      chaos tests start isolated clusters of their own, tests/chaos/run.sh),
#   6. runs the unit tests again under ASan+UBSan and under TSan.
# Clusters this script started are stopped again at the end.
#   LAGROUTER_SKIP_SANITIZERS=1 scripts/test.sh    skip step 6 (faster local runs)
#   LAGROUTER_FUZZ_SECONDS=N scripts/test.sh       fuzz each target N s (default 15)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
jobs=$(nproc)

step() { printf '\n=== %s\n' "$*"; }

# Runs ctest, tallies its count; stops the script on any failure.
passed=0
summary=()
run_ctest() {
  local name=$1 log
  shift
  log=$(mktemp)
  if ! ctest "$@" --output-on-failure | tee "$log"; then
    rm -f "$log"
    echo "FAILED: $name" >&2
    exit 1
  fi
  local n
  n=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
  rm -f "$log"
  passed=$((passed + ${n:-0}))
  summary+=("$name: ${n:-0} passed;")
}

step "packages"
scripts/install-deps.sh

step "build"
scripts/build.sh

stop_clusters=()
cleanup() {
  for c in "${stop_clusters[@]}"; do "scripts/$c-cluster.sh" stop || true; done
}
trap cleanup EXIT
# A cluster already answering on its first port was started by someone else.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open "${LAGROUTER_PG_BASE_PORT:-5441}" || stop_clusters+=(pg)
port_open "${LAGROUTER_MYSQL_BASE_PORT:-3407}" || stop_clusters+=(mariadb)
port_open "${LAGROUTER_PATRONI_PG_PORT:-5481}" || stop_clusters+=(patroni)

step "unit tests"
run_ctest unit --test-dir build -L unit -j "$jobs"

step "fuzzing (libFuzzer, ASan+UBSan)"
fuzz_seconds="${LAGROUTER_FUZZ_SECONDS:-15}"
if ! fuzz/run.sh "$fuzz_seconds"; then
  echo "FAILED: fuzz" >&2
  exit 1
fi
passed=$((passed + 4))
summary+=("fuzz: 4 targets x ${fuzz_seconds}s passed;")

step "servers"
scripts/pg-cluster.sh start
scripts/mariadb-cluster.sh start
scripts/patroni-cluster.sh start

step "integration, end-to-end and chaos tests (real servers)"
run_ctest "integration, e2e, chaos" --test-dir build -LE unit

if [[ "${LAGROUTER_SKIP_SANITIZERS:-0}" != 1 ]]; then
  for s in asan tsan; do
    step "unit tests under $s"
    scripts/build.sh "$s" router_test probes_test daemon_test
    TSAN_OPTIONS="suppressions=$REPO/tests/tsan.supp ${TSAN_OPTIONS:-}" run_ctest "unit ($s)" --test-dir "build-$s" -L unit -j "$jobs"
  done
fi

step "summary"
echo "${summary[*]}"
echo "all: $passed passed, 0 failed"
