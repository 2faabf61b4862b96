#include "proxy/http_wire.hpp"

#include <algorithm>
#include <array>
#include <cerrno>

#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>

namespace outrigger::proxy {

namespace http = boost::beast::http;

std::size_t try_write_now(flex_stream& s, std::span<const boost::asio::const_buffer> bufs) noexcept {
    if (s.is_tls() || !s.socket().is_open() || bufs.empty()) {
        return 0;
    }
    std::array<iovec, 8> iov{};
    std::size_t n = 0;
    for (const auto& b : bufs) {
        if (b.size() == 0) {
            continue;
        }
        if (n == iov.size()) {
            break;
        }
        iov[n].iov_base = const_cast<void*>(b.data());  // sendmsg's iovec is not const
        iov[n].iov_len = b.size();
        ++n;
    }
    if (n == 0) {
        return 0;
    }
    if (n == 1) {
        // One buffer: send(2) is cheaper than sendmsg(2) (no msghdr/iovec to copy in).
        const ssize_t sent = ::send(s.socket().native_handle(), iov[0].iov_base, iov[0].iov_len,
                                    MSG_DONTWAIT | MSG_NOSIGNAL);
        return sent > 0 ? static_cast<std::size_t>(sent) : 0;
    }
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = n;
    const ssize_t sent =
        ::sendmsg(s.socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    return sent > 0 ? static_cast<std::size_t>(sent) : 0;
}

std::size_t try_read_now(flex_stream& s, boost::beast::flat_buffer& buf, std::size_t max) {
    if (s.is_tls() || !s.socket().is_open() || max == 0) {
        return 0;
    }
    const auto space = buf.prepare(max);
    const ssize_t got =
        ::recv(s.socket().native_handle(), space.data(), space.size(), MSG_DONTWAIT);
    if (got <= 0) {
        return 0;
    }
    buf.commit(static_cast<std::size_t>(got));
    return static_cast<std::size_t>(got);
}

template <bool isRequest>
boost::asio::awaitable<boost::system::error_code> read_and_parse(
    flex_stream& s, boost::beast::flat_buffer& buf, http::basic_parser<isRequest>& p,
    bool header_only) {
    // Beast's read size rule: the room the buffer has, at least 512 bytes, at most 64 KiB.
    const std::size_t room = buf.capacity() - buf.size();
    const std::size_t want = std::min<std::size_t>(std::max<std::size_t>(room, 512), 65536);
    auto [ec, n] = co_await s.async_read_some(
        buf.prepare(want), boost::asio::as_tuple(boost::asio::use_awaitable));
    buf.commit(n);
    if (ec == boost::asio::error::eof) {
        if (p.got_some()) {
            ec = {};
            p.put_eof(ec);
        } else {
            ec = http::error::end_of_stream;
        }
        co_return ec;
    }
    if (ec) {
        co_return ec;
    }
    co_return header_only ? parse_buffered_header(p, buf) : parse_buffered(p, buf);
}

template boost::asio::awaitable<boost::system::error_code> read_and_parse<true>(
    flex_stream&, boost::beast::flat_buffer&, http::basic_parser<true>&, bool);
template boost::asio::awaitable<boost::system::error_code> read_and_parse<false>(
    flex_stream&, boost::beast::flat_buffer&, http::basic_parser<false>&, bool);

}  // namespace outrigger::proxy
