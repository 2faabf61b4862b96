// Transparent mode (--transparent) without iptables: connections that were not redirected have
// no original destination and are served in explicit mode. The redirected path (SO_ORIGINAL_DST
// after iptables REDIRECT) needs root and network namespaces: tests/netns/multipod.sh.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include "meshes.hpp"
#include "proxy/original_dst.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

upstream_handler named(const std::string& name) {
    return [name](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = name; };
}

/// Accepts one loopback connection on `addr` and returns original_destination() of it.
std::optional<tcp::endpoint> orig_dst_of_plain_connection(const net::ip::address& addr) {
    net::io_context ioc;
    tcp::acceptor acc(ioc, tcp::endpoint(addr, 0));
    tcp::socket client(ioc);
    client.connect(acc.local_endpoint());
    tcp::socket server = acc.accept();
    return outrigger::proxy::original_destination(server);
}

}  // namespace

TEST_CASE("transparent: a connection that was not redirected has no original destination",
          "[integration][transparent]") {
    // Conntrack may track the loopback connection; its "original destination" is then the
    // listener itself, which must still read as not redirected.
    CHECK_FALSE(orig_dst_of_plain_connection(net::ip::make_address("127.0.0.1")).has_value());
    boost::system::error_code ec;
    net::io_context probe_ioc;
    tcp::acceptor probe(probe_ioc);
    probe.open(tcp::v6(), ec);
    if (!ec) {
        probe.bind(tcp::endpoint(net::ip::make_address("::1"), 0), ec);
    }
    if (!ec) {
        probe.close();
        CHECK_FALSE(orig_dst_of_plain_connection(net::ip::make_address("::1")).has_value());
    }
}

TEST_CASE("transparent: an unredirected connection is routed in explicit mode",
          "[integration][transparent]") {
    test_upstream v1(named("v1"));
    test_upstream v2(named("v2"));
    proxy_options o;
    o.node = "web";
    o.transparent = true;
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port()),
                    connect_to("checkout-v2.test.local", 8080, v2.port())};
    proxy_under_test px(canary_mesh(), o);
    http_client c(px.egress_port());
    int n1 = 0;
    for (int i = 0; i < 200; ++i) {
        const auto r = c.get("/x", "checkout.shop.svc.cluster.local:8080");
        REQUIRE(r.ok);
        REQUIRE(r.status == 200);
        n1 += r.body == "v1" ? 1 : 0;
    }
    CHECK(n1 >= 150);  // 90/10: 180 expected, a wide band
    CHECK(n1 <= 199);
    // The port still comes from the Host header (explicit mode §2): a wrong one is refused.
    const auto wrong = http_get(px.egress_port(), "checkout.shop.svc.cluster.local:9090", "/");
    CHECK(wrong.status == 404);
    CHECK(v1.requests() + v2.requests() == 200);
}

TEST_CASE("transparent: ALLOW_ALL passthrough of an unredirected connection uses the Host",
          "[integration][transparent]") {
    test_upstream up(named("direct"));
    proxy_options o;
    o.node = "web";
    o.transparent = true;
    proxy_under_test px(canary_mesh("ALLOW_ALL"), o);
    const auto r = http_get(px.egress_port(), "127.0.0.1:" + std::to_string(up.port()), "/p");
    CHECK(r.status == 200);
    CHECK(r.body == "direct");
    CHECK(up.requests() == 1);
}
