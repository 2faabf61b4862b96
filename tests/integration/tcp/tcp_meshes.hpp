#pragma once
// Meshes of the TCP tests, shaped like the yelb application of the App Mesh walkthroughs: a
// redis behind a virtual router with a tcpRoute (v1/v2), a client node (the app server) that has
// it as a backend, and a node with an inbound tcp listener (TLS, connection pool) in front of a
// local redis.
#include <string>

namespace outrigger::test::tcp {

struct yelb_options {
    std::string egress = "DROP_ALL";
    int weight_v1 = 50;
    int weight_v2 = 50;
    std::string route_extra;      // under tcpRoute (e.g. a timeout block)
    std::string v1_listener_extra;  // under redis-v1's listener (e.g. outlierDetection)
    std::string v1_response_type = "LOADBALANCER";
    std::string client_extra;     // under the client node's spec (e.g. backendDefaults)
    // The inbound node (redis-secure) listens on this port (the real redis port: the app).
    int secure_port = 6380;
    std::string secure_listener_extra;  // tls / connectionPool / timeout of that listener
};

inline std::string yelb_mesh(const yelb_options& o = {}) {
    const auto node = [](const std::string& name, int port, const std::string& listener_extra,
                         const std::string& response_type, const std::string& tail) {
        return "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: " +
               name + "\n  namespace: yelb\nspec:\n  podSelector:\n    matchLabels:\n      app: " + name +
               "\n  listeners:\n    - portMapping:\n        port: " + std::to_string(port) +
               "\n        protocol: tcp\n" + listener_extra +
               "  serviceDiscovery:\n    dns:\n      hostname: " + name +
               ".yelb.svc.cluster.local\n      responseType: " + response_type + "\n" + tail;
    };
    std::string y = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: yelb\n  labels:\n    mesh: yelb\n"
                    "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata:\n  name: yelb\n"
                    "spec:\n  namespaceSelector:\n    matchLabels:\n      mesh: yelb\n"
                    "  egressFilter:\n    type: " + o.egress + "\n";
    y += node("redis-v1", 6379, o.v1_listener_extra, o.v1_response_type, "");
    y += node("redis-v2", 6379, "", "LOADBALANCER", "");
    y += node("redis-secure", o.secure_port, o.secure_listener_extra, "LOADBALANCER",
              "  backends:\n    - virtualService:\n        virtualServiceRef:\n          name: "
              "redis-server.yelb.svc.cluster.local\n");
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: yelb-appserver\n"
         "  namespace: yelb\nspec:\n  podSelector:\n    matchLabels:\n      app: yelb-appserver\n"
         "  listeners:\n    - portMapping:\n        port: 4567\n        protocol: http\n"
         "  serviceDiscovery:\n    dns:\n      hostname: yelb-appserver.yelb.svc.cluster.local\n"
         "  backends:\n    - virtualService:\n        virtualServiceRef:\n          name: "
         "redis-server.yelb.svc.cluster.local\n"
         "    - virtualService:\n        virtualServiceRef:\n          name: "
         "redis-secure.yelb.svc.cluster.local\n" + o.client_extra;
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\nmetadata:\n  name: redis-router\n"
         "  namespace: yelb\nspec:\n  listeners:\n    - portMapping:\n        port: 6379\n"
         "        protocol: tcp\n  routes:\n    - name: redis-split\n      tcpRoute:\n"
         "        action:\n          weightedTargets:\n"
         "            - virtualNodeRef:\n                name: redis-v1\n              weight: " +
         std::to_string(o.weight_v1) +
         "\n            - virtualNodeRef:\n                name: redis-v2\n              weight: " +
         std::to_string(o.weight_v2) + "\n" + o.route_extra;
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata:\n"
         "  name: redis-server.yelb.svc.cluster.local\n  namespace: yelb\nspec:\n"
         "  awsName: redis-server.yelb.svc.cluster.local\n  provider:\n    virtualRouter:\n"
         "      virtualRouterRef:\n        name: redis-router\n";
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata:\n"
         "  name: redis-secure.yelb.svc.cluster.local\n  namespace: yelb\nspec:\n"
         "  awsName: redis-secure.yelb.svc.cluster.local\n  provider:\n    virtualNode:\n"
         "      virtualNodeRef:\n        name: redis-secure\n";
    return y;
}

}  // namespace outrigger::test::tcp
