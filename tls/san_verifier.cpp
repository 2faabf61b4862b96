#include "tls/san_verifier.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "tls/pem.hpp"

namespace outrigger::tls {

namespace {

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::string_view strip_trailing_dot(std::string_view s) {
    if (!s.empty() && s.back() == '.') {
        s.remove_suffix(1);
    }
    return s;
}

/// IA5 string of a GENERAL_NAME as a string; nullopt-like empty + false when unusable.
bool ia5_to_string(const ASN1_IA5STRING* s, std::string& out) {
    if (s == nullptr) {
        return false;
    }
    const unsigned char* data = ASN1_STRING_get0_data(s);
    const int len = ASN1_STRING_length(s);
    if (data == nullptr || len <= 0) {
        return false;
    }
    out.assign(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len));
    // An embedded NUL is a classic SAN-spoofing trick ("good.example\0.evil"): never usable.
    return out.find('\0') == std::string::npos;
}

struct general_names_deleter {
    void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};

std::string join_limited(const std::vector<std::string>& names) {
    constexpr std::size_t max_listed = 8;
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < max_listed; ++i) {
        if (i != 0) {
            out += ", ";
        }
        out += names[i];
    }
    if (names.size() > max_listed) {
        out += ", ... (" + std::to_string(names.size()) + " in all)";
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// certificate
// ---------------------------------------------------------------------------------------------

certificate::certificate(const certificate& other) noexcept : x509_(other.x509_) {
    if (x509_ != nullptr) {
        X509_up_ref(x509_);
    }
}

certificate& certificate::operator=(const certificate& other) noexcept {
    if (this != &other) {
        certificate copy(other);
        *this = std::move(copy);
    }
    return *this;
}

certificate& certificate::operator=(certificate&& other) noexcept {
    if (this != &other) {
        if (x509_ != nullptr) {
            X509_free(x509_);
        }
        x509_ = other.x509_;
        other.x509_ = nullptr;
    }
    return *this;
}

certificate::~certificate() {
    if (x509_ != nullptr) {
        X509_free(x509_);
    }
}

std::string certificate::sha256_fingerprint() const {
    if (x509_ == nullptr) {
        return {};
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(x509_, EVP_sha256(), md, &len) != 1) {
        return {};
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 0x0f];
    }
    return out;
}

certificate certificate::share(X509* x509) noexcept {
    if (x509 != nullptr) {
        X509_up_ref(x509);
    }
    return certificate(x509);
}

result<certificate> certificate::from_pem(std::string_view pem) {
    auto certs = parse_certificates(pem, "<memory>");
    if (!certs) {
        return fail(certs.error());
    }
    return std::move(certs.value().front());
}

result<certificate> certificate::load_pem_file(const std::string& path) {
    auto certs = load_certificates_file(path);
    if (!certs) {
        return fail(certs.error());
    }
    return std::move(certs.value().front());
}

// ---------------------------------------------------------------------------------------------
// SANs
// ---------------------------------------------------------------------------------------------

std::string peer_sans::to_string() const {
    std::string out;
    for (const auto& d : dns) {
        out += out.empty() ? "" : ", ";
        out += "DNS:" + d;
    }
    for (const auto& u : uri) {
        out += out.empty() ? "" : ", ";
        out += "URI:" + u;
    }
    return out.empty() ? std::string("(no DNS or URI SAN)") : out;
}

peer_sans extract_sans(const certificate& cert) {
    peer_sans out;
    if (cert.empty()) {
        return out;
    }
    std::unique_ptr<GENERAL_NAMES, general_names_deleter> names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert.native_handle(), NID_subject_alt_name, nullptr, nullptr)));
    if (!names) {
        return out;
    }
    const int n = sk_GENERAL_NAME_num(names.get());
    for (int i = 0; i < n; ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
        std::string value;
        if (gn->type == GEN_DNS && ia5_to_string(gn->d.dNSName, value)) {
            out.dns.push_back(std::move(value));
        } else if (gn->type == GEN_URI && ia5_to_string(gn->d.uniformResourceIdentifier, value)) {
            out.uri.push_back(std::move(value));
        }
    }
    return out;
}

bool dns_san_matches(std::string_view cert_name, std::string_view accepted) {
    cert_name = strip_trailing_dot(cert_name);
    accepted = strip_trailing_dot(accepted);
    if (cert_name.empty() || accepted.empty()) {
        return false;
    }
    if (iequals(cert_name, accepted)) {
        return true;  // also covers an accepted "*.x.y" equal to the certificate's "*.x.y"
    }
    if (!cert_name.starts_with("*.")) {
        return false;  // partial wildcards ("f*.x.y") and non-wildcards: exact only
    }
    const std::string_view suffix = cert_name.substr(1);  // ".apps.local"
    // RFC 6125 §7.2 / CA/B: the wildcard must sit above at least two labels ("*.local" is too wide).
    if (suffix.find('.', 1) == std::string_view::npos) {
        return false;
    }
    if (suffix.find('*') != std::string_view::npos) {
        return false;
    }
    if (accepted.size() <= suffix.size()) {
        return false;  // "apps.local" or ".apps.local": the wildcard label would be empty
    }
    const std::string_view head = accepted.substr(0, accepted.size() - suffix.size());
    const std::string_view tail = accepted.substr(accepted.size() - suffix.size());
    // Exactly one label: the part the '*' stands for holds no dot (and no wildcard itself).
    return iequals(tail, suffix) && head.find('.') == std::string_view::npos &&
           head.find('*') == std::string_view::npos;
}

bool san_matches(const peer_sans& cert_sans, const std::vector<std::string>& accepted) {
    for (const auto& want : accepted) {
        if (std::find(cert_sans.uri.begin(), cert_sans.uri.end(), want) != cert_sans.uri.end()) {
            return true;
        }
        for (const auto& dns : cert_sans.dns) {
            if (dns_san_matches(dns, want)) {
                return true;
            }
        }
    }
    return false;
}

std::string san_mismatch_reason(const peer_sans& cert_sans,
                                const std::vector<std::string>& accepted) {
    if (san_matches(cert_sans, accepted)) {
        return {};
    }
    return "certificate SANs [" + cert_sans.to_string() + "] match none of the accepted names [" +
           join_limited(accepted) + "]";
}

}  // namespace outrigger::tls
