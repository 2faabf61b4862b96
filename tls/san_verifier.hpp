#pragma once
// Subject-alternative-name checks (spec §2.5, §10.7, §10.8; DECISIONS.md §3.5): extract the DNS
// and URI SANs of a certificate and decide whether they match a list of accepted names.
//
// Matching rule:
//   - an accepted name matches a certificate URI SAN by exact, case-sensitive string equality
//     (SPIFFE IDs such as `spiffe://shop.example/ns/shop/sa/batch`);
//   - it matches a certificate DNS SAN by ASCII case-insensitive equality (one trailing dot on
//     either side is ignored);
//   - a wildcard DNS SAN in the *certificate* (`*.apps.local`) matches exactly one left-most
//     label (RFC 6125 §6.4.3): `a.apps.local` yes, `a.b.apps.local` and `apps.local` no. Only a
//     whole `*` label is a wildcard (`f*.apps.local` matches nothing), and the wildcard needs at
//     least two labels after it (`*.local` matches nothing). Accepted names are never patterns,
//     except that an accepted `*.apps.local` equals the certificate SAN `*.apps.local`.
//   - IP address SANs and the subject CN are ignored.
//
// Pure functions, no I/O except `certificate::load_pem_file`. Thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

#include "tls/result.hpp"

namespace outrigger::tls {

/// The SANs of one certificate, in certificate order.
struct peer_sans {
    std::vector<std::string> dns;
    std::vector<std::string> uri;

    [[nodiscard]] bool empty() const { return dns.empty() && uri.empty(); }
    /// "DNS:a.example, URI:spiffe://x/y" (for error messages and logs).
    [[nodiscard]] std::string to_string() const;
};

/// An X509 certificate, owned (RAII). Copies share the certificate (OpenSSL reference count).
/// Immutable; safe to share between threads.
class certificate {
public:
    certificate() = default;
    /// Takes ownership of `x509` (no reference is added).
    explicit certificate(X509* x509) noexcept : x509_(x509) {}
    certificate(const certificate& other) noexcept;
    certificate& operator=(const certificate& other) noexcept;
    certificate(certificate&& other) noexcept : x509_(other.x509_) { other.x509_ = nullptr; }
    certificate& operator=(certificate&& other) noexcept;
    ~certificate();

    /// Parses the first PEM certificate in `pem`.
    [[nodiscard]] static result<certificate> from_pem(std::string_view pem);
    /// Reads `path` and parses its first PEM certificate. Errors name the file.
    [[nodiscard]] static result<certificate> load_pem_file(const std::string& path);
    /// Shares a borrowed X509* (adds a reference). Null gives an empty certificate.
    [[nodiscard]] static certificate share(X509* x509) noexcept;

    [[nodiscard]] bool empty() const noexcept { return x509_ == nullptr; }
    /// Lower-case hex SHA-256 of the DER encoding ("" for an empty certificate); for logs and
    /// for telling two certificates apart.
    [[nodiscard]] std::string sha256_fingerprint() const;
    /// The X509*, still owned by this object. For tls/ internals only.
    [[nodiscard]] X509* native_handle() const noexcept { return x509_; }

private:
    X509* x509_ = nullptr;
};

/// DNS and URI SANs of `cert` (empty for an empty certificate). SAN entries containing NUL bytes
/// or that are not valid IA5 strings are skipped (they can never match).
[[nodiscard]] peer_sans extract_sans(const certificate& cert);

/// True when the certificate DNS SAN `cert_name` (possibly a wildcard) covers `accepted`.
[[nodiscard]] bool dns_san_matches(std::string_view cert_name, std::string_view accepted);

/// True when any accepted name matches any SAN of the certificate (rules above). An empty
/// `accepted` list matches nothing: callers decide whether "no list" means "no check".
[[nodiscard]] bool san_matches(const peer_sans& cert_sans, const std::vector<std::string>& accepted);

/// "" when `san_matches`, otherwise a one-line reason naming the certificate SANs and the
/// accepted names (truncated when long).
[[nodiscard]] std::string san_mismatch_reason(const peer_sans& cert_sans,
                                              const std::vector<std::string>& accepted);

}  // namespace outrigger::tls
