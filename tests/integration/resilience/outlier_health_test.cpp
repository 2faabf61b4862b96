// Outlier detection (spec §10.11) and active health checks (spec §10.13) against real upstreams:
// ejection after maxServerErrors, return after the ejection time, the maxEjectionPercent cap
// with one host always ejectable, health-check removal and re-admission, tcp checks, and 503 UH
// when nothing is left.
#include <atomic>
#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "resilience_meshes.hpp"
#include "tests/support/http_client.hpp"

using namespace outrigger::test;
using std::chrono::steady_clock;

namespace {

std::string outlier_yaml(int max_errors, int interval_ms, int base_ms, int max_percent) {
    return "      outlierDetection:\n        maxServerErrors: " + std::to_string(max_errors) +
           "\n        interval: {value: " + std::to_string(interval_ms) +
           ", unit: ms}\n        baseEjectionDuration: {value: " + std::to_string(base_ms) +
           ", unit: ms}\n        maxEjectionPercent: " + std::to_string(max_percent) + "\n";
}

std::string health_yaml(const std::string& protocol, const std::string& path = "/health") {
    std::string y = "      healthCheck:\n        protocol: " + protocol +
                    "\n        healthyThreshold: 2\n        unhealthyThreshold: 2\n"
                    "        intervalMillis: 5000\n        timeoutMillis: 2000\n";
    if (protocol == "http") {
        y += "        path: " + path + "\n";
    }
    return y;
}

upstream_handler status_always(unsigned status) {
    return [status](const http::request<http::string_body>&, upstream_reply& r) { r.res.result(status); };
}

/// An upstream whose /health answers 503 while `sick` is true; other requests count in `traffic`.
upstream_handler checked(std::atomic<bool>& sick, std::atomic<int>& traffic) {
    return [&sick, &traffic](const http::request<http::string_body>& req, upstream_reply& r) {
        if (req.target() == "/health") {
            r.res.result(sick ? 503 : 200);
            return;
        }
        ++traffic;
        r.res.body() = "ok\n";
    };
}

proxy_options no_retry(proxy_options o) {
    o.default_retry = false;
    return o;
}

}  // namespace

TEST_CASE("outlier detection ejects after maxServerErrors and returns the host after the ejection time", "[integration][outlier]") {
    test_upstream good;
    test_upstream bad(status_always(500));
    constexpr int base_ms = 1000;
    proxy_under_test px(routed_service("", outlier_yaml(2, 100, base_ms, 50), "ENDPOINTS"),
                        no_retry(to_ports({good.port(), bad.port()})));
    http_client client(px.egress_port());
    // Round robin alternates: the bad endpoint sees its second consecutive 500 within 4 requests.
    for (int i = 0; i < 4 && bad.requests() < 2; ++i) {
        client.get("/", "svc.shop");
    }
    REQUIRE(bad.requests() == 2);
    const auto ejected_at = steady_clock::now();
    int ok = 0;
    for (int i = 0; i < 10; ++i) {
        ok += client.get("/", "svc.shop").status == 200 ? 1 : 0;
    }
    if (steady_clock::now() - ejected_at < std::chrono::milliseconds(base_ms)) {
        CHECK(ok == 10);
        CHECK(bad.requests() == 2);  // ejected: no traffic
    } else {
        WARN("machine too slow to observe the ejection window");
    }
    // Returned after the ejection time (at the next interval sweep).
    REQUIRE(eventually([&] {
        client.get("/", "svc.shop");
        return bad.requests() > 2;
    }));
    CHECK(steady_clock::now() - ejected_at >= std::chrono::milliseconds(base_ms));
}

TEST_CASE("outlier detection may eject the only host even with maxEjectionPercent 0", "[integration][outlier]") {
    test_upstream bad(status_always(500));
    proxy_under_test px(routed_service("", outlier_yaml(1, 50, 300, 0)), no_retry(to_ports({bad.port()})));
    http_client client(px.egress_port());
    CHECK(client.get("/", "svc.shop").status == 500);
    const auto r = client.get("/", "svc.shop");
    CHECK(r.status == 503);
    CHECK(r.body.find("UH") != std::string::npos);
    CHECK(bad.requests() == 1);
    REQUIRE(eventually([&] { return client.get("/", "svc.shop").status == 500; }));
    CHECK(bad.requests() == 2);
    // The ejection is counted on the cluster (Envoy's outlier_detection.ejections_total): at
    // least the first one; the second 500 may have ejected the host again.
    const std::string stats = px.server().stats().render_envoy({});
    INFO(stats);
    const std::string key = ".outlier_detection.ejections_total: ";
    int ejections = 0;
    for (auto at = stats.find(key); at != std::string::npos; at = stats.find(key, at + 1)) {
        ejections += std::stoi(stats.substr(at + key.size()));
    }
    CHECK(ejections >= 1);
}

