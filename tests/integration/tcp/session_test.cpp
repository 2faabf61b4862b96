// run_tcp_session against two real redis-server processes (Debian) as v1/v2 behind a tcpRoute,
// reached the way --tcp-listen reaches them (run_tcp_listen_session on a worker without the
// server): the per-connection 50/50 split over 1,000 connections, redis-cli through it, connect
// retries from a dead endpoint to a live one, outlier ejection, the idle timeout, the access-log
// line and the tcp counters; and an inbound tcp listener's connectionPool.tcp.maxConnections.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "proxy/tcp/tcp_listen.hpp"
#include "proxy/tcp/tcp_session.hpp"
#include "tests/integration/tcp/tcp_meshes.hpp"
#include "tests/integration/tcp/tcp_proxy.hpp"
#include "tests/integration/tcp/tcp_support.hpp"

using namespace outrigger;
using namespace outrigger::test::tcp;
using outrigger::test::proxy_options;

namespace {

const std::string redis_service = "redis-server.yelb.svc.cluster.local";

/// RESP command from words.
std::string resp(std::initializer_list<std::string> words) {
    std::string s = "*" + std::to_string(words.size()) + "\r\n";
    for (const auto& w : words) {
        s += "$" + std::to_string(w.size()) + "\r\n" + w + "\r\n";
    }
    return s;
}

/// One connection: GET who → the value ("v1"/"v2"), "(nil)", or "" when the connection was
/// closed before a whole reply.
std::string who_answers(std::uint16_t port) {
    fd_socket s = connect_to(port);
    s.send_all(resp({"GET", "who"}));
    std::string got;
    char buf[64];
    for (;;) {
        const auto eol = got.find("\r\n");
        if (eol != std::string::npos) {
            if (got.rfind("$-1", 0) == 0) {
                return "(nil)";
            }
            const std::size_t len = std::stoul(got.substr(1, eol - 1));
            if (got.size() >= eol + 2 + len + 2) {
                return got.substr(eol + 2, len);
            }
        }
        const ssize_t n = s.recv_some(buf, sizeof(buf), 10s);
        if (n <= 0) {
            return {};
        }
        got.append(buf, static_cast<std::size_t>(n));
    }
}

void set_who(const redis_server& r, const std::string& value) {
    fd_socket s = connect_to(r.port());
    s.send_all(resp({"SET", "who", value}));
    CHECK(s.recv_exact(5) == "+OK\r\n");
}

proxy_options connect_rules(std::uint16_t v1, std::uint16_t v2) {
    proxy_options o;
    o.node = "yelb/yelb-appserver";
    o.connect_to = {outrigger::test::connect_to("redis-v1.yelb.svc.cluster.local", 6379, v1),
                    outrigger::test::connect_to("redis-v2.yelb.svc.cluster.local", 6379, v2)};
    return o;
}

/// The --tcp-listen entry for `SERVICE:6379`.
entry_fn tcp_listen_entry(const std::string& service = redis_service) {
    auto spec = std::make_shared<proxy::tcp_listen_spec>();
    std::string error;
    REQUIRE(proxy::parse_tcp_listen("0=" + service + ":6379", *spec, error));
    return [spec](proxy::worker& w, boost::asio::ip::tcp::socket s) {
        return proxy::run_tcp_listen_session(w, std::move(s), *spec);
    };
}

std::string run_shell(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[256];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) {
        out += buf;
    }
    ::pclose(p);
    return out;
}

}  // namespace

