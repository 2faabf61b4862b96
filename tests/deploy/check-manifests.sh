#!/usr/bin/env bash
# Checks deploy/kubernetes/ without a cluster:
#  - the ConfigMap's mesh.yaml is byte for byte examples/canary/mesh.yaml, and validates;
#  - each pod's node (APPMESH_VIRTUAL_NODE_NAME) exists in that mesh (`outrigger validate --node`);
#  - every sidecar runs as UID 1337 with --transparent, every app as another UID, every pod has
#    the NET_ADMIN init container and the /ready probe.
#   tests/deploy/check-manifests.sh [OUTRIGGER_BINARY]
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$src/build/outrigger}"
dir="$src/deploy/kubernetes"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "check-manifests: $*"; fail=1; }

# The block scalar under `mesh.yaml: |`, de-indented by 4.
awk '/^  mesh.yaml: \|/{on=1; next} on && /^[^ ]/{on=0} on{sub(/^    /, ""); print}' \
  "$dir/10-mesh-configmap.yaml" > "$tmp/mesh.yaml"
if ! diff -u "$src/examples/canary/mesh.yaml" "$tmp/mesh.yaml" > "$tmp/diff"; then
  bad "the ConfigMap's mesh.yaml differs from examples/canary/mesh.yaml:"; cat "$tmp/diff"
fi
"$bin" validate "$tmp/mesh.yaml" >/dev/null || bad "the ConfigMap's mesh does not validate"

pods=0
for f in "$dir"/*.yaml; do
  grep -q '^kind: Deployment' "$f" || continue
  pods=$((pods + 1))
  name="$(basename "$f")"
  node="$(grep -A1 'name: APPMESH_VIRTUAL_NODE_NAME' "$f" | sed -n 's/.*value: //p' || true)"
  if [ -n "$node" ]; then
    "$bin" validate --node "$node" "$tmp/mesh.yaml" >/dev/null 2>&1 || bad "$name: node $node not in the mesh"
  fi
  grep -q 'NET_ADMIN' "$f" || bad "$name: no NET_ADMIN init container"
  grep -q 'iptables-init\|outrigger-init' "$f" || bad "$name: no iptables init container"
  grep -q '"--transparent"' "$f" || bad "$name: sidecar not in transparent mode"
  grep -q 'runAsUser: 1337' "$f" || bad "$name: sidecar not UID 1337"
  [ "$(grep -c 'runAsUser: 1337' "$f")" -eq 1 ] || bad "$name: more than one container runs as UID 1337"
  grep -q "GET /ready" "$f" || bad "$name: no readiness on /ready"
  grep -q "drain_listeners" "$f" || bad "$name: no preStop drain"
done
[ "$pods" -eq 3 ] || bad "expected 3 Deployments (v1, v2, client), found $pods"
[ "$fail" -eq 0 ] || exit 1
echo "check-manifests: ConfigMap = examples/canary/mesh.yaml, $pods Deployments ok"
