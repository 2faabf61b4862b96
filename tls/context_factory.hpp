#pragma once
// Builds the TLS contexts of one snapshot (STYLE.md §2.8): a server context per inbound listener
// with TLS (spec §6.2, §10.8) and a client context per TLS origination policy (spec §6.5, §10.7,
// DECISIONS.md §3.5). Files are read here, so: control thread only.
//
// Thread-affinity: a built context is immutable and shared between workers as
// `std::shared_ptr<const ...>`; `native()` is only for constructing streams (Asio's stream
// constructor wants a non-const `ssl::context&`; nothing may modify it after publication).
//
// Lifetime: a stream keeps its SSL_CTX alive through OpenSSL's own reference count, and all data
// the handshake callbacks use (accepted SANs) is owned by the SSL_CTX, so the last shared_ptr to
// a context may be dropped while streams made from it are still alive (see cert_watcher.hpp for
// the rotation procedure).
//
// Usage, server side (inbound listener with mTLS):
//     auto ctx = tls::make_server_context(*listener.tls);            // control thread
//     if (!ctx) { log(ctx.error()); ... }
//     ssl::stream<tcp::socket> s(std::move(sock), (*ctx)->native()); // worker
//     co_await s.async_handshake(ssl::stream_base::server, ...);     // fails on bad client cert/SAN
// Client side (origination):
//     auto ctx = tls::make_client_context(target.tls);
//     ssl::stream<tcp::socket> s(std::move(sock), (*ctx)->native());
//     if (auto err = tls::prepare_client_stream(s, **ctx); !err.empty()) { ... }  // SNI
//     cache.resume(s, **ctx, endpoint);                                          // optional
//     co_await s.async_handshake(ssl::stream_base::client, ...);  // chain + SAN verified here
//     ... after the first response bytes were read: cache.save(s, **ctx, endpoint);

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <openssl/types.h>

#include "routing/mesh_model.hpp"
#include "routing/snapshot.hpp"
#include "tls/cert_watcher.hpp"
#include "tls/result.hpp"
#include "tls/san_verifier.hpp"

namespace outrigger::tls {

/// Server-side context of one inbound listener. Immutable, shared.
class server_context {
public:
    /// Only for constructing `ssl::stream`s; never modify.
    [[nodiscard]] boost::asio::ssl::context& native() const noexcept { return *ctx_; }
    /// True when the listener has `validation.trust`: a client certificate is required.
    [[nodiscard]] bool requires_client_certificate() const noexcept { return mutual_; }
    /// `validation.subjectAlternativeNames.match.exact` (empty: client SANs not checked).
    [[nodiscard]] const std::vector<std::string>& accepted_client_sans() const noexcept {
        return sans_;
    }
    /// The files this context was built from (rotation).
    [[nodiscard]] const cert_watcher& watcher() const noexcept { return watcher_; }
    /// One line for logs: "server cert '...', client CA '...', 2 accepted SANs".
    [[nodiscard]] const std::string& description() const noexcept { return description_; }

    struct parts;  // construction details, defined in context_factory.cpp
    explicit server_context(parts&& p);
    ~server_context();
    server_context(const server_context&) = delete;
    server_context& operator=(const server_context&) = delete;

private:
    std::unique_ptr<boost::asio::ssl::context> ctx_;
    bool mutual_ = false;
    std::vector<std::string> sans_;
    cert_watcher watcher_;
    std::string description_;
};
using server_context_ptr = std::shared_ptr<const server_context>;

/// Client-side context of one TLS origination policy (verify or no_verify). Immutable, shared.
class client_context {
public:
    using mode_t = routing::tls_origination::mode_t;