TEST_CASE("tcp session: a 50/50 tcpRoute splits 1,000 redis connections within 5 %",
          "[tcp][session][redis]") {
    redis_server v1;
    redis_server v2;
    set_who(v1, "v1");
    set_who(v2, "v2");
    tcp_proxy px(yelb_mesh(), connect_rules(v1.port(), v2.port()), tcp_listen_entry());

    std::map<std::string, int> seen;
    for (int i = 0; i < 1000; ++i) {
        ++seen[who_answers(px.port())];
    }
    INFO("v1 " << seen["v1"] << ", v2 " << seen["v2"]);
    CHECK(seen["v1"] + seen["v2"] == 1000);
    CHECK(seen["v1"] >= 450);
    CHECK(seen["v1"] <= 550);

    // redis-cli (Debian redis-tools) through the proxy, as a user would run it.
    const std::string out = run_shell("timeout 10 redis-cli -h 127.0.0.1 -p " + std::to_string(px.port()) +
                                      " GET who 2>&1");
    CHECK((out == "v1\n" || out == "v2\n"));

    // One access-log line per connection, with Envoy's TCP fields.
    const auto lines = px.wait_log(1001);
    REQUIRE(lines.size() == 1001);
    std::map<std::string, int> clusters;
    for (const auto& l : lines) {
        ++clusters[l.cluster];
        CHECK(l.flags == "-");
        CHECK(l.attempts == "1");
        CHECK(l.route == "redis-split");
        CHECK(l.service == "yelb/redis-server.yelb.svc.cluster.local");
        CHECK(l.listener == "tcp-listen");
        CHECK(l.rx != "0");
        CHECK(l.tx != "0");
        CHECK(l.remote.rfind("127.0.0.1:", 0) == 0);
    }
    CHECK(clusters["cds_egress_yelb_redis-v1_yelb_tcp_6379"] + clusters["cds_egress_yelb_redis-v2_yelb_tcp_6379"] == 1001);
    const auto& l0 = lines.front();
    CHECK((l0.upstream == "127.0.0.1:" + std::to_string(v1.port()) ||
           l0.upstream == "127.0.0.1:" + std::to_string(v2.port())));
    CHECK(l0.rx == std::to_string(resp({"GET", "who"}).size()));
    CHECK(l0.tx == std::to_string(std::string("$2\r\nv1\r\n").size()));

    // Counters with Envoy's tcp names, summed per prefix.
    const std::string prom = px.metrics().render_prometheus({});
    CHECK_THAT(prom, Catch::Contains("# TYPE envoy_tcp_downstream_cx_total counter"));
    CHECK_THAT(prom, Catch::Contains("envoy_tcp_downstream_cx_active{envoy_tcp_prefix=\"cds_egress_yelb_redis-v1_yelb_tcp_6379\"} 0"));
    CHECK_THAT(prom, Catch::Contains("envoy_tcp_downstream_cx_total{envoy_tcp_prefix=\"cds_egress_yelb_redis-v1_yelb_tcp_6379\"} " +
                                     std::to_string(clusters["cds_egress_yelb_redis-v1_yelb_tcp_6379"])));
    CHECK_THAT(prom, Catch::Contains("envoy_tcp_downstream_cx_rx_bytes_total{envoy_tcp_prefix=\"cds_egress_yelb_redis-v2_yelb_tcp_6379\"} "));
    const std::string stats = px.metrics().render_envoy({});
    CHECK_THAT(stats, Catch::Contains("tcp.cds_egress_yelb_redis-v1_yelb_tcp_6379.downstream_cx_total: "));
}

TEST_CASE("tcp session: weights 100/0 send every connection to v1; the split follows a reload-free"
          " decision per connection", "[tcp][session][redis]") {
    redis_server v1;
    redis_server v2;
    set_who(v1, "v1");
    set_who(v2, "v2");
    yelb_options o;
    o.weight_v1 = 100;
    o.weight_v2 = 0;
    tcp_proxy px(yelb_mesh(o), connect_rules(v1.port(), v2.port()), tcp_listen_entry());
    for (int i = 0; i < 50; ++i) {
        CHECK(who_answers(px.port()) == "v1");
    }
}

