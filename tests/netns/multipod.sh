#!/usr/bin/env bash
# Multi-pod end to end (issue 9): "pods" as network namespaces on a private bridge, each with its
# app and an outrigger sidecar in transparent mode behind deploy/iptables-init.sh, as in an App
# Mesh pod. Needs root, `ip netns` and iptables; exits 77 (ctest: skipped) otherwise.
#
#   tests/netns/multipod.sh [OUTRIGGER_BINARY]     (default: build/outrigger)
#
# Topology (every address lives inside namespaces this script makes; nothing touches the host's
# own network namespace, and traffic never leaves the machine):
#
#   netns HUB: bridge br0
#     ├─ veth ─ netns CLIENT 10.231.0.10   curl (UID 1000) + sidecar (UID 1337) as client-node
#     ├─ veth ─ netns V1     10.231.0.11   demo-upstream "v1" :8080 + sidecar as ...-v1-node,
#     │                                     demo-upstream "v1-aux" :9090 (no sidecar, plaintext)
#     ├─ veth ─ netns V2A    10.231.0.12   demo-upstream "v2" :8080 + sidecar as ...-v2-node
#     ├─ veth ─ netns V2B    10.231.0.13   demo-upstream "v2" :8080 + sidecar as ...-v2-node
#     └─ veth ─ netns GW     10.231.0.14   outrigger run --gateway my-app/ingress-gw :8088 (issue 18)
#
# v2 runs two replicas (one Deployment, replicas: 2): the failover check kills one replica's app
# and the retry policy must carry every request to the other one (a retry stays within the
# weighted target it was routed to, as in App Mesh's Envoy).
#
# Names: `ip netns exec NS` bind-mounts /etc/netns/NS/hosts over /etc/hosts for the command it
# runs, so each pod gets a generated hosts file: the virtual service name maps to a "ClusterIP"
# (10.231.0.100) that no interface has (the client's iptables REDIRECT takes the connection
# before it leaves the pod), the nodes' DNS names map to the pods (v2's to both replicas).
#
# mTLS between the sidecars: scripts/gen-test-certs.sh makes the PKI at test time (mesh-client,
# mesh-v1, mesh-v2: DNS SAN = each node's DNS name); v1/v2 listeners are STRICT and accept only
# the client's SAN; client-node originates TLS (backendDefaults.clientPolicy.tls) with its own
# certificate and checks the v1/v2 SANs.
#
# Checks: 200 plain curl calls from the client split ~90/10 over v1/v2; tcpdump on the bridge (when
# installed) sees TLS handshake and application-data records and no `HTTP/1.1` on :8080, while a
# plaintext control request to v1-aux :9090 is seen in clear; unmodelled egress (ALLOW_ALL) goes
# to the original destination, not to the Host; v1's listener, reached directly as UID 1337 (not
# redirected), refuses plaintext, TLS without a client certificate and a client certificate with
# another SAN, and serves the client's certificate; with one v2 app killed, 200 more calls all
# succeed and the dead replica's sidecar logged the 503 UF that the client retried.
# The ingress gateway pod (issue 18): an outside client's requests to GW:8088/canary/ go through
# the VirtualGateway's GatewayRoute (prefix rewrite), the router's 90/10 split and mTLS
# (backendDefaults.clientPolicy with the client identity) to the v1/v2 pods' sidecars.
# Everything made here is removed on exit, failure included (trap).
set -uo pipefail

SKIP=77
say() { echo "multipod: $*"; }
skip() { say "SKIP: $*"; exit "$SKIP"; }

src_dir="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$src_dir/build/outrigger}"
bin="$(readlink -f "$bin")"

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and iptables)"
command -v ip >/dev/null 2>&1 || skip "iproute2 'ip' not found"
command -v iptables >/dev/null 2>&1 || skip "iptables not found (scripts/setup.sh installs it for this test)"
command -v setpriv >/dev/null 2>&1 || skip "setpriv (util-linux) not found"
command -v curl >/dev/null 2>&1 || skip "curl not found"
command -v openssl >/dev/null 2>&1 || skip "openssl not found (scripts/gen-test-certs.sh needs it)"
[ -x "$bin" ] || { say "FAIL: outrigger binary $bin not found"; exit 1; }

