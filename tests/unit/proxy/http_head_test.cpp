// The data path's message head (proxy/http_head.hpp): parsing through Beast into the arena,
// lookups, edits, hop-by-hop removal, the wire form and the chunked framing helpers. Pure: no
// sockets, the parser is fed bytes directly.
#include <string>
#include <string_view>

#include <boost/beast/http/error.hpp>
#include <catch2/catch.hpp>

#include "proxy/http_head.hpp"
#include "proxy/http_util.hpp"

using namespace outrigger::proxy;
namespace http = boost::beast::http;

namespace {

/// Feeds `wire` to `p` in one piece; returns the bytes used and the error.
template <bool isRequest>
std::size_t feed(head_parser<isRequest>& p, std::string_view wire, boost::system::error_code& ec) {
    return p.put(boost::asio::const_buffer(wire.data(), wire.size()), ec);
}

}  // namespace

TEST_CASE("http_head: a parsed request keeps its line and fields in arrival order", "[unit][http_head]") {
    message_head h;
    request_head_parser p(h);
    boost::system::error_code ec;
    const std::string wire =
        "POST /a/b?x=1 HTTP/1.1\r\nHost: shop.local:8080\r\nX-Trace: a\r\nx-trace: b\r\n"
        "Content-Length: 3\r\n\r\nabc";
    char body[8] = {};
    p.body_window(body, sizeof(body));
    std::size_t used = feed(p, wire, ec);
    // The head parses first; the body is a second put (Beast stops after the header).
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_header_done());
    used += feed(p, std::string_view(wire).substr(used), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_done());
    CHECK(used == wire.size());
    CHECK(std::string_view(body, sizeof(body) - p.body_left()) == "abc");
    CHECK(h.method() == http::verb::post);
    CHECK(h.method_string() == "POST");
    CHECK(h.target() == "/a/b?x=1");
    CHECK(h.version() == 11);
    REQUIRE(h.size() == 4);
    CHECK(h.name(h.fields()[1]) == "X-Trace");
    CHECK(h.value(h.fields()[2]) == "b");
    CHECK(h[http::field::host] == "shop.local:8080");
    CHECK(h.find(std::string_view("X-TRACE")).value_or("") == "a");
    CHECK_FALSE(h.find(std::string_view("x-trac")).has_value());
    CHECK(h.count(http::field::content_length) == 1);
    CHECK(h[http::field::authorization].empty());
}

TEST_CASE("http_head: edits keep order and the wire form is byte-exact", "[unit][http_head]") {
    message_head h;
    request_head_parser p(h);
    boost::system::error_code ec;
    feed(p, "GET http://svc:8080/x HTTP/1.0\r\nHost: old\r\nAccept: */*\r\nhost: dup\r\n\r\n", ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_done());
    h.target("/x");
    h.set(http::field::host, "svc:8080");  // both Host lines go; one canonical line is added
    h.set("x-request-id", "id-1");
    h.set("X-Request-Id", "id-2");         // replaces by name, case-insensitively
    h.version(11);
    std::string out;
    h.serialize_request(out);
    CHECK(out == "GET /x HTTP/1.1\r\nAccept: */*\r\nHost: svc:8080\r\nX-Request-Id: id-2\r\n\r\n");
    message_head copy;
    copy.assign_fields(h);
    CHECK(copy.size() == 3);
    CHECK(copy[http::field::host] == "svc:8080");
    h.clear();
    CHECK(h.size() == 0);
    CHECK(h.version() == 11);
}

TEST_CASE("http_head: hop-by-hop headers and those Connection names are removed", "[unit][http_head]") {
    message_head h;
    request_head_parser p(h);
    boost::system::error_code ec;
    feed(p,
         "GET / HTTP/1.1\r\nHost: a\r\nX-Secret: s\r\nConnection: keep-alive, X-Secret, "
         "Transfer-Encoding\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Foo: 1\r\nUpgrade: h2c\r\n"
         "Accept: */*\r\nproxy-authorization: x\r\n\r\n",
         ec);
    REQUIRE_FALSE(ec);
    strip_hop_by_hop(h);
    std::string out;
    h.serialize_request(out);
    CHECK(out == "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");

    message_head plain;
    request_head_parser q(plain);
    feed(q, "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n", ec);
    REQUIRE_FALSE(ec);
    strip_hop_by_hop(plain);
    CHECK(plain.size() == 2);
}

TEST_CASE("http_head: a response head, chunked body decoded into a small window", "[unit][http_head]") {
    message_head h;
    response_head_parser p(h);
    boost::system::error_code ec;
    std::string wire =
        "HTTP/1.1 201 Made\r\nTransfer-Encoding: chunked\r\nServer: up\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    std::string_view rest = wire;
    rest.remove_prefix(feed(p, rest, ec));
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_header_done());
    CHECK(h.status() == 201);
    CHECK(h.reason() == "Made");
    CHECK(p.chunked());
    std::string body;
    char window[4];
    int rounds = 0;
    while (!p.is_done() && rounds++ < 50) {
        p.body_window(window, sizeof(window));
        const std::size_t used = feed(p, rest, ec);
        rest.remove_prefix(used);
        if (ec == http::error::need_buffer) {
            ec = {};
        }
        REQUIRE_FALSE(ec);
        body.append(window, sizeof(window) - p.body_left());
    }
    CHECK(p.is_done());
    CHECK(body == "hello world");
    CHECK(rest.empty());

    // The proxy re-frames: without chunked for HTTP/1.0, with it for close-delimited bodies.
    remove_chunked(h);
    CHECK(h.count(http::field::transfer_encoding) == 0);
    add_chunked(h);
    CHECK(h[http::field::transfer_encoding] == "chunked");
    h.set(http::field::transfer_encoding, "gzip, chunked");
    remove_chunked(h);
    CHECK(h[http::field::transfer_encoding] == "gzip");
    add_chunked(h);
    CHECK(h[http::field::transfer_encoding] == "gzip, chunked");
    std::string out;
    h.set_status_line(404, "", 11);
    h.serialize_response(out);
    CHECK(out.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
}

TEST_CASE("http_head: chunk size lines are lowercase hex with CRLF", "[unit][http_head]") {
    char line[24];
    CHECK(std::string_view(line, chunk_size_line(1, line)) == "1\r\n");
    CHECK(std::string_view(line, chunk_size_line(16384, line)) == "4000\r\n");
    CHECK(std::string_view(line, chunk_size_line(0xabcdef, line)) == "abcdef\r\n");
}
