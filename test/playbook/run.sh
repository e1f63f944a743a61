#!/usr/bin/env bash
# End-to-end test of site.yml: boots a Debian 12 or 13 systemd container (its
# own network namespace, NAT to the host's apt archive), runs the real playbook
# into it over the nsenter connection, and checks the load balancer works.
#
# Usage: test/playbook/run.sh            (as root, on Debian 12)
# Environment:
#   PLAYBOOK_TEST_SUITE=bookworm|trixie  the container's Debian release (default bookworm)
#   PLAYBOOK_TEST_CONTROLLER=host|suite  whose ansible-playbook runs the play: the host's,
#                                or the suite's own from a cached rootfs in a chroot
#                                (default: host for bookworm, suite otherwise)
#   PLAYBOOK_TEST_SKIP_BUILD=1   do not run npm ci && npm run build
#   PLAYBOOK_TEST_SKIP_LINT=1    do not run ansible-lint
#   PLAYBOOK_TEST_SCENARIOS="watch tls"  the mode scenarios run after the second run:
#                                watch (handler_mode=watch, script then http) and tls (Consul
#                                with TLS and mTLS to the handler). Default: watch on Debian 12,
#                                tls on Debian 13. Each costs one or two full playbook runs
#                                (7-11 minutes on a loaded 2-core CI machine) and CI runs both
#                                releases, so it splits them; neither depends on the release.
#   PLAYBOOK_TEST_SKIP_UNINSTALL=1  stop before the uninstall run (debug)
#   PLAYBOOK_TEST_KEEP=1         leave the container running at the end (debug)
#   PLAYBOOK_TEST_ANSIBLE_ARGS=...  extra ansible-playbook arguments (debug)
#   PLAYBOOK_TEST_CACHE=DIR      rootfs cache (default /var/cache/consul-haproxy-handler-test)
# Ends with "playbook-debian-<N>: N passed, N failed, N skipped"; exits non-zero on any
# failure, and with 3 when a debug switch stopped it early (not a full run).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$REPO/test/playbook"
CACHE=${PLAYBOOK_TEST_CACHE:-/var/cache/consul-haproxy-handler-test}
SUITE=${PLAYBOOK_TEST_SUITE:-bookworm}
case "$SUITE" in
    bookworm) RELEASE=12 ;;
    trixie) RELEASE=13 ;;
    *) echo "PLAYBOOK_TEST_SUITE=$SUITE: expected bookworm or trixie"; exit 2 ;;
esac
CONTROLLER=${PLAYBOOK_TEST_CONTROLLER:-$([[ $SUITE == bookworm ]] && echo host || echo suite)}
SUITE_LABEL="playbook-debian-$RELEASE"
SCENARIOS=${PLAYBOOK_TEST_SCENARIOS:-$([[ $SUITE == bookworm ]] && echo watch || echo tls)}
for scenario in $SCENARIOS; do
    case "$scenario" in
        watch | tls) ;;
        *) echo "PLAYBOOK_TEST_SCENARIOS: unknown scenario '$scenario' (expected watch, tls)"; exit 2 ;;
    esac
done
scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }
# shellcheck source=test/playbook/lib.sh
. "$HERE/lib.sh"
MACHINE="chhpb$$"
VETH="ve-$MACHINE"
NET_ID=$(( ($$ % 200) + 20 ))
HOST_IP="10.231.$NET_ID.1"
GUEST_IP="10.231.$NET_ID.2"
NFT_TABLE="consul_haproxy_handler_pb_$$"
WORK=""
PEBBLE_PID=""
SNAP=""
C=""
OLD_FORWARD=""
# Run a shell command inside the container (all its namespaces).
cin() { cin_on lb "$1"; }

teardown() {
    local rc=$?
    set +e
    trap - ERR
    if [[ -n "${PLAYBOOK_TEST_KEEP:-}" && -n "$C" ]]; then
        echo "-- kept: nsenter -t $C -a bash   (work dir $WORK, nft table $NFT_TABLE)"
        summary
        return
    fi
    if [[ -n "$PEBBLE_PID" ]]; then kill "$PEBBLE_PID" 2>/dev/null; fi
    stop_container lb
    nft delete table ip "$NFT_TABLE" 2>/dev/null
    ip link del "$VETH" 2>/dev/null
    if [[ -n "$OLD_FORWARD" ]]; then sysctl -qw net.ipv4.ip_forward="$OLD_FORWARD"; fi
    if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf --one-file-system "$WORK"; fi
    if [[ -n "$SNAP" && -d "$SNAP" ]]; then rm -rf "$SNAP"; fi
    summary
    exit "$(finish_status "$rc")"
}
trap teardown EXIT
trap 'exit 130' INT TERM

[[ $(id -u) -eq 0 ]] || { echo "run as root"; exit 2; }

# ---------------------------------------------------------------- host tools
log "host tools (installed by scripts/install-deps.sh)"
have_tools() { which ansible-playbook ansible-lint debootstrap systemd-nspawn nft >/dev/null; }
check "host tools installed (ansible $(dpkg-query -W -f='${Version}' ansible), ansible-lint $(dpkg-query -W -f='${Version}' ansible-lint))" have_tools

# ------------------------------------------------------------- build handler
build_and_snapshot chh-playbook-src

# --------------------------------------------------------------------- lint
if [[ -z "${PLAYBOOK_TEST_SKIP_LINT:-}" ]]; then
    log "ansible-lint"
    if (cd "$REPO" && ansible-lint --nocolor -q site.yml roles > /tmp/chh-ansible-lint.$$ 2>&1); then
        pass "ansible-lint (profile from .ansible-lint)"
    else
        cat /tmp/chh-ansible-lint.$$ | tail -30
        fail "ansible-lint (profile from .ansible-lint)"
    fi
    rm -f /tmp/chh-ansible-lint.$$
fi

# ------------------------------------------------------------------- rootfs
WORK=$(mktemp -d /var/tmp/chh-playbook.XXXXXX)
ROOT="$WORK/root"
mkdir -p "$ROOT"
# The same tree as cluster.sh's (same key, same lock).
base_rootfs "$SUITE" || { fail "debootstrap $SUITE"; exit 1; }
log "rootfs from cache $TARBALL"
tar -C "$ROOT" -xf "$TARBALL"
rootfs_ready() {
    grep -q "^$RELEASE\." "$ROOT/etc/debian_version" && test -x "$ROOT/lib/systemd/systemd" \
        && test -x "$ROOT/usr/bin/python3" && test -x "$ROOT/usr/bin/curl"
}
check "Debian $RELEASE ($SUITE) rootfs ready ($(cat "$ROOT/etc/debian_version" 2>/dev/null), systemd, python3, curl)" rootfs_ready

