// Issue 8 §3: request smuggling and malformed input, both directions, as one table. Every row is
// raw bytes on a fresh connection to the egress listener → the status the proxy must answer,
// whether the upstream may see the request at all, and whether the connection is closed after
// the reply. The choices where the RFCs leave room are in docs/decisions.md ("Hardening").
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "../dataplane/meshes.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::uint64_t body_limit = 1024;

proxy_options opts_for(std::uint16_t port) {
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("svc.test.local", 8080, port)};
    o.tweak = [](outrigger::proxy::server_config& c) { c.max_request_body = body_limit; };
    return o;
}

struct exchange_result {
    std::string out;
    bool closed = false;  // the proxy closed the connection (EOF or reset), not our timeout
};

/// Sends `bytes`, then reads until the proxy closes or `timeout` passes.
exchange_result exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    raw_connection c(port, timeout);
    exchange_result r;
    c.send(bytes);
    char b[4096];
    for (;;) {
        boost::system::error_code ec;
        const std::size_t n = c.read_some(b, sizeof(b), ec);
        r.out.append(b, n);
        if (ec) {
            r.closed = ec == net::error::eof || ec == net::error::connection_reset;
            break;
        }
    }
    return r;
}

unsigned status_of(const std::string& out) {
    if (out.rfind("HTTP/1.1 ", 0) != 0 || out.size() < 12) {
        return 0;
    }
    return static_cast<unsigned>(std::stoi(out.substr(9, 3)));
}

std::size_t count_of(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) {
        ++n;
    }
    return n;
}

const std::string host = "Host: svc.shop:8080\r\n";

struct row {
    const char* name;
    std::string bytes;
    unsigned status;
    bool forwarded;        // the upstream must (true) or must not (false) see a request
    bool closed;           // the connection must be closed after the reply
    const char* contains;  // the reply must contain this text ("" = no check)
};

