// Endpoint discovery: ENDPOINTS round robin over every address, LOADBALANCER = first address,
// the real Asio resolver with `localhost`.
#include <catch2/catch.hpp>

#include "meshes.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;

namespace {

/// An upstream on 127.0.0.1 and 127.0.0.2 (same port) and a resolver hook answering
/// `multi.test.local` with both.
proxy_options two_address_options() {
    proxy_options o;
    o.node = "web";
    o.resolve = [](std::string_view host, std::vector<boost::asio::ip::address>& out) {
        if (host != "multi.test.local") {
            return false;
        }
        out = {boost::asio::ip::make_address("127.0.0.1"), boost::asio::ip::make_address("127.0.0.2")};
        return true;
    };
    return o;
}

std::string mesh_on(const std::string& response_type, const std::string& hostname, std::uint16_t port) {
    return mesh_header() + node_yaml("svc-node", hostname, port, response_type) +
           node_yaml("web", "web.test.local", 8080, "LOADBALANCER", {"svc"}) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: svc, namespace: shop}
spec:
  awsName: svc.shop
  provider:
    virtualNode:
      virtualNodeRef: {name: svc-node}
)";
}

}  // namespace

TEST_CASE("ENDPOINTS: every resolved address gets traffic in round robin", "[integration][endpoints]") {
    test_upstream up({}, {"127.0.0.1", "127.0.0.2"});
    proxy_under_test px(mesh_on("ENDPOINTS", "multi.test.local", up.port()), two_address_options());
    http_client c(px.egress_port());
    for (int i = 0; i < 10; ++i) {
        REQUIRE(c.get("/", "svc.shop").status == 200);
    }
    CHECK(up.accepts_on("127.0.0.1") == 1);
    CHECK(up.accepts_on("127.0.0.2") == 1);
    CHECK(up.requests() == 10);
}

TEST_CASE("LOADBALANCER: only the first address is used", "[integration][endpoints]") {
    test_upstream up({}, {"127.0.0.1", "127.0.0.2"});
    proxy_under_test px(mesh_on("LOADBALANCER", "multi.test.local", up.port()), two_address_options());
    http_client c(px.egress_port());
    for (int i = 0; i < 10; ++i) {
        REQUIRE(c.get("/", "svc.shop").status == 200);
    }
    CHECK(up.accepts_on("127.0.0.1") == 1);
    CHECK(up.accepts_on("127.0.0.2") == 0);
}

TEST_CASE("DNS: the real resolver resolves localhost", "[integration][endpoints]") {
    test_upstream up;
    proxy_options o;
    o.node = "web";
    proxy_under_test px(mesh_on("LOADBALANCER", "localhost", up.port()), o);
    const auto r = http_get(px.egress_port(), "svc.shop", "/");
    CHECK(r.status == 200);
    CHECK(up.requests() == 1);
}

TEST_CASE("connect-to overrides: discovery's HOST:PORT is replaced",
          "[integration][endpoints]") {
    test_upstream up;
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("svc.test.local", 8080, up.port())};
    proxy_under_test px(mesh_on("LOADBALANCER", "svc.test.local", 8080), o);
    CHECK(http_get(px.egress_port(), "svc.shop:8080", "/").status == 200);
    CHECK(up.requests() == 1);
}
