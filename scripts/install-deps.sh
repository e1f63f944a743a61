#!/usr/bin/env bash
# Installs what the handler's tests, benchmarks and demo need on Debian 12,
# as root: HAProxy 2.6 and socat from Debian, Consul from Debian 11's archive
# (Debian 12 has no consul package; the bullseye suite is pinned so that only
# `consul` comes from it), and the npm packages. Safe to run again.
set -euo pipefail

need_apt=()
for tool in haproxy socat jq wrk openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
# The integration suite renders the haproxy role's template with it
# (test/integration/claims/frontend-rules.test.ts).
command -v ansible-playbook >/dev/null 2>&1 || need_apt+=(ansible-core)

if ! command -v consul >/dev/null 2>&1; then
  if [ ! -f /etc/apt/sources.list.d/bullseye-consul.sources ]; then
    # The archive's address comes from this machine's own apt configuration.
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
      echo "install-deps: cannot find the Debian archive URI in /etc/apt/sources.list.d/debian.sources; install consul 1.8+ by hand" >&2
      exit 1
    fi
    printf 'Types: deb\nURIs: %s\nSuites: bullseye\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      > /etc/apt/sources.list.d/bullseye-consul.sources
    printf 'Package: *\nPin: release n=bullseye\nPin-Priority: -10\n\nPackage: consul\nPin: release n=bullseye\nPin-Priority: 500\n' \
      > /etc/apt/preferences.d/bullseye-consul.pref
  fi
  need_apt+=(consul)
fi

if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
