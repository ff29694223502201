#!/usr/bin/env bash
# Builds lagrouter into build/ (binary: build/bin/lagrouter).
#   scripts/build.sh              RelWithDebInfo build in build/
#   scripts/build.sh asan         ASan+UBSan build in build-asan/
#   scripts/build.sh tsan         TSan build in build-tsan/
# Sanitizer builds use -O1 -g1 (line tables: stack traces keep file:line),
# as the sanitizers' documentation suggests: with -O2 -g the unit tests'
# ASan+UBSan build took 10 min on 2 cores instead of 4.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sanitizer_flags=("-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
case "${1:-}" in
  "") dir=build; flags=() ;;
  asan) dir=build-asan; flags=("-DLAGROUTER_SANITIZE=address,undefined" "${sanitizer_flags[@]}") ;;
  tsan) dir=build-tsan; flags=(-DLAGROUTER_SANITIZE=thread "${sanitizer_flags[@]}") ;;
  *) echo "usage: scripts/build.sh [asan|tsan]" >&2; exit 2 ;;
esac
cmake -S "$REPO" -B "$REPO/$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${flags[@]}" >/dev/null
ninja -C "$REPO/$dir" "${@:2}"
