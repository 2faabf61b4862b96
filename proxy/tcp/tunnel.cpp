#include "proxy/tcp/tunnel.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

// g++ 12 reports Asio's awaitable frame allocation as mismatched new/delete once small
// coroutines are inlined (the same false positive proxy/forwarder.cpp documents).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using end_t = tunnel_result::end_t;

namespace {

constexpr auto tok = net::as_tuple(net::use_awaitable);
/// Bytes moved per splice call: the default pipe capacity (16 pages).
constexpr std::size_t splice_chunk = 64 * 1024;

enum class direction { down_to_up, up_to_down };

struct tunnel_state {
    explicit tunnel_state(flex_stream& d, flex_stream& u) : down(d), up(u) {}
    flex_stream& down;
    flex_stream& up;
    clock_type::time_point last_activity = clock_type::now();
    int open_directions = 2;
    bool closing = false;  // a reset or the idle timeout is closing both sides
    tunnel_result res;
    net::steady_timer* watchdog = nullptr;

    flex_stream& from(direction d) { return d == direction::down_to_up ? down : up; }
    flex_stream& to(direction d) { return d == direction::down_to_up ? up : down; }
    void count(direction d, std::size_t n, bool read_side) {
        last_activity = clock_type::now();
        if (d == direction::down_to_up && read_side) {
            res.from_downstream += n;
        } else if (d == direction::up_to_down && !read_side) {
            res.to_downstream += n;
        }
    }
};

/// Closes with SO_LINGER {on, 0}: the kernel sends RST instead of FIN.
void reset_stream(flex_stream& s) {
    boost::system::error_code ec;  // the socket may already be closed: nothing left to undo
    s.socket().set_option(net::socket_base::linger(true, 0), ec);
    s.socket().close(ec);
}

void close_stream(flex_stream& s) {
    boost::system::error_code ec;  // closing is best effort: the peer may already be gone
    s.socket().close(ec);
}

/// One side failed (a reset read, or a write the peer refused): the other side gets a reset, the
/// failed side is closed, and every pending operation of the tunnel ends.
void abort_tunnel(tunnel_state& st, direction d, bool read_failed) {
    if (st.closing) {
        return;
    }
    st.closing = true;
    // A failed read: `from` was reset, so `to` gets the reset. A failed write: `to` refused the
    // bytes (reset, or closed and then reset by the kernel on our write), so `from` gets it.
    flex_stream& failed = read_failed ? st.from(d) : st.to(d);
    flex_stream& other = read_failed ? st.to(d) : st.from(d);
    const bool down_failed = &failed == &st.down;
    st.res.end = down_failed ? end_t::downstream_reset : end_t::upstream_reset;
    reset_stream(other);
    close_stream(failed);
    if (st.watchdog != nullptr) {
        st.watchdog->cancel();
    }
}

bool is_eof(const boost::system::error_code& ec) {
    // A TLS peer that closes without close_notify ends with stream_truncated: its FIN.
    return ec == net::error::eof || ec == net::ssl::error::stream_truncated;
}

/// The direction saw its FIN: pass it on as a half-close.
void finish_direction(tunnel_state& st, direction d) {
    boost::system::error_code ec;  // the peer may be gone already; the other direction tells
    st.to(d).socket().shutdown(tcp::socket::shutdown_send, ec);
    if (--st.open_directions == 0 && st.watchdog != nullptr) {
        st.watchdog->cancel();
    }
}

struct pipe_fds {
    int r = -1;
    int w = -1;
    pipe_fds() {
        int p[2];
        if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
            r = p[0];
            w = p[1];
        }
    }
    ~pipe_fds() {
        if (r >= 0) {
            ::close(r);
        }
        if (w >= 0) {
            ::close(w);
        }
    }
    pipe_fds(const pipe_fds&) = delete;
    pipe_fds& operator=(const pipe_fds&) = delete;
    [[nodiscard]] bool ok() const { return r >= 0; }
};

