// proxy/tcp/tunnel with real sockets: bytes both ways in order, half-close in each direction,
// resets passed on as resets, 256 MiB with bounded RSS (splice and copy paths), the idle timeout,
// initial bytes, and TLS on both sides.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/flex_stream.hpp"
#include "proxy/tcp/tunnel.hpp"
#include "tests/integration/tcp/tcp_support.hpp"
#include "tests/support/generated_certs.hpp"

namespace net = boost::asio;
using tcp = net::ip::tcp;
using outrigger::proxy::flex_stream;
using outrigger::proxy::tunnel_options;
using outrigger::proxy::tunnel_result;
using namespace outrigger::test::tcp;
using end_t = tunnel_result::end_t;

namespace {

const outrigger::test::generated_certs& certs() {
    static const outrigger::test::generated_certs c("outrigger-tcp-tunnel");
    return c;
}

/// TLS for one side of the tunnel: the tunnel is the server toward the client (downstream) or
/// the client toward the server (upstream).
struct tls_setup {
    bool down = false;
    bool up = false;
};

/// client (test) ⇄ [down] tunnel [up] ⇄ server (test). The tunnel runs on its own io_context
/// thread; `result` completes when it ended.
class running_tunnel {
public:
    explicit running_tunnel(tunnel_options opts, std::string initial = {}, tls_setup tls = {})
        : server_ctx_(net::ssl::context::tls_server), client_ctx_(net::ssl::context::tls_client) {
        tcp::acceptor acc(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        client_fd_ = connect_to(acc.local_endpoint().port());
        tcp::socket down = acc.accept();
        fd_listener upstream;
        tcp::socket up(ioc_);
        up.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), upstream.port()));
        server_fd_ = upstream.accept();
        if (tls.down || tls.up) {
            const auto dir = certs().dir();
            server_ctx_.use_certificate_chain_file((dir / "server.pem").string());
            server_ctx_.use_private_key_file((dir / "server.key").string(), net::ssl::context::pem);
            client_ctx_.load_verify_file((dir / "ca.pem").string());
            client_ctx_.set_verify_mode(net::ssl::verify_peer);
        }
        auto promise = std::make_shared<std::promise<tunnel_result>>();
        result = promise->get_future();
        net::co_spawn(
            ioc_,
            [this, d = std::move(down), u = std::move(up), opts, initial = std::move(initial), tls,
             promise]() mutable -> net::awaitable<void> {
                flex_stream ds(std::move(d));
                flex_stream us(std::move(u));
                constexpr auto tok = net::as_tuple(net::use_awaitable);
                if (tls.down) {
                    auto [ec] = co_await ds.start_tls(server_ctx_).async_handshake(
                        net::ssl::stream_base::server, tok);
                    if (ec) {
                        promise->set_exception(std::make_exception_ptr(std::runtime_error("down handshake")));
                        co_return;
                    }
                }
                if (tls.up) {
                    auto& ts = us.start_tls(client_ctx_);
                    SSL_set_tlsext_host_name(ts.native_handle(), "localhost");
                    auto [ec] = co_await ts.async_handshake(net::ssl::stream_base::client, tok);
                    if (ec) {
                        promise->set_exception(std::make_exception_ptr(std::runtime_error("up handshake")));
                        co_return;
                    }
                }
                const auto bytes = std::as_bytes(std::span(initial.data(), initial.size()));
                promise->set_value(co_await outrigger::proxy::run_tunnel(ds, us, opts, bytes));
            },
            [](std::exception_ptr) {});
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~running_tunnel() {
        ioc_.stop();
        thread_.join();
    }
    running_tunnel(const running_tunnel&) = delete;
    running_tunnel& operator=(const running_tunnel&) = delete;

    /// The tunnel's result, waiting at most 10 s.
    tunnel_result wait() {
        REQUIRE(result.wait_for(10s) == std::future_status::ready);
        return result.get();
    }

    fd_socket& client() { return client_fd_; }
    fd_socket& server() { return server_fd_; }
    net::ssl::context& client_tls_context() { return client_ctx_; }
    net::ssl::context& server_tls_context() { return server_ctx_; }
    std::future<tunnel_result> result;

private:
    net::io_context ioc_;
    net::ssl::context server_ctx_;  // the tunnel's server side (down)
    net::ssl::context client_ctx_;  // the tunnel's client side (up)
    fd_socket client_fd_;
    fd_socket server_fd_;
    std::thread thread_;
};

