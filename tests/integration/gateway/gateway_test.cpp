// `outrigger run --gateway` end to end (issue 18): the real binary as the VirtualGateway, real
// HTTP/1.1 upstreams (test_upstream) behind --connect-to, the walkthroughs' manifests from the
// corpus and their documented requests; curl for TLS. Ports are picked by the proxy
// (--gateway-port L=0) and read from its start-up line.
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include "tests/support/child_process.hpp"
#include "tests/support/generated_certs.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/shell.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger::test;
namespace fs = std::filesystem;

namespace {

const std::string corpus = OUTRIGGER_CORPUS_DIR;
const std::string ingress_gw = corpus + "/howto-k8s-ingress-gateway_v1beta2_manifest.yaml";
const std::string ingress_v2 = corpus + "/howto-k8s-http-ingress-v2_v1beta2_manifest.yaml";

bool has(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
}

std::string run_capture(const std::string& cmd) { return capture_stdout(cmd); }

std::uint16_t free_port() { return free_loopback_port(); }

std::string temp_dir() {
    char tmpl[] = "/tmp/outrigger-gw-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

void write_file(const std::string& path, const std::string& text) {
    // Written under a temporary name and renamed: a reload never reads half a file.
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << text;
    }
    fs::rename(tmp, path);
}

/// One upstream per colour: answers its colour and echoes what it received.
struct colour_upstreams {
    std::map<std::string, std::unique_ptr<test_upstream>> by_colour;
    explicit colour_upstreams(const std::vector<std::string>& colours) {
        for (const auto& c : colours) {
            by_colour[c] = std::make_unique<test_upstream>(
                [c](const http::request<http::string_body>& req, upstream_reply& r) {
                    r.res.body() = c + "\n";
                    r.res.set("x-seen-target", std::string(req.target()));
                    r.res.set("x-seen-host", std::string(req[http::field::host]));
                    r.res.set("x-seen-original-path", std::string(req["x-envoy-original-path"]));
                    r.res.set("x-seen-proto", std::string(req["x-forwarded-proto"]));
                });
        }
    }
    /// --connect-to color-C.howto-app.svc.cluster.local:8080 → this colour's upstream.
    void add_connect_to(std::vector<std::string>& args, const std::string& ns = "howto-app") const {
        for (const auto& [c, up] : by_colour) {
            args.push_back("--connect-to");
            args.push_back("color-" + c + "." + ns + ".svc.cluster.local:8080:127.0.0.1:" +
                           std::to_string(up->port()));
        }
    }
};

/// The gateway binary: started with `args` after `run`, every listener on 127.0.0.1 port 0.
struct gateway_proc {
    std::unique_ptr<child_process> px;
    std::map<int, std::uint16_t> ports;  // listener port → bound port

    gateway_proc(std::vector<std::string> args, const std::vector<int>& listeners,
                 std::vector<std::string> env = {}) {
        std::vector<std::string> argv;
        if (!env.empty()) {
            argv.push_back("/usr/bin/env");
            argv.insert(argv.end(), env.begin(), env.end());
        }
        argv.push_back(OUTRIGGER_BINARY);
        argv.push_back("run");
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--gateway-address", "127.0.0.1", "--workers", "2"});
        for (const int l : listeners) {
            argv.push_back("--gateway-port");
            argv.push_back(std::to_string(l) + "=0");
        }
        px = std::make_unique<child_process>(argv);
        for (const int l : listeners) {
            const std::string p = px->wait_for(
                std::regex("gateway listener " + std::to_string(l) +
                           " \\([a-z0-9]+\\) listening on 127\\.0\\.0\\.1:([0-9]+)"),
                std::chrono::seconds(15));
            REQUIRE_FALSE(p.empty());
            ports[l] = static_cast<std::uint16_t>(std::stoi(p));
        }
    }
    [[nodiscard]] std::uint16_t port(int listener = 8088) const { return ports.at(listener); }
};

/// A colour from a response body ("blue\n" → "blue").
std::string colour_of(const client_response& r) {
    std::string b = r.body;
    while (!b.empty() && (b.back() == '\n' || b.back() == '\r')) {
        b.pop_back();
    }
    return b;
}

}  // namespace

