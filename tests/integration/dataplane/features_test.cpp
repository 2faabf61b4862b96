// Route retry policies with per-try timeouts, ambiguous ports, several inbound listeners, the
// snapshot publication seam, the access log.
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "meshes.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;

namespace {

std::string routed_mesh(const std::string& route_extra, const std::string& router_listeners =
                                                           "    - portMapping: {port: 8080, protocol: http}\n") {
    return mesh_header() + node_yaml("n1", "n1.test.local", 8080) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners:
)" + router_listeners + R"(  routes:
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
metadata: {name: rs, namespace: shop}
spec:
  awsName: rs.shop
  provider:
    virtualRouter:
      virtualRouterRef: {name: r}
)";
}

}  // namespace

TEST_CASE("route retryPolicy: a per-try timeout is retried and then succeeds", "[integration][retry]") {
    std::atomic<int> seen{0};
    test_upstream up([&](const http::request<http::string_body>&, upstream_reply& r) {
        if (++seen == 1) {
            r.delay = std::chrono::seconds(3);
        }
        r.res.body() = "attempt " + std::to_string(seen.load());
    });
    const std::string retry = "        retryPolicy:\n          maxRetries: 1\n"
                              "          perRetryTimeout: {value: 200, unit: ms}\n"
                              "          httpRetryEvents: [server-error]\n";
    proxy_options o;
    o.connect_to = {connect_to("n1.test.local", 8080, up.port())};
    proxy_under_test px(routed_mesh(retry), o);
    const auto start = std::chrono::steady_clock::now();
    const auto r = http_get(px.egress_port(), "rs.shop:8080", "/");
    CHECK(r.status == 200);
    CHECK(r.body == "attempt 2");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    CHECK(up.requests() == 2);
}

TEST_CASE("route retryPolicy: maxRetries 0 disables the default policy", "[integration][retry]") {
    test_upstream up([](const http::request<http::string_body>&, upstream_reply& r) {
        r.res.result(http::status::service_unavailable);
    });
    const std::string retry = "        retryPolicy:\n          maxRetries: 0\n"
                              "          perRetryTimeout: {value: 1, unit: s}\n"
                              "          httpRetryEvents: [server-error]\n";
    proxy_options o;
    o.connect_to = {connect_to("n1.test.local", 8080, up.port())};
    proxy_under_test px(routed_mesh(retry), o);
    CHECK(http_get(px.egress_port(), "rs.shop:8080", "/").status == 503);
    CHECK(up.requests() == 1);
}

TEST_CASE("ambiguous port: no port named and the router has two listeners", "[integration][reply]") {
    test_upstream up;
    proxy_options o;
    o.connect_to = {connect_to("n1.test.local", 8080, up.port())};
    std::string mesh = routed_mesh("", "    - portMapping: {port: 8080, protocol: http}\n"
                                       "    - portMapping: {port: 9090, protocol: http}\n");
    mesh.replace(mesh.find("match: {prefix: /}"), 18, "match: {prefix: /, port: 8080}");
    mesh.insert(mesh.find("---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService"),
                "    - name: other\n      httpRoute:\n        match: {prefix: /, port: 9090}\n"
                "        action:\n          weightedTargets:\n            - virtualNodeRef: {name: n1}\n"
                "              port: 8080\n              weight: 1\n");
    proxy_under_test px(mesh, o);
    const auto r = http_get(px.egress_port(), "rs.shop", "/");
    CHECK(r.status == 404);
    CHECK(r.body.find("8080, 9090") != std::string::npos);
    CHECK(r.body.find("[NR]") != std::string::npos);
    CHECK(http_get(px.egress_port(), "rs.shop:8080", "/").status == 200);
}

TEST_CASE("inbound: with several listeners the Host port picks the app port", "[integration][ingress]") {
    test_upstream a([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "a"; });
    test_upstream b([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "b"; });
    std::string mesh = mesh_header() + node_yaml("me", "me.test.local", a.port());
    const std::string first = "        protocol: http\n";
    mesh.insert(mesh.find(first) + first.size(),
                "    - portMapping:\n        port: " + std::to_string(b.port()) + "\n        protocol: http\n");
    proxy_options o;
    o.node = "me";
    proxy_under_test px(mesh, o);
    CHECK(http_get(px.ingress_port(), "me:" + std::to_string(a.port()), "/").body == "a");
    CHECK(http_get(px.ingress_port(), "me:" + std::to_string(b.port()), "/").body == "b");
    const auto r = http_get(px.ingress_port(), "me", "/");
    CHECK(r.status == 404);
    CHECK(r.body.find("has no listener on port") != std::string::npos);
}

TEST_CASE("snapshot_store: a published snapshot reaches every worker", "[integration][reload]") {
    test_upstream v1([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v1"; });
    test_upstream v2([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v2"; });
    proxy_options o;
    o.node = "web";
    o.workers = 2;
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port()),
                    connect_to("checkout-v2.test.local", 8080, v2.port())};
    std::string all_v2 = canary_mesh();
    all_v2.replace(all_v2.find("weight: 90"), 10, "weight: 0");
    all_v2.replace(all_v2.find("weight: 10"), 10, "weight: 1");
    proxy_under_test px(canary_mesh(), o);
    px.server().store().publish(compile_mesh(all_v2, o));
    // Publication is posted to the workers: new connections see it once their worker ran the
    // post. Every request below opens a fresh connection; wait (bounded) for 20 v2 in a row.
    int in_a_row = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (in_a_row < 20 && std::chrono::steady_clock::now() < deadline) {
        const auto r = http_get(px.egress_port(), "checkout.shop.svc.cluster.local:8080", "/");
        in_a_row = r.body == "v2" ? in_a_row + 1 : 0;
    }
    CHECK(in_a_row == 20);
}

TEST_CASE("access log: one line per request", "[integration][ops]") {
    test_upstream up;
    char tmpl[] = "/tmp/outrigger-access-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    proxy_options o;
    o.node = "web";
    o.access_log_path = tmpl;
    o.connect_to = {connect_to("svc.test.local", 8080, up.port())};
    {
        proxy_under_test px(node_provider_mesh(), o);
        http_client c(px.egress_port());
        CHECK(c.get("/logged", "svc.shop:8080").status == 200);
        CHECK(c.get("/x", "nowhere.shop:8080").status == 404);
        // The session writes a request's line before it reads the next head, so after this
        // third answer both earlier lines are in the file.
        CHECK(c.get("/third", "svc.shop:8080").status == 200);
    }
    std::ifstream f(tmpl);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string log = ss.str();
    INFO(log);
    CHECK(log.find("\"GET /logged HTTP/1.1\" 200 - ") != std::string::npos);
    CHECK(log.find("\"GET /x HTTP/1.1\" 404 NR ") != std::string::npos);
    CHECK(log.find("\"svc.shop:8080\" \"127.0.0.1:" + std::to_string(up.port()) + "\"") !=
          std::string::npos);
    ::unlink(tmpl);
}
