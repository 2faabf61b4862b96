// mTLS through the proxy (issue 5; spec §6.2, §6.5, §10.7–10.8, §11.4): two outrigger sidecars
// in-process (client sidecar egress → server sidecar ingress with STRICT mTLS → app), with curl,
// `openssl s_client` and `openssl s_server` as independent peers. Certificates are generated at
// test time by scripts/gen-test-certs.sh into a temporary directory.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <catch2/catch.hpp>

#include "tests/support/generated_certs.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"
#include "tls/context_factory.hpp"
#include "tls/san_verifier.hpp"

extern char** environ;

using namespace outrigger;
using namespace outrigger::test;
namespace fs = std::filesystem;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

constexpr const char* server_host = "a.shop.svc.cluster.local";  // SAN of server.pem

// ---- certificates ---------------------------------------------------------------------------

const fs::path& certs() {
    static const outrigger::test::generated_certs c("outrigger-mtls");
    return c.dir();
}

std::string pem(const std::string& name) { return (certs() / (name + ".pem")).string(); }
std::string key(const std::string& name) { return (certs() / (name + ".key")).string(); }

/// A scratch directory for files a test rewrites (rotation).
class scratch_dir {
public:
    scratch_dir() {
        static int n = 0;
        dir_ = fs::temp_directory_path() /
               ("outrigger-mtls-scratch-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
        fs::create_directories(dir_);
    }
    ~scratch_dir() {
        std::error_code ec;
        fs::remove_all(dir_, ec);  // best effort
    }
    [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }

private:
    fs::path dir_;
};

/// Replaces `to` by a copy of `from` atomically (write a temp file, rename over), as a
/// certificate manager would.
void install_file(const std::string& from, const std::string& to) {
    const std::string tmp = to + ".tmp";
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, to);
}

// ---- meshes -----------------------------------------------------------------------------------

struct server_side {
    std::string mode = "STRICT";
    std::string cert = pem("server");
    std::string cert_key = key("server");
    bool require_client_cert = true;
    std::vector<std::string> client_sans = {"web.shop.svc.cluster.local",
                                            "spiffe://shop.example/ns/shop/sa/batch"};
};

struct client_side {
    bool policy = true;  // backendDefaults.clientPolicy.tls present
    std::string cert = "client-web";  // "" = no client certificate
    std::string trust = "ca";
    std::vector<std::string> sans = {server_host};
};

std::string yaml_list(const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        out += (i == 0 ? "\"" : ", \"") + v[i] + "\"";
    }
    return out + "]";
}

/// §11.4 shaped: node `ledger` (hostname a.shop.svc.cluster.local, listener `port`) with
/// listener TLS, virtual service `ledger` on it, node `web` whose backendDefaults originate TLS.
std::string mtls_mesh(std::uint16_t port, const server_side& srv, const client_side& cli) {
    std::string y = mesh_header();
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: ledger\n"
         "  namespace: shop\nspec:\n  podSelector:\n    matchLabels: {app: ledger}\n"
         "  listeners:\n    - portMapping: {port: " + std::to_string(port) + ", protocol: http}\n";
    if (!srv.mode.empty()) {
        y += "      tls:\n        mode: " + srv.mode +
             "\n        certificate:\n          file:\n            certificateChain: " + srv.cert +
             "\n            privateKey: " + srv.cert_key + "\n";
        if (srv.require_client_cert) {
            y += "        validation:\n          trust:\n            file:\n"
                 "              certificateChain: " + pem("ca") + "\n";
            if (!srv.client_sans.empty()) {
                y += "          subjectAlternativeNames:\n            match:\n              exact: " +
                     yaml_list(srv.client_sans) + "\n";
            }
        }
    }
    y += "  serviceDiscovery: {dns: {hostname: " + std::string(server_host) + "}}\n";
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata:\n  name: ledger\n"
         "  namespace: shop\nspec:\n  awsName: " + std::string(server_host) +
         "\n  provider:\n    virtualNode:\n      virtualNodeRef: {name: ledger}\n";
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: web\n"
         "  namespace: shop\nspec:\n  podSelector:\n    matchLabels: {app: web}\n"
         "  listeners:\n    - portMapping: {port: 8080, protocol: http}\n"
         "  serviceDiscovery: {dns: {hostname: web.shop.svc.cluster.local}}\n";
    if (cli.policy) {
        y += "  backendDefaults:\n    clientPolicy:\n      tls:\n        enforce: true\n";
        if (!cli.cert.empty()) {
            y += "        certificate:\n          file:\n            certificateChain: " +
                 pem(cli.cert) + "\n            privateKey: " + key(cli.cert) + "\n";
        }
        y += "        validation:\n          trust:\n            file:\n"
             "              certificateChain: " + pem(cli.trust) + "\n";
        if (!cli.sans.empty()) {
            y += "          subjectAlternativeNames:\n            match:\n              exact: " +
                 yaml_list(cli.sans) + "\n";
        }
    }
    y += "  backends:\n    - virtualService:\n        virtualServiceRef: {name: ledger}\n";
    return y;
}

