#pragma once
// The bidirectional byte relay of a TCP connection (issue 17 item 4), used by TCP routes,
// passthrough (TLS by SNI, opaque TCP) and, later, CONNECT tunnels:
// - both directions stream at once, each under back-pressure: a direction reads again only after
//   what it read was written (one bounded buffer per direction, or a kernel pipe for splice);
// - a FIN in one direction becomes shutdown(SHUT_WR) of that direction on the other side while
//   the other direction keeps flowing (half-close);
// - a reset is passed on as a reset: the other side is closed with SO_LINGER 0 (RST), so a peer
//   that was reset is never mistaken for one that finished;
// - no byte is lost or reordered (one reader and one writer per direction, writes complete before
//   the next read);
// - an idle timeout (no byte in either direction for that long) closes both sides;
// - byte counters both ways.
// TLS on either side (flex_stream with `start_tls` done and handshaken): the TLS layer is read and
// written instead of the socket. A TLS half-close is a TCP FIN without close_notify (as the rest
// of the proxy closes TLS, docs/decisions.md "close_notify"); EOF without close_notify from a TLS
// peer (`stream_truncated`) counts as its FIN.
// Plaintext pairs move a direction to splice(2) through a pipe (no copy through user space) once
// it carries a bulk transfer, as HAProxy's splice-auto does; docs/tcp.md has the measurements.
//
// Lifetime: the caller owns both streams and keeps them alive until the awaitable completes; on
// completion both are closed (or reset). Thread-affinity: the worker that owns the streams; the
// splice path relies on that worker's single-threaded reactor (see tunnel.cpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include <boost/asio/awaitable.hpp>

#include "proxy/flex_stream.hpp"

namespace outrigger::proxy {

struct tunnel_options {
    std::chrono::milliseconds idle_timeout{0};  // 0 = off
    std::size_t buffer_bytes = 16 * 1024;        // per direction (copy path)
    bool splice = true;                          // splice(2) when both sides are plaintext
    /// A plaintext direction moves to splice after this many reads in a row filled its buffer
    /// (a bulk transfer; small request/response traffic stays on the copy path, which costs one
    /// syscall less per message). 0: splice from the first byte (tests of the splice path).
    unsigned splice_after_full_reads = 2;
};

struct tunnel_result {
    enum class end_t {
        closed,            // both directions ended with a FIN
        downstream_reset,  // downstream reset (or failed a write): upstream was reset
        upstream_reset,    // upstream reset (or failed a write): downstream was reset
        idle_timeout,      // no byte either way for idle_timeout: both closed
    };
    end_t end = end_t::closed;
    std::uint64_t from_downstream = 0;  // bytes read from downstream (the initial bytes included)
    std::uint64_t to_downstream = 0;    // bytes written to downstream
    bool spliced = false;               // the splice path was used
};

/// Relays between `down` and `up` until both directions are done (see the header comment).
/// `initial_up` (bytes already read from downstream, e.g. by the sniffer) is written to `up`
/// first. Never throws; closes both streams before it completes.
[[nodiscard]] boost::asio::awaitable<tunnel_result> run_tunnel(
    flex_stream& down, flex_stream& up, const tunnel_options& opts,
    std::span<const std::byte> initial_up = {});

[[nodiscard]] const char* to_string(tunnel_result::end_t e) noexcept;

}  // namespace outrigger::proxy
