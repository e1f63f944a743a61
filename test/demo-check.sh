#!/usr/bin/env bash
# Checks `make demo` (scripts/demo.sh) for real: every port its processes
# listen on is named in its banner (and every named port is listened on), and
# across `scripts/demo.sh reload` HAProxy saves its server state and the
# nodes come back UP at their own addresses, as with the playbook's unit.
# Needs `npm run build`; the demo's fixed ports (8500, 8080, 9999, ...) free.
# Ends with "demo: N passed, N failed, 0 skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
state=/tmp/consul-haproxy-handler-demo
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok - $what"; else failed=$((failed + 1)); echo "not ok - $what"; fi
}
wait_for() { # wait_for SECONDS COMMAND...
  local end=$(( SECONDS + $1 )); shift
  until "$@" >/dev/null 2>&1; do (( SECONDS < end )) || return 1; sleep 0.2; done
}
finish() {
  bash scripts/demo.sh stop >/dev/null 2>&1
  echo "demo: $passed passed, $failed failed, 0 skipped"
  (( failed == 0 && passed > 0 ))
}
trap 'finish; exit $?' EXIT
trap 'exit 143' TERM INT

banner=$(bash scripts/demo.sh 2>&1)
rc=$?
echo "$banner"
check "scripts/demo.sh starts the demo" test "$rc" = 0
(( rc == 0 )) || exit 1

admin() { echo "$1" | socat -t 2 stdio tcp4-connect:127.0.0.1:9999; }
# "<be>/<slot> <addr>:<port> <status>" for every slot with an address.
slots() {
  admin "show stat" | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $2 ~ /^irisrv/ && $col["addr"] !~ /^0\.0\.0\.0:/ && $col["addr"] != "" { print $1 "/" $2, $col["addr"], $col["status"] }' | sort
}
up_count() { slots | grep -c ' UP$'; }
four_up() { (( $(up_count) >= 4 )); }
check "the sample nodes are UP in their slots (3 in iri_back, 1+ in iri_pow_back)" wait_for 30 four_up

