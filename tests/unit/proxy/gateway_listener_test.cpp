// proxy/gateway_listener.hpp: the pure half of a gateway listener's request step (health-check
// answer, routing, upstream target, reply sentences, protocol warnings) and the published
// snapshot's ownership of the gateway table (routing::published_snapshot).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proxy/gateway_listener.hpp"
#include "routing/gateway.hpp"
#include "routing/gateway_compile.hpp"

using namespace outrigger;

namespace {

const std::string corpus_dir = OUTRIGGER_CORPUS_DIR;

std::shared_ptr<const routing::gateway_snapshot> corpus_gateway(const std::string& file) {
    routing::load_options lo;
    lo.paths.push_back(corpus_dir + "/" + file);
    lo.gateway = "ingress-gw";
    routing::mesh_input in;
    routing::diagnostics diags;
    auto gw = routing::load_and_compile_gateway(lo, in, diags);
    REQUIRE(gw != nullptr);
    return gw;
}

routing::gateway_listener_entry listener_with_check(const std::string& protocol) {
    routing::gateway_listener_entry l;
    l.port = 8088;
    l.display = "gateway listener 8088 (http)";
    routing::health_check hc;
    hc.protocol = protocol;
    hc.path = "/healthz";
    l.health_check = hc;
    return l;
}

}  // namespace

TEST_CASE("gateway listener: the published snapshot is the outbound side and owns the gateway",
          "[unit][gateway]") {
    auto gw = corpus_gateway("howto-k8s-ingress-gateway_v1beta2_manifest.yaml");
    const routing::gateway_snapshot* raw = gw.get();
    auto snap = routing::published_snapshot(gw);
    REQUIRE(snap != nullptr);
    CHECK(snap.get() == raw->outbound.get());
    CHECK(snap->gateway == raw);
    gw.reset();  // the snapshot alone keeps the gateway table alive
    CHECK(snap->gateway->gateway_name == "howto-app/ingress-gw");
    CHECK(snap->gateway->outbound.get() == snap.get());
    CHECK(routing::published_snapshot(nullptr) == nullptr);
}

TEST_CASE("gateway listener: routing step (routed, no route, removed listener) and sentences",
          "[unit][gateway]") {
    const auto gw = corpus_gateway("howto-k8s-ingress-gateway_v1beta2_manifest.yaml");
    routing::request_view v;
    v.method = "GET";
    v.path = "/paths/blue";
    v.host = "gw.example.com";
    routing::gateway_rewrite rw;
    const auto routed = proxy::gateway_route_request(*gw, 8088, v, 0, rw);
    REQUIRE(routed.kind == proxy::gateway_step::kind_t::routed);
    CHECK(routed.route->name == "howto-app/gateway-route-paths");
    CHECK(routed.outbound.outcome == routing::route_decision::outcome_t::routed);
    CHECK(rw.path == "/blue");
    CHECK(rw.authority == "color-paths.howto-app.svc.cluster.local");
    std::string target;
    proxy::gateway_upstream_target(rw, "a=1&b", true, target);
    CHECK(target == "/blue?a=1&b");
    proxy::gateway_upstream_target(rw, "", false, target);
    CHECK(target == "/blue");

    v.path = "/nope";
    const auto nr = proxy::gateway_route_request(*gw, 8088, v, 0, rw);
    CHECK(nr.kind == proxy::gateway_step::kind_t::no_route);
    CHECK(proxy::no_gateway_route_sentence(*gw, nr.listener, 8088, "GET", "/nope", "h") ==
          "no gateway route of virtual gateway \"howto-app/ingress-gw\" matches GET /nope (host "
          "\"h\") on gateway listener 8088 (http)");
    const auto gone = proxy::gateway_route_request(*gw, 9999, v, 0, rw);
    CHECK(gone.kind == proxy::gateway_step::kind_t::no_listener);
    CHECK(proxy::no_gateway_route_sentence(*gw, nullptr, 9999, "GET", "/", "").find(
              "no longer has a listener on port 9999") != std::string::npos);
    CHECK(proxy::gateway_listener_label(8088) == "gateway_8088");
    CHECK(proxy::gateway_protocol_warnings(*gw).empty());  // one plain http listener
}

TEST_CASE("gateway listener: the healthCheck path is answered for GET and HEAD, http/http2 only",
          "[unit][gateway]") {
    const auto l = listener_with_check("http");
    CHECK(proxy::is_gateway_health_probe(l, "GET", "/healthz"));
    CHECK(proxy::is_gateway_health_probe(l, "HEAD", "/healthz"));
    CHECK_FALSE(proxy::is_gateway_health_probe(l, "POST", "/healthz"));
    CHECK_FALSE(proxy::is_gateway_health_probe(l, "GET", "/healthz/x"));
    CHECK(proxy::is_gateway_health_probe(listener_with_check("http2"), "GET", "/healthz"));
    CHECK_FALSE(proxy::is_gateway_health_probe(listener_with_check("grpc"), "GET", "/healthz"));
    CHECK_FALSE(proxy::is_gateway_health_probe(listener_with_check("tcp"), "GET", "/healthz"));
    routing::gateway_listener_entry none;
    CHECK_FALSE(proxy::is_gateway_health_probe(none, "GET", "/healthz"));

    const auto ok = proxy::make_gateway_health_reply(l, false, false, 11, true);
    CHECK(ok.result_int() == 200);
    CHECK(ok.body() == "healthy: gateway listener 8088 (http)\n");
    CHECK(ok.keep_alive());
    const auto draining = proxy::make_gateway_health_reply(l, true, false, 11, false);
    CHECK(draining.result_int() == 503);
    CHECK(draining.body() == "unhealthy: gateway listener 8088 (http) is draining\n");
    CHECK_FALSE(draining.keep_alive());
    const auto failed = proxy::make_gateway_health_reply(l, false, true, 10, false);
    CHECK(failed.result_int() == 503);
    CHECK(failed.version() == 10);
}

TEST_CASE("gateway listener: http2 and grpc listeners are served (HTTP/2) without a protocol warning",
          "[unit][gateway]") {
    const auto gw = corpus_gateway("howto-k8s-grpc-ingress-v2_v1beta2_manifest.yaml");
    for (const auto& w : proxy::gateway_protocol_warnings(*gw)) {
        CHECK(w.find("served as HTTP/1.1") == std::string::npos);
    }

    routing::gateway_snapshot g;
    auto l = listener_with_check("grpc");
    l.proto = routing::protocol::http2;
    l.display = "gateway listener 8088 (http2)";
    routing::connection_pool pool;
    pool.kind = "http2";
    pool.max_requests = 10;
    l.connection_pool = pool;
    g.listeners.push_back(l);
    const auto w2 = proxy::gateway_protocol_warnings(g);
    // connectionPool.http2.maxRequests is enforced (forwarder): no warning for it.
    REQUIRE(w2.size() == 1);
    CHECK(w2[0].find("healthCheck protocol grpc is not answered yet") != std::string::npos);
}
