// Access log lines, Prometheus output and admin endpoints after known traffic (in-process proxy),
// and tracing headers passed through unchanged.
#include <unistd.h>

#include <regex>
#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "ops_support.hpp"
#include "proxy/admin_server.hpp"
#include "tests/integration/dataplane/meshes.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger;
using namespace outrigger::test;

namespace {

std::string canary_100_0() {
    std::string m = canary_mesh();
    m.replace(m.find("weight: 90"), 10, "weight: 1 ");
    m.replace(m.find("weight: 10"), 10, "weight: 0 ");
    return m;
}

}  // namespace

TEST_CASE("ops: access log lines and Prometheus counters after known traffic", "[integration][ops]") {
    test_upstream v1([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v1"; });
    test_upstream v2;
    const std::string log_path = temp_path("outrigger-ops-log");
    proxy_options o;
    o.node = "web";
    o.workers = 2;
    o.access_log_path = log_path;
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port()),
                    connect_to("checkout-v2.test.local", 8080, v2.port())};
    proxy_under_test px(canary_100_0(), o);
    proxy::admin_server admin(px.server(), nullptr, proxy::admin_info{"test", "test"});
    std::string err;
    REQUIRE(admin.start("127.0.0.1", 0, err));

    {
        http_client c(px.egress_port());
        for (int i = 0; i < 3; ++i) {
            const auto r = c.get("/shop/" + std::to_string(i), "checkout.shop.svc.cluster.local:8080",
                                 {{"user-agent", "ops-test"}, {"x-request-id", "rid-" + std::to_string(i)}});
            REQUIRE(r.status == 200);
        }
        CHECK(c.get("/nope", "unknown.shop.svc.cluster.local:8080").status == 404);
    }

    // Access log: four lines in Envoy's default format.
    // A line is appended right after its response is written: poll (flushing) with a deadline.
    REQUIRE(px.server().log() != nullptr);
    std::vector<std::string> lines;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (lines.size() < 4 && std::chrono::steady_clock::now() < deadline) {
        px.server().log()->flush();
        lines = read_lines(log_path);
    }
    REQUIRE(lines.size() == 4);
    int ok = 0;
    for (const auto& line : lines) {
        INFO(line);
        const auto l = parse_envoy_line(line);
        REQUIRE(l);
        CHECK(l->method == "GET");
        CHECK(l->protocol == "HTTP/1.1");
        if (l->status == 200) {
            ++ok;
            CHECK(l->flags == "-");
            CHECK(l->path.rfind("/shop/", 0) == 0);
            CHECK(l->request_id == "rid-" + l->path.substr(6));
            CHECK(l->user_agent == "ops-test");
            CHECK(l->authority == "checkout.shop.svc.cluster.local:8080");
            CHECK(l->upstream_host == "127.0.0.1:" + std::to_string(v1.port()));
            CHECK(l->bytes_sent > 0);
            CHECK(l->service_time != "-");  // x-envoy-upstream-service-time, as Envoy logs it
        } else {
            CHECK(l->status == 404);
            CHECK(l->flags == "NR");
            CHECK(l->upstream_host == "-");
            CHECK(l->request_id == "-");  // no id generated for a local reply before routing
        }
    }
    CHECK(ok == 3);

    // Prometheus: parse strictly, then check the numbers.
    http_client a(admin.port());
    const auto prom = a.get("/stats/prometheus", "127.0.0.1");
    REQUIRE(prom.status == 200);
    std::string perr;
    const auto samples = parse_prometheus(prom.body, perr);
    INFO(perr);
    REQUIRE(samples);
    const std::string v1c = "cds_egress_shop-mesh_checkout-v1_shop_http_8080";
    auto val = [&](const std::string& n, const std::map<std::string, std::string>& l) {
        const auto v = prom_value(*samples, n, l);
        INFO(n);
        REQUIRE(v);
        return *v;
    };
    CHECK(val("envoy_http_downstream_rq_total", {{"listener", "egress"}}) == 4);
    CHECK(val("envoy_http_downstream_rq_xx", {{"listener", "egress"}, {"envoy_response_code_class", "2"}}) == 3);
    CHECK(val("envoy_http_downstream_rq_xx", {{"listener", "egress"}, {"envoy_response_code_class", "4"}}) == 1);
    CHECK(val("envoy_http_downstream_rq_response_flags", {{"listener", "egress"}, {"flag", "NR"}}) == 1);
    CHECK(val("envoy_http_downstream_rq_time_count", {{"listener", "egress"}}) == 4);
    CHECK(val("envoy_http_downstream_rq_time_bucket", {{"listener", "egress"}, {"le", "+Inf"}}) == 4);
    CHECK(val("envoy_http_downstream_cx_total", {{"listener", "egress"}}) == 1);  // one keep-alive client
    CHECK(val("envoy_http_downstream_rq_active", {{"listener", "egress"}}) == 0);
    CHECK(val("envoy_vhost_rq_total", {{"virtual_service", "shop/checkout"}}) == 3);
    CHECK(val("envoy_route_rq_total", {{"virtual_router", "shop/checkout"}, {"route", "canary"}}) == 3);
    CHECK(val("envoy_cluster_upstream_rq_total", {{"envoy_cluster_name", v1c}}) == 3);
    CHECK(val("envoy_cluster_upstream_rq_xx", {{"envoy_cluster_name", v1c}, {"envoy_response_code_class", "2"}}) == 3);
    CHECK(val("envoy_cluster_endpoint_upstream_rq_total",
              {{"envoy_cluster_name", v1c}, {"endpoint", "127.0.0.1:" + std::to_string(v1.port())}}) == 3);
    CHECK(val("envoy_cluster_upstream_rq_retry", {{"envoy_cluster_name", v1c}}) == 0);
    CHECK(val("envoy_cluster_upstream_outlier_ejections", {{"envoy_cluster_name", v1c}}) == 0);
    // Histogram buckets are cumulative and end at the count.
    double prev = 0;
    for (const auto& s : *samples) {
        if (s.name == "envoy_http_downstream_rq_time_bucket" && s.labels.at("listener") == "egress") {
            CHECK(s.value >= prev);
            prev = s.value;
        }
    }
    CHECK(prev == 4);

    // /metrics is the same; /stats is Envoy's plain text.
    CHECK(a.get("/metrics", "127.0.0.1").status == 200);
    const auto stats = a.get("/stats", "127.0.0.1");
    REQUIRE(stats.status == 200);
    CHECK(stats.body.find("http.egress.downstream_rq_total: 4\n") != std::string::npos);
    CHECK(stats.body.find("cluster." + v1c + ".upstream_rq_total: 3\n") != std::string::npos);
    CHECK(stats.body.find("http.egress.downstream_rq_flag_NR: 1\n") != std::string::npos);
    const auto clusters = a.get("/clusters", "127.0.0.1");
    CHECK(clusters.body.find(v1c + "::127.0.0.1:" + std::to_string(v1.port()) + "::rq_total::3\n") !=
          std::string::npos);
    ::unlink(log_path.c_str());
}

