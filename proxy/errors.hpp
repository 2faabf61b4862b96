#pragma once
// The one error enum of the data path (STYLE §3.4) and its mapping to local replies and
// Envoy-style access-log flags (DECISIONS §4).
//
// Thread-affinity: stateless; safe everywhere.

#include <cstdint>
#include <string_view>
#include <system_error>

#include <boost/system/error_code.hpp>

namespace outrigger::proxy {

enum class errc {
    ok = 0,
    no_route,                   // 404 NR: router matched no route
    egress_denied,              // 404 NR: unmodelled host under DROP_ALL
    connect_denied,             // 403 NR: CONNECT to a host the egress filter refuses
    ambiguous_port,             // 404 NR: no port named, provider has several listeners
    no_listener,                // 404 NR: inbound request for a port this node does not listen on
    no_provider,                // 503 UH: virtual service without provider
    no_endpoint,                // 503 UH: DNS empty / failed
    upstream_connect_failed,    // 503 UF
    upstream_tls_failed,        // 503 UF
    upstream_reset,             // 503 UC: closed or reset before a complete response head
    upstream_timeout,           // 504 UT: per-request deadline
    per_try_timeout,            // 504 UT: per-try deadline (retryable as "no response")
    upstream_protocol_error,    // 502 UPE: unparsable response head
    pool_overflow,              // 503 UO
    downstream_protocol_error,  // 400 DPE
    header_too_large,           // 431 DPE
    body_too_large,             // 413 DPE
    idle_timeout,               // 408 SI
    unsupported,                // 501 DPE: a feature this proxy does not implement yet
    listener_tls_mismatch,      // 403: transport (TLS/plaintext) the node listener's tls.mode refuses
    downstream_reset,           // DC: the client reset its HTTP/2 stream first; nothing is answered
    not_grpc,                   // 415: a request that is not gRPC on a grpc listener or route
};

/// Envoy response flags as a bit set (several may apply to one request, e.g. UF|URX).
enum response_flag : std::uint32_t {
    flag_none = 0,
    flag_nr = 1u << 0,   // no route
    flag_uh = 1u << 1,   // no healthy upstream
    flag_uf = 1u << 2,   // upstream connection failure
    flag_uc = 1u << 3,   // upstream connection termination
    flag_uo = 1u << 4,   // upstream overflow
    flag_ut = 1u << 5,   // upstream request timeout
    flag_urx = 1u << 6,  // retry limit exceeded
    flag_si = 1u << 7,   // stream idle timeout
    flag_dpe = 1u << 8,  // downstream protocol error
    flag_upe = 1u << 9,  // upstream protocol error
    flag_bnr = 1u << 10,  // ours: a retry was due but the body was streamed, not buffered
    flag_dc = 1u << 11,   // downstream connection (stream) termination
};

[[nodiscard]] const boost::system::error_category& proxy_category() noexcept;
[[nodiscard]] boost::system::error_code make_error_code(errc e) noexcept;

/// Local reply parameters of one error: HTTP status and flag.
struct reply_class {
    unsigned status = 500;
    response_flag flag = flag_none;
};
[[nodiscard]] reply_class classify(errc e) noexcept;

/// Writes the flags as Envoy prints them ("UF,URX"; "-" when empty) into `out` (>= 48 bytes);
/// returns the length.
std::size_t format_flags(std::uint32_t flags, char* out) noexcept;

}  // namespace outrigger::proxy

template <>
struct boost::system::is_error_code_enum<outrigger::proxy::errc> : std::true_type {};
