#include "proxy/tcp/sniff.hpp"

#include <memory>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tls/detect.hpp"

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view h2_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::size_t max_method = 32;

bool is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
        case '-': case '.': case '^': case '_': case '`': case '|': case '~':
            return true;
        default:
            return false;
    }
}

/// METHOD SP TARGET SP "HTTP/1." DIGIT (CRLF | LF). The version is required, so a text protocol
/// whose commands look like "WORD SP ..." (redis inline commands, SMTP, memcached) is not HTTP.
first_bytes_protocol classify_request_line(std::span<const std::byte> d) {
    const auto at = [&](std::size_t i) { return std::to_integer<unsigned char>(d[i]); };
    std::size_t i = 0;
    while (i < d.size() && is_tchar(at(i))) {
        if (++i > max_method) {
            return first_bytes_protocol::other;
        }
    }
    if (i == d.size()) {
        return first_bytes_protocol::need_more;
    }
    if (i == 0 || at(i) != ' ') {
        return first_bytes_protocol::other;
    }
    ++i;
    const std::size_t target = i;
    // Visible ASCII and obs-text (clients do send raw UTF-8 paths).
    while (i < d.size() && (at(i) > 0x20 && at(i) != 0x7f)) {
        if (++i > sniff_max_request_line) {
            return first_bytes_protocol::other;
        }
    }
    if (i == d.size()) {
        return first_bytes_protocol::need_more;
    }
    if (i == target || at(i) != ' ') {
        return first_bytes_protocol::other;
    }
    ++i;
    constexpr std::string_view version = "HTTP/1.";
    for (const char c : version) {
        if (i == d.size()) {
            return first_bytes_protocol::need_more;
        }
        if (at(i++) != static_cast<unsigned char>(c)) {
            return first_bytes_protocol::other;
        }
    }
    if (i == d.size()) {
        return first_bytes_protocol::need_more;
    }
    if (at(i) < '0' || at(i) > '9') {
        return first_bytes_protocol::other;
    }
    ++i;
    if (i == d.size()) {
        return first_bytes_protocol::need_more;
    }
    if (at(i) == '\n') {
        return first_bytes_protocol::http1;
    }
    if (at(i) != '\r') {
        return first_bytes_protocol::other;
    }
    ++i;
    if (i == d.size()) {
        return first_bytes_protocol::need_more;
    }
    return at(i) == '\n' ? first_bytes_protocol::http1 : first_bytes_protocol::other;
}

}  // namespace

first_bytes_protocol classify_first_bytes(std::span<const std::byte> data, tls::client_hello* hello) {
    if (data.empty()) {
        return first_bytes_protocol::need_more;
    }
    if (std::to_integer<unsigned char>(data[0]) == 0x16) {
        tls::client_hello h = tls::parse_client_hello(data);
        switch (h.status) {
            case tls::hello_status::need_more:
                return first_bytes_protocol::need_more;
            case tls::hello_status::tls:
                if (hello != nullptr) {
                    *hello = std::move(h);
                }
                return first_bytes_protocol::tls;
            case tls::hello_status::malformed:
                if (hello != nullptr) {
                    *hello = std::move(h);
                }
                return first_bytes_protocol::other;
            case tls::hello_status::not_tls:
                return first_bytes_protocol::other;  // 0x16 is no HTTP method byte either
        }
    }
    // The h2 preface starts like a request line ("PRI * HTTP/2.0"), so it is tested first.
    const std::size_t n = std::min(data.size(), h2_preface.size());
    bool preface = true;
    for (std::size_t i = 0; i < n; ++i) {
        if (std::to_integer<char>(data[i]) != h2_preface[i]) {
            preface = false;
            break;
        }
    }
    if (preface) {
        return n == h2_preface.size() ? first_bytes_protocol::http2 : first_bytes_protocol::need_more;
    }
    return classify_request_line(data);
}

