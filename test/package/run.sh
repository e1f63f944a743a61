#!/usr/bin/env bash
# The Debian package in a booted Debian 12 or 13 systemd container (the
# rootfs cache of test/playbook/run.sh): `apt install ./...deb` installs and
# starts it next to HAProxy (Debian's) and a Consul dev agent (the host's
# binary); it fills a slot; an upgrade to a newer build keeps the operator's
# edited config and the slots, with 0 failed requests under wrk load; `apt
# remove` stops it and keeps the config; `apt purge` removes what it made.
# `systemctl --failed` is checked empty after each phase.
#
# Usage: test/package/run.sh          (as root, on Debian 12; after make deb deps)
#   PACKAGE_TEST_SUITE=bookworm|trixie   (default bookworm)
#   PACKAGE_TEST_CACHE=DIR              rootfs cache (default /var/cache/consul-haproxy-handler-test)
# Ends with "package-debian-<N>: N passed, N failed, N skipped".
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${PACKAGE_TEST_CACHE:-${PLAYBOOK_TEST_CACHE:-/var/cache/consul-haproxy-handler-test}}
SUITE=${PACKAGE_TEST_SUITE:-bookworm}
case "$SUITE" in
    bookworm) RELEASE=12 ;;
    trixie) RELEASE=13 ;;
    *) echo "PACKAGE_TEST_SUITE=$SUITE: expected bookworm or trixie"; exit 2 ;;
esac
# The same rootfs as test/playbook/run.sh (same package list, same key).
PACKAGES=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,curl,ca-certificates
MACHINE="chhpkg$$"
VETH="ve-$MACHINE"
# 10.233: run.sh has 10.231 and cluster.sh 10.232, and their lanes run beside this one.
NET_ID=$(( ($$ % 200) + 20 ))
HOST_IP="10.233.$NET_ID.1"
GUEST_IP="10.233.$NET_ID.2"
NFT_TABLE="consul_haproxy_handler_pkg_$$"
WORK="" NSPAWN_PID="" C="" OLD_FORWARD=""
PASSED=0 FAILED=0 SKIPPED=0
START=$(date +%s)
NAME=consul-haproxy-handler

