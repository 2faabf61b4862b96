#include "proxy/http2/h2_connection.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <nghttp2/nghttp2.h>

#include "proxy/http_util.hpp"

// g++ 12: Asio's awaitable frame new/delete pair reported as mismatched once inlined (see
// forwarder.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace outrigger::proxy::http2 {

namespace net = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr auto tok = net::as_tuple(net::use_awaitable);

connection* self_of(void* user) { return static_cast<connection*>(user); }

std::string_view sv(const std::uint8_t* p, std::size_t n) {
    return {reinterpret_cast<const char*>(p), n};
}

int cb_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* user) {
    if (f->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    return self_of(user)->on_begin_headers(f->hd.stream_id);
}

int cb_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name, std::size_t nlen,
              const std::uint8_t* value, std::size_t vlen, std::uint8_t, void* user) {
    if (f->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    return self_of(user)->on_header(f->hd.stream_id, static_cast<std::uint8_t>(f->headers.cat),
                                    sv(name, nlen), sv(value, vlen));
}

int cb_frame_recv(nghttp2_session*, const nghttp2_frame* f, void* user) {
    const std::uint8_t cat =
        f->hd.type == NGHTTP2_HEADERS ? static_cast<std::uint8_t>(f->headers.cat) : 0;
    return self_of(user)->on_frame_recv(f->hd.stream_id, f->hd.type, f->hd.flags, cat);
}

int cb_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
            std::size_t len, void* user) {
    return self_of(user)->on_data(id, sv(data, len));
}

int cb_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
    return self_of(user)->on_stream_close(id, code);
}

ssize_t cb_read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t len,
                     std::uint32_t* flags, nghttp2_data_source* src, void* user) {
    // The source is the stream itself (submit_head): nghttp2 reads only open streams, which the
    // stream table keeps alive.
    return static_cast<ssize_t>(
        self_of(user)->read_body(*static_cast<stream*>(src->ptr), id, buf, len, flags));
}

/// Connection-specific fields never go into an HTTP/2 head (RFC 9113 §8.2.2); Host becomes
/// :authority.
bool connection_specific(const message_head& h, const head_field& f) {
    switch (f.id) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::host:
        return true;
    case http::field::te:
        return !iequals_ascii(h.value(f), "trailers");
    default:
        return false;
    }
}

/// nghttp2 header entries for `h`'s fields (names lower-cased into `scratch`).
void add_fields(const message_head& h, std::vector<nghttp2_nv>& nva, std::string& scratch,
                bool trailers) {
    std::size_t need = 0;
    for (const auto& f : h.fields()) {
        need += f.name_len;
    }
    scratch.clear();
    scratch.reserve(need);  // no reallocation below: the entries point into it
    for (const auto& f : h.fields()) {
        if (!trailers && connection_specific(h, f)) {
            continue;
        }
        const std::string_view n = h.name(f);
        const std::size_t off = scratch.size();
        for (const char c : n) {
            scratch.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
        }
        const std::string_view v = h.value(f);
        nva.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(scratch.data() + off),
                                 const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(v.data())),
                                 n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
}

nghttp2_nv make_nv(std::string_view n, std::string_view v) {
    return nghttp2_nv{const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(n.data())),
                      const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(v.data())),
                      n.size(), v.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

net::awaitable<bool> event::wait(clock_type::time_point deadline) {
    if (!pending_) {
        timer_.expires_at(deadline);
        auto [ec] = co_await timer_.async_wait(tok);
        if (!ec && !pending_) {
            co_return false;  // expired
        }
    }
    pending_ = false;
    co_return true;
}

connection::connection(flex_stream& io, role r, const limits& l, stream_handler on_stream)
    : io_(io),
      role_(r),
      limits_(l),
      on_stream_(std::move(on_stream)),
      write_ev_(io.get_executor()),
      done_ev_(io.get_executor()),
      idle_ev_(io.get_executor()),
      reset_tokens_(l.reset_budget) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cb_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cb_stream_close);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    // Windows are given back as the request path consumes the bytes (back-pressure).
    nghttp2_option_set_no_auto_window_update(opt, 1);
    if (r == role::server) {
        nghttp2_session_server_new2(&session_, cbs, this, opt);
    } else {
        nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
        nghttp2_session_client_new2(&session_, cbs, this, opt);
    }
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    std::array<nghttp2_settings_entry, 4> iv{{
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, l.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, l.stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(l.max_header_bytes)},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    }};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv.data(), r == role::client ? 4 : 3);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(l.connection_window));
}