tag="or$$"
tag="${tag:0:8}"
probe="${tag}probe"
if ! ip netns add "$probe" 2>/dev/null; then
  skip "'ip netns add' is not permitted here"
fi
if ! ip netns exec "$probe" iptables -t nat -L OUTPUT -n >/dev/null 2>&1; then
  ip netns del "$probe"
  skip "iptables nat table unavailable inside a network namespace"
fi
ip netns del "$probe"

etc_netns_existed=0
[ -d /etc/netns ] && etc_netns_existed=1
work="$(mktemp -d /tmp/outrigger-multipod.XXXXXX)"
chmod 755 "$work"
hub="${tag}hub"
pods=(client v1 v2a v2b gw)
declare -A addr=([client]=10.231.0.10 [v1]=10.231.0.11 [v2a]=10.231.0.12 [v2b]=10.231.0.13
                 [gw]=10.231.0.14)
declare -A app_pid=()
pids=()
made_ns=()
failed=0

ns() { echo "${tag}$1"; }

cleanup() {
  local rc=$?
  set +e
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null
  done
  for n in "${made_ns[@]}"; do
    # Anything still running inside a namespace this script made was started by it.
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$n" 2>/dev/null
    rm -rf "/etc/netns/$n"
  done
  if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ]; then
    for f in "$work"/*.log; do
      [ -f "$f" ] || continue
      echo "----- $(basename "$f") (last 30 lines)"
      tail -n 30 "$f"
    done
  fi
  [ "$etc_netns_existed" -eq 1 ] || rmdir /etc/netns 2>/dev/null
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { say "FAIL: $*"; failed=$((failed + 1)); }
die() { say "FAIL: $*"; exit 1; }

# Polls `cmd` until it succeeds or `secs` pass.
wait_until() {
  local secs="$1"; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# ---- network -------------------------------------------------------------------------------
ip netns add "$hub" || die "cannot create netns $hub"
made_ns+=("$hub")
ip -n "$hub" link add br0 type bridge || die "cannot create the bridge"
ip -n "$hub" link set br0 up
ip -n "$hub" link set lo up
for pod in "${pods[@]}"; do
  n="$(ns "$pod")"
  ip netns add "$n" || die "cannot create netns $n"
  made_ns+=("$n")
  ip -n "$hub" link add "v$pod" type veth peer name eth0 netns "$n" || die "veth for $pod"
  ip -n "$hub" link set "v$pod" master br0 up
  ip -n "$n" link set lo up
  ip -n "$n" addr add "${addr[$pod]}/24" dev eth0
  ip -n "$n" link set eth0 up
  mkdir -p "/etc/netns/$n"
  cat > "/etc/netns/$n/hosts" <<HOSTS
127.0.0.1 localhost
::1 localhost
10.231.0.100 my-interview-service.my-app my-interview-service.my-app.svc.cluster.local
${addr[v1]} my-interview-service-v1.my-app.svc.cluster.local
${addr[v2a]} my-interview-service-v2.my-app.svc.cluster.local
${addr[v2b]} my-interview-service-v2.my-app.svc.cluster.local
HOSTS
done

# ---- mesh: the canary of examples/, v2 with two endpoints, a retry policy, ALLOW_ALL --------
mesh="$work/mesh.yaml"
sed -e 's/^  namespaceSelector:/  egressFilter:\n    type: ALLOW_ALL\n  namespaceSelector:/' \
    "$src_dir/examples/canary/mesh.yaml" > "$mesh"
# mTLS between the sidecars (issue 5's modes): the test PKI of scripts/gen-test-certs.sh, one
# leaf per pod identity (mesh-client, mesh-v1, mesh-v2: DNS SAN = the node's DNS name).
certs="$work/certs"
bash "$src_dir/scripts/gen-test-certs.sh" "$certs" > "$work/certs.log" 2>&1 ||
  die "gen-test-certs.sh failed: $(cat "$work/certs.log")"
chmod 755 "$certs"
chmod 644 "$certs"/*.pem "$certs"/*.key  # the sidecars run as UID 1337; throw-away keys
python3 - "$mesh" "$certs" <<'PY' || die "cannot adapt the canary mesh"
import sys
p, certs = sys.argv[1], sys.argv[2]
s = open(p).read()
client_name = "client.my-app.svc.cluster.local"
v_names = ["my-interview-service-%s.my-app.svc.cluster.local" % v for v in ("v1", "v2")]
# v1/v2: STRICT listeners that require a client certificate from the client pod's identity.
for v, name in zip(("v1", "v2"), v_names):
    head = s.index("\n  name: my-interview-service-%s-node\n" % v)
    listener = "        protocol: http\n"
    at = s.index(listener, head) + len(listener)
    assert at < s.index("      hostname: %s\n" % name, head)
    s = s[:at] + f"""      tls:
        mode: STRICT
        certificate:
          file:
            certificateChain: {certs}/mesh-{v}.pem
            privateKey: {certs}/mesh-{v}.key
        validation:
          trust:
            file:
              certificateChain: {certs}/ca.pem
          subjectAlternativeNames:
            match:
              exact: [{client_name}]
""" + s[at:]
# The client pod's node: the canary as its backend, TLS origination with its own certificate,
# servers checked against the CA and the v1/v2 identities.
s += f"""---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: client-node
  namespace: my-app
spec:
  podSelector:
    matchLabels:
      app: client
  serviceDiscovery:
    dns:
      hostname: {client_name}
  backends:
    - virtualService:
        virtualServiceRef:
          name: my-interview-service
  backendDefaults:
    clientPolicy:
      tls:
        enforce: true
        certificate:
          file:
            certificateChain: {certs}/mesh-client.pem
            privateKey: {certs}/mesh-client.key
        validation:
          trust:
            file:
              certificateChain: {certs}/ca.pem
          subjectAlternativeNames:
            match:
              exact: [{v_names[0]}, {v_names[1]}]
"""
# The ingress gateway (issue 18): /canary → the canary's virtual service, TLS toward every target
# with the client identity (the v1/v2 listeners accept only that SAN).
s += f"""---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualGateway
metadata:
  name: ingress-gw
  namespace: my-app
spec:
  namespaceSelector:
    matchLabels:
      mesh: my-app-mesh
  listeners:
    - portMapping:
        port: 8088
        protocol: http
  backendDefaults:
    clientPolicy:
      tls:
        enforce: true
        certificate:
          file:
            certificateChain: {certs}/mesh-client.pem
            privateKey: {certs}/mesh-client.key
        validation:
          trust:
            file:
              certificateChain: {certs}/ca.pem
          subjectAlternativeNames:
            match:
              exact: [{v_names[0]}, {v_names[1]}]
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: canary
  namespace: my-app
spec:
  httpRoute:
    match:
      prefix: /canary
    action:
      target:
        virtualService:
          virtualServiceRef:
            name: my-interview-service
"""
v2 = "      hostname: my-interview-service-v2.my-app.svc.cluster.local\n"
assert v2 in s
s = s.replace(v2, v2 + "      responseType: ENDPOINTS\n")
route = "        match:\n          prefix: /\n"
assert route in s
s = s.replace(route, route + """        retryPolicy:
          maxRetries: 2
          perRetryTimeout:
            unit: s
            value: 2
          httpRetryEvents:
            - server-error
          tcpRetryEvents:
            - connection-error
""")
open(p, "w").write(s)
PY
chmod 644 "$mesh"
"$bin" validate "$mesh" > "$work/validate.log" 2>&1 || die "the test mesh does not validate: $(cat "$work/validate.log")"

# ---- pods ----------------------------------------------------------------------------------
# run_in POD UID NAME CMD...: starts CMD in the pod's netns as UID, output to NAME.log.
run_in() {
  local pod="$1" uid="$2" name="$3"; shift 3
  install -m 666 /dev/null "$work/$name.log"
  ip netns exec "$(ns "$pod")" setpriv --reuid "$uid" --regid "$uid" --clear-groups -- "$@" \
    > "$work/$name.log" 2>&1 &
  pids+=("$!")
  last_pid=$!
}

declare -A node=([client]=my-app/client-node [v1]=my-app/my-interview-service-v1-node [v2a]=my-app/my-interview-service-v2-node
                 [v2b]=my-app/my-interview-service-v2-node)
declare -A body=([v1]=v1 [v2a]=v2 [v2b]=v2)
for pod in client v1 v2a v2b; do
  n="$(ns "$pod")"
  ports=""
  [ "$pod" = client ] || ports=8080
  ip netns exec "$n" env APPMESH_APP_PORTS="$ports" bash "$src_dir/deploy/iptables-init.sh" \
    > "$work/init-$pod.log" 2>&1 || die "iptables-init.sh failed in $pod: $(cat "$work/init-$pod.log")"
  install -m 666 /dev/null "$work/access-$pod.log"
  run_in "$pod" 1337 "sidecar-$pod" "$bin" run --transparent --mesh "$mesh" --node "${node[$pod]}" \
    --workers 1 --access-log "$work/access-$pod.log"
  if [ "$pod" != client ]; then
    run_in "$pod" 1000 "app-$pod" "$bin" demo-upstream --port 8080 --address 0.0.0.0 --name "${body[$pod]}"
    app_pid[$pod]=$last_pid
  fi
  if [ "$pod" = v1 ]; then
    # A second app port that is not in APPMESH_APP_PORTS: no inbound redirect, no sidecar, plain.
    run_in v1 1000 app-v1-aux "$bin" demo-upstream --port 9090 --address 0.0.0.0 --name v1-aux
  fi
done
for pod in client v1 v2a v2b; do
  wait_until 20 grep -q "egress listening" "$work/sidecar-$pod.log" ||
    die "sidecar of $pod did not start: $(cat "$work/sidecar-$pod.log")"
  [ "$pod" = client ] && continue
  wait_until 20 grep -q "listening on" "$work/app-$pod.log" || die "app of $pod did not start"
done
wait_until 20 grep -q "listening on" "$work/app-v1-aux.log" || die "v1's second app did not start"
install -m 666 /dev/null "$work/access-gw.log"
run_in gw 1337 gateway "$bin" run --mesh "$mesh" --gateway my-app/ingress-gw --workers 1 \
  --admin-port 0 --access-log "$work/access-gw.log"
wait_until 20 grep -q "gateway listener 8088 (http) listening on 0.0.0.0:8088" "$work/gateway.log" ||
  die "the gateway pod did not start: $(cat "$work/gateway.log")"
say "5 pods up (client, v1, v2 x2 with sidecars in transparent mode; the ingress gateway)"

# client_curl ARGS...: curl as the app (UID 1000) in the client pod; prints body then status.
client_curl() {
  ip netns exec "$(ns client)" setpriv --reuid 1000 --regid 1000 --clear-groups -- \
    curl -s -m 10 -w ' %{http_code}' "$@"
}

# ---- 1. the canary split over plain curl, mTLS between the pods -------------------------------
tally() {
  n1=0; n2=0; other=0
  for _ in $(seq 1 "$1"); do
    out="$(client_curl http://my-interview-service.my-app:8080/)"
    case "$out" in
      $'v1\n 200') n1=$((n1 + 1)) ;;
      $'v2\n 200') n2=$((n2 + 1)) ;;
      *) other=$((other + 1)); [ "$other" -le 3 ] && say "unexpected answer: $out" ;;
    esac
  done
}

# The bridge sees every byte between the pods: capture the mesh port (8080) and the plain port
# of v1's second app (9090, the capture's control: its HTTP must show up in clear).
capture=0
if command -v tcpdump >/dev/null 2>&1; then
  install -m 666 /dev/null "$work/tcpdump.log"
  ip netns exec "$hub" tcpdump -i br0 -n -s 0 -U -Z root -w "$work/bridge.pcap" \
    'tcp and (port 8080 or port 9090)' > "$work/tcpdump.log" 2>&1 &
  pids+=("$!")
  tcpdump_pid=$!
  wait_until 20 grep -q "listening on" "$work/tcpdump.log" ||
    die "tcpdump did not start: $(cat "$work/tcpdump.log")"
  capture=1
else
  say "tcpdump not found (apt-get install tcpdump): the bytes on the bridge are not inspected"
fi

tally 200
say "split: v1=$n1 v2=$n2 failed=$other (200 requests)"
[ "$other" -eq 0 ] || fail "$other of 200 requests did not get a v1/v2 200"
# 10% of 200 = 20, sd 4.2: [5, 40] is a wide band that still catches 50/50 or 100/0.
[ "$n2" -ge 5 ] && [ "$n2" -le 40 ] || fail "v2 got $n2 of 200, expected about 20"
# The apps saw the requests through their own sidecars' ingress (redirected from :8080).
grep -q ' 200 ' "$work/access-v1.log" || fail "v1's sidecar ingress logged no request"

# ---- 1b. the ingress gateway pod: GatewayRoute → router split → mTLS to the pods ---------------
# An outside client (the client pod's UID 1337: not redirected to its sidecar).
outside_curl() {
  ip netns exec "$(ns client)" setpriv --reuid 1337 --regid 1337 --clear-groups -- \
    curl -s -m 10 -w ' %{http_code}' "$@"
}
g1=0; g2=0; gother=0
for _ in $(seq 1 100); do
  out="$(outside_curl "http://${addr[gw]}:8088/canary/")"
  case "$out" in
    $'v1\n 200') g1=$((g1 + 1)) ;;
    $'v2\n 200') g2=$((g2 + 1)) ;;
    *) gother=$((gother + 1)); [ "$gother" -le 3 ] && say "unexpected gateway answer: $out" ;;
  esac
done
say "gateway split: v1=$g1 v2=$g2 failed=$gother (100 requests to ${addr[gw]}:8088/canary/)"
[ "$gother" -eq 0 ] || fail "$gother of 100 requests through the gateway did not get a v1/v2 200"
[ "$g2" -ge 2 ] && [ "$g2" -le 25 ] || fail "v2 got $g2 of 100 through the gateway, expected about 10"
out="$(outside_curl "http://${addr[gw]}:8088/elsewhere")"
[ "${out: -3}" = 404 ] && [[ "$out" == *"[NR]"* ]] ||
  fail "a request no GatewayRoute matches answered '$out', expected 404 NR"
grep -q '"GET /canary/ HTTP/1.1" 200' "$work/access-gw.log" || fail "the gateway logged no request"

# ---- 2. unmodelled egress goes to the original destination -----------------------------------
# A Host that resolves nowhere, sent to v1's pod IP on its plain port: under ALLOW_ALL it must
# reach the original destination (v1's second app), in plaintext (the capture's control).
out="$(client_curl -H 'Host: not-in-the-mesh.invalid' "http://${addr[v1]}:9090/")"
[ "$out" = $'v1-aux\n 200' ] ||
  fail "unmodelled egress to ${addr[v1]}:9090 answered '$out', expected v1-aux 200"

if [ "$capture" -eq 1 ]; then
  # -U writes each packet when it is processed: once the control's reply body is in the file,
  # everything before it is too (a SIGINT drops what is still queued in the kernel).
  wait_until 20 grep -aq "v1-aux" "$work/bridge.pcap" || fail "the capture never saw v1-aux's reply"
  kill -INT "$tcpdump_pid"
  wait "$tcpdump_pid" 2>/dev/null
  # Per TCP payload: plaintext HTTP/1.1 anywhere on :8080 is a failure; TLS handshake records
  # (content type 0x16, version 0x03 0x0X) must be there; :9090's HTTP must be seen.
  verdict="$(python3 - "$work/bridge.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
linktype = struct.unpack(end + "I", data[20:24])[0]
assert linktype == 1, "expected an Ethernet capture, got linktype %d" % linktype
off = 24
n = {"packets": 0, "mesh_payloads": 0, "mesh_http": 0, "tls_handshake": 0, "tls_appdata": 0,
     "plain_http": 0}
while off + 16 <= len(data):
    incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
    frame = data[off + 16:off + 16 + incl]
    off += 16 + incl
    n["packets"] += 1
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        continue
    ihl = (frame[14] & 0x0F) * 4
    tcp = frame[14 + ihl:]
    sport, dport = struct.unpack(">HH", tcp[:4])
    payload = tcp[(tcp[12] >> 4) * 4:]
    if not payload:
        continue
    if 8080 in (sport, dport):
        n["mesh_payloads"] += 1
        n["mesh_http"] += b"HTTP/1.1" in payload
        n["tls_handshake"] += payload[0] == 0x16 and payload[1] == 0x03
        n["tls_appdata"] += payload[0] == 0x17 and payload[1] == 0x03
    elif 9090 in (sport, dport):
        n["plain_http"] += b"HTTP/1.1" in payload
print(" ".join("%s=%d" % kv for kv in n.items()))
PY
)" || die "cannot read the capture: $verdict"
  say "bridge capture: $verdict"
  field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$verdict"; }
  [ "$(field mesh_http)" = 0 ] || fail "plaintext HTTP/1.1 crossed the bridge on :8080"
  [ "$(field tls_handshake)" -ge 1 ] || fail "no TLS handshake record (0x16 0x03) on :8080"
  [ "$(field tls_appdata)" -ge 1 ] || fail "no TLS application data record (0x17 0x03) on :8080"
  [ "$(field plain_http)" -ge 1 ] ||
    fail "the control request to :9090 was not seen in clear: the capture proves nothing"
fi

# ---- 3. v1's STRICT listener: only mTLS from the client identity -------------------------------
# From the client pod as the proxy's UID (1337), which iptables does not redirect: straight to
# v1's pod IP, so nothing originates TLS on our behalf.
raw_curl() {
  ip netns exec "$(ns client)" setpriv --reuid 1337 --regid 1337 --clear-groups -- \
    curl -s -m 10 -w ' %{http_code}' "$@"
}
v1_url="https://my-interview-service-v1.my-app.svc.cluster.local:8080/"
failed_before=$failed
out="$(raw_curl "http://${addr[v1]}:8080/")"
[ "$out" = " 000" ] || fail "plaintext to v1's STRICT listener answered '$out', expected no HTTP reply"
out="$(raw_curl --cacert "$certs/ca.pem" "$v1_url")"
[ "$out" = " 000" ] ||
  fail "TLS without a client certificate to v1 answered '$out', expected a refused handshake"
out="$(raw_curl --cacert "$certs/ca.pem" --cert "$certs/client-web.pem" \
  --key "$certs/client-web.key" "$v1_url")"
[ "$out" = " 000" ] ||
  fail "a client certificate with a SAN v1 does not accept answered '$out', expected a refusal"
out="$(raw_curl --cacert "$certs/ca.pem" --cert "$certs/mesh-client.pem" \
  --key "$certs/mesh-client.key" "$v1_url")"
[ "$out" = $'v1\n 200' ] ||
  fail "mTLS with the client pod's certificate to v1 answered '$out', expected v1 200"
# The client sidecar's unmodelled egress is plaintext (passthrough): v1 refuses it too.
out="$(client_curl -H 'Host: not-in-the-mesh.invalid' "http://${addr[v1]}:8080/")"
[ "${out: -3}" != 200 ] || fail "plaintext passthrough to v1's STRICT listener answered '$out'"
[ "$failed" -ne "$failed_before" ] ||
  say "v1 refused plaintext, TLS without a client certificate and a wrong client SAN; it" \
    "served the client pod's identity"

# ---- 4. failover: kill one v2 replica's app ---------------------------------------------------
kill "${app_pid[v2a]}"
wait "${app_pid[v2a]}" 2>/dev/null
wait_until 10 bash -c "! ip netns exec $(ns v2a) bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080'" ||
  die "v2a's app still accepts after kill"
tally 200
say "after killing v2a's app: v1=$n1 v2=$n2 failed=$other (200 requests)"
[ "$other" -eq 0 ] || fail "$other of 200 requests failed although v2b could serve them"
[ "$n2" -ge 5 ] && [ "$n2" -le 40 ] || fail "v2 got $n2 of 200 after the failover, expected about 20"
uf="$(grep -c ' 503 UF' "$work/access-v2a.log" || true)"
say "v2a's sidecar answered 503 UF $uf times (each retried by the client sidecar)"
[ "$uf" -ge 1 ] || fail "no request reached the dead replica: the failover was not exercised"

# ---- teardown is the trap; report -------------------------------------------------------------
if [ "$failed" -ne 0 ]; then
  exit 1
fi
say "PASS"
