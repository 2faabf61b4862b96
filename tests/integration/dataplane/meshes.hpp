#pragma once
// Mesh YAML used by the data-path tests. Node hostnames are `*.test.local`, mapped with
// --connect-to onto in-process upstreams.

#include <string>

#include "tests/support/proxy_under_test.hpp"

namespace outrigger::test {

/// checkout (router, 90/10 over checkout-v1/-v2 on 8080); client node `web` with backend checkout.
inline std::string canary_mesh(const std::string& egress = "DROP_ALL") {
    return mesh_header(egress) + node_yaml("checkout-v1", "checkout-v1.test.local", 8080) +
           node_yaml("checkout-v2", "checkout-v2.test.local", 8080) +
           node_yaml("web", "web.test.local", 8080, "LOADBALANCER", {"checkout"}) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: checkout
  namespace: shop
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  routes:
    - name: canary
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: checkout-v1}
              weight: 90
            - virtualNodeRef: {name: checkout-v2}
              weight: 10
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: checkout
  namespace: shop
spec:
  awsName: checkout.shop.svc.cluster.local
  provider:
    virtualRouter:
      virtualRouterRef: {name: checkout}
)";
}

/// A virtual service `svc.shop` provided directly by node `svc-node` (port 8080), plus `web`
/// with it as backend. `timeout` is put in the provider listener (e.g. perRequest).
inline std::string node_provider_mesh(const std::string& response_type = "LOADBALANCER",
                                      const std::string& hostname = "svc.test.local",
                                      const std::string& listener_extra = {},
                                      const std::string& egress = "DROP_ALL") {
    return mesh_header(egress) +
           node_yaml("svc-node", hostname, 8080, response_type, {}, listener_extra) +
           node_yaml("web", "web.test.local", 8080, "LOADBALANCER", {"svc"}) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: svc
  namespace: shop
spec:
  awsName: svc.shop
  provider:
    virtualNode:
      virtualNodeRef: {name: svc-node}
)";
}

}  // namespace outrigger::test
