#!/usr/bin/env bash
# Fault test under load (not part of ctest): wrk through the proxy to a virtual service whose node
# has two endpoints; one endpoint is killed (SIGKILL) in the middle of the run. With a retry
# policy on the route (server-error, gateway-error, connection-error; maxRetries 2) and outlier
# detection on the target listener, the client must see 0 errors. Prints wrk's summary and the
# proxy's resilience counters (retries, reused-connection retries, ejections) from its exit line.
#
# Two endpoints without DNS: two --connect-to rules for the same HOST:PORT whose targets are IP
# literals form a static endpoint list (ENDPOINTS mode, round robin). /etc/hosts cannot be used
# portably (it is not ours to edit, and `localhost` resolves to one address here).
#
# Usage: bench/fault.sh [path/to/outrigger] [seconds] [connections] [workers]
# Exit status: 0 when wrk saw no socket error and no non-2xx response, 1 otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/build/outrigger}"
secs="${2:-10}"
conns="${3:-20}"
workers="${4:-2}"
[ -x "$bin" ] || { echo "fault: no outrigger binary at $bin" >&2; exit 2; }
if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq wrk >/dev/null
fi
tmp="$(mktemp -d)"
pids=()
proxy_pid=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

wait_port() {
  local file="$1" regex="$2"
  for _ in $(seq 1 100); do
    if grep -qE "$regex" "$file" 2>/dev/null; then
      grep -oE "$regex" "$file" | head -1 | grep -oE '[0-9]+$'; return 0
    fi
    sleep 0.1
  done
  echo "fault: timed out waiting for $file" >&2; cat "$file" >&2; return 1
}

cat >"$tmp/mesh.yaml" <<'YAML'
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: fault}
spec:
  egressFilter: {type: DROP_ALL}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: backend, namespace: fault}
spec:
  meshRef: {name: fault}
  listeners:
    - portMapping: {port: 8080, protocol: http}
      outlierDetection:
        maxServerErrors: 3
        interval: {value: 1, unit: s}
        baseEjectionDuration: {value: 30, unit: s}
        maxEjectionPercent: 50
  serviceDiscovery:
    dns: {hostname: backend.fault.local, responseType: ENDPOINTS}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: backend, namespace: fault}
spec:
  meshRef: {name: fault}
  listeners:
    - portMapping: {port: 8080, protocol: http}
  routes:
    - name: all
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: backend}
              weight: 1
        retryPolicy:
          maxRetries: 2
          perRetryTimeout: {value: 2, unit: s}
          httpRetryEvents: [server-error, gateway-error]
          tcpRetryEvents: [connection-error]
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: backend, namespace: fault}
spec:
  meshRef: {name: fault}
  awsName: backend.fault
  provider:
    virtualRouter:
      virtualRouterRef: {name: backend}
YAML

"$bin" demo-upstream --port 0 --name a >"$tmp/a.log" 2>&1 & pids+=($!)
"$bin" demo-upstream --port 0 --name b >"$tmp/b.log" 2>&1 & b_pid=$!; pids+=($b_pid)
a_port="$(wait_port "$tmp/a.log" 'listening on 127\.0\.0\.1:[0-9]+')"
b_port="$(wait_port "$tmp/b.log" 'listening on 127\.0\.0\.1:[0-9]+')"
"$bin" run --mesh "$tmp/mesh.yaml" --egress-port 0 --ingress-port 0 --admin-port 0 \
  --ingress-address 127.0.0.1 --workers "$workers" \
  --connect-to "backend.fault.local:8080:127.0.0.1:$a_port" \
  --connect-to "backend.fault.local:8080:127.0.0.1:$b_port" \
  >"$tmp/proxy.log" 2>&1 & proxy_pid=$!
ep="$(wait_port "$tmp/proxy.log" 'egress listening on 127\.0\.0\.1:[0-9]+')"

echo "fault: wrk -t2 -c$conns -d${secs}s through the proxy (port $ep) to endpoints :$a_port and :$b_port"
wrk -t2 -c"$conns" -d"${secs}s" -H "Host: backend.fault" "http://127.0.0.1:$ep/" >"$tmp/wrk.txt" &
wrk_pid=$!
sleep "$(awk "BEGIN { print $secs / 3 }")"
echo "fault: killing endpoint b (pid $b_pid, port $b_port) with SIGKILL after $(awk "BEGIN { print $secs / 3 }")s"
kill -9 "$b_pid"
wait "$wrk_pid" || true
kill -TERM "$proxy_pid"
wait "$proxy_pid" || true
proxy_pid=""

cat "$tmp/wrk.txt"
counters="$(grep -E '^outrigger: resilience:' "$tmp/proxy.log" || echo 'outrigger: resilience: (no counter line)')"
echo "$counters"
errors="$(grep -oE 'Socket errors: .*' "$tmp/wrk.txt" || true)"
non2xx="$(grep -oE 'Non-2xx or 3xx responses: [0-9]+' "$tmp/wrk.txt" || true)"
if [ -z "$errors" ] && [ -z "$non2xx" ]; then
  echo "fault: PASS: 0 socket errors, 0 non-2xx responses"
  exit 0
fi
echo "fault: FAIL: ${errors:-no socket errors}; ${non2xx:-no non-2xx}"
grep -v '^outrigger: resilience' "$tmp/proxy.log" | tail -20
exit 1
