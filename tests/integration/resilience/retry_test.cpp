// Retries against misbehaving upstreams (spec §10.9, DECISIONS §3.9): exact attempt counts per
// policy, no retry after response bytes, the reused-connection retry, retries that prefer an
// untried endpoint, and bodies too large to replay.
#include <unistd.h>

#include <atomic>
#include <future>
#include <fstream>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include "resilience_meshes.hpp"
#include "tests/support/http_client.hpp"

using namespace outrigger::test;

namespace outrigger::test {

std::uint16_t refused_port() {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    const auto port = a.local_endpoint().port();
    a.close();
    return port;
}

}  // namespace outrigger::test

namespace {

upstream_handler fail_first(std::atomic<int>& seen, int failures, unsigned status) {
    return [&seen, failures, status](const http::request<http::string_body>&, upstream_reply& r) {
        if (++seen <= failures) {
            r.res.result(status);
            r.res.body() = "fail\n";
        } else {
            r.res.body() = "ok\n";
        }
    };
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("server-error policy retries a 503 then gets 200 in two attempts", "[integration][retry]") {
    std::atomic<int> seen{0};
    test_upstream up(fail_first(seen, 1, 503));
    proxy_under_test px(routed_service(retry_yaml(3, "server-error")), to_ports({up.port()}));
    const auto r = http_get(px.egress_port(), "svc.shop", "/");
    CHECK(r.status == 200);
    CHECK(up.requests() == 2);
}

TEST_CASE("server-error policy makes exactly 1 + maxRetries attempts and flags URX", "[integration][retry]") {
    std::atomic<int> seen{0};
    test_upstream up(fail_first(seen, 100, 500));
    proxy_under_test px(routed_service(retry_yaml(2, "server-error")), to_ports({up.port()}));
    const auto r = http_get(px.egress_port(), "svc.shop", "/");
    CHECK(r.status == 500);
    CHECK(up.requests() == 3);
}

TEST_CASE("gateway-error does not retry a 500 but retries a 502", "[integration][retry]") {
    std::atomic<int> seen500{0};
    test_upstream up500(fail_first(seen500, 100, 500));
    {
        proxy_under_test px(routed_service(retry_yaml(2, "gateway-error")), to_ports({up500.port()}));
        CHECK(http_get(px.egress_port(), "svc.shop", "/").status == 500);
        CHECK(up500.requests() == 1);
    }
    std::atomic<int> seen502{0};
    test_upstream up502(fail_first(seen502, 100, 502));
    proxy_under_test px(routed_service(retry_yaml(2, "gateway-error")), to_ports({up502.port()}));
    CHECK(http_get(px.egress_port(), "svc.shop", "/").status == 502);
    CHECK(up502.requests() == 3);
}

TEST_CASE("client-error retries a 409 and server-error alone does not", "[integration][retry]") {
    std::atomic<int> seen{0};
    test_upstream up(fail_first(seen, 1, 409));
    {
        proxy_under_test px(routed_service(retry_yaml(1, "client-error")), to_ports({up.port()}));
        CHECK(http_get(px.egress_port(), "svc.shop", "/").status == 200);
        CHECK(up.requests() == 2);
    }
    seen = 0;
    proxy_under_test px(routed_service(retry_yaml(1, "server-error")), to_ports({up.port()}));
    CHECK(http_get(px.egress_port(), "svc.shop", "/").status == 409);
    CHECK(up.requests() == 3);  // 2 from the first proxy, 1 here
}

TEST_CASE("default policy: three attempts on 503, one on 500, one without it", "[integration][retry]") {
    std::atomic<int> seen{0};
    test_upstream up503(fail_first(seen, 100, 503));
    {
        proxy_under_test px(routed_service(""), to_ports({up503.port()}));
        const auto r = http_get(px.egress_port(), "svc.shop", "/");
        CHECK(r.status == 503);
        CHECK(up503.requests() == 3);
    }
    {
        proxy_options o = to_ports({up503.port()});
        o.default_retry = false;
        proxy_under_test px(routed_service(""), o);
        CHECK(http_get(px.egress_port(), "svc.shop", "/").status == 503);
        CHECK(up503.requests() == 4);
    }
    std::atomic<int> seen500{0};
    test_upstream up500(fail_first(seen500, 100, 500));
    proxy_under_test px(routed_service(""), to_ports({up500.port()}));
    CHECK(http_get(px.egress_port(), "svc.shop", "/").status == 500);
    CHECK(up500.requests() == 1);
}

TEST_CASE("a reset before the response head is retried by the default policy", "[integration][retry]") {
    std::atomic<int> seen{0};
    test_upstream up([&](const http::request<http::string_body>&, upstream_reply& r) {
        if (++seen == 1) {
            r.reset = true;
        }
    });
    proxy_under_test px(routed_service(""), to_ports({up.port()}));
    CHECK(http_get(px.egress_port(), "svc.shop", "/").status == 200);
    CHECK(up.requests() == 2);
}

TEST_CASE("a reset in the middle of the response body is never retried", "[integration][retry]") {
    std::promise<void> head_seen;
    auto head_seen_f = head_seen.get_future().share();
    test_upstream up([head_seen_f](const http::request<http::string_body>&, upstream_reply& r) {
        r.stream_body_bytes = 256 * 1024;
        r.reset_at_half = true;
        // Reset only once the client holds the response head (bounded wait), so the reset is
        // certainly "after a response byte went downstream".
        r.at_half = [head_seen_f] { head_seen_f.wait_for(std::chrono::seconds(10)); };
    });
    proxy_under_test px(routed_service(retry_yaml(3, "server-error,gateway-error")),
                        to_ports({up.port()}));
    raw_connection conn(px.egress_port());
    REQUIRE(conn.send("GET / HTTP/1.1\r\nHost: svc.shop\r\n\r\n"));
    const std::string head = conn.read_until("\r\n\r\n");
    CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
    head_seen.set_value();
    const std::string rest = conn.read_until_close();
    CHECK(rest.find("0\r\n\r\n") == std::string::npos);  // truncated: no last chunk
    CHECK(up.requests() == 1);
}

TEST_CASE("refused connections are retried on another endpoint", "[integration][retry]") {
    test_upstream good;
    const auto dead = refused_port();
    proxy_under_test px(routed_service(retry_yaml(1, "", "          tcpRetryEvents: [connection-error]\n"),
                                       "", "ENDPOINTS"),
                        to_ports({dead, good.port()}));
    // Round robin starts on either endpoint; every request must succeed with at most one retry.
    for (int i = 0; i < 6; ++i) {
        const auto r = http_get(px.egress_port(), "svc.shop", "/");
        CHECK(r.status == 200);
    }
    CHECK(good.requests() == 6);
}

TEST_CASE("refused connections without a retry event end in 503 UF", "[integration][retry]") {
    const auto dead = refused_port();
    proxy_options o = to_ports({dead});
    o.default_retry = false;
    proxy_under_test px(routed_service(""), o);
    const auto r = http_get(px.egress_port(), "svc.shop", "/");
    CHECK(r.status == 503);
    CHECK(r.body.find("UF") != std::string::npos);
}

TEST_CASE("a retry prefers an endpoint not tried yet", "[integration][retry]") {
    std::atomic<int> a_seen{0};
    std::atomic<int> b_seen{0};
    test_upstream a(fail_first(a_seen, 1000, 503));
    test_upstream b(fail_first(b_seen, 1000, 503));
    proxy_under_test px(routed_service(retry_yaml(1, "server-error"), "", "ENDPOINTS"),
                        to_ports({a.port(), b.port()}));
    for (int i = 0; i < 4; ++i) {
        CHECK(http_get(px.egress_port(), "svc.shop", "/").status == 503);
        // Each request tried both endpoints once: the retry went to the other one.
        CHECK(a.requests() == i + 1);
        CHECK(b.requests() == i + 1);
    }
}

TEST_CASE("a pooled connection the upstream closed is retried once even without a policy", "[integration][retry]") {
    test_upstream up([](const http::request<http::string_body>&, upstream_reply& r) {
        r.close_after_response = true;
    });
    proxy_options o = to_ports({up.port()});
    o.default_retry = false;
    proxy_under_test px(routed_service(retry_yaml(0, "server-error")), o);
    http_client client(px.egress_port());
    for (int i = 1; i <= 3; ++i) {
        const auto r = client.get("/", "svc.shop");
        CHECK(r.status == 200);
        REQUIRE(eventually([&] { return up.closes_after() == i; }));
    }
    // Every request after the first found its pooled connection dead and was sent again on a
    // fresh one: 3 answered requests, 3 connections, no 503.
    CHECK(up.requests() == 3);
    CHECK(up.accepts() == 3);
}

TEST_CASE("a body larger than the replay buffer is not retried and the access log says BNR", "[integration][retry]") {
    std::atomic<int> seen{0};
    test_upstream up(fail_first(seen, 100, 503));
    char tmpl[] = "/tmp/outrigger-resilience-log-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    proxy_options o = to_ports({up.port()});
    o.access_log_path = tmpl;
    {
        proxy_under_test px(routed_service(retry_yaml(2, "server-error")), o);
        http_client client(px.egress_port());
        const auto small = client.request(http::verb::post, "/small", "svc.shop", {}, std::string(1000, 'a'));
        CHECK(small.status == 503);
        CHECK(up.requests() == 3);
        const auto big = client.request(http::verb::post, "/big", "svc.shop", {},
                                        std::string(200 * 1024, 'b'));
        CHECK(big.status == 503);
        CHECK(up.requests() == 4);  // streamed, so not replayable: one attempt
        // The log line is written just after the response: wait for it while the proxy runs.
        CHECK(eventually([&] { return read_file(tmpl).find("/big") != std::string::npos; }));
    }
    const std::string log = read_file(tmpl);
    ::unlink(tmpl);
    const auto big_line = log.find("/big");
    REQUIRE(big_line != std::string::npos);
    const auto eol = log.find('\n', big_line);
    CHECK(log.substr(big_line, eol - big_line).find("BNR") != std::string::npos);
    const auto small_line = log.find("/small");
    REQUIRE(small_line != std::string::npos);
    CHECK(log.substr(small_line, log.find('\n', small_line) - small_line).find("BNR") == std::string::npos);
}