TEST_CASE("tcp session: a connect failure is retried on the next endpoint, never after a byte",
          "[tcp][session][redis][retry]") {
    redis_server live;
    set_who(live, "live");
    const std::uint16_t dead = free_port();  // nothing listens: connection refused
    yelb_options o;
    o.weight_v1 = 1;
    o.weight_v2 = 0;
    o.v1_response_type = "ENDPOINTS";
    proxy_options po;
    po.node = "yelb/yelb-appserver";
    // Two --connect-to rules to IP literals: a static endpoint list, round robin (dead, live).
    po.connect_to = {outrigger::test::connect_to("redis-v1.yelb.svc.cluster.local", 6379, dead),
                     outrigger::test::connect_to("redis-v1.yelb.svc.cluster.local", 6379, live.port())};

    SECTION("the default policy retries the connect: every connection reaches the live one") {
        tcp_proxy px(yelb_mesh(o), po, tcp_listen_entry());
        for (int i = 0; i < 20; ++i) {
            CHECK(who_answers(px.port()) == "live");
        }
        const auto lines = px.wait_log(20);
        REQUIRE(lines.size() == 20);
        int retried = 0;
        for (const auto& l : lines) {
            CHECK(l.upstream == "127.0.0.1:" + std::to_string(live.port()));
            CHECK(l.flags == "-");
            retried += l.attempts == "2" ? 1 : 0;
        }
        CHECK(retried >= 5);  // round robin starts on the dead endpoint about half the time
        CHECK_THAT(px.metrics().render_prometheus({}),
                   Catch::Contains("envoy_tcp_upstream_cx_connect_retry{envoy_tcp_prefix=\"cds_egress_yelb_redis-v1_yelb_tcp_6379\"} " +
                                   std::to_string(retried)));
    }
    SECTION("--no-default-retry: the dead endpoint's connections fail with UF") {
        po.default_retry = false;
        tcp_proxy px(yelb_mesh(o), po, tcp_listen_entry());
        int closed = 0;
        for (int i = 0; i < 20; ++i) {
            closed += who_answers(px.port()).empty() ? 1 : 0;
        }
        CHECK(closed >= 5);
        CHECK(closed <= 15);
        const auto lines = px.wait_log(20);
        int uf = 0;
        for (const auto& l : lines) {
            if (l.flags == "UF") {
                ++uf;
                CHECK(l.upstream == "127.0.0.1:" + std::to_string(dead));
                CHECK(l.rx == "0");
                CHECK(l.tx == "0");
            }
        }
        CHECK(uf == closed);
    }
    SECTION("outlier detection ejects the dead endpoint after one connect failure") {
        o.v1_listener_extra =
            "      outlierDetection:\n        maxServerErrors: 1\n        maxEjectionPercent: 100\n"
            "        interval: {unit: s, value: 10}\n        baseEjectionDuration: {unit: s, value: 60}\n";
        tcp_proxy px(yelb_mesh(o), po, tcp_listen_entry());
        for (int i = 0; i < 20; ++i) {
            CHECK(who_answers(px.port()) == "live");
        }
        const auto lines = px.wait_log(20);
        REQUIRE(lines.size() == 20);
        int retried = 0;
        for (const auto& l : lines) {
            retried += l.attempts == "2" ? 1 : 0;
        }
        CHECK(retried == 1);  // after the first failure the dead endpoint is skipped
    }
}

TEST_CASE("tcp session: the tcpRoute idle timeout closes a quiet connection", "[tcp][session][redis]") {
    redis_server v1;
    redis_server v2;
    yelb_options o;
    o.route_extra = "        timeout:\n          idle: {unit: ms, value: 400}\n";
    tcp_proxy px(yelb_mesh(o), connect_rules(v1.port(), v2.port()), tcp_listen_entry());
    fd_socket s = connect_to(px.port());
    s.send_all(resp({"PING"}));
    CHECK(s.recv_exact(7) == "+PONG\r\n");
    const auto start = clock_type::now();
    const auto eof = s.recv_until_eof(10s);
    REQUIRE(eof.has_value());  // closed by the proxy, not by redis (its timeout is 0 = never)
    CHECK(clock_type::now() - start >= 350ms);
    const auto lines = px.wait_log(1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].flags == "SI");
    CHECK_THAT(px.metrics().render_prometheus({}), Catch::Contains("envoy_tcp_idle_timeout{envoy_tcp_prefix="));
}

