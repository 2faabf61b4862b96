// run_transparent_egress (the egress listener's entry in --transparent mode), driven with an
// explicit "original destination" so that no iptables is needed: a TCP backend's port goes to its
// tcpRoute at once; elsewhere the first bytes decide: HTTP/1 and h2 go to the HTTP path with the
// bytes read, TLS is passed through by SNI (never terminated: the client sees the server's own
// certificate) under ALLOW_ALL or an --egress-allow match, a server-first protocol passes after
// the sniffing deadline under ALLOW_ALL, and DROP_ALL refuses the rest, logged with the SNI.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <regex>
#include <thread>

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <openssl/x509.h>

#include "proxy/tcp/transparent_egress.hpp"
#include "tests/integration/tcp/tcp_meshes.hpp"
#include "tests/integration/tcp/tcp_proxy.hpp"
#include "tests/integration/tcp/tcp_support.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/generated_certs.hpp"

using namespace outrigger;
using namespace outrigger::test::tcp;
using outrigger::test::proxy_options;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

const outrigger::test::generated_certs& certs() {
    static const outrigger::test::generated_certs c("outrigger-tcp-transparent");
    return c;
}

/// A server-first service (SMTP-like): sends a banner, reads until the client's FIN, answers
/// what it read, closes. Counts the connections it accepted.
class banner_server {
public:
    banner_server() {
        thread_ = std::thread([this] {
            while (!stop_) {
                if (!listener_.wait_readable(100ms)) {
                    continue;
                }
                fd_socket c = listener_.accept(1s);
                ++accepted_;
                c.send_all(std::string("220 banner\r\n"));
                const auto got = c.recv_until_eof(10s);
                c.send_all("221 got " + got.value_or("?") + "\r\n");
            }
        });
    }
    ~banner_server() {
        stop_ = true;
        thread_.join();
    }
    [[nodiscard]] std::uint16_t port() const { return listener_.port(); }
    [[nodiscard]] int accepted() const { return accepted_; }

private:
    struct listener_t : fd_listener {
        [[nodiscard]] bool wait_readable(std::chrono::milliseconds t) const {
            pollfd p{fd(), POLLIN, 0};
            return ::poll(&p, 1, static_cast<int>(t.count())) == 1;
        }
    } listener_;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

tcp::endpoint loopback(std::uint16_t port) {
    return tcp::endpoint(net::ip::make_address("127.0.0.1"), port);
}

/// What the HTTP path was handed.
struct handoff_record {
    std::atomic<int> calls{0};
    std::promise<std::pair<proxy::first_bytes_protocol, std::string>> got;
};

/// The entry under test, with `destination` as the original destination of every connection.
entry_fn transparent_entry(tcp::endpoint destination, std::shared_ptr<handoff_record> http = nullptr) {
    return [destination, http](proxy::worker& w, tcp::socket s) {
        proxy::http_handoff h;
        if (http) {
            h = [http](tcp::socket sock, boost::beast::flat_buffer buf,
                       proxy::first_bytes_protocol p) -> net::awaitable<void> {
                const auto d = buf.data();
                if (http->calls++ == 0) {
                    http->got.set_value({p, std::string(static_cast<const char*>(d.data()), d.size())});
                }
                static constexpr std::string_view reply = "HTTP/1.1 204 No Content\r\n\r\n";
                auto [ec, n] = co_await net::async_write(sock, net::buffer(reply.data(), reply.size()),
                                                         net::as_tuple(net::use_awaitable));
                (void)ec;  // the test reads the reply or fails on its own deadline
                (void)n;
            };
        }
        return proxy::run_transparent_egress(w, std::move(s), destination, std::move(h));
    };
}

proxy_options yelb_client(std::uint16_t v1, std::uint16_t v2) {
    proxy_options o;
    o.node = "yelb/yelb-appserver";
    o.connect_to = {outrigger::test::connect_to("redis-v1.yelb.svc.cluster.local", 6379, v1),
                    outrigger::test::connect_to("redis-v2.yelb.svc.cluster.local", 6379, v2)};
    return o;
}

/// `openssl s_server` as an external HTTPS API (its own certificate), echoing lines reversed.
class tls_api {
public:
    tls_api()
        : port_(free_port()),
          // Its diagnostics (stderr) would clutter the test output; "ACCEPT" comes on stdout.
          proc_({"/bin/sh", "-c",
                 "exec /usr/bin/openssl s_server -accept 127.0.0.1:" + std::to_string(port_) +
                     " -cert '" + (certs().dir() / "server.pem").string() + "' -key '" +
                     (certs().dir() / "server.key").string() + "' -rev 2>/dev/null"}) {
        REQUIRE_FALSE(proc_.wait_for(std::regex("(ACCEPT)"), 10s).empty());
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }

private:
    std::uint16_t port_;
    outrigger::test::child_process proc_;
};

/// A TLS client through the proxy with `sni`: the server certificate's subject CN, and the
/// reversed echo of "hello" ("" when the handshake failed).
std::pair<std::string, std::string> tls_exchange(std::uint16_t proxy_port, const std::string& sni) {
    fd_socket raw = connect_to(proxy_port);
    const deadline_guard guard({raw.fd()}, 15s);
    net::io_context ioc;
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.load_verify_file((certs().dir() / "ca.pem").string());
    ctx.set_verify_mode(net::ssl::verify_peer);
    tcp::socket s(ioc);
    s.assign(tcp::v4(), ::dup(raw.fd()));
    net::ssl::stream<tcp::socket> ts(std::move(s), ctx);
    SSL_set_tlsext_host_name(ts.native_handle(), sni.c_str());
    boost::system::error_code ec;
    ts.handshake(net::ssl::stream_base::client, ec);
    if (ec) {
        return {};
    }
    std::string cn;
    if (X509* cert = SSL_get1_peer_certificate(ts.native_handle())) {
        char buf[256] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
        cn = buf;
        X509_free(cert);
    }
    net::write(ts, net::buffer(std::string("hello\n")), ec);
    std::string echo;
    char b[64];
    while (echo.find('\n') == std::string::npos && !ec) {
        const std::size_t n = ts.read_some(net::buffer(b), ec);
        echo.append(b, n);
    }
    return {cn, echo};
}

}  // namespace