/// `on`: splice from the first byte (the splice path); off: the copy path only.
tunnel_options with_splice(bool on) {
    tunnel_options o;
    o.splice = on;
    o.splice_after_full_reads = 0;
    return o;
}

}  // namespace

TEST_CASE("tunnel: bytes both ways, then half-close from the client", "[tcp][tunnel]") {
    const bool splice = GENERATE(true, false);
    INFO("splice " << splice);
    running_tunnel t(with_splice(splice));
    t.client().send_all(std::string("hello server"));
    CHECK(t.server().recv_exact(12) == "hello server");
    t.server().send_all(std::string("hello client"));
    CHECK(t.client().recv_exact(12) == "hello client");

    // The client is done sending: the server sees EOF, yet can still answer.
    t.client().shutdown_write();
    const auto rest = t.server().recv_until_eof(5s);
    REQUIRE(rest.has_value());
    CHECK(rest->empty());
    const std::string late(100'000, 'z');
    t.server().send_all(late);
    CHECK(t.client().recv_exact(late.size()) == late);
    t.server().shutdown_write();
    const auto end = t.client().recv_until_eof(5s);
    REQUIRE(end.has_value());
    CHECK(end->empty());

    const tunnel_result r = t.wait();
    CHECK(r.end == end_t::closed);
    CHECK(r.spliced == splice);
    CHECK(r.from_downstream == 12);
    CHECK(r.to_downstream == 12 + late.size());
}

TEST_CASE("tunnel: half-close from the server while the client keeps sending", "[tcp][tunnel]") {
    const bool splice = GENERATE(true, false);
    INFO("splice " << splice);
    running_tunnel t(with_splice(splice));
    t.server().send_all(std::string("220 banner\r\n"));  // server-first, then done talking
    t.server().shutdown_write();
    CHECK(t.client().recv_exact(12) == "220 banner\r\n");
    const auto eof = t.client().recv_until_eof(5s);
    REQUIRE(eof.has_value());
    CHECK(eof->empty());
    const std::string upload(300'000, 'u');
    t.client().send_all(upload);
    t.client().shutdown_write();
    const auto got = t.server().recv_until_eof(10s);
    REQUIRE(got.has_value());
    CHECK(*got == upload);
    CHECK(t.wait().end == end_t::closed);
}

TEST_CASE("tunnel: a reset is passed on as a reset", "[tcp][tunnel]") {
    const bool splice = GENERATE(true, false);
    INFO("splice " << splice);
    SECTION("client resets: the server sees ECONNRESET") {
        running_tunnel t(with_splice(splice));
        t.client().send_all(std::string("x"));
        CHECK(t.server().recv_exact(1) == "x");
        t.client().reset();
        int err = 0;
        CHECK_FALSE(t.server().recv_until_eof(5s, &err).has_value());
        CHECK(err == ECONNRESET);
        CHECK(t.wait().end == end_t::downstream_reset);
    }
    SECTION("server resets: the client sees ECONNRESET") {
        running_tunnel t(with_splice(splice));
        t.server().send_all(std::string("y"));
        CHECK(t.client().recv_exact(1) == "y");
        t.server().reset();
        int err = 0;
        CHECK_FALSE(t.client().recv_until_eof(5s, &err).has_value());
        CHECK(err == ECONNRESET);
        CHECK(t.wait().end == end_t::upstream_reset);
    }
    SECTION("a FIN is not a reset: the peer sees a clean EOF") {
        running_tunnel t(with_splice(splice));
        t.server().shutdown_write();
        t.server().close();
        int err = 0;
        const auto eof = t.client().recv_until_eof(5s, &err);
        REQUIRE(eof.has_value());
        t.client().close();
        CHECK(t.wait().end == end_t::closed);
    }
}

TEST_CASE("tunnel: 256 MiB up and 64 MiB down at once, in order, with bounded RSS",
          "[tcp][tunnel][bulk]") {
    const bool splice = GENERATE(true, false);
    INFO("splice " << splice);
    constexpr std::uint64_t up_bytes = 256ull << 20;
    constexpr std::uint64_t down_bytes = 64ull << 20;
    running_tunnel t(with_splice(splice));
    const long rss_before = rss_kib();

    // Each side sends its stream and checks the other's, byte for byte, in 64 KiB pieces.
    const auto sender = [](fd_socket& s, std::uint64_t total, unsigned seed) {
        std::vector<char> buf(64 * 1024);
        for (std::uint64_t off = 0; off < total; off += buf.size()) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - off));
            fill_pattern(buf.data(), n, off, seed);
            s.send_all(buf.data(), n, 30s);
        }
        s.shutdown_write();
    };
    const auto checker = [](fd_socket& s, unsigned seed, std::atomic<std::uint64_t>& got,
                            std::atomic<bool>& in_order) {
        std::vector<char> buf(64 * 1024);
        std::vector<char> want(buf.size());
        for (;;) {
            const ssize_t n = s.recv_some(buf.data(), buf.size(), 30s);
            if (n <= 0) {
                return;
            }
            fill_pattern(want.data(), static_cast<std::size_t>(n), got.load(), seed);
            if (std::memcmp(buf.data(), want.data(), static_cast<std::size_t>(n)) != 0) {
                in_order = false;
                return;
            }
            got += static_cast<std::uint64_t>(n);
        }
    };
    std::atomic<std::uint64_t> server_got{0};
    std::atomic<std::uint64_t> client_got{0};
    std::atomic<bool> up_ok{true};
    std::atomic<bool> down_ok{true};
    std::atomic<int> finished{0};
    std::thread a([&] { sender(t.client(), up_bytes, 1); ++finished; });
    std::thread b([&] { checker(t.server(), 1, server_got, up_ok); ++finished; });
    std::thread c([&] { sender(t.server(), down_bytes, 2); ++finished; });
    std::thread d([&] { checker(t.client(), 2, client_got, down_ok); ++finished; });
    long rss_max = rss_before;
    const auto deadline = clock_type::now() + 120s;
    while (finished.load() < 4 && clock_type::now() < deadline) {
        rss_max = std::max(rss_max, rss_kib());
        pollfd none{-1, 0, 0};
        ::poll(&none, 0, 5);  // sampling interval of the RSS probe
    }
    a.join();
    b.join();
    c.join();
    d.join();
    CHECK(up_ok.load());
    CHECK(down_ok.load());
    CHECK(server_got.load() == up_bytes);
    CHECK(client_got.load() == down_bytes);
    const tunnel_result r = t.wait();
    CHECK(r.end == end_t::closed);
    CHECK(r.from_downstream == up_bytes);
    CHECK(r.to_downstream == down_bytes);
    // The tunnel holds at most a buffer (or a pipe) per direction: growth is far below the
    // 320 MiB that went through.
    INFO("RSS before " << rss_before << " KiB, max during " << rss_max << " KiB");
    CHECK(rss_max - rss_before < 16 * 1024);
}

