# Shared by the bench/ scripts that saturate the machine with wrk.
#
# The kernel's autogroup scheduling (on in this machine's kernel) shares the
# CPU per session rather than per thread. When wrk and the daemon saturate
# both cores, processes of other sessions starve for seconds (a sleep(10 ms)
# loop in another session woke up to 4 s late) and so do threads queued
# behind a busy one: the PostgreSQL servers stopped answering the daemon's
# probes and routes turned into 503s; at 200 clusters, wrk saw a 100-300 ms
# p99. That is this single machine shared by client, server and databases,
# not the daemon, so the benchmarks turn autogroup off while they run and
# put it back afterwards (autogroup_restore, from the caller's EXIT trap).
AUTOGROUP=/proc/sys/kernel/sched_autogroup_enabled
autogroup_was=""
autogroup_off() {
  if [[ -w $AUTOGROUP ]]; then
    autogroup_was=$(cat "$AUTOGROUP")
    echo 0 >"$AUTOGROUP"
  fi
}
autogroup_restore() {
  if [[ -n $autogroup_was ]]; then echo "$autogroup_was" >"$AUTOGROUP"; fi
}
autogroup_note() {
  echo "autogroup ${autogroup_was:+was $autogroup_was, }off for the run"
}
