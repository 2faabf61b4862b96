// Every local reply of DECISIONS §4 this data path owns: status, text/plain, one sentence naming
// the host/route/endpoint, and the flag.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include "meshes.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;

namespace {

constexpr const char* svc_host = "svc.shop:8080";

proxy_options opts_for(std::uint16_t port) {
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("svc.test.local", 8080, port)};
    return o;
}

/// A port on 127.0.0.1 nobody listens on (bound, then closed).
std::uint16_t closed_port() {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("404 NR: unknown host names the closest virtual service", "[integration][reply]") {
    test_upstream up;
    proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
    const auto r = http_get(px.egress_port(), "svc.shopp:8080", "/");
    CHECK(r.status == 404);
    CHECK(r.headers[http::field::content_type] == "text/plain");
    CHECK(r.body ==
          "no virtual service \"svc.shopp\" among this node's backends on port 8080 (did you mean "
          "\"svc.shop\"?) [NR]\n");
    CHECK(up.requests() == 0);
}

TEST_CASE("404 NR: no route of the router matches", "[integration][reply]") {
    test_upstream up;
    const std::string mesh = mesh_header() + node_yaml("only", "only.test.local", 8080) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  routes:
    - name: only-api
      httpRoute:
        match: {prefix: /api}
        action:
          weightedTargets:
            - virtualNodeRef: {name: only}
              weight: 1
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: routed, namespace: shop}
spec:
  awsName: routed.shop
  provider:
    virtualRouter:
      virtualRouterRef: {name: r}
)";
    proxy_options o;
    o.connect_to = {connect_to("only.test.local", 8080, up.port())};
    proxy_under_test px(mesh, o);
    http_client c(px.egress_port());
    CHECK(c.get("/api/x", "routed.shop:8080").status == 200);
    const auto r = c.get("/other", "routed.shop:8080");
    CHECK(r.status == 404);
    CHECK(r.body.find("no route of virtual router \"shop/r\"") == 0);
    CHECK(r.body.find("GET /other") != std::string::npos);
    CHECK(ends_with(r.body, "[NR]\n"));
    CHECK(r.keep_alive);  // a local reply keeps the connection
    CHECK(c.get("/api/y", "routed.shop:8080").status == 200);
}

TEST_CASE("503 UH: the endpoint's name has no address", "[integration][reply]") {
    proxy_options o;
    o.node = "web";
    o.resolve = [](std::string_view host, std::vector<boost::asio::ip::address>&) {
        return host == "svc.test.local";  // answered: no addresses
    };
    proxy_under_test px(node_provider_mesh(), o);
    const auto r = http_get(px.egress_port(), svc_host, "/");
    CHECK(r.status == 503);
    CHECK(r.body.find("no healthy upstream for virtual node \"shop/svc-node\"") == 0);
    CHECK(ends_with(r.body, "[UH]\n"));
}

TEST_CASE("503 UF: unreachable endpoint after the default retries", "[integration][reply]") {
    const std::uint16_t dead = closed_port();
    {
        proxy_under_test px(node_provider_mesh(), opts_for(dead));
        const auto r = http_get(px.egress_port(), svc_host, "/");
        CHECK(r.status == 503);
        CHECK(r.body.find("cannot connect to virtual node \"shop/svc-node\" at 127.0.0.1:" +
                          std::to_string(dead)) == 0);
        CHECK(ends_with(r.body, "[UF,URX]\n"));
    }
    {
        auto o = opts_for(dead);
        o.default_retry = false;
        proxy_under_test px(node_provider_mesh(), o);
        const auto r = http_get(px.egress_port(), svc_host, "/");
        CHECK(r.status == 503);
        CHECK(ends_with(r.body, "[UF]\n"));
    }
}

TEST_CASE("503 UC: upstream closes before a response", "[integration][reply]") {
    test_upstream up([](const http::request<http::string_body>&, upstream_reply& r) {
        r.close_without_response = true;
    });
    proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
    const auto r = http_get(px.egress_port(), svc_host, "/");
    CHECK(r.status == 503);
    CHECK(r.body.find("virtual node \"shop/svc-node\" at 127.0.0.1:") == 0);
    CHECK(ends_with(r.body, "[UC,URX]\n"));
    CHECK(up.requests() == 3);  // default policy: 1 + 2 retries on reset
}

TEST_CASE("504 UT: the provider listener's perRequest timeout", "[integration][reply]") {
    test_upstream up([](const http::request<http::string_body>&, upstream_reply& r) {
        r.delay = std::chrono::seconds(3);
    });
    const std::string timeout = "      timeout:\n        http:\n          perRequest:\n"
                                "            value: 300\n            unit: ms\n";
    proxy_under_test px(node_provider_mesh("LOADBALANCER", "svc.test.local", timeout),
                        opts_for(up.port()));
    const auto start = std::chrono::steady_clock::now();
    const auto r = http_get(px.egress_port(), svc_host, "/slow");
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(r.status == 504);
    CHECK(r.body.find("did not answer within 300 ms") != std::string::npos);
    CHECK(ends_with(r.body, "[UT]\n"));
    CHECK(took < std::chrono::seconds(2));
}

