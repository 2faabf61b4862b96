// HTTP/2 end to end (issue 15): the real `outrigger` binary with real HTTP/2 peers. Clients:
// curl --http2-prior-knowledge, nghttp, h2load. Upstreams: nghttpd (h2c) for node listeners of
// protocol http2, and the in-process HTTP/1.1 test upstream for http listeners.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/child_process.hpp"
#include "tests/support/generated_certs.hpp"
#include "tests/support/http_client.hpp"  // OUTRIGGER_TEST_ASAN
#include "tests/support/shell.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;
namespace fs = std::filesystem;

namespace {

/// Output and errors of a command (curl, nghttp, h2load and the gRPC peer report on both).
std::string run_capture(const std::string& cmd) { return capture_stdout(cmd + " 2>&1"); }

std::uint16_t free_port() { return free_loopback_port(); }

/// nghttpd (h2c) serving `docroot` on a free port; -v prints every frame with its session id
/// into `log` (a file: a pipe nobody reads would stop it).
struct nghttpd {
    std::uint16_t port;
    fs::path log;
    child_process proc;
    nghttpd(const fs::path& docroot, std::uint16_t p)
        : port(p),
          log(docroot / "nghttpd.log"),
          proc({"/bin/sh", "-c",
                "exec /usr/sbin/nghttpd --no-tls -v -d '" + docroot.string() + "' " +
                    std::to_string(p) + " >'" + (docroot / "nghttpd.log").string() + "' 2>&1"}) {
        // Ready once it accepts: curl with prior knowledge until it answers.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < until) {
            if (run_capture("curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge "
                            "http://127.0.0.1:" + std::to_string(port) + "/ready.txt") == "200") {
                return;
            }
            ::usleep(20000);
        }
        FAIL("nghttpd did not start");
    }
};

std::string node(const std::string& name, const std::string& protocol, std::uint16_t port,
                 const std::string& backends = {}) {
    return "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: {name: " + name +
           ", namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: " + name +
           "}}\n  listeners:\n    - portMapping: {port: " + std::to_string(port) +
           ", protocol: " + protocol + "}\n  serviceDiscovery: {dns: {hostname: " + name +
           ".test.local}}\n" + backends;
}

const std::string mesh_head = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: shop}
spec:
  namespaceSelector: {matchLabels: {mesh: shop}}
  egressFilter: {type: DROP_ALL}
)";

/// `svc.shop` → router (protocol `router_proto`) → node `svc` whose listener is `node_proto` on
/// `port`; `web` is the client node with it as backend.
std::string mesh_yaml(const std::string& router_proto, const std::string& node_proto, std::uint16_t port) {
    const std::string route_kind = router_proto == "http2" ? "http2Route" : "httpRoute";
    return mesh_head + node("svc", node_proto, port) +
           node("web", "http", 8080,
                "  backends:\n    - virtualService: {virtualServiceRef: {name: svc}}\n") +
           "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\nmetadata: {name: svc, "
           "namespace: shop}\nspec:\n  listeners:\n    - portMapping: {port: " + std::to_string(port) +
           ", protocol: " + router_proto + "}\n  routes:\n    - name: all\n      " + route_kind +
           ":\n        match: {prefix: /}\n        action:\n          weightedTargets:\n"
           "            - virtualNodeRef: {name: svc}\n              weight: 1\n"
           "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata: {name: svc, "
           "namespace: shop}\nspec:\n  awsName: svc.shop\n  provider:\n    virtualRouter:\n"
           "      virtualRouterRef: {name: svc}\n";
}

struct proxy {
    fs::path access_log;
    child_process proc;
    std::string egress;
    std::string ingress;
    proxy(const fs::path& mesh, const std::string& node_name, std::vector<std::string> extra)
        : access_log(mesh.parent_path() / ("access-" + node_name + ".log")),
          proc([&] {
              std::vector<std::string> a{OUTRIGGER_BINARY, "run", "--mesh", mesh.string(), "--node",
                                         node_name, "--egress-port", "0", "--ingress-port", "0",
                                         "--ingress-address", "127.0.0.1", "--workers", "2",
                                         "--access-log", access_log.string()};
              a.insert(a.end(), extra.begin(), extra.end());
              return a;
          }()) {
        egress = proc.wait_for(std::regex("egress listening on 127\\.0\\.0\\.1:([0-9]+)"),
                               std::chrono::seconds(10));
        REQUIRE_FALSE(egress.empty());
    }
};