log() { printf '%s [%4ss] %s\n' "--" "$(( $(date +%s) - START ))" "$*"; }
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
check() { local desc=$1; shift; if "$@"; then pass "$desc"; else fail "$desc"; fi; }
summary() { echo "package-debian-$RELEASE: $PASSED passed, $FAILED failed, $SKIPPED skipped ($(( $(date +%s) - START )) s)"; }
cin() { nsenter -t "$C" -a /bin/sh -c "$1"; }
wait_for() {
    local timeout=$1; shift
    local end=$(( $(date +%s) + timeout ))
    while (( $(date +%s) < end )); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    "$@" >/dev/null
}
teardown() {
    local rc=$?
    set +e
    if [[ -n "$C" ]] && kill -0 "$C" 2>/dev/null; then
        nsenter -t "$C" -a systemctl poweroff >/dev/null 2>&1
        for _ in $(seq 1 40); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.25; done
    fi
    if [[ -n "$NSPAWN_PID" ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then kill "$NSPAWN_PID"; sleep 1; kill -9 "$NSPAWN_PID" 2>/dev/null; fi
    if [[ -n "$NSPAWN_PID" ]]; then "$REPO/test/playbook/own-cgroup.sh" --remove "$MACHINE"; fi
    nft delete table ip "$NFT_TABLE" 2>/dev/null
    ip link del "$VETH" 2>/dev/null
    if [[ -n "$OLD_FORWARD" ]]; then sysctl -qw net.ipv4.ip_forward="$OLD_FORWARD"; fi
    if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf --one-file-system "$WORK"; fi
    summary
    if (( FAILED > 0 && rc == 0 )); then rc=1; fi
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM
[[ $(id -u) -eq 0 ]] || { echo "run as root"; exit 2; }

# ------------------------------------------------------------- the packages
# Two builds of this tree: the version to install and a newer one to upgrade to.
WORK=$(mktemp -d /var/tmp/chh-package.XXXXXX)
VERSION=$(node -p 'require("'"$REPO"'/package.json").version')
log "building the packages ($VERSION and $VERSION+pkgtest2)"
check "make deb's build: $VERSION" env DEB_OUT_DIR="$WORK/debs" bash "$REPO/packaging/deb/build.sh"
check "a newer build: $VERSION+pkgtest2" env DEB_OUT_DIR="$WORK/debs" DEB_VERSION="$VERSION+pkgtest2" DEB_SKIP_LINTIAN=1 bash "$REPO/packaging/deb/build.sh"
OLD_DEB="${NAME}_${VERSION}_all.deb"
NEW_DEB="${NAME}_${VERSION}+pkgtest2_all.deb"
[[ -f "$WORK/debs/$OLD_DEB" && -f "$WORK/debs/$NEW_DEB" ]] || exit 1

# ------------------------------------------------------------------- rootfs
URI=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[[ -n "$URI" ]] || URI=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
ARCHIVE_HOST=$(printf '%s\n' "$URI" | sed -E 's#^[a-z]+://([^/:]+).*#\1#')
KEY=$(printf '%s %s %s v1' "$SUITE" "$PACKAGES" "$URI" | sha256sum | cut -c1-16)
TARBALL="$CACHE/rootfs-$SUITE-$KEY.tar"
# Built by test/playbook/run.sh (the same key, under the same lock).
exec 9>"$CACHE/.lock-$SUITE-$KEY"; flock 9; exec 9>&-
if [[ ! -f $TARBALL ]]; then
    fail "no cached rootfs $TARBALL: run test/playbook/run.sh (PLAYBOOK_TEST_SUITE=$SUITE) once to build it"
    exit 1
fi
ROOT="$WORK/root"
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$TARBALL"
echo "$MACHINE" > "$ROOT/etc/hostname"
{
    echo "127.0.0.1 localhost"
    echo "127.0.1.1 $MACHINE"
    getent ahostsv4 "$ARCHIVE_HOST" | awk -v h="$ARCHIVE_HOST" 'NR==1 {print $1, h}' || true
} > "$ROOT/etc/hosts"
rm -f "$ROOT/etc/apt/sources.list"
cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/" 2>/dev/null || cp /etc/apt/sources.list "$ROOT/etc/apt/sources.list"
host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
if [[ $SUITE != "$host_suite" ]]; then
    sed -i -E "s/\b$host_suite(-updates|-security)?\b/$SUITE\1/g" "$ROOT"/etc/apt/sources.list.d/debian.sources "$ROOT"/etc/apt/sources.list 2>/dev/null || true
fi
for f in /etc/apt/apt.conf.d/*; do
    if grep -qiE '^[[:space:]]*Acquire' "$f"; then cp "$f" "$ROOT/etc/apt/apt.conf.d/"; fi
done
cp "$WORK/debs/$OLD_DEB" "$WORK/debs/$NEW_DEB" "$ROOT/root/"
# Consul: Debian has none; the host's binary (scripts/install-deps.sh) as a dev agent.
install -m 0755 "$(command -v consul)" "$ROOT/usr/local/bin/consul"

# --------------------------------------------------------------------- boot
log "booting the container $MACHINE ($SUITE)"
# In a cgroup of its own (see test/playbook/own-cgroup.sh): a cgroup shared with
# other containers keeps a removed unit listed after the purge.
"$REPO/test/playbook/own-cgroup.sh" "$MACHINE" systemd-nspawn -D "$ROOT" -b --machine="$MACHINE" --register=no --keep-unit \
    --network-veth --console=read-only > "$WORK/boot.log" 2>&1 &
NSPAWN_PID=$!
for _ in $(seq 1 200); do
    C=$(ps --ppid "$NSPAWN_PID" -o pid= 2>/dev/null | tr -d ' ' | head -1 || true)
    if [[ -n "$C" && "$(cat "/proc/$C/comm" 2>/dev/null)" == systemd ]] \
        && nsenter -t "$C" -a test -S /run/systemd/private 2>/dev/null; then break; fi
    C=""; sleep 0.1
done
[[ -n "$C" ]] || { tail -20 "$WORK/boot.log"; fail "container boots"; exit 1; }
state=$(timeout 60 nsenter -t "$C" -a systemctl is-system-running --wait 2>/dev/null || true)
check "container boots with systemd ($state)" test "$state" = running -o "$state" = degraded
OLD_FORWARD=$(sysctl -n net.ipv4.ip_forward)
sysctl -qw net.ipv4.ip_forward=1
ip addr add "$HOST_IP/30" dev "$VETH"
ip link set "$VETH" mtu 1400 up
nsenter -t "$C" -n ip addr add "$GUEST_IP/30" dev host0
nsenter -t "$C" -n ip link set host0 mtu 1400 up
nsenter -t "$C" -n ip route add default via "$HOST_IP"
nft -f - <<EOF
table ip $NFT_TABLE {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr $GUEST_IP oifname != "$VETH" masquerade
  }
}
EOF
check "container reaches the apt archive" cin "apt-get update -qq >/dev/null 2>&1"

no_failed_units() { # the phase's name: systemctl --failed lists nothing
    local failed
    failed=$(cin "systemctl --failed --no-legend --plain" 2>&1)
    [[ -z "$failed" ]] || { echo "   failed units after $1: $failed"; return 1; }
}
APT="DEBIAN_FRONTEND=noninteractive apt-get -y -q"

# ------------------------------------------------- HAProxy, Consul, a node
check "HAProxy from Debian (and socat)" cin "$APT install haproxy socat >/dev/null 2>&1"
# A backend with slots the handler fills, in front of one web server.
cin "cat >> /etc/haproxy/haproxy.cfg" <<EOF

frontend pkgtest_front
    bind :8080
    mode http
    default_backend iri_back

backend iri_back
    mode http
    balance roundrobin
    server-template irisrv 1-4 0.0.0.0:80 check disabled init-addr none
EOF
check "HAProxy runs with the slot backend" cin "systemctl restart haproxy && systemctl is-active -q haproxy"
cin "systemd-run -q --unit=consul-dev /usr/local/bin/consul agent -dev -client 127.0.0.1 -bind 127.0.0.1"
cin "mkdir -p /srv/node-a && echo node-a > /srv/node-a/index.html"
cin "systemd-run -q --unit=node-a /usr/bin/python3 -m http.server --bind $GUEST_IP --directory /srv/node-a 14001"
check "Consul dev agent answers" wait_for 30 cin "curl -sf http://127.0.0.1:8500/v1/status/leader | grep -q :"
check "register node-a in Consul" cin "curl -sf -X PUT -d '{\"ID\":\"node-a\",\"Name\":\"iri\",\"Address\":\"$GUEST_IP\",\"Port\":14001,\"Check\":{\"HTTP\":\"http://$GUEST_IP:14001/\",\"Interval\":\"2s\"}}' http://127.0.0.1:8500/v1/agent/service/register"

stat_rows() {
    local out
    out=$(cin "echo 'show stat' | socat -t 2 stdio unix-connect:/run/haproxy/admin.sock") \
        || { echo "   (socat to the admin socket failed)" >&2; return 1; }
    [[ "$out" == "# pxname,svname,"* ]] || { echo "   (no CSV header from 'show stat': ${out:0:80})" >&2; return 1; }
    printf '%s\n' "$out"
}
# "irisrv<N> <status>" of the slot of iri_back that holds node-a.
node_a_slot() {
    local rows; rows=$(stat_rows) || return 1
    awk -F, -v addr="$GUEST_IP:14001" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == "iri_back" && $col["addr"] == addr { print $2, $col["status"] }' <<<"$rows"
}
node_a_up() { [[ "$(node_a_slot)" == *" UP"* ]]; }
healthz() { cin "curl -s -m 3 http://127.0.0.1:9701/healthz"; }
metric_version() { cin "curl -s -m 3 http://127.0.0.1:9701/metrics" | sed -n 's/^consul_haproxy_handler_build_info{version="\([^"]*\)".*/\1/p'; }

# ------------------------------------------------------------------ install
log "apt install ./$OLD_DEB"
check "apt install ./$OLD_DEB" cin "cd /root && $APT install ./$OLD_DEB > /root/install.log 2>&1 || { tail -20 /root/install.log; exit 1; }"
check "the unit is enabled and active" cin "systemctl is-enabled -q $NAME && systemctl is-active -q $NAME"
check "its user is a system user in the haproxy group" cin "id -nG $NAME | grep -qw haproxy && test \$(id -u $NAME) -lt 1000"
check "the config is root:$NAME 0640" test "$(cin "stat -c '%U:%G %a' /etc/$NAME/config.yml")" = "root:$NAME 640"
check "/etc/haproxy/certs (lb.certDirectory) is $NAME:haproxy 0750" test "$(cin "stat -c '%U:%G %a' /etc/haproxy/certs")" = "$NAME:haproxy 750"
check "the unit may write it (the handler's namespace sees it read-write)" \
    cin "f=/proc/\$(systemctl show -p MainPID --value $NAME)/mountinfo; awk '\$5 == \"/etc/haproxy/certs\" { print \$6 }' \$f | grep -q '^rw'"
check "the CLI is on PATH and runs on the container's Node.js ($(cin 'node --version'))" cin "$NAME --version >/dev/null"
check "check-config as the handler's user passes (Consul, HAProxy, backend)" cin "runuser -u $NAME -- $NAME check-config --config /etc/$NAME/config.yml"
check "node-a UP in a slot of iri_back" wait_for 60 node_a_up
check "/healthz says ok" wait_for 20 eval '[[ "$(healthz)" == ok* ]]'
check "a request through HAProxy reaches node-a" cin "curl -sf -m 3 http://127.0.0.1:8080/ | grep -qx node-a"
check "no failed unit after install" no_failed_units install

# A reload that reaches the handler while it is still starting (a playbook
# run that restarts it and then reloads it for a config change): SIGHUP must
# neither kill it nor fail the reload, however early it arrives.
reload_while_starting() {
    local delay pid
    for delay in 0 0.05 0.1 0.2 0.4; do
        cin "systemctl restart $NAME && sleep $delay && systemctl reload $NAME" \
            || { echo "reload $delay s after a restart failed:"; cin "systemctl status --no-pager -n 20 $NAME"; return 1; }
        pid=$(cin "systemctl show -P MainPID $NAME")
        sleep 2
        [[ "$(cin "systemctl is-active $NAME")" == active && "$(cin "systemctl show -P MainPID $NAME")" == "$pid" && "$pid" != 0 ]] \
            || { echo "after a reload $delay s into a restart: $(cin "systemctl is-active $NAME"), MainPID $pid -> $(cin "systemctl show -P MainPID $NAME")"; return 1; }
    done
}
check "a reload right after a restart leaves the handler running (SIGHUP while starting)" reload_while_starting
check "node-a still UP after those reloads" wait_for 60 node_a_up

# ------------------------------------------------------------------ upgrade
# The operator's edit: resync every 30 s (a value check-config accepts).
cin "sed -i 's/^  resyncSeconds: 60$/  resyncSeconds: 30 # edited by the operator/' /etc/$NAME/config.yml"
check "the operator's edit is in the config" cin "grep -q 'edited by the operator' /etc/$NAME/config.yml"
SLOT_BEFORE=$(node_a_slot)
log "apt install ./$NEW_DEB under load (slot before: $SLOT_BEFORE)"
# --timeout 10s: on a loaded 2-core CI host a slow answer (wrk's default 2 s) is not a failed one; refused, reset and non-2xx still count.
wrk -t2 -c8 -d15s --timeout 10s "http://$GUEST_IP:8080/" > "$WORK/wrk-upgrade.txt" 2>&1 &
WRK_PID=$!
sleep 3
check "apt install ./$NEW_DEB (upgrade)" cin "cd /root && $APT install ./$NEW_DEB > /root/upgrade.log 2>&1 || { tail -20 /root/upgrade.log; exit 1; }"
wait "$WRK_PID" || true
log "upgrade under load: $(grep -E 'requests in|Non-2xx|Socket errors' "$WORK/wrk-upgrade.txt" | tr -s ' \n' ' ')"
check "the upgraded handler runs ($VERSION+pkgtest2 on /metrics)" wait_for 30 eval '[[ "$(metric_version)" == "'"$VERSION"'+pkgtest2" ]]'
check "the operator's config is kept" cin "grep -q 'edited by the operator' /etc/$NAME/config.yml && test ! -e /etc/$NAME/config.yml.dpkg-new"
check "node-a keeps its slot, UP" test "$(node_a_slot)" = "$SLOT_BEFORE" -a -n "$SLOT_BEFORE"
check "/healthz says ok after the upgrade" wait_for 30 eval '[[ "$(healthz)" == ok* ]]'
check "upgrade under load: requests went through" grep -q 'requests in' "$WORK/wrk-upgrade.txt"
check "upgrade under load: 0 failed requests (no non-2xx, no socket errors)" bash -c "! grep -Eq 'Non-2xx|Socket errors' '$WORK/wrk-upgrade.txt'"
check "no failed unit after the upgrade" no_failed_units upgrade

# ------------------------------------------------------------------- remove
check "apt remove $NAME" cin "$APT remove $NAME > /root/remove.log 2>&1 || { tail -20 /root/remove.log; exit 1; }"
# systemctl answers "inactive" for a stopped unit (and one whose file is gone);
# an nsenter or systemctl that fails prints nothing, which fails the check.
# (No pgrep: the minimal image has no procps, and "! pgrep" passed on its absence.)
check "the handler is stopped (systemctl is-active: inactive)" bash -c "[ \"\$(nsenter -t $C -a systemctl is-active $NAME.service)\" = inactive ]"
check "the config stays (rc state)" cin "test -f /etc/$NAME/config.yml && dpkg-query -W -f='\${db:Status-Abbrev}' $NAME | grep -q '^rc'"
check "the code is gone" cin "test ! -e /usr/lib/$NAME && test ! -e /usr/bin/$NAME"
check "HAProxy keeps serving node-a" cin "curl -sf -m 3 http://127.0.0.1:8080/ | grep -qx node-a"
check "no failed unit after remove" no_failed_units remove

# -------------------------------------------------------------------- purge
check "apt purge $NAME" cin "$APT purge $NAME > /root/purge.log 2>&1 || { tail -20 /root/purge.log; exit 1; }"
check "dpkg forgot the package" bash -c "! nsenter -t $C -a dpkg-query -W -f='\${db:Status-Abbrev}' $NAME 2>/dev/null | grep -q ."
check "the config and runtime directories are gone" cin "test ! -e /etc/$NAME && test ! -e /run/$NAME"
check "/etc/haproxy/certs stays, root's (HAProxy may load it)" test "$(cin "stat -c '%U:%G' /etc/haproxy/certs")" = "root:haproxy"
check "the user and group are gone" cin "! getent passwd $NAME && ! getent group $NAME && ! id -nG haproxy | grep -qw $NAME" 
# No unit file, mask or enablement link, and systemd lists no unit record at
# all (not even "not-found inactive dead": that record was the container
# sharing its cgroup with other containers, see own-cgroup.sh). The listing
# must itself succeed, so that a failing systemctl never reads as "nothing".
no_unit_record() {
    local left units
    units=$(cin "systemctl list-units --all --no-legend --plain") || { echo "   systemctl list-units failed"; return 1; }
    [[ -n "$units" ]] || { echo "   systemctl list-units listed nothing"; return 1; }
    left=$(cin "find /etc/systemd /lib/systemd/system /usr/lib/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked -name '$NAME*' 2>/dev/null"; grep "$NAME" <<<"$units" || true)
    [[ -z "$left" ]] || { echo "   left after purge: $left"; return 1; }
}
check "systemd has no record of the unit (no file, mask or enablement link; not listed at all)" no_unit_record
check "no failed unit after purge" no_failed_units purge
