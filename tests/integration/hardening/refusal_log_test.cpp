// Issue 8: a request refused before it could be routed (malformed head, limits, slow head) still
// gets an access-log line and is counted on the listener, like every other response: an operator
// must see the 400s and 431s an attack or a broken client causes.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "../dataplane/meshes.hpp"
#include "../ops/ops_support.hpp"
#include "proxy/admin_server.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger;
using namespace outrigger::test;

TEST_CASE("hardening: refused request heads are logged and counted", "[integration][hardening]") {
    test_upstream up;
    const std::string log_path = temp_path("outrigger-refusal-log");
    proxy_options o;
    o.node = "web";
    o.access_log_path = log_path;
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, up.port()),
                    connect_to("checkout-v2.test.local", 8080, up.port())};
    o.tweak = [](proxy::server_config& c) { c.max_request_body = 16; };
    proxy_under_test px(canary_mesh(), o);
    proxy::admin_server admin(px.server(), nullptr, proxy::admin_info{"test", "test"});
    std::string err;
    REQUIRE(admin.start("127.0.0.1", 0, err));

    const std::string host = "Host: checkout.shop.svc.cluster.local:8080\r\n";
    std::string many = "GET /many HTTP/1.1\r\n" + host;
    for (int i = 0; i < 101; ++i) {
        many += "X-H" + std::to_string(i) + ": v\r\n";
    }
    many += "\r\n";
    const std::vector<std::pair<std::string, unsigned>> refused = {
        {"G@T / HTTP/1.1\r\n" + host + "\r\n", 400},
        {many, 431},
        {"POST /big HTTP/1.1\r\n" + host + "Content-Length: 17\r\n\r\n", 413},
    };
    for (const auto& [bytes, status] : refused) {
        raw_connection c(px.egress_port());
        REQUIRE(c.send(bytes));
        const auto out = c.read_until_close();
        INFO(out);
        REQUIRE(out.rfind("HTTP/1.1 " + std::to_string(status), 0) == 0);
    }
    CHECK(up.requests() == 0);

    REQUIRE(px.server().log() != nullptr);
    std::vector<std::string> lines;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (lines.size() < refused.size() && std::chrono::steady_clock::now() < deadline) {
        px.server().log()->flush();
        lines = read_lines(log_path);
    }
    REQUIRE(lines.size() == refused.size());
    std::vector<unsigned> statuses;
    for (const auto& line : lines) {
        INFO(line);
        const auto l = parse_envoy_line(line);
        REQUIRE(l);
        CHECK(l->flags == "DPE");
        CHECK(l->bytes_sent > 0);
        statuses.push_back(l->status);
    }
    std::sort(statuses.begin(), statuses.end());
    CHECK(statuses == std::vector<unsigned>{400, 413, 431});
    // The head that failed to parse has no method; the one refused for its size has one.
    CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
              return l.find("\"- - HTTP/1.1\"") != std::string::npos;
          }) == 1);

    http_client a(admin.port());
    const auto prom = a.get("/stats/prometheus", "127.0.0.1");
    REQUIRE(prom.status == 200);
    std::string perr;
    const auto samples = parse_prometheus(prom.body, perr);
    INFO(perr);
    REQUIRE(samples);
    const auto xx4 = prom_value(*samples, "envoy_http_downstream_rq_xx",
                                {{"listener", "egress"}, {"envoy_response_code_class", "4"}});
    REQUIRE(xx4);
    CHECK(*xx4 == 3);
    const auto dpe = prom_value(*samples, "envoy_http_downstream_rq_response_flags",
                                {{"listener", "egress"}, {"flag", "DPE"}});
    REQUIRE(dpe);
    CHECK(*dpe == 3);
}
