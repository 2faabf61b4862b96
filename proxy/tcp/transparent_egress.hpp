#pragma once
// Transparent egress that never breaks a non-HTTP connection (issue 17 items 1 and 5): the entry
// of the egress listener in `--transparent` mode for a connection whose original destination is
// known.
//   1. A TCP backend owns the original destination port (routing::decide_tcp): proxied as TCP at
//      once, without waiting for a byte (server-first protocols work).
//   2. Otherwise the first bytes are sniffed (proxy/tcp/sniff.hpp) and:
//      - HTTP/1 or the h2 preface → `http` (the HTTP path), with the bytes already read;
//      - a TLS ClientHello → never terminated: under ALLOW_ALL passed through to the original
//        destination; under DROP_ALL only when its SNI matches `--egress-allow` (default
//        `*.amazonaws.com`), else closed, counted and logged with the SNI;
//      - anything else (including silence past the deadline: a server-first protocol) → opaque
//        TCP to the original destination under ALLOW_ALL, closed and logged under DROP_ALL.
//
// Thread-affinity: the accepting worker.

#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/tcp/sniff.hpp"
#include "routing/snapshot.hpp"

namespace outrigger::proxy {

class worker;

/// The HTTP path, handed a connection whose first bytes were HTTP/1 (`http1`) or the h2 preface
/// (`http2`). `initial` holds those bytes (read from the socket, not yet parsed).
using http_handoff = std::function<boost::asio::awaitable<void>(
    boost::asio::ip::tcp::socket, boost::beast::flat_buffer initial, first_bytes_protocol)>;

/// What the egress filter says about a sniffed connection that is not HTTP. Pure.
struct sniffed_verdict {
    bool pass = false;   // true: passthrough to the original destination; false: refuse (NR)
    std::string reason;  // refuse: one sentence for the log (names the SNI when there is one)
};
[[nodiscard]] sniffed_verdict decide_sniffed_egress(const routing::snapshot& snap,
                                                    const sniff_result& sniffed);

/// Handles one transparent egress connection to `original_destination` (see the header comment).
[[nodiscard]] boost::asio::awaitable<void> run_transparent_egress(
    worker& w, boost::asio::ip::tcp::socket s, boost::asio::ip::tcp::endpoint original_destination,
    http_handoff http);

}  // namespace outrigger::proxy