TEST_CASE("tunnel: the idle timeout closes a quiet tunnel, traffic keeps it open", "[tcp][tunnel]") {
    const bool splice = GENERATE(true, false);
    INFO("splice " << splice);
    tunnel_options o = with_splice(splice);
    o.idle_timeout = 600ms;
    running_tunnel t(o);
    // Trickle: a byte every 150 ms for ~1.5 s, i.e. longer than the idle timeout in total.
    const auto start = clock_type::now();
    auto last_send = start;
    for (int i = 0; i < 10; ++i) {
        last_send = clock_type::now();
        t.client().send_all(std::string("."));
        CHECK(t.server().recv_exact(1) == ".");
        pollfd none{-1, 0, 0};
        ::poll(&none, 0, 150);  // pacing of the trickle (the property: gaps < idle timeout)
    }
    CHECK(t.result.wait_for(0s) == std::future_status::timeout);  // still open
    // Now quiet: closed one idle timeout after the last byte (10 s bound), both peers see EOF.
    const auto eof = t.client().recv_until_eof(10s);
    REQUIRE(eof.has_value());
    CHECK(clock_type::now() - last_send >= 550ms);
    const auto seof = t.server().recv_until_eof(10s);
    REQUIRE(seof.has_value());
    CHECK(t.wait().end == end_t::idle_timeout);
    CHECK(clock_type::now() - start >= 1500ms);
}

TEST_CASE("tunnel: initial bytes go upstream first", "[tcp][tunnel]") {
    running_tunnel t(tunnel_options{}, "GET-ish first bytes|");
    t.client().send_all(std::string("then the rest"));
    t.client().shutdown_write();
    const auto got = t.server().recv_until_eof(5s);
    REQUIRE(got.has_value());
    CHECK(*got == "GET-ish first bytes|then the rest");
    t.server().close();
    const tunnel_result r = t.wait();
    CHECK(r.from_downstream == got->size());
}

