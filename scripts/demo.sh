#!/usr/bin/env bash
# The canary demo: two demo upstreams (v1, v2), the proxy with examples/canary/mesh.yaml, 1000
# requests through the egress port, the v1/v2 tally; then it keeps serving until Ctrl-C.
#
# Usage: scripts/demo.sh [path/to/outrigger]   (default: build/outrigger, then build-proxy/outrigger)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-}"
if [ -z "$bin" ]; then
  for b in "$root/build/outrigger" "$root/build-proxy/outrigger"; do
    if [ -x "$b" ]; then bin="$b"; break; fi
  done
fi
[ -x "${bin:-}" ] || { echo "demo: no outrigger binary (build it first or pass its path)" >&2; exit 2; }
mesh="$root/examples/canary/mesh.yaml"
host="my-interview-service.my-app:8080"
v1_name="my-interview-service-v1.my-app.svc.cluster.local"
v2_name="my-interview-service-v2.my-app.svc.cluster.local"

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Waits (up to 10 s) until FILE contains a line matching REGEX; prints the captured port.
wait_port() {
  local file="$1" regex="$2"
  for _ in $(seq 1 100); do
    if grep -qE "$regex" "$file" 2>/dev/null; then
      grep -oE "$regex" "$file" | head -1 | grep -oE '[0-9]+$'
      return 0
    fi
    sleep 0.1
  done
  echo "demo: timed out waiting for $file" >&2
  cat "$file" >&2
  return 1
}

"$bin" demo-upstream --port 0 --name v1 >"$tmp/v1.log" 2>&1 & pids+=($!)
"$bin" demo-upstream --port 0 --name v2 >"$tmp/v2.log" 2>&1 & pids+=($!)
p1="$(wait_port "$tmp/v1.log" 'listening on 127\.0\.0\.1:[0-9]+')"
p2="$(wait_port "$tmp/v2.log" 'listening on 127\.0\.0\.1:[0-9]+')"
echo "demo: upstream v1 on 127.0.0.1:$p1, v2 on 127.0.0.1:$p2"

"$bin" run --mesh "$mesh" --egress-port 0 --ingress-port 0 --ingress-address 127.0.0.1 --workers 2 \
  --connect-to "$v1_name:8080:127.0.0.1:$p1" --connect-to "$v2_name:8080:127.0.0.1:$p2" \
  >"$tmp/proxy.log" 2>&1 & pids+=($!)
ep="$(wait_port "$tmp/proxy.log" 'egress listening on 127\.0\.0\.1:[0-9]+')"
cat "$tmp/proxy.log"

echo "demo: sending 1000 requests with Host: $host ..."
# One curl process, many URLs: keep-alive through the proxy, fast enough.
urls=()
for _ in $(seq 1 1000); do urls+=("http://127.0.0.1:$ep/"); done
curl -s -H "Host: $host" "${urls[@]}" >"$tmp/answers"
v1="$(grep -c '^v1$' "$tmp/answers" || true)"
v2="$(grep -c '^v2$' "$tmp/answers" || true)"
echo "demo: v1=$v1 v2=$v2 (expected about 900/100)"
echo
echo "Try it yourself (Ctrl-C stops everything):"
echo "  curl -H 'Host: $host' http://127.0.0.1:$ep/"
echo "  curl -x http://127.0.0.1:$ep http://$host/"
wait
