// tls/: SAN matching, context factory errors, real TLS handshakes over loopback, session
// resumption and certificate rotation. Certificates are generated once per test-binary run by
// scripts/gen-test-certs.sh into a temporary directory.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "tests/support/generated_certs.hpp"
#include "routing/mesh_model.hpp"
#include "routing/snapshot.hpp"
#include "tls/cert_watcher.hpp"
#include "tls/context_factory.hpp"
#include "tls/detect.hpp"
#include "tls/pem.hpp"
#include "tls/san_verifier.hpp"
#include "tls/session_cache.hpp"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;
using tcp = net::ip::tcp;
using namespace outrigger;
using origination_mode = routing::tls_origination::mode_t;

// ---------------------------------------------------------------------------------------------
// Fixture: generated certificates (once per binary run) and scratch files
// ---------------------------------------------------------------------------------------------

const fs::path& cert_dir() {
    static const outrigger::test::generated_certs certs("outrigger-tls-unit");
    return certs.dir();
}

std::string pem(const std::string& name) {
    return (cert_dir() / (name + ".pem")).string();
}
std::string key(const std::string& name) {
    return (cert_dir() / (name + ".key")).string();
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
}

/// A scratch directory under the generated-certificates directory, removed with it.
fs::path scratch_dir(const std::string& name) {
    fs::path d = cert_dir() / ("scratch-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

routing::tls_source file_source(const std::string& chain, const std::string& private_key = {}) {
    routing::tls_source s;
    s.kind = routing::tls_source::kind_t::file;
    s.kinds_given = 1;
    s.certificate_chain = chain;
    s.private_key = private_key;
    return s;
}

routing::listener_tls server_config(const std::string& leaf, std::optional<std::string> client_ca = {},
                                    std::vector<std::string> client_sans = {}) {
    routing::listener_tls cfg;
    cfg.mode = "STRICT";
    cfg.certificate = file_source(pem(leaf), key(leaf));
    if (client_ca) {
        cfg.validation_trust = file_source(pem(*client_ca));
        cfg.validation_sans = std::move(client_sans);
    }
    return cfg;
}

routing::tls_origination client_config(origination_mode mode, std::vector<std::string> sans = {},
                                       std::optional<std::string> client_cert = {},
                                       std::string sni = "a.shop.svc.cluster.local",
                                       const std::string& trust = "ca") {
    routing::tls_origination cfg;
    cfg.mode = mode;
    cfg.sni = std::move(sni);
    cfg.sans = std::move(sans);
    if (mode == origination_mode::verify) {
        cfg.trust_file = pem(trust);
    }
    if (client_cert) {
        cfg.certificate_chain = pem(*client_cert);
        cfg.private_key = key(*client_cert);
    }
    cfg.source = "test";
    return cfg;
}

tls::server_context_ptr must_server(const routing::listener_tls& cfg) {
    auto r = tls::make_server_context(cfg);
    INFO((r ? std::string() : r.error()));
    REQUIRE(r);
    return std::move(r).value();
}

tls::client_context_ptr must_client(const routing::tls_origination& cfg) {
    auto r = tls::make_client_context(cfg);
    INFO((r ? std::string() : r.error()));
    REQUIRE(r);
    return std::move(r).value();
}

// ---------------------------------------------------------------------------------------------
// Loopback handshake harness: one io_context, a server and a client coroutine, a deadline.
// ---------------------------------------------------------------------------------------------

struct server_outcome {
    bool done = false;
    boost::system::error_code handshake_ec;
    std::string verify_reason;
    std::string sni;
    std::string alpn;
    std::string peer_san_check;  // check_peer_sans(accepted_client_sans)
    std::string peer_fingerprint;
    bool reused = false;
};

struct client_outcome {
    bool done = false;
    std::string prepare_error;
    bool offered_session = false;
    boost::system::error_code handshake_ec;
    boost::system::error_code read_ec;  // reading the server's one-byte greeting
    std::string verify_reason;
    std::string alpn;
    std::string server_fingerprint;
    bool reused = false;
    bool saved_session = false;

    [[nodiscard]] bool ok() const { return done && !handshake_ec && !read_ec; }
};

struct client_options {
    tls::session_cache* cache = nullptr;
    std::string cache_endpoint = "upstream-1";
    /// Drop the last reference to the client context after the stream is made, before the
    /// handshake: the handshake must still enforce the context's policy.
    bool drop_context_before_handshake = false;
};

net::awaitable<void> serve_one(tcp::acceptor& acceptor, tls::server_context_ptr ctx,
                               server_outcome& out) {
    auto [aec, sock] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
    if (aec) {
        out.handshake_ec = aec;
        out.done = true;
        co_return;
    }
    ssl::stream<tcp::socket> stream(std::move(sock), ctx->native());
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server,
                                                 net::as_tuple(net::use_awaitable));
    out.handshake_ec = hec;
    out.verify_reason = tls::verify_failure_reason(stream);
    if (!hec) {
        out.sni = tls::requested_server_name(stream);
        out.alpn = tls::negotiated_alpn(stream);
        out.reused = tls::session_reused(stream);
        out.peer_san_check = tls::check_peer_sans(stream, ctx->accepted_client_sans());
        out.peer_fingerprint = tls::peer_certificate(stream).sha256_fingerprint();
        const char greeting = 'x';
        auto [wec, n] =
            co_await net::async_write(stream, net::buffer(&greeting, 1), net::as_tuple(net::use_awaitable));
        static_cast<void>(wec);  // the client may already have given up; its side is asserted
        static_cast<void>(n);
    }
    out.done = true;
}

net::awaitable<void> connect_one(tcp::endpoint ep, tls::client_context_ptr ctx, client_options opt,
                                 client_outcome& out) {
    ssl::stream<tcp::socket> stream(co_await net::this_coro::executor, ctx->native());
    auto [cec] = co_await stream.next_layer().async_connect(ep, net::as_tuple(net::use_awaitable));
    if (cec) {
        out.handshake_ec = cec;
        out.done = true;
        co_return;
    }
    out.prepare_error = tls::prepare_client_stream(stream, *ctx);
    if (opt.cache != nullptr) {
        out.offered_session = opt.cache->resume(stream, *ctx, opt.cache_endpoint);
    }
    if (opt.drop_context_before_handshake) {
        ctx.reset();
    }
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::client,
                                                 net::as_tuple(net::use_awaitable));
    out.handshake_ec = hec;
    out.verify_reason = tls::verify_failure_reason(stream);
    if (!hec) {
        out.alpn = tls::negotiated_alpn(stream);
        out.server_fingerprint = tls::peer_certificate(stream).sha256_fingerprint();
        char c = 0;
        auto [rec, n] = co_await net::async_read(stream, net::buffer(&c, 1),
                                                 net::as_tuple(net::use_awaitable));
        static_cast<void>(n);
        out.read_ec = rec;
        out.reused = tls::session_reused(stream);
        if (!rec && opt.cache != nullptr && ctx) {
            out.saved_session = opt.cache->save(stream, *ctx, opt.cache_endpoint);
        }
    }
    out.done = true;
}