# The container's own view of the world: hostname, the archive's address as
# the host resolves it, and the host's apt configuration (sources, Acquire
# options such as proxies or snapshot date checks).
echo "$MACHINE" > "$ROOT/etc/hostname"
{
    echo "127.0.0.1 localhost"
    echo "127.0.1.1 $MACHINE"
    echo "::1 localhost ip6-localhost ip6-loopback"
    archive_hosts_line
} > "$ROOT/etc/hosts"
apt_config_into "$ROOT"
# The host is Debian 12: its sources name bookworm (and bookworm-updates, -security).
host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
if [[ $SUITE != "$host_suite" ]]; then
    sed -i -E "s/\b$host_suite(-updates|-security)?\b/$SUITE\1/g" "$ROOT"/etc/apt/sources.list.d/debian.sources "$ROOT"/etc/apt/sources.list 2>/dev/null || true
fi
install -m 0755 "$HERE/fake-node.py" "$ROOT/usr/local/bin/fake-node"

# --------------------------------------------------------------------- boot
log "booting the container $MACHINE"
boot_container lb "$ROOT" "$MACHINE" --network-veth || { fail "container boots"; exit 1; }
C=${PID1[lb]}
state=$(timeout 60 nsenter -t "$C" -a systemctl is-system-running --wait 2>/dev/null || true)
check "container boots with systemd ($state)" test "$state" = running -o "$state" = degraded

# Network: veth pair, NAT through the host.
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

