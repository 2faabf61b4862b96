#pragma once
// PERMISSIVE listeners (spec §6.2, §10.8 step 2) accept TLS or plaintext on the same port: the
// proxy peeks at the first bytes of a connection and asks this function which one it is.
//
// Pure, no I/O, thread-safe.

#include <cstddef>
#include <span>

namespace outrigger::tls {

enum class first_bytes_kind {
    tls,        // a TLS record header carrying a handshake message (ClientHello)
    plaintext,  // anything else (e.g. "GET / HTTP/1.1")
    need_more,  // fewer than 3 bytes, and the ones seen are consistent with TLS
};

/// Classifies the first bytes a client sent: TLS when they start with a handshake record
/// (content type 0x16) of protocol major version 3 (SSL 3.0 .. TLS 1.3 record layer).
[[nodiscard]] first_bytes_kind classify_first_bytes(std::span<const std::byte> data) noexcept;

}  // namespace outrigger::tls
