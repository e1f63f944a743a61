#!/usr/bin/env bash
# Installs everything the handler's tests, benchmarks and demo need on the
# host (Debian 12, as root), in one step: `make test` runs it before any lane
# starts, and no test script calls apt on the host afterwards
# (scripts/test-all.sh puts an apt-get on PATH that fails the lane that calls
# it). A lane that needs another host package: add it to HOST_PACKAGES here.
#
# HAProxy 2.6 and the tools from Debian; Consul from Debian 11's archive
# (Debian 12 has no consul package; the bullseye suite is pinned so that only
# `consul` comes from it); then the npm packages. Safe to run again: it only
# calls apt when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# What each lane needs on the host:
#   integration, demo, bench: haproxy socat jq wrk openssl curl consul
#   integration (frontend-rules renders the haproxy role's template): ansible
#   integration (certificates: ACME against a local CA): pebble (pebble and
#     pebble-challtestsrv, whose mock DNS points pebble's validation at loopback)
#   playbook and cluster tests: ansible ansible-lint debootstrap
#     systemd-container iproute2 nftables util-linux (flock, nsenter) curl jq wrk
#   the rootfs cache for other Debian releases: debootstrap
#   monitoring (promtool test rules): prometheus
#   package (make deb, its lintian check): dpkg-dev debhelper lintian
HOST_PACKAGES=(haproxy socat jq wrk openssl curl ca-certificates pebble
  ansible ansible-lint debootstrap systemd-container iproute2 nftables util-linux
  consul prometheus dpkg-dev debhelper lintian)

if [[ $(id -u) -ne 0 ]]; then
  missing=()
  for pkg in "${HOST_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if (( ${#missing[@]} )); then
    echo "install-deps: missing ${missing[*]}; run as root (sudo make deps) to install them" >&2
    exit 1
  fi
else
  if ! dpkg -s consul >/dev/null 2>&1 && [[ ! -f /etc/apt/sources.list.d/bullseye-consul.sources ]]; then
    # The archive's address comes from this machine's own apt configuration.
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [[ -z "$uri" ]]; then
      echo "install-deps: cannot find the Debian archive URI in /etc/apt/sources.list.d/debian.sources; install consul 1.8+ by hand" >&2
      exit 1
    fi
    printf 'Types: deb\nURIs: %s\nSuites: bullseye\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      > /etc/apt/sources.list.d/bullseye-consul.sources
    printf 'Package: *\nPin: release n=bullseye\nPin-Priority: -10\n\nPackage: consul\nPin: release n=bullseye\nPin-Priority: 500\n' \
      > /etc/apt/preferences.d/bullseye-consul.pref
  fi
  need=()
  for pkg in "${HOST_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
  if (( ${#need[@]} )); then
    echo "install-deps: apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The same lock the rootfs builder takes, in case a by-hand run overlaps.
    flock /var/lock/consul-haproxy-handler-test-apt sh -c \
      'apt-get update -qq && apt-get install -y -qq "$@" >/dev/null' sh "${need[@]}"
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
