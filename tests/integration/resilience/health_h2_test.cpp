// Active health checks over HTTP/2 (spec §10.13): protocol grpc calls grpc.health.v1.Health/Check
// on real gRPC servers (Debian's python3-grpcio, tests/integration/http2/grpc_peer.py) and fails
// an h2 server that is no gRPC one (nghttpd); protocol http2 sends `GET path` in h2 to HTTP/2-only
// servers (python3-h2, tests/integration/http2/h2_peer.py), in h2c and in h2 by ALPN under the
// client policy's TLS. A NOT_SERVING (or UNKNOWN, or failing) server is taken out of rotation and
// re-admitted when it serves again; with nothing left a gRPC call gets UNAVAILABLE [UH].
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resilience_meshes.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/generated_certs.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/shell.hpp"

using namespace outrigger::test;
namespace fs = std::filesystem;

namespace {

const std::string grpc_peer = std::string(OUTRIGGER_SOURCE_DIR) + "/tests/integration/http2/grpc_peer.py";
const std::string h2_peer = std::string(OUTRIGGER_SOURCE_DIR) + "/tests/integration/http2/h2_peer.py";

std::string health_yaml(const std::string& protocol, const std::string& path = {}) {
    std::string y = "      healthCheck:\n        protocol: " + protocol +
                    "\n        healthyThreshold: 2\n        unhealthyThreshold: 2\n"
                    "        intervalMillis: 5000\n        timeoutMillis: 2000\n";
    if (!path.empty()) {
        y += "        path: " + path + "\n";
    }
    return y;
}

/// node_yaml with the listener's protocol changed from http to `protocol`.
std::string node_with(const std::string& protocol, const std::string& hostname,
                      const std::string& listener_extra, const std::vector<std::string>& backends = {},
                      const std::string& name = "n1") {
    std::string y = node_yaml(name, hostname, 8080, "ENDPOINTS", backends, listener_extra);
    const std::string http = "protocol: http\n";
    y.replace(y.find(http), http.size(), "protocol: " + protocol + "\n");
    return y;
}

/// `svc.shop` → router `r` (listener `protocol` 8080; one grpcRoute for test.Echo, or one
/// http2Route for /) → node `n1` (listener `protocol`, with `listener_extra`).
std::string h2_service(const std::string& protocol, const std::string& listener_extra,
                       const std::string& hostname = "n1.test.local") {
    const std::string route = protocol == "grpc" ? "grpcRoute:\n        match: {serviceName: test.Echo}\n"
                                                 : "http2Route:\n        match: {prefix: /}\n";
    return mesh_header() + node_with(protocol, hostname, listener_extra) +
           "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\nmetadata: {name: r, "
           "namespace: shop}\nspec:\n  listeners:\n    - portMapping: {port: 8080, protocol: " +
           protocol + "}\n  routes:\n    - name: main\n      " + route +
           "        action:\n          weightedTargets:\n            - virtualNodeRef: {name: n1}\n"
           "              port: 8080\n              weight: 1\n"
           "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata: {name: svc, "
           "namespace: shop}\nspec:\n  awsName: svc.shop\n  provider:\n    virtualRouter:\n"
           "      virtualRouterRef: {name: r}\n";
}

/// A grpc_peer.py server on a free port whose Health/Check answers what `health` says.
struct grpc_server {
    std::uint16_t port;
    fs::path health;
    child_process proc;
    grpc_server(const scratch_tree& dir, const std::string& name)
        : port(free_loopback_port()),
          health(dir.write(name + ".health", "SERVING\n")),
          proc({"/usr/bin/python3", grpc_peer, "server", std::to_string(port), std::to_string(port),
                "127.0.0.1", health.string()}) {
        REQUIRE(proc.wait_for(std::regex("(ready)"), std::chrono::seconds(20)) == "ready");
    }
    void set(const std::string& status) const { std::ofstream(health) << status << "\n"; }
    [[nodiscard]] int checks() const {
        const std::string log = read_file(health.string() + ".log");
        return static_cast<int>(std::count(log.begin(), log.end(), '\n'));
    }
};

/// `n` unary calls of test.Echo/Who through the egress port: one line each, "OK <port>" or
/// "<STATUS> <details>".
std::string who_calls(std::uint16_t egress, int n) {
    return capture_stdout("/usr/bin/python3 " + grpc_peer + " calls 127.0.0.1:" + std::to_string(egress) +
                          " svc.shop:8080 /test.Echo/Who x " + std::to_string(n) + " 2>&1");
}

std::string all_ok_from(std::uint16_t port, int n) {
    std::string want;
    for (int i = 0; i < n; ++i) {
        want += "OK " + std::to_string(port) + "\n";
    }
    return want;
}

/// tests/integration/http2/h2_peer.py on a free port: HTTP/2 only (h2c, or TLS with ALPN h2
/// when `cert` is given); GET /health answers the status `set` last, other paths "NAME\n".
struct h2_server {
    std::uint16_t port;
    fs::path status;
    child_process proc;
    h2_server(const scratch_tree& dir, const std::string& name, const fs::path& cert = {},
              const fs::path& key = {})
        : port(free_loopback_port()),
          status(dir.write(name + ".status", "200\n")),
          proc([&] {
              std::vector<std::string> a{"/usr/bin/python3", h2_peer, std::to_string(port), name,
                                         status.string()};
              if (!cert.empty()) {
                  a.push_back(cert.string());
                  a.push_back(key.string());
              }
              return a;
          }()) {
        REQUIRE(proc.wait_for(std::regex("(ready)"), std::chrono::seconds(20)) == "ready");
    }
    void set(const std::string& code) const { std::ofstream(status) << code << "\n"; }
    /// Health-check requests it answered (each one an HTTP/2 stream).
    [[nodiscard]] int checks() const {
        const std::string log = read_file(status.string() + ".log");
        return static_cast<int>(std::count(log.begin(), log.end(), '\n'));
    }
};

/// nghttpd (h2c) serving an empty docroot on a free port: every path is a 404 over HTTP/2.
/// -v logs every frame into docroot/nghttpd.log (a file: a pipe nobody reads would stop it).
struct nghttpd {
    std::uint16_t port;
    fs::path log;
    child_process proc;
    explicit nghttpd(const fs::path& docroot)
        : port(free_loopback_port()),
          log(docroot / "nghttpd.log"),
          proc({"/bin/sh", "-c",
                "exec /usr/sbin/nghttpd --no-tls -v -d '" + docroot.string() + "' " +
                    std::to_string(port) + " >'" + log.string() + "' 2>&1"}) {
        // nghttpd says nothing when it is ready: poll until it accepts.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < until) {
            const std::string rc = capture_stdout("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) +
                                                  "' 2>/dev/null && echo up");
            if (rc == "up\n") {
                return;
            }
            ::usleep(20000);
        }
        FAIL("nghttpd did not start");
    }
};

}  // namespace

