#pragma once
// Reads a TLS ClientHello from the first bytes of a connection without terminating TLS: the
// record layer (one or more handshake records, RFC 8446 §5.1), the handshake header (type 1), the
// ClientHello body (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) and two extensions: server_name (type 0,
// RFC 6066 §3: the SNI) and application_layer_protocol_negotiation (type 16, RFC 7301).
//
// Used by transparent egress (proxy/tcp/sniff.hpp) to pass TLS through by SNI, as Envoy's
// tls_inspector does. Untrusted input: every length is checked against what is left before it is
// used, the message is capped (`max_client_hello`), nothing is allocated except the result's SNI
// and ALPN strings, and no byte is read twice. Fuzzed by fuzz/fuzz_client_hello.cpp.
//
// Thread-affinity: pure, no I/O, no globals; safe everywhere.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace outrigger::tls {

/// Largest ClientHello message body accepted (the handshake header's length). A browser's is
/// under 2 KiB (with a post-quantum key share); 16 KiB is one full TLS record.
inline constexpr std::size_t max_client_hello = 16 * 1024;
/// Most ALPN protocol names kept (a ClientHello offering more is still parsed; the rest are
/// dropped). Real clients offer 1–3.
inline constexpr std::size_t max_alpn_names = 8;

enum class hello_status {
    need_more,  // consistent so far; more bytes are needed to decide
    not_tls,    // the first bytes are not a TLS handshake record
    tls,        // a complete, well-formed ClientHello
    malformed,  // a TLS handshake record, but not a well-formed ClientHello (`error` says why)
};

struct client_hello {
    hello_status status = hello_status::need_more;
    /// server_name host_name, as sent (any case; printable ASCII only). Empty: no SNI.
    std::string sni;
    /// ALPN protocol names in the client's order (at most `max_alpn_names`).
    std::vector<std::string> alpn;
    /// legacy_version of the ClientHello body (0x0303 for TLS 1.2 and 1.3 clients).
    std::uint16_t legacy_version = 0;
    /// Bytes of `data` that hold the ClientHello (record headers included), for `tls`.
    std::size_t consumed = 0;
    /// For `malformed`: a short static reason ("session id longer than 32 bytes"); else null.
    const char* error = nullptr;
};

/// Parses the first bytes of a connection. Call again with more bytes while `need_more`.
[[nodiscard]] client_hello parse_client_hello(std::span<const std::byte> data);

}  // namespace outrigger::tls