proxy_options server_opts() {
    proxy_options o;
    o.node = "ledger";
    return o;
}

/// Client sidecar whose upstream `server_host:port` is really 127.0.0.1:`to_port`.
proxy_options client_opts(std::uint16_t port, std::uint16_t to_port) {
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to(server_host, port, to_port)};
    return o;
}

std::string host_port(std::uint16_t port) { return std::string(server_host) + ":" + std::to_string(port); }

// ---- external peers ------------------------------------------------------------------------

std::string run_capture(const std::string& cmd) {
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f != nullptr);
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
        out.append(buf, n);
    }
    ::pclose(f);
    return out;
}

/// curl over TLS to 127.0.0.1:port (name a.shop.svc.cluster.local), trusting the test CA, with
/// an optional client certificate. Returns the HTTP status ("000" when the handshake failed).
std::string curl_tls(std::uint16_t port, const std::string& client_cert) {
    std::string cmd = "curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert '" + pem("ca") +
                      "' --resolve " + host_port(port) + ":127.0.0.1 ";
    if (!client_cert.empty()) {
        cmd += "--cert '" + pem(client_cert) + "' --key '" + key(client_cert) + "' ";
    }
    cmd += "https://" + host_port(port) + "/ 2>/dev/null";
    return run_capture(cmd);
}

/// sha256 fingerprint of the certificate the server at 127.0.0.1:port presents to a new
/// connection (`openssl s_client` with the web client certificate).
std::string presented_fingerprint(std::uint16_t port) {
    const std::string cmd = "openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                            " -servername " + server_host + " -CAfile '" + pem("ca") + "' -cert '" +
                            pem("client-web") + "' -key '" + key("client-web") +
                            "' </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 "
                            "2>/dev/null";
    return run_capture(cmd);
}

std::string file_fingerprint(const std::string& file) {
    return run_capture("openssl x509 -noout -fingerprint -sha256 -in '" + file + "'");
}

/// `openssl s_server -www` on a kernel-chosen port: an independent TLS upstream whose status
/// page says whether the session was "New" or "Reused".
class s_server {
public:
    explicit s_server(const std::string& cert, const std::string& cert_key) {
        std::vector<std::string> args = {"/usr/bin/openssl", "s_server", "-accept", "0", "-www",
                                         "-cert", cert, "-key", cert_key, "-naccept", "1000"};
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        // Its alert messages are expected noise in the refusal tests.
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        REQUIRE(::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) == 0);
        posix_spawn_file_actions_destroy(&fa);
        ::close(fds[1]);
        out_ = fds[0];
        // "ACCEPT [::]:PORT" (deadline 10 s)
        std::string text;
        const std::regex re(R"(ACCEPT .*:(\d+))");
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            std::smatch m;
            if (std::regex_search(text, m, re)) {
                port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
                return;
            }
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, 1000) <= 0) {
                continue;
            }
            char buf[512];
            const ssize_t n = ::read(out_, buf, sizeof(buf));
            if (n <= 0) {
                break;
            }
            text.append(buf, static_cast<std::size_t>(n));
        }
        FAIL("openssl s_server did not report its port: " << text);
    }
    ~s_server() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(out_);
    }
    s_server(const s_server&) = delete;
    s_server& operator=(const s_server&) = delete;
    [[nodiscard]] std::uint16_t port() const { return port_; }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    std::uint16_t port_ = 0;
};