connection::~connection() { nghttp2_session_del(session_); }

net::awaitable<void> connection::run(std::string preread) {
    auto self = shared_from_this();
    net::co_spawn(io_.get_executor(), [self]() { return self->writer(); }, net::detached);
    net::co_spawn(io_.get_executor(), [self]() { return self->watchdog(); }, net::detached);
    io_.expires_never();
    bool ok = true;
    if (!preread.empty()) {
        const auto rv = nghttp2_session_mem_recv(
            session_, reinterpret_cast<const std::uint8_t*>(preread.data()), preread.size());
        ok = rv >= 0;
        wake_writer();
    }
    std::vector<char> rbuf(16 * 1024);
    while (ok && !dead_) {
        auto [ec, n] = co_await io_.async_read_some(net::buffer(rbuf.data(), rbuf.size()), tok);
        if (ec) {
            break;
        }
        last_activity_ = clock_type::now();
        const auto rv = nghttp2_session_mem_recv(
            session_, reinterpret_cast<const std::uint8_t*>(rbuf.data()), n);
        if (rv < 0) {
            // A connection error (bad preface, a frame the protocol forbids): nghttp2 queued the
            // GOAWAY that says why; the writer sends it, then the connection ends.
            nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
            ok = false;
        }
        wake_writer();
        if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
            break;
        }
    }
    // Let the writer send what is queued (a GOAWAY, last frames), then end every stream.
    reading_done_ = true;
    wake_writer();
    while (!writer_done_) {
        co_await done_ev_.wait();
    }
    dead_ = true;
    fail_all(NGHTTP2_CANCEL);
    while (handlers_ > 0) {
        co_await done_ev_.wait();
    }
    idle_ev_.notify();
}

net::awaitable<void> connection::writer() {
    auto self = shared_from_this();
    for (;;) {
        wbuf_.clear();
        bool failed = false;
        for (;;) {
            const std::uint8_t* data = nullptr;
            const auto n = nghttp2_session_mem_send(session_, &data);
            if (n < 0) {
                failed = true;
                break;
            }
            if (n == 0) {
                break;
            }
            wbuf_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
            if (wbuf_.size() >= 64 * 1024) {
                break;
            }
        }
        if (!wbuf_.empty()) {
            auto [ec, n] = co_await net::async_write(io_, net::buffer(wbuf_.data(), wbuf_.size()), tok);
            (void)n;
            if (ec) {
                failed = true;
            } else {
                last_activity_ = clock_type::now();
                continue;
            }
        }
        if (failed || reading_done_ ||
            (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0)) {
            break;
        }
        co_await write_ev_.wait();
    }
    writer_done_ = true;
    if (!reading_done_) {
        // The reader is still waiting: end it (the peer is gone or the session is over).
        boost::system::error_code ignored;  // closing anyway
        io_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
        io_.socket().cancel(ignored);
    }
    done_ev_.notify();
}

net::awaitable<void> connection::watchdog() {
    auto self = shared_from_this();
    while (!dead_) {
        const auto deadline = last_activity_ + limits_.idle;
        const bool woken = co_await idle_ev_.wait(deadline);
        if (woken || dead_) {
            continue;
        }
        if (!streams_.empty() || handlers_ > 0 || clock_type::now() < last_activity_ + limits_.idle) {
            last_activity_ = std::max(last_activity_, clock_type::now() - limits_.idle / 2);
            continue;
        }
        go_away();
        boost::system::error_code ignored;  // idle: closing
        io_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
        io_.socket().cancel(ignored);
        break;
    }
}

