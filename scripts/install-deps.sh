#!/usr/bin/env bash
# Installs every Debian 12 package lagrouter needs to build, test and run its
# demo. Idempotent: when everything is installed already it does nothing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config clang-format
  # fuzzing (fuzz/run.sh): clang++ with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # libraries
  libpq-dev libmariadb-dev prometheus-cpp-dev libcpp-httplib-dev libh2o-evloop-dev libtoml11-dev libspdlog-dev
  nlohmann-json3-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  # servers and tools for the demo and the tests
  postgresql-15 postgresql-client-15 mariadb-server mariadb-client
  prometheus prometheus-alertmanager haproxy iptables iproute2
  # a PostgreSQL HA stack for the Patroni tests (scripts/patroni-cluster.sh)
  patroni etcd-server
  curl jq python3 shellcheck wrk procps openssl chromium util-linux
  # the Python client (clients/python) and its tests (mypy: its strict type check); the OpenAPI checks
  python3-psycopg python3-pymysql python3-pytest python3-pip python3-setuptools mypy
  python3-jsonschema python3-yaml nodejs
)

# npm packages the tests need, pinned, installed into build/tools/ (a cache
# under the build tree, kept between runs): the OpenAPI validator of
# tests/api/test_openapi.py.
NPM_PACKAGES=("@redocly/cli@2.77.0")
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$REPO/build/tools"

install_npm_packages() {
  local want have=1
  for want in "${NPM_PACKAGES[@]}"; do
    local name=${want%@*} version=${want##*@}
    grep -qs "\"version\": \"$version\"" "$TOOLS/node_modules/$name/package.json" || have=0
  done
  if ((have)); then
    echo "install-deps: npm packages present in $TOOLS"
    return
  fi
  echo "install-deps: npm install ${NPM_PACKAGES[*]} into $TOOLS"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --no-save --loglevel=error "${NPM_PACKAGES[@]}"
}

SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs comes without npm (a package of its own); other builds of
# nodejs bring it along and conflict with Debian's npm.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  install_npm_packages
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# Package scripts must not start system services (the project starts its own
# servers on ports of their own): a policy-rc.d that says no, unless one exists.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee $policy >/dev/null && $SUDO chmod +x $policy
  created_policy=1
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
((created_policy)) && $SUDO rm -f $policy
install_npm_packages
echo "install-deps: done"