TEST_CASE("ops: admin endpoints and methods", "[integration][ops]") {
    test_upstream v1;
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port())};
    proxy_under_test px(canary_100_0(), o);
    proxy::admin_server admin(px.server(), nullptr, proxy::admin_info{"9.9.9", "outrigger run"});
    std::string err;
    REQUIRE(admin.start("127.0.0.1", 0, err));
    http_client a(admin.port());

    CHECK(a.get("/ready", "127.0.0.1").status == 200);
    for (const char* p : {"/healthcheck/fail", "/drain_listeners", "/reload"}) {
        INFO(p);
        CHECK(a.get(p, "127.0.0.1").status == 405);
    }
    CHECK(a.request(http::verb::post, "/stats", "127.0.0.1").status == 405);
    CHECK(a.get("/nowhere", "127.0.0.1").status == 404);

    const auto info = a.get("/server_info", "127.0.0.1");
    REQUIRE(info.status == 200);
    const auto iv = boost::json::parse(info.body);
    CHECK(iv.at("version").as_string() == "9.9.9");
    CHECK(iv.at("state").as_string() == "LIVE");
    CHECK(iv.at("node").as_string() == "shop/web");

    const auto dump = a.get("/config_dump", "127.0.0.1");
    REQUIRE(dump.status == 200);
    const auto dv = boost::json::parse(dump.body);
    const auto& routes = dv.at("snapshot").at("routes").as_array();
    REQUIRE(routes.size() == 1);
    CHECK(routes[0].at("name").as_string() == "canary");
    CHECK(routes[0].at("weighted_targets").as_array().size() == 1);  // the weight-0 target is dropped
    CHECK(dv.at("snapshot").at("mesh").as_string() == "shop-mesh");

    // Health check failure: /ready 503, traffic still flows.
    CHECK(a.request(http::verb::post, "/healthcheck/fail", "127.0.0.1").status == 200);
    CHECK(a.get("/ready", "127.0.0.1").status == 503);
    CHECK(http_get(px.egress_port(), "checkout.shop.svc.cluster.local:8080", "/").status == 200);

    // drain_listeners: new connections are refused once the workers closed their acceptors.
    CHECK(a.request(http::verb::post, "/drain_listeners", "127.0.0.1").status == 200);
    bool refused = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!refused && std::chrono::steady_clock::now() < deadline) {
        refused = !http_get(px.egress_port(), "checkout.shop.svc.cluster.local:8080", "/").ok;
    }
    CHECK(refused);
    CHECK(boost::json::parse(a.get("/server_info", "127.0.0.1").body).at("state").as_string() == "DRAINING");
}

