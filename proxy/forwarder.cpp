#include "proxy/forwarder.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <tuple>
#include <utility>
#include <span>
#include <memory>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "proxy/endpoint_select.hpp"
#include "proxy/http_head.hpp"
#include "proxy/http_util.hpp"
#include "proxy/http_wire.hpp"
#include "proxy/http2/h2_connection.hpp"
#include "proxy/local_reply.hpp"
#include "proxy/log.hpp"
#include "proxy/retry_policy.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"
#include "tls/session_cache.hpp"

// g++ 12 reports Asio's awaitable frame allocation (operator new on the frame, the class's
// sized operator delete) as mismatched once a small coroutine such as write_rest is inlined into
// its caller: a false positive (the pair is Asio's own, matched in awaitable_frame_base).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace outrigger::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto tok = net::as_tuple(net::use_awaitable);
constexpr std::size_t response_header_limit = 64 * 1024;
/// Bodies up to this size are copied behind the head and sent with it in one buffer.
constexpr std::size_t small_body = 4096;

void set_deadline(flex_stream& s, clock_type::time_point tp) {
    if (tp == clock_type::time_point::max()) {
        s.expires_never();
    } else {
        s.expires_at(tp);
    }
}

std::string session_key(const tcp::endpoint& ep) {
    return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

/// Client TLS handshake on a freshly connected upstream connection (spec §10.7): SNI = target
/// hostname, chain and SAN verification armed by the context, a cached session offered for
/// resumption. Returns "" or why it failed (the verification result when there is one).
/// `h2`: offer only h2 by ALPN, and fail unless the upstream agrees.
net::awaitable<std::string> handshake_upstream(request_ctx& c, flex_stream& stream,
                                               const tcp::endpoint& ep,
                                               clock_type::time_point deadline, bool h2) {
    const tls::client_context& ctx = *c.up.tls;
    auto& ts = stream.start_tls(ctx.native());
    if (auto err = tls::prepare_client_stream(ts, ctx); !err.empty()) {
        co_return err;
    }
    if (h2 && !tls::offer_h2(ts)) {
        co_return std::string("cannot offer h2 by ALPN");
    }
    const std::string key = session_key(ep);
    const bool offered = c.w.tls_sessions().resume(ts, ctx, key);
    set_deadline(stream, deadline);
    auto [ec] = co_await ts.async_handshake(net::ssl::stream_base::client, tok);
    if (!ec) {
        if (h2 && tls::negotiated_alpn(ts) != "h2") {
            co_return fmt::format("the upstream did not agree to h2 by ALPN (it chose \"{}\")",
                                  tls::negotiated_alpn(ts));
        }
        co_return std::string{};
    }
    if (offered) {
        c.w.tls_sessions().erase(ctx, key);
    }
    std::string why = tls::verify_failure_reason(ts);
    if (why.empty()) {
        why = ec == beast::error::timeout ? std::string("handshake timeout") : ec.message();
    }
    co_return fmt::format("TLS handshake failed: {}", why);
}

/// Whether the whole request body was read from downstream.
/// The 413 for a request body past --max-request-body; the connection closes (the rest of the
/// body is never read).
forward_result body_too_large(request_ctx& c) {
    c.close_after = true;
    return forward_result{errc::body_too_large,
                          fmt::format("request body exceeds the limit of {} bytes (--max-request-body)",
                                      c.w.config().max_request_body),
                          0};
}

bool request_body_done(const request_ctx& c) {
    if (c.h2) {
        return c.h2.st->in_end && c.h2.st->in.empty();
    }
    return c.parser.is_done();
}

/// `read_request_body` for a request on an HTTP/2 stream: takes what the stream received and
/// gives the window back (so the client sends more only as the upstream takes it).
net::awaitable<boost::system::error_code> read_h2_request_body(request_ctx& c, char* data,
                                                               std::size_t cap, std::size_t& got,
                                                               bool some) {
    http2::stream& st = *c.h2.st;
    const std::uint64_t limit = c.w.config().max_request_body;
    while (got < cap) {
        if (!st.in.empty()) {
            const std::size_t n = std::min(cap - got, st.in.size());
            std::memcpy(data + got, st.in.data(), n);
            st.in.erase(0, n);
            got += n;
            c.h2.body_seen += n;
            c.h2.conn->consume(st, n);
            if (limit > 0 && c.h2.body_seen > limit) {
                co_return http::error::body_limit;
            }
            if (some) {
                break;
            }
            continue;
        }
        if (st.in_end) {
            break;
        }
        if (st.closed) {
            co_return http::error::partial_message;  // reset by the client mid-body
        }
        const bool woken = co_await st.ev.wait(clock_type::now() + c.w.config().downstream_idle);
        if (!woken) {
            co_return beast::error::timeout;
        }
    }
    co_return boost::system::error_code{};
}

/// Reads request body bytes into [data, data + cap). Stops when the body is complete, the
/// buffer is full, or (when `some`) as soon as any byte arrived. `got` receives the count.
net::awaitable<boost::system::error_code> read_request_body(request_ctx& c, char* data,
                                                            std::size_t cap, std::size_t& got,
                                                            bool some) {
    got = 0;
    if (c.h2) {
        co_return co_await read_h2_request_body(c, data, cap, got, some);
    }
    while (!c.parser.is_done() && got < cap) {
        c.parser.body_window(data + got, cap - got);
        if (c.down_buf.size() > 0) {
            // Body bytes that came with the head (or an earlier read): no I/O needed.
            const std::size_t before = got;
            if (const auto pec = parse_buffered(c.parser, c.down_buf)) {
                co_return pec;
            }
            got = cap - c.parser.body_left();
            if (got > before || c.parser.is_done()) {
                if (some) {
                    break;
                }
                continue;
            }
        }
        c.down.expires_after(c.w.config().downstream_idle);
        const auto ec = co_await read_and_parse(c.down, c.down_buf, c.parser, false);
        got = cap - c.parser.body_left();
        if (ec) {
            co_return ec;
        }
        if (some && got > 0) {
            break;
        }
    }
    co_return boost::system::error_code{};
}

/// Writes what one non-blocking try (`sent` bytes of `bufs`, http_wire.hpp) left, bounded by
/// `deadline`. Returns the error and the bytes of `bufs` sent in all. Called only when the try
/// fell short, so the usual path makes no coroutine frame for it.
template <std::size_t N>
net::awaitable<std::pair<boost::system::error_code, std::size_t>> write_rest(
    flex_stream& s, const std::array<net::const_buffer, N>& bufs, std::size_t sent,
    clock_type::time_point deadline) {
    beast::buffers_suffix<std::array<net::const_buffer, N>> rest(bufs);
    rest.consume(sent);
    set_deadline(s, deadline);
    auto [ec, n] = co_await net::async_write(s, rest, tok);
    co_return std::pair{ec, sent + n};
}

/// One piece of an outgoing message, empty parts skipped by the writes: [head][data] for a body
/// sent as it is; [head][size line][data][CRLF][last chunk] for a chunked one (`line` holds the
/// size line; the last chunk when `last`).
std::array<net::const_buffer, 5> body_piece(std::string_view head, bool chunked, char (&line)[24],
                                            const char* data, std::size_t n, bool last) {
    std::array<net::const_buffer, 5> b{};
    b[0] = net::buffer(head.data(), head.size());
    if (!chunked) {
        b[2] = net::buffer(data, n);
        return b;
    }
    if (n > 0) {
        b[1] = net::buffer(line, chunk_size_line(n, line));
        b[2] = net::buffer(data, n);
        b[3] = net::buffer(chunk_end.data(), chunk_end.size());
    }
    if (last) {
        b[4] = net::buffer(last_chunk.data(), last_chunk.size());
    }
    return b;
}

enum class write_status { ok, stale, failed, downstream_failed, body_too_large };

/// Writes the request head and body to the upstream. When the body was not fully buffered, the
/// rest is relayed from downstream (then the request can no longer be replayed).
net::awaitable<write_status> write_request(request_ctx& c, upstream_connection& conn,
                                           std::size_t buffered, bool body_complete,
                                           clock_type::time_point deadline, bool reused,
                                           bool& streamed) {
    const message_head& req = c.parser.head();
    // An HTTP/2 request body of unknown length goes to an HTTP/1.1 upstream chunked (forward()
    // set Transfer-Encoding for it).
    const bool chunked = (c.h2 || c.parser.chunked()) && req.count(http::field::transfer_encoding) > 0;
    req.serialize_request(c.head);
    std::size_t body_apart = buffered;
    if (body_complete && !chunked && buffered <= small_body) {
        // A small body rides in the head's buffer: one plain send instead of a gather write
        // (sendmsg and its iovec cost more per call; http_wire.hpp).
        c.head.append(c.replay.data(), buffered);
        body_apart = 0;
    }
    // Head and what is buffered in one write, tried at once without suspending. A body larger
    // than the replay buffer is then relayed as it arrives, framed as it came (Content-Length:
    // as is; chunked: re-chunked piece by piece, trailers dropped).
    char line[24];
    {
        const auto bufs = body_piece(c.head, chunked, line, c.replay.data(), body_apart, body_complete);
        std::size_t sent = try_write_now(conn.stream, bufs);
        boost::system::error_code ec;
        if (sent < beast::buffer_bytes(bufs)) {
            std::tie(ec, sent) = co_await write_rest(conn.stream, bufs, sent, deadline);
        }
        if (ec) {
            // Nothing reached a reused connection: it was stale (the upstream had closed it).
            co_return reused && sent == 0 ? write_status::stale : write_status::failed;
        }
    }
    while (!request_body_done(c)) {
        // Stream the rest of the body: read some from downstream, write it upstream.
        std::size_t got = 0;
        streamed = true;
        const auto rec = co_await read_request_body(c, c.replay.data(), c.replay.size(), got, true);
        if (rec == http::error::body_limit) {
            co_return write_status::body_too_large;  // --max-request-body crossed mid-stream
        }
        if (rec) {
            co_return write_status::downstream_failed;
        }
        c.bytes_in += got;
        const bool done = request_body_done(c);
        if (got == 0 && !done) {
            continue;
        }
        const auto bufs = body_piece({}, chunked, line, c.replay.data(), got, done);
        const std::size_t sent = try_write_now(conn.stream, bufs);
        if (sent < beast::buffer_bytes(bufs)) {
            // The request timeout starts once the whole request was received (Envoy's rule), so
            // the streamed rest of a large body is bounded by the idle timeout, not `deadline`.
            const auto [wec, wn] = co_await write_rest(
                conn.stream, bufs, sent, clock_type::now() + c.w.config().downstream_idle);
            if (wec) {
                co_return write_status::failed;
            }
        }
    }
    co_return write_status::ok;
}

bool is_http_parse_error(const boost::system::error_code& ec) {
    static const auto& cat = http::make_error_code(http::error::end_of_stream).category();
    return ec.category() == cat && ec != http::error::end_of_stream &&
           ec != http::error::partial_message;
}

enum class relay_status { done, failed_before_downstream, failed };

/// An HTTP/2 client's request to an HTTP/2 upstream. The request body keeps flowing while the
/// response is awaited and relayed (gRPC client and bidirectional streaming: a client may send
/// its next message only after it read an answer, so waiting for the whole body first would
/// deadlock). One coroutine serves both directions: each stream wakes the other's event
/// (http2::stream::watcher) and every wait of the exchange first moves what the client sent
/// (`pump`). What was sent is kept in the replay buffer while it fits, so an attempt that failed
/// before anything was relayed can be sent again on a new stream (Envoy's retry buffer). The
/// per-request and per-try timeouts start once the client's body ended (Envoy's rule); the
/// caller's grpc-timeout counts from the request's arrival (docs/grpc.md).
struct h2_exchange {
    request_ctx& c;
    http2::stream& down;               // the client's stream
    http2::connection* up = nullptr;   // the current attempt's upstream stream
    http2::stream* st = nullptr;
    std::size_t kept = 0;              // body bytes in c.replay: all sent so far, unless overflowed
    bool overflowed = false;           // more was sent than c.replay holds: not replayable
    bool body_done = false;            // the client's END_STREAM was passed on
    bool grpc = false;                 // content-type application/grpc*
    std::chrono::milliseconds per_request{0};
    std::chrono::milliseconds per_try{0};
    clock_type::time_point grpc_deadline = clock_type::time_point::max();
    clock_type::time_point* req_deadline = nullptr;  // forward()'s deadlines, set at body end
    clock_type::time_point* try_deadline = nullptr;
    clock_type::time_point last_activity = clock_type::now();  // stream idle: either direction

    /// The client reset its stream (or its connection died) before the exchange ended.
    [[nodiscard]] bool cancelled() const { return down.closed; }

    void finish_body() {
        body_done = true;
        const auto now = clock_type::now();
        auto req = grpc_deadline;
        if (per_request.count() > 0) {
            req = std::min(req, now + per_request);
        }
        *req_deadline = req;
        *try_deadline = per_try.count() > 0 ? std::min(req, now + per_try) : req;
    }
};

/// Moves what the client sent to the upstream stream as far as its send buffer has room, without
/// waiting. Returns ok, body_too_large (--max-request-body crossed) or downstream_failed (the
/// client reset its stream in the middle of the body).
write_status pump(h2_exchange& x) {
    if (x.body_done || x.st == nullptr) {
        return write_status::ok;
    }
    http2::stream& ds = x.down;
    request_ctx& c = x.c;
    const std::uint64_t limit = c.w.config().max_request_body;
    while (!ds.in.empty() && x.up->has_send_room(*x.st)) {
        const std::size_t n = ds.in.size();
        if (limit > 0 && c.h2.body_seen + n > limit) {
            return write_status::body_too_large;
        }
        const bool end = ds.in_end;
        if (!x.up->send_data(*x.st, ds.in, end)) {
            return write_status::ok;  // the upstream stream is gone: the attempt sees it closed
        }
        if (!x.overflowed && x.kept + n <= c.replay.size()) {
            std::memcpy(c.replay.data() + x.kept, ds.in.data(), n);
            x.kept += n;
        } else {
            x.overflowed = true;
        }
        c.h2.body_seen += n;
        c.bytes_in += n;
        ds.in.clear();
        c.h2.conn->consume(ds, n);
        x.last_activity = clock_type::now();
        if (end) {
            x.finish_body();
            return write_status::ok;
        }
    }
    if (ds.in.empty() && ds.in_end) {
        x.up->send_data(*x.st, {}, true);  // END_STREAM came after the last DATA
        x.finish_body();
        return write_status::ok;
    }
    if (ds.closed) {
        return write_status::downstream_failed;
    }
    return write_status::ok;
}

/// The upstream side of a response relay: an HTTP/1.1 connection's parser.
struct h1_source {
    upstream_connection& conn;
    response_head_parser& p;
    clock_type::time_point deadline;
    std::chrono::milliseconds idle;

    [[nodiscard]] bool done() const { return p.is_done(); }
    [[nodiscard]] bool chunked() const {
        return p.chunked() && p.head().count(http::field::transfer_encoding) > 0;
    }
    [[nodiscard]] const message_head* trailers() const { return nullptr; }  // not passed on
    /// Nothing else flows while an HTTP/1.1 response is relayed (see h2_source::pump).
    static bool pump(request_ctx&) { return true; }
    [[nodiscard]] static bool grpc() { return false; }
    /// The next body piece into c.chunk (`got` bytes) without waiting: true when it decided
    /// (bytes, the end, or an error in `ec`); false when the upstream must be waited for (`wait`).
    /// Two steps so that the usual response (its body read with the head) makes no coroutine.
    bool read_now(request_ctx& c, std::size_t& got, boost::system::error_code& ec) {
        const std::size_t cap = c.chunk.size();
        p.body_window(c.chunk.data(), cap);
        // Bytes already read with the head (usually the whole body) need no I/O.
        ec = parse_buffered(p, conn.buffer);
        got = cap - p.body_left();
        if (!ec && got == 0 && !p.is_done() && conn.buffer.size() == 0 &&
            try_read_now(conn.stream, conn.buffer, 16 * 1024) > 0) {
            ec = parse_buffered(p, conn.buffer);
            got = cap - p.body_left();
        }
        return ec || got > 0 || p.is_done();
    }
    net::awaitable<boost::system::error_code> wait(request_ctx& c, std::size_t& got) {
        // Stream idle (route/listener `idle`): no upstream byte for that long ends the
        // stream; the per-request deadline still bounds the whole response.
        const std::size_t cap = c.chunk.size();
        set_deadline(conn.stream,
                     idle.count() > 0 ? std::min(deadline, clock_type::now() + idle) : deadline);
        const auto ec = co_await read_and_parse(conn.stream, conn.buffer, p, false);
        got = cap - p.body_left();
        co_return ec;
    }
};

/// The upstream side of a response relay: an HTTP/2 stream. With an exchange (`x`, an HTTP/2
/// client) the client's body keeps flowing while the response is relayed.
struct h2_source {
    http2::connection& conn;
    http2::stream& st;
    const clock_type::time_point* deadline;  // forward()'s request deadline (it may move)
    std::chrono::milliseconds idle;
    h2_exchange* x = nullptr;
    clock_type::time_point last_rx = clock_type::now();

    [[nodiscard]] bool done() const { return st.in_end && st.in.empty(); }
    [[nodiscard]] bool chunked() const { return false; }
    [[nodiscard]] const message_head* trailers() const {
        return st.has_trailers ? &st.trailers : nullptr;
    }
    [[nodiscard]] bool grpc() const { return x != nullptr && x->grpc; }
    /// Moves what the client sent on; false when the exchange must end (the client reset its
    /// stream, or its body crossed --max-request-body).
    bool pump(request_ctx&) {
        if (x == nullptr) {
            return true;
        }
        return outrigger::proxy::pump(*x) == write_status::ok && !x->cancelled();
    }
    bool read_now(request_ctx& c, std::size_t& got, boost::system::error_code& ec) {
        got = 0;
        ec = {};
        if (st.in.empty() && !st.in_end) {
            return false;
        }
        take(c, got);
        return true;
    }
    void take(request_ctx& c, std::size_t& got) {
        got = std::min(c.chunk.size(), st.in.size());
        std::memcpy(c.chunk.data(), st.in.data(), got);
        st.in.erase(0, got);
        conn.consume(st, got);
        last_rx = clock_type::now();
    }
    net::awaitable<boost::system::error_code> wait(request_ctx& c, std::size_t& got) {
        got = 0;
        while (st.in.empty() && !st.in_end) {
            if (!pump(c)) {
                co_return net::error::operation_aborted;  // the client is gone (or over the limit)
            }
            if (!st.in.empty() || st.in_end) {
                break;
            }
            if (st.closed) {
                co_return net::error::connection_reset;  // RST_STREAM or the connection died
            }
            // Stream idle: no byte either way for that long (the client's count too, when its
            // body still flows); the request deadline bounds the whole response.
            auto until = *deadline;
            if (idle.count() > 0) {
                const auto from = x != nullptr ? std::max(last_rx, x->last_activity) : clock_type::now();
                until = std::min(until, from + idle);
            }
            const bool woken = co_await st.ev.wait(until);
            if (!woken) {
                co_return beast::error::timeout;
            }
        }
        take(c, got);
        co_return boost::system::error_code{};
    }
};

/// The HTTP/1.x framing of a response head for this client; returns whether the body goes
/// chunked.
bool frame_h1_response(request_ctx& c, message_head& res, bool upstream_chunked) {
    const bool bodyless = c.head_request || c.status == 204 || c.status == 304;
    bool keep = c.client_keep_alive;
    // Whether the body goes downstream chunked (the parser decodes what the upstream sent).
    bool chunked = upstream_chunked;
    if (bodyless) {
        // No body follows: never send a last-chunk.
        if (chunked) {
            remove_chunked(res);
            chunked = false;
        }
    } else if (!chunked && res.count(http::field::content_length) == 0) {
        // Close-delimited upstream body: re-frame as chunked for HTTP/1.1 clients.
        if (c.client_version >= 11) {
            add_chunked(res);
            chunked = true;
        } else {
            keep = false;
        }
    }
    if (c.client_version < 11 && chunked) {
        remove_chunked(res);  // HTTP/1.0 cannot chunk: send raw, delimit by close
        chunked = false;
        keep = false;
    }
    res.version(11);
    // Connection went with the hop-by-hop headers, and HTTP/1.1 keeps alive by default: only a
    // close, or keep-alive for an HTTP/1.0 client, needs saying.
    if (!keep) {
        res.set(http::field::connection, "close");
        c.close_after = true;
    } else if (c.client_version < 11) {
        res.set(http::field::connection, "keep-alive");
    }
    return chunked;
}

/// Relays a response to an HTTP/1.x client, streaming the body.
template <class Source>
net::awaitable<relay_status> relay_to_h1(request_ctx& c, message_head& res, Source& src) {
    const bool chunked = frame_h1_response(c, res, src.chunked());
    // The head is serialised once and sent with the first body bytes; each piece is first read
    // from what is already buffered and written without suspending (http_wire.hpp). A chunked
    // body is re-chunked piece by piece (trailers are not passed on).
    res.serialize_response(c.head);
    bool head_pending = true;
    char line[24];
    for (;;) {
        std::size_t got = 0;
        if (!src.done()) {
            boost::system::error_code ec;
            if (!src.read_now(c, got, ec)) {
                ec = co_await src.wait(c, got);
            }
            if (ec) {
                if (!c.response_started) {
                    co_return relay_status::failed_before_downstream;
                }
                // The upstream died or sent a bad chunk mid-body: the client sees a truncated
                // response and a close.
                c.close_after = true;
                co_return relay_status::failed;
            }
        }
        const bool last = chunked && src.done();
        if (got > 0 || head_pending || last) {
            std::size_t body_apart = got;
            if (head_pending && !chunked && got <= small_body) {
                c.head.append(c.chunk.data(), got);  // one plain send, as in write_request
                body_apart = 0;
            }
            const auto bufs = body_piece(head_pending ? std::string_view(c.head) : std::string_view{},
                                         chunked, line, c.chunk.data(), body_apart, last);
            std::size_t sent = try_write_now(c.down, bufs);
            boost::system::error_code wec;
            if (sent < beast::buffer_bytes(bufs)) {
                std::tie(wec, sent) = co_await write_rest(
                    c.down, bufs, sent, clock_type::now() + c.w.config().downstream_idle);
            }
            c.response_started = true;
            c.bytes_out += sent;
            head_pending = false;
            if (wec) {
                c.close_after = true;
                co_return relay_status::failed;
            }
        }
        if (src.done()) {
            co_return relay_status::done;
        }
    }
}

/// Ends a gRPC call whose response head already went out: trailers with `status` and `why`.
void end_grpc_call(http2::connection& down, http2::stream& st, unsigned status, std::string_view why) {
    message_head t;
    const std::string code = std::to_string(status);
    t.append(http::field::unknown, "grpc-status", code);
    const std::string msg = grpc_message(why);
    t.append(http::field::unknown, "grpc-message", msg);
    down.send_trailers(st, t);
}

/// The grpc-status value of `h` (0..99), -1 when absent or malformed.
int grpc_status_in(const message_head& h) {
    const auto gs = h.find(std::string_view("grpc-status"));
    if (!gs || gs->empty() || gs->size() > 2) {
        return -1;
    }
    int v = 0;
    for (const char ch : *gs) {
        if (ch < '0' || ch > '9') {
            return -1;
        }
        v = v * 10 + (ch - '0');
    }
    return v;
}

/// Relays a response to an HTTP/2 client stream: HEADERS, DATA as it comes (bounded by the
/// stream's send buffer and the client's window), trailers when the upstream sent them.
template <class Source>
net::awaitable<relay_status> relay_to_h2(request_ctx& c, message_head& res, Source& src) {
    http2::connection& down = *c.h2.conn;
    http2::stream& st = *c.h2.st;
    const bool bodyless = c.head_request || c.status == 204 || c.status == 304;
    // A chunked HTTP/1.1 body becomes DATA frames (its framing header is not sent: h2_connection).
    bool head_sent = false;
    for (;;) {
        std::size_t got = 0;
        if (!src.done()) {
            boost::system::error_code ec;
            if (!src.read_now(c, got, ec)) {
                ec = co_await src.wait(c, got);
            }
            if (ec) {
                if (st.closed) {
                    c.flags |= flag_dc;  // the client reset the stream: nothing to answer
                    co_return relay_status::failed;
                }
                if (!c.response_started) {
                    co_return relay_status::failed_before_downstream;
                }
                if (src.grpc() && ec == beast::error::timeout) {
                    // A gRPC call past its deadline (or idle) in the middle of the response
                    // ends with the status, as the server would have ended it.
                    end_grpc_call(down, st, 4, "upstream request timeout in the middle of the response");
                    c.grpc_status = 4;
                    c.flags |= flag_ut;
                    co_return relay_status::failed;
                }
                down.reset(st, 2);  // INTERNAL_ERROR: the client sees the stream fail
                co_return relay_status::failed;
            }
        }
        const bool done = src.done() || bodyless;
        const message_head* trailers = done ? src.trailers() : nullptr;
        if (!head_sent) {
            c.grpc_status = grpc_status_in(res);  // trailers-only: the call ends in the head
            down.respond(st, res, done && got == 0 && trailers == nullptr);
            head_sent = true;
            c.response_started = true;
            if (done && got == 0 && trailers == nullptr) {
                co_return relay_status::done;
            }
        }
        if (got > 0 || done) {
            if (got > 0 && !bodyless) {
                down.send_data(st, std::string_view(c.chunk.data(), got), done && trailers == nullptr);
                c.bytes_out += got;
            } else if (trailers == nullptr) {
                down.send_data(st, {}, true);
            }
            if (trailers != nullptr) {
                c.grpc_status = grpc_status_in(*trailers);
                down.send_trailers(st, *trailers);
            }
            // Room in the client's send buffer; meanwhile the client's body flows on (pump).
            const auto until = clock_type::now() + c.w.config().downstream_idle;
            bool room = true;
            for (;;) {
                if (st.closed || !src.pump(c)) {
                    room = false;
                    break;
                }
                if (down.has_send_room(st)) {
                    break;
                }
                const bool woken = co_await st.ev.wait(until);
                if (!woken) {
                    room = false;
                    break;
                }
            }
            if (!room) {
                if (st.closed) {
                    c.flags |= flag_dc;
                }
                co_return relay_status::failed;  // the client reset the stream or went away
            }
        }
        if (done) {
            co_return relay_status::done;
        }
    }
}

/// Relays the response whose head is in `res` downstream, streaming the body. Not a coroutine
/// itself: it picks the sink's coroutine (one frame per response, not two).
template <class Source>
net::awaitable<relay_status> relay_response(request_ctx& c, message_head& res, Source& src) {
    c.status = res.status();
    if (c.response_headers != nullptr) {
        c.response_headers->assign_fields(res);
    }
    strip_hop_by_hop(res);
    if (c.h2) {
        return relay_to_h2(c, res, src);
    }
    return relay_to_h1(c, res, src);
}


// ---- HTTP/2 upstream --------------------------------------------------------------------------

/// One attempt's HTTP/2 stream and the connection it rides on; the stream is released (reset
/// if unfinished) when the attempt is over.
struct h2_attempt {
    std::shared_ptr<http2::client_connection> conn;
    std::shared_ptr<http2::stream> st;
    h2_exchange* x = nullptr;  // set while the client's stream and this one wake each other
    h2_attempt() = default;
    h2_attempt(const h2_attempt&) = delete;
    h2_attempt& operator=(const h2_attempt&) = delete;
    ~h2_attempt() {
        if (x != nullptr) {
            x->down.watcher = nullptr;
            x->up = nullptr;
            x->st = nullptr;
        }
        if (st) {
            st->watcher = nullptr;
            if (!st->in_end) {
                conn->h2->reset(*st, 8);  // CANCEL: the upstream stops working on it at once
            }
            conn->h2->release(*st);
        }
    }
};

/// What the attempt loop does after an HTTP/2 attempt: judge `outcome` (go_on), try again at
/// once without counting an attempt (again: the stream was refused before the peer processed
/// it), or answer with `reply` (after recording a failure on the endpoint when `failed`).
struct attempt_step {
    enum class next_t { go_on, again, reply } next = next_t::go_on;
    bool failed = false;
    forward_result reply;
};

/// Sends the request body on an HTTP/2 stream: what is buffered, then (when the body is larger
/// than the replay buffer) the rest as it arrives from downstream.
net::awaitable<write_status> send_h2_body(request_ctx& c, http2::connection& h, http2::stream& st,
                                          std::size_t buffered, bool body_complete,
                                          bool& streamed, h2_exchange* x) {
    if (body_complete && buffered == 0) {
        co_return write_status::ok;  // END_STREAM went with the head
    }
    if (!h.send_data(st, std::string_view(c.replay.data(), buffered), body_complete)) {
        co_return write_status::failed;
    }
    if (x != nullptr) {
        co_return pump(*x);  // the rest flows while the response is awaited (h2_exchange)
    }
    while (!request_body_done(c)) {
        std::size_t got = 0;
        streamed = true;
        const auto rec = co_await read_request_body(c, c.replay.data(), c.replay.size(), got, true);
        if (rec == http::error::body_limit) {
            co_return write_status::body_too_large;
        }
        if (rec) {
            co_return write_status::downstream_failed;
        }
        c.bytes_in += got;
        if (!h.send_data(st, std::string_view(c.replay.data(), got), request_body_done(c))) {
            co_return write_status::failed;
        }
        const bool room = co_await h.wait_send_room(st, clock_type::now() + c.w.config().downstream_idle);
        if (!room) {
            co_return write_status::failed;
        }
    }
    co_return write_status::ok;
}

/// Opens (or reuses) an HTTP/2 connection to `ep`, sends the request on a new stream and waits
/// for the response head. Fills `outcome`/`detail` as the HTTP/1.1 attempt does.
net::awaitable<attempt_step> attempt_h2(request_ctx& c, const tcp::endpoint& ep,
                                        std::uint64_t tls_identity, std::size_t buffered,
                                        bool body_complete, clock_type::time_point& try_deadline,
                                        clock_type::time_point& req_deadline,
                                        std::chrono::milliseconds idle, retry_state& rs,
                                        bool& stale_retry_used, h2_attempt& a,
                                        attempt_outcome& outcome, std::string& detail,
                                        bool& tls_failed, h2_exchange* x,
                                        std::chrono::milliseconds grpc_timeout) {
    const auto& cfg = c.w.config();
    const auto where = [&ep]() { return fmt::format("{}:{}", ep.address().to_string(), ep.port()); };
    const auto timed_out = [&]() {
        const bool by_client = x != nullptr && clock_type::now() >= x->grpc_deadline;
        return attempt_step{attempt_step::next_t::reply, true,
                            forward_result{errc::upstream_timeout,
                                           by_client ? fmt::format("{} at {} did not answer within the "
                                                                   "caller's grpc-timeout of {} ms",
                                                                   c.up.what, where(), grpc_timeout.count())
                                                     : fmt::format("{} at {} did not answer within {} ms",
                                                                   c.up.what, where(),
                                                                   c.up.per_request_timeout.count()),
                                           rs.retries_done > 0 ? static_cast<std::uint32_t>(flag_urx) : 0u}};
    };
    a.conn = c.w.h2_pool().find(ep, tls_identity);
    if (a.conn && a.conn->connecting) {
        // Another request is connecting to this endpoint: share its connection.
        const auto keep = a.conn;
        ++keep->waiting;
        // Bounded by the connecting request's connect timeout: it cancels the timer either way.
        auto [wec] = co_await keep->ready.async_wait(tok);
        (void)wec;  // cancelled when connecting ended: the state says how
        --keep->waiting;
        if (keep->connecting || !keep->failure.empty() || !keep->h2 || !keep->h2->can_open()) {
            outcome.kind = attempt_outcome::kind_t::connect_error;
            detail = keep->connecting ? std::string("connect timeout")
                     : !keep->failure.empty() ? keep->failure
                                              : std::string("the HTTP/2 connection is full");
            tls_failed = keep->failure.starts_with("TLS");
            a.conn.reset();
            co_return attempt_step{};
        }
    }
    if (!a.conn) {
        auto fresh = std::make_shared<http2::client_connection>(c.w.ioc().get_executor());
        fresh->peer = ep;
        fresh->tls_identity = tls_identity;
        c.w.h2_pool().add_connecting(fresh);
        set_deadline(fresh->io, std::min(try_deadline, clock_type::now() + cfg.connect_timeout));
        auto [ec] = co_await fresh->io.async_connect(ep, tok);
        if (ec) {
            c.w.h2_pool().failed(fresh, ec == beast::error::timeout ? std::string("connect timeout")
                                                                    : ec.message());
            if (ec == beast::error::timeout && clock_type::now() >= req_deadline) {
                co_return timed_out();
            }
            outcome.kind = attempt_outcome::kind_t::connect_error;
            detail = fresh->failure;
            co_return attempt_step{};
        }
        boost::system::error_code opt_ec;
        fresh->io.socket().set_option(tcp::no_delay(true), opt_ec);  // latency only
        if (c.up.tls != nullptr) {
            std::string why = co_await handshake_upstream(
                c, fresh->io, ep, std::min(try_deadline, clock_type::now() + cfg.connect_timeout), true);
            if (!why.empty()) {
                c.w.h2_pool().failed(fresh, why);
                outcome.kind = attempt_outcome::kind_t::connect_error;
                detail = std::move(why);
                tls_failed = true;
                log(log_level::warn, "outrigger: worker {}: {} at {}: {}", c.w.index(), c.up.what,
                    where(), detail);
                co_return attempt_step{};
            }
        }
        http2::limits l;
        l.idle = cfg.upstream_idle;
        l.max_header_bytes = 64 * 1024;
        c.w.h2_pool().start(fresh, l);
        a.conn = std::move(fresh);
    }
    message_head& req = c.parser.head();
    if (req[http::field::content_type].starts_with("application/grpc")) {
        req.set(http::field::te, "trailers");  // gRPC requires it; hop-by-hop rules removed it
    }
    a.st = a.conn->h2->open(req, c.up.tls != nullptr ? "https" : "http", body_complete && buffered == 0);
    if (!a.st) {
        outcome.kind = attempt_outcome::kind_t::reset;
        detail = "the HTTP/2 connection cannot take another stream";
        co_return attempt_step{};
    }
    http2::stream& st = *a.st;
    if (x != nullptr) {
        // From here on the client's stream and this one wake the same waits (h2_exchange).
        a.x = x;
        x->up = a.conn->h2.get();
        x->st = &st;
        x->last_activity = clock_type::now();
        st.watcher = &x->down.ev;
        x->down.watcher = &st.ev;
    }
    bool streamed = false;
    auto ws = co_await send_h2_body(c, *a.conn->h2, st, buffered, body_complete, streamed, x);
    const auto cancelled = []() {
        return attempt_step{attempt_step::next_t::reply, false,
                            forward_result{errc::downstream_reset, "the client reset the stream", 0}};
    };
    // The response head (and, for gRPC, what follows it: see below), bounded by the per-try
    // deadline and, when set, the stream idle timeout. The client's body flows meanwhile.
    enum class waited { ready, expired, idle };
    const auto idle_from = clock_type::now();
    const auto wait_for = [&](auto ready) -> net::awaitable<waited> {
        for (;;) {
            if (x != nullptr && ws == write_status::ok) {
                ws = pump(*x);
                if (ws != write_status::ok || x->cancelled()) {
                    co_return waited::ready;  // judged below
                }
            }
            if (ready() || ws != write_status::ok) {
                co_return waited::ready;
            }
            auto deadline = try_deadline;
            bool idle_first = false;
            if (idle.count() > 0) {
                const auto until = (x != nullptr ? std::max(idle_from, x->last_activity) : idle_from) + idle;
                if (until < deadline) {
                    deadline = until;
                    idle_first = true;
                }
            }
            const bool woken = co_await st.ev.wait(deadline);
            if (!woken) {
                co_return idle_first ? waited::idle : waited::expired;
            }
        }
    };
    waited w = co_await wait_for([&]() { return st.head_done || st.closed; });
    if (x != nullptr && (x->cancelled() || ws == write_status::downstream_failed)) {
        co_return cancelled();
    }
    if (ws == write_status::body_too_large) {
        co_return attempt_step{attempt_step::next_t::reply, false, body_too_large(c)};
    }
    if (ws == write_status::downstream_failed) {
        c.close_after = true;
        co_return attempt_step{attempt_step::next_t::reply, false,
                               forward_result{errc::downstream_protocol_error,
                                              "client request body ended early", 0}};
    }
    if (streamed) {
        rs.request_replayable = false;
    }
    const auto expired = [&](waited how) {
        if (how == waited::idle) {
            return attempt_step{attempt_step::next_t::reply, true,
                                forward_result{errc::idle_timeout,
                                               fmt::format("{} at {} sent nothing for {} ms (idle timeout)",
                                                           c.up.what, where(), idle.count()),
                                               0}};
        }
        if (clock_type::now() >= req_deadline) {
            return timed_out();
        }
        outcome.kind = attempt_outcome::kind_t::per_try_timeout;
        detail = "per-try timeout";
        return attempt_step{};
    };
    if (w != waited::ready) {
        co_return expired(w);
    }
    if (!st.head_done) {
        if (st.refused && !streamed && !stale_retry_used && (x == nullptr || !x->overflowed)) {
            // REFUSED_STREAM, or above the last-stream-id of a GOAWAY: the upstream never
            // processed it, so it is sent again on another connection, not counted as an attempt.
            stale_retry_used = true;
            ++c.w.counters().reused_retries;
            co_return attempt_step{attempt_step::next_t::again, false, {}};
        }
        outcome.kind = attempt_outcome::kind_t::reset;
        detail = ws != write_status::ok ? std::string("write failed")
                                        : fmt::format("HTTP/2 stream reset (error code {})", st.error);
        co_return attempt_step{};
    }
    if (st.head_too_large || st.head.status() < 100) {
        co_return attempt_step{attempt_step::next_t::reply, true,
                               forward_result{errc::upstream_protocol_error,
                                              fmt::format("{} sent a malformed or oversized HTTP/2 "
                                                          "response head",
                                                          c.up.what),
                                              0}};
    }
    outcome.kind = attempt_outcome::kind_t::response;
    outcome.status = st.head.status();
    outcome.grpc_status = grpc_status_in(st.head);  // trailers-only: the call ended in the head
    if (outcome.grpc_status < 0 && x != nullptr && x->grpc) {
        // A gRPC head without a status: the status comes in the trailers. Nothing was relayed
        // yet, so when the trailers come before any message (an empty body), their status is
        // still retryable; the first message (or the wait's end) decides.
        w = co_await wait_for([&]() { return !st.in.empty() || st.in_end || st.closed; });
        if (x->cancelled() || ws == write_status::downstream_failed) {
            co_return cancelled();
        }
        if (w != waited::ready) {
            co_return expired(w);
        }
        if (st.in.empty() && st.in_end && st.has_trailers) {
            outcome.grpc_status = grpc_status_in(st.trailers);
        } else if (st.in.empty() && !st.in_end) {
            outcome.kind = attempt_outcome::kind_t::reset;
            detail = fmt::format("HTTP/2 stream reset after the response head (error code {})", st.error);
            co_return attempt_step{};
        }
    }
    c.upstream_first_byte = clock_type::now();
    co_return attempt_step{};
}

/// The value of a grpc-timeout header ("1-8 digits, then H M S m u n"; gRPC over HTTP/2), in
/// milliseconds rounded up; 0 when absent or malformed (then only the route's timeout applies).
std::chrono::milliseconds parse_grpc_timeout(std::string_view v) {
    if (v.size() < 2 || v.size() > 9) {
        return std::chrono::milliseconds{0};
    }
    std::uint64_t n = 0;
    for (const char ch : v.substr(0, v.size() - 1)) {
        if (ch < '0' || ch > '9') {
            return std::chrono::milliseconds{0};
        }
        n = n * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    std::uint64_t ms = 0;
    switch (v.back()) {
    case 'H': ms = n * 3600000; break;
    case 'M': ms = n * 60000; break;
    case 'S': ms = n * 1000; break;
    case 'm': ms = n; break;
    case 'u': ms = (n + 999) / 1000; break;
    case 'n': ms = (n + 999999) / 1000000; break;
    default: return std::chrono::milliseconds{0};
    }
    return std::chrono::milliseconds{static_cast<std::int64_t>(std::max<std::uint64_t>(ms, 1))};
}

}  // namespace

net::awaitable<forward_result> forward(request_ctx& c) {
    const auto& cfg = c.w.config();
    message_head& req = c.parser.head();
    if (c.chunk.empty()) {
        c.chunk = c.w.buffers().take_chunk();  // given back while the connection is idle
    }
    // 0. connectionPool.http2/grpc.maxRequests (spec §10.12): the request is in flight from
    // here until forward() returns (its response relayed); beyond the limit, 503 UO at once.
    request_slot in_flight;
    if (c.up.pool_limit != nullptr && c.up.pool_limit->max_requests > 0 &&
        c.up.limit_counters != nullptr &&
        !in_flight.admit(*c.up.limit_counters, c.up.pool_limit->max_requests)) {
        co_return forward_result{errc::pool_overflow,
                                 fmt::format("{} is at its connection pool limit ({}.maxRequests {})",
                                             c.up.what, c.up.pool_limit->kind,
                                             c.up.pool_limit->max_requests),
                                 0};
    }

    // An HTTP/2 client to an HTTP/2 upstream: the body flows with the response (h2_exchange).
    std::optional<h2_exchange> x;
    std::chrono::milliseconds grpc_timeout{0};
    if (c.h2 && c.up.h2) {
        x.emplace(h2_exchange{c, *c.h2.st});
        x->grpc = req[http::field::content_type].starts_with("application/grpc");
        if (x->grpc) {
            // The caller's deadline (gRPC over HTTP/2: "grpc-timeout"), counted from now.
            grpc_timeout = parse_grpc_timeout(req.find(std::string_view("grpc-timeout")).value_or(""));
            if (grpc_timeout.count() > 0) {
                x->grpc_deadline = clock_type::now() + grpc_timeout;
            }
        }
    }

    // 1. Buffer the request body (up to replay_buffer) so that attempts can be replayed.
    std::size_t buffered = 0;
    bool body_complete = request_body_done(c);
    if (!body_complete && x) {
        // Only what already arrived: the client may wait for an answer before it sends more.
        if (c.replay.empty()) {
            c.replay = c.w.buffers().take_replay();
        }
        http2::stream& ds = *c.h2.st;
        buffered = std::min(ds.in.size(), c.replay.size());
        if (cfg.max_request_body > 0 && buffered > cfg.max_request_body) {
            co_return body_too_large(c);
        }
        std::memcpy(c.replay.data(), ds.in.data(), buffered);
        ds.in.erase(0, buffered);
        c.h2.body_seen += buffered;
        c.h2.conn->consume(ds, buffered);
        c.bytes_in += buffered;
        x->kept = buffered;
        body_complete = request_body_done(c);
        if (body_complete) {
            req.content_length(buffered);
        }
    } else if (!body_complete) {
        if (c.replay.empty()) {
            c.replay = c.w.buffers().take_replay();
        }
        if (c.expect_continue) {
            // The proxy answers 100-continue itself (and strips Expect): the upstream then
            // sees an ordinary request whose body is already on its way.
            static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
            c.down.expires_after(cfg.downstream_idle);
            auto [ec, n] = co_await net::async_write(c.down, net::buffer(cont.data(), cont.size()), tok);
            if (ec) {
                c.close_after = true;
                co_return forward_result{errc::downstream_protocol_error, "client went away", 0};
            }
        }
        const auto ec = co_await read_request_body(c, c.replay.data(), c.replay.size(), buffered, false);
        if (ec == http::error::body_limit) {
            co_return body_too_large(c);
        }
        if (ec) {
            c.close_after = true;
            co_return forward_result{errc::downstream_protocol_error,
                                     fmt::format("malformed request body: {}", ec.message()), 0};
        }
        c.bytes_in += buffered;
        body_complete = request_body_done(c);
        if (body_complete) {
            // Fully buffered: re-frame with Content-Length (also when it came chunked).
            req.erase(http::field::transfer_encoding);
            req.content_length(buffered);
        } else if (c.h2 && !c.up.h2 && req.count(http::field::content_length) == 0) {
            // HTTP/2 body of unknown length, larger than the replay buffer: chunked for HTTP/1.1.
            req.set(http::field::transfer_encoding, "chunked");
        }
    }

    // 2. Attempts. The request timeout counts from here: the body is buffered (or, when it is
    // streamed, the deadline restarts once it was fully sent).
    auto req_deadline = c.up.per_request_timeout.count() > 0
                            ? clock_type::now() + c.up.per_request_timeout
                            : clock_type::time_point::max();
    retry_state st;
    st.request_replayable = body_complete;
    const routing::retry_spec* spec = c.up.retry;
    const auto per_try = (spec != nullptr && spec->present) ? spec->per_try_timeout
                                                            : std::chrono::milliseconds{0};
    clock_type::time_point try_deadline = req_deadline;
    if (x) {
        // The route's perRequest caps the caller's grpc-timeout; while the client's body still
        // flows only the caller's deadline runs (the others start at its end: finish_body).
        x->per_request = c.up.per_request_timeout;
        x->per_try = per_try;
        x->req_deadline = &req_deadline;
        x->try_deadline = &try_deadline;
        x->body_done = body_complete;
        st.request_replayable = true;
        req_deadline = body_complete ? std::min(req_deadline, x->grpc_deadline) : x->grpc_deadline;
    }
    const auto idle = c.up.idle_timeout;
    const routing::upstream_target* target =
        c.up.kind == upstream_choice::kind_t::target ? c.up.target : nullptr;
    const routing::outlier_detection* od =
        target != nullptr && target->outlier ? &*target->outlier : nullptr;
    const bool health_checked = target != nullptr && target->health.has_value();
    auto& counters = c.w.counters();
    // Endpoints this request already tried (the last few): a retry prefers another one.
    std::array<tcp::endpoint, 8> tried{};
    std::size_t tried_n = 0;
    bool stale_retry_used = false;
    std::optional<response_head_parser> p;
    const auto timeout_result = [&](std::string_view where) {
        if (x && clock_type::now() >= x->grpc_deadline) {
            return forward_result{
                errc::upstream_timeout,
                fmt::format("{} did not answer within the caller's grpc-timeout of {} ms", c.up.what,
                            grpc_timeout.count()),
                st.retries_done > 0 ? static_cast<std::uint32_t>(flag_urx) : 0u};
        }
        return forward_result{
            errc::upstream_timeout,
            where.empty() ? fmt::format("{} did not answer within {} ms", c.up.what,
                                        c.up.per_request_timeout.count())
                          : fmt::format("{} at {} did not answer within {} ms", c.up.what, where,
                                        c.up.per_request_timeout.count()),
            st.retries_done > 0 ? static_cast<std::uint32_t>(flag_urx) : 0u};
    };
    // Outlier detection: one verdict per attempt on the endpoint it used.
    const auto record_outcome = [&](const tcp::endpoint& ep, bool failure) -> net::awaitable<void> {
        if (od == nullptr) {
            co_return;
        }
        const auto peers = co_await c.w.endpoints().resolve(c.up.host, c.up.port, false);
        const std::span<const tcp::endpoint> group =
            c.up.all_addresses ? peers.addrs : peers.addrs.first(std::min<std::size_t>(1, peers.addrs.size()));
        if (c.w.outliers().record(ep, *od, failure, group, clock_type::now())) {
            ++c.ejections;  // counted on the cluster with the request (metrics.hpp)
            log(log_level::warn, "outrigger: outlier detection ejected {}:{} of {}",
                ep.address().to_string(), ep.port(), c.up.what);
        }
    };
    for (;;) {
        ++c.attempts;
        const auto now = clock_type::now();
        if (now >= req_deadline) {
            co_return timeout_result({});
        }
        try_deadline = per_try.count() > 0 ? std::min(req_deadline, now + per_try) : req_deadline;
        if (x) {
            // A retry resends what the replay buffer kept, then the body flows on.
            buffered = x->kept;
            body_complete = x->body_done;
            if (!body_complete) {
                try_deadline = req_deadline;  // the per-try timeout starts at the body's end
            }
        }

        // Endpoint choice: round robin over the usable endpoints, untried ones first.
        tcp::endpoint ep;
        {
            const auto set = co_await c.w.endpoints().resolve(c.up.host, c.up.port, c.up.all_addresses);
            if (set.addrs.empty()) {
                co_return forward_result{
                    errc::no_endpoint,
                    fmt::format("no healthy upstream for {}: \"{}:{}\" has no address", c.up.what,
                                c.up.host, c.up.port),
                    st.retries_done > 0 ? static_cast<std::uint32_t>(flag_urx) : 0u};
            }
            const std::size_t n = c.up.all_addresses ? set.addrs.size() : 1;
            const health_view* hv = health_checked ? c.w.health() : nullptr;
            const auto pick_time = clock_type::now();
            const auto idx = select_endpoint(
                n, set.start,
                [&](std::size_t i) {
                    const auto& e = set.addrs[i];
                    const bool bad = (hv != nullptr && hv->is_unhealthy(e)) ||
                                     (od != nullptr && c.w.outliers().is_ejected(e, *od, pick_time));
                    if (bad) {
                        ++counters.unhealthy_skips;
                    }
                    return !bad;
                },
                [&](std::size_t i) {
                    const auto& e = set.addrs[i];
                    return std::find(tried.begin(), tried.begin() + static_cast<std::ptrdiff_t>(tried_n), e) !=
                           tried.begin() + static_cast<std::ptrdiff_t>(tried_n);
                });
            if (!idx) {
                co_return forward_result{
                    errc::no_endpoint,
                    fmt::format("no healthy upstream for {}: all {} endpoint{} of \"{}:{}\" are "
                                "unhealthy or ejected",
                                c.up.what, n, n == 1 ? "" : "s", c.up.host, c.up.port),
                    st.retries_done > 0 ? static_cast<std::uint32_t>(flag_urx) : 0u};
            }
            ep = set.addrs[*idx];
        }
        if (tried_n < tried.size()) {
            tried[tried_n++] = ep;
        } else {
            std::rotate(tried.begin(), tried.begin() + 1, tried.end());
            tried.back() = ep;
        }
        c.upstream_ep = ep;

        attempt_outcome outcome;
        std::string detail;
        const std::uint64_t tls_identity = c.up.tls != nullptr ? c.up.tls->id() : 0;
        bool tls_failed = false;
        std::unique_ptr<upstream_connection> conn;  // HTTP/1.1
        h2_attempt h2a;                             // HTTP/2 (c.up.h2)
        const auto where = [&ep]() { return fmt::format("{}:{}", ep.address().to_string(), ep.port()); };
        if (c.up.h2) {
            const attempt_step step =
                co_await attempt_h2(c, ep, tls_identity, buffered, body_complete, try_deadline,
                                    req_deadline, idle, st, stale_retry_used, h2a, outcome, detail,
                                    tls_failed, x ? &*x : nullptr, grpc_timeout);
            if (x) {
                st.request_replayable = !x->overflowed;
            }
            if (step.next == attempt_step::next_t::again) {
                --c.attempts;
                --tried_n;
                continue;
            }
            if (step.next == attempt_step::next_t::reply) {
                if (step.failed) {
                    co_await record_outcome(ep, true);
                }
                co_return step.reply;
            }
        } else {
        conn = c.w.pool().acquire(ep, tls_identity);
        const bool reused = conn != nullptr;
        open_slot slot;
        if (!conn && c.up.limit_counters != nullptr && c.up.pool_limit != nullptr &&
            c.up.pool_limit->max_connections > 0) {
            // Ingress pool limits (spec §10.12): a connection slot, else wait as a pending
            // request, else overflow. Waiters poll (1→10 ms) because a slot may be freed by any
            // worker; this only runs while the limit is reached.
            pool_counters& pc = *c.up.limit_counters;
            const std::int64_t max_conn = c.up.pool_limit->max_connections;
            const std::int64_t max_pending =
                c.up.pool_limit->max_pending_requests.value_or(2147483647);
            const auto try_open = [&]() {
                if (pc.open.fetch_add(1, std::memory_order_relaxed) < max_conn) {
                    slot = open_slot(&pc);
                    return true;
                }
                pc.open.fetch_sub(1, std::memory_order_relaxed);
                return false;
            };
            if (!try_open()) {
                if (pc.pending.fetch_add(1, std::memory_order_relaxed) >= max_pending) {
                    pc.pending.fetch_sub(1, std::memory_order_relaxed);
                    pc.overflows.fetch_add(1, std::memory_order_relaxed);
                    co_return forward_result{
                        errc::pool_overflow,
                        fmt::format("{} is at its connection pool limit (maxConnections {}, "
                                    "maxPendingRequests {})",
                                    c.up.what, max_conn, max_pending),
                        0};
                }
                net::steady_timer t(c.w.ioc());
                auto wait = std::chrono::milliseconds(1);
                bool got = false;
                while (!got) {
                    if (clock_type::now() >= req_deadline) {
                        break;
                    }
                    t.expires_at(std::min(req_deadline, clock_type::now() + wait));
                    auto [tec] = co_await t.async_wait(tok);
                    (void)tec;  // only completes by expiry: nothing else cancels this local timer
                    wait = std::min(wait * 2, std::chrono::milliseconds(10));
                    conn = c.w.pool().acquire(ep);
                    got = conn != nullptr || try_open();
                }
                pc.pending.fetch_sub(1, std::memory_order_relaxed);
                if (!got) {
                    co_return timeout_result({});
                }
            }
        }
        if (!conn) {
            conn = std::make_unique<upstream_connection>(c.w.ioc().get_executor());
            conn->peer = ep;
            conn->tls_identity = tls_identity;
            conn->limit_slot = std::move(slot);
            set_deadline(conn->stream, std::min(try_deadline, clock_type::now() + cfg.connect_timeout));
            auto [ec] = co_await conn->stream.async_connect(ep, tok);
            if (ec) {
                if (ec == beast::error::timeout && clock_type::now() >= req_deadline) {
                    co_await record_outcome(ep, true);
                    co_return timeout_result({});
                }
                outcome.kind = attempt_outcome::kind_t::connect_error;
                detail = ec == beast::error::timeout ? std::string("connect timeout") : ec.message();
            } else {
                boost::system::error_code opt_ec;
                conn->stream.socket().set_option(tcp::no_delay(true), opt_ec);  // latency only
                if (c.up.tls != nullptr) {
                    // A failed handshake (bad chain, SAN, expired, no client cert accepted) is a
                    // connection failure: retried as one, 503 UF when it is the last.
                    std::string why = co_await handshake_upstream(
                        c, conn->stream, ep,
                        std::min(try_deadline, clock_type::now() + cfg.connect_timeout), false);
                    if (!why.empty()) {
                        outcome.kind = attempt_outcome::kind_t::connect_error;
                        detail = std::move(why);
                        tls_failed = true;
                        log(log_level::warn, "outrigger: worker {}: {} at {}:{}: {}", c.w.index(),
                            c.up.what, ep.address().to_string(), ep.port(), detail);
                    }
                }
            }
        }
        if (outcome.kind != attempt_outcome::kind_t::connect_error) {
            ++conn->requests;
            bool streamed = false;
            const auto ws = co_await write_request(c, *conn, buffered, body_complete, try_deadline,
                                                   reused, streamed);
            if (ws == write_status::body_too_large) {
                // The upstream saw a truncated request: this connection is dropped with `conn`.
                co_return body_too_large(c);
            }
            if (ws == write_status::downstream_failed) {
                c.close_after = true;
                co_return forward_result{errc::downstream_protocol_error,
                                         "client request body ended early", 0};
            }
            if (ws == write_status::stale && !streamed && !stale_retry_used) {
                // A pooled connection the upstream had already closed: retry once, always, on a
                // fresh connection, without counting it as an attempt (App Mesh roadmap #284;
                // Pingora's "reused only" rule). Not an outlier failure: the host did nothing wrong.
                stale_retry_used = true;
                ++counters.reused_retries;
                --c.attempts;
                --tried_n;  // the same endpoint may be used again
                continue;
            }
            if (streamed) {
                st.request_replayable = false;
            }
            if (ws != write_status::ok) {
                outcome.kind = attempt_outcome::kind_t::reset;
                detail = "write failed";
            } else {
                if (streamed && c.up.per_request_timeout.count() > 0) {
                    // The request timeout restarts once a streamed body was fully sent.
                    req_deadline = clock_type::now() + c.up.per_request_timeout;
                    try_deadline = per_try.count() > 0
                                       ? std::min(req_deadline, clock_type::now() + per_try)
                                       : req_deadline;
                }
                // Read the response head; skip interim 1xx responses. Each read is bounded by
                // the per-try deadline and, when set, the stream idle timeout.
                boost::system::error_code ec;
                bool idle_fired = false;
                for (;;) {
                    p.emplace(c.resp_head);
                    p->header_limit(response_header_limit);
                    p->body_limit(boost::none);
                    if (c.head_request) {
                        p->skip(true);
                    }
                    auto read_deadline = try_deadline;
                    bool idle_first = false;
                    if (idle.count() > 0 && clock_type::now() + idle < read_deadline) {
                        read_deadline = clock_type::now() + idle;
                        idle_first = true;
                    }
                    set_deadline(conn->stream, read_deadline);
                    // Whatever a previous exchange left buffered is parsed before reading.
                    ec = parse_buffered_header(*p, conn->buffer);
                    if (!ec && !p->is_header_done()) {
                        // The upstream has just been sent the request and cannot have answered
                        // yet: a read now would be one failed recv (Asio tries the socket before
                        // it waits). Going to the back of the worker's queue first lets the event
                        // loop poll and run the other connections' work; by then the answer has
                        // usually arrived and the read takes it at once (http_wire.hpp).
                        co_await net::post(c.w.ioc().get_executor(), net::use_awaitable);
                        // 1 KiB, Beast's own first read size: a usual response head and a
                        // small body, without growing every pooled connection's buffer to a
                        // page or more (RSS under 200 connections). A larger body is read by
                        // the relay loop with room to match.
                        if (try_read_now(conn->stream, conn->buffer, 1024) > 0) {
                            ec = parse_buffered_header(*p, conn->buffer);
                        }
                    }
                    while (!ec && !p->is_header_done()) {
                        ec = co_await read_and_parse(conn->stream, conn->buffer, *p, true);
                    }
                    idle_fired = idle_first && ec == beast::error::timeout;
                    if (ec) {
                        break;
                    }
                    const unsigned s = p->head().status();
                    if (s < 100 || s >= 200 || s == 101) {
                        break;
                    }
                }
                if (ec) {
                    if (idle_fired) {
                        co_await record_outcome(ep, true);
                        co_return forward_result{
                            errc::idle_timeout,
                            fmt::format("{} at {} sent nothing for {} ms (idle timeout)", c.up.what,
                                        where(), idle.count()),
                            0};
                    }
                    if (ec == beast::error::timeout) {
                        if (clock_type::now() >= req_deadline) {
                            co_await record_outcome(ep, true);
                            co_return timeout_result(where());
                        }
                        outcome.kind = attempt_outcome::kind_t::per_try_timeout;
                        detail = fmt::format("per-try timeout of {} ms", per_try.count());
                    } else if (is_http_parse_error(ec)) {
                        co_await record_outcome(ep, true);
                        co_return forward_result{
                            errc::upstream_protocol_error,
                            fmt::format("{} sent a malformed response head: {}", c.up.what,
                                        ec.message()),
                            0};
                    } else {
                        if (reused && !streamed && !stale_retry_used && conn->buffer.size() == 0) {
                            stale_retry_used = true;
                            ++counters.reused_retries;
                            --c.attempts;
                            --tried_n;
                            continue;
                        }
                        outcome.kind = attempt_outcome::kind_t::reset;
                        detail = ec.message();
                    }
                } else {
                    outcome.kind = attempt_outcome::kind_t::response;
                    outcome.status = p->head().status();
                    c.upstream_first_byte = clock_type::now();
                    if (conn->stream.is_tls() && !conn->tls_session_saved && c.up.tls != nullptr) {
                        // TLS 1.3 tickets arrive after the handshake: save after the first read.
                        conn->tls_session_saved = true;
                        c.w.tls_sessions().save(conn->stream.tls(), *c.up.tls, session_key(ep));
                    }
                }
            }
        }
        }  // HTTP/1.1 attempt

        const bool retry = should_retry(spec, outcome, st);
        // "Larger bodies are streamed and not retried, and the access log says so": flag BNR
        // when a retry was due but the body could not be replayed.
        std::uint32_t bnr = 0;
        if (!retry && !st.request_replayable) {
            retry_state replayable = st;
            replayable.request_replayable = true;
            if (should_retry(spec, outcome, replayable)) {
                bnr = flag_bnr;
                ++counters.not_replayable;
            }
        }
        if (!retry && outcome.kind == attempt_outcome::kind_t::response) {
            const bool upstream_keep_alive = h2a.st == nullptr && p->keep_alive();
            co_await record_outcome(ep, outcome.status >= 500);
            c.flags |= bnr;
            relay_status rs = relay_status::done;
            if (h2a.st) {
                h2_source src{*h2a.conn->h2, *h2a.st, &req_deadline, idle, h2a.x};
                rs = co_await relay_response(c, h2a.st->head, src);
            } else {
                h1_source src{*conn, *p, req_deadline, idle};
                rs = co_await relay_response(c, p->head(), src);
            }
            if (rs == relay_status::failed_before_downstream) {
                co_return forward_result{
                    errc::upstream_reset,
                    fmt::format("{} at {} closed the connection in the middle of a response",
                                c.up.what, where()),
                    bnr};
            }
            if (st.retries_done > 0 && spec != nullptr && st.retries_done >= spec->max_retries &&
                should_retry(spec, outcome, retry_state{0, false, true})) {
                c.flags |= flag_urx;
            }
            if (rs == relay_status::done && upstream_keep_alive && conn && p->is_done() &&
                conn->buffer.size() == 0) {
                // Under an ingress pool limit with requests waiting, close instead of pooling:
                // the freed slot serves a waiter on any worker.
                const bool waiters = conn->limit_slot.counters() != nullptr &&
                                     conn->limit_slot.counters()->pending.load(std::memory_order_relaxed) > 0;
                if (!waiters) {
                    c.w.pool().release(std::move(conn));
                }
            }
            co_return forward_result{};
        }
        co_await record_outcome(ep, true);
        if (retry) {
            ++st.retries_done;
            ++counters.retries;
            conn.reset();  // never reuse a connection whose response we abandoned
            const auto wait = retry_backoff(st.retries_done, c.w.rng().next64());
            net::steady_timer t(c.w.ioc());
            t.expires_at(std::min(req_deadline, clock_type::now() + wait));
            auto [tec] = co_await t.async_wait(tok);
            (void)tec;  // only completes by expiry: nothing else cancels this local timer
            continue;
        }
        // Not retried: a local reply for the last failure.
        const std::uint32_t urx =
            (st.retries_done > 0 && spec != nullptr && st.retries_done >= spec->max_retries)
                ? static_cast<std::uint32_t>(flag_urx)
                : 0u;
        switch (outcome.kind) {
        case attempt_outcome::kind_t::connect_error:
            co_return forward_result{tls_failed ? errc::upstream_tls_failed
                                                : errc::upstream_connect_failed,
                                     fmt::format("cannot connect to {} at {}: {}", c.up.what, where(),
                                                 detail),
                                     urx | bnr};
        case attempt_outcome::kind_t::per_try_timeout:
            co_return forward_result{errc::per_try_timeout,
                                     fmt::format("{} at {} did not answer: {}", c.up.what, where(),
                                                 detail),
                                     urx | bnr};
        case attempt_outcome::kind_t::reset:
        case attempt_outcome::kind_t::response:
            break;
        }
        co_return forward_result{errc::upstream_reset,
                                 fmt::format("{} at {} closed or reset the connection before a "
                                             "response ({})",
                                             c.up.what, where(), detail),
                                 urx | bnr};
    }
}

}  // namespace outrigger::proxy
