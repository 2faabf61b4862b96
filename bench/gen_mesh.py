#!/usr/bin/env python3
"""Generates a large App Mesh for bench/reload_pause.sh (a benchmark input, not a test fixture).

    python3 bench/gen_mesh.py N VARIANT OUT.yaml

N virtual services svc0..svc{N-1} in namespace `bench` (Host `svcI.bench:8080`), each with
  - a VirtualNode svcI-node, DNS discovery svcI.bench.svc.cluster.local:8080,
  - a VirtualRouter svcI-router with one route `/` splitting between svcI-node and
    svc{I+1 mod N}-node: 90/10 in variant `a`, 80/20 in variant `b` (so the two variants differ in
    every route and a reload between them recompiles and republishes everything),
  - a VirtualService svcI provided by that router,
plus the proxy's own node `client` (no listener) with all N virtual services as backends.
"""
import sys


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[2] not in ("a", "b"):
        print(__doc__, file=sys.stderr)
        return 2
    n = int(sys.argv[1])
    w1, w2 = (90, 10) if sys.argv[2] == "a" else (80, 20)
    out = [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: bench, labels: {mesh: bench}}\n",
        "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: {name: bench}\n"
        "spec: {namespaceSelector: {matchLabels: {mesh: bench}}}\n",
    ]
    for i in range(n):
        j = (i + 1) % n
        out.append(
            "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\n"
            f"metadata: {{name: svc{i}-node, namespace: bench}}\n"
            "spec:\n"
            "  listeners: [{portMapping: {port: 8080, protocol: http}}]\n"
            f"  serviceDiscovery: {{dns: {{hostname: svc{i}.bench.svc.cluster.local}}}}\n")
        out.append(
            "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\n"
            f"metadata: {{name: svc{i}-router, namespace: bench}}\n"
            "spec:\n"
            "  listeners: [{portMapping: {port: 8080, protocol: http}}]\n"
            "  routes:\n"
            "    - name: split\n"
            "      httpRoute:\n"
            "        match: {prefix: /}\n"
            "        action:\n"
            "          weightedTargets:\n"
            f"            - {{virtualNodeRef: {{name: svc{i}-node}}, weight: {w1}}}\n"
            f"            - {{virtualNodeRef: {{name: svc{j}-node}}, weight: {w2}}}\n")
        out.append(
            "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\n"
            f"metadata: {{name: svc{i}, namespace: bench}}\n"
            f"spec: {{provider: {{virtualRouter: {{virtualRouterRef: {{name: svc{i}-router}}}}}}}}\n")
    backends = "".join(
        f"    - virtualService: {{virtualServiceRef: {{name: svc{i}}}}}\n" for i in range(n))
    out.append(
        "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\n"
        "metadata: {name: client, namespace: bench}\n"
        "spec:\n"
        "  serviceDiscovery: {dns: {hostname: client.bench.svc.cluster.local}}\n"
        "  backends:\n" + backends)
    with open(sys.argv[3], "w", encoding="utf-8") as f:
        f.write("---\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
