// Connection pool limits of the node's own listener toward the local app (spec §10.12): one
// connection in use, one request pending, the next one overflows with 503 UO and
// `x-envoy-overloaded: true`.
#include <future>

#include <catch2/catch.hpp>

#include "resilience_meshes.hpp"
#include "tests/support/http_client.hpp"

using namespace outrigger::test;

TEST_CASE("ingress pool limits: overflow beyond maxConnections plus maxPendingRequests is 503 UO", "[integration][pool]") {
    test_upstream app([](const http::request<http::string_body>& req, upstream_reply& r) {
        if (req.target() == "/slow") {
            r.delay = std::chrono::seconds(3);
        }
    });
    const std::string listener =
        "      connectionPool:\n        http:\n          maxConnections: 1\n"
        "          maxPendingRequests: 1\n";
    proxy_options o;
    o.node = "shop/n1";
    proxy_under_test px(mesh_header() + node_yaml("n1", "n1.test.local", app.port(), "LOADBALANCER", {}, listener), o);
    const auto port = px.ingress_port();
    auto slow = std::async(std::launch::async, [port] { return http_get(port, "n1.test.local", "/slow"); });
    REQUIRE(eventually([&] { return app.requests() == 1; }));
    // The connection is busy for 3 s: of two more requests, one waits, one overflows.
    auto b = std::async(std::launch::async, [port] { return http_get(port, "n1.test.local", "/b"); });
    auto c = std::async(std::launch::async, [port] { return http_get(port, "n1.test.local", "/c"); });
    const auto rb = b.get();
    const auto rc = c.get();
    CHECK(slow.get().status == 200);
    const bool b_over = rb.status == 503;
    const auto& over = b_over ? rb : rc;
    const auto& waited = b_over ? rc : rb;
    CHECK(over.status == 503);
    CHECK(over.body.find("UO") != std::string::npos);
    CHECK(over.headers["x-envoy-overloaded"] == "true");
    CHECK(waited.status == 200);
    CHECK(app.requests() == 2);
    CHECK(app.accepts() <= 2);  // never more than one connection at a time, maybe reused
}
