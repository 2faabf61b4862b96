#!/usr/bin/env bash
# Two sidecars with mutual TLS between them, locally:
#   curl → web sidecar (egress, originates mTLS) → ledger sidecar (ingress, STRICT mTLS) → ledger app
# Makes a throw-away PKI with scripts/gen-test-certs.sh, starts a demo upstream as the ledger app,
# both sidecars, sends one request and prints the curl line to try more; Ctrl-C stops everything.
#
# Usage: examples/mtls/run.sh [path/to/outrigger]   (default: build/outrigger)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$root/build/outrigger}"
[ -x "$bin" ] || { echo "mtls: no outrigger binary at $bin (build it first or pass its path)" >&2; exit 2; }
bin="$(realpath "$bin")"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

wait_port() {  # FILE REGEX: prints the port at the end of the first match (10 s deadline)
  local file="$1" regex="$2"
  for _ in $(seq 1 100); do
    if grep -qE "$regex" "$file" 2>/dev/null; then
      grep -oE "$regex" "$file" | head -1 | grep -oE '[0-9]+$'; return 0
    fi
    sleep 0.1
  done
  echo "mtls: timed out waiting for $file" >&2; cat "$file" >&2; return 1
}

bash "$root/scripts/gen-test-certs.sh" "$work/certs"
cd "$work"   # the mesh's certificate paths are relative: certs/...

"$bin" demo-upstream --port 0 --name ledger >"$work/app.log" 2>&1 & pids+=($!)
app="$(wait_port "$work/app.log" 'listening on 127\.0\.0\.1:[0-9]+')"
sed "s/9443/$app/g" "$root/examples/mtls/mesh.yaml" >"$work/mesh.yaml"

"$bin" run --mesh "$work/mesh.yaml" --node shop/ledger --egress-port 0 --ingress-port 0 \
  --ingress-address 127.0.0.1 --workers 1 >"$work/ledger.log" 2>&1 & pids+=($!)
ledger_in="$(wait_port "$work/ledger.log" 'ingress listening on 127\.0\.0\.1:[0-9]+')"

"$bin" run --mesh "$work/mesh.yaml" --node shop/web --egress-port 0 --ingress-port 0 \
  --ingress-address 127.0.0.1 --workers 1 \
  --connect-to "a.shop.svc.cluster.local:$app:127.0.0.1:$ledger_in" >"$work/web.log" 2>&1 & pids+=($!)
web_out="$(wait_port "$work/web.log" 'egress listening on 127\.0\.0\.1:[0-9]+')"

echo "mtls: ledger app on 127.0.0.1:$app, ledger sidecar ingress (STRICT mTLS) on 127.0.0.1:$ledger_in,"
echo "      web sidecar egress on 127.0.0.1:$web_out"
echo "mtls: through both sidecars:"
curl -sS -H "Host: ledger.shop.svc.cluster.local:$app" "http://127.0.0.1:$web_out/"
echo "mtls: plaintext straight to the STRICT ledger sidecar is refused:"
curl -sS -m 5 -H "Host: ledger.shop.svc.cluster.local" "http://127.0.0.1:$ledger_in/" || true
echo "mtls: curl with the web client certificate straight to the ledger sidecar:"
curl -sS --cacert certs/ca.pem --cert certs/client-web.pem --key certs/client-web.key \
  --resolve "a.shop.svc.cluster.local:$ledger_in:127.0.0.1" "https://a.shop.svc.cluster.local:$ledger_in/"
echo
echo "Try it yourself (Ctrl-C stops everything):"
echo "  curl -H 'Host: ledger.shop.svc.cluster.local:$app' http://127.0.0.1:$web_out/"
wait