TEST_CASE("gateway: howto-k8s-ingress-gateway end to end: prefix match, default prefix rewrite, "
          "router routes, no-match 404, access log and metrics",
          "[integration][gateway]") {
    colour_upstreams up({"white", "blue", "red", "yellow", "green"});
    const std::string dir = temp_dir();
    const std::string log = dir + "/access.log";
    const std::uint16_t admin_port = free_port();
    std::vector<std::string> args = {"--mesh", ingress_gw, "--gateway", "ingress-gw", "--admin-port",
                                     std::to_string(admin_port), "--access-log", log,
                                     "--access-log-format", "json"};
    up.add_connect_to(args);
    gateway_proc gw(args, {8088});
    http_client c(gw.port());

    // The walkthrough's requests: /paths/<colour> via color-paths' prefix routes.
    for (const std::string colour : {"blue", "red", "yellow", "green"}) {
        const auto r = c.get("/paths/" + colour, "gateway.example.com");
        INFO(colour << ": " << r.status << " " << r.body);
        REQUIRE(r.status == 200);
        CHECK(colour_of(r) == colour);
        // Default prefix rewrite (/paths → /), Host → the target's awsName, original path kept.
        CHECK(r.headers["x-seen-target"] == "/" + colour);
        CHECK(r.headers["x-seen-host"] == "color-paths.howto-app.svc.cluster.local");
        CHECK(r.headers["x-seen-original-path"] == "/paths/" + colour);
        CHECK(r.headers["x-seen-proto"] == "http");
    }
    // The query survives the rewrite; /paths alone is "/" → the router's default route (white).
    const auto q = c.get("/paths/red?x=1&y", "gateway.example.com");
    CHECK(colour_of(q) == "red");
    CHECK(q.headers["x-seen-target"] == "/red?x=1&y");
    const auto root = c.get("/paths", "gateway.example.com");
    CHECK(colour_of(root) == "white");
    CHECK(root.headers["x-seen-target"] == "/");
    // /headers → color-headers: header rules of the router.
    CHECK(colour_of(c.get("/headers", "gw", {{"color_header", "blue"}})) == "blue");
    CHECK(colour_of(c.get("/headers", "gw", {{"color_header", "my-green-one"}})) == "green");
    CHECK(colour_of(c.get("/headers", "gw", {{"color_header", "redish"}})) == "red");
    CHECK(colour_of(c.get("/headers", "gw", {{"color_header", "other"}})) == "yellow");
    CHECK(colour_of(c.get("/headers", "gw")) == "white");

    // No gateway route: 404 NR naming the gateway, the request and the listener.
    const auto nr = c.get("/nomatch", "gateway.example.com:8088");
    INFO(nr.body);
    CHECK(nr.status == 404);
    CHECK(has(nr.body, "no gateway route of virtual gateway \"howto-app/ingress-gw\" matches GET "
                       "/nomatch (host \"gateway.example.com\") on gateway listener 8088 (http) [NR]"));
    // The connection stays usable after a local reply.
    CHECK(colour_of(c.get("/paths/blue", "gw")) == "blue");

    // Metrics: the gateway listener and the gateway route families. A request is counted after
    // its response; the session reads the next request on the connection only after that, so
    // one more request (a 404, counted on the listener only) orders the counts before the scrape.
    CHECK(c.get("/nomatch", "gw").status == 404);
    http_client admin(admin_port);
    const auto prom = admin.get("/stats/prometheus", "127.0.0.1");
    INFO(prom.body.substr(0, 4000));
    CHECK(std::regex_search(prom.body,
                            std::regex("envoy_http_downstream_rq_total\\{listener=\"gateway_8088\"\\} 1[34]\n")));
    CHECK(has(prom.body, "envoy_gateway_route_rq_total{virtual_gateway=\"howto-app/ingress-gw\","
                         "gateway_route=\"howto-app/gateway-route-paths\"} 7"));
    CHECK(has(prom.body, "envoy_gateway_route_rq_total{virtual_gateway=\"howto-app/ingress-gw\","
                         "gateway_route=\"howto-app/gateway-route-headers\"} 5"));
    CHECK(has(prom.body, "envoy_vhost_rq_total{virtual_service=\"howto-app/color-paths\"} 7"));
    CHECK(std::regex_search(prom.body, std::regex("envoy_http_downstream_rq_response_flags\\{listener="
                                                  "\"gateway_8088\",flag=\"NR\"\\} [12]\n")));
    const auto dump = admin.get("/config_dump", "127.0.0.1");
    CHECK(has(dump.body, "\"gateway\":{\"name\":\"howto-app/ingress-gw\",\"listeners\":[{\"port\":8088,"
                         "\"bound_port\":" + std::to_string(gw.port())));
    CHECK(has(dump.body, "\"name\":\"howto-app/gateway-route-paths\""));
    CHECK(has(admin.get("/server_info", "127.0.0.1").body, "\"gateway\":\"howto-app/ingress-gw\""));
    const auto stats = admin.get("/stats", "127.0.0.1");
    CHECK(has(stats.body, "gateway_route.howto-app/ingress-gw.howto-app/gateway-route-headers.rq_total: 5"));
    CHECK(std::regex_search(stats.body, std::regex("http\\.gateway_8088\\.downstream_rq_total: 1[34]\n")));

    CHECK(gw.px->terminate(std::chrono::seconds(15)) == 0);
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(text.substr(0, 3000));
    CHECK(has(text, "\"listener\":\"gateway_8088\""));
    CHECK(has(text, "\"path\":\"/paths/blue\""));  // X-ENVOY-ORIGINAL-PATH?:PATH: the client's path
    CHECK(has(text, "\"response_flags\":\"NR\""));
    CHECK(has(text, "\"upstream_cluster\":\"cds_egress_demo-mesh_"));
    CHECK(has(text, "\"gateway_route\":\"howto-app/gateway-route-paths\""));  // %GATEWAY_ROUTE%
    fs::remove_all(dir);
}