TEST_CASE("tunnel: TLS on both sides, half-close included", "[tcp][tunnel][tls]") {
    running_tunnel t(tunnel_options{}, {}, tls_setup{true, true});
    const deadline_guard guard({t.client().fd(), t.server().fd()}, 20s);  // sync TLS calls below
    // The test's TLS client (toward the tunnel's downstream side) and TLS server (behind its
    // upstream side), each blocking on its own thread.
    net::io_context cioc;
    net::ssl::context cctx(net::ssl::context::tls_client);
    cctx.load_verify_file((certs().dir() / "ca.pem").string());
    cctx.set_verify_mode(net::ssl::verify_peer);
    std::promise<std::string> server_got;
    std::thread server([&] {
        net::io_context sioc;
        net::ssl::context sctx(net::ssl::context::tls_server);
        sctx.use_certificate_chain_file((certs().dir() / "server.pem").string());
        sctx.use_private_key_file((certs().dir() / "server.key").string(), net::ssl::context::pem);
        tcp::socket raw(sioc);
        raw.assign(tcp::v4(), ::dup(t.server().fd()));
        net::ssl::stream<tcp::socket> s(std::move(raw), sctx);
        boost::system::error_code ec;
        s.handshake(net::ssl::stream_base::server, ec);
        std::string got;
        char buf[4096];
        for (;;) {
            const std::size_t n = s.read_some(net::buffer(buf), ec);
            got.append(buf, n);
            if (ec) {
                break;  // the tunnel's half-close (FIN, no close_notify)
            }
        }
        net::write(s, net::buffer(std::string("reply after your FIN")), ec);
        s.next_layer().shutdown(tcp::socket::shutdown_send, ec);
        server_got.set_value(got);
    });
    tcp::socket raw(cioc);
    raw.assign(tcp::v4(), ::dup(t.client().fd()));
    net::ssl::stream<tcp::socket> c(std::move(raw), cctx);
    SSL_set_tlsext_host_name(c.native_handle(), "localhost");
    c.handshake(net::ssl::stream_base::client);
    net::write(c, net::buffer(std::string("secret request")));
    c.next_layer().shutdown(tcp::socket::shutdown_send);
    auto f = server_got.get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    CHECK(f.get() == "secret request");
    std::string reply;
    char buf[4096];
    boost::system::error_code ec;
    for (;;) {
        const std::size_t n = c.read_some(net::buffer(buf), ec);
        reply.append(buf, n);
        if (ec) {
            break;
        }
    }
    CHECK(reply == "reply after your FIN");
    server.join();
    const tunnel_result r = t.wait();
    CHECK(r.end == end_t::closed);
    CHECK_FALSE(r.spliced);
    CHECK(r.from_downstream == 14);
    CHECK(r.to_downstream == reply.size());
}

TEST_CASE("tunnel: splice-auto keeps request/response on copy and splices a bulk transfer",
          "[tcp][tunnel]") {
    SECTION("small messages") {
        running_tunnel t(tunnel_options{});
        for (int i = 0; i < 20; ++i) {
            t.client().send_all(std::string("PING\r\n"));
            CHECK(t.server().recv_exact(6) == "PING\r\n");
            t.server().send_all(std::string("+PONG\r\n"));
            CHECK(t.client().recv_exact(7) == "+PONG\r\n");
        }
        t.client().shutdown_write();
        t.server().shutdown_write();
        CHECK(t.client().recv_until_eof(5s).has_value());
        CHECK(t.server().recv_until_eof(5s).has_value());
        CHECK_FALSE(t.wait().spliced);
    }
    SECTION("a bulk upload") {
        running_tunnel t(tunnel_options{});
        constexpr std::size_t total = 32u << 20;
        std::thread sender([&] {
            std::vector<char> buf(256 * 1024);
            for (std::size_t off = 0; off < total; off += buf.size()) {
                fill_pattern(buf.data(), buf.size(), off, 3);
                t.client().send_all(buf.data(), buf.size(), 30s);
            }
            t.client().shutdown_write();
        });
        const auto got = t.server().recv_until_eof(60s);
        sender.join();
        REQUIRE(got.has_value());
        REQUIRE(got->size() == total);
        std::vector<char> want(total);
        fill_pattern(want.data(), total, 0, 3);
        CHECK(std::memcmp(got->data(), want.data(), total) == 0);
        t.server().close();
        const tunnel_result r = t.wait();
        CHECK(r.spliced);
        CHECK(r.from_downstream == total);
    }
}