std::vector<row> matrix() {
    const std::string big_line = "GET /" + std::string(70 * 1024, 'a') + " HTTP/1.1\r\n";
    std::string many = "GET / HTTP/1.1\r\n" + host;
    for (int i = 0; i < 101; ++i) {
        many += "X-H" + std::to_string(i) + ": v\r\n";
    }
    many += "\r\n";
    return {
        // ---- framing: Content-Length and Transfer-Encoding ----
        {"CL then TE", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         400, false, true, "[DPE]"},
        {"TE then CL", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         400, false, true, "[DPE]"},
        {"two differing Content-Length", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
         400, false, true, "[DPE]"},
        {"two identical Content-Length are one", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
         200, true, true, ""},
        {"Content-Length list of identical values is one", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3, 3\r\nConnection: close\r\n\r\nabc",
         200, true, true, ""},
        {"Content-Length list of differing values", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3, 4\r\n\r\nabcd",
         400, false, true, "[DPE]"},
        {"negative Content-Length", "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n",
         400, false, true, "[DPE]"},
        {"TE gzip", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\nabc",
         400, false, true, "does not end in chunked"},
        {"TE chunked then gzip", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         400, false, true, "does not end in chunked"},
        {"TE gzip then chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         501, false, true, "transfer coding \"gzip, chunked\" is not supported"},
        {"TE chunked twice", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         400, false, true, "[DPE]"},
        {"TE Chunked in upper case is chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         200, true, true, ""},
        // ---- chunk sizes and extensions ----
        {"chunk size zz", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
         400, false, true, "malformed request body"},
        {"chunk size overlong", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
         400, false, true, "[DPE]"},
        {"chunk size with junk", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n",
         400, false, true, "[DPE]"},
        {"chunk size with leading space", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n",
         400, false, true, "[DPE]"},
        {"chunk data longer than its size", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
         400, false, true, "[DPE]"},
        {"chunk extension with a control byte", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3;\x01\r\nabc\r\n0\r\n\r\n",
         400, false, true, "[DPE]"},
        {"chunk extension valid", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;name=value\r\nabc\r\n0\r\n\r\n",
         200, true, true, ""},
        // ---- header syntax ----
        {"obs-fold is unfolded and forwarded", "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\nConnection: close\r\n\r\n", 200, true, true, ""},
        {"obs-fold with a tab is unfolded", "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n\tb\r\nConnection: close\r\n\r\n", 200, true, true, ""},
        {"first header line folded", "GET / HTTP/1.1\r\n " + host + "\r\n", 400, false, true, "[DPE]"},
        {"NUL in a header value", "GET / HTTP/1.1\r\n" + host + std::string("X-A: a\0b\r\n\r\n", 12), 400, false, true, "[DPE]"},
        {"NUL in a header name", "GET / HTTP/1.1\r\n" + host + std::string("X-\0A: b\r\n\r\n", 11), 400, false, true, "[DPE]"},
        {"CR in a header value", "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", 400, false, true, "[DPE]"},
        {"CR in a header name", "GET / HTTP/1.1\r\n" + host + "X-\rA: b\r\n\r\n", 400, false, true, "[DPE]"},
        {"bare LF in a header value", "GET / HTTP/1.1\r\n" + host + "X-A: a\nX-B: b\r\n\r\n", 400, false, true, "[DPE]"},
        {"space before the colon", "GET / HTTP/1.1\r\n" + host + "X-A : b\r\n\r\n", 400, false, true, "[DPE]"},
        {"space before the Host colon", "GET / HTTP/1.1\r\nHost : svc.shop:8080\r\n\r\n", 400, false, true, "[DPE]"},
        {"two Host headers", "GET / HTTP/1.1\r\n" + host + "Host: other.shop\r\n\r\n", 400, false, true, "more than one Host"},
        // ---- request line and target ----
        {"absolute-form wins over a disagreeing Host",
         "GET http://svc.shop:8080/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
         200, true, true, ""},
        {"absolute-form naming a refused host", "GET http://evil.example/x HTTP/1.1\r\n" + host + "\r\n",
         404, false, false, "evil.example"},
        {"request line over the head limit", big_line + host + "\r\n", 431, false, true, "[DPE]"},
        {"more than 100 headers", many, 431, false, true, "more than the limit of 100"},
        {"header bytes over 60 KiB", "GET / HTTP/1.1\r\n" + host + "X-Big: " + std::string(61 * 1024, 'a') + "\r\n\r\n",
         431, false, true, "exceed the limit of 61440 bytes"},
        {"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 400, false, true, "request names no host"},
        {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400, false, false, "request names no host"},
        {"HTTP/2.0 version", "GET / HTTP/2.0\r\n" + host + "\r\n", 400, false, true, "[DPE]"},
        {"method with a non-token byte", "G@T / HTTP/1.1\r\n" + host + "\r\n", 400, false, true, "[DPE]"},
        {"method with a space", "G T / HTTP/1.1\r\n" + host + "\r\n", 400, false, true, "[DPE]"},
        {"lowercase get is an unknown method and forwarded", "get / HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n",
         200, true, true, ""},
        {"target with a space", "GET /a b HTTP/1.1\r\n" + host + "\r\n", 400, false, true, "[DPE]"},
        // ---- body limit (--max-request-body 1024) ----
        {"Content-Length over the body limit", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1025\r\n\r\n" + std::string(1025, 'b'),
         413, false, true, "exceeds the limit of 1024 bytes"},
        {"Content-Length at the body limit", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1024\r\nConnection: close\r\n\r\n" + std::string(1024, 'b'),
         200, true, true, ""},
        {"chunked body over the body limit", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n401\r\n" + std::string(1025, 'b') + "\r\n0\r\n\r\n",
         413, false, true, "exceeds the limit of 1024 bytes"},
    };
}

/// An upstream on a raw socket: for each connection, reads one request head and answers with
/// `reply` verbatim, then reads until the proxy closes (and counts that close).
class raw_upstream {
public:
    explicit raw_upstream(std::string reply)
        : reply_(std::move(reply)), acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
        thread_ = std::thread([this] { run(); });
    }
    ~raw_upstream() {
        stop_ = true;
        boost::system::error_code ignored;
        // Wake the accept with a connection of our own.
        tcp::socket s(ioc_);
        s.connect(acceptor_.local_endpoint(), ignored);
        thread_.join();
    }
    raw_upstream(const raw_upstream&) = delete;
    raw_upstream& operator=(const raw_upstream&) = delete;
    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    [[nodiscard]] int accepts() const { return accepts_.load(); }
    [[nodiscard]] int closed_by_peer() const { return closed_by_peer_.load(); }

private:
    void run() {
        for (;;) {
            tcp::socket s(ioc_);
            boost::system::error_code ec;
            acceptor_.accept(s, ec);
            if (stop_ || ec) {
                return;
            }
            ++accepts_;
            net::streambuf in;
            net::read_until(s, in, "\r\n\r\n", ec);
            if (ec) {
                continue;
            }
            net::write(s, net::buffer(reply_), ec);
            // Serve this connection until the proxy closes it (a later request on a pooled
            // connection would also block here: the tests only ever expect a close).
            char b[4096];
            for (;;) {
                s.read_some(net::buffer(b), ec);
                if (ec) {
                    break;
                }
            }
            ++closed_by_peer_;
        }
    }
    std::string reply_;
    net::io_context ioc_;
    tcp::acceptor acceptor_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepts_{0};
    std::atomic<int> closed_by_peer_{0};
};

}  // namespace

