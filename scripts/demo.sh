#!/usr/bin/env bash
# `make demo`: a Consul dev agent, HAProxy with default and PoW slots (admin
# socket on 127.0.0.1:9999), the handler and three sample nodes, all on
# loopback. `make demo-stop` (or `scripts/demo.sh stop`) takes it all down.
# `scripts/demo.sh reload` reloads HAProxy the way the playbook's unit does:
# check the configuration, save the server state, then SIGUSR2 the master.
# As with the playbook, HAProxy loads the backends from the file the handler
# renders (haproxy.slotsFile): a reload keeps every node in its slot.
# HAProxy runs master-worker with its master CLI on a socket, as the
# playbook's unit does, and the handler follows the portmap in Consul KV
# (consul-haproxy-handler/lb/default/portmap, docs/portmap.md): it renders
# $state/portmap.cfg (a third -f) and reloads HAProxy over the master socket.
set -euo pipefail
cd "$(dirname "$0")/.."
state=/tmp/consul-haproxy-handler-demo
handler="node $PWD/dist/handler/cli/main.js --config $PWD/demo/config.yml"
# haproxy.slotsFile of demo/config.yml: the template and the rendered file.
backends_template="$state/backends.cfg.in"
backends="$state/backends.cfg"
# lb.configFile of demo/config.yml: the rendered portmap, empty at start.
portmap="$state/portmap.cfg"
master_socket="$state/haproxy-master.sock"
# HAProxy loads a copy of demo/haproxy.cfg: lb.checkWith names it by its
# absolute path, for the `haproxy -c` before each reload.
haproxy_files=(-f "$state/haproxy.cfg" -f "$backends" -f "$portmap")

