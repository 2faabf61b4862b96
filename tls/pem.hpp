#pragma once
// PEM file loading with error messages that name the file (tls/ internal, but harmless to use).
//
// Files are read whole with ordinary I/O and parsed from memory, so "cannot read" (errno text)
// and "not a valid PEM certificate" are reported distinctly. Control thread only (blocking I/O).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

#include "tls/result.hpp"

namespace outrigger::tls {

class certificate;

struct private_key_deleter {
    void operator()(EVP_PKEY* key) const noexcept;
};
using private_key = std::unique_ptr<EVP_PKEY, private_key_deleter>;

/// Largest file accepted as a certificate bundle or key (a CA bundle is ~200 KiB).
inline constexpr std::size_t max_pem_file_bytes = 4 * 1024 * 1024;

/// Reads a whole file. Error: "cannot read <what> '<path>': <strerror>" or "... is empty".
[[nodiscard]] result<std::string> read_pem_file(const std::string& path, std::string_view what);

/// All PEM certificates in `pem`, in order; at least one. `origin` names the source in errors.
[[nodiscard]] result<std::vector<certificate>> parse_certificates(std::string_view pem,
                                                                  std::string_view origin);
[[nodiscard]] result<std::vector<certificate>> load_certificates_file(const std::string& path);

/// The first private key in `pem` (PKCS#8, SEC1 "EC PRIVATE KEY" or PKCS#1; unencrypted).
[[nodiscard]] result<private_key> parse_private_key(std::string_view pem, std::string_view origin);
[[nodiscard]] result<private_key> load_private_key_file(const std::string& path);

/// Drains OpenSSL's thread-local error queue into one line ("" when it was empty).
[[nodiscard]] std::string drain_openssl_errors();

}  // namespace outrigger::tls