TEST_CASE("maxEjectionPercent caps how many endpoints are ejected at once", "[integration][outlier]") {
    test_upstream a(status_always(500));
    test_upstream b(status_always(500));
    SECTION("50 percent of two: one at a time, never 503 UH") {
        proxy_under_test px(routed_service("", outlier_yaml(1, 50, 5000, 50), "ENDPOINTS"),
                            no_retry(to_ports({a.port(), b.port()})));
        http_client client(px.egress_port());
        for (int i = 0; i < 20; ++i) {
            CHECK(client.get("/", "svc.shop").status == 500);
        }
    }
    SECTION("100 percent: both ejected, then 503 UH") {
        proxy_under_test px(routed_service("", outlier_yaml(1, 50, 5000, 100), "ENDPOINTS"),
                            no_retry(to_ports({a.port(), b.port()})));
        http_client client(px.egress_port());
        CHECK(client.get("/", "svc.shop").status == 500);
        CHECK(client.get("/", "svc.shop").status == 500);
        const auto r = client.get("/", "svc.shop");
        CHECK(r.status == 503);
        CHECK(r.body.find("UH") != std::string::npos);
    }
}

TEST_CASE("health checks remove an unhealthy endpoint and re-admit it", "[integration][health]") {
    std::atomic<bool> a_sick{false};
    std::atomic<bool> b_sick{false};
    std::atomic<int> a_traffic{0};
    std::atomic<int> b_traffic{0};
    test_upstream a(checked(a_sick, a_traffic));
    test_upstream b(checked(b_sick, b_traffic));
    proxy_options o = no_retry(to_ports({a.port(), b.port()}));
    o.health_check_interval = std::chrono::milliseconds(50);
    proxy_under_test px(routed_service("", health_yaml("http"), "ENDPOINTS"), o);
    http_client client(px.egress_port());

    // Probes reach both endpoints.
    REQUIRE(eventually([&] { return a.requests() > a_traffic && b.requests() > b_traffic; }));
    b_sick = true;
    // Removed: eventually ten requests in a row all go to a.
    REQUIRE(eventually([&] {
        const int before = b_traffic;
        for (int i = 0; i < 10; ++i) {
            if (client.get("/", "svc.shop").status != 200) {
                return false;
            }
        }
        return b_traffic == before;
    }));
    b_sick = false;
    // Re-admitted after healthyThreshold passing probes.
    REQUIRE(eventually([&] {
        const int before = b_traffic;
        client.get("/", "svc.shop");
        client.get("/", "svc.shop");
        return b_traffic > before;
    }));
    // Nothing healthy left: 503 UH without touching the upstreams.
    a_sick = true;
    b_sick = true;
    REQUIRE(eventually([&] { return client.get("/", "svc.shop").status == 503; }));
    const int before = a_traffic + b_traffic;
    const auto r = client.get("/", "svc.shop");
    CHECK(r.status == 503);
    CHECK(r.body.find("UH") != std::string::npos);
    CHECK(a_traffic + b_traffic == before);
}

TEST_CASE("a tcp health check removes an endpoint that refuses connections", "[integration][health]") {
    test_upstream good;
    const auto dead = refused_port();
    proxy_options o = no_retry(to_ports({dead, good.port()}));
    o.health_check_interval = std::chrono::milliseconds(50);
    proxy_under_test px(routed_service("", health_yaml("tcp"), "ENDPOINTS"), o);
    http_client client(px.egress_port());
    // Without retries, half the requests would fail while the dead endpoint is in rotation.
    REQUIRE(eventually([&] {
        for (int i = 0; i < 10; ++i) {
            if (client.get("/", "svc.shop").status != 200) {
                return false;
            }
        }
        return true;
    }));
}
