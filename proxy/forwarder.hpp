#pragma once
// The attempt loop of one request (STYLE §2.5): buffer the request body for replay (up to
// `replay_buffer`), pick an endpoint, take a pooled connection or connect, send the request, read
// the response head, ask `should_retry`, and relay the response body downstream, streaming in
// both directions.
//
// Thread-affinity: worker-local.

#include <string>

#include <boost/asio/awaitable.hpp>

#include "proxy/errors.hpp"
#include "proxy/request_ctx.hpp"

namespace outrigger::proxy {

struct forward_result {
    /// ok: a response (possibly truncated: then ctx.close_after is set) went downstream.
    /// Otherwise nothing was written downstream and the caller sends the local reply for it.
    errc error = errc::ok;
    std::string message;           // the sentence for the local reply
    std::uint32_t extra_flags = 0;  // URX
};

/// Forwards the request whose head is in `ctx.parser` to `ctx.up`. The request head must already
/// be rewritten for the upstream (hop-by-hop removed, origin-form target).
[[nodiscard]] boost::asio::awaitable<forward_result> forward(request_ctx& ctx);

}  // namespace outrigger::proxy