TEST_CASE("gateway: every howto-k8s-http-ingress-v2 GatewayRoute variant with the walkthrough's "
          "requests",
          "[integration][gateway]") {
    colour_upstreams up({"white", "blue", "red", "yellow", "green"});
    std::vector<std::string> args = {"--mesh", ingress_v2, "--gateway", "ingress-gw", "--admin-port", "0"};
    for (const std::string v : {"prefix-match", "path-match", "header-match", "method-match",
                                "query-match", "rewrite-path", "rewrite-prefix"}) {
        args.push_back("--mesh");
        args.push_back(corpus + "/howto-k8s-http-ingress-v2_v1beta2_gatewayroutes_" + v + ".yaml");
    }
    up.add_connect_to(args);
    gateway_proc gw(args, {8088});
    http_client c(gw.port());
    struct expect {
        http::verb method;
        std::string target;
        header_list headers;
        std::string colour;
        std::string upstream_target;
    };
    const std::vector<expect> cases = {
        {http::verb::get, "/paths/green", {}, "green", "/paths/green"},      // path-match (exact, priority 0)
        {http::verb::get, "/paths/blue", {}, "blue", "/blue"},               // prefix-match + router
        {http::verb::get, "/paths/red", {}, "red", "/red"},                  // prefix-match + router
        {http::verb::get, "/rewrite/path/blue", {}, "blue", "/blue"},        // rewrite-path
        {http::verb::get, "/test/", {}, "red", "/red/"},                     // rewrite-prefix
        {http::verb::get, "/query?color_type=white", {}, "white", "/?color_type=white"},  // query-match
        {http::verb::post, "/", {{"color_header", "yellow"}}, "yellow", "/"},  // header-match
        {http::verb::get, "/anything", {}, "white", "/anything"},             // method-match
    };
    for (const auto& e : cases) {
        const auto r = c.request(e.method, e.target, "gateway.example.com", e.headers);
        INFO(e.target << " -> " << r.status << " " << r.body);
        CHECK(r.status == 200);
        CHECK(colour_of(r) == e.colour);
        CHECK(r.headers["x-seen-target"] == e.upstream_target);
    }
    // query-match needs color_type=white; POST without the header matches no variant.
    const auto nr = c.request(http::verb::post, "/", "gateway.example.com");
    CHECK(nr.status == 404);
    CHECK(has(nr.body, "no gateway route of virtual gateway \"howto-app/ingress-gw\" matches POST /"));
    // prefix-match → color-paths, whose router has no /yellow route: the outbound step's 404.
    const auto router_nr = c.get("/paths/yellow", "gateway.example.com");
    CHECK(router_nr.status == 404);
    CHECK(has(router_nr.body, "no route of virtual router \"howto-app/color-paths\" matches GET "
                              "/yellow for virtual service \"color-paths.howto-app.svc.cluster.local\""));
    CHECK(gw.px->terminate(std::chrono::seconds(15)) == 0);
}

