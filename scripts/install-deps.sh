#!/usr/bin/env bash
# Installs every Debian package that dlb's build, tests, demo and benchmarks need.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev libqt6sql6-psql libqt6svg6 libqt6opengl6-dev libgl-dev
  libuv1-dev node-llhttp nlohmann-json3-dev libssl-dev libpq-dev
  postgresql postgresql-common
  wrk nginx-light haproxy apache2-utils curl python3 gnuplot-nox xvfb
  # scripts/test.sh's fuzz pass (clang with libFuzzer) and readable sanitizer stacks (symbolizer)
  clang libclang-rt-14-dev llvm
  prometheus
  # the agent's sd_notify readiness (optional at build time), and the package pass of
  # scripts/test.sh: rpmbuild for CPack's RPM generator, lintian for the .debs, adduser for
  # dlb-agent's postinst (which dpkg -i does not fetch), logrotate and systemd (systemd-analyze)
  # to check its logrotate file and unit
  libsystemd-dev rpm lintian adduser logrotate systemd
  # replica discovery by DNS (c-ares on the main loop) and its tests' local DNS server;
  # yaml-cpp for the test that checks the Kubernetes manifests
  libc-ares-dev dnsmasq-base libyaml-cpp-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Installing nginx or haproxy starts their services on Debian; policy-rc.d keeps them stopped
# so they never hold port 80 or race with the benchmarks, which start their own instances.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
