#!/usr/bin/env bash
# Transparent TCP egress end to end (issue 17): one "pod" network namespace behind
# deploy/iptables-init.sh with an outrigger sidecar (UID 1337) in --transparent mode, the app as
# UID 1000, and the "outside world" on addresses of the pod's veth interface (the
# app's connections to them are redirected like any non-loopback destination; the sidecar's are
# not). Needs root, `ip netns`, iptables, redis, openssl, curl, python3; exits 77 (ctest:
# skipped) otherwise.
#
#   tests/netns/tcp_transparent.sh [OUTRIGGER_BINARY]     (default: build/outrigger)
#
#   10.232.0.100:6379  "ClusterIP" of redis-server (no one listens: the redirect takes it)
#   10.232.0.11:6379   redis v1          10.232.0.12:6379   redis v2     (tcpRoute 50/50)
#   10.232.0.20:8443   openssl s_server, the "external API" (certificate: a.shop.svc.cluster.local)
#   10.232.0.30:2525   a server-first banner service (sends first, then echoes after the FIN)
#   10.232.0.40:8080   outrigger demo-upstream (plain HTTP, unmodelled)
#   10.232.0.1         the pod's own address (veth ext0); the peer netns is 10.232.0.2 (ext1);
#                      the pod's app: demo-upstream 127.0.0.1:4567 (http listener) and redis
#                      127.0.0.1:6390 (tcp listener), both in APPMESH_APP_PORTS
#
# Checks, ALLOW_ALL mesh: 1,000 redis connections to the ClusterIP split 50/50 (±5 %) by the
# tcpRoute (counted by each redis), redis-benchmark passes; curl https to the external API passes
# and verifies the server's own certificate (never terminated); the banner arrives and a
# half-close (SHUT_WR, then read) gets its answer; plain HTTP to an unmodelled address still takes
# the HTTP path (the sniffed bytes handed on). DROP_ALL mesh with --egress-allow
# '*.shop.svc.cluster.local': TLS with an allowed SNI passes, another SNI is closed and logged
# with its SNI and NR, the banner service is refused, redis (modelled) still works. Inbound, from
# a peer namespace: the node's tcp listener (:6390, redis) and http listener (:4567) are told apart
# by the original destination port.
set -uo pipefail

SKIP=77
say() { echo "tcp-transparent: $*"; }
skip() { say "SKIP: $*"; exit "$SKIP"; }

src_dir="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$src_dir/build/outrigger}"
bin="$(readlink -f "$bin")"

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and iptables)"
# The system python (the app runs as UID 1000: a per-user python shim would not be readable).
py=/usr/bin/python3
[ -x "$py" ] || skip "/usr/bin/python3 not found"
for c in ip iptables setpriv curl openssl redis-server redis-cli redis-benchmark; do
  command -v "$c" >/dev/null 2>&1 || skip "$c not found (scripts/setup.sh installs it)"
done
[ -x "$bin" ] || { say "FAIL: outrigger binary $bin not found"; exit 1; }

tag="ot$$"
tag="${tag:0:8}"
pod="${tag}pod"
peer="${tag}peer"
if ! ip netns add "$pod" 2>/dev/null; then
  skip "'ip netns add' is not permitted here"
fi
if ! ip netns exec "$pod" iptables -t nat -L OUTPUT -n >/dev/null 2>&1; then
  ip netns del "$pod"
  skip "iptables nat table unavailable inside a network namespace"
fi

work="$(mktemp -d /tmp/outrigger-tcp-transparent.XXXXXX)"
chmod 755 "$work"
pids=()
failed=0
sidecar_pid=""

