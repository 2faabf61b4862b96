#include "tls/context_factory.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <utility>

#include <boost/asio/ip/address.hpp>

#include "tls/pem.hpp"

namespace outrigger::tls {

// ---------------------------------------------------------------------------------------------
// Handshake-time policy owned by the SSL_CTX
// ---------------------------------------------------------------------------------------------

namespace {

/// What the verify callback needs. Owned by the SSL_CTX through ex_data and freed with it, so
/// it lives exactly as long as any SSL made from the context (see cert_watcher.hpp).
struct handshake_policy {
    enum class role_t { server, client };
    role_t role = role_t::server;
    std::vector<std::string> accepted_sans;  // empty: chain only
};

void free_policy(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                 void* /*argp*/) {
    delete static_cast<handshake_policy*>(ptr);
}

/// Process-wide ex_data slot, allocated once (thread-safe function-local static of a plain int).
int policy_index() {
    static const int index =
        SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_policy);
    return index;
}

/// SSL_CTX verify callback: OpenSSL's chain verdict, plus the SAN check on the leaf. Fails
/// closed when anything it needs is missing.
int verify_with_sans(int preverified, X509_STORE_CTX* store) {
    if (preverified != 1) {
        return 0;
    }
    if (X509_STORE_CTX_get_error_depth(store) != 0) {
        return 1;  // intermediate/root: chain verification is OpenSSL's
    }
    auto* ssl = static_cast<SSL*>(
        X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (ssl == nullptr) {
        return 0;
    }
    const auto* policy =
        static_cast<const handshake_policy*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), policy_index()));
    if (policy == nullptr) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    if (policy->accepted_sans.empty()) {
        return 1;
    }
    const certificate leaf = certificate::share(X509_STORE_CTX_get0_cert(store));
    if (san_matches(extract_sans(leaf), policy->accepted_sans)) {
        return 1;
    }
    X509_STORE_CTX_set_error(store, policy->role == handshake_policy::role_t::client
                                        ? X509_V_ERR_HOSTNAME_MISMATCH
                                        : X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

constexpr unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char alpn_h2_http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char alpn_h2[] = {2, 'h', '2'};

/// Server ALPN: select our first protocol the client offers (h2 before http/1.1 where the
/// listener speaks HTTP/2); otherwise negotiate no protocol (not fatal: plain HTTP/1.1).
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                const unsigned char* in, unsigned int inlen, void* arg) {
    unsigned char* selected = nullptr;
    const bool h2 = arg != nullptr;
    const unsigned char* ours = h2 ? alpn_h2_http11 : alpn_http11;
    const unsigned int ours_len = h2 ? sizeof alpn_h2_http11 : sizeof alpn_http11;
    if (SSL_select_next_proto(&selected, outlen, ours, ours_len, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

// Mozilla "intermediate" TLS 1.2 suites (forward secret AEAD only); TLS 1.3 uses OpenSSL's
// defaults (all AEAD).
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string quoted(std::string_view s) {
    // Built by append: `"'" + std::string(s)` trips g++ 12's -Wrestrict false positive at -O3
    // (GCC PR 105329) in Release builds.
    std::string out;
    out.reserve(s.size() + 2);
    out += '\'';
    out += s;
    out += '\'';
    return out;
}

std::string openssl_failure(std::string msg) {
    std::string detail = drain_openssl_errors();
    if (!detail.empty()) {
        msg += " (" + detail + ")";
    }
    return msg;
}

result<bool> apply_common_settings(SSL_CTX* ctx) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        return fail(openssl_failure("cannot restrict TLS to version 1.2+"));
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        return fail(openssl_failure("cannot set the TLS 1.2 cipher list"));
    }
    return true;
}

/// Installs the certificate chain (leaf first) and its key. Errors name the files.
result<bool> use_certificate_and_key(SSL_CTX* ctx, const std::string& chain_file,
                                     const std::string& key_file) {
    auto certs = load_certificates_file(chain_file);
    if (!certs) {
        return fail(certs.error());
    }
    auto key = load_private_key_file(key_file);
    if (!key) {
        return fail(key.error());
    }
    auto& chain = certs.value();
    if (SSL_CTX_use_certificate(ctx, chain.front().native_handle()) != 1) {
        return fail(openssl_failure("cannot use the certificate in " + quoted(chain_file)));
    }
    SSL_CTX_clear_chain_certs(ctx);
    for (std::size_t i = 1; i < chain.size(); ++i) {
        if (SSL_CTX_add1_chain_cert(ctx, chain[i].native_handle()) != 1) {
            return fail(openssl_failure("cannot use chain certificate #" + std::to_string(i + 1) +
                                        " in " + quoted(chain_file)));
        }
    }
    // Check the pairing ourselves first: SSL_CTX_use_PrivateKey's own error is cryptic.
    if (X509_check_private_key(chain.front().native_handle(), key.value().get()) != 1) {
        ERR_clear_error();
        return fail("private key " + quoted(key_file) + " does not match the certificate in " +
                    quoted(chain_file));
    }
    if (SSL_CTX_use_PrivateKey(ctx, key.value().get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        return fail(openssl_failure("cannot use private key " + quoted(key_file) + " with " +
                                    quoted(chain_file)));
    }
    return true;
}

/// Loads every certificate of `trust_file` as the context's only trust anchors.
result<std::vector<certificate>> use_trust_bundle(SSL_CTX* ctx, const std::string& trust_file) {
    auto certs = load_certificates_file(trust_file);
    if (!certs) {
        return fail(certs.error());
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (std::size_t i = 0; i < certs.value().size(); ++i) {
        if (X509_STORE_add_cert(store, certs.value()[i].native_handle()) != 1) {
            const unsigned long e = ERR_peek_last_error();
            if (ERR_GET_REASON(e) == X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                ERR_clear_error();  // a duplicate in the bundle is harmless
                continue;
            }
            return fail(openssl_failure("cannot add trusted certificate #" + std::to_string(i + 1) +
                                        " of " + quoted(trust_file)));
        }
    }
    return certs;
}

/// Attaches `policy` to `ctx` (ownership passes to the SSL_CTX) and installs the callback.
result<bool> attach_policy(SSL_CTX* ctx, int verify_mode, handshake_policy policy) {
    const int index = policy_index();
    if (index < 0) {
        return fail(openssl_failure("cannot allocate SSL_CTX ex_data index"));
    }
    auto owned = std::make_unique<handshake_policy>(std::move(policy));
    if (SSL_CTX_set_ex_data(ctx, index, owned.get()) != 1) {
        return fail(openssl_failure("cannot attach the verification policy"));
    }
    static_cast<void>(owned.release());  // now owned by the SSL_CTX (free_policy)
    SSL_CTX_set_verify(ctx, verify_mode, verify_mode == SSL_VERIFY_NONE ? nullptr : &verify_with_sans);
    return true;
}

/// Session id context (max 32 bytes): SHA-256 of the inputs, so sessions of one listener policy
/// are never resumed on another.
result<bool> set_session_id_context(SSL_CTX* ctx, const std::string& material) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int md_len = 0;
    if (EVP_Digest(material.data(), material.size(), md.data(), &md_len, EVP_sha256(), nullptr) != 1) {
        return fail(openssl_failure("cannot hash the session id context"));
    }
    md_len = std::min<unsigned int>(md_len, SSL_MAX_SID_CTX_LENGTH);
    if (SSL_CTX_set_session_id_context(ctx, md.data(), md_len) != 1) {
        return fail(openssl_failure("cannot set the session id context"));
    }
    return true;
}

result<bool> require_file_source(const routing::tls_source& src, std::string_view field,
                                 bool needs_key) {
    switch (src.kind) {
    case routing::tls_source::kind_t::file:
        break;
    case routing::tls_source::kind_t::sds:
        return fail(std::string(field) + ": SDS sources ('" + src.secret_name +
                    "') are not supported; use a file source");
    case routing::tls_source::kind_t::acm:
        return fail(std::string(field) + ": ACM sources are not supported; use a file source");
    case routing::tls_source::kind_t::none:
        return fail(std::string(field) + ": no certificate source given");
    }
    if (src.certificate_chain.empty()) {
        return fail(std::string(field) + ".file.certificateChain is empty");
    }
    if (needs_key && src.private_key.empty()) {
        return fail(std::string(field) + ".file.privateKey is empty");
    }
    return true;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        out += out.empty() ? "" : ",";
        out += s;
    }
    return out;
}

bool is_ip_literal(std::string_view host) {
    boost::system::error_code ec;
    static_cast<void>(boost::asio::ip::make_address(std::string(host), ec));
    return !ec;
}

std::uint64_t next_client_context_id() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Context classes
// ---------------------------------------------------------------------------------------------

struct server_context::parts {
    std::unique_ptr<boost::asio::ssl::context> ctx;
    bool mutual = false;
    std::vector<std::string> sans;
    cert_watcher watcher;
    std::string description;
};

server_context::server_context(parts&& p)
    : ctx_(std::move(p.ctx)),
      mutual_(p.mutual),
      sans_(std::move(p.sans)),
      watcher_(std::move(p.watcher)),
      description_(std::move(p.description)) {}

server_context::~server_context() = default;

struct client_context::parts {
    std::unique_ptr<boost::asio::ssl::context> ctx;
    client_context::mode_t mode = client_context::mode_t::verify;
    std::string sni;
    std::vector<std::string> sans;
    bool has_client_cert = false;
    cert_watcher watcher;
    std::string description;
};

client_context::client_context(parts&& p)
    : ctx_(std::move(p.ctx)),
      mode_(p.mode),
      sni_(std::move(p.sni)),
      sans_(std::move(p.sans)),
      has_client_cert_(p.has_client_cert),
      id_(next_client_context_id()),
      watcher_(std::move(p.watcher)),
      description_(std::move(p.description)) {}

client_context::~client_context() = default;

// ---------------------------------------------------------------------------------------------
// Factories
// ---------------------------------------------------------------------------------------------

namespace {

result<server_context_ptr> build_server_context(const routing::listener_tls& cfg, server_alpn alpn) {
    if (auto ok = require_file_source(cfg.certificate, "tls.certificate", true); !ok) {
        return fail(ok.error());
    }
    const bool mutual = cfg.validation_trust.has_value();
    if (mutual) {
        if (auto ok = require_file_source(*cfg.validation_trust, "tls.validation.trust", false);
            !ok) {
            return fail(ok.error());
        }
    }

    server_context::parts p;
    std::vector<std::string> files = {cfg.certificate.certificate_chain, cfg.certificate.private_key};
    if (mutual) {
        files.push_back(cfg.validation_trust->certificate_chain);
    }
    // Stamp before reading: a rewrite racing this build is seen by the next `changed()`.
    p.watcher = cert_watcher(files);

    ERR_clear_error();
    p.ctx = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
    SSL_CTX* ctx = p.ctx->native_handle();

    if (auto ok = apply_common_settings(ctx); !ok) {
        return fail(ok.error());
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    // The callback's argument says whether h2 is offered (any non-null pointer).
    SSL_CTX_set_alpn_select_cb(ctx, &select_alpn,
                               alpn == server_alpn::h2_and_http11
                                   ? const_cast<unsigned char*>(alpn_h2_http11)
                                   : nullptr);
    if (auto ok = use_certificate_and_key(ctx, cfg.certificate.certificate_chain,
                                          cfg.certificate.private_key);
        !ok) {
        return fail(ok.error());
    }

    handshake_policy policy;
    policy.role = handshake_policy::role_t::server;
    int verify_mode = SSL_VERIFY_NONE;
    if (mutual) {
        const std::string& trust_file = cfg.validation_trust->certificate_chain;
        auto trust = use_trust_bundle(ctx, trust_file);
        if (!trust) {
            return fail(trust.error());
        }
        // Tell clients which CAs we accept (helps clients holding several certificates).
        STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
        if (names != nullptr) {
            for (const auto& ca : trust.value()) {
                X509_NAME* dup = X509_NAME_dup(X509_get_subject_name(ca.native_handle()));
                if (dup != nullptr && sk_X509_NAME_push(names, dup) == 0) {
                    X509_NAME_free(dup);
                }
            }
            SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
        }
        verify_mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        policy.accepted_sans = cfg.validation_sans;
        p.sans = cfg.validation_sans;
    }
    if (auto ok = attach_policy(ctx, verify_mode, std::move(policy)); !ok) {
        return fail(ok.error());
    }
    // Required for resumption with client certificates, and keeps sessions of one listener
    // policy from being resumed under another.
    std::string sid_material = "outrigger-server|" + cfg.certificate.certificate_chain + "|" +
                               cfg.certificate.private_key;
    if (mutual) {
        sid_material += "|" + cfg.validation_trust->certificate_chain + "|" + join(cfg.validation_sans);
    }
    if (auto ok = set_session_id_context(ctx, sid_material); !ok) {
        return fail(ok.error());
    }

    p.mutual = mutual;
    p.description = "server cert " + quoted(cfg.certificate.certificate_chain);
    if (mutual) {
        p.description += ", client CA " + quoted(cfg.validation_trust->certificate_chain) + ", " +
                         (cfg.validation_sans.empty()
                              ? std::string("client SANs not checked")
                              : std::to_string(cfg.validation_sans.size()) + " accepted client SANs");
    } else {
        p.description += ", no client certificate requested";
    }
    ERR_clear_error();
    return std::make_shared<const server_context>(std::move(p));
}

result<client_context_ptr> build_client_context(const routing::tls_origination& cfg) {
    using mode_t = routing::tls_origination::mode_t;
    if (cfg.mode == mode_t::plaintext) {
        return fail("TLS origination (" + cfg.source + ") is plaintext: no TLS context needed");
    }
    const bool has_cert = !cfg.certificate_chain.empty() || !cfg.private_key.empty();
    if (has_cert && (cfg.certificate_chain.empty() || cfg.private_key.empty())) {
        return fail("client certificate needs both a certificate chain and a private key (got " +
                    (cfg.certificate_chain.empty() ? std::string("only the key ") + quoted(cfg.private_key)
                                                   : "only the chain " + quoted(cfg.certificate_chain)) +
                    ")");
    }
    client_context::parts p;
    p.mode = cfg.mode;
    p.sni = cfg.sni;
    if (cfg.mode == mode_t::verify) {
        if (cfg.trust_file.empty()) {
            return fail("TLS origination (" + cfg.source + ") verifies the server but has no trust file");
        }
        p.sans = cfg.sans;
        if (p.sans.empty() && !cfg.sni.empty()) {
            p.sans.push_back(cfg.sni);  // spec §6.5: default to the target's discovery name
        }
        if (p.sans.empty()) {
            return fail("TLS origination (" + cfg.source +
                        ") verifies the server but has neither accepted SANs nor an SNI name");
        }
    }

    std::vector<std::string> files;
    if (cfg.mode == mode_t::verify) {
        files.push_back(cfg.trust_file);
    }
    if (has_cert) {
        files.push_back(cfg.certificate_chain);
        files.push_back(cfg.private_key);
    }
    p.watcher = cert_watcher(files);

    ERR_clear_error();
    p.ctx = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
    SSL_CTX* ctx = p.ctx->native_handle();
    if (auto ok = apply_common_settings(ctx); !ok) {
        return fail(ok.error());
    }
    // Our own per-worker store (session_cache) keeps the sessions; OpenSSL's internal client
    // cache would be shared and locked across workers.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    if (SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11) != 0) {  // 0 = success
        return fail(openssl_failure("cannot set ALPN http/1.1"));
    }
    if (has_cert) {
        if (auto ok = use_certificate_and_key(ctx, cfg.certificate_chain, cfg.private_key); !ok) {
            return fail(ok.error());
        }
        p.has_client_cert = true;
    }
    handshake_policy policy;
    policy.role = handshake_policy::role_t::client;
    int verify_mode = SSL_VERIFY_NONE;
    if (cfg.mode == mode_t::verify) {
        if (auto trust = use_trust_bundle(ctx, cfg.trust_file); !trust) {
            return fail(trust.error());
        }
        verify_mode = SSL_VERIFY_PEER;
        policy.accepted_sans = p.sans;
    }
    if (auto ok = attach_policy(ctx, verify_mode, std::move(policy)); !ok) {
        return fail(ok.error());
    }

    p.description = cfg.mode == mode_t::verify
                        ? "verify server against " + quoted(cfg.trust_file) + ", SANs [" +
                              join(p.sans) + "]"
                        : std::string("no server verification");
    if (has_cert) {
        p.description += ", client cert " + quoted(cfg.certificate_chain);
    }
    if (!cfg.source.empty()) {
        p.description += " (" + cfg.source + ")";
    }
    ERR_clear_error();
    return std::make_shared<const client_context>(std::move(p));
}

}  // namespace

result<server_context_ptr> make_server_context(const routing::listener_tls& cfg, server_alpn alpn) {
    try {
        return build_server_context(cfg, alpn);
    } catch (const std::exception& e) {
        // ssl::context's constructor throws when OpenSSL cannot allocate a context; bad_alloc.
        return fail(std::string("cannot create the server TLS context: ") + e.what());
    }
}

result<client_context_ptr> make_client_context(const routing::tls_origination& cfg) {
    try {
        return build_client_context(cfg);
    } catch (const std::exception& e) {
        return fail(std::string("cannot create the client TLS context: ") + e.what());
    }
}

// ---------------------------------------------------------------------------------------------
// Per-stream helpers
// ---------------------------------------------------------------------------------------------

namespace detail {

std::string prepare_client_ssl(SSL* ssl, const client_context& ctx, std::string_view sni) {
    if (ssl == nullptr) {
        return "no SSL handle";
    }
    const std::string name(sni.empty() ? std::string_view(ctx.sni()) : sni);
    if (name.empty() || is_ip_literal(name)) {
        return {};  // RFC 6066: SNI carries host names only
    }
    if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
        return openssl_failure("cannot set SNI " + quoted(name));
    }
    return {};
}

certificate peer_certificate_ssl(SSL* ssl) {
    return ssl == nullptr ? certificate{} : certificate(SSL_get1_peer_certificate(ssl));
}

std::string check_peer_sans_ssl(SSL* ssl, const std::vector<std::string>& accepted) {
    if (accepted.empty()) {
        return {};
    }
    const certificate peer = peer_certificate_ssl(ssl);
    if (peer.empty()) {
        return "peer presented no certificate";
    }
    return san_mismatch_reason(extract_sans(peer), accepted);
}

std::string verify_failure_reason_ssl(SSL* ssl) {
    if (ssl == nullptr) {
        return {};
    }
    const long r = SSL_get_verify_result(ssl);
    if (r == X509_V_OK) {
        return {};
    }
    return X509_verify_cert_error_string(r);
}

std::string server_name_ssl(SSL* ssl) {
    const char* name = ssl == nullptr ? nullptr : SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    return name == nullptr ? std::string() : std::string(name);
}

std::string alpn_ssl(SSL* ssl) {
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    if (ssl != nullptr) {
        SSL_get0_alpn_selected(ssl, &data, &len);
    }
    return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), len);
}

bool offer_h2_ssl(SSL* ssl) {
    return ssl != nullptr && SSL_set_alpn_protos(ssl, alpn_h2, sizeof alpn_h2) == 0;
}

bool session_reused_ssl(SSL* ssl) {
    return ssl != nullptr && SSL_session_reused(ssl) == 1;
}

}  // namespace detail

}  // namespace outrigger::tls
