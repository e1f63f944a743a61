#!/bin/sh
# own-cgroup.sh NAME COMMAND...: runs COMMAND (systemd-nspawn) in a cgroup of
# its own, NAME under the caller's, in every hierarchy systemd tracks
# processes in (cgroup v2, and the name=systemd v1 one on a hybrid host).
# own-cgroup.sh --remove NAME: removes those cgroups once the container is gone.
#
# Why: systemd-nspawn --keep-unit --register=no puts the container in
# "payload" under the caller's cgroup. On a host without systemd every caller
# sits in the same cgroup, so every container booted at once shares
# payload/system.slice/consul.service, haproxy.service, ... A container's
# systemd then sees the processes of another container's Consul in "its"
# unit's cgroup, never releases the cgroup of a unit it stopped, and keeps
# the unit listed as "not-found inactive dead" after its file is removed
# (systemctl list-units --all), whatever the uninstall does.
set -eu
remove=""
if [ "$1" = --remove ]; then remove=1; shift; fi
name=$1; shift
for root in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
    [ -f "$root/cgroup.procs" ] || continue
    case $root in
        /sys/fs/cgroup/systemd) sel='^[0-9]+:name=systemd:' ;;
        *) [ "$(stat -f -c %T "$root")" = cgroup2fs ] || continue; sel='^0::' ;;
    esac
    here=$(grep -E "$sel" /proc/self/cgroup | head -1 | cut -d: -f3-)
    dir="$root${here%/}/$name"
    if [ -n "$remove" ]; then
        # Deepest first: nspawn's payload/... and supervisor cgroups inside.
        if [ -d "$dir" ]; then find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
    else
        mkdir -p "$dir"
        echo $$ > "$dir/cgroup.procs"
    fi
done
if [ -z "$remove" ]; then exec "$@"; fi