/// A blocking TLS client with a kept-alive connection (socket timeouts of 10 s on every call).
class tls_keepalive_client {
public:
    tls_keepalive_client(std::uint16_t port, const std::string& client_cert)
        : ctx_(make_context(client_cert)), stream_(ioc_, ctx_) {
        auto& sock = beast::get_lowest_layer(stream_);
        sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
        timeval tv{10, 0};
        ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        stream_.handshake(ssl::stream_base::client);
    }
    unsigned get() {
        http::request<http::empty_body> req{http::verb::get, "/", 11};
        req.set(http::field::host, server_host);
        http::write(stream_, req);
        http::response<http::string_body> res;
        http::read(stream_, buf_, res);
        return res.result_int();
    }
    std::string fingerprint() { return tls::peer_certificate(stream_).sha256_fingerprint(); }

private:
    /// Configured before the stream exists: an SSL copies its context's certificate when made.
    static ssl::context make_context(const std::string& client_cert) {
        ssl::context ctx(ssl::context::tls_client);
        ctx.load_verify_file(pem("ca"));
        ctx.use_certificate_chain_file(pem(client_cert));
        ctx.use_private_key_file(key(client_cert), ssl::context::pem);
        ctx.set_verify_mode(ssl::verify_peer);
        return ctx;
    }
    net::io_context ioc_;
    ssl::context ctx_;
    beast::ssl_stream<tcp::socket> stream_;
    beast::flat_buffer buf_;
};

/// "sha256 Fingerprint=AB:CD:..." → "abcd..." for comparison with certificate::sha256_fingerprint.
std::string normalise_fp(const std::string& s) {
    std::string out;
    const auto eq = s.find('=');
    for (char ch : s.substr(eq == std::string::npos ? 0 : eq + 1)) {
        if (std::isxdigit(static_cast<unsigned char>(ch)) != 0) {
            out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
        }
    }
    return out;
}

}  // namespace

// ---- end to end -----------------------------------------------------------------------------

TEST_CASE("mtls: a correct pair works end to end through two sidecars", "[integration][mtls]") {
    test_upstream app;
    const auto yaml = mtls_mesh(app.port(), server_side{}, client_side{});
    proxy_under_test server(yaml, server_opts());
    proxy_under_test client(yaml, client_opts(app.port(), server.ingress_port()));

    http_client c(client.egress_port());
    for (int i = 0; i < 3; ++i) {
        const auto r = c.get("/hello", host_port(app.port()));
        REQUIRE(r.ok);
        CHECK(r.status == 200);
    }
    CHECK(app.requests() == 3);
    // The server sidecar terminated TLS: it tells the app the original scheme.
    CHECK(app.last_request()["x-forwarded-proto"] == "https");
}

TEST_CASE("mtls: curl with the web or SPIFFE client certificate reaches the app through STRICT",
          "[integration][mtls]") {
    test_upstream app;
    proxy_under_test server(mtls_mesh(app.port(), server_side{}, client_side{}), server_opts());
    CHECK(curl_tls(server.ingress_port(), "client-web") == "200");
    CHECK(curl_tls(server.ingress_port(), "client-batch") == "200");
    CHECK(app.requests() == 2);
}

// ---- server side refusals ------------------------------------------------------------------

TEST_CASE("mtls: STRICT rejects plaintext", "[integration][mtls]") {
    test_upstream app;
    proxy_under_test server(mtls_mesh(app.port(), server_side{}, client_side{}), server_opts());
    const auto r = http_get(server.ingress_port(), host_port(app.port()), "/");
    CHECK_FALSE(r.ok);
    CHECK(app.requests() == 0);
}

