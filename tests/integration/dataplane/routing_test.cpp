// Routing through the real proxy: the 90/10 canary and the header/method/query/path routes of
// spec §11.2.
#include <catch2/catch.hpp>

#include "meshes.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;

namespace {

upstream_handler named(const std::string& name) {
    return [name](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = name; };
}

}  // namespace

TEST_CASE("canary: 10000 requests split 90/10 within 2 points", "[integration][routing]") {
    test_upstream v1(named("v1"));
    test_upstream v2(named("v2"));
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port()),
                    connect_to("checkout-v2.test.local", 8080, v2.port())};
    proxy_under_test px(canary_mesh(), o);
    http_client c(px.egress_port());
    int n1 = 0;
    int n2 = 0;
    for (int i = 0; i < 10000; ++i) {
        const auto r = c.get("/x", "checkout.shop.svc.cluster.local:8080");
        REQUIRE(r.ok);
        REQUIRE(r.status == 200);
        (r.body == "v1" ? n1 : n2)++;
    }
    CHECK(n1 + n2 == 10000);
    CHECK(n1 >= 8800);
    CHECK(n1 <= 9200);
    CHECK(v1.requests() == n1);
    CHECK(v2.requests() == n2);
    // Keep-alive end to end: one downstream connection, at most one upstream connection each.
    CHECK(v1.accepts() == 1);
    CHECK(v2.accepts() == 1);
}

TEST_CASE("canary: a short name and a wrong host are not routed", "[integration][routing]") {
    test_upstream v1(named("v1"));
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port()),
                    connect_to("checkout-v2.test.local", 8080, v1.port())};
    proxy_under_test px(canary_mesh(), o);
    const auto r = http_get(px.egress_port(), "checkout:8080", "/");
    CHECK(r.status == 404);
    CHECK(r.body.find("no virtual service \"checkout\" among this node's backends on port 8080") == 0);
    CHECK(r.body.find("[NR]") != std::string::npos);
    const auto typo = http_get(px.egress_port(), "checkout.shop.svc.cluster.locl:8080", "/");
    CHECK(typo.status == 404);
    CHECK(typo.body.find("did you mean \"checkout.shop.svc.cluster.local\"?) [NR]") != std::string::npos);
    CHECK(v1.requests() == 0);
}

namespace {

std::string catalog_mesh() {
    return mesh_header() + node_yaml("catalog-v1", "catalog-v1.test.local", 9000) +
           node_yaml("catalog-v2", "catalog-v2.test.local", 9000) +
           node_yaml("catalog-mobile", "catalog-mobile.test.local", 9000) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: catalog
  namespace: shop
spec:
  listeners:
    - portMapping: {port: 9000, protocol: http}
  routes:
    - name: beta-testers
      priority: 0
      httpRoute:
        match:
          prefix: /
          headers:
            - name: x-user-group
              match: {exact: beta}
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-v2}
              weight: 1
    - name: mobile-clients
      priority: 10
      httpRoute:
        match:
          prefix: /api/
          headers:
            - name: user-agent
              match: {regex: ".*(Android|iPhone).*"}
            - name: x-internal-test
              invert: true
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-mobile}
              weight: 1
    - name: exact-health
      priority: 20
      httpRoute:
        match:
          path: {exact: /healthz}
          method: GET
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-v1}
              weight: 1
    - name: preview-query
      priority: 30
      httpRoute:
        match:
          prefix: /items
          queryParameters:
            - name: preview
              match: {exact: "true"}
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-v2}
              weight: 1
    - name: default
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-v1}
              weight: 1
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: catalog
  namespace: shop
spec:
  awsName: catalog.shop.svc.cluster.local
  provider:
    virtualRouter:
      virtualRouterRef: {name: catalog}
)";
}

}  // namespace

TEST_CASE("spec 11.2: header and method and query and path routes", "[integration][routing]") {
    test_upstream v1(named("v1"));
    test_upstream v2(named("v2"));
    test_upstream mobile(named("mobile"));
    proxy_options o;
    o.connect_to = {connect_to("catalog-v1.test.local", 9000, v1.port()),
                    connect_to("catalog-v2.test.local", 9000, v2.port()),
                    connect_to("catalog-mobile.test.local", 9000, mobile.port())};
    proxy_under_test px(catalog_mesh(), o);
    http_client c(px.egress_port());
    const std::string host = "catalog.shop.svc.cluster.local:9000";
    auto body_of = [&](http::verb m, const std::string& target, const header_list& h = {}) {
        const auto r = c.request(m, target, host, h);
        REQUIRE(r.ok);
        CHECK(r.status == 200);
        return r.body;
    };
    CHECK(body_of(http::verb::get, "/anything", {{"x-user-group", "beta"}}) == "v2");
    CHECK(body_of(http::verb::get, "/api/list", {{"User-Agent", "Mozilla (iPhone)"}}) == "mobile");
    CHECK(body_of(http::verb::get, "/api/list",
                  {{"User-Agent", "Mozilla (iPhone)"}, {"x-internal-test", "1"}}) == "v1");
    CHECK(body_of(http::verb::get, "/api/list", {{"User-Agent", "curl"}}) == "v1");
    CHECK(body_of(http::verb::get, "/healthz") == "v1");
    CHECK(body_of(http::verb::post, "/healthz") == "v1");  // falls to default
    CHECK(body_of(http::verb::get, "/items?preview=true") == "v2");
    CHECK(body_of(http::verb::get, "/items?preview=false") == "v1");
    CHECK(body_of(http::verb::get, "/x/../items?preview=true") == "v2");  // normalised path
    CHECK(mobile.requests() == 1);
    // Absolute-form (HTTP_PROXY style) routes the same way and reaches the upstream in origin-form.
    const auto r = c.get("http://" + host + "/items?preview=true", "");
    CHECK(r.body == "v2");
    CHECK(v2.last_request().target() == "/items?preview=true");
    CHECK(v2.last_request()[http::field::host] == host);
}