cleanup() {
  local rc=$?
  set +e
  for p in "${pids[@]}" $sidecar_pid; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}" $sidecar_pid; do wait "$p" 2>/dev/null; done
  # Anything still running inside the namespace this script made was started by it.
  for p in $(ip netns pids "$pod" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  ip netns del "$pod" 2>/dev/null
  ip netns del "$peer" 2>/dev/null
  if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ]; then
    for f in "$work"/*.log; do
      [ -f "$f" ] || continue
      echo "----- $(basename "$f") (last 30 lines)"
      tail -n 30 "$f"
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { say "FAIL: $*"; failed=$((failed + 1)); }
die() { say "FAIL: $*"; exit 1; }
wait_until() {
  local secs="$1"; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
in_pod() { ip netns exec "$pod" "$@"; }
as_app() { ip netns exec "$pod" setpriv --reuid 1000 --regid 1000 --clear-groups -- "$@"; }
as_proxy() { ip netns exec "$pod" setpriv --reuid 1337 --regid 1337 --clear-groups -- "$@"; }
# bg NAME UID CMD...: starts CMD in the pod as UID, output to NAME.log.
bg() {
  local name="$1" uid="$2"; shift 2
  install -m 666 /dev/null "$work/$name.log"
  ip netns exec "$pod" setpriv --reuid "$uid" --regid "$uid" --clear-groups -- "$@" > "$work/$name.log" 2>&1 &
  pids+=("$!")
}

# ---- network -------------------------------------------------------------------------------
in_pod ip link set lo up
ip netns add "$peer" || die "cannot create netns $peer"
in_pod ip link add ext0 type veth peer name ext1 netns "$peer" || die "cannot create a veth pair"
ip -n "$peer" link set lo up
ip -n "$peer" addr add 10.232.0.2/24 dev ext1
ip -n "$peer" link set ext1 up
in_pod ip addr add 10.232.0.1/24 dev ext0
for a in 11 12 20 30 40; do in_pod ip addr add "10.232.0.$a/32" dev ext0; done
in_pod ip link set ext0 up
in_pod env APPMESH_APP_PORTS=4567,6390 bash "$src_dir/deploy/iptables-init.sh" > "$work/init.log" 2>&1 ||
  die "iptables-init.sh failed: $(cat "$work/init.log")"

# ---- the outside world ---------------------------------------------------------------------
certs="$work/certs"
bash "$src_dir/scripts/gen-test-certs.sh" "$certs" > "$work/certs.log" 2>&1 || die "gen-test-certs.sh failed"
chmod 755 "$certs"
chmod 644 "$certs"/*
for v in 1 2; do
  bg "redis-v$v" 1000 redis-server --bind "10.232.0.1$v" --port 6379 --save "" --appendonly no \
    --protected-mode no --daemonize no
done
bg tls-api 1000 openssl s_server -accept 10.232.0.20:8443 -cert "$certs/server.pem" -key "$certs/server.key" -www -quiet
cat > "$work/banner.py" <<'PY'
import socket, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.232.0.30", 2525))
srv.listen(64)
print("listening on 2525", flush=True)
def serve(c):
    with c:
        c.sendall(b"220 banner\r\n")
        got = b""
        while True:
            b = c.recv(4096)
            if not b:
                break
            got += b
        c.sendall(b"221 got " + got + b"\r\n")
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
bg banner 1000 "$py" "$work/banner.py"
bg http-ext 1000 "$bin" demo-upstream --port 8080 --address 10.232.0.40 --name ext
# The pod's own app: HTTP on :4567 and redis on :6390, the node's two listeners (inbound).
bg app-http 1000 "$bin" demo-upstream --port 4567 --address 127.0.0.1 --name app
bg app-redis 1000 redis-server --bind 127.0.0.1 --port 6390 --save "" --appendonly no \
  --protected-mode no --daemonize no
wait_until 20 as_proxy redis-cli -h 10.232.0.11 -p 6379 ping || die "redis v1 did not start"
wait_until 20 as_proxy redis-cli -h 10.232.0.12 -p 6379 ping || die "redis v2 did not start"
wait_until 20 grep -q "listening on" "$work/banner.log" || die "banner service did not start"
wait_until 20 grep -q "listening on" "$work/http-ext.log" || die "demo-upstream did not start"
wait_until 20 grep -q "listening on" "$work/app-http.log" || die "the pod's HTTP app did not start"
wait_until 20 in_pod redis-cli -p 6390 ping || die "the pod's redis did not start"
wait_until 20 as_proxy bash -c 'exec 3<>/dev/tcp/10.232.0.20/8443' || die "openssl s_server did not start"

# ---- mesh ----------------------------------------------------------------------------------
write_mesh() {  # write_mesh EGRESS_TYPE FILE
  cat > "$2" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: yelb, labels: {mesh: yelb}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: yelb}
spec:
  namespaceSelector: {matchLabels: {mesh: yelb}}
  egressFilter: {type: $1}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: redis-v1, namespace: yelb}
spec:
  podSelector: {matchLabels: {app: redis-v1}}
  listeners: [{portMapping: {port: 6379, protocol: tcp}}]
  serviceDiscovery: {dns: {hostname: redis-v1.yelb.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: redis-v2, namespace: yelb}
spec:
  podSelector: {matchLabels: {app: redis-v2}}
  listeners: [{portMapping: {port: 6379, protocol: tcp}}]
  serviceDiscovery: {dns: {hostname: redis-v2.yelb.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: yelb-appserver, namespace: yelb}
spec:
  podSelector: {matchLabels: {app: yelb-appserver}}
  listeners:
    - portMapping: {port: 4567, protocol: http}
    - portMapping: {port: 6390, protocol: tcp}
  serviceDiscovery: {dns: {hostname: yelb-appserver.yelb.svc.cluster.local}}
  backends:
    - virtualService: {virtualServiceRef: {name: redis-server.yelb.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: redis-router, namespace: yelb}
spec:
  listeners: [{portMapping: {port: 6379, protocol: tcp}}]
  routes:
    - name: redis-split
      tcpRoute:
        action:
          weightedTargets:
            - {virtualNodeRef: {name: redis-v1}, weight: 50}
            - {virtualNodeRef: {name: redis-v2}, weight: 50}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: redis-server.yelb.svc.cluster.local, namespace: yelb}
spec:
  awsName: redis-server.yelb.svc.cluster.local
  provider: {virtualRouter: {virtualRouterRef: {name: redis-router}}}
YAML
  chmod 644 "$2"
}
write_mesh ALLOW_ALL "$work/allow.yaml"
write_mesh DROP_ALL "$work/drop.yaml"

# start_sidecar MESH LOGNAME EXTRA...: the sidecar as UID 1337, fixed ports inside the pod.
start_sidecar() {
  local mesh="$1" name="$2"; shift 2
  install -m 666 /dev/null "$work/$name.log"
  install -m 666 /dev/null "$work/access-$name.log"
  ip netns exec "$pod" setpriv --reuid 1337 --regid 1337 --clear-groups -- "$bin" run --transparent \
    --mesh "$mesh" --node yelb/yelb-appserver --workers 1 --no-watch --admin-port 9901 \
    --access-log "$work/access-$name.log" \
    --access-log-format json \
    --connect-to redis-v1.yelb.svc.cluster.local:6379:10.232.0.11:6379 \
    --connect-to redis-v2.yelb.svc.cluster.local:6379:10.232.0.12:6379 "$@" \
    > "$work/$name.log" 2>&1 &
  sidecar_pid=$!
  wait_until 20 grep -q "egress listening" "$work/$name.log" || die "sidecar did not start: $(cat "$work/$name.log")"
}
stop_sidecar() {
  kill "$sidecar_pid" 2>/dev/null
  wait "$sidecar_pid" 2>/dev/null
  sidecar_pid=""
}

redis_conns() {  # total_connections_received of redis at ADDR (read as the proxy: not redirected)
  as_proxy redis-cli -h "$1" -p 6379 info stats | tr -d '\r' | sed -n 's/^total_connections_received://p'
}

# many_pings N: N redis connections to the ClusterIP as the app, one PING each; prints the PONGs.
many_pings() {
  as_app "$py" - "$1" <<'PY'
import socket, sys
ok = 0
for _ in range(int(sys.argv[1])):
    s = socket.create_connection(("10.232.0.100", 6379), timeout=10)
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    got = b""
    while len(got) < 7:
        b = s.recv(64)
        if not b:
            break
        got += b
    ok += got == b"+PONG\r\n"
    s.close()
print(ok)
PY
}

# banner_roundtrip: reads the banner, sends "hello", half-closes, reads the answer.
banner_roundtrip() {
  as_app "$py" - <<'PY'
import socket
s = socket.create_connection(("10.232.0.30", 2525), timeout=5)
try:
    banner = s.recv(64)
    s.sendall(b"hello")
    s.shutdown(socket.SHUT_WR)
    rest = b""
    while True:
        b = s.recv(64)
        if not b:
            break
        rest += b
    print(repr(banner + rest))
except OSError as e:
    print("error", e)
PY
}

tls_curl() {  # tls_curl NAME: curl https to the external API as the app, with SNI NAME
  as_app curl -s -m 10 -o /dev/null -w '%{http_code}' --cacert "$certs/ca.pem" \
    --resolve "$1:8443:10.232.0.20" "https://$1:8443/"
}

# ---- ALLOW_ALL -----------------------------------------------------------------------------
start_sidecar "$work/allow.yaml" sidecar-allow
b1=$(redis_conns 10.232.0.11); b2=$(redis_conns 10.232.0.12)
pongs=$(many_pings 1000)
a1=$(redis_conns 10.232.0.11); a2=$(redis_conns 10.232.0.12)
n1=$((a1 - b1 - 1)); n2=$((a2 - b2 - 1))
say "1000 redis connections to the ClusterIP: $pongs PONGs, v1 $n1, v2 $n2"
[ "$pongs" = 1000 ] || fail "expected 1000 PONGs, got $pongs"
[ $((n1 + n2)) -eq 1000 ] || fail "v1 + v2 = $((n1 + n2)), expected 1000"
{ [ "$n1" -ge 450 ] && [ "$n1" -le 550 ]; } || fail "split v1 $n1 / v2 $n2 is not 50/50 within 5 %"
bench=$(as_app redis-benchmark -h 10.232.0.100 -p 6379 -q -n 2000 -c 20 -t get,set 2>&1)
rc=$?
say "redis-benchmark through the sidecar: $(echo "$bench" | tr '\r' '\n' | grep -E '^(SET|GET): [0-9.]+ requests' | tr '\n' ' ')"
{ [ $rc -eq 0 ] && echo "$bench" | grep -q "GET: "; } || fail "redis-benchmark failed: $bench"

code=$(tls_curl a.shop.svc.cluster.local)
[ "$code" = 200 ] || fail "TLS passthrough under ALLOW_ALL: curl got '$code' (expected 200 with the server's own certificate)"
got=$(banner_roundtrip)
[ "$got" = "b'220 banner\\r\\n221 got hello\\r\\n'" ] || fail "banner/half-close under ALLOW_ALL: $got"
body=$(as_app curl -s -m 10 http://10.232.0.40:8080/x)
[ "$body" = "ext" ] || fail "plain HTTP to an unmodelled address: '$body'"
# Inbound, from the peer namespace (PREROUTING redirects the app's ports to the ingress port):
# the original destination port picks the listener, tcp or http.
pong=$(ip netns exec "$peer" redis-cli -h 10.232.0.1 -p 6390 ping 2>&1)
[ "$pong" = PONG ] || fail "inbound tcp listener :6390 (original destination): '$pong'"
body=$(ip netns exec "$peer" curl -s -m 10 http://10.232.0.1:4567/in)
[ "$body" = "app" ] || fail "inbound http listener :4567 next to a tcp one: '$body'"
stop_sidecar
log="$work/access-sidecar-allow.log"
grep '"listener":"ingress"' "$log" | grep -q '_tcp_6390"' || fail "no ingress tcp access-log line for :6390"
grep -q '"upstream_cluster":"cds_egress_yelb_redis-v1_yelb_tcp_6379"' "$log" || fail "no access-log line for redis-v1"
grep -q '"upstream_cluster":"egress_passthrough"' "$log" || fail "no passthrough access-log line"
say "ALLOW_ALL: redis split, TLS passthrough, server-first banner with half-close, HTTP handoff, inbound tcp + http by original destination"

# ---- DROP_ALL ------------------------------------------------------------------------------
start_sidecar "$work/drop.yaml" sidecar-drop --egress-allow '*.shop.svc.cluster.local' --log-level info
code=$(tls_curl a.shop.svc.cluster.local)
[ "$code" = 200 ] || fail "TLS with an allowed SNI under DROP_ALL: curl got '$code'"
code=$(as_app curl -s -m 10 -o /dev/null -w '%{http_code}' -k --resolve "b.example.com:8443:10.232.0.20" https://b.example.com:8443/)
[ "$code" = 000 ] || fail "TLS with SNI b.example.com under DROP_ALL passed ($code)"
got=$(banner_roundtrip)
case "$got" in
  *banner*) fail "a server-first protocol passed under DROP_ALL: $got" ;;
esac
pongs=$(many_pings 20)
[ "$pongs" = 20 ] || fail "modelled redis under DROP_ALL: $pongs/20 PONGs"
stop_sidecar
grep -qF 'TLS to SNI "b.example.com" refused' "$work/sidecar-drop.log" ||
  fail "the refused SNI is not in the info log"
log="$work/access-sidecar-drop.log"
grep '"response_flags":"NR"' "$log" | grep -q . || fail "no NR access-log line under DROP_ALL"
say "DROP_ALL: allowed SNI passes, other SNI and server-first refused (NR), redis still routed"

if [ "$failed" -ne 0 ]; then
  say "$failed check(s) failed"
  exit 1
fi
say "PASS"
