#!/usr/bin/env bash
# End-to-end test of site.yml on a cluster: three Debian 12 systemd
# containers on a bridge of their own (NAT to the host's apt archive), all
# three Consul servers and load balancers, installed by one playbook run from
# one inventory. Then: a registration through one host reaches every load
# balancer; the Consul leader is stopped (a new leader is elected, a node
# registered meanwhile reaches the load balancers whose agents run, the load
# balancer whose agent is down keeps serving and converges when it returns);
# catalog registration and deregistration from different hosts; a fourth
# host (a client agent) joins by a re-run, which is also the second run on
# the first three and must change nothing there.
#
# Figures (failover, propagation, convergence) are printed as "FIGURE:"
# lines, not asserted: they depend on the machine.
#
# Usage: test/playbook/cluster.sh            (as root, on Debian 12)
# Environment:
#   PLAYBOOK_TEST_SKIP_BUILD=1   do not run npm ci && npm run build
#   PLAYBOOK_TEST_KEEP=1         leave the containers running at the end (debug)
#   PLAYBOOK_TEST_CACHE=DIR      rootfs cache (default /var/cache/consul-haproxy-handler-test)
#   CLUSTER_TEST_SKIP_JOIN=1     do not add the fourth host (its checks count as skipped)
#   CLUSTER_TEST_STOP_AFTER_INSTALL=1  stop after the first run's checks
# Ends with "cluster: N passed, N failed, N skipped"; exits non-zero on any
# failure, and with 3 when a switch skipped checks (not a full run).
# The helpers shared with run.sh are in lib.sh.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$REPO/test/playbook"
CACHE=${PLAYBOOK_TEST_CACHE:-/var/cache/consul-haproxy-handler-test}
SUITE=bookworm
SUITE_LABEL=cluster
# shellcheck source=test/playbook/lib.sh
. "$HERE/lib.sh"
# Downloaded once into the cluster rootfs (not installed: the playbook does
# that), so that the containers do not each fetch them.
BAKED_DEBS="consul haproxy socat openssl ca-certificates nodejs"
PREFIX="chc$$"
BRIDGE="chcbr$$"
NET_ID=$(( ($$ % 200) + 20 ))
NET="10.232.$NET_ID"
HOST_IP="$NET.1"
NFT_TABLE="chh_cl_$$"
HOSTS=(a b c)          # servers and load balancers
JOIN_HOST=d            # a client agent and load balancer, added later
declare -A IP=([a]="$NET.11" [b]="$NET.12" [c]="$NET.13" [d]="$NET.14")
WORK=""
SNAP=""
OLD_FORWARD=""

figure() { echo "FIGURE: $*"; }
name_of() { echo "$PREFIX$1"; }
# Run a shell command inside container $1 (all its namespaces).
cin() { cin_on "$1" "$2"; }

