#pragma once
// Protocol sniffing for transparent egress (issue 17 item 5): what did the app send first on a
// connection to a port no TCP backend owns? HTTP/1 (a request line), the HTTP/2 preface, a TLS
// ClientHello (with its SNI), or anything else. A server-first protocol (MySQL, SMTP, …) sends
// nothing: after a deadline the connection is opaque TCP.
//
// Two parts:
// - `classify_first_bytes`: pure, bounded, fuzzed (fuzz/fuzz_client_hello.cpp).
// - `sniff_first_bytes`: reads (consumes) the first bytes into a caller-owned buffer until the
//   classifier decides, the buffer limit is reached, the peer closes, or the deadline passes. The
//   bytes are never lost: they stay in the buffer and the caller hands them on (to the HTTP path,
//   or to the tunnel, which sends them upstream first). Reading rather than MSG_PEEK: waiting for
//   *more* bytes than a peek already saw would need readiness waits that Asio's edge-triggered
//   reactor does not re-arm for bytes already queued.
//
// Deadline (docs/tcp.md "Sniffing deadline"): `server_first_deadline` (100 ms) only where a wrong
// guess costs nothing — under ALLOW_ALL on a port no mesh HTTP listener uses, where HTTP, TLS and
// opaque TCP all end at the original destination anyway; the deadline is then the one-time
// connection-setup delay a server-first protocol pays. Elsewhere (DROP_ALL, or a mesh HTTP port)
// a wrong guess refuses or mis-routes a slow client, while a server-first protocol would be
// refused anyway, so the proxy waits `--header-timeout` (10 s) for the first bytes.
//
// Thread-affinity: the classifier is pure; the reader runs on the socket's worker.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>

#include "proxy/config.hpp"
#include "routing/snapshot.hpp"
#include "tls/client_hello.hpp"

namespace outrigger::proxy {

enum class first_bytes_protocol {
    need_more,  // consistent with HTTP/1, h2 or TLS so far
    http1,      // METHOD SP TARGET SP HTTP/1.x CRLF
    http2,      // the 24-byte HTTP/2 connection preface (prior knowledge, RFC 9113 §3.4)
    tls,        // a complete, well-formed TLS ClientHello
    other,      // anything else: opaque TCP
};

/// Longest request line the classifier waits for (Envoy's http_inspector reads 8 KiB).
inline constexpr std::size_t sniff_max_request_line = 8 * 1024;
/// Most bytes `sniff_first_bytes` reads: a whole ClientHello at its cap, with record headers.
inline constexpr std::size_t sniff_buffer_limit = tls::max_client_hello + 4 + 5 * 4;
/// First-bytes deadline where a wrong guess is harmless (see the header comment).
inline constexpr std::chrono::milliseconds server_first_deadline{100};

/// Classifies the first bytes a client sent. `hello` (optional) receives the parsed ClientHello
/// when the bytes start like TLS (its `status` says tls or malformed; malformed → `other`).
[[nodiscard]] first_bytes_protocol classify_first_bytes(std::span<const std::byte> data,
                                                        tls::client_hello* hello = nullptr);

struct sniff_result {
    first_bytes_protocol proto = first_bytes_protocol::other;  // never need_more
    tls::client_hello hello;  // proto tls: SNI and ALPN; a malformed one: its error
    bool timed_out = false;   // the deadline passed before the bytes decided (server-first)
    bool peer_closed = false; // EOF before the bytes decided (a half-close: proto other)
    /// A socket error other than EOF (reset): nothing can be done with the connection.
    boost::system::error_code error;
};

/// Reads into `buf` until the first bytes decide (see `classify_first_bytes`), at most
/// `sniff_buffer_limit` bytes (then `other`), within `deadline` (then `other`, `timed_out`).
/// Bytes already in `buf` are classified first. Never closes the socket.
[[nodiscard]] boost::asio::awaitable<sniff_result> sniff_first_bytes(
    boost::asio::ip::tcp::socket& socket, boost::beast::flat_buffer& buf,
    std::chrono::milliseconds deadline);

/// Inbound PERMISSIVE tcp listeners: TLS or plaintext, by the first bytes (tls/detect.hpp).
enum class tls_detect { tls, plaintext, closed };
/// How long a PERMISSIVE tcp listener waits for a client's first byte before it decides the
/// connection is plaintext (a server-first protocol; TLS is always client-first). Longer than
/// `server_first_deadline`: guessing wrong here hands a slow TLS client's bytes to the app.
inline constexpr std::chrono::milliseconds inbound_tls_detect_deadline{1000};

/// Reads the first bytes into `buf` until they say TLS or not (at most a few bytes): `tls`,
/// `plaintext` (also after `deadline` with nothing read, or EOF after some bytes), or `closed`
/// (EOF or an error before any byte).
[[nodiscard]] boost::asio::awaitable<tls_detect> detect_tls(boost::asio::ip::tcp::socket& socket,
                                                            boost::beast::flat_buffer& buf,
                                                            std::chrono::milliseconds deadline);

/// The deadline for a transparent egress connection whose original destination port is `port`
/// (see the header comment): `server_first_deadline` under ALLOW_ALL on a port no mesh HTTP
/// listener uses, else `cfg.header_timeout` (or 10 s when that is off).
[[nodiscard]] std::chrono::milliseconds sniff_deadline(const routing::snapshot& snap,
                                                       std::uint16_t port,
                                                       const server_config& cfg);

}  // namespace outrigger::proxy