struct exchange_result {
    server_outcome server;
    client_outcome client;
};

/// One connection: client ↔ server over 127.0.0.1 (port 0), bounded by a 10 s deadline.
exchange_result run_exchange(tls::server_context_ptr server, tls::client_context_ptr client,
                             client_options opt = {}) {
    exchange_result r;
    net::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    const tcp::endpoint ep = acceptor.local_endpoint();
    net::co_spawn(ioc, serve_one(acceptor, std::move(server), r.server), net::detached);
    net::co_spawn(ioc, connect_one(ep, std::move(client), std::move(opt), r.client), net::detached);
    ioc.run_for(std::chrono::seconds(10));
    REQUIRE(r.server.done);  // deadline: both sides must have finished
    REQUIRE(r.client.done);
    return r;
}

}  // namespace

// =============================================================================================
// san_verifier
// =============================================================================================

TEST_CASE("san_matches: exact DNS and URI SANs", "[tls][san]") {
    tls::peer_sans sans;
    sans.dns = {"web.shop.svc.cluster.local", "localhost"};
    sans.uri = {"spiffe://shop.example/ns/shop/sa/web"};

    CHECK(tls::san_matches(sans, {"web.shop.svc.cluster.local"}));
    CHECK(tls::san_matches(sans, {"nope.example", "localhost"}));
    CHECK(tls::san_matches(sans, {"spiffe://shop.example/ns/shop/sa/web"}));
    // DNS compare is case-insensitive and ignores one trailing dot; URIs are exact.
    CHECK(tls::san_matches(sans, {"WEB.Shop.svc.cluster.local."}));
    CHECK_FALSE(tls::san_matches(sans, {"spiffe://shop.example/ns/shop/sa/WEB"}));
    CHECK_FALSE(tls::san_matches(sans, {"spiffe://shop.example/ns/shop/sa/web/"}));
    // A DNS name never matches a URI SAN and vice versa.
    CHECK_FALSE(tls::san_matches(sans, {"shop.example"}));
}

