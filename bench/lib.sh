# shellcheck shell=bash
# Shared by the bench/ scripts that saturate the machine with wrk.
#
# The kernel's autogroup scheduling (on in this machine's kernel) shares the
# CPU per session rather than per thread. With the daemon in wrk's session, a
# 10 ms sleep loop in another session (as the PostgreSQL servers answering the
# daemon's probes are) woke up to 700 ms late under the load, probes failed
# and routes turned into 503s; with the daemon in a session of its own, as
# systemd starts it, 4 ms at most. bench/http_bench.sh places the daemon so
# and measures with autogroup as it is and off (autogroup_set);
# scale_bench.sh and on_demand_bench.sh turn it off while they run
# (autogroup_off). The caller's EXIT trap puts it back (autogroup_restore).
#
# The setting applies to processes as they are forked (or change session):
# those already running keep their group, so start the processes to measure
# after autogroup_set / autogroup_off.
AUTOGROUP=/proc/sys/kernel/sched_autogroup_enabled
autogroup_was=""
# autogroup_now: the current setting (0 or 1; "?" if the kernel has none).
autogroup_now() { cat "$AUTOGROUP" 2>/dev/null || echo "?"; }
# autogroup_set 0|1: sets it, remembering the value found first for
# autogroup_restore; false (and nothing changed) if it cannot be written.
autogroup_set() {
  [[ -w $AUTOGROUP ]] || return 1
  local now
  now=$(cat "$AUTOGROUP")
  echo "$1" 2>/dev/null >"$AUTOGROUP" || return 1
  [[ -n $autogroup_was ]] || autogroup_was=$now
}
autogroup_off() { autogroup_set 0 || true; }
autogroup_restore() {
  if [[ -n $autogroup_was ]]; then echo "$autogroup_was" >"$AUTOGROUP"; fi
}
autogroup_note() {
  local now
  now=$(autogroup_now)
  [[ $now == 0 ]] && now=off || now="$now (could not turn it off)"
  echo "autogroup ${autogroup_was:+was $autogroup_was, }$now for the run"
}
