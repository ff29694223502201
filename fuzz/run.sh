#!/usr/bin/env bash
# Builds the libFuzzer targets (clang++, ASan+UBSan, build-fuzz/) and runs each
# for SECONDS (default 20) from its seed corpus in fuzz/corpus/<target>.
# Fails on the first crash, leak, sanitizer report or uncaught exception; the
# crashing input is left in build-fuzz/artifacts/.
#   fuzz/run.sh [SECONDS]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-20}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh [SECONDS]" >&2; exit 2; }
build="$REPO/build-fuzz"
targets=(fuzz_route fuzz_position fuzz_config fuzz_patroni)

# -O1 -g1, as libFuzzer's documentation builds targets: -O2 -g compiles much
# slower (see scripts/build.sh).
cmake -S "$REPO" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
  -DCMAKE_CXX_COMPILER=clang++ -DLAGROUTER_FUZZ=ON -DLAGROUTER_TESTS=OFF >/dev/null
ninja -C "$build" "${targets[@]}"

mkdir -p "$build/artifacts"
failed=0
for t in "${targets[@]}"; do
  # A scratch corpus: new inputs found go there, the seeds stay as committed.
  work="$build/corpus/$t"
  mkdir -p "$work"
  log="$build/$t.log"
  echo "fuzz: $t for ${seconds}s"
  rc=0
  "$build/bin/$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
    "$work" "$REPO/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  if ((rc != 0)); then
    failed=$((failed + 1))
    echo "fuzz: $t FAILED (exit $rc); log $log:"
    grep -A30 -E '^==[0-9]+==|runtime error|uncaught|deadly signal' "$log" | head -60 || tail -40 "$log"
  else
    echo "fuzz: $t ok, ${execs:-?} executions"
  fi
done
((failed == 0)) || { echo "fuzz: $failed target(s) failed"; exit 1; }
echo "fuzz: all ${#targets[@]} targets ok"