TEST_CASE("400 DPE / 431 DPE: malformed and oversized requests are never forwarded",
          "[integration][reply]") {
    test_upstream up;
    proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
    const auto p = px.egress_port();

    SECTION("garbage request line") {
        const auto out = raw_exchange(p, "GARBAGE\r\n\r\n");
        CHECK(out.find("HTTP/1.1 400 Bad Request") == 0);
        CHECK(out.find("malformed request") != std::string::npos);
        CHECK(out.find("[DPE]") != std::string::npos);
    }
    SECTION("Content-Length and Transfer-Encoding together") {
        const auto out = raw_exchange(p, "POST / HTTP/1.1\r\nHost: svc.shop:8080\r\nContent-Length: 3\r\n"
                                         "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        CHECK(out.find("HTTP/1.1 400 Bad Request") == 0);
        CHECK(out.find("[DPE]") != std::string::npos);
    }
    SECTION("Transfer-Encoding then Content-Length") {
        const auto out = raw_exchange(p, "POST / HTTP/1.1\r\nHost: svc.shop:8080\r\nTransfer-Encoding: gzip\r\n"
                                         "Content-Length: 3\r\n\r\nabc");
        CHECK(out.find("HTTP/1.1 400 Bad Request") == 0);
    }
    SECTION("duplicate differing Content-Length") {
        const auto out = raw_exchange(p, "POST / HTTP/1.1\r\nHost: svc.shop:8080\r\nContent-Length: 3\r\n"
                                         "Content-Length: 4\r\n\r\nabcd");
        CHECK(out.find("HTTP/1.1 400 Bad Request") == 0);
        CHECK(out.find("[DPE]") != std::string::npos);
    }
    SECTION("header bytes over 60 KiB") {
        const auto out = raw_exchange(p, "GET / HTTP/1.1\r\nHost: svc.shop:8080\r\nX-Big: " +
                                             std::string(70 * 1024, 'a') + "\r\n\r\n");
        CHECK(out.find("HTTP/1.1 431") == 0);
        CHECK(out.find("request headers exceed the limit of 61440 bytes [DPE]") != std::string::npos);
    }
    SECTION("more than 100 headers") {
        std::string req = "GET / HTTP/1.1\r\nHost: svc.shop:8080\r\n";
        for (int i = 0; i < 101; ++i) {
            req += "X-H" + std::to_string(i) + ": v\r\n";
        }
        const auto out = raw_exchange(p, req + "\r\n");
        CHECK(out.find("HTTP/1.1 431") == 0);
        CHECK(out.find("more than the limit of 100 [DPE]") != std::string::npos);
    }
    SECTION("no host at all") {
        const auto out = raw_exchange(p, "GET / HTTP/1.1\r\n\r\n");
        CHECK(out.find("HTTP/1.1 400") == 0);
        CHECK(out.find("request names no host") != std::string::npos);
    }
    CHECK(up.requests() == 0);
}

TEST_CASE("retry: 503 then 200 under the default policy gives 200", "[integration][retry]") {
    std::atomic<int> seen{0};
    test_upstream up([&](const http::request<http::string_body>&, upstream_reply& r) {
        if (++seen == 1) {
            r.res.result(http::status::service_unavailable);
            r.res.body() = "busy";
        } else {
            r.res.body() = "fine";
        }
    });
    proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
    const auto r = http_get(px.egress_port(), svc_host, "/");
    CHECK(r.status == 200);
    CHECK(r.body == "fine");
    CHECK(up.requests() == 2);
}

TEST_CASE("retry: a POST body up to 64 KiB is replayed", "[integration][retry]") {
    std::atomic<int> seen{0};
    test_upstream up([&](const http::request<http::string_body>& req, upstream_reply& r) {
        r.res.result(++seen < 3 ? http::status::service_unavailable : http::status::ok);
        r.res.body() = std::to_string(req.body().size());
    });
    proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
    http_client c(px.egress_port());
    const auto r = c.request(http::verb::post, "/p", svc_host, {}, std::string(40000, 'b'));
    CHECK(r.status == 200);
    CHECK(r.body == "40000");
    CHECK(up.requests() == 3);
    seen = 0;
    // Still 503 after the retries: the last response is relayed.
    test_upstream always503([](const http::request<http::string_body>&, upstream_reply& r) {
        r.res.result(http::status::service_unavailable);
        r.res.body() = "no";
    });
    proxy_under_test px2(node_provider_mesh(), opts_for(always503.port()));
    const auto r2 = http_get(px2.egress_port(), svc_host, "/");
    CHECK(r2.status == 503);
    CHECK(r2.body == "no");
    CHECK(always503.requests() == 3);
}