teardown() {
    local rc=$?
    set +e
    trap - ERR
    [[ -n "${MONITOR_PID:-}" ]] && kill "$MONITOR_PID" 2>/dev/null
    if [[ -n "${PLAYBOOK_TEST_KEEP:-}" ]]; then
        for h in "${!PID1[@]}"; do echo "-- kept: $h nsenter -t ${PID1[$h]} -a bash"; done
        echo "-- work dir $WORK, bridge $BRIDGE, nft table $NFT_TABLE"
        summary
        return
    fi
    if (( FAILED > 0 || rc != 0 )) && [[ -n "$WORK" ]]; then
        mkdir -p "/tmp/chh-cluster-logs.$$" && cp "$WORK"/*.log "/tmp/chh-cluster-logs.$$/" 2>/dev/null
        echo "-- logs kept in /tmp/chh-cluster-logs.$$"
    fi
    for h in "${!PID1[@]}"; do stop_container "$h" & done
    wait
    nft delete table ip "$NFT_TABLE" 2>/dev/null
    ip link del "$BRIDGE" 2>/dev/null
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
have_tools() { which ansible-playbook debootstrap systemd-nspawn nft flock jq >/dev/null; }
check "host tools installed (ansible $(dpkg-query -W -f='${Version}' ansible))" have_tools

# ------------------------------------------------------------- build handler
build_and_snapshot chh-cluster-src

# ------------------------------------------------------------------- rootfs
WORK=$(mktemp -d /var/tmp/chh-cluster.XXXXXX)
# The same tree as run.sh's (same key, same lock).
base_rootfs "$SUITE" || { fail "Debian 12 base rootfs"; exit 1; }
DEBS_KEY=$(printf '%s %s debs v1' "$ROOTFS_KEY" "$BAKED_DEBS" | sha256sum | cut -c1-16)
CLUSTER_TARBALL="$CACHE/rootfs-$SUITE-cluster-$DEBS_KEY.tar"
(
    flock 9
    if [[ ! -f "$CLUSTER_TARBALL" ]]; then
        log "downloading the packages into a cluster rootfs (no cache yet)"
        tree="$WORK/debs"
        mkdir -p "$tree"
        tar -C "$tree" -xf "$TARBALL"
        apt_config_into "$tree"
        # The same pinned suite the consul role adds, for the download only.
        cat > "$tree/etc/apt/sources.list.d/cluster-bullseye.sources" <<EOF
Types: deb
URIs: $URI
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        printf 'Package: *\nPin: release n=bullseye\nPin-Priority: -10\n\nPackage: consul\nPin: release n=bullseye\nPin-Priority: 500\n' \
            > "$tree/etc/apt/preferences.d/cluster-bullseye.pref"
        # shellcheck disable=SC2086
        systemd-nspawn -q -D "$tree" --register=no --keep-unit --pipe /bin/sh -c \
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only $BAKED_DEBS" \
            > "$WORK/debs.log" 2>&1 || { tail -20 "$WORK/debs.log"; exit 1; }
        rm -f "$tree/etc/apt/sources.list.d/cluster-bullseye.sources" "$tree/etc/apt/preferences.d/cluster-bullseye.pref"
        rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/*.bin
        tar -C "$tree" -cf "$CLUSTER_TARBALL.tmp.$$" . && mv -f "$CLUSTER_TARBALL.tmp.$$" "$CLUSTER_TARBALL"
        rm -rf --one-file-system "$tree"
    fi
) 9>"$CACHE/.lock-$SUITE-cluster-$DEBS_KEY" || { fail "cluster rootfs with the packages downloaded"; exit 1; }
pass "rootfs with the packages downloaded ($(basename "$CLUSTER_TARBALL"), $(ls "$CACHE" | grep -c . ) cache entries)"

prepare_root() { # prepare_root HOST
    local h=$1 root="$WORK/$1" name; name=$(name_of "$1")
    mkdir -p "$root"
    tar -C "$root" -xf "$CLUSTER_TARBALL"
    apt_config_into "$root"
    echo "$name" > "$root/etc/hostname"
    {
        echo "127.0.0.1 localhost"
        echo "::1 localhost ip6-localhost ip6-loopback"
        for other in "${!IP[@]}"; do echo "${IP[$other]} $(name_of "$other")"; done
        archive_hosts_line
    } > "$root/etc/hosts"
    install -m 0755 "$HERE/fake-node.py" "$root/usr/local/bin/fake-node"
}

# ------------------------------------------------------------------ network
OLD_FORWARD=$(sysctl -n net.ipv4.ip_forward)
sysctl -qw net.ipv4.ip_forward=1
ip link add "$BRIDGE" type bridge
ip addr add "$HOST_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
nft -f - <<EOF
table ip $NFT_TABLE {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr $NET.0/24 oifname != "$BRIDGE" masquerade
  }
}
EOF

boot() { # boot HOST: start the container, wait for systemd, set its address
    local h=$1 c
    boot_container "$h" "$WORK/$h" "$(name_of "$h")" --network-bridge="$BRIDGE" || return 1
    c=${PID1[$h]}
    timeout 60 nsenter -t "$c" -a systemctl is-system-running --wait >/dev/null 2>&1 || true
    nsenter -t "$c" -n ip addr add "${IP[$h]}/24" dev host0
    nsenter -t "$c" -n ip link set host0 mtu 1400 up
    nsenter -t "$c" -n ip route add default via "$HOST_IP"
}

log "preparing and booting ${HOSTS[*]}"
for h in "${HOSTS[@]}"; do prepare_root "$h"; done
for h in "${HOSTS[@]}"; do
    check "container $(name_of "$h") boots with systemd at ${IP[$h]}" boot "$h"
done
(( FAILED == 0 )) || exit 1
check "a container reaches the apt archive" cin a "apt-get update -qq >/dev/null 2>&1"

# ----------------------------------------------------------------- playbook
INV="$WORK/inventory"
mkdir -p "$INV/group_vars"
write_inventory() { # write_inventory HOST...: servers a b c; the given hosts are load balancers
    local h
    {
        for h in "$@"; do echo "$(name_of "$h") ansible_nsenter_pid=${PID1[$h]}"; done
        echo "[consul_servers]"
        for h in "${HOSTS[@]}"; do echo "$(name_of "$h")"; done
        echo "[loadbalancers]"
        for h in "$@"; do echo "$(name_of "$h")"; done
        echo "[all:vars]"
        echo "ansible_connection=community.docker.nsenter"
        echo "ansible_python_interpreter=/usr/bin/python3"
        echo "ansible_become=false"
    } > "$INV/hosts"
}
# An operator's override beside the inventory: must beat the role default
# (the repository's group_vars/ must not restate it).
# The tier follows one portmap in Consul KV (the playbook's default prefix).
printf '%s\n' "haproxy_default_slots: 20" "handler_lb_enabled: true" > "$INV/group_vars/all.yml"
write_inventory "${HOSTS[@]}"
export ANSIBLE_CONFIG="$REPO/ansible/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
playbook() { # playbook LOGNAME extra-args...
    local name=$1; shift
    # Other container tests on this host restore net.ipv4.ip_forward when
    # they end, which cuts our NAT to the apt archive: assert it again.
    sysctl -qw net.ipv4.ip_forward=1
    (cd "$REPO" && ansible-playbook -i "$INV" site.yml -e handler_build=false \
        -e "handler_src_dir=$SNAP" -e "handler_package_path=$DEB" -e "handler_stage_dir=$CACHE/handler-stage-cluster" "$@") > "$WORK/$name.log" 2>&1
}
recap() { grep -A8 '^PLAY RECAP' "$WORK/$1.log" | grep -E "^$(name_of "$2") " | tr -s ' ' || true; }
recap_ok() { # recap_ok LOG HOST [changed=0]
    local line; line=$(recap "$1" "$2")
    [[ -n "$line" ]] && grep -q ' failed=0 ' <<<"$line" && grep -q ' unreachable=0 ' <<<"$line" \
        && { [[ -z "${3:-}" ]] || grep -q " $3 " <<<"$line"; }
}

log "ansible-playbook site.yml on ${HOSTS[*]} (first run)"
playbook run1 || true
for h in "${HOSTS[@]}"; do
    check "first run succeeds on $(name_of "$h"): $(recap run1 "$h")" recap_ok run1 "$h"
done
if (( FAILED > 0 )); then
    grep -E '^(fatal|failed):' -A3 "$WORK/run1.log" | sed -n '1,40p'
    cp "$WORK/run1.log" /tmp/chh-cluster-run1.log 2>/dev/null || true
fi

for h in "${HOSTS[@]}"; do
    check "$h: consul, haproxy, consul-haproxy-handler active" \
        cin "$h" "systemctl is-active --quiet consul haproxy consul-haproxy-handler"
done
TOKEN=$(cin a "cat /etc/consul/consul_master_token" 2>/dev/null || true)
# Both files on a, both non-empty; then the same bytes on b and c. A missing
# file or a failing nsenter fails the check (never "" == "").
secrets_of() { cin "$1" 'for f in /etc/consul/consul_master_token /etc/consul/gossip_key; do test -s "$f" || exit 1; cat "$f"; done'; }
same_secrets() {
    local h ours theirs
    ours=$(secrets_of a) || { echo "   (a: the master token or the gossip key is missing or empty)" >&2; return 1; }
    [[ $(wc -l <<<"$ours") -ge 2 ]] || return 1
    for h in b c; do
        theirs=$(secrets_of "$h") || { echo "   ($h: the master token or the gossip key is missing or empty)" >&2; return 1; }
        [[ "$theirs" == "$ours" ]] || { echo "   ($h has other secrets than a)" >&2; return 1; }
    done
}
check "the same master token and gossip key on every host" same_secrets
api() { # api HOST PATH [curl args...]: Consul's HTTP API on HOST's agent, master token
    local h=$1 path=$2; shift 2
    cin "$h" "curl -sf -m 5 -H 'X-Consul-Token: $TOKEN' $* 'http://127.0.0.1:8500$path'"
}
servers_alive() { [[ $(api a /v1/agent/members | jq '[.[] | select(.Status == 1 and .Tags.role == "consul")] | length') == 3 ]]; }
check "three alive servers" servers_alive
check "one leader" test -n "$(api a /v1/status/leader | jq -r .)"
check "raft_multiplier 1 in every agent's configuration" \
    cin a "grep -q '\"raft_multiplier\": 1' /etc/consul/conf.d/10-consul.json"
check "the inventory's group_vars win over role defaults (20 slots)" \
    cin a "grep -q 'server-template irisrv 1-20 ' /etc/haproxy/backends.cfg.in"
tokens_valid() {
    local h
    for h in "${HOSTS[@]}"; do
        cin "$h" "T=\$(cat /etc/consul-haproxy-handler/consul_token) && curl -sf -H \"X-Consul-Token: \$T\" http://127.0.0.1:8500/v1/acl/token/self >/dev/null" || return 1
    done
}
check "every handler token is valid (one per load balancer)" tokens_valid
for h in "${HOSTS[@]}"; do check "$h: no failed unit after the first run" no_failed_units "$h"; done
if [[ -n "${CLUSTER_TEST_STOP_AFTER_INSTALL:-}" ]]; then skip_rest CLUSTER_TEST_STOP_AFTER_INSTALL; fi

# Time (ms) from now until ADDR is placed on every listed host.
time_to_filled() { # time_to_filled T0_MS ADDR HOST...
    local t0=$1 addr=$2 h; shift 2
    local -A done_at=()
    local end=$(( $(date +%s) + 30 ))
    while (( ${#done_at[@]} < $# )) && (( $(date +%s) < end )); do
        for h in "$@"; do
            [[ -n "${done_at[$h]:-}" ]] && continue
            if slot_filled "$h" iri_back "$addr"; then done_at[$h]=$(( $(now_ms) - t0 )); fi
        done
    done
    local out="" worst=0
    for h in "$@"; do
        out+="$h=${done_at[$h]:-timeout}ms "
        [[ -z "${done_at[$h]:-}" ]] && { echo "$out"; return 1; }
        (( done_at[$h] > worst )) && worst=${done_at[$h]}
    done
    echo "${out}max=${worst}ms"
}

register_agent() { # register_agent VIA_HOST ID NODE_HOST PORT
    api "$1" /v1/agent/service/register -X PUT -o /dev/null -d @- <<EOF
{"ID": "$2", "Name": "iri", "Address": "${IP[$3]}", "Port": $4,
 "Meta": {"haproxy_pow": "false"},
 "Check": {"Name": "getNodeInfo", "Args": ["/usr/local/bin/check-iri-node", "http://${IP[$3]}:$4"],
           "Interval": "2s", "Timeout": "10s", "Status": "passing"}}
EOF
}
# A node that runs no Consul agent, registered in the catalog: any host may
# register and deregister it; no agent runs its check (Status as given).
register_catalog() { # register_catalog VIA_HOST ID NODE_HOST PORT
    api "$1" /v1/catalog/register -X PUT -o /dev/null -d @- <<EOF
{"Node": "iri-$2", "Address": "${IP[$3]}", "NodeMeta": {"external-node": "true"},
 "Service": {"ID": "$2", "Service": "iri", "Address": "${IP[$3]}", "Port": $4, "Meta": {"haproxy_pow": "false"}},
 "Check": {"CheckID": "service:$2", "Name": "registered", "Status": "passing", "ServiceID": "$2"}}
EOF
}

# -------------------------------------------------------- registration
log "sample nodes; a registration through one host"
for spec in "node-a a 14001" "node-b b 14002" "node-c c 14003"; do
    set -- $spec
    cin "$2" "systemd-run -q --unit=fake-$1 /usr/bin/python3 /usr/local/bin/fake-node $1 ${IP[$2]} $3"
done
A="${IP[a]}:14001"; B="${IP[b]}:14002"; C="${IP[c]}:14003"
t0=$(now_ms)
check "register node-a through a's agent" register_agent a node-a a 14001
if fig=$(time_to_filled "$t0" "$A" "${HOSTS[@]}"); then
    pass "node-a placed on every load balancer"
else
    fail "node-a placed on every load balancer ($fig)"
fi
figure "registration through one agent -> slot filled on every load balancer: $fig"
for h in "${HOSTS[@]}"; do check "node-a UP on $h" wait_for 30 slot_up "$h" iri_back "$A"; done
API_CALL="curl -sk -m 5 -H 'X-IOTA-API-Version: 1' -H 'Content-Type: application/json' -d '{\"command\":\"getNodeInfo\"}' https://127.0.0.1:14267/"
for h in "${HOSTS[@]}"; do
    check "$h's frontend reaches node-a" cin "$h" "$API_CALL | grep -q '\"node\": \"node-a\"'"
done

# ------------------------------------------------------------ leader loss
converged_on() { slot_up "$1" iri_back "$A" && slot_up "$1" iri_back "$B"; }
leader_host() { # leader_host VIA: the host whose address is the leader's
    local addr h; addr=$(api "$1" /v1/status/leader 2>/dev/null | jq -r . | cut -d: -f1)
    for h in "${!IP[@]}"; do [[ "${IP[$h]}" == "$addr" ]] && { echo "$h"; return 0; }; done
    return 1
}
L=$(leader_host a || true)
check "the leader is one of the hosts ($L)" test -n "$L"
L=${L:-a}
OTHERS=()
for h in "${HOSTS[@]}"; do [[ "$h" != "$L" ]] && OTHERS+=("$h"); done

# Watches the down agent's load balancer: its backend must never empty.
MONITOR_LOG="$WORK/monitor-$L.log"
( while true; do echo "$(now_ms) $(up_count "$L" iri_back)"; sleep 0.2; done ) > "$MONITOR_LOG" 2>/dev/null &
MONITOR_PID=$!

log "stopping Consul on the leader ($L)"
t0=$(now_ms)
check "stop Consul on the leader ($L)" cin "$L" "systemctl stop consul"
new_leader() {
    local h nl
    for h in "${OTHERS[@]}"; do
        nl=$(leader_host "$h" 2>/dev/null) || continue
        [[ -n "$nl" && "$nl" != "$L" ]] && { echo "$nl"; return 0; }
    done
    return 1
}
NEW=""
end=$(( $(date +%s) + 60 ))
while (( $(date +%s) < end )); do NEW=$(new_leader) && break; sleep 0.1; done
t_leader=$(( $(now_ms) - t0 ))
check "a new leader after the leader's agent stopped ($NEW)" test -n "$NEW"
check "$L: no failed unit after Consul's stop (its exit status 1 on SIGINT is a clean stop)" no_failed_units "$L"
figure "leader lost -> new leader: $(awk -v ms="$t_leader" 'BEGIN { printf "%.1f", ms / 1000 }') s"

t0=$(now_ms)
check "register node-b through ${OTHERS[0]}'s agent while $L's agent is down" register_agent "${OTHERS[0]}" node-b b 14002
if fig=$(time_to_filled "$t0" "$B" "${OTHERS[@]}"); then
    pass "node-b placed on the load balancers whose agents run (${OTHERS[*]})"
else
    fail "node-b placed on the load balancers whose agents run ($fig)"
fi
figure "registration during the election aftermath -> slot filled on running load balancers: $fig"
check "$L keeps serving while its agent is down (node-a UP)" slot_up "$L" iri_back "$A"
check "$L's frontend still answers" cin "$L" "$API_CALL | grep -q '\"node\": \"node-'"

log "starting Consul on $L again"
t0=$(now_ms)
t_agent_back=$t0
check "start Consul on $L again" cin "$L" "systemctl start consul"
# Converged: the same nodes as the others (node-a, registered through a's
# agent, went critical cluster-wide while a was down if a == L, and passes
# again once a is back; node-b was registered meanwhile).
converged() { slot_filled "$L" iri_back "$B" && slot_filled "$L" iri_back "$A"; }
if wait_for 60 converged; then
    t_conv=$(( $(now_ms) - t0 ))
    pass "$L converges after its agent returns (node-a and node-b placed)"
    figure "agent back -> converged: $(awk -v ms="$t_conv" 'BEGIN { printf "%.1f", ms / 1000 }') s"
else
    fail "$L converges after its agent returns (node-a and node-b placed)"
fi
kill "$MONITOR_PID" 2>/dev/null; wait "$MONITOR_PID" 2>/dev/null || true; MONITOR_PID=""
# While the agent is down the handler must leave HAProxy as it is. Once the
# agent is back, the handler follows the cluster again: nodes registered
# through a failed agent are critical until it is back, so a backend may
# briefly hold no UP server then (reported, not asserted).
samples=$(awk -v t="$t_agent_back" '$1 < t && $2 != "err"' "$MONITOR_LOG" | wc -l)
empties=$(awk -v t="$t_agent_back" '$1 < t && $2 == "0"' "$MONITOR_LOG" | wc -l)
after=$(awk -v t="$t_agent_back" '$1 >= t && $2 != "err"' "$MONITOR_LOG" | wc -l)
after_empty=$(awk -v t="$t_agent_back" '$1 >= t && $2 == "0"' "$MONITOR_LOG" | wc -l)
check "$L's backend never emptied while its agent was down ($samples samples of UP servers, $empties empty)" \
    test "$samples" -gt 5 -a "$empties" -eq 0
figure "$L after its agent returned, until converged: $after_empty of $after samples with no UP server in iri_back"
if (( empties > 0 )); then awk '{ print "   monitor:", $0 }' "$MONITOR_LOG" | tail -40; fi
for h in "${HOSTS[@]}"; do check "node-a and node-b UP on $h" wait_for 30 converged_on "$h"; done

# ------------------------------------------------ deregistration elsewhere
log "deregistration from other hosts"
agent_dereg_elsewhere_refused() {
    local code
    code=$(cin b "curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'X-Consul-Token: $TOKEN' http://127.0.0.1:8500/v1/agent/service/deregister/node-a") || true
    # Consul answered and refused: a 4xx or 5xx (curl's 000 means no answer).
    [[ "$code" =~ ^[45][0-9][0-9]$ ]] || { echo "   (HTTP status: ${code:-none})" >&2; return 1; }
}
check "agent deregistration of node-a through b is refused (node-a belongs to a's agent)" agent_dereg_elsewhere_refused
check "register node-c in the catalog through b" register_catalog b node-c c 14003
for h in "${HOSTS[@]}"; do check "node-c UP on $h" wait_for 30 slot_up "$h" iri_back "$C"; done
check "deregister node-c through c (catalog endpoint)" \
    api c /v1/catalog/deregister -X PUT -o /dev/null -d "'{\"Node\": \"iri-node-c\"}'"
for h in "${HOSTS[@]}"; do check "node-c leaves rotation on $h" wait_for 30 slot_gone "$h" iri_back "$C"; done
check "deregister node-a through its own agent (a)" api a /v1/agent/service/deregister/node-a -X PUT
for h in "${HOSTS[@]}"; do check "node-a leaves rotation on $h" wait_for 30 slot_gone "$h" iri_back "$A"; done
for h in "${HOSTS[@]}"; do check "node-b still UP on $h" slot_up "$h" iri_back "$B"; done

# ------------------------------------------------------------------ portmap
# One portmap in Consul KV for the whole tier (handler_lb_enabled): two
# listeners, two services, served by every load balancer after its handler
# renders them and reloads HAProxy over the master socket (the master stays).
log "a portmap of two services for the tier (Consul KV)"
register_web() {
    api b /v1/catalog/register -X PUT -o /dev/null -d @- <<JSON
{"Node": "web-c", "Address": "${IP[c]}", "NodeMeta": {"external-node": "true"},
 "Service": {"ID": "web-c", "Service": "web", "Address": "${IP[c]}", "Port": 14003},
 "Check": {"CheckID": "service:web-c", "Name": "registered", "Status": "passing", "ServiceID": "web-c"}}
JSON
}
check "register service web (node-c's process) in the catalog through b" register_web
declare -A MASTER_PID=()
for h in "${HOSTS[@]}"; do MASTER_PID[$h]=$(cin "$h" "systemctl show -p MainPID --value haproxy" 2>/dev/null || true); done
put_portmap() { api a /v1/kv/consul-haproxy-handler/lb/default/portmap -X PUT -d "'http://18080:iri{balance:roundrobin} tcp://18081:web'" | grep -q true; }
check "PUT the tier's portmap once, through a" put_portmap
served_on() { cin "$1" "curl -s -m 3 http://127.0.0.1:$2/ | grep -q '\"node\": \"$3\"'"; }
serves_portmap() { served_on "$1" 18080 node-b && served_on "$1" 18081 node-c; }
for h in "${HOSTS[@]}"; do
    check "$h serves the portmap: :18080 -> iri (node-b), :18081 -> web (node-c)" wait_for 40 serves_portmap "$h"
    check "$h reloaded HAProxy for it over the master socket (same master PID ${MASTER_PID[$h]})" \
        test -n "${MASTER_PID[$h]}" -a "$(cin "$h" "systemctl show -p MainPID --value haproxy" 2>/dev/null)" = "${MASTER_PID[$h]}"
done

# --------------------------------------------------------------- idempotent
# The run that adds the fourth host below is also the second run on a b c,
# and must change nothing there: a run of its own only when the join is
# skipped (a full run on three hosts is 6-10 minutes of a CI lane).
# Run NAME changed nothing on the first hosts, and left no failed unit there.
unchanged_on_first_hosts() { # unchanged_on_first_hosts NAME LABEL
    local h
    for h in "${HOSTS[@]}"; do
        check "$2 changed=0 on $(name_of "$h"): $(recap "$1" "$h")" recap_ok "$1" "$h" changed=0
    done
    # What changed there (a host added by the run changes everything: not listed).
    local names
    names=$(for h in "${HOSTS[@]}"; do name_of "$h"; done | paste -sd '|')
    awk -v names="$names" '/^TASK / { task = $0; shown = 0 }
        $0 ~ ("^changed: \\[(" names ")\\]") { if (!shown) print task; shown = 1; print }' "$WORK/$1.log" | sed -n '1,20p'
    for h in "${HOSTS[@]}"; do check "$h: no failed unit after the $2" no_failed_units "$h"; done
}
if [[ -n "${CLUSTER_TEST_SKIP_JOIN:-}" ]]; then
    log "ansible-playbook site.yml (second run)"
    playbook run2 || true
    unchanged_on_first_hosts run2 "second run"
fi

# --------------------------------------------------------------------- join
# The join block's checks: boot, archive, the run on d, "changes nothing" and
# no failed unit on each first host, client agent, node-b UP, frontend, no
# failed unit on d.
JOIN_CHECKS=$(( 7 + 2 * ${#HOSTS[@]} ))
if [[ -n "${CLUSTER_TEST_SKIP_JOIN:-}" ]]; then
    skip "$JOIN_CHECKS" "CLUSTER_TEST_SKIP_JOIN: the fourth host's checks"
else
    log "adding a fourth host ($JOIN_HOST, a client agent) to the inventory"
    prepare_root "$JOIN_HOST"
    check "container $(name_of "$JOIN_HOST") boots" boot "$JOIN_HOST"
    sysctl -qw net.ipv4.ip_forward=1
    check "$JOIN_HOST reaches the apt archive" wait_for 60 cin "$JOIN_HOST" "apt-get update -qq >/dev/null 2>&1"
    write_inventory "${HOSTS[@]}" "$JOIN_HOST"
    playbook join || true
    check "the run that adds $JOIN_HOST succeeds on it: $(recap join "$JOIN_HOST")" recap_ok join "$JOIN_HOST"
    unchanged_on_first_hosts join "run that adds $JOIN_HOST (the second run on the first hosts)"
    is_client() {
        [[ $(api a /v1/agent/members | jq -r --arg n "$(name_of "$JOIN_HOST")" '.[] | select(.Name == $n and .Status == 1) | .Tags.role') == node ]]
    }
    check "$JOIN_HOST joined as a client agent" is_client
    check "node-b UP on $JOIN_HOST" wait_for 30 slot_up "$JOIN_HOST" iri_back "$B"
    check "$JOIN_HOST's frontend reaches node-b" cin "$JOIN_HOST" "$API_CALL | grep -q '\"node\": \"node-b\"'"
    check "$JOIN_HOST: no failed unit after the join" no_failed_units "$JOIN_HOST"

    # ------------------------------- the load balancer's own agent, restarted 20 times
    # node-d registers through d's agent (a client: it leaves the cluster on
    # SIGTERM, so each restart takes node-d out of the catalog until d's agent
    # has joined again and put it back). d's handler must not believe that:
    # node-b and node-d stay UP on d through every restart.
    log "restarting $JOIN_HOST's Consul agent 20 times (systemctl restart consul)"
    D="${IP[$JOIN_HOST]}:14004"
    cin "$JOIN_HOST" "systemd-run -q --unit=fake-node-d /usr/bin/python3 /usr/local/bin/fake-node node-d ${IP[$JOIN_HOST]} 14004"
    check "register node-d through $JOIN_HOST's agent" register_agent "$JOIN_HOST" node-d "$JOIN_HOST" 14004
    check "node-d UP on $JOIN_HOST" wait_for 40 slot_up "$JOIN_HOST" iri_back "$D"
    check "node-b UP on $JOIN_HOST" wait_for 30 slot_up "$JOIN_HOST" iri_back "$B"
    # The servers' view of d's node: serfHealth and node-d's check there, all passing.
    d_settled() {
        api a "/v1/health/node/$(name_of "$JOIN_HOST")" | jq -e 'length >= 2 and all(.[]; .Status == "passing")' >/dev/null
    }
    since=$(cin "$JOIN_HOST" "date +%s")
    RESTART_LOG="$WORK/monitor-restarts-$JOIN_HOST.log"
    ( while true; do echo "$(now_ms) $(up_count "$JOIN_HOST" iri_back)"; sleep 0.2; done ) > "$RESTART_LOG" 2>/dev/null &
    MONITOR_PID=$!
    restarts=0
    for i in $(seq 1 20); do
        # reset-failed flushes the unit's start rate counter: 20 restarts in a
        # minute or two are over systemd's start limit (seen: refused at the 11th).
        cin "$JOIN_HOST" "systemctl reset-failed consul; systemctl restart consul" || break
        wait_for 30 d_settled || break
        restarts=$i
    done
    kill "$MONITOR_PID" 2>/dev/null; wait "$MONITOR_PID" 2>/dev/null || true; MONITOR_PID=""
    check "20 restarts of $JOIN_HOST's agent, each back in the cluster with node-d passing within 30 s ($restarts done)" test "$restarts" -eq 20
    samples=$(awk '$2 != "err" && $2 != ""' "$RESTART_LOG" | wc -l)
    empties=$(awk '$2 != "err" && $2 != "" && $2 == 0' "$RESTART_LOG" | wc -l)
    drops=$(awk '$2 != "err" && $2 != "" && $2 < 2' "$RESTART_LOG" | wc -l)
    check "$JOIN_HOST's backend never without an UP server through 20 restarts of its agent ($samples samples, $empties empty)" \
        test "$samples" -gt 20 -a "$empties" -eq 0
    # What d's handler did meanwhile, from its own log. Each graceful leave
    # takes node-d out of the catalog until d's agent has rejoined and synced:
    # a handler that believed its agent's answer then would log node-d's slot
    # as "drain: node left Consul". A node whose own check read critical (a
    # loaded machine) is drained as "update: critical": Consul's truth, not
    # the restart's, so it is reported, not failed.
    journal=$(cin "$JOIN_HOST" "journalctl -u consul-haproxy-handler --since @$since -o cat --no-pager" 2>/dev/null || true)
    gone=$(grep -c 'drain: node left Consul' <<<"$journal" || true)
    held=$(grep -c 'not a live member' <<<"$journal" || true)
    check "$JOIN_HOST's handler drained no node as gone while its agent restarted (its log: $(grep -c . <<<"$journal") lines, $held 'not a live member', $gone 'node left Consul')" \
        test -n "$journal" -a "$gone" -eq 0
    figure "$JOIN_HOST through 20 agent restarts: $drops of $samples samples with fewer than 2 of node-b and node-d UP"
    if (( drops > 0 || gone > 0 )); then
        awk '$2 < 2 { print "   monitor:", $0 }' "$RESTART_LOG" | tail -20
        grep -E '"message":"(drain|update|free|fill)' <<<"$journal" | tail -n 10 | sed 's/^/   (handler) /'
        health_log "$JOIN_HOST"
    fi
    check "$JOIN_HOST: no failed unit after 20 agent restarts" no_failed_units "$JOIN_HOST"
fi
