#!/usr/bin/env bash
# Prints the path of a minimal Debian root filesystem of SUITE with PACKAGES
# installed, made once and cached: the tarball and its unpacked tree live in
# $CHH_TEST_CACHE (default /var/cache/consul-haproxy-handler-test), keyed by
# suite, packages and the archive URI. Creation is atomic and serialised with
# a lock, so parallel callers build it once and never see half a tree.
# Callers must not write into the tree (chroot it with bind mounts instead).
#
# Usage: test/harness/debian-rootfs.sh SUITE PACKAGE[,PACKAGE...]   (as root)
# The archive URI is this machine's own (apt sources), never a fixed host.
set -euo pipefail

suite=${1:?usage: debian-rootfs.sh SUITE PACKAGES}
packages=${2:?usage: debian-rootfs.sh SUITE PACKAGES}
cache=${CHH_TEST_CACHE:-${PLAYBOOK_TEST_CACHE:-/var/cache/consul-haproxy-handler-test}}

[[ $(id -u) -eq 0 ]] || { echo "debian-rootfs: run as root (debootstrap, chroot)" >&2; exit 2; }
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [[ -z "$uri" ]]; then uri=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true); fi
[[ -n "$uri" ]] || { echo "debian-rootfs: no Debian archive URI in this machine's apt sources" >&2; exit 1; }

key=$(printf '%s %s %s v1' "$suite" "$packages" "$uri" | sha256sum | cut -c1-16)
tarball="$cache/rootfs-$suite-$key.tar"
tree="$cache/tree-$suite-$key"
mkdir -p "$cache"
if [[ -x "$tree/bin/sh" ]]; then echo "$tree"; exit 0; fi

exec 9>"$cache/.lock-$suite-$key"
flock 9
if [[ -x "$tree/bin/sh" ]]; then echo "$tree"; exit 0; fi
scratch=$(mktemp -d "$cache/.build-$suite-$key.XXXXXX")
trap 'rm -rf --one-file-system "$scratch"' EXIT
if [[ ! -f "$tarball" ]]; then
  command -v debootstrap >/dev/null || {
    echo "debian-rootfs: debootstrap is not installed: run scripts/install-deps.sh (make deps) first" >&2
    exit 1
  }
  # A suite newer than this debootstrap knows (forky on Debian 12) uses sid's script.
  script=()
  [[ -e "/usr/share/debootstrap/scripts/$suite" ]] || script=(/usr/share/debootstrap/scripts/sid)
  echo "debian-rootfs: debootstrap $suite, then apt-get install ${packages//,/ } (once; cached in $cache)" >&2
  # The packages go in with apt in the chroot, not debootstrap --include:
  # debootstrap's configure step fails on large sets (ansible: python3-cryptography).
  if ! debootstrap --variant=minbase "$suite" "$scratch/root" "$uri" "${script[@]}" \
      > "$scratch/debootstrap.log" 2>&1; then
    tail -20 "$scratch/debootstrap.log" >&2
    echo "debian-rootfs: debootstrap $suite failed (log above)" >&2
    exit 1
  fi
  # This machine's apt options (proxies, snapshot date checks) and resolver.
  for f in /etc/apt/apt.conf.d/*; do
    if grep -qiE '^[[:space:]]*Acquire' "$f"; then cp "$f" "$scratch/root/etc/apt/apt.conf.d/"; fi
  done
  cp /etc/resolv.conf "$scratch/root/etc/resolv.conf" 2>/dev/null || true
  if ! unshare --mount --propagation private -- /bin/sh -c '
      root=$1 packages=$2
      mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev"
      chroot "$root" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends $packages' \
      sh "$scratch/root" "${packages//,/ }" > "$scratch/apt.log" 2>&1; then
    tail -20 "$scratch/apt.log" >&2
    echo "debian-rootfs: apt-get install ${packages//,/ } in $suite failed (log above)" >&2
    exit 1
  fi
  rm -f "$scratch/root/etc/resolv.conf"
  rm -rf "$scratch/root"/var/cache/apt/archives/*.deb "$scratch/root"/var/lib/apt/lists/*
  tar -C "$scratch/root" -cf "$scratch/rootfs.tar" .
  mv -f "$scratch/rootfs.tar" "$tarball"
else
  mkdir "$scratch/root"
  tar -C "$scratch/root" -xf "$tarball"
fi
mv -T "$scratch/root" "$tree"
echo "$tree"
