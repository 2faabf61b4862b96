// HTTP/1.1 mechanics of the data path: keep-alive pooling, pipelining, streamed bodies in both
// directions, 100-continue, hop-by-hop headers, x-request-id, HTTP/1.0.
#include <future>

#include <catch2/catch.hpp>

#include "meshes.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;

namespace {

constexpr const char* svc_host = "svc.shop:8080";

upstream_handler echo_target() {
    return [](const http::request<http::string_body>& req, upstream_reply& r) {
        r.res.body() = std::string(req.target()) + " " + std::to_string(req.body().size());
    };
}

proxy_options opts_for(const test_upstream& up, unsigned workers = 1) {
    proxy_options o;
    o.node = "web";
    o.workers = workers;
    o.connect_to = {connect_to("svc.test.local", 8080, up.port())};
    return o;
}

}  // namespace

TEST_CASE("keep-alive: upstream connections are pooled and reused", "[integration][http]") {
    test_upstream up(echo_target());
    proxy_under_test px(node_provider_mesh(), opts_for(up));
    {
        http_client c(px.egress_port());
        for (int i = 0; i < 50; ++i) {
            const auto r = c.get("/k" + std::to_string(i), svc_host);
            REQUIRE(r.status == 200);
            CHECK(r.body == "/k" + std::to_string(i) + " 0");
        }
    }
    // A second downstream connection, after the first closed, reuses the pooled connection too.
    for (int i = 0; i < 5; ++i) {
        CHECK(http_get(px.egress_port(), svc_host, "/again").status == 200);
    }
    CHECK(up.requests() == 55);
    CHECK(up.accepts() == 1);
}

TEST_CASE("pipelining: requests sent back to back are answered in order", "[integration][http]") {
    test_upstream up(echo_target());
    proxy_under_test px(node_provider_mesh(), opts_for(up));
    raw_connection c(px.egress_port());
    std::string burst;
    for (int i = 0; i < 5; ++i) {
        burst += "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: svc.shop:8080\r\n\r\n";
    }
    burst += "POST /p5 HTTP/1.1\r\nHost: svc.shop:8080\r\nContent-Length: 3\r\n\r\nabc";
    burst += "GET /p6 HTTP/1.1\r\nHost: svc.shop:8080\r\nConnection: close\r\n\r\n";
    REQUIRE(c.send(burst));
    for (int i = 0; i < 7; ++i) {
        const auto r = c.read_response();
        REQUIRE(r.ok);
        CHECK(r.status == 200);
        CHECK(r.body == "/p" + std::to_string(i) + (i == 5 ? " 3" : " 0"));
    }
    CHECK(c.read_until_close().empty());
}

TEST_CASE("streaming: a 10 MB chunked request body reaches the upstream before it is complete",
          "[integration][http][streaming]") {
    test_upstream up(echo_target());
    up.keep_body_bytes = 0;
    proxy_under_test px(node_provider_mesh(), opts_for(up));
    raw_connection c(px.egress_port(), std::chrono::seconds(20));
    const std::uint64_t total = 10 * 1024 * 1024;
    const std::uint64_t rss_before = current_rss_bytes();
    REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: svc.shop:8080\r\nTransfer-Encoding: chunked\r\n\r\n"));
    const std::string piece(64 * 1024, 'y');
    char size_line[32];
    std::snprintf(size_line, sizeof(size_line), "%zx\r\n", piece.size());
    std::uint64_t sent = 0;
    bool checked_progress = false;
    while (sent < total) {
        REQUIRE(c.send(std::string(size_line) + piece + "\r\n"));
        sent += piece.size();
        if (!checked_progress && sent >= total / 2) {
            // Half sent: the upstream must already have bytes (a buffering proxy would hold them).
            CHECK(up.wait_for_body_bytes(1024 * 1024, std::chrono::seconds(10)));
            checked_progress = true;
        }
    }
    REQUIRE(c.send("0\r\n\r\n"));
    const auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    CHECK(r.body == "/upload 0");  // the upstream kept none of it, but counted it all:
    CHECK(up.body_bytes() == total);
#if !defined(OUTRIGGER_TEST_ASAN)  // ASan's quarantine keeps freed memory resident
    CHECK(current_rss_bytes() - std::min(current_rss_bytes(), rss_before) < 6 * 1024 * 1024);
#else
    (void)rss_before;
#endif
}