void connection::fail_all(std::uint32_t code) {
    for (auto& [id, s] : streams_) {
        if (!s->closed) {
            s->closed = true;
            if (s->error == 0) {
                s->error = code;
            }
            // Never sent (the request was still queued when the connection died): retry-safe.
            if (role_ == role::client && !s->head_done &&
                nghttp2_session_get_stream_remote_close(session_, id) == 0 && goaway_received_) {
                s->refused = true;
            }
        }
        s->wake();
    }
    streams_.clear();
}

bool connection::feed(std::string_view bytes) {
    const auto rv = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (rv < 0) {
        nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
        return false;
    }
    return true;
}

std::string connection::take_output() {
    std::string out;
    for (;;) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(session_, &data);
        if (n <= 0) {
            break;
        }
        out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    return out;
}

bool connection::can_open() const {
    if (dead_ || reading_done_ || goaway_received_) {
        return false;
    }
    const std::uint32_t max =
        nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return streams_.size() < max && nghttp2_session_get_next_stream_id(session_) < (1U << 30);
}

void connection::submit_head(stream& s, const message_head& h, bool request, std::string_view scheme,
                             bool end_stream, std::int32_t& id_out) {
    std::vector<nghttp2_nv> nva;
    nva.reserve(h.size() + 4);
    char status[4];
    if (request) {
        nva.push_back(make_nv(":method", h.method_string()));
        nva.push_back(make_nv(":scheme", scheme));
        nva.push_back(make_nv(":authority", h[http::field::host]));
        nva.push_back(make_nv(":path", h.target()));
    } else {
        const unsigned st = std::min(h.status(), 999U);
        status[0] = static_cast<char>('0' + st / 100);
        status[1] = static_cast<char>('0' + st / 10 % 10);
        status[2] = static_cast<char>('0' + st % 10);
        nva.push_back(make_nv(":status", std::string_view(status, 3)));
    }
    add_fields(h, nva, scratch_, false);
    nghttp2_data_provider prd{};
    prd.source.ptr = &s;
    prd.read_callback = cb_read_body;
    s.out_submitted = true;
    if (request) {
        id_out = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                        end_stream ? nullptr : &prd, &s);
    } else {
        id_out = nghttp2_submit_response(session_, s.id, nva.data(), nva.size(),
                                         end_stream ? nullptr : &prd);
    }
    if (end_stream) {
        s.out_end = true;
        s.eof_sent = true;  // END_STREAM rides on the HEADERS frame
    }
    wake_writer();
}

std::shared_ptr<stream> connection::open(const message_head& req, std::string_view scheme,
                                         bool end_stream) {
    if (!can_open()) {
        return nullptr;
    }
    auto s = std::make_shared<stream>(io_.get_executor());
    std::int32_t id = -1;
    submit_head(*s, req, true, scheme, end_stream, id);
    if (id < 0) {
        return nullptr;
    }
    s->id = id;
    streams_.emplace(id, s);
    return s;
}

void connection::respond(stream& s, const message_head& res, bool end_stream) {
    if (dead_ || s.closed) {
        return;
    }
    s.answered = true;
    std::int32_t rv = 0;
    submit_head(s, res, false, {}, end_stream, rv);
    if (rv != 0) {
        s.closed = true;
    }
}

bool connection::send_data(stream& s, std::string_view data, bool end_stream) {
    if (dead_ || s.closed) {
        return false;
    }
    if (s.out_off > 0 && s.out_off >= s.out.size() / 2) {
        // Drop what was sent before appending: a sender that never lets the buffer drain to
        // empty (a long upload, a streamed response) would otherwise grow it without bound.
        s.out.erase(0, s.out_off);
        s.out_off = 0;
    }
    s.out.append(data);
    if (end_stream) {
        s.out_end = true;
    }
    if (s.out_deferred) {
        s.out_deferred = false;
        nghttp2_session_resume_data(session_, s.id);
    }
    wake_writer();
    return true;
}

bool connection::send_trailers(stream& s, const message_head& trailers) {
    if (dead_ || s.closed) {
        return false;
    }
    s.out_trailers.assign_fields(trailers);
    s.out_has_trailers = true;
    return send_data(s, {}, true);
}