namespace {

/// A gateway with hostname routes, weighted targets, Host kept (DISABLED), a health check, a
/// connection pool and a second listener, in namespace `shop`. `extra_listener` goes under
/// listener 8088.
std::string shop_mesh(const std::string& api_prefix = "/", const std::string& extra_listener = {}) {
    std::string y = R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    mesh: shop-mesh
    gateway: edge
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata:
  name: shop-mesh
spec:
  namespaceSelector:
    matchLabels:
      mesh: shop-mesh
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualGateway
metadata:
  name: edge
  namespace: shop
spec:
  namespaceSelector:
    matchLabels:
      gateway: edge
  listeners:
    - portMapping:
        port: 8088
        protocol: http
      healthCheck:
        protocol: http
        path: /healthz
        healthyThreshold: 2
        unhealthyThreshold: 2
        timeoutMillis: 2000
        intervalMillis: 5000
)" + extra_listener + R"(    - portMapping:
        port: 9090
        protocol: http
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: api
  namespace: shop
spec:
  httpRoute:
    match:
      prefix: ")" + api_prefix + R"("
      port: 8088
      hostname:
        exact: api.example.com
    action:
      target:
        virtualService:
          virtualServiceRef:
            name: api
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: web
  namespace: shop
spec:
  httpRoute:
    match:
      port: 8088
      hostname:
        suffix: .example.com
    action:
      target:
        virtualService:
          virtualServiceRef:
            name: web
      rewrite:
        hostname:
          defaultTargetHostname: DISABLED
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: other-port
  namespace: shop
spec:
  httpRoute:
    match:
      prefix: /
      port: 9090
    action:
      target:
        virtualService:
          virtualServiceRef:
            name: web
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: api
  namespace: shop
spec:
  awsName: api.shop.svc.cluster.local
  provider:
    virtualRouter:
      virtualRouterRef:
        name: api
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: api
  namespace: shop
spec:
  listeners:
    - portMapping:
        port: 8080
        protocol: http
  routes:
    - name: split
      httpRoute:
        match:
          prefix: /
        action:
          weightedTargets:
            - virtualNodeRef:
                name: blue
              weight: 1
            - virtualNodeRef:
                name: green
              weight: 1
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: web
  namespace: shop
spec:
  awsName: web.shop.svc.cluster.local
  provider:
    virtualNode:
      virtualNodeRef:
        name: red
)";
    for (const std::string c : {"blue", "green", "red"}) {
        y += R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: )" + c + R"(
  namespace: shop
spec:
  listeners:
    - portMapping:
        port: 8080
        protocol: http
  serviceDiscovery:
    dns:
      hostname: color-)" + c + R"(.shop.svc.cluster.local
)";
    }
    return y;
}

}  // namespace

TEST_CASE("gateway: hostname match (exact, suffix, port stripped), weighted targets, Host kept "
          "with defaultTargetHostname DISABLED, match.port, the listener's health check, reload",
          "[integration][gateway]") {
    colour_upstreams up({"blue", "green", "red"});
    const std::string dir = temp_dir();
    const std::string mesh = dir + "/mesh.yaml";
    write_file(mesh, shop_mesh());
    const std::uint16_t admin_port = free_port();
    std::vector<std::string> args = {"--mesh", mesh, "--gateway", "shop/edge", "--admin-port",
                                     std::to_string(admin_port), "--no-watch"};
    up.add_connect_to(args, "shop");
    gateway_proc gw(args, {8088, 9090});
    http_client c(gw.port());

    // Exact hostname (case-insensitive, port stripped) → api → weighted 1:1 blue/green.
    int blue = 0;
    int green = 0;
    for (int i = 0; i < 60; ++i) {
        const auto r = c.get("/v1/items", "API.example.com:8088");
        REQUIRE(r.status == 200);
        const std::string col = colour_of(r);
        blue += col == "blue" ? 1 : 0;
        green += col == "green" ? 1 : 0;
        CHECK(r.headers["x-seen-host"] == "api.shop.svc.cluster.local");
        CHECK(r.headers["x-seen-target"] == "/v1/items");  // prefix "/": nothing to rewrite
    }
    CHECK(blue + green == 60);
    CHECK(blue > 5);
    CHECK(green > 5);
    // Suffix hostname → web (node provider) with the client's Host kept.
    const auto web = c.get("/shop", "www.example.com");
    CHECK(colour_of(web) == "red");
    CHECK(web.headers["x-seen-host"] == "www.example.com");
    // No hostname rule matches example.com itself (suffix ".example.com"): 404.
    CHECK(c.get("/", "example.com").status == 404);
    // Listener 9090 has its own route (match.port), whatever the Host.
    http_client c9090(gw.port(9090));
    const auto other = c9090.get("/x", "example.com");
    CHECK(colour_of(other) == "red");
    CHECK(other.headers["x-seen-host"] == "web.shop.svc.cluster.local");

    // The listener's healthCheck path is answered by the gateway itself; 9090 has none.
    const int before = up.by_colour["blue"]->requests() + up.by_colour["green"]->requests() +
                       up.by_colour["red"]->requests();
    const auto hc = c.get("/healthz", "api.example.com");
    CHECK(hc.status == 200);
    CHECK(hc.body == "healthy: gateway listener 8088 (http)\n");
    CHECK(up.by_colour["blue"]->requests() + up.by_colour["green"]->requests() +
              up.by_colour["red"]->requests() ==
          before);
    const auto head = c.request(http::verb::head, "/healthz", "api.example.com");
    CHECK(head.status == 200);
    CHECK(head.body.empty());
    CHECK(c9090.get("/healthz", "x").status == 200);  // routed: red answers
    CHECK(colour_of(c9090.get("/healthz", "x")) == "red");
    http_client admin(admin_port);
    REQUIRE(admin.request(http::verb::post, "/healthcheck/fail", "127.0.0.1").status == 200);
    const auto failed = c.get("/healthz", "api.example.com");
    CHECK(failed.status == 503);
    CHECK(has(failed.body, "health check failed"));

    // Reload: the api route now needs prefix /v2; /v1 falls through to the suffix route (web).
    write_file(mesh, shop_mesh("/v2"));
    const auto rl = admin.request(http::verb::post, "/reload", "127.0.0.1");
    INFO(rl.body);
    REQUIRE(rl.status == 200);
    CHECK(has(rl.body, "published generation 2"));
    CHECK(colour_of(c.get("/v1/items", "api.example.com")) == "red");
    const std::string v2 = colour_of(c.get("/v2/items", "api.example.com"));
    CHECK((v2 == "blue" || v2 == "green"));
    // An invalid mesh is refused and the running gateway keeps serving.
    write_file(mesh, shop_mesh("no-slash"));
    const auto bad = admin.request(http::verb::post, "/reload", "127.0.0.1");
    CHECK(bad.status == 400);
    CHECK(colour_of(c.get("/v1/items", "api.example.com")) == "red");

    CHECK(gw.px->terminate(std::chrono::seconds(15)) == 0);
    fs::remove_all(dir);
}

