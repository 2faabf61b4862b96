// TCP through two proxies with mTLS, as two sidecars: the client side (--tcp-listen to a node
// provider) originates TLS per its client policy (SNI, server SAN validation, client
// certificate); the server side's inbound tcp listener terminates it (STRICT or PERMISSIVE,
// client certificate chain and SAN checked by the listener's context) in front of a real redis.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>

#include "proxy/tcp/tcp_listen.hpp"
#include "proxy/tcp/tcp_session.hpp"
#include "tests/integration/tcp/tcp_meshes.hpp"
#include "tests/integration/tcp/tcp_proxy.hpp"
#include "tests/integration/tcp/tcp_support.hpp"
#include "tests/support/generated_certs.hpp"

using namespace outrigger;
using namespace outrigger::test::tcp;
using outrigger::test::proxy_options;
namespace net = boost::asio;

namespace {

const outrigger::test::generated_certs& certs() {
    static const outrigger::test::generated_certs c("outrigger-tcp-mtls");
    return c;
}

std::string cert(const std::string& name) { return (certs().dir() / name).string(); }

std::string listener_tls(const std::string& mode, const std::string& client_san) {
    return "      tls:\n        mode: " + mode +
           "\n        certificate:\n          file:\n            certificateChain: " + cert("server.pem") +
           "\n            privateKey: " + cert("server.key") +
           "\n        validation:\n          trust:\n            file:\n              certificateChain: " +
           cert("ca.pem") + "\n          subjectAlternativeNames:\n            match:\n              exact: [" +
           client_san + "]\n";
}

std::string client_policy(const std::string& client_cert, const std::string& server_san) {
    return "  backendDefaults:\n    clientPolicy:\n      tls:\n        certificate:\n          file:\n"
           "            certificateChain: " + cert(client_cert + ".pem") +
           "\n            privateKey: " + cert(client_cert + ".key") +
           "\n        validation:\n          trust:\n            file:\n              certificateChain: " +
           cert("ca.pem") + "\n          subjectAlternativeNames:\n            match:\n              exact: [" +
           server_san + "]\n";
}

std::string ping(std::uint16_t port) {
    fd_socket s = connect_to(port);
    s.send_all(std::string("*1\r\n$4\r\nPING\r\n"));
    std::string reply;
    char buf[32];
    while (reply.size() < 7) {
        const ssize_t n = s.recv_some(buf, sizeof(buf), 10s);
        if (n <= 0) {
            return reply;
        }
        reply.append(buf, static_cast<std::size_t>(n));
    }
    return reply;
}

/// The two sidecars: `server` in front of redis (node redis-secure), `client` with --tcp-listen
/// to redis-secure (node yelb-appserver).
struct sidecars {
    sidecars(const redis_server& app, const std::string& mode, const std::string& client_cert,
             const std::string& accepted_client_san, const std::string& server_san,
             bool default_retry = true) {
        yelb_options o;
        o.secure_port = app.port();
        o.secure_listener_extra = listener_tls(mode, accepted_client_san);
        o.client_extra = client_policy(client_cert, server_san);
        const std::string yaml = yelb_mesh(o);
        const std::uint16_t port = app.port();
        proxy_options so;
        so.node = "yelb/redis-secure";
        server = std::make_unique<tcp_proxy>(
            yaml, so, [port](proxy::worker& w, net::ip::tcp::socket s) -> net::awaitable<void> {
                auto plan = proxy::plan_tcp_ingress(w, port);
                if (plan) {
                    co_await proxy::run_tcp_session(w, std::move(s), std::move(*plan));
                }
            });
        proxy_options co;
        co.node = "yelb/yelb-appserver";
        co.default_retry = default_retry;
        co.connect_to = {outrigger::test::connect_to("redis-secure.yelb.svc.cluster.local", port,
                                                     server->port())};
        auto spec = std::make_shared<proxy::tcp_listen_spec>();
        std::string err;
        REQUIRE(proxy::parse_tcp_listen("0=redis-secure.yelb.svc.cluster.local:" + std::to_string(port), *spec, err));
        client = std::make_unique<tcp_proxy>(yaml, co, [spec](proxy::worker& w, net::ip::tcp::socket s) {
            return proxy::run_tcp_listen_session(w, std::move(s), *spec);
        });
    }
    std::unique_ptr<tcp_proxy> server;
    std::unique_ptr<tcp_proxy> client;
};

}  // namespace