namespace {

struct read_outcome {
    bool decided = false;
    bool timed_out = false;
    bool peer_closed = false;
    boost::system::error_code error;
};

/// Reads into `buf` (at most `limit` bytes) until `decided()` says so, within `deadline`. The
/// deadline cancels the pending read; a read that already completed keeps its bytes (a cancel
/// does not undo a completed operation), so nothing is lost in the race. The flag is shared with
/// the timer's handler, which may run after this coroutine returned.
template <class Decided>
net::awaitable<read_outcome> read_until(tcp::socket& socket, boost::beast::flat_buffer& buf,
                                        std::size_t limit, std::chrono::milliseconds deadline,
                                        Decided decided) {
    read_outcome out;
    if (decided()) {
        out.decided = true;
        co_return out;
    }
    struct watch_state {
        bool reading = true;
        bool fired = false;
    };
    const auto watch = std::make_shared<watch_state>();
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(deadline);
    timer.async_wait([&socket, watch](const boost::system::error_code& ec) {
        if (!ec && watch->reading) {
            watch->fired = true;
            boost::system::error_code ignored;  // the read ends with operation_aborted
            socket.cancel(ignored);
        }
    });
    while (buf.size() < limit) {
        const std::size_t room = std::min<std::size_t>(4096, limit - buf.size());
        auto [ec, n] = co_await socket.async_read_some(buf.prepare(room),
                                                       net::as_tuple(net::use_awaitable));
        buf.commit(n);
        if (decided()) {
            out.decided = true;
            break;
        }
        if (ec) {
            if (watch->fired || ec == net::error::operation_aborted) {
                out.timed_out = true;
            } else if (ec == net::error::eof) {
                out.peer_closed = true;
            } else {
                out.error = ec;
            }
            break;
        }
        if (watch->fired) {
            out.timed_out = true;
            break;
        }
    }
    watch->reading = false;
    timer.cancel();
    co_return out;
}

}  // namespace

net::awaitable<sniff_result> sniff_first_bytes(tcp::socket& socket, boost::beast::flat_buffer& buf,
                                               std::chrono::milliseconds deadline) {
    sniff_result r;
    first_bytes_protocol p = first_bytes_protocol::need_more;
    const auto decided = [&] {
        const auto d = buf.data();
        p = classify_first_bytes(std::span(static_cast<const std::byte*>(d.data()), d.size()),
                                 &r.hello);
        return p != first_bytes_protocol::need_more;
    };
    const read_outcome o = co_await read_until(socket, buf, sniff_buffer_limit, deadline, decided);
    r.proto = o.decided ? p : first_bytes_protocol::other;
    r.timed_out = o.timed_out;
    r.peer_closed = o.peer_closed;
    r.error = o.error;
    co_return r;
}

net::awaitable<tls_detect> detect_tls(tcp::socket& socket, boost::beast::flat_buffer& buf,
                                      std::chrono::milliseconds deadline) {
    tls::first_bytes_kind k = tls::first_bytes_kind::need_more;
    const auto decided = [&] {
        const auto d = buf.data();
        k = tls::classify_first_bytes(std::span(static_cast<const std::byte*>(d.data()), d.size()));
        return k != tls::first_bytes_kind::need_more;
    };
    const read_outcome o = co_await read_until(socket, buf, 16, deadline, decided);
    if (o.decided) {
        co_return k == tls::first_bytes_kind::tls ? tls_detect::tls : tls_detect::plaintext;
    }
    if (o.timed_out) {
        co_return tls_detect::plaintext;  // silent: a server-first protocol, never TLS
    }
    co_return buf.size() > 0 && o.peer_closed ? tls_detect::plaintext : tls_detect::closed;
}

std::chrono::milliseconds sniff_deadline(const routing::snapshot& snap, std::uint16_t port,
                                         const server_config& cfg) {
    if (snap.allow_all_egress && !snap.is_l7_port(port)) {
        return server_first_deadline;
    }
    return cfg.header_timeout.count() > 0 ? cfg.header_timeout : std::chrono::milliseconds(10'000);
}

}  // namespace outrigger::proxy
