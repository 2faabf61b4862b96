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
#     ├─ veth ─ netns CLIENT 10.231.0.10   curl (UID 1000) + sidecar (UID 1337, mesh-wide client)
#     ├─ veth ─ netns V1     10.231.0.11   demo-upstream "v1" :8080 + sidecar as ...-v1-node
#     ├─ veth ─ netns V2A    10.231.0.12   demo-upstream "v2" :8080 + sidecar as ...-v2-node
#     └─ veth ─ netns V2B    10.231.0.13   demo-upstream "v2" :8080 + sidecar as ...-v2-node
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
# Checks: 200 plain curl calls from the client split ~90/10 over v1/v2; unmodelled egress
# (ALLOW_ALL) goes to the original destination, not to the Host; with one v2 app killed, 200 more
# calls all succeed and the dead replica's sidecar logged the 503 UF that the client retried.
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
pods=(client v1 v2a v2b)
declare -A addr=([client]=10.231.0.10 [v1]=10.231.0.11 [v2a]=10.231.0.12 [v2b]=10.231.0.13)
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

fail() { say "FAIL: $*"; failed=1; }
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
python3 - "$mesh" <<'PY' || die "cannot adapt the canary mesh"
import sys
p = sys.argv[1]
s = open(p).read()
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

declare -A node=([v1]=my-app/my-interview-service-v1-node [v2a]=my-app/my-interview-service-v2-node
                 [v2b]=my-app/my-interview-service-v2-node)
declare -A body=([v1]=v1 [v2a]=v2 [v2b]=v2)
for pod in client v1 v2a v2b; do
  n="$(ns "$pod")"
  ports=""
  [ "$pod" = client ] || ports=8080
  ip netns exec "$n" env APPMESH_APP_PORTS="$ports" bash "$src_dir/deploy/iptables-init.sh" \
    > "$work/init-$pod.log" 2>&1 || die "iptables-init.sh failed in $pod: $(cat "$work/init-$pod.log")"
  install -m 666 /dev/null "$work/access-$pod.log"
  node_args=()
  [ "$pod" = client ] || node_args=(--node "${node[$pod]}")
  run_in "$pod" 1337 "sidecar-$pod" "$bin" run --transparent --mesh "$mesh" "${node_args[@]}" \
    --workers 1 --access-log "$work/access-$pod.log"
  if [ "$pod" != client ]; then
    run_in "$pod" 1000 "app-$pod" "$bin" demo-upstream --port 8080 --address 0.0.0.0 --name "${body[$pod]}"
    app_pid[$pod]=$last_pid
  fi
done
for pod in client v1 v2a v2b; do
  wait_until 20 grep -q "egress listening" "$work/sidecar-$pod.log" ||
    die "sidecar of $pod did not start: $(cat "$work/sidecar-$pod.log")"
  [ "$pod" = client ] && continue
  wait_until 20 grep -q "listening on" "$work/app-$pod.log" || die "app of $pod did not start"
done
say "4 pods up (client, v1, v2 x2), sidecars in transparent mode"

# client_curl ARGS...: curl as the app (UID 1000) in the client pod; prints body then status.
client_curl() {
  ip netns exec "$(ns client)" setpriv --reuid 1000 --regid 1000 --clear-groups -- \
    curl -s -m 10 -w ' %{http_code}' "$@"
}

# ---- 1. the canary split over plain curl -----------------------------------------------------
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
tally 200
say "split: v1=$n1 v2=$n2 failed=$other (200 requests)"
[ "$other" -eq 0 ] || fail "$other of 200 requests did not get a v1/v2 200"
# 10% of 200 = 20, sd 4.2: [5, 40] is a wide band that still catches 50/50 or 100/0.
[ "$n2" -ge 5 ] && [ "$n2" -le 40 ] || fail "v2 got $n2 of 200, expected about 20"
# The apps saw the requests through their own sidecars' ingress (redirected from :8080).
grep -q ' 200 ' "$work/access-v1.log" || fail "v1's sidecar ingress logged no request"

# ---- 2. unmodelled egress goes to the original destination -----------------------------------
# A Host that resolves nowhere, sent to v1's pod IP: under ALLOW_ALL it must reach v1 (original
# destination), through v1's sidecar ingress.
out="$(client_curl -H 'Host: not-in-the-mesh.invalid' "http://${addr[v1]}:8080/")"
[ "$out" = $'v1\n 200' ] || fail "unmodelled egress to ${addr[v1]}:8080 answered '$out', expected v1 200"

# ---- 3. failover: kill one v2 replica's app ---------------------------------------------------
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