TEST_CASE("mtls: STRICT refuses missing wrong CA wrong SAN and expired client certificates",
          "[integration][mtls]") {
    test_upstream app;
    server_side srv;
    srv.client_sans = {"web.shop.svc.cluster.local"};  // client-batch (SPIFFE) is the wrong SAN
    proxy_under_test server(mtls_mesh(app.port(), srv, client_side{}), server_opts());
    const auto port = server.ingress_port();
    CHECK(curl_tls(port, "") == "000");               // missing
    CHECK(curl_tls(port, "wrong-ca-leaf") == "000");  // wrong CA
    CHECK(curl_tls(port, "client-batch") == "000");   // wrong SAN
    CHECK(curl_tls(port, "expired") == "000");        // expired
    CHECK(app.requests() == 0);
    CHECK(curl_tls(port, "client-web") == "200");     // and the right one still works
    CHECK(app.requests() == 1);
}

TEST_CASE("mtls: PERMISSIVE serves both plaintext and TLS", "[integration][mtls]") {
    test_upstream app;
    server_side srv;
    srv.mode = "PERMISSIVE";
    proxy_under_test server(mtls_mesh(app.port(), srv, client_side{}), server_opts());
    const auto r = http_get(server.ingress_port(), host_port(app.port()), "/");
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    CHECK(app.last_request()["x-forwarded-proto"] == "http");
    CHECK(curl_tls(server.ingress_port(), "client-web") == "200");
    CHECK(app.last_request()["x-forwarded-proto"] == "https");
    // PERMISSIVE still validates the client certificates of TLS clients.
    CHECK(curl_tls(server.ingress_port(), "wrong-ca-leaf") == "000");
    CHECK(app.requests() == 2);
}

TEST_CASE("mtls: DISABLED serves plaintext only", "[integration][mtls]") {
    test_upstream app;
    server_side srv;
    srv.mode = "DISABLED";
    proxy_under_test server(mtls_mesh(app.port(), srv, client_side{}), server_opts());
    const auto r = http_get(server.ingress_port(), host_port(app.port()), "/");
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    CHECK(curl_tls(server.ingress_port(), "client-web") == "000");
}

// ---- client side refusals ------------------------------------------------------------------

namespace {

/// One request through a client sidecar toward an `openssl s_server` presenting `cert`.
client_response via_client_sidecar_to_s_server(const std::string& cert, const client_side& cli) {
    s_server up(pem(cert), key(cert));
    const auto yaml = mtls_mesh(up.port(), server_side{}, cli);
    proxy_under_test client(yaml, client_opts(up.port(), up.port()));
    return http_get(client.egress_port(), host_port(up.port()), "/");
}

}  // namespace

TEST_CASE("mtls: origination verifies the upstream certificate against trust and SANs",
          "[integration][mtls]") {
    SECTION("a good server certificate is accepted") {
        const auto r = via_client_sidecar_to_s_server("server", client_side{});
        REQUIRE(r.ok);
        CHECK(r.status == 200);
        CHECK(r.body.find("s_server") != std::string::npos);
    }
    SECTION("wrong CA is a connection failure 503 UF with the reason") {
        const auto r = via_client_sidecar_to_s_server("wrong-ca-leaf", client_side{});
        REQUIRE(r.ok);
        CHECK(r.status == 503);
        CHECK(r.body.find("UF") != std::string::npos);
        CHECK(r.body.find("TLS handshake failed") != std::string::npos);
        CHECK(r.body.find("certificate") != std::string::npos);
    }
    SECTION("expired server certificate is refused") {
        const auto r = via_client_sidecar_to_s_server("expired", client_side{});
        REQUIRE(r.ok);
        CHECK(r.status == 503);
        CHECK(r.body.find("UF") != std::string::npos);
        CHECK(r.body.find("expired") != std::string::npos);
    }
    SECTION("wrong SAN is refused") {
        client_side cli;
        cli.sans = {"ledger.other.svc.cluster.local"};
        const auto r = via_client_sidecar_to_s_server("server", cli);
        REQUIRE(r.ok);
        CHECK(r.status == 503);
        CHECK(r.body.find("UF") != std::string::npos);
        CHECK(r.body.find("TLS handshake failed") != std::string::npos);
    }
}

