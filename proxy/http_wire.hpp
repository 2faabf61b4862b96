#pragma once
// Non-blocking fast paths of the data path's I/O (issue 7).
//
// Beast's serializer walks a head through buffers_cat_view/buffers_prefix_view iterators on every
// write: in a profile of the proxy under wrk it was the largest user-space cost (about a fifth of
// the user time). The head of a message the proxy forwards is instead written into one reused
// string (http_head.hpp) and sent together with the body bytes in a single gather write (writev).
//
// The `try_*_now` helpers perform one non-blocking send/recv on a plaintext connection, so that
// the common case (the socket is writable, the bytes are there) finishes without suspending the
// coroutine or arming the stream's timer; the caller falls back to the asynchronous operation
// for the rest. TLS connections always take the asynchronous path.
//
// Thread-affinity: stateless; the streams belong to the calling worker.

#include <cstddef>
#include <span>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "proxy/flex_stream.hpp"

namespace outrigger::proxy {

/// One non-blocking send of `bufs` on a plaintext connection. Returns the bytes sent (0 when the
/// socket would block, when the connection is TLS, or on an error, which is left for the
/// asynchronous retry to report).
std::size_t try_write_now(flex_stream& s, std::span<const boost::asio::const_buffer> bufs) noexcept;

/// One non-blocking receive into `buf` (up to `max` bytes) on a plaintext connection. Returns
/// the bytes received; 0 when nothing is there yet, on TLS, on EOF or on an error (the
/// asynchronous read that follows sees those again).
std::size_t try_read_now(flex_stream& s, boost::beast::flat_buffer& buf, std::size_t max);

/// Feeds bytes already in `buf` to `p` without I/O, as far as they go: the head (when not yet
/// complete) and, for a buffer_body parser, body bytes into the body's current window. Stops at
/// need_more / need_buffer (returned as success) or on a parse error (returned).
template <bool isRequest>
boost::system::error_code parse_buffered(boost::beast::http::basic_parser<isRequest>& p,
                                         boost::beast::flat_buffer& buf) {
    boost::system::error_code ec;
    while (buf.size() > 0 && !p.is_done()) {
        const std::size_t used = p.put(buf.data(), ec);
        buf.consume(used);
        if (ec == boost::beast::http::error::need_more ||
            ec == boost::beast::http::error::need_buffer) {
            return {};
        }
        if (ec) {
            return ec;
        }
        if (used == 0) {
            break;
        }
    }
    return ec;
}

/// Parses a message head that is already complete in `buf`, without I/O. Leaves `p` without a
/// complete head (and returns success) when `buf` holds only part of one.
template <bool isRequest>
boost::system::error_code parse_buffered_header(boost::beast::http::basic_parser<isRequest>& p,
                                                boost::beast::flat_buffer& buf) {
    boost::system::error_code ec;
    while (buf.size() > 0 && !p.is_header_done()) {
        const std::size_t used = p.put(buf.data(), ec);
        buf.consume(used);
        if (ec == boost::beast::http::error::need_more) {
            return {};
        }
        if (ec) {
            return ec;
        }
        if (used == 0) {
            break;
        }
    }
    return ec;
}

/// One read from `s` into `buf`, then `p` is fed what is buffered (as parse_buffered, or
/// parse_buffered_header when `header_only`). What Beast's http::async_read_some does, without
/// its composed-operation layers (each of which copies the executor and tracks work): the data
/// path calls this only after the buffered bytes were used up. End of stream is Beast's: the
/// parser sees it (a close-delimited body ends, a cut message is partial_message) once it got
/// some bytes, else end_of_stream. A full body window is not an error.
template <bool isRequest>
boost::asio::awaitable<boost::system::error_code> read_and_parse(
    flex_stream& s, boost::beast::flat_buffer& buf, boost::beast::http::basic_parser<isRequest>& p,
    bool header_only);

extern template boost::asio::awaitable<boost::system::error_code> read_and_parse<true>(
    flex_stream&, boost::beast::flat_buffer&, boost::beast::http::basic_parser<true>&, bool);
extern template boost::asio::awaitable<boost::system::error_code> read_and_parse<false>(
    flex_stream&, boost::beast::flat_buffer&, boost::beast::http::basic_parser<false>&, bool);

}  // namespace outrigger::proxy
