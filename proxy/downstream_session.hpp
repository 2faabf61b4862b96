#pragma once
// One downstream HTTP/1.1 connection (egress or ingress listener): reads request heads with
// limits, answers pipelined requests in order, routes (egress) or picks the local app (ingress),
// forwards through `forward`, writes local replies (DECISIONS §4), tunnels CONNECT.
//
// Lifetime: the coroutine owns the socket and every buffer of the connection (STYLE §3.3).
// Thread-affinity: runs on the worker that accepted the connection.

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/worker.hpp"

namespace outrigger::proxy {

/// `initial`: bytes already read from the connection (transparent egress sniffed them,
/// proxy/tcp/transparent_egress.hpp), parsed before anything else is read.
[[nodiscard]] boost::asio::awaitable<void> run_downstream_session(worker& w,
                                                                  boost::asio::ip::tcp::socket socket,
                                                                  listener_kind kind,
                                                                  boost::beast::flat_buffer initial);

[[nodiscard]] inline boost::asio::awaitable<void> run_downstream_session(
    worker& w, boost::asio::ip::tcp::socket socket, listener_kind kind) {
    return run_downstream_session(w, std::move(socket), kind, boost::beast::flat_buffer{});
}

}  // namespace outrigger::proxy