TEST_CASE("ops: tracing headers pass through unchanged and x-request-id is generated", "[integration][ops]") {
    test_upstream v1;
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port())};
    proxy_under_test px(canary_100_0(), o);
    const header_list trace = {
        {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        {"tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"},
        {"x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"},
        {"x-b3-spanid", "e457b5a2e4d86bd1"},
        {"x-b3-parentspanid", "05e3ac9a4f6e3b90"},
        {"x-b3-sampled", "1"},
        {"b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"},
        {"x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"},
        {"x-request-id", "given-id-42"},
    };
    REQUIRE(http_get(px.egress_port(), "checkout.shop.svc.cluster.local:8080", "/t", trace).status == 200);
    const auto seen = v1.last_request();
    for (const auto& [k, v] : trace) {
        INFO(k);
        CHECK(std::string(seen[k]) == v);
    }
    REQUIRE(http_get(px.egress_port(), "checkout.shop.svc.cluster.local:8080", "/t").status == 200);
    const std::string id(v1.last_request()["x-request-id"]);
    CHECK(std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
}

TEST_CASE("ops: the node's logging.accessLog JSON format is used", "[integration][ops]") {
    test_upstream v1;
    const std::string log_path = temp_path("outrigger-ops-json");
    std::string mesh = canary_100_0();
    // The web node logs with a JSON format.
    const std::string anchor = "  serviceDiscovery:\n    dns:\n      hostname: web.test.local";
    const auto pos = mesh.find(anchor);
    REQUIRE(pos != std::string::npos);
    mesh.insert(pos, "  logging:\n    accessLog:\n      file:\n        path: " + log_path +
                         "\n        format:\n          json:\n            - key: code\n              value: "
                         "\"%RESPONSE_CODE%\"\n            - key: tries\n              value: \"%UPSTREAM_ATTEMPTS%\"\n"
                         "            - key: cluster\n              value: \"%UPSTREAM_CLUSTER%\"\n"
                         "            - key: rid\n              value: \"%REQ(X-REQUEST-ID)%\"\n");
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port())};
    proxy_under_test px(mesh, o);
    REQUIRE(http_get(px.egress_port(), "checkout.shop.svc.cluster.local:8080", "/j", {{"x-request-id", "j1"}}).status == 200);
    REQUIRE(px.server().log() != nullptr);
    std::vector<std::string> lines;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (lines.empty() && std::chrono::steady_clock::now() < deadline) {
        px.server().log()->flush();
        lines = read_lines(log_path);
    }
    REQUIRE(lines.size() == 1);
    const auto v = boost::json::parse(lines[0]);
    CHECK(v.at("code").as_int64() == 200);
    CHECK(v.at("tries").as_int64() == 1);
    CHECK(v.at("cluster").as_string() == "cds_egress_shop-mesh_checkout-v1_shop_http_8080");
    CHECK(v.at("rid").as_string() == "j1");
    ::unlink(log_path.c_str());
}
