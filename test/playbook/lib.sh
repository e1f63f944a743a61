# shellcheck shell=bash
# Helpers shared by run.sh and cluster.sh (sourced, after `set -euo pipefail`
# and with SUITE_LABEL set: the name on the summary line).
#
# Counting: every check prints PASS, FAIL or SKIP and the summary reads
# "<label>: N passed, N failed, N skipped". A command outside `check` that
# stops the script (set -e) is counted and printed as a FAIL first (the ERR
# trap), so a timeout anywhere shows in the summary. A run with a skipped
# check is not a full run: finish_status turns its 0 into 3.

PASSED=0
FAILED=0
SKIPPED=0
START=$(date +%s)
# Must stay the same in both scripts, so that they share the base rootfs.
PACKAGES=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,curl,ca-certificates

log() { printf '%s [%4ss] %s\n' "--" "$(( $(date +%s) - START ))" "$*"; }
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
skip() { # skip N WHAT: N checks dropped on purpose
    SKIPPED=$((SKIPPED + $1)); echo "SKIP ($1): $2"
}
check() { # check "description" command...
    local desc=$1; shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}
summary() {
    echo "$SUITE_LABEL: $PASSED passed, $FAILED failed, $SKIPPED skipped ($(( $(date +%s) - START )) s)"
}
# The exit status of a run that ended with status $1: a failed check fails
# it, a skipped one makes it incomplete (3), never a pass.
finish_status() {
    local rc=$1
    if (( FAILED > 0 && rc == 0 )); then rc=1; fi
    if (( SKIPPED > 0 && rc == 0 )); then echo "$SUITE_LABEL: INCOMPLETE (checks were skipped)" >&2; rc=3; fi
    echo "$rc"
}
# A debug switch ends the run early: what follows was not tested.
skip_rest() { skip 1 "the rest of the suite ($1)"; exit 0; }
# set -e ends the script at a failing command outside a check (a wait_for
# that timed out, a command in the container): say so as a FAIL line.
# errtrace (-E): the trap also runs for a command that fails inside a
# function (set -e ends the script there); like set -e, it stays quiet for
# a command whose status a caller tests (if, &&, ||, check).
on_error() { # on_error COMMAND STATUS
    local frames="" i=0 frame line func file
    while frame=$(caller "$i"); do
        read -r line func file <<<"$frame"
        frames+=" <- ${file##*/}:$line ($func)"; i=$((i + 1))
    done
    fail "'$1' exited with $2 at${frames# <-}; the script stops here (what follows is not checked)"
}
set -E
trap 'on_error "$BASH_COMMAND" "$?"' ERR

# Wait until a command succeeds (timeout in seconds); the command's status
# at the end otherwise.
wait_for() { # wait_for TIMEOUT command...
    local timeout=$1; shift
    local end=$(( $(date +%s) + timeout ))
    while (( $(date +%s) < end )); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    "$@" >/dev/null
}
now_ms() { date +%s%3N; }

# ------------------------------------------------------------ containers
declare -A PID1=()     # container PID 1 per host
declare -A NSPAWN=()   # systemd-nspawn PID per host
declare -A MACHINE_OF=()   # container (and cgroup) name per host
# Run a shell command inside container HOST (all its namespaces).
cin_on() { nsenter -t "${PID1[$1]}" -a /bin/sh -c "$2"; }
# Units in the failed state (systemd keeps a failed unit listed even once its
# file is gone, and every host monitor reports it). Fails when systemctl does.
no_failed_units() { # no_failed_units HOST
    local out
    out=$(cin_on "$1" "systemctl list-units --failed --all --plain --no-legend") \
        || { echo "   (systemctl list-units --failed failed)" >&2; return 1; }
    [[ -z "$out" ]] && return 0
    echo "   (failed units: $(tr -s ' \n' ' ' <<<"$out"))" >&2; return 1
}