TEST_CASE("san_matches: wildcard certificate SAN covers exactly one left-most label", "[tls][san]") {
    CHECK(tls::dns_san_matches("*.apps.local", "a.apps.local"));
    CHECK(tls::dns_san_matches("*.apps.local", "A.APPS.local"));
    CHECK(tls::dns_san_matches("*.apps.local", "*.apps.local"));  // accepted name equal to the SAN
    CHECK_FALSE(tls::dns_san_matches("*.apps.local", "a.b.apps.local"));
    CHECK_FALSE(tls::dns_san_matches("*.apps.local", "apps.local"));
    CHECK_FALSE(tls::dns_san_matches("*.apps.local", ".apps.local"));
    CHECK_FALSE(tls::dns_san_matches("*.apps.local", "a.apps.localx"));
    CHECK_FALSE(tls::dns_san_matches("*.apps.local", "xapps.local"));
    // Only a whole left-most '*' label is a wildcard, and never directly above one label.
    CHECK_FALSE(tls::dns_san_matches("f*.apps.local", "foo.apps.local"));
    CHECK_FALSE(tls::dns_san_matches("a.*.local", "a.b.local"));
    CHECK_FALSE(tls::dns_san_matches("*.local", "a.local"));
    CHECK_FALSE(tls::dns_san_matches("*", "a"));
    // Accepted names are never patterns.
    CHECK_FALSE(tls::dns_san_matches("a.apps.local", "*.apps.local"));

    tls::peer_sans sans;
    sans.dns = {"*.apps.local"};
    CHECK(tls::san_matches(sans, {"a.apps.local"}));
    CHECK_FALSE(tls::san_matches(sans, {"a.b.apps.local", "apps.local"}));
}

TEST_CASE("san_matches: mismatches, empty lists and the reason text", "[tls][san]") {
    tls::peer_sans sans;
    sans.dns = {"a.shop.svc.cluster.local"};
    CHECK_FALSE(tls::san_matches(sans, {}));
    CHECK_FALSE(tls::san_matches(tls::peer_sans{}, {"a.shop.svc.cluster.local"}));
    CHECK_FALSE(tls::san_matches(sans, {"b.shop.svc.cluster.local", ""}));
    CHECK(tls::san_mismatch_reason(sans, {"a.shop.svc.cluster.local"}).empty());
    const std::string reason = tls::san_mismatch_reason(sans, {"b.shop.svc.cluster.local"});
    CHECK_THAT(reason, Catch::Contains("DNS:a.shop.svc.cluster.local"));
    CHECK_THAT(reason, Catch::Contains("b.shop.svc.cluster.local"));
}