# ----------------------------------------------------------------- playbook
INV="$WORK/inventory"
cat > "$INV" <<EOF
[loadbalancers]
$MACHINE ansible_connection=community.docker.nsenter ansible_nsenter_pid=$C ansible_python_interpreter=/usr/bin/python3 ansible_become=false
EOF
export ANSIBLE_CONFIG="$REPO/ansible/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
# One staging directory per suite: runs for two suites may go side by side.
STAGE="$CACHE/handler-stage-$SUITE"
ansible_playbook() { (cd "$REPO" && ansible-playbook "$@"); }
if [[ $CONTROLLER == suite ]]; then
    # The release's own ansible (Debian 13: ansible-core 2.19) from a cached
    # rootfs, run in a chroot over a private overlay (the cache stays clean)
    # with the repository, the build and the staging directory bind-mounted;
    # it reaches the container the same way, with nsenter.
    log "controller: ansible from a cached $SUITE rootfs"
    CROOT=$(bash "$REPO/test/harness/debian-rootfs.sh" "$SUITE" ansible) \
        || { fail "controller rootfs ($SUITE with ansible)"; exit 1; }
    mkdir -p "$WORK/ctl/upper" "$WORK/ctl/work" "$WORK/ctl/root" "$STAGE"
    # This controller has no npm: stage the production dependencies the way
    # the role's staging does (same files, same command), here on the host.
    if ! cmp -s "$SNAP/package-lock.json" "$STAGE/deps/package-lock.json" \
        || [[ ! -f "$STAGE/deps/node_modules/.package-lock.json" ]]; then
        mkdir -p "$STAGE/deps"
        install -m 0644 "$SNAP/package.json" "$SNAP/package-lock.json" "$STAGE/deps/"
        (cd "$STAGE/deps" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
    fi
    ansible_playbook() {
        unshare --mount --propagation private -- /bin/sh -c '
            set -e
            lower=$1 ctl=$2 inv=$3; shift 3
            mount -t overlay overlay -o "lowerdir=$lower,upperdir=$ctl/upper,workdir=$ctl/work" "$ctl/root"
            mount -t proc proc "$ctl/root/proc"
            mount --rbind /dev "$ctl/root/dev"
            for d in "$REPO" "$SNAP" "$STAGE"; do mkdir -p "$ctl/root$d"; mount --rbind "$d" "$ctl/root$d"; done
            mkdir -p "$ctl/root$(dirname "$inv")" && cp "$inv" "$ctl/root$inv"
            exec chroot "$ctl/root" /usr/bin/env LC_ALL=C.UTF-8 HOME=/root /bin/sh -c "cd \"\$REPO\" && exec ansible-playbook \"\$@\"" sh "$@"
        ' ctl "$CROOT" "$WORK/ctl" "$INV" "$@"
    }
    export REPO SNAP STAGE
    check "controller is Debian $RELEASE's ansible: $(ansible_playbook --version 2>&1 | sed -n 1p)" \
        sh -c "test -n \"\$(chroot '$CROOT' dpkg-query -W -f='\${Version}' ansible-core)\""
fi
playbook() { # playbook LOGNAME extra-args...
    local name=$1; shift
    ansible_playbook -i "$INV" site.yml -e handler_build=false \
        -e "handler_src_dir=$SNAP" -e "handler_package_path=$DEB" -e "handler_stage_dir=$STAGE" ${PLAYBOOK_TEST_ANSIBLE_ARGS:-} "$@" > "$WORK/$name.log" 2>&1
}
recap() { grep -A2 '^PLAY RECAP' "$WORK/$1.log" | grep "$MACHINE" || true; }
# unchanged_run NAME WHAT extra-args...: a run over a finished install must change nothing.
unchanged_run() {
    local name=$1 what=$2 line; shift 2
    if playbook "$name" "$@"; then
        line=$(recap "$name" | tr -s ' ')
        if grep -q 'changed=0 ' <<<"$line"; then pass "$what: $line"; else
            grep -B1 -E '^changed:' "$WORK/$name.log" | grep -E '^(TASK|changed)' | sed -n '1,20p'
            fail "$what is not changed=0: $line"
        fi
    else
        tail -30 "$WORK/$name.log"; fail "$what: the playbook failed"
    fi
}

log "ansible-playbook site.yml (first run)"
if playbook run1; then
    pass "playbook first run: $(recap run1 | tr -s ' ')"
else
    tail -40 "$WORK/run1.log"
    fail "playbook first run: $(recap run1 | tr -s ' ')"
fi
cp "$WORK/run1.log" /tmp/chh-playbook-run1.log 2>/dev/null || true

for unit in consul haproxy consul-haproxy-handler; do
    check "unit $unit is active" cin "systemctl is-active --quiet $unit"
done
check "no failed unit after the first run" no_failed_units lb
check "master token is 0400 root" cin "test \"\$(stat -c '%a %U' /etc/consul/consul_master_token)\" = '400 root'"
check "the backends template has the server-template slots" \
    cin "grep -q 'server-template irisrv 1-50 0.0.0.0:80 check disabled init-addr none' /etc/haproxy/backends.cfg.in"

TOKEN=$(cin "cat /etc/consul/consul_master_token" 2>/dev/null || true)
CURL_TOKEN="curl -sf -H 'X-Consul-Token: $TOKEN'"
check "iri_back has its 50 slots" test "$(slot_count lb iri_back)" = 50
check "iri_pow_back has its 50 slots" test "$(slot_count lb iri_pow_back)" = 50
if [[ -n "${PLAYBOOK_TEST_STOP_AFTER_INSTALL:-}" ]]; then skip_rest PLAYBOOK_TEST_STOP_AFTER_INSTALL; fi
# ------------------------------------------------------------------- nodes
log "starting two sample nodes and registering them"
A="$GUEST_IP:14001"
B="$GUEST_IP:14002"
cin "systemd-run -q --unit=fake-node-a /usr/bin/python3 /usr/local/bin/fake-node node-a $GUEST_IP 14001"
cin "systemd-run -q --unit=fake-node-b /usr/bin/python3 /usr/local/bin/fake-node node-b $GUEST_IP 14002"
# The check's Timeout is the examples' 10 s: a script check is a Python start
# plus an HTTP call, which took over 2 s on a loaded CI machine; Consul then
# read the node critical, the handler drained and refilled it (held DOWN
# until HAProxy's rise), and checks that sample a slot found it DOWN.
register() { # register ID PORT POW
    cin "$CURL_TOKEN -X PUT -d @- http://127.0.0.1:8500/v1/agent/service/register" <<EOF
{"ID": "$1", "Name": "iri", "Address": "$GUEST_IP", "Port": $2,
 "Meta": {"haproxy_pow": "$3"},
 "Check": {"Name": "getNodeInfo", "Args": ["/usr/local/bin/check-iri-node", "http://$GUEST_IP:$2"],
           "Interval": "2s", "Timeout": "10s"}}
EOF
}
check "register node-a (curl, master token)" register node-a 14001 false
check "register node-b with haproxy_pow=true" register node-b 14002 true
check "Consul health shows both nodes passing" wait_for 30 cin \
    "$CURL_TOKEN 'http://127.0.0.1:8500/v1/health/service/iri?passing' | grep -q node-a && $CURL_TOKEN 'http://127.0.0.1:8500/v1/health/service/iri?passing' | grep -q node-b"
check "node-a UP in iri_back" wait_for 40 slot_up lb iri_back "$A"
check "node-b UP in iri_back" wait_for 20 slot_up lb iri_back "$B"
check "node-b UP in iri_pow_back" wait_for 20 slot_up lb iri_pow_back "$B"
check "node-a not in iri_pow_back" slot_absent lb iri_pow_back "$A"
check "node-b's PoW slot has the PoW default maxconn (2)" test "$(slot_field lb iri_pow_back "$B" slim)" = 2
# Node-b must be in the backend for its empty maxconn column to mean anything.
default_slot_without_maxconn() {
    slot_has lb iri_back "$B" || { echo "   (no slot of iri_back has $B)" >&2; return 1; }
    [[ "$(slot_field lb iri_back "$B" slim)" == "" ]]
}
check "node-b's default slot has no maxconn (default 0)" default_slot_without_maxconn

API="curl -sk -m 5 -H 'X-IOTA-API-Version: 1' -H 'Content-Type: application/json' https://127.0.0.1:14267/"
check "a request through the TLS frontend reaches a node" \
    cin "$API -d '{\"command\":\"getNodeInfo\"}' | grep -q '\"node\": \"node-[ab]\"'"
pow_only_b() {
    local i out
    for i in 1 2 3 4; do
        out=$(cin "$API -d '{\"command\": \"attachToTangle\", \"trytes\": []}'") || return 1
        grep -q '"node": "node-b"' <<<"$out" || return 1
    done
}
check "PoW requests (attachToTangle) reach the PoW node only" pow_only_b
# Round robin over two UP servers: both answer within a few requests. A
# request can fail or be slow on a loaded machine (curl -m 5), so ask up to 12
# times and, when one node never answers, say who did and what HAProxy saw.
both_nodes_answer() {
    local seen="" answers="" out i
    for i in $(seq 1 12); do
        out=$(cin "$API -d '{\"command\":\"getNodeInfo\"}'" 2>/dev/null) || out="(curl failed)"
        seen+="$out"
        answers+=" $(grep -o 'node-[ab]' <<<"$out" | sed -n 1p || true)"
        grep -q node-a <<<"$seen" && grep -q node-b <<<"$seen" && return 0
    done
    echo "   (answers:$answers)" >&2
    slot_up lb iri_back "$A"; slot_up lb iri_back "$B"; health_log lb
    return 1
}
check "default requests are balanced over both nodes" both_nodes_answer
check "admin command from a non-allow-listed source is refused (403)" \
    cin "test \"\$(curl -sk -o /dev/null -w '%{http_code}' -H 'X-IOTA-API-Version: 1' --interface $GUEST_IP -d '{\"command\":\"addNeighbors\",\"uris\":[]}' https://$GUEST_IP:14267/)\" = 403"
check "request without X-IOTA-API-Version is refused (400)" \
    cin "test \"\$(curl -sk -o /dev/null -w '%{http_code}' -d '{\"command\":\"getNodeInfo\"}' https://127.0.0.1:14267/)\" = 400"
check "Prometheus metrics on 127.0.0.1:8405/metrics" \
    cin "curl -sf http://127.0.0.1:8405/metrics | grep -q '^haproxy_process_'"
check "stats page on 127.0.0.1:8404/stats" cin "curl -sf -o /dev/null http://127.0.0.1:8404/stats"
check "Consul without a token: health answer is empty (ACL default deny)" \
    cin "test \"\$(curl -s http://127.0.0.1:8500/v1/health/service/iri)\" = '[]'"
check "Consul without a token: registering is refused" \
    cin "test \"\$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{\"Name\":\"x\"}' http://127.0.0.1:8500/v1/agent/service/register)\" = 403"
check "handler token is not the master token, cannot write" \
    cin "T=\$(cat /etc/consul-haproxy-handler/consul_token) && test -n \"\$T\" && test \"\$T\" != '$TOKEN' && test \"\$(curl -s -o /dev/null -w '%{http_code}' -H \"X-Consul-Token: \$T\" -X PUT -d '{\"Name\":\"x\"}' http://127.0.0.1:8500/v1/agent/service/register)\" = 403"
check "consul-haproxy-handler status runs" \
    cin "runuser -u consul-haproxy-handler -- consul-haproxy-handler status --config /etc/consul-haproxy-handler/config.yml >/dev/null"

# ------------------------------------- hitless reload/restart, least privilege
# Kept in one block. The handler renders the backends template into the file
# HAProxy loads, so a reload or restart finds every node in its slot with its
# weight and maxconn; `option idle-close-on-response` keeps keep-alive
# clients whole across a reload. wrk runs in the container's network
# namespace only (loopback there), bounded in time. Its timeout is 10 s, not
# its default 2 s: on a 2-core CI machine running other suites a request can
# wait 2 s for CPU; one that waits 10 s in a 12 s run is lost.
check "the rendered backends file has node-a and node-b as server lines" \
    cin "grep -Eq '^ *server irisrv[0-9]+ $A ' /var/lib/haproxy-slots/backends.cfg && grep -Eq '^ *server irisrv[0-9]+ $B ' /var/lib/haproxy-slots/backends.cfg"
# backend/slot address status weight maxconn, for the slots in use
slot_map() {
    stat_rows lb | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $2 ~ /^irisrv/ && $col["addr"] !~ /^0\.0\.0\.0:/ && $col["status"] !~ /^MAINT/ {
            split($col["status"], s, " "); print $1 "/" $2, $col["addr"], s[1], $col["weight"], $col["slim"] }' | sort
}
haproxy_pid() { cin "echo 'show info' | socat -t 2 stdio unix-connect:/run/haproxy/admin.sock" | awk '/^Pid:/ { print $2 }'; }
backend_requests() { stat_rows lb | awk -F, '$1 == "iri_back" && $2 == "BACKEND" { print $8 }'; }
traffic_flows() { local n; n=$(backend_requests); [[ -n "$n" ]] && (( n > $1 + 50 )); }
WRK="nsenter -t $C -n wrk -t1 -c8 --timeout 10s -H 'X-IOTA-API-Version: 1' https://127.0.0.1:14267/"
# under_load NAME ACTION: wrk runs while ACTION runs; then the slot map and wrk's figures.
under_load() {
    local name=$1 action=$2 before pid
    before=$(slot_map || true)
    pid=$(haproxy_pid || true)
    eval "$WRK -d12s" >"$WORK/wrk-$name.txt" 2>&1 &
    local wrk_pid=$!
    check "$name under load: traffic flows before the $name" wait_for 10 traffic_flows "$(backend_requests)"
    check "$name under load: systemctl $name haproxy" cin "$action"
    check "$name under load: a new HAProxy process answers (old pid $pid)" \
        wait_for 20 eval '[[ -n "$(haproxy_pid)" && "$(haproxy_pid)" != "'"$pid"'" ]]'
    SLOTS_AFTER=$(slot_map || true)
    # wrk ends by itself (-d12s); the new process must have served traffic by then.
    check "$name under load: the new process serves traffic" wait_for 10 traffic_flows 0
    wait "$wrk_pid" || true
    SLOTS_BEFORE=$before
    log "$name under load: $(grep -E 'requests in|Non-2xx|Socket errors' "$WORK/wrk-$name.txt" | tr -s ' \n' ' ')"
}
# The slot map after the reload or restart is the one before; else both, to read.
same_slots() {
    [[ -n "$SLOTS_BEFORE" && "$SLOTS_AFTER" == "$SLOTS_BEFORE" ]] && return 0
    diff <(echo "$SLOTS_BEFORE") <(echo "$SLOTS_AFTER") | sed 's/^/   (before < > after) /' >&2
    health_log lb; return 1
}
if command -v wrk >/dev/null; then
    under_load reload "systemctl reload haproxy"
    check "reload: every node in its slot with weight and maxconn, UP, at once" same_slots
    check "reload under load: requests went through" grep -q 'requests in' "$WORK/wrk-reload.txt"
    check "reload under load: 0 failed requests (no non-2xx, no socket errors)" \
        bash -c "! grep -Eq 'Non-2xx|Socket errors' '$WORK/wrk-reload.txt'"
    under_load restart "systemctl restart haproxy"
    check "restart: every node in its slot with weight and maxconn, UP, at once" same_slots
    # Connections are refused while no process listens (counted, not failed);
    # what must not happen is a 503 while slots wait for the handler.
    check "restart under load: no non-2xx answer" bash -c "! grep -q 'Non-2xx' '$WORK/wrk-restart.txt'"
else
    fail "wrk is not installed on the host (apt-get install wrk): reload/restart under load not checked"
fi
check "TCP runtime socket is at level operator" \
    cin "test \"\$(echo 'show cli level' | socat -t 2 stdio tcp4-connect:127.0.0.1:9999)\" = operator"
check "TCP runtime socket answers show stat" cin "echo 'show stat' | socat -t 2 stdio tcp4-connect:127.0.0.1:9999 | grep -q '^iri_back,BACKEND,'"
check "TCP runtime socket refuses disable frontend (Permission denied)" \
    cin "echo 'disable frontend iri_front' | socat -t 2 stdio tcp4-connect:127.0.0.1:9999 | grep -q 'Permission denied'"
check "the frontend is still enabled" cin "echo 'show stat' | socat -t 2 stdio tcp4-connect:127.0.0.1:9999 | grep -q '^iri_front,FRONTEND,.*,OPEN,'"
check "check-config: the handler's unix socket is at level admin" \
    cin "runuser -u consul-haproxy-handler -- consul-haproxy-handler check-config --config /etc/consul-haproxy-handler/config.yml | grep -q '^ok   haproxy level: admin'"
# ------------------------------------------------------------------- end block

# -------------------------------------------------------- deregister/restart
check "deregister node-a (curl)" cin "$CURL_TOKEN -X PUT http://127.0.0.1:8500/v1/agent/service/deregister/node-a"
check "node-a leaves rotation in iri_back" wait_for 20 slot_gone lb iri_back "$A"
check "node-b still UP after node-a left" slot_still_up lb iri_back "$B"

check "systemctl restart haproxy" cin "systemctl restart haproxy"
check "slots come back after a restart (iri_back)" wait_for 30 slot_up lb iri_back "$B"
check "slots come back after a restart (iri_pow_back)" wait_for 30 slot_up lb iri_pow_back "$B"

# HAProxy 2.6 restores port, weights and admin state from the state file but
# not the address of an init-addr none slot: the handler must fix those.
no_slot_at_placeholder() {
    local rows; rows=$(stat_rows lb) || return 1
    ! awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $2 ~ /^irisrv/ && $col["addr"] ~ /^0\.0\.0\.0:/ && $col["status"] !~ /^MAINT/ { bad = 1 }
        END { exit !bad }' <<<"$rows"
}
check "after the restart no slot is in rotation at the 0.0.0.0 placeholder" wait_for 30 no_slot_at_placeholder

# HAProxy starts with nothing to restore: no saved state, and the slots file
# reset to the template (every slot empty), so whatever fills node-b's slots
# now is the handler (the drop-in's sync at start, or the running unit).
SLOTS_FILE=/var/lib/haproxy-slots/backends.cfg
reset_slots_file() { cin "cat /etc/haproxy/backends.cfg.in > $SLOTS_FILE && ! grep -q ' $B ' $SLOTS_FILE"; }
check "stop HAProxy" cin "systemctl stop haproxy"
check "remove the saved server state" cin "rm -f /var/lib/haproxy-slots/server-state && ! test -e /var/lib/haproxy-slots/server-state"
check "reset the slots file to the template (no server line for node-b)" reset_slots_file
check "start HAProxy" cin "systemctl start haproxy"
check "slots refilled by the handler with no saved state and no slots file (iri_pow_back)" wait_for 30 slot_up lb iri_pow_back "$B"
pow_maxconn_is() { [[ "$(slot_field lb iri_pow_back "$B" slim)" == "$1" ]]; }
check "PoW slot refilled with the PoW maxconn (2)" wait_for 10 pow_maxconn_is 2
check "the handler wrote node-b back into the slots file" \
    wait_for 10 cin "grep -Eq '^ *server irisrv[0-9]+ $B ' $SLOTS_FILE"

# With Consul down, HAProxy starts (the drop-in's sync may fail) with empty
# slots; only the handler, once Consul is back, can fill node-b's.
check "stop Consul" cin "systemctl stop consul"
check "no failed unit after Consul's stop (its exit status 1 on SIGINT is a clean stop)" no_failed_units lb
check "stop HAProxy while Consul is down" cin "systemctl stop haproxy"
check "remove the saved server state while Consul is down" cin "rm -f /var/lib/haproxy-slots/server-state"
check "reset the slots file while Consul is down (no server line for node-b)" reset_slots_file
check "HAProxy starts while Consul is down" cin "systemctl start haproxy && systemctl is-active --quiet haproxy"
check "start Consul again" cin "systemctl start consul"
check "slots back once Consul is up again (the handler refilled them)" wait_for 60 slot_up lb iri_back "$B"
check "no failed unit after the restarts" no_failed_units lb

# --------------------------------------------------------------- idempotent
if [[ -n "${PLAYBOOK_TEST_SKIP_SECOND_RUN:-}" ]]; then skip_rest PLAYBOOK_TEST_SKIP_SECOND_RUN; fi
log "ansible-playbook site.yml (second run)"
unchanged_run run2 "second run"
check "node-b still UP after the second run" slot_still_up lb iri_back "$B"
check "no failed unit after the second run" no_failed_units lb

# --------------------------------------------------------------- portmap
# The load balancer's own listener from Consul KV (docs/portmap.md): the
# playbook seeds the tier's folder from its variables (each key only when
# absent), the handler renders it into the file HAProxy loads and reloads
# HAProxy over its master CLI, as its own user, under its hardened unit.
log "a listener from a portmap the playbook writes to Consul KV (handler_lb_enabled, handler_lb_portmap, handler_lb_max_rs)"
PM_KV=http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/lb/default
PM_ARGS=(-e handler_lb_enabled=true -e handler_lb_portmap=tcp://18080:iri -e handler_lb_max_rs=8)
# kv_is KEY VALUE [TOKEN]: the key holds exactly VALUE (read with TOKEN, default the master token).
kv_is() {
    local got
    got=$(cin "curl -sf -H 'X-Consul-Token: ${3:-$TOKEN}' '$PM_KV/$1?raw'") || { echo "   (no key $1, or not readable)" >&2; return 1; }
    [[ "$got" == "$2" ]] && return 0
    echo "   (KV $1 is '$got')" >&2; return 1
}
# kv_task_said LOGNAME TEXT: the play's report of the KV write says TEXT.
kv_task_said() {
    grep -q -F "$2" "$WORK/$1.log" && return 0
    grep -F 'Consul KV consul-haproxy-handler/lb/default/:' "$WORK/$1.log" | sed 's/^/   (play) /' >&2; return 1
}
# pm_slot_count BACKEND: the servers (slots) of a portmap backend.
pm_slot_count() {
    local rows; rows=$(stat_rows lb) || return 1
    awk -F, -v be="$1" '$1 == be && $2 != "BACKEND" && $2 != "FRONTEND" { n++ } END { print n + 0 }' <<<"$rows"
}
served_by_b() { # served_by_b PORT: a request to the portmap listener on PORT reaches node-b
    cin "curl -s -m 3 -H 'X-IOTA-API-Version: 1' -H 'Content-Type: application/json' -d '{\"command\":\"getNodeInfo\"}' http://127.0.0.1:$1/ | grep -q '\"node\": \"node-b\"'"
}
if playbook portmap "${PM_ARGS[@]}"; then
    pass "playbook run with handler_lb_enabled=true and the portmap as variables: $(recap portmap | tr -s ' ')"
else
    tail -30 "$WORK/portmap.log"; fail "playbook run with handler_lb_enabled=true and the portmap as variables"
fi
check "the play says it wrote portmap and max_rs to KV" kv_task_said portmap "written: portmap, max_rs;"
check "KV has the playbook's portmap (tcp://18080:iri)" kv_is portmap 'tcp://18080:iri'
check "KV has the playbook's max_rs (8)" kv_is max_rs 8
MASTER_PID=$(cin "systemctl show -p MainPID --value haproxy" 2>/dev/null || true)
check "the handler may open HAProxy's master CLI (group haproxy, 0660)" \
    cin "runuser -u consul-haproxy-handler -- sh -c 'echo show proc | socat -t 2 stdio unix-connect:/run/haproxy-master.sock' | grep -q master"
check "the new listener serves node-b" wait_for 40 served_by_b 18080
check "node-b UP in the portmap's backend pm_18080_iri" wait_for 20 slot_up lb pm_18080_iri "$B"
check "pm_18080_iri has max_rs (8) slots" test "$(pm_slot_count pm_18080_iri)" = 8
check "HAProxy reloaded by the handler (its log), the same master (no restart)" \
    cin "journalctl -u consul-haproxy-handler --no-pager | grep -q 'HAProxy reloaded with the portmap' && test \"\$(systemctl show -p MainPID --value haproxy)\" = '$MASTER_PID'"
check "the rendered portmap has node-b as a server line (a reload keeps it in its slot)" \
    wait_for 10 cin "grep -Eq '^ *server pm[0-9]+ $B ' /var/lib/haproxy-slots/portmap.cfg"
HANDLER_TOKEN=$(cin "cat /etc/consul-haproxy-handler/consul_token" 2>/dev/null || true)
check "the handler's token reads the portmap's folder" kv_is portmap 'tcp://18080:iri' "$HANDLER_TOKEN"
check "the handler's token cannot write the portmap's folder (403)" \
    cin "test \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Consul-Token: $HANDLER_TOKEN' -X PUT -d 'tcp://18090:iri' '$PM_KV/portmap')\" = 403"
check "the handler's token still writes beside it, under consul-haproxy-handler/ (promote's keys)" \
    cin "curl -sf -H 'X-Consul-Token: $HANDLER_TOKEN' -X PUT -d x http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/playbook-test | grep -q true && $CURL_TOKEN -X DELETE http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/playbook-test | grep -q true"
# An operator changes the portmap in KV: the handler follows it, and the next
# run with the same variables leaves it as it is (and changes nothing).
PM_OPERATOR='tcp://18080:iri tcp://18081:iri'
check "an operator adds a listener in KV (curl, master token)" \
    cin "$CURL_TOKEN -X PUT -d '$PM_OPERATOR' $PM_KV/portmap | grep -q true"
check "the operator's listener serves node-b" wait_for 40 served_by_b 18081
unchanged_run portmap2 "a run with the same portmap variables after the operator's change" "${PM_ARGS[@]}"
check "that run says KV already had portmap and max_rs, and wrote none" \
    kv_task_said portmap2 "written: none; already there, left as they are (the playbook never replaces a key; change it in KV): portmap, max_rs"
check "KV still has the operator's portmap (not undone by the run)" kv_is portmap "$PM_OPERATOR"
check "the operator's listener still serves after the run" wait_for 20 served_by_b 18081
check "node-b still UP in iri_back" slot_still_up lb iri_back "$B"
check "no failed unit with the portmap" no_failed_units lb

# ------------------------------------------------------------ certificates
# certificate_name ordered over ACME (docs/certificates.md) by the installed
# handler, under its hardened unit: pebble runs on the host (its directory on
# the host's end of the veth link, every name resolving to the container), and
# validates HTTP-01 through the portmap's http listener, which HAProxy sends
# to the handler's run.listen. The issued certificate is written where
# HAProxy loads it (lb.certDirectory, /etc/haproxy/certs: the unit's
# ReadWritePaths and the role's directory) and swapped in without a reload.
log "certificate_name: ordered from pebble (ACME, on the host) through the portmap's http listener"
PEBBLE_OUT="$WORK/pebble.json"
node "$REPO/dist/test/harness/pebble-main.js" --http-port 18082 --listen "$HOST_IP" --answer "$GUEST_IP" --out "$PEBBLE_OUT" > "$WORK/pebble.log" 2>&1 &
PEBBLE_PID=$!
check "pebble answers on the host ($HOST_IP)" wait_for 60 test -s "$PEBBLE_OUT"
PEBBLE_DIRECTORY=$(jq -r .directoryUrl "$PEBBLE_OUT" 2>/dev/null || true)
PEBBLE_CA=/usr/local/share/chh-test-pebble-ca.pem
check "pebble's listener CA copied to the load balancer (acme_ca_file)" \
    install -m 0644 "$(jq -r .caFile "$PEBBLE_OUT" 2>/dev/null)" "$ROOT$PEBBLE_CA"
CERT_NAMES=lb.test,www.lb.test
PM_TLS="$PM_OPERATOR http://18082:iri https://18443:iri"
RELOADS_BEFORE=$(cin "journalctl -u consul-haproxy-handler --no-pager | grep -c 'HAProxy reloaded with the portmap'" || true)
# One transaction, as an operator would: the listeners and the keys at once.
kv_txn_set() { # kv_txn_set KEY VALUE ...: one Consul transaction setting each KEY
    local ops="" sep=""
    while (($#)); do
        ops+="$sep{\"KV\":{\"Verb\":\"set\",\"Key\":\"consul-haproxy-handler/lb/default/$1\",\"Value\":\"$(printf %s "$2" | base64 -w0)\"}}"
        sep=,; shift 2
    done
    cin "$CURL_TOKEN -X PUT -d '[$ops]' http://127.0.0.1:8500/v1/txn >/dev/null"
}
check "an operator sets certificate_name, acme_directory, acme_ca_file and http + https listeners in one transaction" \
    kv_txn_set acme_directory "$PEBBLE_DIRECTORY" acme_ca_file "$PEBBLE_CA" certificate_name "$CERT_NAMES" portmap "$PM_TLS"
# served_issuer SNI: the issuer of the certificate the https listener serves for SNI.
served_issuer() { cin "openssl s_client -connect 127.0.0.1:18443 -servername '$1' </dev/null 2>/dev/null | openssl x509 -noout -issuer"; }
issued_by_pebble() { served_issuer "$1" | grep -q 'CN *= *Pebble Intermediate' && return 0; echo "   (issuer for $1: $(served_issuer "$1" || echo none))" >&2; return 1; }
if wait_for 120 issued_by_pebble lb.test; then pass "the https listener serves pebble's certificate for lb.test"; else
    fail "the https listener serves pebble's certificate for lb.test"
    cin "journalctl -u consul-haproxy-handler --no-pager | grep -Ei 'certificat|acme|challenge|portmap' | tail -20" | sed 's/^/   (handler) /'
    tail -20 "$WORK/pebble.log" | sed 's/^/   (pebble) /'
    cin "runuser -u consul-haproxy-handler -- haproxy -c -f /etc/haproxy/haproxy.cfg -f /var/lib/haproxy-slots/backends.cfg -f /var/lib/haproxy-slots/portmap.cfg.next 2>&1 | tail -20; ls -la /etc/haproxy/certs" | sed 's/^/   (haproxy -c) /'
fi
check "... and for www.lb.test (the second name)" issued_by_pebble www.lb.test
check "the certificate is in /etc/haproxy/certs, the handler's, 0600" \
    cin "test \"\$(stat -c '%U %a' /etc/haproxy/certs/lb.test.pem)\" = 'consul-haproxy-handler 600'"
check "/etc/haproxy/certs: the handler's, group haproxy, 0750" \
    cin "test \"\$(stat -c '%U %G %a' /etc/haproxy/certs)\" = 'consul-haproxy-handler haproxy 750'"
reloads_now() { cin "journalctl -u consul-haproxy-handler --no-pager | grep -c 'HAProxy reloaded with the portmap'"; }
check "one reload for the new listeners, none for the certificate (swapped over the runtime API), same master" \
    test "$(reloads_now)" = "$((RELOADS_BEFORE + 1))" -a "$(cin "systemctl show -p MainPID --value haproxy")" = "$MASTER_PID"
check "status lists the certificate, issued by pebble" \
    cin "runuser -u consul-haproxy-handler -- consul-haproxy-handler status --config /etc/consul-haproxy-handler/config.yml | grep -q 'certificate lb.test, www.lb.test: issued by CN=Pebble Intermediate'"
check "no challenge left in Consul KV" \
    cin "test \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Consul-Token: $TOKEN' 'http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/acme/default/challenges/?keys')\" = 404"
check "no secret in the handler's journal, which has the swap (no PEM key, no account key)" \
    cin "j=\$(journalctl -u consul-haproxy-handler --no-pager) && printf '%s' \"\$j\" | grep -q 'certificate swapped' && ! printf '%s' \"\$j\" | grep -Eq 'PRIVATE KEY|\"d\":'"
CERT_ARGS=(-e "handler_lb_acme_directory=$PEBBLE_DIRECTORY" -e "handler_lb_acme_ca_file=$PEBBLE_CA" -e "handler_lb_certificate_name=$CERT_NAMES")
unchanged_run certificates2 "a run with the certificate variables (handler_lb_acme_*, handler_lb_certificate_name)" "${PM_ARGS[@]}" "${CERT_ARGS[@]}"
check "that run says KV already had the certificate keys" \
    kv_task_said certificates2 "portmap, max_rs, acme_directory, acme_ca_file, certificate_name"
kill "$PEBBLE_PID" 2>/dev/null; wait "$PEBBLE_PID" 2>/dev/null; PEBBLE_PID=""
check "no failed unit with the certificate" no_failed_units lb

# --------------------------------------------------------------- watch mode
if scenario watch; then
log "switching to watch mode (handler_mode=watch)"
if playbook watch -e handler_mode=watch; then
    pass "playbook run with handler_mode=watch: $(recap watch | tr -s ' ')"
else
    tail -30 "$WORK/watch.log"; fail "playbook run with handler_mode=watch"
fi
check "watch mode: run-mode unit stopped" cin "! systemctl is-active --quiet consul-haproxy-handler"
check "watch mode: Consul has the watch definition" cin "test -f /etc/consul/conf.d/60-consul-haproxy-handler-watch.json"
check "watch mode: register node-a again" register node-a 14001 false
check "watch mode: node-a UP in iri_back (the watch ran the handler)" wait_for 40 slot_up lb iri_back "$A"
check "watch mode: deregister node-a" cin "$CURL_TOKEN -X PUT http://127.0.0.1:8500/v1/agent/service/deregister/node-a"
check "watch mode: node-a leaves rotation" wait_for 20 slot_gone lb iri_back "$A"
check "no failed unit in watch mode (the run-mode unit stopped clean)" no_failed_units lb

log "switching the watch to handler_type http (handler_watch_type=http)"
if playbook watchhttp -e handler_mode=watch -e handler_watch_type=http; then
    pass "playbook run with handler_watch_type=http: $(recap watchhttp | tr -s ' ')"
else
    tail -30 "$WORK/watchhttp.log"; fail "playbook run with handler_watch_type=http"
fi
check "http watch: the unit runs to receive it" cin "systemctl is-active --quiet consul-haproxy-handler"
check "http watch: the watch definition POSTs to the listener" \
    cin "grep -q '\"handler_type\": \"http\"' /etc/consul/conf.d/60-consul-haproxy-handler-watch.json && grep -q '127.0.0.1:9701/watch' /etc/consul/conf.d/60-consul-haproxy-handler-watch.json"
# `run` applies changes from its own blocking queries too, so a slot going UP
# proves nothing about the POST: the counter of POSTs is read before each
# change and must grow with it. Fails (no number) when /metrics does not answer.
watch_posts() {
    local text; text=$(cin "curl -sf http://127.0.0.1:9701/metrics") || return 1
    awk '$1 == "consul_haproxy_handler_watch_requests_total" { n = $2; found = 1 } END { if (!found) exit 1; print n }' <<<"$text"
}
posts_grew() { local now; now=$(watch_posts) || return 1; (( now > $1 )); }
posts_before=$(watch_posts || echo unknown)
check "http watch: /metrics has consul_haproxy_handler_watch_requests_total ($posts_before)" test "$posts_before" != unknown
check "http watch: register node-a again" register node-a 14001 false
check "http watch: Consul POSTed the registration to /watch (grew from $posts_before)" wait_for 20 posts_grew "$posts_before"
check "http watch: node-a UP in iri_back" wait_for 40 slot_up lb iri_back "$A"
posts_before=$(watch_posts || echo unknown)
check "http watch: deregister node-a" cin "$CURL_TOKEN -X PUT http://127.0.0.1:8500/v1/agent/service/deregister/node-a"
check "http watch: Consul POSTed the deregistration to /watch (grew from $posts_before)" wait_for 20 posts_grew "$posts_before"
check "http watch: node-a leaves rotation" wait_for 20 slot_gone lb iri_back "$A"
check "no failed unit with the http watch" no_failed_units lb
fi


# ---------------------------------------------------------- Consul with TLS
# The consul role's TLS (consul_tls_enabled) with verify_incoming, and the
# handler talking mTLS to its local agent: a CA and certificates made here
# with openssl, kept where the controller sees them (the suite controller's
# chroot has $SNAP bind-mounted). Same mode as the run before (run, or the
# http watch after the watch scenario), so what changes is TLS only.
if scenario tls; then
log "Consul TLS (consul_tls_enabled=true, verify_incoming, handler client certificate)"
PKI="$SNAP/consul-tls"
make_pki() {
    mkdir -p "$PKI" || return 1
    local name ext
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=playbook test Consul CA" -keyout "$PKI/ca-key.pem" -out "$PKI/ca.pem" 2>/dev/null || return 1
    for name in agent handler; do
        if [[ $name == agent ]]; then
            # Consul's own certificate serves HTTPS and RPC both ways.
            ext=$'subjectAltName=DNS:server.dc1.consul,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE'
        else
            ext=$'extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE'
        fi
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name.dc1.consul" \
            -keyout "$PKI/$name-key.pem" -out "$PKI/$name.csr" 2>/dev/null || return 1
        openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca-key.pem" -CAcreateserial -days 2 \
            -extfile <(printf '%s\n' "$ext") -out "$PKI/$name.pem" 2>/dev/null || return 1
    done
}
check "CA, Consul agent and handler client certificates made with openssl" make_pki
MODE_ARGS=()
if scenario watch; then MODE_ARGS=(-e handler_mode=watch -e handler_watch_type=http); fi
TLS_ARGS=("${MODE_ARGS[@]}" -e consul_tls_enabled=true
    -e "consul_tls_ca_src=$PKI/ca.pem" -e "consul_tls_cert_src=$PKI/agent.pem" -e "consul_tls_key_src=$PKI/agent-key.pem"
    -e "handler_consul_client_cert_src=$PKI/handler.pem" -e "handler_consul_client_key_src=$PKI/handler-key.pem")
if playbook tls "${TLS_ARGS[@]}"; then
    pass "playbook run with consul_tls_enabled=true: $(recap tls | tr -s ' ')"
else
    tail -30 "$WORK/tls.log"; fail "playbook run with consul_tls_enabled=true: $(recap tls | tr -s ' ')"
fi
HANDLER_CERT="--cert /etc/consul-haproxy-handler/consul-client.pem --key /etc/consul-haproxy-handler/consul-client-key.pem"
CURL_TLS="curl -sf --cacert /etc/consul/tls/ca.pem $HANDLER_CERT -H 'X-Consul-Token: $TOKEN'"
check "TLS: Consul answers on https://127.0.0.1:8501 to a client with a certificate from the CA" \
    cin "curl -sf --cacert /etc/consul/tls/ca.pem $HANDLER_CERT https://127.0.0.1:8501/v1/status/leader | grep -q ':'"
check "TLS: Consul refuses a client without a certificate (verify_incoming)" \
    cin "! curl -s -o /dev/null --cacert /etc/consul/tls/ca.pem https://127.0.0.1:8501/v1/status/leader"
check "TLS: the handler's config points at https with the CA and its client certificate" \
    cin "grep -q 'address: https://127.0.0.1:8501' /etc/consul-haproxy-handler/config.yml && grep -q 'clientCert: /etc/consul-haproxy-handler/consul-client.pem' /etc/consul-haproxy-handler/config.yml"
tls_check_config() {
    local out
    out=$(cin "runuser -u consul-haproxy-handler -- consul-haproxy-handler check-config --config /etc/consul-haproxy-handler/config.yml") \
        || { tail -5 <<<"$out" >&2; return 1; }
    grep -q '^ok   consul: https://127.0.0.1:8501' <<<"$out" || { tail -5 <<<"$out" >&2; return 1; }
}
check "TLS: check-config passes over mTLS (ok consul: https://127.0.0.1:8501)" tls_check_config
# The unit took the new config (SIGHUP; a config it cannot use keeps the old
# one, plain HTTP): its blocking queries are open to 8501.
# (ss -e names the socket's owner: uid:N.)
handler_on_https() {
    cin 'ss -Htnpe state established "( dport = :8501 )" | grep -q " uid:$(id -u consul-haproxy-handler) "'
}
if wait_for 30 handler_on_https; then pass "TLS: the running handler is connected to https://127.0.0.1:8501"; else
    cin 'id -u consul-haproxy-handler; ss -Htnpe state established "( dport = :8501 or dport = :8500 )"; journalctl -u consul-haproxy-handler -n 15 --no-pager' | sed 's/^/   /'
    fail "TLS: the running handler is connected to https://127.0.0.1:8501"
fi
register_tls() { # register_tls ID PORT: over https with a client certificate
    cin "$CURL_TLS -X PUT -d @- https://127.0.0.1:8501/v1/agent/service/register" <<EOF
{"ID": "$1", "Name": "iri", "Address": "$GUEST_IP", "Port": $2, "Meta": {"haproxy_pow": "false"},
 "Check": {"Name": "getNodeInfo", "Args": ["/usr/local/bin/check-iri-node", "http://$GUEST_IP:$2"],
           "Interval": "2s", "Timeout": "10s"}}
EOF
}
check "TLS: register node-a over https with a client certificate" register_tls node-a 14001
check "TLS: node-a UP in iri_back (the handler reads Consul over mTLS)" wait_for 40 slot_up lb iri_back "$A"
check "TLS: node-b still UP in iri_back" slot_up lb iri_back "$B"
unchanged_run tls2 "TLS: second run" "${TLS_ARGS[@]}"
check "TLS: deregister node-a over https" cin "$CURL_TLS -X PUT https://127.0.0.1:8501/v1/agent/service/deregister/node-a"
check "TLS: node-a leaves rotation" wait_for 20 slot_gone lb iri_back "$A"
check "no failed unit after Consul's restart with TLS" no_failed_units lb
fi

# ---------------------------------------------------------------- uninstall
if [[ -n "${PLAYBOOK_TEST_SKIP_UNINSTALL:-}" ]]; then skip_rest PLAYBOOK_TEST_SKIP_UNINSTALL; fi
log "uninstall"
check "stop the sample nodes" cin "systemctl stop fake-node-a fake-node-b"
# As an operator who changes their mind: a plain uninstall, then one that
# also removes the packages; each must succeed on what the last one left.
if playbook uninstall --tags uninstall -e uninstall_playbook=yes; then
    pass "plain uninstall run: $(recap uninstall | tr -s ' ')"
else
    tail -30 "$WORK/uninstall.log"; fail "plain uninstall run: $(recap uninstall | tr -s ' ')"
fi
check "plain uninstall: the handler's unit is gone, HAProxy still runs (packaged config)" \
    cin "! test -e /etc/systemd/system/consul-haproxy-handler.service && ! test -e /lib/systemd/system/consul-haproxy-handler.service && ! dpkg -s consul-haproxy-handler >/dev/null 2>&1 && systemctl is-active --quiet haproxy"
check "no failed unit after the plain uninstall" no_failed_units lb
if playbook uninstall2 --tags uninstall -e uninstall_playbook=yes -e uninstall_remove_packages=yes; then
    pass "uninstall run with uninstall_remove_packages=yes after the plain one: $(recap uninstall2 | tr -s ' ')"
else
    tail -30 "$WORK/uninstall2.log"; fail "uninstall run with uninstall_remove_packages=yes after the plain one: $(recap uninstall2 | tr -s ' ')"
fi
leftovers=$(cin '
    for p in /etc/systemd/system/consul.service /etc/systemd/system/consul-haproxy-handler.service \
             /etc/systemd/system/haproxy.service.d /etc/systemd/system/multi-user.target.wants/consul.service \
             /etc/systemd/system/multi-user.target.wants/consul-haproxy-handler.service \
             /lib/systemd/system/consul-haproxy-handler.service /usr/lib/consul-haproxy-handler \
             /usr/bin/consul-haproxy-handler /var/cache/consul-haproxy-handler /usr/lib/tmpfiles.d/consul-haproxy-handler.conf \
             /etc/consul /etc/consul.d /var/lib/consul /etc/consul-haproxy-handler /opt/consul-haproxy-handler \
             /usr/local/bin/consul-haproxy-handler /usr/local/bin/check-iri-node /usr/local/sbin/haproxy-save-server-state \
             /etc/tmpfiles.d/consul-haproxy-handler.conf /run/consul-haproxy-handler /etc/haproxy/haproxy.cfg \
             /etc/haproxy/ssl /var/lib/haproxy/server-state /var/lib/haproxy-slots /etc/apt/sources.list.d/consul-bullseye.sources \
             /etc/apt/preferences.d/consul-bullseye.pref; do
        [ -e "$p" ] && echo "file $p"
    done
    for u in consul haproxy consul-haproxy-handler; do getent passwd $u >/dev/null && echo "user $u"; done
    for g in consul haproxy consul-haproxy-handler; do getent group $g >/dev/null && echo "group $g"; done
    for pkg in consul haproxy nodejs consul-haproxy-handler; do dpkg -s $pkg >/dev/null 2>&1 && echo "package $pkg"; done
    # (list-unit-files exits 1 when no file matches: its status says nothing.)
    systemctl list-unit-files --no-legend "consul*" "haproxy*" | sed "s/^/unit /"
    # A unit record (e.g. "consul.service not-found failed failed") outlives its
    # file. "not-found inactive dead" ones came from the container sharing its
    # cgroup with other containers (see own-cgroup.sh): none is accepted.
    records=$(systemctl list-units --all --plain --no-legend "consul*" "haproxy*") || echo "systemctl list-units failed"
    [ -z "$records" ] || printf "%s\n" "$records" | sed "s/^/unit record /"
    true' 2>&1)
if [[ -z "$leftovers" ]]; then
    pass "uninstall leaves no unit, user, group, package or file behind"
else
    fail "uninstall left: $(tr '\n' ';' <<<"$leftovers")"
fi
check "no failed unit after the uninstall with uninstall_remove_packages=yes" no_failed_units lb
if playbook uninstall3 --tags uninstall -e uninstall_playbook=yes -e uninstall_remove_packages=yes; then
    pass "uninstall once more on a host with nothing left: $(recap uninstall3 | tr -s ' ')"
else
    tail -30 "$WORK/uninstall3.log"; fail "uninstall once more on a host with nothing left: $(recap uninstall3 | tr -s ' ')"
fi
