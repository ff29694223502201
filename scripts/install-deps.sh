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
  libpq-dev libmariadb-dev prometheus-cpp-dev libcpp-httplib-dev libevent-dev libtoml11-dev libspdlog-dev
  nlohmann-json3-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  # servers and tools for the demo and the tests
  postgresql-15 postgresql-client-15 mariadb-server mariadb-client
  prometheus prometheus-alertmanager haproxy iptables iproute2
  # a PostgreSQL HA stack for the Patroni tests (scripts/patroni-cluster.sh)
  patroni etcd-server
  curl jq python3 shellcheck wrk procps openssl chromium util-linux
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"
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
echo "install-deps: done"