TEST_CASE("gateway: connectionPool maxConnections/maxPendingRequests overflow is 503 UO",
          "[integration][gateway]") {
    std::atomic<int> held{0};
    std::promise<void> two_in;
    test_upstream slow([&](const http::request<http::string_body>&, upstream_reply& r) {
        r.res.body() = "slow\n";
        r.delay = std::chrono::milliseconds(1500);
        if (++held == 1) {
            two_in.set_value();
        }
    });
    const std::string dir = temp_dir();
    const std::string mesh = dir + "/mesh.yaml";
    write_file(mesh, shop_mesh("/", R"(      connectionPool:
        http:
          maxConnections: 1
          maxPendingRequests: 1
)"));
    std::vector<std::string> args = {"--mesh", mesh, "--gateway", "edge", "--admin-port", "0",
                                     "--connect-to",
                                     "color-red.shop.svc.cluster.local:8080:127.0.0.1:" +
                                         std::to_string(slow.port())};
    gateway_proc gw(args, {8088, 9090});
    const std::uint16_t port = gw.port();
    // One request holds the only connection (1.5 s); of two more sent meanwhile, one waits as the
    // pending request and one overflows: 503 UO with x-envoy-overloaded.
    const auto get = [port](const std::string& path) {
        return std::async(std::launch::async, [port, path] {
            http_client c(port, std::chrono::seconds(20));
            return c.get(path, "www.example.com");
        });
    };
    auto first = get("/a");
    REQUIRE(two_in.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    auto second = get("/b");
    auto third = get("/c");
    const auto r1 = first.get();
    const auto r2 = second.get();
    const auto r3 = third.get();
    CHECK(r1.status == 200);
    const client_response& over = r2.status == 503 ? r2 : r3;
    const client_response& waited = r2.status == 503 ? r3 : r2;
    INFO(r2.status << " " << r2.body << " / " << r3.status << " " << r3.body);
    CHECK(waited.status == 200);
    CHECK(over.status == 503);
    CHECK(over.headers["x-envoy-overloaded"] == "true");
    CHECK(has(over.body, "connection pool limit (maxConnections 1, maxPendingRequests 1) [UO]"));
    CHECK(held.load() == 2);  // the overflow never reached the upstream
    CHECK(gw.px->terminate(std::chrono::seconds(15)) == 0);
    fs::remove_all(dir);
}

TEST_CASE("gateway: connectionPool http2 maxRequests: one request more in flight is 503 UO at "
          "once, for HTTP/1.1 and HTTP/2 clients alike", "[integration][gateway][h2]") {
    REQUIRE(::access("/usr/bin/curl", X_OK) == 0);
    std::atomic<int> held{0};
    std::promise<void> first_in;
    test_upstream slow([&](const http::request<http::string_body>&, upstream_reply& r) {
        r.res.body() = "slow\n";
        r.delay = std::chrono::milliseconds(3000);
        if (++held == 1) {
            first_in.set_value();
        }
    });
    const std::string dir = temp_dir();
    const std::string mesh = dir + "/mesh.yaml";
    // A third listener, http2 with maxRequests 1, and its own route to `web` (node red).
    write_file(mesh, shop_mesh("/", R"(    - portMapping:
        port: 7070
        protocol: http2
      connectionPool:
        http2:
          maxRequests: 1
)") + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: h2
  namespace: shop
spec:
  http2Route:
    match:
      prefix: /
      port: 7070
    action:
      target:
        virtualService:
          virtualServiceRef:
            name: web
)");
    std::vector<std::string> args = {"--mesh", mesh, "--gateway", "edge", "--admin-port", "0",
                                     "--connect-to",
                                     "color-red.shop.svc.cluster.local:8080:127.0.0.1:" +
                                         std::to_string(slow.port())};
    gateway_proc gw(args, {8088, 9090, 7070});
    const std::uint16_t port = gw.port(7070);
    auto first = std::async(std::launch::async, [port] {
        http_client c(port, std::chrono::seconds(20));
        return c.get("/a", "www.example.com");
    });
    REQUIRE(first_in.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    // The first request is in flight (3 s at the upstream): the next is refused at once, with
    // no queue (Envoy's max_requests), from an HTTP/1.1 client and from an h2 one.
    http_client c(port, std::chrono::seconds(20));
    const auto over = c.get("/b", "www.example.com");
    INFO(over.status << " " << over.body);
    CHECK(over.status == 503);
    CHECK(over.headers["x-envoy-overloaded"] == "true");
    CHECK(has(over.body, "is at its connection pool limit (http2.maxRequests 1) [UO]"));
    const std::string h2 = run_capture(
        "curl -s --http2-prior-knowledge -H 'Host: www.example.com' -w ' %{http_version} "
        "%{http_code}' http://127.0.0.1:" + std::to_string(port) + "/h2");
    CHECK(has(h2, "http2.maxRequests 1) [UO]"));
    CHECK(has(h2, " 2 503"));
    const auto r1 = first.get();
    CHECK(r1.status == 200);
    // The slot is released with the response: the next request passes.
    const auto after = c.get("/c", "www.example.com");
    CHECK(after.status == 200);
    CHECK(held.load() == 2);  // the refused requests never reached the upstream
    CHECK(gw.px->terminate(std::chrono::seconds(15)) == 0);
    fs::remove_all(dir);
}

TEST_CASE("gateway: TLS listeners: STRICT with client certificates required, PERMISSIVE",
          "[integration][gateway][tls]") {
    REQUIRE(::access("/usr/bin/curl", X_OK) == 0);
    generated_certs certs("outrigger-gw-certs");
    const std::string d = certs.dir().string();
    colour_upstreams up({"blue", "green", "red"});
    const std::string tls = R"(      tls:
        mode: STRICT
        certificate:
          file:
            certificateChain: )" + d + R"(/server.pem
            privateKey: )" + d + R"(/server.key
        validation:
          trust:
            file:
              certificateChain: )" + d + R"(/ca.pem
)";
    std::string yaml = shop_mesh("/", tls);
    // Listener 9090: PERMISSIVE, no client certificate needed.
    const std::string plain9090 = "    - portMapping:\n        port: 9090\n        protocol: http\n";
    const auto at = yaml.find(plain9090);
    REQUIRE(at != std::string::npos);
    yaml.insert(at + plain9090.size(),
                "      tls:\n        mode: PERMISSIVE\n        certificate:\n          file:\n"
                "            certificateChain: " + d + "/server.pem\n            privateKey: " + d +
                    "/server.key\n");
    const std::string dir = temp_dir();
    const std::string mesh = dir + "/mesh.yaml";
    write_file(mesh, yaml);
    std::vector<std::string> args = {"--mesh", mesh, "--gateway", "edge", "--admin-port", "0"};
    up.add_connect_to(args, "shop");
    gateway_proc gw(args, {8088, 9090});
    const std::string p = std::to_string(gw.port(8088));
    // The server certificate names localhost: curl verifies it; the Host header routes.
    const std::string curl = "curl -s -m 10 -o /dev/null -w '%{http_code}' --cacert " + d +
                             "/ca.pem -H 'Host: www.example.com' ";
    const std::string url = "https://localhost:" + p + "/shop";
    // Client certificate signed by the trusted CA: served over TLS (x-forwarded-proto https).
    const std::string ok = run_capture("curl -s -m 10 -D - --cacert " + d + "/ca.pem --cert " + d +
                                       "/client-web.pem --key " + d +
                                       "/client-web.key -H 'Host: www.example.com' " + url);
    INFO(ok);
    CHECK(has(ok, "HTTP/1.1 200"));
    CHECK(has(ok, "x-seen-proto: https"));
    CHECK(has(ok, "red"));
    // No client certificate, a certificate of another CA, plaintext: refused (no HTTP status).
    CHECK(run_capture(curl + url) == "000");
    CHECK(run_capture(curl + "--cert " + d + "/wrong-ca-leaf.pem --key " + d + "/wrong-ca-leaf.key " +
                      url) == "000");
    CHECK(run_capture(curl + "--cert " + d + "/client-web.pem --key " + d + "/client-web.key " +
                      url) == "200");
    CHECK(run_capture("curl -s -m 10 -o /dev/null -w '%{http_code}' http://127.0.0.1:" + p + "/shop") ==
          "000");
    // PERMISSIVE: TLS and plaintext on the same port.
    const std::string p2 = std::to_string(gw.port(9090));
    CHECK(run_capture("curl -s -m 10 --cacert " + d + "/ca.pem https://localhost:" + p2 + "/x") ==
          "red\n");
    CHECK(run_capture("curl -s -m 10 http://127.0.0.1:" + p2 + "/x") == "red\n");
    CHECK(gw.px->terminate(std::chrono::seconds(15)) == 0);
    fs::remove_all(dir);
}

TEST_CASE("gateway: a rotated listener certificate is presented to new connections without a "
          "restart",
          "[integration][gateway][tls]") {
    generated_certs certs("outrigger-gw-rot-certs");
    const std::string d = certs.dir().string();
    colour_upstreams up({"blue", "green", "red"});
    const std::string dir = temp_dir();
    // The listener's files live where the test rewrites them (a kubelet updating a Secret).
    const std::string cert = dir + "/listener.pem";
    const std::string cert_key = dir + "/listener.key";
    const auto install = [](const std::string& from, const std::string& to) {
        fs::copy_file(from, to + ".tmp", fs::copy_options::overwrite_existing);
        fs::rename(to + ".tmp", to);
    };
    install(d + "/server.pem", cert);
    install(d + "/server.key", cert_key);
    std::string yaml = shop_mesh("/");
    const std::string plain9090 = "    - portMapping:\n        port: 9090\n        protocol: http\n";
    const auto at = yaml.find(plain9090);
    REQUIRE(at != std::string::npos);
    yaml.insert(at + plain9090.size(),
                "      tls:\n        mode: STRICT\n        certificate:\n          file:\n"
                "            certificateChain: " + cert + "\n            privateKey: " + cert_key +
                    "\n");
    const std::string mesh = dir + "/mesh.yaml";
    write_file(mesh, yaml);
    std::vector<std::string> args = {"--mesh", mesh, "--gateway", "edge", "--admin-port", "0"};
    up.add_connect_to(args, "shop");
    gateway_proc gw(args, {8088, 9090});
    const std::string p = std::to_string(gw.port(9090));
    const auto fingerprint = [](const std::string& cmd) {
        std::string out;
        for (const char ch : run_capture(cmd)) {
            if (std::isxdigit(static_cast<unsigned char>(ch)) != 0) {
                out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
            }
        }
        return out;
    };
    const std::string presented = "openssl s_client -connect 127.0.0.1:" + p +
                                  " -servername localhost </dev/null 2>/dev/null | openssl x509 "
                                  "-noout -fingerprint -sha256 2>/dev/null | cut -d= -f2";
    const std::string old_fp =
        fingerprint("openssl x509 -noout -fingerprint -sha256 -in " + d + "/server.pem | cut -d= -f2");
    const std::string new_fp =
        fingerprint("openssl x509 -noout -fingerprint -sha256 -in " + d + "/server2.pem | cut -d= -f2");
    REQUIRE(!old_fp.empty());
    REQUIRE(old_fp != new_fp);
    CHECK(fingerprint(presented) == old_fp);
    const std::string get = "curl -s -m 10 --cacert " + d + "/ca.pem https://localhost:" + p + "/x";
    CHECK(run_capture(get) == "red\n");
    // Rotate (key first would leave a mismatched pair on disk for a moment: the rotator keeps
    // the old context until both files agree). Picked up by the 1 s check; polled with a deadline.
    install(d + "/server2.pem", cert);
    install(d + "/server2.key", cert_key);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::string seen;
    while (std::chrono::steady_clock::now() < deadline) {
        seen = fingerprint(presented);
        if (seen == new_fp) {
            break;
        }
    }
    CHECK(seen == new_fp);
    CHECK(run_capture(get) == "red\n");  // still routed, on the new certificate
    CHECK(gw.px->terminate(std::chrono::seconds(15)) == 0);
    fs::remove_all(dir);
}

TEST_CASE("gateway: App Mesh's env forms select the gateway, and --gateway-port errors",
          "[integration][gateway][cli]") {
    colour_upstreams up({"white", "blue"});
    std::vector<std::string> args = {"--mesh", ingress_gw, "--admin-port", "0"};
    up.add_connect_to(args);
    // The controller's injected env in a gateway pod: both variables, mesh/M/virtualGateway/GW.
    {
        gateway_proc gw(args, {8088},
                        {"-u", "OUTRIGGER_NODE", "-u", "OUTRIGGER_GATEWAY",
                         "APPMESH_RESOURCE_ARN=mesh/demo-mesh/virtualGateway/ingress-gw_howto-app",
                         "APPMESH_VIRTUAL_NODE_NAME=mesh/demo-mesh/virtualGateway/ingress-gw_howto-app"});
        http_client c(gw.port());
        CHECK(colour_of(c.get("/paths/blue", "gw")) == "blue");
        CHECK(gw.px->terminate(std::chrono::seconds(15)) == 0);
    }
    {
        gateway_proc gw(args, {8088},
                        {"-u", "OUTRIGGER_NODE", "-u", "OUTRIGGER_GATEWAY",
                         "APPMESH_RESOURCE_ARN=arn:aws:appmesh:us-west-2:111122223333:mesh/demo-mesh/"
                         "virtualGateway/ingress-gw_howto-app"});
        http_client c(gw.port());
        CHECK(colour_of(c.get("/paths/blue", "gw")) == "blue");
        CHECK(gw.px->terminate(std::chrono::seconds(15)) == 0);
    }
    const std::string bin = OUTRIGGER_BINARY;
    const std::string wrong = run_capture(bin + " run --mesh " + ingress_gw +
                                          " --gateway ingress-gw --gateway-port 9999=0 2>&1; echo rc=$?");
    CHECK(has(wrong, "--gateway-port 9999=0: gateway howto-app/ingress-gw has no listener 9999 "
                     "(listeners: 8088 (http))"));
    CHECK(has(wrong, "rc=2"));
}

TEST_CASE("gateway: a grpc listener (howto-k8s-grpc-ingress-v2) serves real gRPC calls over h2c",
          "[integration][gateway][grpc]") {
    // The greeter node's listener is grpc: the gateway speaks h2 to it. A real gRPC server
    // (python3-grpcio) stands in for it; the caller is a real gRPC client.
    const std::string peer = std::string(OUTRIGGER_SOURCE_DIR) + "/tests/integration/http2/grpc_peer.py";
    const std::uint16_t app = free_port();
    child_process greeter({"/usr/bin/python3", peer, "server", std::to_string(app)});
    REQUIRE(greeter.wait_for(std::regex("(ready)"), std::chrono::seconds(20)) == "ready");
    const std::string mesh = corpus + "/howto-k8s-grpc-ingress-v2_v1beta2_manifest.yaml";
    child_process px({OUTRIGGER_BINARY, "run", "--mesh", mesh, "--gateway", "ingress-gw",
                      "--gateway-port", "9111=0", "--gateway-address", "127.0.0.1", "--admin-port", "0",
                      "--workers", "1", "--connect-to",
                      "greeter.howto-app.svc.cluster.local:9111:127.0.0.1:" + std::to_string(app)});
    const std::string p = px.wait_for(
        std::regex("gateway listener 9111 \\(grpc\\) listening on 127\\.0\\.0\\.1:([0-9]+)"),
        std::chrono::seconds(15));
    REQUIRE_FALSE(p.empty());
    const auto call = [&](const std::string& method) {
        return run_capture("/usr/bin/python3 " + peer + " call 127.0.0.1:" + p + " gw.example.com " +
                           method + " world");
    };
    // grpcRoute serviceName Hello → greeter (the path is never rewritten).
    CHECK(call("/Hello/SayHello") == "OK hello world\n");
    // No GatewayRoute for this service: a gRPC status from the gateway, not an HTML error.
    CHECK(call("/Other/Call").rfind("UNIMPLEMENTED ", 0) == 0);
    CHECK(px.terminate(std::chrono::seconds(15)) == 0);
}
