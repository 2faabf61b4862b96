// proxy/tcp/sniff: the first-bytes classifier of transparent egress (pure) and the deadline rule.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/tcp/sniff.hpp"
#include "proxy/tcp/transparent_egress.hpp"

using outrigger::proxy::classify_first_bytes;
using fb = outrigger::proxy::first_bytes_protocol;

namespace {

fb classify(std::string_view s) {
    return classify_first_bytes(std::span(reinterpret_cast<const std::byte*>(s.data()), s.size()));
}

/// Every strict prefix of `s` is need_more.
void check_prefixes(std::string_view s) {
    for (std::size_t n = 0; n < s.size(); ++n) {
        INFO("prefix " << n << " of \"" << s << "\"");
        REQUIRE(classify(s.substr(0, n)) == fb::need_more);
    }
}

}  // namespace

TEST_CASE("sniff: HTTP/1 needs a whole request line with the HTTP/1.x version", "[proxy][sniff]") {
    for (const std::string_view line :
         {"GET / HTTP/1.1\r\n", "POST /api?x=1 HTTP/1.0\r\n", "get /lower-case-method HTTP/1.1\r\n",
          "CONNECT db.example:5432 HTTP/1.1\r\n", "OPTIONS * HTTP/1.1\r\n",
          "GET http://a.example/p HTTP/1.1\r\n", "M-SEARCH * HTTP/1.1\n",
          "GET /caf\xc3\xa9 HTTP/1.1\r\n"}) {
        INFO(line);
        CHECK(classify(line) == fb::http1);
        check_prefixes(line);
    }
    // More bytes after the line change nothing.
    CHECK(classify("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == fb::http1);
}

TEST_CASE("sniff: text protocols that look like words are not HTTP", "[proxy][sniff]") {
    CHECK(classify("PING\r\n") == fb::other);                       // redis inline
    CHECK(classify("SET key value\r\n") == fb::other);              // redis inline, spaces
    CHECK(classify("*1\r\n$4\r\nPING\r\n") == fb::other);           // redis RESP
    CHECK(classify("EHLO mail.example\r\n") == fb::other);          // SMTP client
    CHECK(classify("get key\r\n") == fb::other);                    // memcached
    CHECK(classify("GET / HTTP/2.0\r\n") == fb::other);             // no such HTTP/1 version
    CHECK(classify("GET / HTTP/1.1\rX") == fb::other);
    CHECK(classify("GET  / HTTP/1.1\r\n") == fb::other);            // empty target
    CHECK(classify(" GET / HTTP/1.1\r\n") == fb::other);
    CHECK(classify("G\x01T / HTTP/1.1\r\n") == fb::other);
    CHECK(classify(std::string_view("\0\0\0\x08\x04\xd2\x16\x2f", 8)) == fb::other);  // postgres SSLRequest
    CHECK(classify(std::string(40, 'A')) == fb::other);             // method token too long
    // The decision comes at the first impossible byte, not at the end of the line.
    CHECK(classify("SET k") == fb::need_more);
    CHECK(classify("SET k v") == fb::other);
}

TEST_CASE("sniff: the HTTP/2 preface", "[proxy][sniff]") {
    const std::string_view preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    CHECK(classify(preface) == fb::http2);
    check_prefixes(preface);
    CHECK(classify("PRI * HTTP/2.0\r\n\r\nXX") == fb::other);
}

TEST_CASE("sniff: TLS is decided by a complete ClientHello", "[proxy][sniff]") {
    // A minimal ClientHello with SNI "a.example" (record, handshake header, body, one extension).
    std::vector<unsigned char> body = {3, 3};
    body.insert(body.end(), 32, 7);
    body.insert(body.end(), {0, 0, 2, 0x13, 0x01, 1, 0});
    const std::string name = "a.example";
    const std::size_t sni_len = 2 + 1 + 2 + name.size();
    body.insert(body.end(), {0, static_cast<unsigned char>(4 + sni_len), 0, 0, 0,
                             static_cast<unsigned char>(sni_len), 0,
                             static_cast<unsigned char>(sni_len - 2), 0, 0,
                             static_cast<unsigned char>(name.size())});
    body.insert(body.end(), name.begin(), name.end());
    std::vector<unsigned char> rec = {22, 3, 1, 0, static_cast<unsigned char>(body.size() + 4), 1, 0, 0,
                                      static_cast<unsigned char>(body.size())};
    rec.insert(rec.end(), body.begin(), body.end());
    const std::string_view hello(reinterpret_cast<const char*>(rec.data()), rec.size());

    outrigger::tls::client_hello h;
    REQUIRE(classify_first_bytes(std::span(reinterpret_cast<const std::byte*>(rec.data()), rec.size()),
                                 &h) == fb::tls);
    CHECK(h.sni == "a.example");
    check_prefixes(hello);
    // A broken hello is opaque TCP, with the reason kept.
    rec[9] = 9;  // version 9.3
    outrigger::tls::client_hello bad;
    CHECK(classify_first_bytes(std::span(reinterpret_cast<const std::byte*>(rec.data()), rec.size()),
                               &bad) == fb::other);
    CHECK(bad.status == outrigger::tls::hello_status::malformed);
    CHECK(classify(std::string_view("\x16\x02", 2)) == fb::other);
}

TEST_CASE("sniff: the deadline is short only where a wrong guess is harmless", "[proxy][sniff]") {
    outrigger::routing::snapshot snap;
    snap.l7_ports = {80, 8080};
    outrigger::proxy::server_config cfg;
    using namespace std::chrono_literals;
    snap.allow_all_egress = true;
    CHECK(outrigger::proxy::sniff_deadline(snap, 3306, cfg) == outrigger::proxy::server_first_deadline);
    CHECK(outrigger::proxy::sniff_deadline(snap, 8080, cfg) == cfg.header_timeout);
    snap.allow_all_egress = false;
    CHECK(outrigger::proxy::sniff_deadline(snap, 3306, cfg) == cfg.header_timeout);
    cfg.header_timeout = 0ms;  // --header-timeout 0 (off): still bounded
    CHECK(outrigger::proxy::sniff_deadline(snap, 3306, cfg) == 10s);
}

TEST_CASE("sniff: the egress filter's verdict on what is not HTTP", "[proxy][sniff]") {
    using outrigger::proxy::decide_sniffed_egress;
    using outrigger::proxy::sniff_result;
    outrigger::routing::snapshot snap;
    snap.egress_allow = {"*.amazonaws.com", "api.allowed.example"};
    sniff_result tls;
    tls.proto = fb::tls;
    tls.hello.status = outrigger::tls::hello_status::tls;
    sniff_result opaque;
    opaque.proto = fb::other;
    sniff_result silent;
    silent.proto = fb::other;
    silent.timed_out = true;

    SECTION("ALLOW_ALL passes everything") {
        snap.allow_all_egress = true;
        tls.hello.sni = "anything.example";
        CHECK(decide_sniffed_egress(snap, tls).pass);
        CHECK(decide_sniffed_egress(snap, opaque).pass);
        CHECK(decide_sniffed_egress(snap, silent).pass);
    }
    SECTION("DROP_ALL passes TLS only by an allowed SNI (case-insensitive)") {
        tls.hello.sni = "S3.eu-west-1.AMAZONAWS.com";
        CHECK(decide_sniffed_egress(snap, tls).pass);
        tls.hello.sni = "api.allowed.example";
        CHECK(decide_sniffed_egress(snap, tls).pass);
        tls.hello.sni = "amazonaws.com";  // "*.x" needs a label before the suffix
        CHECK_FALSE(decide_sniffed_egress(snap, tls).pass);
        tls.hello.sni = "evil.example";
        const auto v = decide_sniffed_egress(snap, tls);
        CHECK_FALSE(v.pass);
        CHECK_THAT(v.reason, Catch::Contains("SNI \"evil.example\""));
        tls.hello.sni.clear();
        CHECK_THAT(decide_sniffed_egress(snap, tls).reason, Catch::Contains("without SNI"));
        CHECK_THAT(decide_sniffed_egress(snap, opaque).reason, Catch::Contains("opaque TCP refused"));
        CHECK_THAT(decide_sniffed_egress(snap, silent).reason, Catch::Contains("server-first"));
    }
}