TEST_CASE("a grpc health check takes a NOT_SERVING server out and re-admits it", "[integration][health][grpc]") {
    scratch_tree dir;
    grpc_server a(dir, "a");
    grpc_server b(dir, "b");
    proxy_options o = to_ports({a.port, b.port});
    o.default_retry = false;
    o.health_check_interval = std::chrono::milliseconds(50);
    proxy_under_test px(h2_service("grpc", health_yaml("grpc")), o);

    // Health/Check calls reach both servers, and both take traffic.
    REQUIRE(eventually([&] { return a.checks() > 0 && b.checks() > 0; }));
    REQUIRE(eventually([&] {
        const std::string out = who_calls(px.egress_port(), 10);
        return out.find("OK " + std::to_string(a.port)) != std::string::npos &&
               out.find("OK " + std::to_string(b.port)) != std::string::npos;
    }, std::chrono::seconds(20)));

    b.set("NOT_SERVING");
    // Out of rotation: eventually ten calls in a row all reach a.
    REQUIRE(eventually([&] { return who_calls(px.egress_port(), 10) == all_ok_from(a.port, 10); },
                       std::chrono::seconds(20)));
    b.set("SERVING");
    // Re-admitted after healthyThreshold SERVING answers.
    REQUIRE(eventually([&] {
        return who_calls(px.egress_port(), 10).find("OK " + std::to_string(b.port)) != std::string::npos;
    }, std::chrono::seconds(20)));

    // UNKNOWN (an empty HealthCheckResponse) and a failed call (grpc-status 14) are failures too:
    // nothing healthy is left, and the caller gets UNAVAILABLE with the proxy's UH flag.
    a.set("UNKNOWN");
    b.set("FAIL");
    REQUIRE(eventually([&] { return who_calls(px.egress_port(), 1).rfind("UNAVAILABLE ", 0) == 0; },
                       std::chrono::seconds(20)));
    const std::string none = who_calls(px.egress_port(), 1);
    CHECK(none.rfind("UNAVAILABLE ", 0) == 0);
    CHECK(none.find("[UH]") != std::string::npos);
}

