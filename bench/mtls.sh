#!/usr/bin/env bash
# mTLS cost benchmark (not a test): wrk -t1 -c50 through a client sidecar → server sidecar →
# demo upstream, once with the examples/mtls mesh (mTLS on the sidecar-to-sidecar hop, STRICT) and
# once with the same mesh with TLS removed (plaintext), and prints both req/s and their ratio.
# wrk itself talks plaintext to the client sidecar (the app → sidecar hop is plaintext in App Mesh
# too); "mTLS on both hops" here means both proxies do TLS work: origination and termination.
#
# Usage: bench/mtls.sh [path/to/outrigger] [seconds]   (use a Release build for real numbers)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/build/outrigger}"
secs="${2:-10}"
[ -x "$bin" ] || { echo "mtls-bench: no outrigger binary at $bin" >&2; exit 2; }
bin="$(realpath "$bin")"
command -v wrk >/dev/null || { echo "mtls-bench: wrk is not installed" >&2; exit 2; }
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
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
  echo "mtls-bench: timed out waiting for $file" >&2; cat "$file" >&2; return 1
}

bash "$root/scripts/gen-test-certs.sh" "$work/certs"
cd "$work"
"$bin" demo-upstream --port 0 --name ledger >"$work/app.log" 2>&1 & pids+=($!)
app="$(wait_port "$work/app.log" 'listening on 127\.0\.0\.1:[0-9]+')"
sed "s/9443/$app/g" "$root/examples/mtls/mesh.yaml" >"$work/mtls.yaml"
# Plaintext variant: drop the listener `tls:` block and the client policy (python: YAML-aware).
python3 - "$work/mtls.yaml" "$work/plain.yaml" <<'PY'
import sys, re
text = open(sys.argv[1]).read()
text = re.sub(r"\n      tls:\n(?:        .*\n)+", "\n", text)
text = re.sub(r"\n  backendDefaults:\n(?:    .*\n)+", "\n", text)
open(sys.argv[2], "w").write(text)
PY

run_pair() {  # MESH LABEL → prints req/s
  local mesh="$1" label="$2"
  "$bin" run --mesh "$mesh" --node shop/ledger --egress-port 0 --ingress-port 0 \
    --ingress-address 127.0.0.1 --workers 1 --log-level error >"$work/$label-ledger.log" 2>&1 & pids+=($!)
  local lp="$!"
  local ledger_in
  ledger_in="$(wait_port "$work/$label-ledger.log" 'ingress listening on 127\.0\.0\.1:[0-9]+')"
  "$bin" run --mesh "$mesh" --node shop/web --egress-port 0 --ingress-port 0 \
    --ingress-address 127.0.0.1 --workers 1 --log-level error \
    --connect-to "a.shop.svc.cluster.local:$app:127.0.0.1:$ledger_in" >"$work/$label-web.log" 2>&1 & pids+=($!)
  local wp="$!"
  local web_out
  web_out="$(wait_port "$work/$label-web.log" 'egress listening on 127\.0\.0\.1:[0-9]+')"
  curl -sf -H "Host: ledger.shop.svc.cluster.local:$app" "http://127.0.0.1:$web_out/" >/dev/null \
    || { echo "mtls-bench: $label setup does not answer" >&2; exit 1; }
  wrk -t1 -c50 -d"${secs}s" -H "Host: ledger.shop.svc.cluster.local:$app" \
    "http://127.0.0.1:$web_out/" >"$work/$label.wrk"
  kill "$lp" "$wp" 2>/dev/null || true
  grep -oE 'Requests/sec: *[0-9.]+' "$work/$label.wrk" | grep -oE '[0-9.]+$'
}

plain="$(run_pair "$work/plain.yaml" plain)"
mtls="$(run_pair "$work/mtls.yaml" mtls)"
for l in plain mtls; do
  errs="$(grep -oE 'Socket errors: .*|Non-2xx or 3xx responses: [0-9]+' "$work/$l.wrk" | tr '\n' ' ' || true)"
  printf '%-6s %10s req/s  %s\n' "$l" "$( [ "$l" = plain ] && echo "$plain" || echo "$mtls")" "${errs:-no errors}"
done
python3 -c "print(f'ratio mtls/plaintext: {float($mtls)/float($plain):.3f}')"