TEST_CASE("tcp mTLS: two sidecars carry redis over TLS with client certificates and SAN checks",
          "[tcp][tls][redis]") {
    redis_server app;
    sidecars sc(app, "STRICT", "client-web", "web.shop.svc.cluster.local", "a.shop.svc.cluster.local");
    CHECK(ping(sc.client->port()) == "+PONG\r\n");
    const auto s_lines = sc.server->wait_log(1);
    REQUIRE(s_lines.size() == 1);
    CHECK(s_lines[0].flags == "-");
    CHECK(s_lines[0].listener == "ingress");
    CHECK(s_lines[0].sni == "redis-secure.yelb.svc.cluster.local");  // the client's SNI
    CHECK(s_lines[0].upstream == "127.0.0.1:" + std::to_string(app.port()));
    CHECK(s_lines[0].rx == "14");  // plaintext bytes, after TLS
    const auto c_lines = sc.client->wait_log(1);
    REQUIRE(c_lines.size() == 1);
    CHECK(c_lines[0].flags == "-");
    CHECK(c_lines[0].cluster == "cds_egress_yelb_redis-secure_yelb_tcp_" + std::to_string(app.port()));

    SECTION("STRICT refuses plaintext (DPE), straight to the server side") {
        CHECK(ping(sc.server->port()).empty());
        const auto lines = sc.server->wait_log(2);
        REQUIRE(lines.size() == 2);
        CHECK(lines[1].flags == "DPE");
    }
}

TEST_CASE("tcp mTLS: a client certificate whose SAN the listener does not accept is refused",
          "[tcp][tls][redis]") {
    redis_server app;
    // client-batch carries only a SPIFFE URI SAN; the listener accepts web.shop.svc.cluster.local.
    sidecars sc(app, "STRICT", "client-batch", "web.shop.svc.cluster.local", "a.shop.svc.cluster.local");
    CHECK(ping(sc.client->port()).empty());
    const auto lines = sc.server->wait_log(1);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines[0].flags == "DPE");
    CHECK(lines[0].upstream == "-");  // redis never saw it
}

TEST_CASE("tcp mTLS: a server certificate without the expected SAN fails the origination (UF)",
          "[tcp][tls][redis]") {
    redis_server app;
    sidecars sc(app, "STRICT", "client-web", "web.shop.svc.cluster.local", "other.example", false);
    CHECK(ping(sc.client->port()).empty());
    const auto lines = sc.client->wait_log(1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].flags == "UF");
    CHECK(lines[0].attempts == "1");  // --no-default-retry here
    CHECK(lines[0].rx == "0");
}

TEST_CASE("tcp mTLS: PERMISSIVE accepts TLS and plaintext by the first bytes", "[tcp][tls][redis]") {
    redis_server app;
    sidecars sc(app, "PERMISSIVE", "client-web", "web.shop.svc.cluster.local", "a.shop.svc.cluster.local");
    CHECK(ping(sc.client->port()) == "+PONG\r\n");  // TLS from the client sidecar
    CHECK(ping(sc.server->port()) == "+PONG\r\n");  // plaintext straight in
    const auto lines = sc.server->wait_log(2);
    REQUIRE(lines.size() == 2);
    std::map<std::string, int> by_sni;
    for (const auto& l : lines) {
        CHECK(l.flags == "-");
        ++by_sni[l.sni];
    }
    CHECK(by_sni["redis-secure.yelb.svc.cluster.local"] == 1);
    CHECK(by_sni["-"] == 1);
}