TEST_CASE("extract_sans reads DNS and URI SANs from generated certificates", "[tls][san]") {
    auto server = tls::certificate::load_pem_file(pem("server"));
    REQUIRE(server);
    const tls::peer_sans s = tls::extract_sans(server.value());
    CHECK(s.dns == std::vector<std::string>{"a.shop.svc.cluster.local", "localhost"});
    CHECK(s.uri.empty());  // the IP SAN is not a DNS or URI SAN

    auto batch = tls::certificate::load_pem_file(pem("client-batch"));
    REQUIRE(batch);
    const tls::peer_sans b = tls::extract_sans(batch.value());
    CHECK(b.dns.empty());
    CHECK(b.uri == std::vector<std::string>{"spiffe://shop.example/ns/shop/sa/batch"});

    auto wildcard = tls::certificate::load_pem_file(pem("wildcard"));
    REQUIRE(wildcard);
    CHECK(tls::san_matches(tls::extract_sans(wildcard.value()), {"a.apps.local"}));
    CHECK_FALSE(tls::san_matches(tls::extract_sans(wildcard.value()), {"a.b.apps.local"}));

    CHECK(tls::extract_sans(tls::certificate{}).empty());
    // Copies share the certificate.
    const tls::certificate copy = server.value();
    CHECK(copy.sha256_fingerprint() == server.value().sha256_fingerprint());
    CHECK(copy.sha256_fingerprint().size() == 64);
}

TEST_CASE("certificate loading errors name the file", "[tls][pem]") {
    auto missing = tls::certificate::load_pem_file("/nonexistent/dir/cert.pem");
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error(), Catch::Contains("/nonexistent/dir/cert.pem"));
    CHECK_THAT(missing.error(), Catch::Contains("No such file"));

    auto garbage = tls::certificate::load_pem_file(pem("garbage"));
    REQUIRE_FALSE(garbage);
    CHECK_THAT(garbage.error(), Catch::Contains(pem("garbage")));
    CHECK_THAT(garbage.error(), Catch::Contains("no PEM certificate"));

    auto bad_key = tls::load_private_key_file(pem("garbage"));
    REQUIRE_FALSE(bad_key);
    CHECK_THAT(bad_key.error(), Catch::Contains(pem("garbage")));
}

// =============================================================================================
// context_factory errors
// =============================================================================================

TEST_CASE("make_server_context: errors name the file", "[tls][factory]") {
    SECTION("missing certificate chain") {
        auto cfg = server_config("server");
        cfg.certificate.certificate_chain = "/nonexistent/server.pem";
        auto r = tls::make_server_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains("/nonexistent/server.pem"));
    }
    SECTION("missing private key") {
        auto cfg = server_config("server");
        cfg.certificate.private_key = "/nonexistent/server.key";
        auto r = tls::make_server_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains("/nonexistent/server.key"));
    }
    SECTION("certificate file is not PEM") {
        auto cfg = server_config("server");
        cfg.certificate.certificate_chain = pem("garbage");
        auto r = tls::make_server_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains(pem("garbage")));
    }
    SECTION("empty file") {
        const fs::path empty = scratch_dir("empty") / "empty.pem";
        write_file(empty, "");
        auto cfg = server_config("server");
        cfg.certificate.certificate_chain = empty.string();
        auto r = tls::make_server_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains(empty.string()));
        CHECK_THAT(r.error(), Catch::Contains("empty"));
    }
    SECTION("private key does not match the certificate") {
        auto cfg = server_config("server");
        cfg.certificate.private_key = key("client-web");
        auto r = tls::make_server_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains("does not match"));
        CHECK_THAT(r.error(), Catch::Contains(key("client-web")));
        CHECK_THAT(r.error(), Catch::Contains(pem("server")));
    }
    SECTION("missing client trust bundle") {
        auto cfg = server_config("server", "ca");
        cfg.validation_trust->certificate_chain = "/nonexistent/ca.pem";
        auto r = tls::make_server_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains("/nonexistent/ca.pem"));
    }
    SECTION("SDS source is refused with the field name") {
        auto cfg = server_config("server");
        cfg.certificate.kind = routing::tls_source::kind_t::sds;
        cfg.certificate.secret_name = "spiffe://x";
        auto r = tls::make_server_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains("tls.certificate"));
        CHECK_THAT(r.error(), Catch::Contains("SDS"));
    }
}

TEST_CASE("make_server_context: valid configurations", "[tls][factory]") {
    auto plain = must_server(server_config("server"));
    CHECK_FALSE(plain->requires_client_certificate());
    CHECK(plain->watcher().files().size() == 2);

    auto mutual = must_server(server_config("server", "ca", {"web.shop.svc.cluster.local"}));
    CHECK(mutual->requires_client_certificate());
    CHECK(mutual->accepted_client_sans() == std::vector<std::string>{"web.shop.svc.cluster.local"});
    CHECK(mutual->watcher().files().size() == 3);
    CHECK_THAT(mutual->description(), Catch::Contains(pem("ca")));
}

