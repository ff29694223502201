#!/usr/bin/env bash
# Builds lagrouter into build/ (binary: build/bin/lagrouter).
#   scripts/build.sh              RelWithDebInfo build in build/
#   scripts/build.sh asan         ASan+UBSan build in build-asan/
#   scripts/build.sh tsan         TSan build in build-tsan/
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
  "") dir=build; flags=() ;;
  asan) dir=build-asan; flags=("-DLAGROUTER_SANITIZE=address,undefined") ;;
  tsan) dir=build-tsan; flags=(-DLAGROUTER_SANITIZE=thread) ;;
  *) echo "usage: scripts/build.sh [asan|tsan]" >&2; exit 2 ;;
esac
cmake -S "$REPO" -B "$REPO/$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${flags[@]}" >/dev/null
ninja -C "$REPO/$dir" "${@:2}"
