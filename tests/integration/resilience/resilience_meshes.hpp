#pragma once
// Meshes and helpers shared by the resilience tests: one virtual service `svc.shop` routed by
// router `r` (one route `main`, prefix /) to node `n1` (DNS n1.test.local:8080), with extra YAML
// for the route (retryPolicy, timeout) and the node listener (outlierDetection, healthCheck,
// connectionPool). Two upstreams become two ENDPOINTS through two --connect-to rules.

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

namespace outrigger::test {

inline std::string routed_service(const std::string& route_extra,
                                  const std::string& listener_extra = {},
                                  const std::string& response_type = "LOADBALANCER") {
    return mesh_header() + node_yaml("n1", "n1.test.local", 8080, response_type, {}, listener_extra) +
           R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  routes:
    - name: main
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: n1}
              port: 8080
              weight: 1
)" + route_extra + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: svc, namespace: shop}
spec:
  awsName: svc.shop
  provider:
    virtualRouter:
      virtualRouterRef: {name: r}
)";
}

inline std::string retry_yaml(int max_retries, const std::string& http_events,
                              const std::string& extra = {}) {
    return "        retryPolicy:\n          maxRetries: " + std::to_string(max_retries) +
           "\n          perRetryTimeout: {value: 5, unit: s}\n" +
           (http_events.empty() ? std::string() : "          httpRetryEvents: [" + http_events + "]\n") +
           extra;
}

inline std::string per_request_yaml(int ms) {
    return "        timeout:\n          perRequest: {value: " + std::to_string(ms) + ", unit: ms}\n";
}

/// Options with --connect-to n1.test.local:8080 → each of `ports` (one port: LOADBALANCER-style
/// single endpoint; several: a static endpoint list).
inline proxy_options to_ports(std::vector<std::uint16_t> ports, proxy_options o = {}) {
    for (auto p : ports) {
        o.connect_to.push_back(connect_to("n1.test.local", 8080, p));
    }
    return o;
}

/// A port nothing listens on (bound, then closed): connections are refused.
std::uint16_t refused_port();

/// Polls `pred` every 10 ms until it is true or `timeout` passes.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling, not synchronising
    }
    return pred();
}

}  // namespace outrigger::test
