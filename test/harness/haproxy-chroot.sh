#!/bin/sh
# Runs the haproxy of another Debian release: `haproxy ARGS...` inside the
# root filesystem CHH_HAPROXY_ROOT (made by test/harness/debian-rootfs.sh),
# in a private mount namespace where /tmp (and $TMPDIR), /dev and /proc are
# the host's. The network is the host's: the tests' loopback ports, unix
# sockets and certificate files under /tmp are the same on both sides.
# Every step execs, so the caller's child *is* haproxy: signals reach it.
#
# Usage: CHH_HAPROXY_ROOT=DIR test/harness/haproxy-chroot.sh -db -f cfg   (as root)
# The test harness runs it when CHH_HAPROXY_BIN points here.
set -eu
root=${CHH_HAPROXY_ROOT:?CHH_HAPROXY_ROOT must name a root filesystem with haproxy (test/harness/debian-rootfs.sh SUITE haproxy)}
[ -x "$root/usr/sbin/haproxy" ] || { echo "haproxy-chroot: no $root/usr/sbin/haproxy" >&2; exit 127; }
tmp=${TMPDIR:-/tmp}
case "$tmp" in /tmp|/tmp/*) ;; *)
  echo "haproxy-chroot: TMPDIR=$tmp is outside /tmp, which is all the chroot shares with the tests" >&2; exit 2 ;;
esac
exec unshare --mount --propagation private -- /bin/sh -c '
  root=$1; shift
  mount --rbind /tmp "$root/tmp"
  mount --rbind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  exec chroot "$root" /usr/sbin/haproxy "$@"' haproxy-chroot "$root" "$@"