# The handler's build and a private copy of it in $SNAP: others may rebuild
# dist/ while a run goes on, and the idempotency check needs the same input
# on both runs.
build_and_snapshot() { # build_and_snapshot SNAP_PREFIX
    if [[ -z "${PLAYBOOK_TEST_SKIP_BUILD:-}" ]]; then
        log "building the handler (npm ci && npm run build)"
        if (cd "$REPO" && npm ci --no-audit --no-fund >/dev/null && npm run build >/dev/null); then
            pass "handler builds (npm ci && npm run build)"
        else
            fail "handler builds (npm ci && npm run build)"
        fi
    fi
    check "handler CLI exists (dist/handler/cli/main.js)" test -f "$REPO/dist/handler/cli/main.js"
    SNAP=$(mktemp -d "/var/tmp/$1.XXXXXX")
    mkdir -p "$SNAP/dist"
    cp -a "$REPO/package.json" "$REPO/package-lock.json" "$SNAP/"
    cp -a "$REPO/dist/handler" "$SNAP/dist/" 2>/dev/null || true
    # The Debian package the playbook installs (handler_package_path), built
    # here once: a suite controller has no npm to build it itself.
    DEB=""
    local out
    if out=$(cd "$REPO" && DEB_OUT_DIR="$SNAP/deb" DEB_SKIP_LINTIAN=1 bash packaging/deb/build.sh 2>&1); then
        DEB=$(sed -n 's/^build-deb: //p' <<<"$out" | tail -1)
    else
        tail -20 <<<"$out"
    fi
    check "Debian package built (packaging/deb/build.sh): ${DEB:-none}" test -n "$DEB" -a -f "$DEB"
}

