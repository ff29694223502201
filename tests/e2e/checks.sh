# shellcheck shell=bash
# The check lines of alerting.sh and partitions.sh (sourced; no side effects
# but two counters): "ok   - ..." or "FAIL - ..." per check, "#      ..." for
# measurements; the caller's EXIT trap prints "N passed, M failed". Also the
# millisecond clock and the polling wait both use.
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() {  # check DESCRIPTION COMMAND...: ok when COMMAND succeeds
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
note() { echo "#      $*"; }
die() { fail "$*"; exit 1; }

now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }

# wait_ms MILLISECONDS POLL_SECONDS COMMAND...: polls COMMAND (output hidden)
# every POLL_SECONDS until it succeeds; false once the deadline has passed.
wait_ms() {
  local end=$(($(now_ms) + $1)) poll=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) < end)) || return 1
    sleep "$poll"
  done
}

# checks_end RC: prints "N passed, M failed" and exits, 1 when a check failed
# or RC (the status the script is exiting with) is not 0.
checks_end() {
  (($1 != 0 && failed == 0)) && failed=1
  echo "$passed passed, $failed failed"
  ((failed == 0)) && exit 0
  exit 1
}
