#!/usr/bin/env bash
# Smoke benchmark (not a test): wrk -t1 -c50 -d10s through the proxy to a local demo upstream,
# then the same wrk straight at the upstream. Prints req/s and error counts of both.
#
# Usage: bench/smoke.sh [path/to/outrigger] [workers]   (use a Release build for real numbers)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/build/outrigger}"
workers="${2:-1}"
[ -x "$bin" ] || { echo "smoke: no outrigger binary at $bin" >&2; exit 2; }
if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq wrk >/dev/null
fi
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
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
  echo "smoke: timed out waiting for $file" >&2; cat "$file" >&2; return 1
}

"$bin" demo-upstream --port 0 --name up >"$tmp/up.log" 2>&1 & pids+=($!)
up="$(wait_port "$tmp/up.log" 'listening on 127\.0\.0\.1:[0-9]+')"
svc="my-interview-service-v1.my-app.svc.cluster.local"
svc2="my-interview-service-v2.my-app.svc.cluster.local"
"$bin" run --mesh "$root/examples/canary/mesh.yaml" --egress-port 0 --ingress-port 0 \
  --ingress-address 127.0.0.1 --workers "$workers" \
  --connect-to "$svc:8080:127.0.0.1:$up" --connect-to "$svc2:8080:127.0.0.1:$up" \
  >"$tmp/proxy.log" 2>&1 & pids+=($!)
ep="$(wait_port "$tmp/proxy.log" 'egress listening on 127\.0\.0\.1:[0-9]+')"

summarize() {
  local label="$1" file="$2"
  local rps errs non2xx
  rps="$(grep -oE 'Requests/sec: *[0-9.]+' "$file" | grep -oE '[0-9.]+$')"
  errs="$(grep -oE 'Socket errors: .*' "$file" || echo 'Socket errors: none')"
  non2xx="$(grep -oE 'Non-2xx or 3xx responses: [0-9]+' "$file" || echo 'Non-2xx or 3xx responses: 0')"
  printf '%-8s %10s req/s   %s; %s\n' "$label" "$rps" "$errs" "$non2xx"
}

wrk -t1 -c50 -d10s -H "Host: my-interview-service.my-app:8080" "http://127.0.0.1:$ep/" >"$tmp/proxy.wrk"
wrk -t1 -c50 -d10s "http://127.0.0.1:$up/" >"$tmp/direct.wrk"
summarize proxy "$tmp/proxy.wrk"
summarize direct "$tmp/direct.wrk"
