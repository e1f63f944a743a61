#!/usr/bin/env bash
# Runs the integration suite against one HAProxy: the host's (Debian 12:
# HAProxy 2.6) or a Debian release's, from a cached minimal root filesystem
# run in a chroot on the host's loopback (test/harness/haproxy-chroot.sh).
# Ends with "integration-haproxy-<major.minor>: N passed, N failed, N skipped".
#
# Usage: test/integration-on.sh host|trixie|forky|<suite>   (non-host: as root)
# Needs `npm run build` first. The rootfs cache: CHH_TEST_CACHE (default
# /var/cache/consul-haproxy-handler-test); the first run per suite
# debootstraps it (~1-2 min), later runs take it from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
release=${1:?usage: test/integration-on.sh host|trixie|forky}
if [[ $release == host ]]; then
  program=haproxy
elif [[ $(id -u) -ne 0 ]]; then
  # debootstrap, chroot and a private mount namespace need root.
  echo "integration-$release: 0 passed, 0 failed, 1 skipped (another release's HAProxy needs root: run as root)"
  exit 1
else
  CHH_HAPROXY_ROOT=$(bash test/harness/debian-rootfs.sh "$release" haproxy,ca-certificates)
  program="$PWD/test/harness/haproxy-chroot.sh"
  export CHH_HAPROXY_ROOT CHH_HAPROXY_BIN=$program
fi
# "HAProxy version 3.0.11-1+deb13u1 2025/..." -> 3.0
version=$("$program" -v 2>/dev/null | sed -n 's/^HAProxy version \([0-9]*\.[0-9]*\).*/\1/p')
if [[ -z $version ]]; then
  echo "integration-haproxy-$release: 0 passed, 1 failed, 0 skipped ($program -v printed no HAProxy version)"
  exit 1
fi
echo "integration on HAProxy $("$program" -v 2>/dev/null | sed -n 1p | cut -d' ' -f3) ($release)"
# The harness checks every HAProxy it starts is this version.
export CHH_EXPECT_HAPROXY_VERSION=$version
exec node test/run-suite.mjs integration --name "integration-haproxy-$version" "${@:2}"