TEST_CASE("make_client_context: errors and modes", "[tls][factory]") {
    SECTION("plaintext needs no context") {
        auto r = tls::make_client_context(client_config(origination_mode::plaintext));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains("plaintext"));
    }
    SECTION("missing trust file is named") {
        auto cfg = client_config(origination_mode::verify, {"a.shop.svc.cluster.local"});
        cfg.trust_file = "/nonexistent/trust.pem";
        auto r = tls::make_client_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains("/nonexistent/trust.pem"));
    }
    SECTION("client certificate without key") {
        auto cfg = client_config(origination_mode::verify, {"a.shop.svc.cluster.local"});
        cfg.certificate_chain = pem("client-web");
        auto r = tls::make_client_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains(pem("client-web")));
    }
    SECTION("client key does not match") {
        auto cfg = client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}, "client-web");
        cfg.private_key = key("client-batch");
        auto r = tls::make_client_context(cfg);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error(), Catch::Contains("does not match"));
        CHECK_THAT(r.error(), Catch::Contains(key("client-batch")));
    }
    SECTION("verify without SANs falls back to the SNI name") {
        auto ctx = must_client(client_config(origination_mode::verify, {}));
        CHECK(ctx->accepted_sans() == std::vector<std::string>{"a.shop.svc.cluster.local"});
        auto none = tls::make_client_context(client_config(origination_mode::verify, {}, {}, ""));
        CHECK_FALSE(none);
    }
    SECTION("valid contexts get distinct ids") {
        auto a = must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}, "client-web"));
        auto b = must_client(client_config(origination_mode::no_verify));
        CHECK(a->has_client_certificate());
        CHECK_FALSE(b->has_client_certificate());
        CHECK(a->mode() == origination_mode::verify);
        CHECK(b->mode() == origination_mode::no_verify);
        CHECK(a->id() != b->id());
        CHECK(a->watcher().files().size() == 3);
    }
}

// =============================================================================================
// Real handshakes over loopback
// =============================================================================================

TEST_CASE("handshake: verified client and server; SNI and ALPN", "[tls][handshake]") {
    auto server = must_server(server_config("server"));
    auto client = must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}));
    const auto r = run_exchange(server, client);
    INFO(r.client.handshake_ec.message() << " / " << r.client.verify_reason);
    CHECK(r.client.prepare_error.empty());
    CHECK(r.client.ok());
    CHECK_FALSE(r.server.handshake_ec);
    CHECK(r.server.sni == "a.shop.svc.cluster.local");
    CHECK(r.server.alpn == "http/1.1");
    CHECK(r.client.alpn == "http/1.1");
    CHECK(r.client.server_fingerprint ==
          tls::certificate::load_pem_file(pem("server")).value().sha256_fingerprint());
}

TEST_CASE("handshake: an IP-literal SNI is not sent", "[tls][handshake]") {
    auto server = must_server(server_config("server"));
    auto client = must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}, {}, "127.0.0.1"));
    const auto r = run_exchange(server, client);
    CHECK(r.client.ok());
    CHECK(r.server.sni.empty());
}

TEST_CASE("handshake: client refuses a server signed by another CA", "[tls][handshake]") {
    auto server = must_server(server_config("wrong-ca-leaf"));
    auto client = must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}));
    const auto r = run_exchange(server, client);
    CHECK(r.client.handshake_ec);
    CHECK_THAT(r.client.verify_reason, Catch::Contains("local issuer"));
    CHECK(r.server.handshake_ec);
}

TEST_CASE("handshake: client refuses a server whose SANs do not match", "[tls][handshake]") {
    auto server = must_server(server_config("server"));
    auto client = must_client(client_config(origination_mode::verify, {"ledger.shop.svc.cluster.local"}));
    const auto r = run_exchange(server, client);
    CHECK(r.client.handshake_ec);
    CHECK_THAT(r.client.verify_reason, Catch::Contains("mismatch"));
    CHECK(r.server.handshake_ec);
}

