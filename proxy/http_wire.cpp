#include "proxy/http_wire.hpp"

#include <array>
#include <cerrno>

#include <sys/socket.h>
#include <sys/uio.h>

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

}  // namespace outrigger::proxy