TEST_CASE("streaming: a 10 MB chunked response reaches the client before the upstream finished",
          "[integration][http][streaming]") {
    std::promise<void> client_got_data;
    auto released = client_got_data.get_future().share();
    test_upstream up([released](const http::request<http::string_body>&, upstream_reply& r) {
        r.stream_body_bytes = 10 * 1024 * 1024;
        // Pause half-way until the client proved it already received bytes (bounded wait).
        r.at_half = [released] { released.wait_for(std::chrono::seconds(10)); };
    });
    proxy_under_test px(node_provider_mesh(), opts_for(up));
    raw_connection c(px.egress_port(), std::chrono::seconds(20));
    const std::uint64_t rss_before = current_rss_bytes();
    REQUIRE(c.send("GET /big HTTP/1.1\r\nHost: svc.shop:8080\r\n\r\n"));
    const std::string head = c.read_until("\r\n\r\n");
    CHECK(head.find("HTTP/1.1 200") == 0);
    CHECK(head.find("chunked") != std::string::npos);
    // Read ~1 MB while the upstream is paused half-way through.
    std::uint64_t got = 0;
    char buf[65536];
    while (got < 1024 * 1024) {
        boost::system::error_code ec;
        const std::size_t n = c.read_some(buf, sizeof(buf), ec);
        REQUIRE_FALSE(ec);
        got += n;
    }
    client_got_data.set_value();
    for (;;) {
        boost::system::error_code ec;
        const std::size_t n = c.read_some(buf, sizeof(buf), ec);
        got += n;
        if (ec) {
            break;
        }
        if (n >= 5 && std::string_view(buf + n - 5, 5) == "0\r\n\r\n") {
            break;
        }
    }
    CHECK(got > 10 * 1024 * 1024);  // body plus chunk framing
#if !defined(OUTRIGGER_TEST_ASAN)  // ASan's quarantine keeps freed memory resident
    CHECK(current_rss_bytes() - std::min(current_rss_bytes(), rss_before) < 6 * 1024 * 1024);
#else
    (void)rss_before;
#endif
}

TEST_CASE("100-continue: the proxy answers 100 Continue and then forwards the body",
          "[integration][http]") {
    test_upstream up(echo_target());
    proxy_under_test px(node_provider_mesh(), opts_for(up));
    raw_connection c(px.egress_port());
    REQUIRE(c.send("PUT /data HTTP/1.1\r\nHost: svc.shop:8080\r\nContent-Length: 5\r\n"
                   "Expect: 100-continue\r\n\r\n"));
    CHECK(c.read_until("\r\n\r\n") == "HTTP/1.1 100 Continue\r\n\r\n");
    REQUIRE(c.send("hello"));
    const auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    CHECK(r.body == "/data 5");
    CHECK(up.last_request().count(http::field::expect) == 0);
}

TEST_CASE("headers: hop-by-hop removed and x-forwarded-proto and x-request-id set",
          "[integration][http]") {
    test_upstream up([](const http::request<http::string_body>&, upstream_reply& r) {
        r.res.set("Keep-Alive", "timeout=5");
        r.res.set("X-Upstream", "yes");
        r.res.body() = "ok";
    });
    proxy_under_test px(node_provider_mesh(), opts_for(up));
    http_client c(px.egress_port());
    auto r = c.get("/h", svc_host,
                   {{"Connection", "keep-alive, X-Secret"}, {"X-Secret", "s"}, {"Keep-Alive", "300"},
                    {"TE", "trailers"}, {"Proxy-Authorization", "Basic eA=="}, {"X-Kept", "1"}});
    REQUIRE(r.status == 200);
    auto seen = up.last_request();
    CHECK(seen.count("X-Secret") == 0);
    CHECK(seen.count(http::field::connection) == 0);
    CHECK(seen.count(http::field::keep_alive) == 0);
    CHECK(seen.count(http::field::te) == 0);
    CHECK(seen.count(http::field::proxy_authorization) == 0);
    CHECK(seen["X-Kept"] == "1");
    CHECK(seen["x-forwarded-proto"] == "http");
    const std::string id(seen["x-request-id"]);
    CHECK(id.size() == 36);
    CHECK(id[14] == '4');
    CHECK(r.headers.count(http::field::keep_alive) == 0);
    CHECK(r.headers["X-Upstream"] == "yes");
    // A given x-request-id is kept.
    r = c.get("/h", svc_host, {{"x-request-id", "abc-123"}});
    CHECK(up.last_request()["x-request-id"] == "abc-123");
    // Fresh ids differ.
    r = c.get("/h", svc_host);
    CHECK(std::string(up.last_request()["x-request-id"]) != id);
}

TEST_CASE("HTTP/1.0: answered without chunking and closed unless keep-alive",
          "[integration][http]") {
    test_upstream up([](const http::request<http::string_body>&, upstream_reply& r) {
        r.stream_body_bytes = 1000;  // chunked upstream response
    });
    proxy_under_test px(node_provider_mesh(), opts_for(up));
    const std::string out =
        raw_exchange(px.egress_port(), "GET /old HTTP/1.0\r\nHost: svc.shop:8080\r\n\r\n");
    CHECK(out.find("HTTP/1.1 200") == 0);
    CHECK(out.find("chunked") == std::string::npos);
    const auto body_at = out.find("\r\n\r\n");
    REQUIRE(body_at != std::string::npos);
    CHECK(out.size() - body_at - 4 == 1000);
}

TEST_CASE("workers: several workers share the ports and all serve", "[integration][http]") {
    test_upstream up(echo_target());
    proxy_under_test px(node_provider_mesh(), opts_for(up, 2));
    for (int i = 0; i < 20; ++i) {
        CHECK(http_get(px.egress_port(), svc_host, "/w").status == 200);
    }
    CHECK(up.requests() == 20);
}