TEST_CASE("tcp session: --tcp-listen specs are parsed and checked against the mesh", "[tcp][session]") {
    proxy::tcp_listen_spec s;
    std::string err;
    REQUIRE(proxy::parse_tcp_listen("6379=redis-server.yelb.svc.cluster.local:6379", s, err));
    CHECK(s.address == "127.0.0.1");
    CHECK(s.local_port == 6379);
    CHECK(s.service == "redis-server.yelb.svc.cluster.local");
    CHECK(s.port == 6379);
    REQUIRE(proxy::parse_tcp_listen("0.0.0.0:16379=redis:6379", s, err));
    CHECK(s.address == "0.0.0.0");
    CHECK(s.local_port == 16379);
    REQUIRE(proxy::parse_tcp_listen("[::1]:16379=redis:6379", s, err));
    CHECK(s.address == "::1");
    for (const char* bad : {"6379", "6379=redis", "x:6379=redis:6379", "70000=redis:6379",
                            "6379=redis:0", "[::1:6379=redis:1", "6379=:6379"}) {
        INFO(bad);
        CHECK_FALSE(proxy::parse_tcp_listen(bad, s, err));
        CHECK_THAT(err, Catch::StartsWith(std::string("--tcp-listen ") + bad));
    }
    const auto snap = outrigger::test::compile_mesh(yelb_mesh(), connect_rules(1, 2));
    REQUIRE(proxy::parse_tcp_listen("6379=redis-server.yelb.svc.cluster.local:6379", s, err));
    CHECK(proxy::check_tcp_listen(*snap, s).empty());
    REQUIRE(proxy::parse_tcp_listen("6379=redis-server:6379", s, err));
    CHECK_THAT(proxy::check_tcp_listen(*snap, s),
               Catch::Contains("\"redis-server\" is not a virtual service among this node's backends "
                               "(did you mean \"redis-server.yelb.svc.cluster.local\"?)"));
    REQUIRE(proxy::parse_tcp_listen("6379=redis-server.yelb.svc.cluster.local:6380", s, err));
    CHECK_THAT(proxy::check_tcp_listen(*snap, s), Catch::Contains("has no tcp listener on port 6380; it listens on 6379 (tcp)"));
}

TEST_CASE("tcp session: an inbound tcp listener enforces connectionPool.tcp.maxConnections",
          "[tcp][session][redis][pool]") {
    redis_server app;
    yelb_options o;
    o.secure_port = app.port();
    o.secure_listener_extra = "      connectionPool:\n        tcp:\n          maxConnections: 2\n"
                              "      timeout:\n        tcp:\n          idle: {unit: s, value: 30}\n";
    proxy_options po;
    po.node = "yelb/redis-secure";
    const std::uint16_t port = app.port();
    tcp_proxy px(yelb_mesh(o), po, [port](proxy::worker& w, boost::asio::ip::tcp::socket s) -> boost::asio::awaitable<void> {
        auto plan = proxy::plan_tcp_ingress(w, port);
        if (!plan) {
            co_return;  // the test then sees a closed connection (no Catch macro off the test thread)
        }
        co_await proxy::run_tcp_session(w, std::move(s), std::move(*plan));
    });
    fd_socket a = connect_to(px.port());
    fd_socket b = connect_to(px.port());
    a.send_all(resp({"PING"}));
    b.send_all(resp({"PING"}));
    CHECK(a.recv_exact(7) == "+PONG\r\n");
    CHECK(b.recv_exact(7) == "+PONG\r\n");
    // The third is over the limit: closed without being proxied.
    fd_socket c = connect_to(px.port());
    const auto closed = c.recv_until_eof(10s);
    CHECK(closed.has_value());
    if (closed) {
        CHECK(closed->empty());
    }
    a.close();
    // A slot is free again once the proxy saw a's close (its log line is written then).
    px.wait_log(2);
    fd_socket d = connect_to(px.port());
    d.send_all(resp({"PING"}));
    CHECK(d.recv_exact(7) == "+PONG\r\n");
    b.close();
    d.close();
    const auto lines = px.wait_log(4);
    REQUIRE(lines.size() == 4);
    int uo = 0;
    for (const auto& l : lines) {
        uo += l.flags == "UO" ? 1 : 0;
        CHECK(l.listener == "ingress");
        CHECK(l.cluster == "cds_ingress_yelb_redis-secure_yelb_tcp_" + std::to_string(app.port()));
    }
    CHECK(uo == 1);
    CHECK(px.limits().overflows() == 1);
    CHECK_THAT(px.metrics().render_prometheus({}),
               Catch::Contains("envoy_tcp_upstream_cx_overflow{envoy_tcp_prefix=\"cds_ingress_yelb_redis-secure_yelb_tcp_" +
                               std::to_string(app.port()) + "\"} 1"));
}