TEST_CASE("handshake: client refuses an expired server certificate", "[tls][handshake]") {
    auto server = must_server(server_config("expired"));
    auto client = must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}));
    const auto r = run_exchange(server, client);
    CHECK(r.client.handshake_ec);
    CHECK_THAT(r.client.verify_reason, Catch::Contains("expired"));
}

TEST_CASE("handshake: wildcard server certificate", "[tls][handshake]") {
    auto server = must_server(server_config("wildcard"));
    SECTION("one label under the wildcard is accepted") {
        auto client = must_client(client_config(origination_mode::verify, {"a.apps.local"}, {}, "a.apps.local"));
        CHECK(run_exchange(server, client).client.ok());
    }
    SECTION("two labels are refused") {
        auto client = must_client(client_config(origination_mode::verify, {"a.b.apps.local"}, {}, "a.b.apps.local"));
        CHECK(run_exchange(server, client).client.handshake_ec);
    }
    SECTION("the bare parent domain is refused") {
        auto client = must_client(client_config(origination_mode::verify, {"apps.local"}, {}, "apps.local"));
        CHECK(run_exchange(server, client).client.handshake_ec);
    }
}

TEST_CASE("handshake: no_verify client accepts any server certificate", "[tls][handshake]") {
    for (const char* leaf : {"server", "wrong-ca-leaf", "expired", "wildcard"}) {
        INFO(leaf);
        auto server = must_server(server_config(leaf));
        auto client = must_client(client_config(origination_mode::no_verify));
        const auto r = run_exchange(server, client);
        CHECK(r.client.ok());
        CHECK_FALSE(r.server.handshake_ec);
    }
}

TEST_CASE("mTLS: client certificate required and verified", "[tls][handshake][mtls]") {
    const std::vector<std::string> accepted = {"web.shop.svc.cluster.local",
                                               "spiffe://shop.example/ns/shop/sa/batch"};
    auto server = must_server(server_config("server", "ca", accepted));
    const std::vector<std::string> server_sans = {"a.shop.svc.cluster.local"};

    SECTION("DNS SAN client accepted") {
        const auto r = run_exchange(server, must_client(client_config(origination_mode::verify, server_sans, "client-web")));
        INFO(r.server.handshake_ec.message() << " / " << r.server.verify_reason);
        CHECK(r.client.ok());
        CHECK_FALSE(r.server.handshake_ec);
        CHECK(r.server.peer_san_check.empty());
        CHECK(r.server.peer_fingerprint ==
              tls::certificate::load_pem_file(pem("client-web")).value().sha256_fingerprint());
    }
    SECTION("SPIFFE URI SAN client accepted") {
        const auto r = run_exchange(server, must_client(client_config(origination_mode::verify, server_sans, "client-batch")));
        INFO(r.server.handshake_ec.message() << " / " << r.server.verify_reason);
        CHECK(r.client.ok());
        CHECK_FALSE(r.server.handshake_ec);
        CHECK(r.server.peer_san_check.empty());
    }
    SECTION("no client certificate: refused") {
        const auto r = run_exchange(server, must_client(client_config(origination_mode::verify, server_sans)));
        CHECK(r.server.handshake_ec);
        CHECK_FALSE(r.client.ok());
    }
    SECTION("client certificate from another CA: refused") {
        const auto r = run_exchange(server, must_client(client_config(origination_mode::verify, server_sans, "wrong-ca-leaf")));
        CHECK(r.server.handshake_ec);
        CHECK_THAT(r.server.verify_reason, Catch::Contains("local issuer"));
        CHECK_FALSE(r.client.ok());
    }
    SECTION("client certificate with a SAN not accepted: refused") {
        const auto r = run_exchange(server, must_client(client_config(origination_mode::verify, server_sans, "wildcard")));
        CHECK(r.server.handshake_ec);
        CHECK_THAT(r.server.verify_reason, Catch::Contains("application verification"));
        CHECK_FALSE(r.client.ok());
    }
    SECTION("expired client certificate: refused") {
        const auto r = run_exchange(server, must_client(client_config(origination_mode::verify, server_sans, "expired")));
        CHECK(r.server.handshake_ec);
        CHECK_THAT(r.server.verify_reason, Catch::Contains("expired"));
        CHECK_FALSE(r.client.ok());
    }
}

