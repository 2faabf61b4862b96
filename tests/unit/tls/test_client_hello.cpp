// tls/client_hello: ClientHellos captured from real clients (`openssl s_client` and OpenSSL through
// Asio, connected to a socket of the test), every prefix of them (need_more, never a verdict), the
// same hello fragmented over several records, and hand-made malformed and non-TLS inputs.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include "tests/support/child_process.hpp"
#include "tls/client_hello.hpp"

namespace net = boost::asio;
using tcp = net::ip::tcp;
using outrigger::tls::client_hello;
using outrigger::tls::hello_status;
using outrigger::tls::parse_client_hello;

namespace {

using bytes = std::vector<std::byte>;

client_hello parse(const bytes& b) { return parse_client_hello(std::span<const std::byte>(b)); }

bytes to_bytes(std::string_view s) {
    bytes b(s.size());
    // An empty view may carry a null data(); memcpy's arguments must never be null.
    if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
    return b;
}

/// Accepts one connection on `acc` and reads until a complete ClientHello (or 10 s pass).
bytes capture_hello(tcp::acceptor& acc) {
    pollfd p{acc.native_handle(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
    tcp::socket s = acc.accept();
    bytes got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        const auto r = parse(got);
        if (r.status != hello_status::need_more) {
            break;
        }
        pollfd q{s.native_handle(), POLLIN, 0};
        if (::poll(&q, 1, 1000) != 1) {
            continue;
        }
        std::byte buf[4096];
        const ssize_t n = ::recv(s.native_handle(), buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }
        got.insert(got.end(), buf, buf + n);
    }
    return got;
}

/// `openssl s_client` with extra arguments against a socket of the test; the captured bytes.
bytes capture_openssl(std::vector<std::string> extra) {
    net::io_context ioc;
    tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    std::vector<std::string> args = {"/usr/bin/openssl", "s_client", "-connect",
                                     "127.0.0.1:" + std::to_string(acc.local_endpoint().port())};
    args.insert(args.end(), extra.begin(), extra.end());
    outrigger::test::child_process client(args);  // killed when the capture is done
    return capture_hello(acc);
}

/// Asio's OpenSSL client with SNI (the way proxy/forwarder.cpp originates TLS).
bytes capture_asio(const std::string& sni) {
    net::io_context ioc;
    tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    bytes got;
    std::thread client([&] {
        net::io_context cioc;
        net::ssl::context ctx(net::ssl::context::tls_client);
        net::ssl::stream<tcp::socket> s(cioc, ctx);
        SSL_set_tlsext_host_name(s.native_handle(), sni.c_str());
        boost::system::error_code ec;
        s.next_layer().connect(acc.local_endpoint(), ec);
        if (!ec) {
            s.handshake(net::ssl::stream_base::client, ec);  // fails: the test closes
        }
    });
    got = capture_hello(acc);
    acc.close();
    client.join();
    return got;
}

/// Re-frames the handshake payload of a one-record hello into records of at most `chunk` bytes.
bytes fragment(const bytes& hello, std::size_t chunk) {
    REQUIRE(hello.size() > 5);
    const bytes payload(hello.begin() + 5, hello.end());
    bytes out;
    for (std::size_t i = 0; i < payload.size(); i += chunk) {
        const std::size_t n = std::min(chunk, payload.size() - i);
        out.push_back(std::byte{22});
        out.push_back(hello[1]);
        out.push_back(hello[2]);
        out.push_back(std::byte(static_cast<unsigned char>(n >> 8)));
        out.push_back(std::byte(static_cast<unsigned char>(n & 0xff)));
        out.insert(out.end(), payload.begin() + static_cast<std::ptrdiff_t>(i),
                   payload.begin() + static_cast<std::ptrdiff_t>(i + n));
    }
    return out;
}

/// A minimal well-formed ClientHello with the given extensions block (without its length).
bytes make_hello(const bytes& extensions, bool with_ext_block = true) {
    bytes body = {std::byte{3}, std::byte{3}};
    body.insert(body.end(), 32, std::byte{0x42});            // random
    body.push_back(std::byte{0});                             // session id
    body.insert(body.end(), {std::byte{0}, std::byte{2}, std::byte{0x13}, std::byte{0x01}});
    body.insert(body.end(), {std::byte{1}, std::byte{0}});   // compression: null
    if (with_ext_block) {
        body.push_back(std::byte(static_cast<unsigned char>(extensions.size() >> 8)));
        body.push_back(std::byte(static_cast<unsigned char>(extensions.size() & 0xff)));
        body.insert(body.end(), extensions.begin(), extensions.end());
    }
    bytes hs = {std::byte{1}, std::byte{0}, std::byte(static_cast<unsigned char>(body.size() >> 8)),
                std::byte(static_cast<unsigned char>(body.size() & 0xff))};
    hs.insert(hs.end(), body.begin(), body.end());
    bytes rec = {std::byte{22}, std::byte{3}, std::byte{1},
                 std::byte(static_cast<unsigned char>(hs.size() >> 8)),
                 std::byte(static_cast<unsigned char>(hs.size() & 0xff))};
    rec.insert(rec.end(), hs.begin(), hs.end());
    return rec;
}

bytes ext(std::uint16_t type, const bytes& data) {
    bytes e = {std::byte(static_cast<unsigned char>(type >> 8)),
               std::byte(static_cast<unsigned char>(type & 0xff)),
               std::byte(static_cast<unsigned char>(data.size() >> 8)),
               std::byte(static_cast<unsigned char>(data.size() & 0xff))};
    e.insert(e.end(), data.begin(), data.end());
    return e;
}

bytes sni_ext(std::string_view name, std::uint8_t name_type = 0) {
    const std::size_t entry = 3 + name.size();
    bytes d = {std::byte(static_cast<unsigned char>(entry >> 8)),
               std::byte(static_cast<unsigned char>(entry & 0xff)), std::byte{name_type},
               std::byte(static_cast<unsigned char>(name.size() >> 8)),
               std::byte(static_cast<unsigned char>(name.size() & 0xff))};
    const bytes n = to_bytes(name);
    d.insert(d.end(), n.begin(), n.end());
    return ext(0, d);
}

bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

/// Every strict prefix of a valid hello is need_more; the whole is tls.
void check_prefixes(const bytes& hello) {
    for (std::size_t n = 0; n < hello.size(); ++n) {
        const bytes prefix(hello.begin(), hello.begin() + static_cast<std::ptrdiff_t>(n));
        const auto r = parse(prefix);
        INFO("prefix of " << n << " bytes of " << hello.size());
        REQUIRE(r.status == hello_status::need_more);
    }
}

}  // namespace

TEST_CASE("client_hello: openssl s_client with SNI and ALPN (TLS 1.3)", "[tls][client_hello]") {
    const bytes hello = capture_openssl({"-servername", "API.Example.com", "-alpn", "h2,http/1.1"});
    const auto r = parse(hello);
    REQUIRE(r.status == hello_status::tls);
    CHECK(r.error == nullptr);
    CHECK(r.sni == "API.Example.com");  // as sent; callers compare case-insensitively
    CHECK(r.alpn == std::vector<std::string>{"h2", "http/1.1"});
    CHECK(r.legacy_version == 0x0303);
    CHECK(r.consumed == hello.size());
    check_prefixes(hello);

    SECTION("fragmented over many records, it reads the same") {
        for (const std::size_t chunk : {1u, 7u, 100u}) {
            const bytes f = fragment(hello, chunk);
            const auto fr = parse(f);
            INFO("records of " << chunk << " bytes");
            REQUIRE(fr.status == hello_status::tls);
            CHECK(fr.sni == "API.Example.com");
            CHECK(fr.alpn == r.alpn);
            CHECK(fr.consumed == f.size());
        }
        check_prefixes(fragment(hello, 50));
    }
    SECTION("bytes after the hello are not part of it") {
        bytes more = hello;
        more.insert(more.end(), {std::byte{23}, std::byte{3}, std::byte{3}, std::byte{0}, std::byte{1}});
        const auto mr = parse(more);
        REQUIRE(mr.status == hello_status::tls);
        CHECK(mr.consumed == hello.size());
    }
}

TEST_CASE("client_hello: openssl s_client TLS 1.2 and without SNI", "[tls][client_hello]") {
    const auto r12 = parse(capture_openssl({"-tls1_2", "-servername", "db.internal"}));
    REQUIRE(r12.status == hello_status::tls);
    CHECK(r12.sni == "db.internal");
    CHECK(r12.alpn.empty());

    const auto none = parse(capture_openssl({"-noservername"}));
    REQUIRE(none.status == hello_status::tls);
    CHECK(none.sni.empty());
}

TEST_CASE("client_hello: OpenSSL through Asio (the proxy's own client side)", "[tls][client_hello]") {
    const bytes hello = capture_asio("redis-v1.yelb.svc.cluster.local");
    const auto r = parse(hello);
    REQUIRE(r.status == hello_status::tls);
    CHECK(r.sni == "redis-v1.yelb.svc.cluster.local");
}

TEST_CASE("client_hello: not TLS at the first bytes that say so", "[tls][client_hello]") {
    CHECK(parse({}).status == hello_status::need_more);
    CHECK(parse(to_bytes("G")).status == hello_status::not_tls);
    CHECK(parse(to_bytes("GET / HTTP/1.1\r\n")).status == hello_status::not_tls);
    CHECK(parse(to_bytes("PRI * HTTP/2.0")).status == hello_status::not_tls);
    CHECK(parse(to_bytes("*1\r\n$4\r\nPING\r\n")).status == hello_status::not_tls);  // redis RESP
    CHECK(parse({std::byte{22}}).status == hello_status::need_more);
    CHECK(parse({std::byte{22}, std::byte{2}}).status == hello_status::not_tls);  // SSL 2 style
    CHECK(parse({std::byte{22}, std::byte{3}, std::byte{9}}).status == hello_status::not_tls);
    CHECK(parse({std::byte{22}, std::byte{3}, std::byte{1}}).status == hello_status::need_more);
}

TEST_CASE("client_hello: hand-made hellos", "[tls][client_hello]") {
    SECTION("no extensions at all (allowed before TLS 1.3)") {
        const auto r = parse(make_hello({}, false));
        REQUIRE(r.status == hello_status::tls);
        CHECK(r.sni.empty());
    }
    SECTION("SNI, an unknown name type before it, unknown extensions around it") {
        // server_name with two entries: type 7 (unknown, skipped) then host_name.
        const std::string host = "api.example.com";
        bytes d;
        const std::size_t list = (3 + 3) + (3 + host.size());
        d = {std::byte(0), std::byte(static_cast<unsigned char>(list)), std::byte{7}, std::byte{0},
             std::byte{3}, std::byte{'a'}, std::byte{'b'}, std::byte{'c'}, std::byte{0}, std::byte{0},
             std::byte(static_cast<unsigned char>(host.size()))};
        const bytes hb = to_bytes(host);
        d.insert(d.end(), hb.begin(), hb.end());
        const auto r = parse(make_hello(cat({ext(0x1234, {std::byte{1}}), ext(0, d), ext(23, {})})));
        REQUIRE(r.status == hello_status::tls);
        CHECK(r.sni == host);
    }
    SECTION("malformed: each rule names its reason") {
        struct row {
            bytes input;
            std::string reason;
        };
        const std::vector<row> rows = {
            {make_hello(cat({sni_ext("a.b"), sni_ext("c.d")})), "two server_name extensions"},
            {make_hello(sni_ext("")), "host_name is empty"},
            {make_hello(sni_ext("bad name")), "not printable ASCII"},
            {make_hello(sni_ext(std::string("nul\0x", 5))), "not printable ASCII"},
            {make_hello(ext(0, {std::byte{0}})), "server_name extension too short"},
            {make_hello(ext(0, {std::byte{0}, std::byte{9}, std::byte{0}})), "server_name list length"},
            {make_hello(ext(16, {std::byte{0}, std::byte{1}, std::byte{0}})), "ALPN list length"},
            {make_hello(ext(16, {std::byte{0}, std::byte{2}, std::byte{0}, std::byte{'x'}})),
             "ALPN protocol name is empty"},
            {make_hello(ext(16, {std::byte{0}, std::byte{2}, std::byte{5}, std::byte{'x'}})),
             "ALPN protocol name is empty or runs past"},
        };
        for (const auto& rw : rows) {
            const auto r = parse(rw.input);
            INFO(rw.reason);
            REQUIRE(r.status == hello_status::malformed);
            REQUIRE(r.error != nullptr);
            CHECK_THAT(std::string(r.error), Catch::Contains(rw.reason));
            CHECK(r.sni.empty());
        }
    }
    SECTION("malformed record layer and header fields") {
        bytes h = make_hello({});
        bytes not_hello = h;
        not_hello[5] = std::byte{2};  // ServerHello
        CHECK_THAT(parse(not_hello).error, Catch::Contains("not a ClientHello"));
        bytes empty_record = {std::byte{22}, std::byte{3}, std::byte{1}, std::byte{0}, std::byte{0}};
        CHECK_THAT(parse(empty_record).error, Catch::Contains("empty handshake record"));
        bytes huge_record = {std::byte{22}, std::byte{3}, std::byte{1}, std::byte{0x40}, std::byte{1}};
        CHECK_THAT(parse(huge_record).error, Catch::Contains("record longer than 16 KiB"));
        bytes huge_hello = {std::byte{22}, std::byte{3}, std::byte{1}, std::byte{0}, std::byte{4},
                            std::byte{1}, std::byte{1}, std::byte{0}, std::byte{0}};
        CHECK_THAT(parse(huge_hello).error, Catch::Contains("larger than 16 KiB"));
        bytes short_hello = {std::byte{22}, std::byte{3}, std::byte{1}, std::byte{0}, std::byte{6},
                             std::byte{1}, std::byte{0}, std::byte{0}, std::byte{2}, std::byte{3},
                             std::byte{3}};
        CHECK_THAT(parse(short_hello).error, Catch::Contains("shorter than its fixed fields"));
        bytes long_sid = h;
        long_sid[5 + 4 + 2 + 32] = std::byte{33};
        CHECK_THAT(parse(long_sid).error, Catch::Contains("session id longer than 32"));
        bytes odd_cs = h;
        odd_cs[5 + 4 + 2 + 32 + 1 + 1] = std::byte{3};
        CHECK(parse(odd_cs).status == hello_status::malformed);
        // A second record of another content type in the middle of a fragmented hello.
        bytes frag = fragment(make_hello(sni_ext("a.example")), 20);
        frag[25] = std::byte{23};
        CHECK_THAT(parse(frag).error, Catch::Contains("non-handshake record"));
        // Extensions block longer than the hello.
        bytes ext_len = make_hello(sni_ext("a.example"));
        ext_len[5 + 4 + 2 + 32 + 1 + 4 + 2] = std::byte{0x7f};
        CHECK_THAT(parse(ext_len).error, Catch::Contains("extensions length does not match"));
    }
    SECTION("ALPN names beyond the cap are dropped, the hello still parses") {
        bytes list;
        for (int i = 0; i < 12; ++i) {
            list.push_back(std::byte{2});
            list.push_back(std::byte{'p'});
            list.push_back(std::byte(static_cast<unsigned char>('a' + i)));
        }
        bytes d = {std::byte{0}, std::byte(static_cast<unsigned char>(list.size()))};
        d.insert(d.end(), list.begin(), list.end());
        const auto r = parse(make_hello(ext(16, d)));
        REQUIRE(r.status == hello_status::tls);
        CHECK(r.alpn.size() == outrigger::tls::max_alpn_names);
        CHECK(r.alpn.front() == "pa");
    }
}

TEST_CASE("client_hello: flipping any byte of a real hello never reads out of bounds",
          "[tls][client_hello]") {
    // Not a proof (the fuzzer is, under ASan), but every byte position and three values each.
    const bytes hello = capture_asio("flip.example");
    REQUIRE(parse(hello).status == hello_status::tls);
    std::size_t verdicts = 0;
    for (std::size_t i = 0; i < hello.size(); ++i) {
        for (const unsigned v : {0x00u, 0x80u, 0xffu}) {
            bytes b = hello;
            b[i] = std::byte(static_cast<unsigned char>(v));
            const auto r = parse(b);
            if (r.status == hello_status::tls) {
                CHECK(r.consumed <= b.size());
            }
            verdicts += r.status != hello_status::need_more ? 1 : 0;
        }
    }
    CHECK(verdicts > 0);
}