stop() {
  for pidfile in "$state"/*.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

# Every port the demo binds, all on 127.0.0.1 (the banner lists them too).
ports_in_use=(
  "8500 Consul HTTP API" "8600 Consul DNS" "8300 Consul server RPC" "8301 Consul Serf LAN"
  "8302 Consul Serf WAN" "8502 Consul gRPC"
  "8080 HAProxy frontend (iri)" "8081 HAProxy frontend (api, versioned)"
  "9999 HAProxy admin socket" "8404 HAProxy stats page"
  "9701 handler /healthz /metrics"
  "14265 sample node-a" "14266 sample node-b" "14267 sample node-c"
  "15001 api node 1.0.1" "15002 api node 1.0.1" "15003 api node 1.0.2" "15004 api node 1.1.0"
  "16001 web node (unregistered: the portmap walk-through registers it)"
)

# Same steps as the playbook's ExecReload: a broken config does not reload;
# the rendered backends file puts every node in its slot (address, weight,
# maxconn) and the state file restores its operational state, so a node UP
# before is UP in the new process at once.
reload() {
  [ -f "$state/haproxy.pid" ] || { echo "demo: not running ('make demo' first)" >&2; exit 1; }
  haproxy -c -q "${haproxy_files[@]}"
  local tmp="$state/haproxy.state.tmp"
  echo "show servers state" | socat -t 5 stdio tcp4-connect:127.0.0.1:9999 > "$tmp"
  if [ "$(head -n 1 "$tmp")" = 1 ]; then
    mv -f "$tmp" "$state/haproxy.state"
  else
    rm -f "$tmp"
    echo "demo: HAProxy's server state was not saved (unexpected answer); reloading anyway" >&2
  fi
  kill -USR2 "$(cat "$state/haproxy.pid")"
  echo "HAProxy reloaded (server state in $state/haproxy.state)"
}

case "${1:-}" in
  stop) stop; echo "demo stopped"; exit 0 ;;
  reload) reload; exit 0 ;;
  "") ;;
  *) echo "usage: scripts/demo.sh [stop|reload]" >&2; exit 2 ;;
esac

stop
mkdir -p "$state"
# A state file from an earlier demo would hand its weights and admin states
# to this HAProxy's first start; its backends start as the template (no slot
# filled), as the playbook's first run does.
rm -f "$state/haproxy.state" "$portmap" "$portmap.in"
rm -rf "$state/portmap-maps" "$state/certs" "$state/certificate-state"
: > "$portmap"
cp demo/haproxy.cfg "$state/haproxy.cfg"
cp demo/backends.cfg.in "$backends_template"
cp "$backends_template" "$backends"
for entry in "${ports_in_use[@]}"; do
  port=${entry%% *}
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port (${entry#* }) is in use; stop what listens there (or run 'make demo-stop') and try again" >&2
    exit 1
  fi
done

consul agent -dev -client 127.0.0.1 -bind 127.0.0.1 -log-level warn >"$state/consul.log" 2>&1 &
echo $! >"$state/consul.pid"
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:8500/v1/status/leader | grep -q : && break
  sleep 0.1
done

haproxy -W -db -S "$master_socket,mode,600" "${haproxy_files[@]}" >"$state/haproxy.log" 2>&1 &
echo $! >"$state/haproxy.pid"
for _ in $(seq 50); do
  echo "show info" | socat -t1 stdio tcp4-connect:127.0.0.1:9999 >/dev/null 2>&1 && break
  sleep 0.1
done

ports=(14265 14266 14267)
names=(node-a node-b node-c)
pows=(false true only)
for i in 0 1 2; do
  node demo/sample-node.mjs "${names[$i]}" "${ports[$i]}" >"$state/${names[$i]}.log" 2>&1 &
  echo $! >"$state/${names[$i]}.pid"
done
# Nodes of the versioned `api` service, started but not registered: the
# README's rollout registers them one by one.
api_ports=(15001 15002 15003 15004)
api_versions=(1.0.1 1.0.1 1.0.2 1.1.0)
for i in 0 1 2 3; do
  node demo/sample-node.mjs "api-${api_ports[$i]}" "${api_ports[$i]}" "${api_versions[$i]}" >"$state/api-${api_ports[$i]}.log" 2>&1 &
  echo $! >"$state/api-${api_ports[$i]}.pid"
done
# A node of a service of its own, started but not registered: the portmap
# walk-through registers it and serves it on a listener of the portmap.
node demo/sample-node.mjs web-16001 16001 >"$state/web-16001.log" 2>&1 &
echo $! >"$state/web-16001.pid"
sleep 0.3

if $handler --help | grep -q "^  run"; then
  $handler run >"$state/handler.log" 2>&1 &
else
  # Before `run` existed the demo drove the handler from a Consul watch.
  consul watch -type=service -service=iri $handler watch >"$state/handler.log" 2>&1 &
fi
echo $! >"$state/handler.pid"

for i in 0 1 2; do
  curl -sf -X PUT http://127.0.0.1:8500/v1/agent/service/register -d @- <<JSON
{
  "ID": "127.0.0.1:${ports[$i]}",
  "Name": "iri",
  "Address": "127.0.0.1",
  "Port": ${ports[$i]},
  "Meta": { "haproxy_pow": "${pows[$i]}" },
  "Check": { "HTTP": "http://127.0.0.1:${ports[$i]}/health", "Interval": "2s", "Timeout": "1s" }
}
JSON
done

for _ in $(seq 50); do
  [ "$(echo "show stat" | socat stdio tcp4-connect:127.0.0.1:9999 | grep -c ',UP,')" -ge 4 ] && break
  sleep 0.2
done

cat <<TXT

Demo is up (logs in $state):
  Consul      http://127.0.0.1:8500   HAProxy frontend http://127.0.0.1:8080 (iri), :8081 (api, versioned)
  admin socket 127.0.0.1:9999          stats page http://127.0.0.1:8404/
  handler     http://127.0.0.1:9701/metrics, log $state/handler.log
  HAProxy master CLI $master_socket (the handler reloads HAProxy over it)
Ports it binds on 127.0.0.1:
$(printf '  %s\n' "${ports_in_use[@]}")

Look at the slots:
  echo "show stat" | socat stdio tcp4-connect:127.0.0.1:9999 | cut -d, -f1,2,18,19,74 | grep irisrv
  $handler status

Send requests (default backend, then the PoW backend):
  curl -s http://127.0.0.1:8080/
  curl -s -X POST -d '{"command":"attachToTangle"}' http://127.0.0.1:8080/

Register another node with per-node settings, then deregister it:
  node demo/sample-node.mjs node-d 14268 &
  curl -X PUT http://127.0.0.1:8500/v1/agent/service/register -d '{"ID":"127.0.0.1:14268","Name":"iri","Address":"127.0.0.1","Port":14268,"Meta":{"haproxy_pow":"true","haproxy_maxconn":"7","haproxy_weight":"20"},"Check":{"HTTP":"http://127.0.0.1:14268/health","Interval":"2s"}}'
  curl -X PUT http://127.0.0.1:8500/v1/agent/service/deregister/127.0.0.1:14268

Version-aware routing: the api nodes on 15001-15004 (1.0.1, 1.0.1, 1.0.2,
1.1.0) run unregistered; README "Versions" walks through a rollout with them.

See what a sync would send, without sending it:
  $handler sync --dry-run

Serve a new listener from the portmap in Consul KV (docs/portmap.md): the
handler renders it into $portmap, checks it with haproxy -c and reloads
HAProxy over its master socket (no request lost). Register a second service,
put a portmap of two listeners, then curl each:
  curl -X PUT http://127.0.0.1:8500/v1/agent/service/register -d '{"ID":"web-16001","Name":"web","Address":"127.0.0.1","Port":16001,"Check":{"HTTP":"http://127.0.0.1:16001/health","Interval":"1s"}}'
  curl -X PUT -d 'http://18080:iri{balance:leastconn,sticky:cookie} tcp://18081:web' http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/lb/default/portmap
  curl -si http://127.0.0.1:18080/
  curl -s http://127.0.0.1:18081/
  $handler status
  $handler sync --dry-run
Take it away again (an emptied portmap is held like a mass removal until
you release it):
  curl -X DELETE http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/lb/default/portmap
  $handler sync --allow-mass-removal

Certificates by name (docs/certificates.md): an https listener serves a
self-signed placeholder for certificate_name at once; with a CA in
acme_directory (pebble, or Let's Encrypt for a real name whose port 80 reaches
an http listener here) the handler orders the certificate, renews it and swaps
it into HAProxy without a reload. The demo has no CA: the order fails, the
placeholder stays and status says why:
  curl -X PUT -d 'https://127.0.0.1:1/directory' http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/lb/default/acme_directory
  curl -X PUT -d 'example.test' http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/lb/default/certificate_name
  curl -X PUT -d 'http://18080:iri https-http://18443:iri' http://127.0.0.1:8500/v1/kv/consul-haproxy-handler/lb/default/portmap
  curl -vsk --resolve example.test:18443:127.0.0.1 https://example.test:18443/ 2>&1 | grep -i issuer
  $handler status

Reload HAProxy as the playbook does (every node stays in its slot, UP: the
handler keeps $backends current, the state file is saved first):
  scripts/demo.sh reload

Stop everything:  make demo-stop
TXT
