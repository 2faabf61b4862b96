// Timeouts (spec §10.10, DECISIONS §3.3/3.4): the route perRequest budget over all attempts
// (504 UT), per-try timeouts, route and listener idle (408 SI), inbound listener perRequest.
#include <chrono>

#include <catch2/catch.hpp>

#include "resilience_meshes.hpp"
#include "tests/support/http_client.hpp"

using namespace outrigger::test;
using std::chrono::steady_clock;

namespace {

upstream_handler never_answer(std::atomic<int>& seen) {
    return [&seen](const http::request<http::string_body>&, upstream_reply& r) {
        ++seen;
        r.delay = std::chrono::seconds(30);  // accept, read, never answer (within the test)
    };
}

double seconds_since(steady_clock::time_point t) {
    return std::chrono::duration<double>(steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("an upstream that never answers gets 504 UT within the perRequest budget", "[integration][timeout]") {
    std::atomic<int> seen{0};
    test_upstream up(never_answer(seen));
    proxy_options o = to_ports({up.port()});
    o.default_retry = false;
    proxy_under_test px(routed_service(per_request_yaml(300)), o);
    const auto t0 = steady_clock::now();
    const auto r = http_get(px.egress_port(), "svc.shop", "/");
    CHECK(r.status == 504);
    CHECK(r.body.find("UT") != std::string::npos);
    CHECK(seconds_since(t0) < 5.0);  // generous bound: the budget is 0.3 s
    CHECK(seen == 1);
}

TEST_CASE("per-try timeouts are retried until the perRequest budget ends with 504", "[integration][timeout]") {
    std::atomic<int> seen{0};
    test_upstream up(never_answer(seen));
    const std::string route =
        "        retryPolicy:\n          maxRetries: 10\n"
        "          perRetryTimeout: {value: 150, unit: ms}\n"
        "          httpRetryEvents: [server-error]\n" +
        per_request_yaml(700);
    proxy_under_test px(routed_service(route), to_ports({up.port()}));
    const auto t0 = steady_clock::now();
    const auto r = http_get(px.egress_port(), "svc.shop", "/");
    CHECK(r.status == 504);
    CHECK(seconds_since(t0) < 5.0);
    // 700 ms / 150 ms per try: at most 5 attempts fit, and at least 2 (generous either way).
    CHECK(seen >= 2);
    CHECK(seen <= 5);
}

TEST_CASE("per-try timeout with retries exhausted answers 504", "[integration][timeout]") {
    std::atomic<int> seen{0};
    test_upstream up(never_answer(seen));
    const std::string route =
        "        retryPolicy:\n          maxRetries: 2\n"
        "          perRetryTimeout: {value: 100, unit: ms}\n"
        "          httpRetryEvents: [gateway-error]\n";
    proxy_under_test px(routed_service(route), to_ports({up.port()}));
    const auto r = http_get(px.egress_port(), "svc.shop", "/");
    CHECK(r.status == 504);
    CHECK(r.body.find("URX") != std::string::npos);
    CHECK(seen == 3);
}

TEST_CASE("a route idle timeout answers 408 SI when the upstream stays silent", "[integration][timeout]") {
    std::atomic<int> seen{0};
    test_upstream up(never_answer(seen));
    proxy_options o = to_ports({up.port()});
    o.default_retry = false;
    const std::string route =
        "        timeout:\n          perRequest: {value: 20, unit: s}\n"
        "          idle: {value: 200, unit: ms}\n";
    proxy_under_test px(routed_service(route), o);
    const auto t0 = steady_clock::now();
    const auto r = http_get(px.egress_port(), "svc.shop", "/");
    CHECK(r.status == 408);
    CHECK(r.body.find("SI") != std::string::npos);
    CHECK(seconds_since(t0) < 5.0);
}

TEST_CASE("inbound listener perRequest and idle timeouts bound requests to the local app", "[integration][timeout]") {
    std::atomic<int> seen{0};
    test_upstream app(never_answer(seen));
    {
        const std::string listener = "      timeout:\n        http:\n          perRequest: {value: 300, unit: ms}\n";
        proxy_options o;
        o.node = "shop/n1";
        proxy_under_test px(mesh_header() + node_yaml("n1", "n1.test.local", app.port(), "LOADBALANCER", {}, listener), o);
        const auto t0 = steady_clock::now();
        const auto r = http_get(px.ingress_port(), "n1.test.local", "/");
        CHECK(r.status == 504);
        CHECK(seconds_since(t0) < 5.0);
    }
    {
        const std::string listener = "      timeout:\n        http:\n          idle: {value: 200, unit: ms}\n";
        proxy_options o;
        o.node = "shop/n1";
        proxy_under_test px(mesh_header() + node_yaml("n1", "n1.test.local", app.port(), "LOADBALANCER", {}, listener), o);
        const auto r = http_get(px.ingress_port(), "n1.test.local", "/");
        CHECK(r.status == 408);
    }
}

TEST_CASE("connect timeout default is 5 s", "[integration][timeout]") {
    outrigger::proxy::server_config cfg;
    CHECK(cfg.connect_timeout == std::chrono::seconds(5));
}