net::awaitable<bool> connection::wait_send_room(stream& s, clock_type::time_point deadline) {
    while (!s.closed && !dead_ && s.out_pending() > limits_.send_buffer) {
        const bool woken = co_await s.ev.wait(deadline);
        if (!woken) {
            co_return false;
        }
    }
    co_return !s.closed && !dead_;
}

void connection::consume(stream& s, std::size_t n) {
    if (dead_ || n == 0) {
        return;
    }
    if (s.closed) {
        nghttp2_session_consume_connection(session_, n);
    } else {
        nghttp2_session_consume(session_, s.id, n);
    }
    wake_writer();
}

void connection::reset(stream& s, std::uint32_t code) {
    if (dead_ || s.closed || s.id < 0) {
        return;
    }
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, code);
    wake_writer();
}

void connection::go_away() {
    if (dead_) {
        return;
    }
    if (goaway_sent_) {
        return;
    }
    goaway_sent_ = true;
    // Graceful: streams already open finish; the peer opens no new ones (RFC 9113 §6.8).
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    wake_writer();
}

void connection::release(stream& s) {
    if (!dead_ && !s.closed) {
        // The stream's coroutine is done but the stream is not: nothing more will be sent or read.
        if (role_ == role::server && !s.answered) {
            nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
        } else if (!s.out_end) {
            nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
        } else if (!s.in_end) {
            // Answered in full while the peer still sends (a local reply to an upload): stop
            // the upload with NO_ERROR, but only after the answer is out (RST_STREAM would
            // overtake queued DATA; RFC 9113 §8.1).
            if (s.eof_sent) {
                nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_NO_ERROR);
            } else {
                s.reset_after_send = true;
            }
        }
        wake_writer();
    }
    if (!dead_ && !s.in.empty()) {
        nghttp2_session_consume_connection(session_, s.in.size());
        s.in.clear();
        wake_writer();
    }
    if (role_ == role::server && handlers_ > 0) {
        --handlers_;
        done_ev_.notify();
    }
}

// ---- nghttp2 callbacks ------------------------------------------------------------------------

int connection::on_begin_headers(std::int32_t id) {
    if (role_ != role::server || streams_.count(id) != 0) {
        return 0;  // client: the stream exists; server: trailers of a known stream
    }
    auto s = std::make_shared<stream>(io_.get_executor());
    s->id = id;
    s->head.clear();
    streams_.emplace(id, std::move(s));
    return 0;
}

int connection::on_header(std::int32_t id, std::uint8_t cat, std::string_view name,
                          std::string_view value) {
    const auto it = streams_.find(id);
    if (it == streams_.end()) {
        return 0;
    }
    stream& s = *it->second;
    s.header_bytes += name.size() + value.size() + 32;
    if (s.header_bytes > limits_.max_header_bytes ||
        (s.head.size() + (s.has_trailers ? s.trailers.size() : 0)) >= limits_.max_headers) {
        s.head_too_large = true;
        return 0;  // the rest is dropped; the handler answers 431 (server) or fails (client)
    }
    if (s.head_done) {
        // Trailers.
        s.has_trailers = true;
        s.trailers.append(http::string_to_field(name), name, value);
        return 0;
    }
    (void)cat;
    if (!name.empty() && name.front() == ':') {
        if (name == ":method") {
            s.method.assign(value);
        } else if (name == ":path") {
            s.path.assign(value);
        } else if (name == ":authority") {
            s.head.set(http::field::host, value);
        } else if (name == ":scheme") {
            s.scheme.assign(value);
        } else if (name == ":status") {
            unsigned st = 0;
            for (const char c : value) {
                st = st * 10 + static_cast<unsigned>(c - '0');
            }
            s.head.set_status_line(st, {}, 20);
        }
        return 0;
    }
    if (name == "host" && s.head.find(http::field::host)) {
        return 0;  // :authority wins over Host (RFC 9113 §8.3.1)
    }
    if (name == "cookie") {
        // Cookie crumbs are joined for HTTP/1.1 (RFC 9113 §8.2.3).
        if (auto prev = s.head.find(http::field::cookie)) {
            std::string joined;
            joined.reserve(prev->size() + 2 + value.size());
            joined.append(*prev).append("; ").append(value);
            s.head.set(http::field::cookie, joined);
            return 0;
        }
    }
    s.head.append(http::string_to_field(name), name, value);
    return 0;
}

