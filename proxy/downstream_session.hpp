#pragma once
// One downstream HTTP/1.1 connection (egress or ingress listener): reads request heads with
// limits, answers pipelined requests in order, routes (egress) or picks the local app (ingress),
// forwards through `forward`, writes local replies (DECISIONS §4), tunnels CONNECT.
//
// Lifetime: the coroutine owns the socket and every buffer of the connection (STYLE §3.3).
// Thread-affinity: runs on the worker that accepted the connection.

#include <cstdint>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/worker.hpp"

namespace outrigger::proxy {

/// `initial`: bytes already read from the connection (transparent egress sniffed them,
/// proxy/tcp/transparent_egress.hpp), parsed before anything else is read.
/// `gateway_listener`: for listener_kind::gateway, the manifest port of the gateway listener the
/// connection arrived on (matching uses it, whatever port is bound); 0 otherwise.
[[nodiscard]] boost::asio::awaitable<void> run_downstream_session(worker& w,
                                                                  boost::asio::ip::tcp::socket socket,
                                                                  listener_kind kind,
                                                                  boost::beast::flat_buffer initial,
                                                                  std::uint16_t gateway_listener);

[[nodiscard]] inline boost::asio::awaitable<void> run_downstream_session(
    worker& w, boost::asio::ip::tcp::socket socket, listener_kind kind) {
    return run_downstream_session(w, std::move(socket), kind, boost::beast::flat_buffer{}, 0);
}

}  // namespace outrigger::proxy
