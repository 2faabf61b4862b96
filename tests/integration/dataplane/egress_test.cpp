// Egress filtering (DECISIONS §3.6/§3.7): DROP_ALL, ALLOW_ALL pass-through, --egress-allow,
// mesh services that are not backends, CONNECT tunnels or 403.
#include <catch2/catch.hpp>

#include "meshes.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;

namespace {

upstream_handler echo_host() {
    return [](const http::request<http::string_body>& req, upstream_reply& r) {
        r.res.body() = std::string(req[http::field::host]) + std::string(req.target());
    };
}

/// node_provider_mesh plus a second service `other.shop` that `web` does not list as backend.
std::string mesh_with_other(const std::string& egress) {
    return node_provider_mesh("LOADBALANCER", "svc.test.local", {}, egress) +
           node_yaml("other-node", "other.test.local", 8080) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: other, namespace: shop}
spec:
  awsName: other.shop
  provider:
    virtualNode:
      virtualNodeRef: {name: other-node}
)";
}

}  // namespace

TEST_CASE("DROP_ALL: a mesh service that is not a backend is unmodelled egress",
          "[integration][egress]") {
    test_upstream up(echo_host());
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("svc.test.local", 8080, up.port()),
                    connect_to("other.test.local", 8080, up.port())};
    proxy_under_test px(mesh_with_other("DROP_ALL"), o);
    const auto r = http_get(px.egress_port(), "other.shop:8080", "/");
    CHECK(r.status == 404);
    CHECK(r.body.find("\"other.shop\"") != std::string::npos);
    CHECK(r.body.find("[NR]") != std::string::npos);
    CHECK(up.requests() == 0);
}

TEST_CASE("ALLOW_ALL: unmodelled requests pass unchanged to their own host and port",
          "[integration][egress]") {
    test_upstream up(echo_host());
    proxy_options o;
    o.node = "web";
    proxy_under_test px(mesh_with_other("ALLOW_ALL"), o);
    const std::string host = "127.0.0.1:" + std::to_string(up.port());
    http_client c(px.egress_port());
    auto r = c.get("/pass?x=1", host);
    CHECK(r.status == 200);
    CHECK(r.body == host + "/pass?x=1");
    // Absolute-form (HTTP_PROXY) too.
    r = c.get("http://" + host + "/abs", "");
    CHECK(r.status == 200);
    CHECK(r.body == host + "/abs");
    CHECK(up.requests() == 2);
}

TEST_CASE("egress allow list: listed hosts pass under DROP_ALL and others get 404",
          "[integration][egress]") {
    test_upstream up(echo_host());
    proxy_options o;
    o.node = "web";
    o.egress_allow = std::vector<std::string>{"*.example.com", "exact.example.org"};
    o.connect_to = {connect_to("api.example.com", 80, up.port()),
                    connect_to("exact.example.org", 80, up.port()),
                    connect_to("api.example.org", 80, up.port())};
    proxy_under_test px(mesh_with_other("DROP_ALL"), o);
    http_client c(px.egress_port());
    CHECK(c.get("/a", "api.example.com").status == 200);
    CHECK(c.get("/b", "exact.example.org").status == 200);
    const auto r = c.get("/c", "api.example.org");
    CHECK(r.status == 404);
    CHECK(r.body.find("no virtual service \"api.example.org\" among this node's backends") == 0);
    CHECK(up.requests() == 2);
}

TEST_CASE("CONNECT: 403 under DROP_ALL and a working tunnel under ALLOW_ALL",
          "[integration][egress][connect]") {
    test_upstream up(echo_host());
    const std::string target = "127.0.0.1:" + std::to_string(up.port());
    {
        proxy_options o;
        o.node = "web";
        proxy_under_test px(mesh_with_other("DROP_ALL"), o);
        const auto out = raw_exchange(px.egress_port(),
                                      "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
        CHECK(out.find("HTTP/1.1 403 Forbidden") == 0);
        CHECK(out.find("CONNECT to \"127.0.0.1:" + std::to_string(up.port()) + "\" refused") !=
              std::string::npos);
        CHECK(out.find("[NR]") != std::string::npos);
    }
    {
        proxy_options o;
        o.node = "web";
        proxy_under_test px(mesh_with_other("ALLOW_ALL"), o);
        raw_connection c(px.egress_port());
        REQUIRE(c.send("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"));
        CHECK(c.read_until("\r\n\r\n").find("HTTP/1.1 200") == 0);
        REQUIRE(c.send("GET /through HTTP/1.1\r\nHost: tunnelled\r\n\r\n"));
        const auto r = c.read_response();
        REQUIRE(r.ok);
        CHECK(r.body == "tunnelled/through");
        // The upstream saw the request exactly as sent: no proxy headers inside a tunnel.
        CHECK(up.last_request().count("x-forwarded-proto") == 0);
    }
}

TEST_CASE("inbound: requests reach the local app on the node listener port",
          "[integration][ingress]") {
    test_upstream app(echo_host());
    const std::string mesh = mesh_header() + node_yaml("me", "me.test.local", app.port());
    proxy_options o;
    o.node = "me";
    proxy_under_test px(mesh, o);
    http_client c(px.ingress_port());
    for (int i = 0; i < 10; ++i) {
        const auto r = c.get("/in", "me.test.local:" + std::to_string(app.port()));
        REQUIRE(r.status == 200);
        CHECK(r.body == "me.test.local:" + std::to_string(app.port()) + "/in");
    }
    CHECK(app.accepts() == 1);  // pooled towards the app as well
    CHECK(app.last_request()["x-forwarded-proto"] == "http");
}

TEST_CASE("inbound: the listener perRequest timeout gives 504 UT", "[integration][ingress]") {
    test_upstream app([](const http::request<http::string_body>&, upstream_reply& r) {
        r.delay = std::chrono::seconds(3);
    });
    const std::string timeout = "      timeout:\n        http:\n          perRequest:\n"
                                "            value: 200\n            unit: ms\n";
    const std::string mesh = mesh_header() + node_yaml("me", "me.test.local", app.port(),
                                                       "LOADBALANCER", {}, timeout);
    proxy_options o;
    o.node = "me";
    proxy_under_test px(mesh, o);
    const auto r = http_get(px.ingress_port(), "me", "/slow");
    CHECK(r.status == 504);
    CHECK(r.body.find("the local app on port " + std::to_string(app.port())) == 0);
    CHECK(r.body.find("[UT]") != std::string::npos);
}

TEST_CASE("inbound: a mesh-wide client has no inbound listener", "[integration][ingress]") {
    proxy_under_test px(node_provider_mesh());
    const auto r = http_get(px.ingress_port(), "x", "/");
    CHECK(r.status == 404);
    CHECK(r.body.find("[NR]") != std::string::npos);
}