TEST_CASE("hardening: malformed and smuggling requests get the right status and are never forwarded",
          "[integration][hardening]") {
    test_upstream up;
    proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
    int failures = 0;
    for (const row& r : matrix()) {
        const int before = up.requests();
        // Rows that keep the connection open end with our read timeout: keep it short.
        const exchange_result e = exchange(px.egress_port(), r.bytes,
                                           r.closed ? std::chrono::milliseconds(5000)
                                                    : std::chrono::milliseconds(1000));
        const int seen = up.requests() - before;
        const bool ok = status_of(e.out) == r.status && (seen > 0) == r.forwarded &&
                        (!r.closed || e.closed) && count_of(e.out, "HTTP/1.1 ") == 1 &&
                        (std::string(r.contains).empty() || e.out.find(r.contains) != std::string::npos);
        if (!ok) {
            ++failures;
            UNSCOPED_INFO("row \"" << r.name << "\": expected " << r.status
                                   << (r.forwarded ? " forwarded" : " not forwarded")
                                   << (r.closed ? " closed" : "") << "; got forwarded=" << seen
                                   << " closed=" << e.closed << " reply:\n"
                                   << e.out.substr(0, 400));
        }
    }
    CHECK(failures == 0);
}

TEST_CASE("hardening: absolute-form replaces the Host header and lowercase get stays get",
          "[integration][hardening]") {
    test_upstream up;
    proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
    auto e = exchange(px.egress_port(),
                      "GET http://svc.shop:8080/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    REQUIRE(status_of(e.out) == 200);
    CHECK(up.last_request()[http::field::host] == "svc.shop:8080");
    CHECK(up.last_request().target() == "/x");
    e = exchange(px.egress_port(), "get / HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n");
    REQUIRE(status_of(e.out) == 200);
    CHECK(up.last_request().method_string() == "get");
    e = exchange(px.egress_port(), "POST / HTTP/1.1\r\n" + host +
                                       "Content-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    REQUIRE(status_of(e.out) == 200);
    CHECK(up.last_request().count(http::field::content_length) == 1);
    CHECK(up.last_request()[http::field::content_length] == "3");
    e = exchange(px.egress_port(), "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\nConnection: close\r\n\r\n");
    REQUIRE(status_of(e.out) == 200);
    const std::string folded(up.last_request()["x-a"]);
    CHECK(folded.find('\r') == std::string::npos);
    CHECK(folded.find('\n') == std::string::npos);
    CHECK(folded.front() == 'a');
    CHECK(folded.back() == 'b');
}

TEST_CASE("hardening: obs-fold in an upstream response head is unfolded", "[integration][hardening]") {
    raw_upstream up("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
    const auto e = exchange(px.egress_port(), "GET / HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n");
    CHECK(status_of(e.out) == 200);
    CHECK(e.out.find("\r\n b") == std::string::npos);
    CHECK(e.out.find("X-A: a") != std::string::npos);
}

TEST_CASE("hardening: a bad upstream response closes that upstream connection and the client gets 502 or 503",
          "[integration][hardening]") {
    struct up_row {
        const char* name;
        std::string reply;
        unsigned status;
        const char* must_not_contain;
    };
    const std::vector<up_row> rows = {
        {"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nevil!\r\n0\r\n\r\n",
         502, "evil!"},
        {"two differing Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 2\r\n\r\nevil!",
         502, "evil!"},
        {"bad status line", "HTTP/1.1 2x0 OK\r\nContent-Length: 5\r\n\r\nevil!", 502, "evil!"},
        {"not HTTP at all", "SSH-2.0-OpenSSH_9.0\r\n\r\n", 502, "SSH"},
        {"bad chunk size in the first chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nevil!\r\n0\r\n\r\n",
         503, "evil!"},
        // The whole reply arrives in one read, so the bad chunk is found before anything was
        // relayed: the same 503 as a bad first chunk size, never a complete wrong response.
        {"chunk longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nevil!\r\n0\r\n\r\n",
         503, "evil!"},
    };
    int failures = 0;
    for (const up_row& r : rows) {
        raw_upstream up(r.reply);
        proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
        const auto e = exchange(px.egress_port(), "GET / HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n");
        const unsigned st = status_of(e.out);
        bool ok = e.out.find(r.must_not_contain) == std::string::npos &&
                  e.out.find("HTTP/1.1 ", 1) == std::string::npos;
        ok = ok && st == r.status;
        // The upstream connection that sent the bad response was closed by the proxy.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (up.closed_by_peer() < up.accepts() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::yield();
        }
        ok = ok && up.accepts() >= 1 && up.closed_by_peer() == up.accepts();
        if (!ok) {
            ++failures;
            UNSCOPED_INFO("upstream row \"" << r.name << "\": got status " << st << " closed="
                                            << e.closed << " upstream accepts=" << up.accepts()
                                            << " closed=" << up.closed_by_peer() << " reply:\n"
                                            << e.out.substr(0, 400));
        }
    }
    CHECK(failures == 0);
}

TEST_CASE("hardening: bytes after an upstream response never reach the next client",
          "[integration][hardening]") {
    // The upstream answers with a complete response followed by a second, unsolicited one. The
    // proxy must not pool that connection: the next request gets a fresh connection.
    raw_upstream up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!");
    proxy_under_test px(node_provider_mesh(), opts_for(up.port()));
    http_client c(px.egress_port());
    for (int i = 0; i < 3; ++i) {
        const auto r = c.get("/", "svc.shop:8080");
        REQUIRE(r.ok);
        CHECK(r.status == 200);
        CHECK(r.body == "ok");
    }
    CHECK(up.accepts() == 3);
}

TEST_CASE("hardening: a streamed chunked body that crosses --max-request-body is cut",
          "[integration][hardening]") {
    // A limit above the 64 KiB replay buffer: the body is already streaming to the upstream when
    // the limit is crossed, so the request is cut on both sides and the upstream never gets a
    // complete request.
    test_upstream up;
    proxy_options o = opts_for(up.port());
    o.tweak = [](outrigger::proxy::server_config& c) { c.max_request_body = 200 * 1024; };
    proxy_under_test px(node_provider_mesh(), o);
    std::string req = "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 30; ++i) {
        req += "2800\r\n" + std::string(0x2800, 'b') + "\r\n";  // 30 x 10 KiB = 300 KiB
    }
    req += "0\r\n\r\n";
    const auto e = exchange(px.egress_port(), req);
    CHECK(e.closed);
    INFO("reply: " << e.out.substr(0, 300));
    const unsigned st = status_of(e.out);
    CHECK(st == 413);
    CHECK(e.out.find("exceeds the limit of 204800 bytes (--max-request-body) [DPE]") != std::string::npos);
    CHECK(up.requests() == 0);  // the upstream never saw a complete request
    CHECK(up.body_bytes() <= 200 * 1024);
    UNSCOPED_INFO("reply: " << e.out.substr(0, 300));
}