TEST_CASE("mTLS without a SAN list accepts any client certificate from the CA", "[tls][handshake][mtls]") {
    auto server = must_server(server_config("server", "ca"));
    const auto r = run_exchange(
        server, must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}, "wildcard")));
    CHECK(r.client.ok());
    CHECK(r.server.peer_san_check.empty());
}

TEST_CASE("check_peer_sans after the handshake", "[tls][handshake][mtls]") {
    // The listener accepts any CA-signed client; the proxy then applies a stricter list.
    auto server = must_server(server_config("server", "ca", {"spiffe://shop.example/ns/shop/sa/batch"}));
    const auto r = run_exchange(
        server, must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}, "client-batch")));
    REQUIRE(r.client.ok());
    CHECK(r.server.peer_san_check.empty());
}

TEST_CASE("session resumption on a second connection", "[tls][handshake][session]") {
    auto server = must_server(server_config("server", "ca", {"web.shop.svc.cluster.local"}));
    auto client = must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}, "client-web"));
    tls::session_cache cache(4);
    client_options opt;
    opt.cache = &cache;

    const auto first = run_exchange(server, client, opt);
    REQUIRE(first.client.ok());
    CHECK_FALSE(first.client.offered_session);
    CHECK_FALSE(first.client.reused);
    CHECK(first.client.saved_session);
    CHECK(cache.size() == 1);
    {
        const tls::session probe = cache.get(*client, opt.cache_endpoint);
        CHECK_FALSE(probe.empty());
        CHECK(probe.is_resumable());
    }

    const auto second = run_exchange(server, client, opt);
    INFO(second.server.handshake_ec.message());
    REQUIRE(second.client.ok());
    CHECK(second.client.offered_session);
    CHECK(second.client.reused);
    CHECK(second.server.reused);
    // The peer certificate is kept in the session: the SAN check still works when resumed.
    CHECK(second.server.peer_san_check.empty());

    SECTION("a rebuilt client context does not resume the old context's sessions") {
        auto rebuilt = must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}, "client-web"));
        const auto third = run_exchange(server, rebuilt, opt);
        REQUIRE(third.client.ok());
        CHECK_FALSE(third.client.offered_session);
        CHECK_FALSE(third.client.reused);
    }
    SECTION("a rebuilt server context (new ticket keys) falls back to a full handshake") {
        auto rotated = must_server(server_config("server", "ca", {"web.shop.svc.cluster.local"}));
        const auto third = run_exchange(rotated, client, opt);
        REQUIRE(third.client.ok());
        CHECK(third.client.offered_session);
        CHECK_FALSE(third.client.reused);
    }
}

TEST_CASE("session_cache bookkeeping", "[tls][session]") {
    auto ctx = must_client(client_config(origination_mode::no_verify));
    tls::session_cache cache(2);
    CHECK_FALSE(cache.put(*ctx, "a:1", tls::session{}));  // empty sessions are not stored
    CHECK(cache.size() == 0);
    CHECK(cache.get(*ctx, "a:1").empty());
    cache.erase(*ctx, "a:1");  // no-op
    cache.clear();
    CHECK(cache.size() == 0);
}

// =============================================================================================
// Rotation
// =============================================================================================

TEST_CASE("cert_watcher notices rewritten, replaced and removed files", "[tls][rotation]") {
    const fs::path dir = scratch_dir("watch");
    const fs::path file = dir / "cert.pem";
    write_file(file, slurp(pem("server")));
    const tls::cert_watcher w({file.string()});
    CHECK_FALSE(w.changed());
    CHECK(w.changed_files().empty());

    SECTION("in-place rewrite") {
        write_file(file, slurp(pem("server2")));
        CHECK(w.changed());
        CHECK(w.changed_files() == std::vector<std::string>{file.string()});
    }
    SECTION("rename over (new inode)") {
        const fs::path tmp = dir / "cert.pem.tmp";
        write_file(tmp, slurp(pem("server")));  // same content, new file
        fs::rename(tmp, file);
        CHECK(w.changed());
    }
    SECTION("removed") {
        fs::remove(file);
        CHECK(w.changed());
    }
    SECTION("a missing file appearing is a change too") {
        const tls::cert_watcher later({(dir / "later.pem").string()});
        CHECK_FALSE(later.changed());
        write_file(dir / "later.pem", "x");
        CHECK(later.changed());
    }
}