TEST_CASE("transparent egress: a TCP backend's port goes to its tcpRoute without sniffing",
          "[tcp][transparent]") {
    banner_server v1;  // server-first: it must get its connection before the client says anything
    yelb_options o;
    o.weight_v2 = 0;
    tcp_proxy px(yelb_mesh(o), yelb_client(v1.port(), 1), transparent_entry(loopback(6379)));
    fd_socket c = connect_to(px.port());
    CHECK(c.recv_exact(12, 2s) == "220 banner\r\n");  // well before any sniffing deadline
    c.send_all(std::string("QUIT"));
    c.shutdown_write();
    const auto rest = c.recv_until_eof(10s);
    REQUIRE(rest.has_value());
    CHECK(*rest == "221 got QUIT\r\n");
    const auto lines = px.wait_log(1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].cluster == "cds_egress_yelb_redis-v1_yelb_tcp_6379");
    CHECK(lines[0].route == "redis-split");
    CHECK(lines[0].local == "127.0.0.1:6379");  // %DOWNSTREAM_LOCAL_ADDRESS%: the original one
    CHECK(lines[0].flags == "-");
}

TEST_CASE("transparent egress: a server-first protocol passes under ALLOW_ALL after the deadline",
          "[tcp][transparent]") {
    banner_server smtp;
    yelb_options o;
    o.egress = "ALLOW_ALL";
    tcp_proxy px(yelb_mesh(o), yelb_client(1, 1), transparent_entry(loopback(smtp.port())));
    fd_socket c = connect_to(px.port());
    const auto start = clock_type::now();
    CHECK(c.recv_exact(12, 5s) == "220 banner\r\n");
    const auto waited = clock_type::now() - start;
    CHECK(waited >= proxy::server_first_deadline - 10ms);
    CHECK(waited < 5s);
    // Half-close: the client's FIN reaches the server, whose answer still comes back.
    c.send_all(std::string("EHLO x"));
    c.shutdown_write();
    const auto rest = c.recv_until_eof(10s);
    REQUIRE(rest.has_value());
    CHECK(*rest == "221 got EHLO x\r\n");
    const auto lines = px.wait_log(1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].cluster == "egress_passthrough");
    CHECK(lines[0].upstream == "127.0.0.1:" + std::to_string(smtp.port()));
    CHECK(lines[0].local == "127.0.0.1:" + std::to_string(smtp.port()));
    CHECK(lines[0].rx == "6");
    CHECK(lines[0].tx == std::to_string(12 + std::string("221 got EHLO x\r\n").size()));
}

