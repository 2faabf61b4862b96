#!/usr/bin/env bash
# TCP proxying benchmark (issue 17; not a test): redis-benchmark GET/SET against one redis-server,
# directly and through `outrigger run --tcp-listen` (one worker, a tcpRoute to one target), and
# prints both and their ratio. Each run: redis-benchmark -q -n N -t get,set -P 1 -c 50.
#
# Usage: bench/redis_tcp.sh [path/to/outrigger] [requests]   (default build/outrigger, 100000)
#   REPS=3 bench/redis_tcp.sh ...      interleaved repetitions (default 1)
#   TASKSET="taskset -c 1" ...         pin the proxy (default: not pinned)
# Use a Release/RelWithDebInfo build; the host's load shows in the numbers (see bench/README).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/build/outrigger}"
n="${2:-100000}"
reps="${REPS:-1}"
pin="${TASKSET:-}"
[ -x "$bin" ] || { echo "redis-tcp-bench: no outrigger binary at $bin" >&2; exit 2; }
for c in redis-server redis-benchmark redis-cli; do
  command -v "$c" >/dev/null || { echo "redis-tcp-bench: $c is not installed (apt-get install redis-server)" >&2; exit 2; }
done
bin="$(realpath "$bin")"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # FILE REGEX → the port at the end of the first match
  local file="$1" regex="$2"
  for _ in $(seq 1 100); do
    if grep -qE "$regex" "$file" 2>/dev/null; then
      grep -oE "$regex" "$file" | head -1 | grep -oE '[0-9]+$'; return 0
    fi
    sleep 0.1
  done
  echo "redis-tcp-bench: timed out waiting for $file" >&2; cat "$file" >&2; return 1
}

rport="$(free_port)"
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --protected-mode no \
  --daemonize no >"$work/redis.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

cat >"$work/mesh.yaml" <<'YAML'
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: bench}
spec:
  namespaceSelector: {matchLabels: {mesh: bench}}
---
apiVersion: v1
kind: Namespace
metadata: {name: bench, labels: {mesh: bench}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: redis, namespace: bench}
spec:
  podSelector: {matchLabels: {app: redis}}
  listeners: [{portMapping: {port: 6379, protocol: tcp}}]
  serviceDiscovery: {dns: {hostname: redis.bench.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: client, namespace: bench}
spec:
  podSelector: {matchLabels: {app: client}}
  listeners: [{portMapping: {port: 8080, protocol: http}}]
  serviceDiscovery: {dns: {hostname: client.bench.svc.cluster.local}}
  backends:
    - virtualService: {virtualServiceRef: {name: redis-server.bench.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: redis-router, namespace: bench}
spec:
  listeners: [{portMapping: {port: 6379, protocol: tcp}}]
  routes:
    - name: redis
      tcpRoute:
        action:
          weightedTargets: [{virtualNodeRef: {name: redis}, weight: 1}]
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: redis-server.bench.svc.cluster.local, namespace: bench}
spec:
  awsName: redis-server.bench.svc.cluster.local
  provider: {virtualRouter: {virtualRouterRef: {name: redis-router}}}
YAML

$pin "$bin" run --mesh "$work/mesh.yaml" --node bench/client --workers 1 --admin-port 0 --no-watch \
  --egress-port 0 --ingress-port 0 --ingress-address 127.0.0.1 --drain-time 0s \
  --tcp-listen 0=redis-server.bench.svc.cluster.local:6379 \
  --connect-to "redis.bench.svc.cluster.local:6379:127.0.0.1:$rport" >"$work/proxy.log" 2>&1 & pids+=($!)
pport="$(wait_port "$work/proxy.log" 'tcp-listen on 127\.0\.0\.1:[0-9]+')"
proxy_pid="${pids[-1]}"

bench() {  # PORT → "SET_RPS GET_RPS"
  local out
  out="$(redis-benchmark -h 127.0.0.1 -p "$1" -q -n "$n" -t get,set -P 1 -c 50 2>/dev/null | tr '\r' '\n')"
  local set get
  set="$(echo "$out" | grep -E '^SET: [0-9.]+ requests' | grep -oE '[0-9.]+ requests' | grep -oE '^[0-9.]+')"
  get="$(echo "$out" | grep -E '^GET: [0-9.]+ requests' | grep -oE '[0-9.]+ requests' | grep -oE '^[0-9.]+')"
  local p50s p50g
  p50s="$(echo "$out" | grep -E '^SET: [0-9.]+ requests' | grep -oE 'p50=[0-9.]+' | head -1)"
  p50g="$(echo "$out" | grep -E '^GET: [0-9.]+ requests' | grep -oE 'p50=[0-9.]+' | head -1)"
  echo "$set $get $p50s $p50g"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "redis-benchmark -q -n $n -t get,set -P 1 -c 50; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %-22s %12s %12s %14s %14s\n' rep path SET_rps GET_rps SET_p50_ms GET_p50_ms
for rep in $(seq 1 "$reps"); do
  read -r ds dg dps dpg <<<"$(bench "$rport")"
  printf '%-4s %-22s %12s %12s %14s %14s\n' "$rep" direct "$ds" "$dg" "${dps#p50=}" "${dpg#p50=}"
  t0="$(cpu_ticks "$proxy_pid")"
  read -r os og ops opg <<<"$(bench "$pport")"
  t1="$(cpu_ticks "$proxy_pid")"
  printf '%-4s %-22s %12s %12s %14s %14s\n' "$rep" "through outrigger" "$os" "$og" "${ops#p50=}" "${opg#p50=}"
  python3 - "$ds" "$dg" "$os" "$og" "$t0" "$t1" "$n" <<'PY'
import os, sys
ds, dg, os_, og = map(float, sys.argv[1:5])
t0, t1, n = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
cpu = (t1 - t0) / os.sysconf("SC_CLK_TCK")
print(f"     ratio through/direct: SET {os_/ds:.2f}, GET {og/dg:.2f}; proxy CPU {cpu:.2f} s for "
      f"{2*n} requests ({2*n/cpu if cpu else float('nan'):.0f} req per proxy CPU-second)")
PY
done
echo "VmRSS of outrigger after the runs: $(grep VmRSS "/proc/$proxy_pid/status" | awk '{print $2, $3}')"
