#pragma once
// Which session a connection accepted on the egress or ingress listener runs (issue 17 wiring):
// the one place that decides between the HTTP path (run_downstream_session) and the TCP entry
// points of proxy/tcp/, before any byte is read.
//   - egress, --transparent, with an original destination (SO_ORIGINAL_DST): run_transparent_egress
//     (a TCP backend's port → its tcpRoute; elsewhere the first bytes decide; HTTP/1 and the h2
//     preface go to the HTTP path with the bytes already read);
//   - ingress, when the node listener the connection is for has protocol tcp: run_tcp_session with
//     plan_tcp_ingress (the local app, the listener's own TLS). The listener is the original
//     destination port in --transparent mode, else the node's only listener (explicit mode has one
//     ingress port and no Host header to name a listener by, docs/tcp.md "Three ways in");
//   - everything else: run_downstream_session, exactly as before.
//
// Thread-affinity: the accepting worker (reads its current snapshot; no suspension).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/worker.hpp"

namespace outrigger::proxy {

/// The session of one accepted connection (see the header comment). Not a coroutine itself: it
/// returns the chosen session's awaitable, so the HTTP path pays no extra frame.
[[nodiscard]] boost::asio::awaitable<void> accepted_connection(worker& w,
                                                               boost::asio::ip::tcp::socket socket,
                                                               listener_kind kind);

}  // namespace outrigger::proxy