TEST_CASE("transparent egress: DROP_ALL refuses opaque TCP and silence, logged NR",
          "[tcp][transparent]") {
    banner_server smtp;
    const auto tweak = [](proxy::server_config& c) { c.header_timeout = 300ms; };
    tcp_proxy px(yelb_mesh(), yelb_client(1, 1), transparent_entry(loopback(smtp.port())), tweak);
    SECTION("opaque bytes") {
        fd_socket c = connect_to(px.port());
        c.send_all(std::string("\x01\x02 some binary protocol"));
        const auto eof = c.recv_until_eof(10s);
        CHECK(eof.has_value());
        const auto lines = px.wait_log(1);
        REQUIRE(lines.size() == 1);
        CHECK(lines[0].flags == "NR");
        CHECK(lines[0].upstream == "-");
    }
    SECTION("silence (a server-first protocol) is refused after the longer deadline") {
        fd_socket c = connect_to(px.port());
        const auto start = clock_type::now();
        const auto eof = c.recv_until_eof(10s);
        CHECK(eof.has_value());
        CHECK(clock_type::now() - start >= 250ms);
        REQUIRE(px.wait_log(1).size() == 1);
        CHECK(px.wait_log(1)[0].flags == "NR");
    }
    CHECK(smtp.accepted() == 0);
    CHECK_THAT(px.metrics().render_prometheus({}),
               Catch::Contains("envoy_tcp_downstream_cx_no_route{envoy_tcp_prefix=\"egress_passthrough\"} 1"));
}

TEST_CASE("transparent egress: HTTP/1 and the h2 preface go to the HTTP path with their bytes",
          "[tcp][transparent]") {
    const std::string first = GENERATE(std::string("GET /status HTTP/1.1\r\nHost: x\r\n\r\n"),
                                       std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    auto rec = std::make_shared<handoff_record>();
    tcp_proxy px(yelb_mesh(), yelb_client(1, 1), transparent_entry(loopback(8080), rec));
    fd_socket c = connect_to(px.port());
    c.send_all(first);
    CHECK(c.recv_exact(27) == "HTTP/1.1 204 No Content\r\n\r\n");
    auto f = rec->got.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    const auto [proto, bytes] = f.get();
    CHECK(proto == (first.rfind("PRI", 0) == 0 ? proxy::first_bytes_protocol::http2
                                               : proxy::first_bytes_protocol::http1));
    CHECK(first.rfind(bytes, 0) == 0);  // what was read so far, in order, nothing lost
    CHECK_FALSE(bytes.empty());
}

TEST_CASE("transparent egress: TLS is passed through by SNI, never terminated", "[tcp][transparent][tls]") {
    tls_api api;
    SECTION("ALLOW_ALL: any SNI passes; the client sees the server's own certificate") {
        yelb_options o;
        o.egress = "ALLOW_ALL";
        tcp_proxy px(yelb_mesh(o), yelb_client(1, 1), transparent_entry(loopback(api.port())));
        const auto [cn, echo] = tls_exchange(px.port(), "api.external.example");
        CHECK(cn == "a.shop.svc.cluster.local");
        CHECK(echo == "olleh\n");
        const auto lines = px.wait_log(1);
        REQUIRE(lines.size() == 1);
        CHECK(lines[0].sni == "api.external.example");
        CHECK(lines[0].flags == "-");
    }
    SECTION("DROP_ALL: only an SNI that matches --egress-allow passes") {
        proxy_options po = yelb_client(1, 1);
        po.egress_allow = std::vector<std::string>{"*.amazonaws.com", "api.allowed.example"};
        tcp_proxy px(yelb_mesh(), po, transparent_entry(loopback(api.port())));
        const auto ok = tls_exchange(px.port(), "api.allowed.example");
        CHECK(ok.first == "a.shop.svc.cluster.local");
        CHECK(ok.second == "olleh\n");
        const auto aws = tls_exchange(px.port(), "S3.us-west-2.AmazonAWS.com");
        CHECK(aws.second == "olleh\n");
        const auto refused = tls_exchange(px.port(), "evil.example");
        CHECK(refused.first.empty());  // closed during the handshake
        const auto lines = px.wait_log(3);
        REQUIRE(lines.size() == 3);
        std::map<std::string, log_line> by_sni;  // lines come in the order connections ended
        for (const auto& l : lines) {
            by_sni[l.sni] = l;
        }
        CHECK(by_sni["evil.example"].flags == "NR");
        CHECK(by_sni["evil.example"].upstream == "-");
        CHECK(by_sni["api.allowed.example"].flags == "-");
        CHECK(by_sni["api.allowed.example"].upstream == "127.0.0.1:" + std::to_string(api.port()));
        CHECK(by_sni["S3.us-west-2.AmazonAWS.com"].flags == "-");
    }
}