# The host's Debian archive (URI, ARCHIVE_HOST) and the base rootfs tarball
# of SUITE for it (TARBALL), debootstrapped once per key under a lock and
# published with an atomic rename. Needs WORK and CACHE.
base_rootfs() { # base_rootfs SUITE
    local suite=$1 key
    URI=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [[ -z "$URI" ]]; then
        URI=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
    fi
    ARCHIVE_HOST=$(printf '%s\n' "$URI" | sed -E 's#^[a-z]+://([^/:]+).*#\1#')
    key=$(printf '%s %s %s v1' "$suite" "$PACKAGES" "$URI" | sha256sum | cut -c1-16)
    ROOTFS_KEY=$key
    TARBALL="$CACHE/rootfs-$suite-$key.tar"
    mkdir -p "$CACHE"
    (
        flock 9
        if [[ ! -f "$TARBALL" ]]; then
            log "debootstrap $suite (no cache yet)"
            tree="$WORK/base"
            mkdir -p "$tree"
            debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$tree" "$URI" > "$WORK/debootstrap.log" 2>&1 \
                || { tail -20 "$WORK/debootstrap.log"; exit 1; }
            rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/*
            tar -C "$tree" -cf "$TARBALL.tmp.$$" . && mv -f "$TARBALL.tmp.$$" "$TARBALL"
            rm -rf --one-file-system "$tree"
        fi
    ) 9>"$CACHE/.lock-$suite-$key"
}

# The host's apt configuration for a tree: sources, Acquire options (proxies,
# snapshot date checks).
apt_config_into() { # apt_config_into ROOT
    local root=$1 f
    rm -f "$root/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" 2>/dev/null \
        || cp /etc/apt/sources.list "$root/etc/apt/sources.list"
    for f in /etc/apt/apt.conf.d/*; do
        if grep -qiE '^[[:space:]]*Acquire' "$f"; then cp "$f" "$root/etc/apt/apt.conf.d/"; fi
    done
}
# The archive's address as the host resolves it, as an /etc/hosts line.
archive_hosts_line() {
    getent ahostsv4 "$ARCHIVE_HOST" | awk -v host="$ARCHIVE_HOST" 'NR==1 {print $1, host}' || true
}

# boot_container HOST ROOT NAME NSPAWN-NETWORK-ARG: boots the tree, waits for
# its systemd (PID1[HOST], NSPAWN[HOST]); fails when it does not come up.
boot_container() {
    local h=$1 root=$2 name=$3 net=$4 c="" n
    # In a cgroup of its own (see own-cgroup.sh): not sharing one with the
    # other containers booted at once on this host.
    "$(dirname "${BASH_SOURCE[0]}")/own-cgroup.sh" "$name" systemd-nspawn -D "$root" -b --machine="$name" --register=no --keep-unit \
        "$net" --rlimit=RLIMIT_NOFILE=524288 --console=read-only > "$WORK/boot-$h.log" 2>&1 &
    n=$!
    NSPAWN[$h]=$n
    MACHINE_OF[$h]=$name
    # The container's PID 1 is the child of systemd-nspawn that runs systemd.
    for _ in $(seq 1 300); do
        c=$(ps --ppid "$n" -o pid= 2>/dev/null | tr -d ' ' | head -1 || true)
        if [[ -n "$c" && "$(cat "/proc/$c/comm" 2>/dev/null)" == systemd ]] \
            && nsenter -t "$c" -a test -S /run/systemd/private 2>/dev/null; then
            break
        fi
        c=""
        sleep 0.1
    done
    [[ -n "$c" ]] || { tail -20 "$WORK/boot-$h.log"; return 1; }
    PID1[$h]=$c
}

stop_container() { # stop_container HOST
    local c=${PID1[$1]:-} n=${NSPAWN[$1]:-}
    if [[ -n "$c" ]] && kill -0 "$c" 2>/dev/null; then
        nsenter -t "$c" -a systemctl poweroff >/dev/null 2>&1
    fi
    if [[ -n "$n" ]]; then
        for _ in $(seq 1 40); do kill -0 "$n" 2>/dev/null || break; sleep 0.25; done
        if kill -0 "$n" 2>/dev/null; then kill "$n"; sleep 1; kill -9 "$n" 2>/dev/null; fi
    fi
    if [[ -n "${MACHINE_OF[$1]:-}" ]]; then
        "$(dirname "${BASH_SOURCE[0]}")/own-cgroup.sh" --remove "${MACHINE_OF[$1]}"
    fi
}

# ------------------------------------------------------------ HAProxy slots
# `show stat` CSV of HOST's HAProxy over the TCP runtime socket; fails (no
# output) when socat, the socket or HAProxy fails, so that an empty answer
# never reads as "no slot has this address".
stat_rows() { # stat_rows HOST
    local out
    out=$(cin_on "$1" "echo 'show stat' | socat -t 2 stdio tcp4-connect:127.0.0.1:${STAT_PORT:-9999}" 2>/dev/null) \
        || { echo "   (socat to the admin socket failed)" >&2; return 1; }
    [[ "$out" == "# pxname,svname,"* ]] || { echo "   (no CSV header from 'show stat': ${out:0:80})" >&2; return 1; }
    printf '%s\n' "$out"
}
# slot_field HOST BACKEND ADDR:PORT FIELD -> that column of the slot that has this address
slot_field() {
    local rows; rows=$(stat_rows "$1") || return 1
    awk -F, -v be="$2" -v addr="$3" -v field="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == be && $col["addr"] == addr { print $col[field] }' <<<"$rows"
}
# slot_has HOST BACKEND ADDR:PORT: the backend has a slot at this address.
slot_has() {
    local rows; rows=$(stat_rows "$1") || return 1
    awk -F, -v be="$2" -v addr="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == be && $col["addr"] == addr { found = 1 } END { exit !found }' <<<"$rows"
}
slot_status() { slot_field "$1" "$2" "$3" status; }
slot_up() {
    local s; s=$(slot_status "$1" "$2" "$3") || return 1
    [[ "$s" == UP* ]] && return 0
    echo "   (slot $2 $3 is: ${s:-not in any slot})" >&2; return 1
}
# slot_up, and when it is not, what HAProxy logged of its checks (for a check made once, not polled).
slot_still_up() { slot_up "$@" && return 0; health_log "$1"; return 1; }
# The last state changes HAProxy logged on HOST (a server going DOWN or UP, and why), to stderr.
health_log() {
    cin_on "$1" "journalctl -u haproxy --no-pager -o cat 2>/dev/null | grep -E 'is (DOWN|UP|going down)|Health check|backend .* has no server' | tail -n 8" 2>/dev/null \
        | sed 's/^/   (haproxy) /' >&2 || true
}
# In a slot and not in maintenance: the handler has placed it.
slot_filled() { local s; s=$(slot_status "$1" "$2" "$3") || return 1; [[ -n "$s" && "$s" != MAINT* ]]; }
# Out of rotation: no slot has the address, or it is in MAINT or DRAIN (a
# draining server gets no new requests).
slot_gone() {
    local s; s=$(slot_status "$1" "$2" "$3") || return 1
    [[ -z "$s" || "$s" == MAINT* || "$s" == DRAIN* ]] && return 0
    echo "   (slot $2 $3 is: $s)" >&2; return 1
}
# Never placed: no slot has the address at all (DRAIN would mean it was there).
slot_absent() {
    local s; s=$(slot_status "$1" "$2" "$3") || return 1
    [[ -z "$s" ]] && return 0
    echo "   (slot $2 $3 is: $s)" >&2; return 1
}
# slot_count HOST BACKEND -> how many irisrv slots the backend has; fails when HAProxy does not answer
slot_count() {
    local rows; rows=$(stat_rows "$1") || return 1
    awk -F, -v be="$2" '$1 == be && $2 ~ /^irisrv[0-9]+$/ { n++ } END { print n + 0 }' <<<"$rows"
}
# up_count HOST BACKEND: servers UP, or "err" when HAProxy did not answer
up_count() {
    local rows
    rows=$(stat_rows "$1" 2>/dev/null) || { echo err; return; }
    awk -F, -v be="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == be && $2 != "BACKEND" && $col["status"] ~ /^UP/ { n++ } END { print n + 0 }' <<<"$rows"
}