TEST_CASE("rotation: rebuilt server context serves the new certificate", "[tls][rotation]") {
    const fs::path dir = scratch_dir("rotate");
    const fs::path chain = dir / "cert.pem";
    const fs::path private_key = dir / "key.pem";
    write_file(chain, slurp(pem("server")));
    write_file(private_key, slurp(key("server")));

    routing::listener_tls cfg;
    cfg.mode = "STRICT";
    cfg.certificate = file_source(chain.string(), private_key.string());
    auto old_ctx = must_server(cfg);
    auto client = must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"}));
    CHECK_FALSE(old_ctx->watcher().changed());

    // Half-way through a rotation (new chain, old key): the rebuild fails, the old context stays.
    write_file(chain, slurp(pem("server2")));
    REQUIRE(old_ctx->watcher().changed());
    auto half = tls::make_server_context(cfg);
    REQUIRE_FALSE(half);
    CHECK_THAT(half.error(), Catch::Contains(private_key.string()));
    CHECK(run_exchange(old_ctx, client).client.server_fingerprint ==
          tls::certificate::load_pem_file(pem("server")).value().sha256_fingerprint());

    write_file(private_key, slurp(key("server2")));
    auto new_ctx = must_server(cfg);
    CHECK_FALSE(new_ctx->watcher().changed());
    CHECK(old_ctx->watcher().changed());
    const auto r = run_exchange(new_ctx, client);
    CHECK(r.client.ok());
    CHECK(r.client.server_fingerprint ==
          tls::certificate::load_pem_file(pem("server2")).value().sha256_fingerprint());
}

TEST_CASE("rotation: a stream outlives the last reference to its context", "[tls][rotation]") {
    auto server = must_server(server_config("server"));
    client_options opt;
    opt.drop_context_before_handshake = true;
    SECTION("the SAN policy is still enforced") {
        const auto r = run_exchange(
            server, must_client(client_config(origination_mode::verify, {"ledger.shop.svc.cluster.local"})), opt);
        CHECK(r.client.handshake_ec);
        CHECK_THAT(r.client.verify_reason, Catch::Contains("mismatch"));
    }
    SECTION("and a matching peer still connects") {
        const auto r = run_exchange(
            server, must_client(client_config(origination_mode::verify, {"a.shop.svc.cluster.local"})), opt);
        CHECK(r.client.ok());
    }
}

// =============================================================================================
// PERMISSIVE detection
// =============================================================================================

TEST_CASE("classify_first_bytes tells a ClientHello from plaintext", "[tls][detect]") {
    const auto bytes = [](std::initializer_list<int> v) {
        std::vector<std::byte> out;
        for (int b : v) {
            out.push_back(static_cast<std::byte>(b));
        }
        return out;
    };
    using tls::first_bytes_kind;
    CHECK(tls::classify_first_bytes(bytes({})) == first_bytes_kind::need_more);
    CHECK(tls::classify_first_bytes(bytes({0x16})) == first_bytes_kind::need_more);
    CHECK(tls::classify_first_bytes(bytes({0x16, 0x03})) == first_bytes_kind::need_more);
    CHECK(tls::classify_first_bytes(bytes({0x16, 0x03, 0x01, 0x02, 0x00})) == first_bytes_kind::tls);
    CHECK(tls::classify_first_bytes(bytes({0x16, 0x03, 0x03})) == first_bytes_kind::tls);
    CHECK(tls::classify_first_bytes(bytes({'G', 'E', 'T'})) == first_bytes_kind::plaintext);
    CHECK(tls::classify_first_bytes(bytes({0x16, 'E'})) == first_bytes_kind::plaintext);
    CHECK(tls::classify_first_bytes(bytes({0x16, 0x03, 0x77})) == first_bytes_kind::plaintext);
}