    /// Only for constructing `ssl::stream`s; never modify.
    [[nodiscard]] boost::asio::ssl::context& native() const noexcept { return *ctx_; }
    [[nodiscard]] mode_t mode() const noexcept { return mode_; }
    /// SNI sent by `prepare_client_stream` (the origination's `sni`).
    [[nodiscard]] const std::string& sni() const noexcept { return sni_; }
    /// Server SANs accepted in verify mode (empty in no_verify mode).
    [[nodiscard]] const std::vector<std::string>& accepted_sans() const noexcept { return sans_; }
    /// Whether a client certificate is presented when the server asks for one.
    [[nodiscard]] bool has_client_certificate() const noexcept { return has_client_cert_; }
    /// Unique per built context in this process (never reused); part of session-cache keys so a
    /// rebuilt context (new client cert or trust) never resumes a session of the old one.
    [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
    [[nodiscard]] const cert_watcher& watcher() const noexcept { return watcher_; }
    [[nodiscard]] const std::string& description() const noexcept { return description_; }

    struct parts;  // construction details, defined in context_factory.cpp
    explicit client_context(parts&& p);
    ~client_context();
    client_context(const client_context&) = delete;
    client_context& operator=(const client_context&) = delete;

private:
    std::unique_ptr<boost::asio::ssl::context> ctx_;
    mode_t mode_ = mode_t::verify;
    std::string sni_;
    std::vector<std::string> sans_;
    bool has_client_cert_ = false;
    std::uint64_t id_ = 0;
    cert_watcher watcher_;
    std::string description_;
};
using client_context_ptr = std::shared_ptr<const client_context>;

/// Builds the server context of an inbound listener (`listener_tls.mode` is not looked at: the
/// caller decides whether a DISABLED listener needs one). TLS 1.2+, ECDHE+AEAD ciphers for 1.2,
/// session tickets and a server session cache on, ALPN "http/1.1" selected when offered.
/// With `validation_trust` (file): the client must present a certificate that chains to that
/// bundle (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT) and, when `validation_sans` is not
/// empty, carries one of them (checked during the handshake; failure aborts it).
/// Errors (never throws): certificate/trust source not `file` (sds, acm); a file missing,
/// unreadable, empty or without a PEM certificate/key (the message names the file); private key
/// not matching the certificate (names both files); OpenSSL failures.
/// What the server's ALPN selects: http/1.1 only, or h2 first (listeners of protocol http2/grpc).
enum class server_alpn { http11, h2_and_http11 };
[[nodiscard]] result<server_context_ptr> make_server_context(const routing::listener_tls& cfg,
                                                             server_alpn alpn = server_alpn::http11);

/// Builds the client context of a TLS origination. `verify`: `trust_file` loaded as the only
/// trust, SSL_VERIFY_PEER, the server certificate must carry one of `sans` (falls back to `sni`
/// when `sans` is empty; error when both are). `no_verify`: SSL_VERIFY_NONE. Either mode presents
/// `certificate_chain` + `private_key` when given (both or neither). TLS 1.2+, ALPN "http/1.1",
/// client session caching (use `session_cache`).
/// Errors (never throws): `plaintext` mode; files as for `make_server_context`.
[[nodiscard]] result<client_context_ptr> make_client_context(const routing::tls_origination& cfg);

// ---------------------------------------------------------------------------------------------
// Per-stream helpers. `SslStream` is `boost::asio::ssl::stream<T>` or `beast::ssl_stream<T>`
// (anything with `native_handle()` returning SSL*). Worker thread, no I/O.
// ---------------------------------------------------------------------------------------------

namespace detail {
std::string prepare_client_ssl(SSL* ssl, const client_context& ctx, std::string_view sni);
std::string check_peer_sans_ssl(SSL* ssl, const std::vector<std::string>& accepted);
std::string verify_failure_reason_ssl(SSL* ssl);
std::string server_name_ssl(SSL* ssl);
std::string alpn_ssl(SSL* ssl);
bool session_reused_ssl(SSL* ssl);
bool offer_h2_ssl(SSL* ssl);
certificate peer_certificate_ssl(SSL* ssl);
}  // namespace detail

/// Before the client handshake: sets SNI to `sni` (default: `ctx.sni()`; IP literals and empty
/// names send no SNI, RFC 6066). Chain and SAN verification are already armed by the context.
/// Returns "" or the reason (e.g. a name SNI cannot carry).
template <class SslStream>
[[nodiscard]] std::string prepare_client_stream(SslStream& stream, const client_context& ctx,
                                                std::string_view sni = {}) {
    return detail::prepare_client_ssl(stream.native_handle(), ctx, sni);
}

/// After a handshake: "" when the peer's certificate carries one of `accepted` (DNS/URI SANs,
/// wildcard rule of san_verifier.hpp), or when `accepted` is empty; otherwise the reason
/// ("peer presented no certificate", "certificate SANs [...] match none of ..."). Works for
/// resumed sessions too (the peer certificate is kept in the session).
template <class SslStream>
[[nodiscard]] std::string check_peer_sans(SslStream& stream,
                                          const std::vector<std::string>& accepted) {
    return detail::check_peer_sans_ssl(stream.native_handle(), accepted);
}

/// After a failed handshake: OpenSSL's certificate verification result as text ("certificate
/// has expired", "hostname mismatch" for a client-side SAN mismatch, "application verification
/// failure" for a server-side client SAN mismatch), or "" when verification did not fail.
template <class SslStream>
[[nodiscard]] std::string verify_failure_reason(SslStream& stream) {
    return detail::verify_failure_reason_ssl(stream.native_handle());
}

/// Server side, after the handshake: the SNI the client sent ("" if none).
template <class SslStream>
[[nodiscard]] std::string requested_server_name(SslStream& stream) {
    return detail::server_name_ssl(stream.native_handle());
}

/// After the handshake: the negotiated ALPN protocol ("" if none).
template <class SslStream>
[[nodiscard]] std::string negotiated_alpn(SslStream& stream) {
    return detail::alpn_ssl(stream.native_handle());
}

/// Before the client handshake: offer only h2 by ALPN (an upstream listener of protocol http2 or
/// grpc). Returns false when OpenSSL refused the list.
template <class SslStream>
bool offer_h2(SslStream& stream) {
    return detail::offer_h2_ssl(stream.native_handle());
}

/// After the handshake: whether the session was resumed (abbreviated handshake).
template <class SslStream>
[[nodiscard]] bool session_reused(SslStream& stream) {
    return detail::session_reused_ssl(stream.native_handle());
}

/// After the handshake: the peer's certificate (empty when it sent none).
template <class SslStream>
[[nodiscard]] certificate peer_certificate(SslStream& stream) {
    return detail::peer_certificate_ssl(stream.native_handle());
}

}  // namespace outrigger::tls