net::awaitable<void> pump_splice(tunnel_state& st, direction d, const pipe_fds& pipe);

/// Copy path: one bounded buffer, read then write, through TLS where a side has it. With `splice`
/// (both sides plaintext) a direction that keeps filling its buffer (a bulk transfer) goes on with
/// splice(2): HAProxy's "splice-auto". Request/response traffic stays here, because after each
/// small message splice needs one more syscall (the readiness peek) than a read.
net::awaitable<void> pump_copy(tunnel_state& st, direction d, std::size_t buffer_bytes, bool splice,
                               unsigned splice_after) {
    const auto buf = std::make_unique<char[]>(buffer_bytes);
    flex_stream& from = st.from(d);
    flex_stream& to = st.to(d);
    unsigned full_reads = 0;
    for (;;) {
        if (splice && full_reads >= splice_after) {
            // Everything read so far was written: splice continues at the same byte.
            pipe_fds pipe;
            boost::system::error_code e1;
            boost::system::error_code e2;
            from.socket().native_non_blocking(true, e1);
            to.socket().native_non_blocking(true, e2);
            if (pipe.ok() && !e1 && !e2) {
                st.res.spliced = true;
                co_await pump_splice(st, d, pipe);
                co_return;
            }
            splice = false;  // no pipe (fd limit): keep copying
        }
        boost::system::error_code ec;
        std::size_t n = 0;
        if (from.is_tls()) {
            std::tie(ec, n) = co_await from.tls().async_read_some(net::buffer(buf.get(), buffer_bytes), tok);
        } else {
            std::tie(ec, n) = co_await from.socket().async_read_some(net::buffer(buf.get(), buffer_bytes), tok);
        }
        if (st.closing) {
            co_return;
        }
        if (n > 0) {
            st.count(d, n, true);
            boost::system::error_code wec;
            std::size_t wn = 0;
            if (to.is_tls()) {
                std::tie(wec, wn) = co_await net::async_write(to.tls(), net::buffer(buf.get(), n), tok);
            } else {
                std::tie(wec, wn) = co_await net::async_write(to.socket(), net::buffer(buf.get(), n), tok);
            }
            if (st.closing) {
                co_return;
            }
            st.count(d, wn, false);
            if (wec) {
                abort_tunnel(st, d, false);
                co_return;
            }
            full_reads = n == buffer_bytes ? full_reads + 1 : 0;
        }
        if (ec) {
            if (is_eof(ec)) {
                finish_direction(st, d);
            } else {
                abort_tunnel(st, d, true);
            }
            co_return;
        }
    }
}


