#pragma once
// One downstream HTTP/1.1 connection (egress or ingress listener): reads request heads with
// limits, answers pipelined requests in order, routes (egress) or picks the local app (ingress),
// forwards through `forward`, writes local replies (DECISIONS §4), tunnels CONNECT.
//
// Lifetime: the coroutine owns the socket and every buffer of the connection (STYLE §3.3).
// Thread-affinity: runs on the worker that accepted the connection.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/worker.hpp"

namespace outrigger::proxy {

[[nodiscard]] boost::asio::awaitable<void> run_downstream_session(worker& w,
                                                                  boost::asio::ip::tcp::socket socket,
                                                                  listener_kind kind);

}  // namespace outrigger::proxy