TEST_CASE("a grpc health check fails an endpoint that speaks no gRPC", "[integration][health][grpc]") {
    // nghttpd answers the Health/Check path with 404 over h2: not a gRPC answer, so unhealthy
    // (a connect check, as before, would have passed). The grpc server stays in rotation.
    scratch_tree dir;
    grpc_server good(dir, "good");
    const fs::path root = dir.path / "www";
    fs::create_directories(root);
    nghttpd plain(root);
    proxy_options o = to_ports({plain.port, good.port});
    o.default_retry = false;
    o.health_check_interval = std::chrono::milliseconds(50);
    proxy_under_test px(h2_service("grpc", health_yaml("grpc")), o);
    REQUIRE(eventually([&] { return who_calls(px.egress_port(), 10) == all_ok_from(good.port, 10); },
                       std::chrono::seconds(20)));
    CHECK(read_file(plain.log).find(":path: /grpc.health.v1.Health/Check") != std::string::npos);
}

TEST_CASE("an http2 health check sends GET path in h2 (h2c)", "[integration][health][h2]") {
    scratch_tree dir;
    h2_server a(dir, "a");
    h2_server b(dir, "b");
    proxy_options o = to_ports({a.port, b.port});
    o.default_retry = false;
    o.health_check_interval = std::chrono::milliseconds(50);
    proxy_under_test px(h2_service("http2", health_yaml("http2", "/health")), o);
    http_client client(px.egress_port());
    const auto who = [&] { return client.get("/who", "svc.shop").body; };

    // The peers speak only h2: these checks pass only because they are HTTP/2.
    REQUIRE(eventually([&] { return a.checks() > 2 && b.checks() > 2; }));
    REQUIRE(eventually([&] {
        bool seen_a = false;
        bool seen_b = false;
        for (int i = 0; i < 10; ++i) {
            const std::string w = who();
            seen_a = seen_a || w == "a\n";
            seen_b = seen_b || w == "b\n";
        }
        return seen_a && seen_b;
    }));
    b.set("503");
    REQUIRE(eventually([&] {
        for (int i = 0; i < 10; ++i) {
            if (who() != "a\n") {
                return false;
            }
        }
        return true;
    }));
    b.set("200");
    REQUIRE(eventually([&] {
        for (int i = 0; i < 10; ++i) {
            if (who() == "b\n") {
                return true;
            }
        }
        return false;
    }));
}

TEST_CASE("an http2 health check under the client policy's TLS is h2 by ALPN", "[integration][health][h2][tls]") {
    generated_certs certs("outrigger-health-certs");
    scratch_tree dir;
    h2_server up(dir, "over TLS", certs.dir() / "server.pem", certs.dir() / "server.key");
    // Node n1 at a.shop.svc.cluster.local (a SAN of server.pem); `web` originates TLS, verifying it.
    std::string y = h2_service("http2", health_yaml("http2", "/health"), "a.shop.svc.cluster.local");
    y += node_yaml("web", "web.test.local", 8081, "LOADBALANCER", {"svc"});
    const std::string backends = "  backends:\n";
    y.insert(y.rfind(backends),
             "  backendDefaults:\n    clientPolicy:\n      tls:\n        enforce: true\n"
             "        validation:\n          trust:\n            file:\n"
             "              certificateChain: " + (certs.dir() / "ca.pem").string() + "\n");
    proxy_options o;
    o.node = "web";
    o.default_retry = false;
    o.health_check_interval = std::chrono::milliseconds(50);
    o.connect_to.push_back(connect_to("a.shop.svc.cluster.local", 8080, up.port));
    proxy_under_test px(y, o);
    http_client client(px.egress_port());

    // The peer offers only h2 by ALPN and speaks only h2.
    REQUIRE(eventually([&] { return up.checks() > 2; }));
    CHECK(client.get("/who", "svc.shop").body == "over TLS\n");
    up.set("500");
    REQUIRE(eventually([&] { return client.get("/who", "svc.shop").status == 503; }));
    const auto r = client.get("/who", "svc.shop");
    CHECK(r.status == 503);
    CHECK(r.body.find("UH") != std::string::npos);
}