/// Splice path (both sides plaintext): socket → pipe → socket, never through user space. The pipe
/// is drained before it is filled again, so at most one pipe's worth (64 KiB) is in flight.
/// Readiness: a 1-byte MSG_PEEK receive waits for input (it completes at once when bytes are
/// already queued, so no wake-up is missed); `async_wait(write)` waits for room after EAGAIN.
/// Both are only started on the worker's own (single-threaded) reactor, right after the syscall
/// that found the socket empty or full.
net::awaitable<void> pump_splice(tunnel_state& st, direction d, const pipe_fds& pipe) {
    tcp::socket& from = st.from(d).socket();
    tcp::socket& to = st.to(d).socket();
    std::size_t in_pipe = 0;
    bool eof = false;
    for (;;) {
        if (in_pipe == 0 && !eof) {
            const ssize_t n = ::splice(from.native_handle(), nullptr, pipe.w, nullptr, splice_chunk,
                                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                in_pipe = static_cast<std::size_t>(n);
                st.count(d, in_pipe, true);
            } else if (n == 0) {
                eof = true;
            } else if (errno == EAGAIN || errno == EINTR) {
                char probe = 0;
                auto [ec, pn] = co_await from.async_receive(net::buffer(&probe, 1),
                                                            tcp::socket::message_peek, tok);
                (void)pn;  // a peek consumes nothing
                if (st.closing) {
                    co_return;
                }
                if (ec && !is_eof(ec)) {
                    abort_tunnel(st, d, true);
                    co_return;
                }
                continue;  // bytes (or EOF) are there: splice again
            } else {
                abort_tunnel(st, d, true);
                co_return;
            }
        }
        while (in_pipe > 0) {
            const ssize_t m = ::splice(pipe.r, nullptr, to.native_handle(), nullptr, in_pipe,
                                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (m > 0) {
                in_pipe -= static_cast<std::size_t>(m);
                st.count(d, static_cast<std::size_t>(m), false);
                continue;
            }
            if (m < 0 && (errno == EAGAIN || errno == EINTR)) {
                auto [ec] = co_await to.async_wait(tcp::socket::wait_write, tok);
                if (st.closing) {
                    co_return;
                }
                if (ec) {
                    abort_tunnel(st, d, false);
                    co_return;
                }
                continue;
            }
            abort_tunnel(st, d, false);  // EPIPE / ECONNRESET: `to` refused the bytes
            co_return;
        }
        if (eof) {
            finish_direction(st, d);
            co_return;
        }
    }
}

net::awaitable<void> idle_watchdog(tunnel_state& st, net::steady_timer& timer,
                                   std::chrono::milliseconds idle) {
    for (;;) {
        timer.expires_at(st.last_activity + idle);
        auto [ec] = co_await timer.async_wait(tok);
        if (ec || st.closing || st.open_directions == 0) {
            co_return;  // cancelled: the tunnel ended some other way
        }
        if (clock_type::now() - st.last_activity >= idle) {
            st.closing = true;
            st.res.end = end_t::idle_timeout;
            close_stream(st.down);
            close_stream(st.up);
            co_return;
        }
    }
}

}  // namespace

const char* to_string(tunnel_result::end_t e) noexcept {
    switch (e) {
        case end_t::closed: return "closed";
        case end_t::downstream_reset: return "downstream reset";
        case end_t::upstream_reset: return "upstream reset";
        case end_t::idle_timeout: return "idle timeout";
    }
    return "";
}

net::awaitable<tunnel_result> run_tunnel(flex_stream& down, flex_stream& up,
                                         const tunnel_options& opts,
                                         std::span<const std::byte> initial_up) {
    using namespace net::experimental::awaitable_operators;
    tunnel_state st(down, up);
    down.expires_never();
    up.expires_never();
    if (!initial_up.empty()) {
        st.res.from_downstream += initial_up.size();
        boost::system::error_code ec;
        std::size_t n = 0;
        const auto b = net::buffer(initial_up.data(), initial_up.size());
        if (up.is_tls()) {
            std::tie(ec, n) = co_await net::async_write(up.tls(), b, tok);
        } else {
            std::tie(ec, n) = co_await net::async_write(up.socket(), b, tok);
        }
        if (ec) {
            abort_tunnel(st, direction::down_to_up, false);
            co_return st.res;
        }
    }
    const bool splice = opts.splice && !down.is_tls() && !up.is_tls();
    const auto pump = [&](direction d) {
        return pump_copy(st, d, opts.buffer_bytes, splice, opts.splice_after_full_reads);
    };
    if (opts.idle_timeout.count() > 0) {
        net::steady_timer timer(down.get_executor());
        st.watchdog = &timer;
        co_await (pump(direction::down_to_up) && pump(direction::up_to_down) &&
                  idle_watchdog(st, timer, opts.idle_timeout));
        st.watchdog = nullptr;
    } else {
        co_await (pump(direction::down_to_up) && pump(direction::up_to_down));
    }
    if (!st.closing) {
        close_stream(down);
        close_stream(up);
    }
    co_return st.res;
}

}  // namespace outrigger::proxy