# Every listening TCP port of the demo's processes (and their children).
demo_pids() {
  local pid
  for pidfile in "$state"/*.pid; do
    pid=$(cat "$pidfile")
    echo "$pid"
    pgrep -P "$pid" || true
  done
}
# One pass over ss's lines (a busy host has hundreds), matching "pid=N,".
listened=$(ss -Hltnp | awk -v pids="$(demo_pids | sort -u | tr '\n' ' ')" '
  BEGIN { n = split(pids, list, " "); for (i = 1; i <= n; i++) wanted["pid=" list[i] ","] = 1 }
  { for (key in wanted) if (index($6, key)) { port = $4; sub(/.*:/, "", port); print port; break } }' | sort -un)
named=$(sed -n '/^Ports it binds/,/^$/p' <<<"$banner" | awk '$1 ~ /^[0-9]+$/ {print $1}' | sort -un)
check "every port the demo listens on is in its banner (listened: $(echo $listened))" \
  test -z "$(comm -23 <(echo "$listened") <(echo "$named"))"
check "every port in the banner is listened on (named: $(echo $named))" \
  test -z "$(comm -13 <(echo "$listened") <(echo "$named"))"

# The slot map (slot, address, UP) before the reload; the new process must
# show the same at once (slots file + state file), before the handler could
# repair anything.
before=$(slots | grep ' UP$')
old_pid=$(admin "show info" | awk -F': ' '$1 == "Pid" {print $2}')
check "scripts/demo.sh reload succeeds" bash scripts/demo.sh reload
check "the reload saved the server state (format line 1)" test "$(head -n 1 "$state/haproxy.state" 2>/dev/null)" = 1
new_process() { [[ "$(admin "show info" | awk -F': ' '$1 == "Pid" {print $2}')" != "$old_pid" ]]; }
check "a new HAProxy process answers after the reload" wait_for 20 new_process
after=$(slots | grep ' UP$')
check "after the reload every node is in the same slot, UP, at once ($(wc -l <<<"$before") slots)" test -n "$before" -a "$after" = "$before"
[[ "$after" == "$before" ]] || diff <(echo "$before") <(echo "$after") | sed 's/^/#   /'
check "the slots file names every filled slot as a server line" \
  sh -c "grep -Eq '^ *server irisrv[0-9]+ 127\.0\.0\.1:1426[5-7] ' '$state/backends.cfg'"
# `show stat` CSV; fails when socat, the socket or HAProxy fails (no CSV
# header), so that an empty answer never reads as "no such slot".
stat_csv() {
  local out
  out=$(admin "show stat") || { echo "#   (socat to 127.0.0.1:9999 failed)"; return 1; }
  [[ "$out" == "# pxname,svname,"* ]] || { echo "#   (no CSV header from 'show stat': ${out:0:80})"; return 1; }
  printf '%s\n' "$out"
}
no_placeholder_in_rotation() {
  local rows; rows=$(stat_csv) || { echo "$rows"; return 1; }
  ! awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $2 ~ /^irisrv/ && $col["addr"] ~ /^0\.0\.0\.0:/ && $col["status"] !~ /^MAINT/ { bad = 1 } END { exit !bad }' <<<"$rows"
}
check "after the reload no slot is in rotation at the 0.0.0.0 placeholder" no_placeholder_in_rotation
check "requests through the frontend reach a node after the reload" \
  sh -c 'curl -sf -m 5 http://127.0.0.1:8080/ | grep -q node-'

# The portmap as the banner tells it: its curl lines, run as printed. The
# handler renders the new listener and reloads HAProxy over the master
# socket: the master stays, a new worker serves the listener, the sticky
# cookie is set; the DELETE is held until `sync --allow-mass-removal`.
banner_line() { grep -m 1 -E "^  $1" <<<"$banner" | sed 's/^  //'; }
register_web=$(banner_line "curl -X PUT http://127.0.0.1:8500/v1/agent/service/register -d '\\{\"ID\":\"web-16001\"")
check "the banner prints the curl that registers the web service" test -n "$register_web"
check "the printed registration is accepted" sh -c "$register_web -sf"
put_line=$(banner_line "curl -X PUT -d '[a-z]+://18080:")
check "the banner prints the curl that PUTs a portmap ($put_line)" test -n "$put_line"
master_pid=$(cat "$state/haproxy.pid")
worker_before=$(admin "show info" | awk -F': ' '$1 == "Pid" {print $2}')
check "the printed PUT is accepted by the demo's Consul" sh -c "$put_line -s | grep -q true"
check "the portmap's listener 127.0.0.1:18080 serves a node" wait_for 20 sh -c 'curl -sf -m 2 http://127.0.0.1:18080/ | grep -q node-'
check "the portmap's tcp listener 127.0.0.1:18081 serves the web service" wait_for 20 sh -c 'curl -sf -m 2 http://127.0.0.1:18081/ | grep -q web-16001'
check "HAProxy reloaded over the master socket: same master, new worker" \
  sh -c "kill -0 $master_pid && [ \"\$(echo 'show info' | socat -t 2 stdio tcp4-connect:127.0.0.1:9999 | awk -F': ' '\$1 == \"Pid\" {print \$2}')\" != '$worker_before' ]"
check "the entry's sticky cookie is set by the new listener" sh -c 'curl -si -m 2 http://127.0.0.1:18080/ | grep -qi "^set-cookie: pm_18080_iri="'
status_out=$(node dist/handler/cli/main.js --config demo/config.yml status 2>&1)
lists_both() { grep -q '^  http://18080:iri' <<<"$status_out" && grep -q '^  tcp://18081:web' <<<"$status_out"; }
check "status lists the portmap's entries" lists_both
delete_line=$(banner_line "curl -X DELETE ")
check "the printed DELETE empties the portmap" sh -c "$delete_line -s | grep -q true"
sleep 2
check "an emptied portmap is held: the listener still serves" sh -c 'curl -sf -m 2 http://127.0.0.1:18080/ | grep -q node-'
release_line=$(banner_line ".*sync --allow-mass-removal")
check "the printed sync --allow-mass-removal releases it" sh -c "$release_line"
listener_gone() { ! curl -s -m 2 -o /dev/null http://127.0.0.1:18080/; }
check "the released listener is gone" wait_for 10 listener_gone

# Certificates by name as the banner tells it: no CA in the demo, so the
# https listener serves the self-signed placeholder and status says so.
for key in acme_directory certificate_name; do
  line=$(banner_line "curl -X PUT -d '[^']*' http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/lb/default/$key")
  check "the banner prints the curl that PUTs $key" test -n "$line"
  check "the printed PUT of $key is accepted" sh -c "$line -s | grep -q true"
done
tls_put=$(banner_line "curl -X PUT -d '[^']*https-http://18443")
check "the banner prints the curl that PUTs a portmap with an https listener" test -n "$tls_put"
check "the printed PUT is accepted" sh -c "$tls_put -s | grep -q true"
issuer_line=$(banner_line "curl -vsk --resolve example.test:18443")
check "the banner prints the curl that shows the served certificate's issuer" test -n "$issuer_line"
check "the https listener serves the self-signed placeholder for example.test" wait_for 20 sh -c "$issuer_line | grep -q 'issuer: CN *= *example.test'"
placeholder_listed() { node dist/handler/cli/main.js --config demo/config.yml status 2>&1 | grep -q '^certificate example.test: self-signed placeholder'; }
check "status lists the certificate as the placeholder" wait_for 10 placeholder_listed