int count(const std::string& hay, const std::string& needle) {
    int n = 0;
    for (std::size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) {
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("h2: curl with prior knowledge on the egress port, HTTP/1.1 upstream", "[integration][h2]") {
    test_upstream up([](const http::request<http::string_body>& req, upstream_reply& r) {
        r.res.body() = "h1 upstream saw " + std::string(req.target()) + " " +
                       std::string(req[http::field::host]) + "\n";
        r.res.set("x-upstream", "yes");
    });
    scratch_tree dir;
    const auto mesh = dir.write("mesh.yaml", mesh_yaml("http", "http", 8080));
    proxy px(mesh, "web", {"--connect-to", "svc.test.local:8080:127.0.0.1:" + std::to_string(up.port())});
    const std::string base = "http://127.0.0.1:" + px.egress;
    const std::string out = run_capture("curl -s -i --http2-prior-knowledge -H 'Host: svc.shop:8080' " +
                                        base + "/a/b?q=1");
    CHECK(out.rfind("HTTP/2 200", 0) == 0);
    CHECK(out.find("x-upstream: yes") != std::string::npos);
    CHECK(out.find("h1 upstream saw /a/b?q=1 svc.shop:8080") != std::string::npos);

    SECTION("a request body, small and larger than the replay buffer, arrives whole") {
        test_upstream echo([](const http::request<http::string_body>& req, upstream_reply& r) {
            r.res.body() = std::to_string(req.body().size()) + " bytes\n";
        });
        proxy px2(mesh, "web", {"--connect-to", "svc.test.local:8080:127.0.0.1:" + std::to_string(echo.port())});
        const auto small = dir.write("small.bin", std::string(1000, 'x'));
        const auto big = dir.write("big.bin", std::string(800 * 1024, 'y'));
        const std::string b2 = "http://127.0.0.1:" + px2.egress;
        CHECK(run_capture("curl -s --http2-prior-knowledge -H 'Host: svc.shop:8080' --data-binary @" +
                          small.string() + " " + b2 + "/") == "1000 bytes\n");
        CHECK(run_capture("curl -s --http2-prior-knowledge -H 'Host: svc.shop:8080' --data-binary @" +
                          big.string() + " " + b2 + "/") == "819200 bytes\n");
    }
    SECTION("many streams on one connection (nghttp) and concurrent clients (h2load)") {
        std::string urls;
        for (int i = 0; i < 20; ++i) {
            urls += " " + base + "/s" + std::to_string(i);
        }
        const std::string n = run_capture("nghttp -n -s -H ':authority: svc.shop:8080'" + urls);
        CHECK(count(n, " 200 ") + count(n, "200 ") >= 20);
        const std::string h = run_capture("h2load -n 400 -c 4 -m 10 -H ':authority: svc.shop:8080' " + base + "/");
        CHECK(h.find("400 succeeded, 0 failed, 0 errored") != std::string::npos);
        CHECK(h.find("status codes: 400 2xx") != std::string::npos);
    }
    SECTION("a request no route matches gets the local reply on its stream") {
        const std::string r = run_capture("curl -s -i --http2-prior-knowledge -H 'Host: nowhere.shop' " + base + "/");
        CHECK(r.rfind("HTTP/2 404", 0) == 0);
        // The connection survives: a second request on it (nghttp, two URIs) is answered.
        const std::string two = run_capture("nghttp -s -H ':authority: nowhere.shop' " + base + "/ " + base + "/x");
        CHECK(count(two, "404") >= 2);
    }
    SECTION("the access log says HTTP/2") {
        run_capture("curl -s -o /dev/null --http2-prior-knowledge -H 'Host: svc.shop:8080' " + base + "/logged");
        // The log is flushed in the background and at exit: stop the proxy, then read it.
        REQUIRE(px.proc.terminate(std::chrono::seconds(10)) == 0);
        CHECK(read_file(px.access_log).find("\"GET /logged HTTP/2\"") != std::string::npos);
    }
}

TEST_CASE("h2: an http2 node listener is spoken to in HTTP/2, multiplexed", "[integration][h2]") {
    scratch_tree dir;
    dir.write("ready.txt", "ready\n");
    dir.write("hello.txt", "hello from nghttpd\n");
    const std::uint16_t port = free_port();
    nghttpd up(dir.path, port);
    const auto mesh = dir.write("mesh.yaml", mesh_yaml("http2", "http2", port));
    proxy px(mesh, "web", {"--connect-to", "svc.test.local:" + std::to_string(port) + ":127.0.0.1:" +
                                               std::to_string(port)});
    const std::string base = "http://127.0.0.1:" + px.egress;
    const std::string host = "svc.shop:" + std::to_string(port);

    SECTION("HTTP/1.1 client → h2 upstream") {
        const std::string out = run_capture("curl -s -i -H 'Host: " + host + "' " + base + "/hello.txt");
        CHECK(out.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(out.find("hello from nghttpd") != std::string::npos);
    }
    SECTION("h2 client → h2 upstream") {
        const std::string out = run_capture("curl -s -i --http2-prior-knowledge -H 'Host: " + host + "' " +
                                            base + "/hello.txt");
        CHECK(out.rfind("HTTP/2 200", 0) == 0);
        CHECK(out.find("hello from nghttpd") != std::string::npos);
    }
    SECTION("a missing file is the upstream's 404, not a proxy error") {
        const std::string out = run_capture("curl -s -o /dev/null -w '%{http_code}' -H 'Host: " + host + "' " +
                                            base + "/nope.txt");
        CHECK(out == "404");
    }
    SECTION("400 requests from 8 concurrent clients share a few upstream connections") {
        const std::string h = run_capture("h2load -n 400 -c 8 -m 10 -H ':authority: " + host + "' " + base +
                                          "/hello.txt");
        CHECK(h.find("400 succeeded, 0 failed, 0 errored") != std::string::npos);
        // nghttpd -v numbers its sessions: one per upstream connection (the ready probe made one).
        std::set<std::string> sessions;
        const std::regex id_re("\\[id=([0-9]+)\\]");
        const std::string log = read_file(up.log);
        for (std::sregex_iterator it(log.begin(), log.end(), id_re), end; it != end; ++it) {
            sessions.insert((*it)[1]);
        }
        // 2 workers; each opens one connection and more only when 100 streams are in flight.
        CHECK(sessions.size() <= 1 + 2 * 2);
        CHECK(sessions.size() >= 2);
    }
}

TEST_CASE("h2: behind an http2 ingress listener the local app is spoken to in h2c", "[integration][h2]") {
    scratch_tree dir;
    dir.write("ready.txt", "ready\n");
    dir.write("hello.txt", "local app over h2c\n");
    const std::uint16_t port = free_port();
    nghttpd app(dir.path, port);
    const auto mesh = dir.write("mesh.yaml", mesh_yaml("http2", "http2", port));
    proxy px(mesh, "svc", {});
    const std::string ingress =
        px.proc.wait_for(std::regex("ingress listening on 127\\.0\\.0\\.1:([0-9]+)"), std::chrono::seconds(5));
    REQUIRE_FALSE(ingress.empty());
    const std::string url = "http://127.0.0.1:" + ingress + "/hello.txt";
    CHECK(run_capture("curl -s " + url) == "local app over h2c\n");
    CHECK(run_capture("curl -s --http2-prior-knowledge " + url) == "local app over h2c\n");
}

TEST_CASE("h2: protocol errors are answered by the protocol, the proxy stays up", "[integration][h2]") {
    test_upstream up([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "ok\n"; });
    scratch_tree dir;
    const auto mesh = dir.write("mesh.yaml", mesh_yaml("http", "http", 8080));
    proxy px(mesh, "web", {"--connect-to", "svc.test.local:8080:127.0.0.1:" + std::to_string(up.port())});
    const std::string base = "http://127.0.0.1:" + px.egress;
    // The preface, then a DATA frame on stream 0 (a connection error): GOAWAY PROTOCOL_ERROR.
    const std::string goaway = run_capture(
        "timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + px.egress +
        "; printf \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\x00\\x00"
        "\\x00\\x00\\x04\\x00\\x01\\x00\\x00\\x00\\x00abcd\" >&3; cat <&3' | od -An -tx1 | tr -d ' \\n'");
    // GOAWAY: length 8+, type 0x07; error code PROTOCOL_ERROR (1) at the end of its payload.
    CHECK(goaway.find("0700000000") != std::string::npos);
    // A header the protocol forbids (connection-specific): the stream is reset, never forwarded.
    const std::string bad = run_capture("nghttp -v -H 'connection: close' -H ':authority: svc.shop:8080' " + base + "/");
    CHECK(bad.find("RST_STREAM") != std::string::npos);
    CHECK(up.requests() == 0);
    // And the proxy still answers.
    CHECK(run_capture("curl -s --http2-prior-knowledge -H 'Host: svc.shop:8080' " + base + "/") == "ok\n");
}

namespace {

/// `echo.grpc` → router (grpc, port `port`) with a grpcRoute for service test.Echo (retrying
/// `unavailable`) → node `echo` (grpc listener) ; `web` has it as backend.
/// `route_extra`: more grpcRoute fields (8-space indent); `web_extra`: more of web's spec.
std::string grpc_mesh(std::uint16_t port, const std::string& route_extra = {},
                      const std::string& web_extra = {}) {
    const std::string p = std::to_string(port);
    return mesh_head + node("echo", "grpc", port) +
           node("web", "http", 8080,
                "  backends:\n    - virtualService: {virtualServiceRef: {name: echo}}\n" + web_extra) +
           "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\nmetadata: {name: echo, "
           "namespace: shop}\nspec:\n  listeners:\n    - portMapping: {port: " + p +
           ", protocol: grpc}\n  routes:\n    - name: echo\n      grpcRoute:\n"
           "        match: {serviceName: test.Echo}\n        retryPolicy:\n"
           "          grpcRetryEvents: [unavailable]\n          maxRetries: 2\n"
           "          perRetryTimeout: {unit: s, value: 5}\n" + route_extra + "        action:\n"
           "          weightedTargets:\n            - virtualNodeRef: {name: echo}\n"
           "              weight: 1\n"
           "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata: {name: echo, "
           "namespace: shop}\nspec:\n  awsName: echo.grpc\n  provider:\n    virtualRouter:\n"
           "      virtualRouterRef: {name: echo}\n";
}

/// A gRPC server (grpc_peer.py) whose stderr events are read with its stdout.
struct grpc_server {
    std::uint16_t port;
    child_process proc;
    explicit grpc_server(std::uint16_t p, const std::string& name = "v1")
        : port(p),
          proc({"/bin/sh", "-c",
                "exec /usr/bin/python3 " + std::string(OUTRIGGER_SOURCE_DIR) +
                    "/tests/integration/http2/grpc_peer.py server " + std::to_string(p) + " " + name +
                    " 2>&1"}) {
        REQUIRE(proc.wait_for(std::regex("(ready)"), std::chrono::seconds(20)) == "ready");
    }
};

/// Peak resident memory of a process (VmHWM), in KiB.
long peak_rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

const std::string grpc_peer = std::string(OUTRIGGER_SOURCE_DIR) + "/tests/integration/http2/grpc_peer.py";

}  // namespace

TEST_CASE("grpc: real gRPC calls through the egress and ingress sides", "[integration][h2][grpc]") {
    const std::uint16_t port = free_port();
    child_process server({"/usr/bin/python3", grpc_peer, "server", std::to_string(port)});
    REQUIRE(server.wait_for(std::regex("(ready)"), std::chrono::seconds(20)) == "ready");
    scratch_tree dir;
    const auto mesh = dir.write("mesh.yaml", grpc_mesh(port));
    proxy px(mesh, "web", {"--connect-to", "echo.test.local:" + std::to_string(port) + ":127.0.0.1:" +
                                               std::to_string(port)});
    const std::string target = "127.0.0.1:" + px.egress;
    const std::string authority = "echo.grpc:" + std::to_string(port);
    const auto call = [&](const std::string& method, const std::string& payload) {
        return run_capture("/usr/bin/python3 " + grpc_peer + " call " + target + " " + authority + " " +
                           method + " " + payload);
    };
    CHECK(call("/test.Echo/Say", "hello") == "OK echo:hello\n");
    CHECK(call("/test.Echo/Count", "n") == "OK n0\nOK n1\nOK n2\n");
    // The server's own status and message come back in the trailers, untouched.
    CHECK(call("/test.Echo/Fail", "x") == "FAILED_PRECONDITION asked to fail\n");
    // grpcRetryEvents: unavailable → the proxy retries; the caller sees the second answer.
    CHECK(call("/test.Echo/Flaky", "x") == "OK second try:x\n");
    // No grpcRoute for this service: a gRPC status, never an HTTP error page.
    const std::string none = call("/other.Service/Do", "x");
    CHECK(none.rfind("UNIMPLEMENTED ", 0) == 0);
    CHECK(none.find("[NR]") != std::string::npos);

    SECTION("the ingress side speaks h2c to the local gRPC app") {
        proxy in(mesh, "echo", {});
        const std::string ingress =
            in.proc.wait_for(std::regex("ingress listening on 127\\.0\\.0\\.1:([0-9]+)"), std::chrono::seconds(5));
        REQUIRE_FALSE(ingress.empty());
        CHECK(run_capture("/usr/bin/python3 " + grpc_peer + " call 127.0.0.1:" + ingress + " " + authority +
                          " /test.Echo/Say inbound") == "OK echo:inbound\n");
    }
    SECTION("an upstream that is down is UNAVAILABLE to the caller") {
        server.signal(SIGKILL);
        REQUIRE(server.wait_exit(std::chrono::seconds(5)) >= 0);
        const std::string down = call("/test.Echo/Say", "x");
        CHECK(down.rfind("UNAVAILABLE ", 0) == 0);
    }
}

namespace {

std::string tls_listener(const fs::path& certs) {
    return "      tls:\n        mode: STRICT\n        certificate:\n          file:\n"
           "            certificateChain: " + (certs / "server.pem").string() +
           "\n            privateKey: " + (certs / "server.key").string() + "\n";
}

}  // namespace

TEST_CASE("h2: TLS by ALPN, inbound and toward an h2 upstream", "[integration][h2][tls]") {
    generated_certs certs("outrigger-h2-certs");
    scratch_tree dir;
    dir.write("ready.txt", "ready\n");
    dir.write("hello.txt", "over TLS\n");
    const fs::path ca = certs.dir() / "ca.pem";

    SECTION("an http2 listener with TLS picks h2 by ALPN; an http one stays on HTTP/1.1") {
        const std::uint16_t port = free_port();
        nghttpd app(dir.path, port);
        for (const std::string proto : {"http2", "http"}) {
            std::string y = mesh_head + node("svc", proto, port);
            const std::string marker = "  serviceDiscovery:";
            y.insert(y.find(marker), tls_listener(certs.dir()));
            const auto mesh = dir.write("mesh-" + proto + ".yaml", y);
            proxy px(mesh, "svc", {});
            const std::string ingress = px.proc.wait_for(
                std::regex("ingress listening on 127\\.0\\.0\\.1:([0-9]+)"), std::chrono::seconds(5));
            REQUIRE_FALSE(ingress.empty());
            const std::string out = run_capture("curl -s -i --http2 --cacert " + ca.string() +
                                                " https://localhost:" + ingress + "/hello.txt");
            if (proto == "http2") {
                CHECK(out.rfind("HTTP/2 200", 0) == 0);
            } else {
                // ALPN offered h2,http/1.1 by curl; the http listener selects http/1.1. The app
                // behind it is h2c-only (nghttpd), so only the status line is checked here.
                CHECK(out.rfind("HTTP/1.1 ", 0) == 0);
            }
            if (proto == "http2") {
                CHECK(out.find("over TLS") != std::string::npos);
            }
        }
    }
    SECTION("the client policy's TLS toward an http2 node: h2 by ALPN to nghttpd") {
        const std::uint16_t port = free_port();
        child_process tls_up({"/bin/sh", "-c",
                              "exec /usr/sbin/nghttpd -d '" + dir.path.string() + "' " +
                                  std::to_string(port) + " '" + (certs.dir() / "server.key").string() +
                                  "' '" + (certs.dir() / "server.pem").string() + "' >/dev/null 2>&1"});
        std::string probe;
        for (int i = 0; i < 500 && probe != "200"; ++i) {
            probe = run_capture("curl -s -o /dev/null -w '%{http_code}' --cacert " + ca.string() +
                                " https://localhost:" + std::to_string(port) + "/ready.txt");
            if (probe != "200") {
                ::usleep(20000);  // nghttpd says nothing when it is ready: poll its port
            }
        }
        REQUIRE(probe == "200");
        // Node `svc` at a.shop.svc.cluster.local (a SAN of server.pem); `web` originates TLS.
        std::string y = mesh_head;
        std::string svc = node("svc", "http2", port);
        svc.replace(svc.find("svc.test.local"), std::string("svc.test.local").size(),
                    "a.shop.svc.cluster.local");
        y += svc;
        y += node("web", "http", 8080,
                  "  backendDefaults:\n    clientPolicy:\n      tls:\n        enforce: true\n"
                  "        validation:\n          trust:\n            file:\n"
                  "              certificateChain: " + ca.string() + "\n"
                  "  backends:\n    - virtualService: {virtualServiceRef: {name: svc}}\n");
        y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata: {name: svc, "
             "namespace: shop}\nspec:\n  awsName: svc.shop\n  provider:\n    virtualNode:\n"
             "      virtualNodeRef: {name: svc}\n";
        const auto mesh = dir.write("mesh-tls-up.yaml", y);
        proxy px(mesh, "web", {"--connect-to", "a.shop.svc.cluster.local:" + std::to_string(port) +
                                                   ":127.0.0.1:" + std::to_string(port)});
        const std::string out = run_capture("curl -s -i -H 'Host: svc.shop:" + std::to_string(port) +
                                            "' http://127.0.0.1:" + px.egress + "/hello.txt");
        CHECK(out.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(out.find("over TLS") != std::string::npos);
    }
}

namespace {

/// The client (`web`, egress) and server (`echo`, ingress) sidecars of grpc_mesh around a real
/// gRPC server: caller → egress → ingress → server.
struct grpc_pair {
    scratch_tree dir;
    fs::path mesh;
    proxy in;
    std::string ingress;
    proxy out;
    std::string target;
    std::string authority;
    grpc_pair(std::uint16_t port, const std::string& route_extra = {}, const std::string& web_extra = {})
        : mesh(dir.write("mesh.yaml", grpc_mesh(port, route_extra, web_extra))),
          in(mesh, "echo", {}),
          ingress(in.proc.wait_for(std::regex("ingress listening on 127\\.0\\.0\\.1:([0-9]+)"),
                                   std::chrono::seconds(5))),
          out(mesh, "web", {"--connect-to", "echo.test.local:" + std::to_string(port) + ":127.0.0.1:" + ingress}),
          target("127.0.0.1:" + out.egress),
          authority("echo.grpc:" + std::to_string(port)) {}
    /// grpc_peer.py `cmd` through the pair.
    std::string peer(const std::string& cmd, const std::string& args) const {
        return run_capture("/usr/bin/python3 " + grpc_peer + " " + cmd + " " + target + " " + authority +
                           " " + args);
    }
};

}  // namespace

TEST_CASE("grpc: client and bidirectional streaming, many and large messages, egress to ingress",
          "[integration][h2][grpc]") {
    grpc_server server(free_port());
    grpc_pair p(server.port);
    REQUIRE_FALSE(p.ingress.empty());
    // 1,000 messages each way. The bidirectional call is ping-pong: each message is sent only
    // after the answer to the previous one came back, so the request body must flow while the
    // response is relayed (waiting for the whole body first deadlocks until the client gives up).
    CHECK(p.peer("sum", "1000 100") == "OK 1000 messages, 100000 bytes\n");
    CHECK(p.peer("chat", "1000 100") == "OK 1000 answers\n");
    // Messages larger than grpcio's default 4 MiB limit (raised on both peers), both directions,
    // streamed: neither proxy's peak memory grows by anything near one message.
    const long out_before = peak_rss_kib(p.out.proc.pid());
    const long in_before = peak_rss_kib(p.in.proc.pid());
    CHECK(p.peer("mirror", "8000000") == "OK 8000000 same\n");
    CHECK(p.peer("chat", "4 8000000") == "OK 4 answers\n");
    CHECK(p.peer("sum", "8 8000000") == "OK 8 messages, 64000000 bytes\n");
    const long out_after = peak_rss_kib(p.out.proc.pid());
    const long in_after = peak_rss_kib(p.in.proc.pid());
    INFO("egress peak " << out_before << " -> " << out_after << " KiB, ingress " << in_before << " -> "
                        << in_after << " KiB");
#ifndef OUTRIGGER_TEST_ASAN  // ASan's quarantine keeps freed memory resident: no RSS bound there
    CHECK(out_after - out_before < 4096);
    CHECK(in_after - in_before < 4096);
#endif
}

TEST_CASE("grpc: status codes unchanged, no retry after a message, deadlines, cancellation",
          "[integration][h2][grpc]") {
    grpc_server server(free_port());
    // The client sidecar logs the gRPC status of every call.
    const std::string web_logging =
        "  logging:\n    accessLog:\n      file:\n        path: /dev/stdout\n        format:\n"
        "          text: \"%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %GRPC_STATUS% %GRPC_STATUS(NUMBER)%\\n\"\n";
    grpc_pair p(server.port, {}, web_logging);
    REQUIRE_FALSE(p.ingress.empty());

    SECTION("every status code 0..16 comes back with its own message") {
        static const char* names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                      "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                      "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
        std::string expected = "0 OK ok\n";
        for (int n = 1; n <= 16; ++n) {
            expected += std::to_string(n) + " " + names[n] + " code " + std::to_string(n) + "\n";
        }
        CHECK(p.peer("codes", "") == expected);
        // %GRPC_STATUS%: Envoy's names, and the number.
        REQUIRE(p.out.proc.terminate(std::chrono::seconds(10)) == 0);
        const std::string log = read_file(p.out.access_log);
        CHECK(log.find("/test.Echo/Code 200 - Ok 0\n") != std::string::npos);
        CHECK(log.find("/test.Echo/Code 200 - NotFound 5\n") != std::string::npos);
        CHECK(log.find("/test.Echo/Code 200 - Unauthenticated 16\n") != std::string::npos);
        // UNAVAILABLE is retried (grpcRetryEvents) and still reaches the caller unchanged.
        CHECK(log.find("/test.Echo/Code 200 URX Unavailable 14\n") != std::string::npos);
    }
    SECTION("UNAVAILABLE after a relayed message is not retried") {
        // The server counts its calls: had the proxy retried the first one, the second call
        // would be the server's third.
        CHECK(p.peer("call", "/test.Echo/OneThenUnavailable x") ==
              "OK first of call 1\nUNAVAILABLE gone after one\n");
        CHECK(p.peer("call", "/test.Echo/OneThenUnavailable x") ==
              "OK first of call 2\nUNAVAILABLE gone after one\n");
        // Before any message (trailers-only UNAVAILABLE) it is retried: Flaky fails once.
        CHECK(p.peer("call", "/test.Echo/Flaky x") == "OK second try:x\n");
    }
    SECTION("a client deadline shorter than the method: DEADLINE_EXCEEDED, the server's call ends") {
        const auto t0 = std::chrono::steady_clock::now();
        CHECK(p.peer("call", "/test.Echo/Slow 10 --timeout 0.5") == "DEADLINE_EXCEEDED Deadline Exceeded\n");
        CHECK(server.proc.wait_for(std::regex("(Slow cancelled)"), std::chrono::seconds(5)) == "Slow cancelled");
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(8));
        CHECK(p.peer("call", "/test.Echo/Say after") == "OK echo:after\n");
    }
    SECTION("a client that cancels mid-stream: the upstream stream is reset, the proxy serves on") {
        CHECK(p.peer("cancel", "") == "cancelled after 2\n");
        CHECK(server.proc.wait_for(std::regex("(Drip cancelled)"), std::chrono::seconds(5)) == "Drip cancelled");
        CHECK(p.peer("call", "/test.Echo/Count n") == "OK n0\nOK n1\nOK n2\n");
    }
}

TEST_CASE("grpc: grpc-timeout bounds the call, the route's perRequest caps it", "[integration][h2][grpc]") {
    // An h2c upstream that never answers and ignores grpc-timeout (python h2, not grpcio): only
    // the proxy can end these calls, and it says it reset them.
    const std::uint16_t port = free_port();
    child_process hole({"/usr/bin/python3", grpc_peer, "blackhole", std::to_string(port)});
    REQUIRE(hole.wait_for(std::regex("(ready)"), std::chrono::seconds(10)) == "ready");
    scratch_tree dir;
    const auto mesh = dir.write(
        "mesh.yaml", grpc_mesh(port, "        timeout:\n          perRequest: {unit: ms, value: 1500}\n"));
    proxy px(mesh, "web", {"--connect-to", "echo.test.local:" + std::to_string(port) + ":127.0.0.1:" +
                                               std::to_string(port)});
    const auto frame = dir.write("call.bin", std::string("\0\0\0\0\1x", 6));
    const auto grpc_curl = [&](const std::string& timeout_header) {
        return run_capture("curl -s -i --http2-prior-knowledge -m 10 -w 'took %{time_total}' -H 'content-type: "
                           "application/grpc' -H 'te: trailers' " + timeout_header +
                           " -H 'Host: echo.grpc:" + std::to_string(port) + "' --data-binary @" +
                           frame.string() + " http://127.0.0.1:" + px.egress + "/test.Echo/Slow");
    };
    const auto took = [](const std::string& out) {
        const auto at = out.rfind("took ");
        return at == std::string::npos ? -1.0 : std::stod(out.substr(at + 5));
    };
    SECTION("the caller's grpc-timeout, shorter than perRequest: DEADLINE_EXCEEDED at it") {
        const std::string out = grpc_curl("-H 'grpc-timeout: 300m'");
        CHECK(out.rfind("HTTP/2 200", 0) == 0);
        CHECK(out.find("grpc-status: 4\r\n") != std::string::npos);
        CHECK(out.find("grpc-timeout of 300 ms [UT]") != std::string::npos);
        CHECK(took(out) >= 0.29);
        CHECK(took(out) < 1.4);
        // The proxy reset the upstream stream (CANCEL = 8).
        CHECK(hole.wait_for(std::regex("reset ([0-9]+)"), std::chrono::seconds(5)) == "8");
    }
    SECTION("a longer grpc-timeout, or none: the route's perRequest (1.5 s) ends the call") {
        for (const std::string h : {"-H 'grpc-timeout: 20S'", ""}) {
            const std::string out = grpc_curl(h);
            CHECK(out.find("grpc-status: 4\r\n") != std::string::npos);
            CHECK(out.find("did not answer within 1500 ms [UT]") != std::string::npos);
            CHECK(took(out) >= 1.45);
            CHECK(took(out) < 5);
        }
    }
    SECTION("the access log keeps the HTTP side: 504 UT") {
        grpc_curl("-H 'grpc-timeout: 200m'");
        REQUIRE(px.proc.terminate(std::chrono::seconds(10)) == 0);
        CHECK(read_file(px.access_log).find("\"POST /test.Echo/Slow HTTP/2\" 504 UT") != std::string::npos);
    }
}

TEST_CASE("grpc: metadata routes to v2, weights split between two servers", "[integration][h2][grpc]") {
    grpc_server v1(free_port(), "v1");
    grpc_server v2(free_port(), "v2");
    const std::string p1 = std::to_string(v1.port);
    const std::string p2 = std::to_string(v2.port);
    const std::string target = [](const std::string& name, int weight) {
        return "            - virtualNodeRef: {name: " + name + "}\n              weight: " +
               std::to_string(weight) + "\n";
    }("echo-v1", 1);
    std::string y = mesh_head + node("echo-v1", "grpc", v1.port) + node("echo-v2", "grpc", v2.port) +
                    node("web", "http", 8080, "  backends:\n    - virtualService: {virtualServiceRef: {name: echo}}\n");
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\nmetadata: {name: echo, namespace: shop}\n"
         "spec:\n  listeners:\n    - portMapping: {port: " + p1 + ", protocol: grpc}\n  routes:\n"
         "    - name: v2-by-metadata\n      priority: 0\n      grpcRoute:\n"
         "        match:\n          serviceName: test.Echo\n          metadata:\n"
         "            - name: x-version\n              match: {exact: v2}\n"
         "        action:\n          weightedTargets:\n            - virtualNodeRef: {name: echo-v2}\n"
         "              weight: 1\n"
         "    - name: split\n      priority: 1\n      grpcRoute:\n        match: {serviceName: test.Echo}\n"
         "        action:\n          weightedTargets:\n" + target +
         "            - virtualNodeRef: {name: echo-v2}\n              weight: 1\n"
         "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata: {name: echo, namespace: shop}\n"
         "spec:\n  awsName: echo.grpc\n  provider:\n    virtualRouter:\n      virtualRouterRef: {name: echo}\n";
    scratch_tree dir;
    const auto mesh = dir.write("mesh.yaml", y);
    proxy px(mesh, "web", {"--connect-to", "echo-v1.test.local:" + p1 + ":127.0.0.1:" + p1, "--connect-to",
                           "echo-v2.test.local:" + p2 + ":127.0.0.1:" + p2});
    const std::string who = "/usr/bin/python3 " + grpc_peer + " who 127.0.0.1:" + px.egress + " echo.grpc:" + p1;
    // The metadata header selects v2, every time.
    CHECK(run_capture(who + " 100 --meta x-version=v2") == "v2 100\n");
    // Another value, or none: the 50/50 split. 400 calls: each side's count is binomial
    // (sd 10); the bounds are 8 sd wide, so the check does not flake.
    CHECK(run_capture(who + " 20 --meta x-version=v3").find("v1 ") != std::string::npos);
    const std::string split = run_capture(who + " 400");
    std::smatch m;
    REQUIRE(std::regex_match(split, m, std::regex("v1 ([0-9]+)\nv2 ([0-9]+)\n")));
    const int n1 = std::stoi(m[1]);
    const int n2 = std::stoi(m[2]);
    CHECK(n1 + n2 == 400);
    CHECK(n1 >= 120);
    CHECK(n1 <= 280);
}

TEST_CASE("grpc: a request that is not gRPC on a grpc service or listener gets 415", "[integration][h2][grpc]") {
    grpc_server server(free_port());
    grpc_pair p(server.port);
    REQUIRE_FALSE(p.ingress.empty());
    const std::string host = "-H 'Host: " + p.authority + "' ";
    // Egress: the virtual service listens with protocol grpc.
    const std::string out = run_capture("curl -s -i --http2-prior-knowledge " + host + "http://" + p.target +
                                        "/test.Echo/Say");
    CHECK(out.rfind("HTTP/2 415", 0) == 0);
    CHECK(out.find("virtual service \"echo.grpc\" listens with protocol grpc on port " +
                   std::to_string(server.port) + ": this request is not gRPC") != std::string::npos);
    // HTTP/1.1 too, and a JSON body is no gRPC either.
    CHECK(run_capture("curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' " + host +
                      "--data '{}' http://" + p.target + "/test.Echo/Say") == "415");
    // Ingress: the node's listener is grpc.
    const std::string in = run_capture("curl -s -i --http2-prior-knowledge " + host + "http://127.0.0.1:" +
                                       p.ingress + "/test.Echo/Say");
    CHECK(in.rfind("HTTP/2 415", 0) == 0);
    CHECK(in.find("of virtual node \"shop/echo\" is grpc: this request is not gRPC") != std::string::npos);
    // gRPC itself still passes.
    CHECK(p.peer("call", "/test.Echo/Say ok") == "OK echo:ok\n");
}

TEST_CASE("grpc: over mTLS between two sidecars (h2 by ALPN)", "[integration][h2][grpc][tls]") {
    generated_certs certs("outrigger-grpc-certs");
    const auto pem = [&](const std::string& n) { return (certs.dir() / (n + ".pem")).string(); };
    const auto key = [&](const std::string& n) { return (certs.dir() / (n + ".key")).string(); };
    grpc_server server(free_port());
    const std::string p = std::to_string(server.port);
    // Node `echo` (a.shop.svc.cluster.local, a SAN of server.pem): STRICT, client certificates
    // from the test CA with web's SAN. Node `web` originates TLS with its certificate and checks
    // the server's SAN. The grpcRoute of grpc_mesh in between.
    std::string y = mesh_head;
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: {name: echo, namespace: shop}\n"
         "spec:\n  podSelector: {matchLabels: {app: echo}}\n  listeners:\n"
         "    - portMapping: {port: " + p + ", protocol: grpc}\n"
         "      tls:\n        mode: STRICT\n        certificate:\n          file:\n"
         "            certificateChain: " + pem("server") + "\n            privateKey: " + key("server") + "\n"
         "        validation:\n          trust:\n            file:\n              certificateChain: " + pem("ca") + "\n"
         "          subjectAlternativeNames:\n            match:\n              exact: [web.shop.svc.cluster.local]\n"
         "  serviceDiscovery: {dns: {hostname: a.shop.svc.cluster.local}}\n";
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: {name: web, namespace: shop}\n"
         "spec:\n  podSelector: {matchLabels: {app: web}}\n  listeners:\n"
         "    - portMapping: {port: 8080, protocol: http}\n"
         "  serviceDiscovery: {dns: {hostname: web.shop.svc.cluster.local}}\n"
         "  backendDefaults:\n    clientPolicy:\n      tls:\n        enforce: true\n"
         "        certificate:\n          file:\n            certificateChain: " + pem("client-web") + "\n"
         "            privateKey: " + key("client-web") + "\n"
         "        validation:\n          trust:\n            file:\n              certificateChain: " + pem("ca") + "\n"
         "          subjectAlternativeNames:\n            match:\n              exact: [a.shop.svc.cluster.local]\n"
         "  backends:\n    - virtualService: {virtualServiceRef: {name: echo}}\n";
    y += "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\nmetadata: {name: echo, namespace: shop}\n"
         "spec:\n  listeners:\n    - portMapping: {port: " + p + ", protocol: grpc}\n  routes:\n"
         "    - name: echo\n      grpcRoute:\n        match: {serviceName: test.Echo}\n"
         "        action:\n          weightedTargets:\n            - virtualNodeRef: {name: echo}\n"
         "              weight: 1\n"
         "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata: {name: echo, namespace: shop}\n"
         "spec:\n  awsName: echo.grpc\n  provider:\n    virtualRouter:\n      virtualRouterRef: {name: echo}\n";
    scratch_tree dir;
    const auto mesh = dir.write("mesh.yaml", y);
    proxy in(mesh, "echo", {});
    const std::string ingress =
        in.proc.wait_for(std::regex("ingress listening on 127\\.0\\.0\\.1:([0-9]+)"), std::chrono::seconds(5));
    REQUIRE_FALSE(ingress.empty());
    proxy out(mesh, "web", {"--connect-to", "a.shop.svc.cluster.local:" + p + ":127.0.0.1:" + ingress});
    const std::string base = "/usr/bin/python3 " + grpc_peer + " ";
    const std::string to = " 127.0.0.1:" + out.egress + " echo.grpc:" + p + " ";
    CHECK(run_capture(base + "call" + to + "/test.Echo/Say tls") == "OK echo:tls\n");
    CHECK(run_capture(base + "call" + to + "/test.Echo/Count n") == "OK n0\nOK n1\nOK n2\n");
    CHECK(run_capture(base + "chat" + to + "100 1000") == "OK 100 answers\n");
    CHECK(run_capture(base + "mirror" + to + "5000000") == "OK 5000000 same\n");
    CHECK(run_capture(base + "call" + to + "/test.Echo/Fail x") == "FAILED_PRECONDITION asked to fail\n");
    // STRICT: a plaintext gRPC caller straight to the server's sidecar gets nowhere.
    CHECK(run_capture(base + "call 127.0.0.1:" + ingress + " echo.grpc:" + p + " /test.Echo/Say x --timeout 3")
              .rfind("UNAVAILABLE", 0) == 0);
    // The hop between the sidecars was HTTP/2 (h2 by ALPN: the client side accepts nothing else).
    REQUIRE(in.proc.terminate(std::chrono::seconds(10)) == 0);
    const std::string log = read_file(in.access_log);
    CHECK(log.find("\"POST /test.Echo/Say HTTP/2\" 200") != std::string::npos);
    CHECK(log.find("\"POST /test.Echo/Mirror HTTP/2\" 200") != std::string::npos);
}

TEST_CASE("grpc: the corpus's howto-k8s-grpc mesh end to end, two color servers", "[integration][h2][grpc][corpus]") {
    // client app → client sidecar (egress) → one of the two endpoints of node `server` (Cloud Map
    // color.demo.local, every address: two server sidecars) → each sidecar's local app on
    // 8080 (the manifest's port; two loopback addresses, so both apps can use it).
    const std::string corpus = std::string(OUTRIGGER_CORPUS_DIR) + "/howto-k8s-grpc_v1beta2_manifest.yaml";
    REQUIRE(fs::exists(corpus));
    child_process red({"/usr/bin/python3", grpc_peer, "server", "8080", "red", "127.0.0.2"});
    child_process blue({"/usr/bin/python3", grpc_peer, "server", "8080", "blue", "127.0.0.3"});
    REQUIRE(red.wait_for(std::regex("(ready)"), std::chrono::seconds(20)) == "ready");
    REQUIRE(blue.wait_for(std::regex("(ready)"), std::chrono::seconds(20)) == "ready");
    const fs::path mesh = corpus;
    proxy red_side(mesh, "server", {"--app-address", "127.0.0.2"});
    proxy blue_side(mesh, "server", {"--app-address", "127.0.0.3"});
    const auto ingress_of = [](proxy& px) {
        return px.proc.wait_for(std::regex("ingress listening on 127\\.0\\.0\\.1:([0-9]+)"), std::chrono::seconds(5));
    };
    const std::string in_red = ingress_of(red_side);
    const std::string in_blue = ingress_of(blue_side);
    REQUIRE_FALSE(in_red.empty());
    REQUIRE_FALSE(in_blue.empty());
    proxy client(mesh, "client", {"--connect-to", "color.demo.local:8080:127.0.0.1:" + in_red,
                                  "--connect-to", "color.demo.local:8080:127.0.0.1:" + in_blue});
    const std::string to = " 127.0.0.1:" + client.egress + " color.howto-app.svc.cluster.local:8080 ";
    const std::string colors =
        run_capture("/usr/bin/python3 " + grpc_peer + " who" + to + "200 --method /color.ColorService/GetColor");
    std::smatch m;
    REQUIRE(std::regex_match(colors, m, std::regex("blue ([0-9]+)\nred ([0-9]+)\n")));
    // Round robin over the two endpoints: both serve, about evenly.
    CHECK(std::stoi(m[1]) >= 60);
    CHECK(std::stoi(m[2]) >= 60);
    // The route matches color.ColorService/GetColor only: another method has no route.
    const std::string other = run_capture("/usr/bin/python3 " + grpc_peer + " call" + to + "/test.Echo/Say x");
    CHECK(other.rfind("UNIMPLEMENTED ", 0) == 0);
    CHECK(other.find("[NR]") != std::string::npos);
}