TEST_CASE("mtls: origination without a client certificate is refused by a STRICT sidecar",
          "[integration][mtls]") {
    test_upstream app;
    client_side cli;
    cli.cert.clear();
    const auto yaml = mtls_mesh(app.port(), server_side{}, cli);
    proxy_under_test server(yaml, server_opts());
    proxy_under_test client(yaml, client_opts(app.port(), server.ingress_port()));
    const auto r = http_get(client.egress_port(), host_port(app.port()), "/");
    REQUIRE(r.ok);
    // TLS 1.3: the server refuses the certificate after the client's handshake finished, so the
    // client sidecar sees either a failed handshake (UF) or a reset before any response (UC).
    CHECK(r.status == 503);
    CHECK(app.requests() == 0);
}

TEST_CASE("mtls: upstream TLS sessions are resumed", "[integration][mtls]") {
    s_server up(pem("server"), key("server"));
    const auto yaml = mtls_mesh(up.port(), server_side{}, client_side{});
    proxy_under_test client(yaml, client_opts(up.port(), up.port()));
    // s_server -www closes after each response, so every request is a new connection; its status
    // page reports "New" or "Reused" for the session.
    const auto first = http_get(client.egress_port(), host_port(up.port()), "/");
    REQUIRE(first.ok);
    REQUIRE(first.status == 200);
    CHECK(first.body.find("New, ") != std::string::npos);
    const auto second = http_get(client.egress_port(), host_port(up.port()), "/");
    REQUIRE(second.ok);
    REQUIRE(second.status == 200);
    CHECK(second.body.find("Reused, ") != std::string::npos);
}

// ---- rotation -------------------------------------------------------------------------------

TEST_CASE("mtls: rotated server certificate is used by new connections while a kept-alive one "
          "keeps working",
          "[integration][mtls]") {
    test_upstream app;
    scratch_dir scratch;
    const std::string cert = scratch.path("ledger.pem");
    const std::string cert_key = scratch.path("ledger.key");
    install_file(pem("server"), cert);
    install_file(key("server"), cert_key);
    server_side srv;
    srv.cert = cert;
    srv.cert_key = cert_key;
    proxy_under_test server(mtls_mesh(app.port(), srv, client_side{}), server_opts());
    const auto port = server.ingress_port();
    const std::string old_fp = normalise_fp(file_fingerprint(pem("server")));
    const std::string new_fp = normalise_fp(file_fingerprint(pem("server2")));
    REQUIRE(old_fp != new_fp);

    tls_keepalive_client old_conn(port, "client-web");
    CHECK(old_conn.get() == 200);
    CHECK(normalise_fp(old_conn.fingerprint()) == old_fp);

    // A half-written rotation (garbage key) is not published: the old certificate stays.
    install_file(pem("server2"), cert);
    install_file(pem("garbage"), cert_key);
    CHECK_FALSE(server.server().tls_rotation()->check_now());
    CHECK(normalise_fp(presented_fingerprint(port)) == old_fp);

    // The complete rotation: picked up by the 1 s timer (polled with a generous deadline).
    install_file(key("server2"), cert_key);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::string seen;
    while (std::chrono::steady_clock::now() < deadline) {
        seen = normalise_fp(presented_fingerprint(port));
        if (seen == new_fp) {
            break;
        }
    }
    CHECK(seen == new_fp);
    CHECK(curl_tls(port, "client-web") == "200");

    // The connection made before the rotation still works, on its old certificate.
    CHECK(old_conn.get() == 200);
    CHECK(normalise_fp(old_conn.fingerprint()) == old_fp);
}