int connection::on_frame_recv(std::int32_t id, std::uint8_t type, std::uint8_t flags,
                              std::uint8_t cat) {
    last_activity_ = clock_type::now();
    if (type == NGHTTP2_GOAWAY) {
        goaway_received_ = true;
        return 0;
    }
    const auto it = streams_.find(id);
    if (it == streams_.end()) {
        return 0;
    }
    const std::shared_ptr<stream> s = it->second;
    if (type == NGHTTP2_HEADERS) {
        if (!s->head_done && (flags & NGHTTP2_FLAG_END_HEADERS) != 0) {
            if (role_ == role::client && s->head.status() >= 100 && s->head.status() < 200) {
                s->head.clear();  // interim response (100 Continue, 103): wait for the final one
                return 0;
            }
            s->head_done = true;
            if (role_ == role::server) {
                s->head.set_request_line(http::string_to_verb(s->method), s->method, s->path, 20);
            }
            if ((flags & NGHTTP2_FLAG_END_STREAM) != 0) {
                s->in_end = true;
            }
            if (role_ == role::server && cat == NGHTTP2_HCAT_REQUEST && on_stream_) {
                ++handlers_;
                on_stream_(shared_from_this(), s);
                return 0;
            }
        } else if ((flags & NGHTTP2_FLAG_END_STREAM) != 0) {
            s->in_end = true;
        }
        s->wake();
    } else if (type == NGHTTP2_DATA) {
        if ((flags & NGHTTP2_FLAG_END_STREAM) != 0) {
            s->in_end = true;
            s->wake();
        }
    } else if (type == NGHTTP2_RST_STREAM && role_ == role::server && !s->answered) {
        // Rapid reset (CVE-2023-44487): a stream reset before it was answered costs a token.
        const auto now = clock_type::now();
        reset_tokens_ = std::min<double>(
            limits_.reset_budget,
            reset_tokens_ + std::chrono::duration<double>(now - reset_refill_at_).count() *
                                limits_.reset_refill_per_s);
        reset_refill_at_ = now;
        reset_tokens_ -= 1;
        if (reset_tokens_ < 0) {
            nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
        }
    }
    return 0;
}

int connection::on_data(std::int32_t id, std::string_view data) {
    const auto it = streams_.find(id);
    if (it == streams_.end()) {
        nghttp2_session_consume_connection(session_, data.size());
        return 0;
    }
    stream& s = *it->second;
    s.in.append(data);
    s.wake();
    return 0;
}

int connection::on_stream_close(std::int32_t id, std::uint32_t code) {
    const auto it = streams_.find(id);
    if (it == streams_.end()) {
        return 0;
    }
    const std::shared_ptr<stream> s = it->second;
    streams_.erase(it);
    s->closed = true;
    s->error = code;
    if (code == NGHTTP2_REFUSED_STREAM) {
        s->refused = true;  // never processed by the peer: safe to retry
    }
    s->wake();
    return 0;
}

long connection::read_body(stream& s, std::int32_t id, std::uint8_t* buf, std::size_t len,
                           std::uint32_t* flags) {
    const std::size_t n = std::min(len, s.out_pending());
    if (n > 0) {
        std::memcpy(buf, s.out.data() + s.out_off, n);
        s.out_off += n;
        if (s.out_off == s.out.size()) {
            s.out.clear();
            s.out_off = 0;
        }
        if (s.out_pending() <= limits_.send_buffer) {
            s.wake();  // a sender waiting for room
        }
    }
    if (s.out_pending() == 0 && s.out_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        s.eof_sent = true;
        if (s.reset_after_send) {
            nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
        }
        if (s.out_has_trailers) {
            std::vector<nghttp2_nv> nva;
            add_fields(s.out_trailers, nva, scratch_, true);
            if (nghttp2_submit_trailer(session_, id, nva.data(), nva.size()) == 0) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
        }
        return static_cast<long>(n);
    }
    if (n == 0) {
        s.out_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<long>(n);
}

}  // namespace outrigger::proxy::http2
