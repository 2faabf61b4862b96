// The ingress gateway's pure half (routing/gateway*.hpp): selecting the gateway, which
// GatewayRoutes attach (membership rules and their validate errors), the compiled table
// (listeners, evaluation order, outbound snapshot), matching, every row of the rewrite table of
// docs/gateway.md, and the whole chain gateway match → rewrite → decide → weighted target on the
// corpus walkthroughs (howto-k8s-http-ingress-v2 with each GatewayRoute variant,
// howto-k8s-ingress-gateway, howto-k8s-grpc-ingress-v2), with the requests their READMEs make.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "routing/compile.hpp"
#include "routing/gateway.hpp"
#include "routing/gateway_compile.hpp"
#include "routing/gateway_membership.hpp"
#include "routing/resolve.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

using namespace outrigger::routing;

namespace {

const std::string corpus_dir = OUTRIGGER_CORPUS_DIR;

/// Everything a test needs from one input: the loaded mesh, its diagnostics and (when valid) the
/// compiled gateway.
struct gateway_fixture {
    mesh_input in;
    diagnostics diags;
    std::shared_ptr<const gateway_snapshot> gw;

    [[nodiscard]] std::string dump() const {
        std::string s;
        for (const auto& e : diags.items()) {
            s += format(e, in.files) + "\n";
        }
        return s;
    }
    [[nodiscard]] const config_error* find(severity level, const std::string& field,
                                           const std::string& fragment) const {
        for (const auto& e : diags.items()) {
            if (e.level == level && e.field == field &&
                e.message.find(fragment) != std::string::npos) {
                return &e;
            }
        }
        return nullptr;
    }
};

/// load_string + resolve + validate + compile_gateway, as `run --gateway` does.
std::unique_ptr<gateway_fixture> from_yaml(const std::string& yaml,
                                           const std::string& gateway = "gw") {
    auto f = std::make_unique<gateway_fixture>();
    load_string(yaml, "test.yaml", f->in, f->diags);
    resolve_options ro;
    ro.gateway = gateway;
    const resolve_result which = resolve(f->in, ro, f->diags);
    const mesh_index index(f->in);
    validate_options vo;
    vo.gateway = which.gateway;
    validate(f->in, index, vo, f->diags);
    if (!f->diags.has_errors()) {
        f->gw = compile_gateway(f->in, index, which, compile_options{});
    }
    return f;
}

/// load_and_compile_gateway on corpus files.
std::unique_ptr<gateway_fixture> from_corpus(const std::vector<std::string>& files,
                                             const std::string& gateway = "ingress-gw") {
    auto f = std::make_unique<gateway_fixture>();
    load_options lo;
    for (const auto& file : files) {
        lo.paths.push_back(corpus_dir + "/" + file);
    }
    lo.gateway = gateway;
    f->gw = load_and_compile_gateway(lo, f->in, f->diags);
    return f;
}

/// One request as a client sends it to a gateway listener.
struct request {
    std::string method = "GET";
    std::string host = "gw.example.com";
    std::optional<std::uint16_t> port;
    std::string path = "/";
    std::string query;
    std::vector<std::pair<std::string, std::string>> headers;

    std::vector<header_view> hv;
    std::string norm;
    request_view view() {
        hv.clear();
        for (const auto& [n, v] : headers) {
            hv.push_back({n, v});
        }
        normalize_path(path, norm);
        request_view v;
        v.method = method;
        v.path = norm;
        v.query = query;
        v.host = host;
        v.port = port;
        v.headers = hv;
        return v;
    }
};

request get(std::string path, std::string query = "") {
    request r;
    r.path = std::move(path);
    r.query = std::move(query);
    return r;
}

/// The result of the whole chain for one request, flattened for assertions.
struct chain {
    gateway_decision::outcome_t gateway_outcome = gateway_decision::outcome_t::no_route;
    std::string gateway_route;  // namespace/name
    std::string path;           // upstream path
    std::string authority;
    bool authority_rewritten = false;
    route_decision::outcome_t outcome = route_decision::outcome_t::unmodelled;
    std::string service;  // awsName the outbound step chose
    std::string route;    // router route name
    std::string node;     // target virtual node namespace/name
    std::uint16_t target_port = 0;
    std::vector<gateway_trace_entry> trace;
};

chain send(const gateway_snapshot& gw, request req, std::uint16_t listener_port,
           std::uint32_t random = 0) {
    chain c;
    gateway_rewrite rw;
    const request_view v = req.view();
    const gateway_result res = route_gateway_request(gw, listener_port, v, random, rw, &c.trace);
    c.gateway_outcome = res.gateway.outcome;
    if (res.gateway.route == nullptr) {
        return c;
    }
    c.gateway_route = res.gateway.route->name;
    c.path = rw.path;
    c.authority = rw.authority;
    c.authority_rewritten = rw.authority_rewritten;
    c.outcome = res.outbound.outcome;
    if (res.outbound.service != nullptr) {
        c.service = res.outbound.service->aws_name;
    }
    if (res.outbound.route != nullptr) {
        c.route = res.outbound.route->name;
    }
    if (res.outbound.target != nullptr) {
        c.node = res.outbound.target->node_name;
        c.target_port = res.outbound.target->port;
    }
    return c;
}

// ---- small meshes ----------------------------------------------------------------------------

const std::string mesh_head = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m}
spec:
  namespaceSelector: {matchLabels: {mesh: m}}
---
apiVersion: v1
kind: Namespace
metadata: {name: edge, labels: {mesh: m, gateway: gw}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {mesh: m}}
)";

/// Virtual node `name` in shop on port 8080, and a virtual service `name` it provides.
std::string service(const std::string& name, const std::string& listener_extra = "") {
    return "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: {name: " +
           name + ", namespace: shop}\nspec:\n  listeners:\n"
           "    - portMapping: {port: 8080, protocol: http}\n" +
           listener_extra + "  serviceDiscovery: {dns: {hostname: " + name +
           ".shop.svc.cluster.local}}\n---\napiVersion: appmesh.k8s.aws/v1beta2\n"
           "kind: VirtualService\nmetadata: {name: " +
           name + ", namespace: shop}\nspec:\n  awsName: " + name +
           ".shop.svc.cluster.local\n  provider:\n    virtualNode:\n      virtualNodeRef: {name: " +
           name + "}\n";
}

/// Gateway gw in edge, selecting namespaces labelled gateway=gw.
std::string gateway_doc(const std::string& listeners = "    - portMapping: {port: 8088, protocol: "
                                                       "http}\n",
                        const std::string& extra = "") {
    return "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualGateway\nmetadata: {name: gw, "
           "namespace: edge}\nspec:\n  namespaceSelector: {matchLabels: {gateway: gw}}\n" +
           extra + "  listeners:\n" + listeners;
}

/// GatewayRoute `name` in edge: `body` is the whole spec (indented two spaces).
std::string route_doc(const std::string& name, const std::string& body,
                      const std::string& labels = "") {
    return "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: GatewayRoute\nmetadata: {name: " +
           name + ", namespace: edge" + (labels.empty() ? "" : ", labels: " + labels) +
           "}\nspec:\n" + body;
}

/// An httpRoute spec: `match` lines (indented six), target shop/`target`, `action_extra` lines.
std::string http_spec(const std::string& match, const std::string& target,
                      const std::string& action_extra = "", const std::string& top = "") {
    return top + "  httpRoute:\n    match:\n" + match +
           "    action:\n      target:\n        virtualService:\n"
           "          virtualServiceRef: {name: " +
           target + ", namespace: shop}\n" + action_extra;
}

const std::string two_services = mesh_head + service("a") + service("b");

}  // namespace

// ---- selecting the gateway -------------------------------------------------------------------

TEST_CASE("gateway: --gateway accepts NAME, NS/NAME, mesh/M/virtualGateway/AWSNAME and the ARN",
          "[gateway][resolve]") {
    const std::string y = two_services + gateway_doc() +
                          route_doc("r", http_spec("      prefix: /\n", "a"));
    for (const std::string spec :
         {"gw", "edge/gw", "gw_edge", "mesh/m/virtualGateway/gw_edge",
          "arn:aws:appmesh:us-west-2:111122223333:mesh/m/virtualGateway/gw_edge"}) {
        INFO(spec);
        auto f = from_yaml(y, spec);
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        CHECK(f->gw->gateway_name == "edge/gw");
        CHECK(f->gw->gateway_aws_name == "gw_edge");
        CHECK(f->gw->mesh_name == "m");
    }
    CHECK(names_virtual_gateway("mesh/m/virtualGateway/gw_edge"));
    CHECK(names_virtual_gateway("arn:aws:appmesh:us-west-2:1:mesh/m/virtualGateway/gw_edge"));
    CHECK_FALSE(names_virtual_gateway("mesh/m/virtualNode/a_shop"));
    CHECK_FALSE(names_virtual_gateway("gw"));
}

TEST_CASE("gateway: an unknown gateway is an error naming the gateways the input has",
          "[gateway][resolve]") {
    const std::string y = two_services + gateway_doc() +
                          route_doc("r", http_spec("      prefix: /\n", "a"));
    {
        auto f = from_yaml(y, "gq");
        CHECK(f->gw == nullptr);
        INFO(f->dump());
        CHECK(f->dump().find("error: --gateway: no VirtualGateway \"gq\" (did you mean \"gw\"?); "
                             "the input has: edge/gw") != std::string::npos);
    }
    {
        auto f = from_yaml(y, "mesh/other/virtualGateway/gw_edge");
        CHECK(f->gw == nullptr);
        CHECK(f->dump().find("no VirtualGateway") != std::string::npos);
    }
    {
        auto f = from_yaml(y, "mesh/m/virtualNode/a_shop");
        CHECK(f->dump().find("does not name a virtualGateway") != std::string::npos);
    }
    {
        auto f = from_yaml(two_services, "gw");
        CHECK(f->dump().find("the input defines no VirtualGateway") != std::string::npos);
    }
    {
        // Same name in two namespaces: NAME is ambiguous, NS/NAME is not.
        const std::string two = y + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: edge2, "
                                    "labels: {mesh: m}}\n" +
                                "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualGateway\n"
                                "metadata: {name: gw, namespace: edge2}\nspec:\n"
                                "  listeners:\n    - portMapping: {port: 9000, protocol: http}\n";
        auto f = from_yaml(two, "gw");
        CHECK(f->dump().find("VirtualGateway \"gw\" is ambiguous (edge/gw, edge2/gw)") !=
              std::string::npos);
        auto g = from_yaml(two, "edge2/gw");
        INFO(g->dump());
        REQUIRE(g->gw != nullptr);
        CHECK(g->gw->routes.empty());  // no namespaceSelector: no routes attach
    }
}

// ---- which routes attach ---------------------------------------------------------------------

TEST_CASE("gateway: namespaceSelector absent selects no routes, {} selects every namespace",
          "[gateway][membership]") {
    const std::string route = route_doc("r", http_spec("      prefix: /\n", "a"));
    SECTION("absent: the route belongs to no gateway (error)") {
        std::string y = two_services + gateway_doc() + route;
        const std::string sel = "  namespaceSelector: {matchLabels: {gateway: gw}}\n";
        y.erase(y.find(sel), sel.size());
        auto f = from_yaml(y);
        INFO(f->dump());
        const auto* e = f->find(severity::error, "metadata.namespace",
                                "no VirtualGateway selects this GatewayRoute");
        REQUIRE(e != nullptr);
        CHECK(e->message.find("edge/gw: it has no namespaceSelector") != std::string::npos);
        CHECK(e->name == "r");
    }
    SECTION("{}: every namespace") {
        std::string y = two_services + gateway_doc() + route;
        const std::string sel = "{matchLabels: {gateway: gw}}";
        y.replace(y.find(sel), sel.size(), "{}");
        // The route moves to shop, whose labels do not say gateway=gw.
        y.replace(y.rfind("namespace: edge}"), 16, "namespace: shop}");
        auto f = from_yaml(y);
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        REQUIRE(f->gw->routes.size() == 1);
        CHECK(f->gw->routes[0].name == "shop/r");
    }
    SECTION("matchLabels against the Namespace document's labels") {
        std::string y = two_services + gateway_doc() + route;
        y.replace(y.rfind("namespace: edge}"), 16, "namespace: shop}");
        auto f = from_yaml(y);
        INFO(f->dump());
        const auto* e = f->find(severity::error, "metadata.namespace",
                                "no VirtualGateway selects this GatewayRoute");
        REQUIRE(e != nullptr);
        CHECK(e->message.find("namespaceSelector {gateway=gw} does not match namespace \"shop\" "
                              "(labels: mesh=m)") != std::string::npos);
    }
}

TEST_CASE("gateway: gatewayRouteSelector filters on the route's labels", "[gateway][membership]") {
    const std::string gw = gateway_doc("    - portMapping: {port: 8088, protocol: http}\n",
                                       "  gatewayRouteSelector: {matchLabels: {edge: public}}\n");
    SECTION("matching labels attach") {
        auto f = from_yaml(two_services + gw +
                           route_doc("r", http_spec("      prefix: /\n", "a"), "{edge: public}"));
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        CHECK(f->gw->routes.size() == 1);
    }
    SECTION("other labels: error naming the selector") {
        auto f = from_yaml(two_services + gw +
                           route_doc("r", http_spec("      prefix: /\n", "a"), "{edge: internal}"));
        const auto* e = f->find(severity::error, "metadata.namespace",
                                "no VirtualGateway selects this GatewayRoute");
        INFO(f->dump());
        REQUIRE(e != nullptr);
        CHECK(e->message.find("gatewayRouteSelector {edge=public} does not match the route's "
                              "labels (edge=internal)") != std::string::npos);
    }
}

TEST_CASE("gateway: a route selected by two gateways is an error naming both, with file:line",
          "[gateway][membership]") {
    const std::string second = "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualGateway\n"
                               "metadata: {name: gw2, namespace: edge}\nspec:\n"
                               "  namespaceSelector: {}\n"
                               "  listeners:\n    - portMapping: {port: 9000, protocol: http}\n";
    const std::string y =
        two_services + gateway_doc() + second + route_doc("r", http_spec("      prefix: /\n", "a"));
    auto f = from_yaml(y);
    INFO(f->dump());
    CHECK(f->gw == nullptr);
    const auto* e = f->find(severity::error, "metadata.namespace",
                            "2 VirtualGateways select this GatewayRoute (edge/gw, edge/gw2)");
    REQUIRE(e != nullptr);
    CHECK(e->kind == "GatewayRoute");
    CHECK(e->loc.file == 0);
    CHECK(e->loc.line > 0);
    CHECK(format(*e, f->in.files).rfind("test.yaml:", 0) == 0);
    SECTION("virtualGatewayRef settles it") {
        std::string z = y;
        const std::string spec = "spec:\n  httpRoute:";
        z.replace(z.rfind(spec), spec.size(),
                  "spec:\n  virtualGatewayRef: {name: gw2, namespace: edge, uid: x}\n  httpRoute:");
        auto g = from_yaml(z, "gw2");
        INFO(g->dump());
        REQUIRE(g->gw != nullptr);
        CHECK(g->gw->routes.size() == 1);
        auto h = from_yaml(z, "gw");
        REQUIRE(h->gw != nullptr);
        CHECK(h->gw->routes.empty());
    }
}

TEST_CASE("gateway: virtualGatewayRef naming no loaded gateway is an error",
          "[gateway][membership]") {
    const std::string y =
        two_services + gateway_doc() +
        route_doc("r", "  virtualGatewayRef: {name: nope, uid: x}\n" +
                           http_spec("      prefix: /\n", "a"));
    auto f = from_yaml(y);
    INFO(f->dump());
    REQUIRE(f->find(severity::error, "spec.virtualGatewayRef.name",
                    "names VirtualGateway edge/nope, which is not in the input "
                    "(gateways: edge/gw)"));
}

TEST_CASE("gateway: without a Namespace document the selectors cannot be checked: one gateway "
          "takes the route, two are an error",
          "[gateway][membership]") {
    // Like the metrics-extension walkthrough: a mesh, a gateway and routes, no Namespace.
    const std::string base = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m}
spec:
  namespaceSelector: {matchLabels: {mesh: m}}
)" + service("a");
    const std::string route = route_doc("r", http_spec("      prefix: /\n", "a"));
    auto f = from_yaml(base + gateway_doc() + route);
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    CHECK(f->gw->routes.size() == 1);
    const std::string second = "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualGateway\n"
                               "metadata: {name: gw2, namespace: edge}\nspec:\n"
                               "  namespaceSelector: {matchLabels: {x: y}}\n"
                               "  listeners:\n    - portMapping: {port: 9000, protocol: http}\n";
    auto g = from_yaml(base + gateway_doc() + second + route);
    INFO(g->dump());
    REQUIRE(g->find(severity::error, "metadata.namespace",
                    "namespace \"edge\" has no Namespace document"));
}

// ---- validate rules --------------------------------------------------------------------------

TEST_CASE("gateway: the route kind must be its listener's protocol", "[gateway][validate]") {
    const std::string y = two_services +
                          gateway_doc("    - portMapping: {port: 8088, protocol: grpc}\n") +
                          route_doc("r", http_spec("      prefix: /\n", "a"));
    auto f = from_yaml(y);
    INFO(f->dump());
    REQUIRE(f->find(severity::error, "spec.httpRoute",
                    "a httpRoute on gateway edge/gw listener 8088 (grpc) never matches"));
}

TEST_CASE("gateway: match.port must name a listener, and is required with several",
          "[gateway][validate]") {
    const std::string two = "    - portMapping: {port: 8088, protocol: http}\n"
                            "    - portMapping: {port: 8089, protocol: http}\n";
    auto f = from_yaml(two_services + gateway_doc(two) +
                       route_doc("r", http_spec("      prefix: /\n", "a")));
    CHECK(f->find(severity::error, "spec.httpRoute.match.port", "match.port is required"));
    auto g = from_yaml(two_services + gateway_doc(two) +
                       route_doc("r", http_spec("      prefix: /\n      port: 9999\n", "a")));
    CHECK(g->find(severity::error, "spec.httpRoute.match.port",
                  "port 9999 is not a listener port of gateway edge/gw (ports: 8088, 8089)"));
}

TEST_CASE("gateway: reserved prefixes and service names are refused", "[gateway][validate]") {
    for (const std::string p : {"/aws-appmesh", "/aws-appmeshx/y", "/aws-app-mesh/"}) {
        auto f = from_yaml(two_services + gateway_doc() +
                           route_doc("r", http_spec("      prefix: " + p + "\n", "a")));
        INFO(p << "\n" << f->dump());
        CHECK(f->find(severity::error, "spec.httpRoute.match.prefix", "is reserved"));
    }
    auto ok = from_yaml(two_services + gateway_doc() +
                        route_doc("r", http_spec("      prefix: /aws-app\n", "a")));
    CHECK_FALSE(ok->diags.has_errors());
    const std::string grpc = "  grpcRoute:\n    match:\n      serviceName: aws.appmesh.Foo\n"
                             "    action:\n      target:\n        virtualService:\n"
                             "          virtualServiceRef: {name: a, namespace: shop}\n";
    auto g = from_yaml(two_services +
                       gateway_doc("    - portMapping: {port: 8088, protocol: grpc}\n") +
                       route_doc("r", grpc));
    CHECK(g->find(severity::error, "spec.grpcRoute.match.serviceName", "is reserved"));
}

TEST_CASE("gateway: a prefix rewrite needs a prefix match", "[gateway][validate]") {
    auto f = from_yaml(two_services + gateway_doc() +
                       route_doc("r", http_spec("      path: {exact: /a}\n", "a",
                                                "      rewrite:\n        prefix: {value: /b/}\n")));
    CHECK(f->find(severity::error, "spec.httpRoute.action.rewrite.prefix.value",
                  "a prefix rewrite needs a prefix match"));
    auto g = from_yaml(two_services + gateway_doc() +
                       route_doc("r", http_spec("      path: {exact: /a}\n", "a",
                                                "      rewrite:\n        prefix: "
                                                "{defaultPrefix: DISABLED}\n")));
    CHECK_FALSE(g->diags.has_errors());
    CHECK(g->find(severity::warning, "spec.httpRoute.action.rewrite.prefix.defaultPrefix",
                  "defaultPrefix is ignored"));
    auto h = from_yaml(two_services + gateway_doc() +
                       route_doc("r", http_spec("      path: {exact: /a}\n", "a",
                                                "      rewrite:\n        path: {exact: b}\n")));
    CHECK(h->find(severity::error, "spec.httpRoute.action.rewrite.path.exact",
                  "must start with '/'"));
}

TEST_CASE("gateway: ACM at the gateway being run is an error, a warning otherwise",
          "[gateway][validate][aws]") {
    const std::string listener = R"(    - portMapping: {port: 8088, protocol: http}
      tls:
        mode: STRICT
        certificate:
          acm: {certificateARN: "arn:aws:acm:us-west-2:1:certificate/g"}
)";
    const std::string y =
        two_services + gateway_doc(listener) + route_doc("r", http_spec("      prefix: /\n", "a"));
    auto f = from_yaml(y);
    CHECK(f->find(severity::error, "spec.listeners[0].tls.certificate.acm.certificateARN",
                  "ACM certificates"));
    auto g = from_yaml(y, "");
    CHECK_FALSE(g->diags.has_errors());
    CHECK(g->find(severity::warning, "spec.listeners[0].tls.certificate.acm.certificateARN",
                  "ACM certificates"));
}

// ---- compiled table --------------------------------------------------------------------------

TEST_CASE("gateway: listeners compile with port, protocol, tls, health check and pool",
          "[gateway][compile]") {
    const std::string listeners = R"(    - portMapping: {port: 8088, protocol: http}
      tls:
        mode: STRICT
        certificate:
          file: {certificateChain: /certs/gw.pem, privateKey: /certs/gw.key}
        validation:
          trust:
            file: {certificateChain: /certs/ca.pem}
          subjectAlternativeNames:
            match: {exact: [client.example.com]}
      healthCheck:
        protocol: http
        path: /healthz
        intervalMillis: 5000
        timeoutMillis: 2000
        unhealthyThreshold: 2
      connectionPool:
        http: {maxConnections: 5, maxPendingRequests: 7}
    - portMapping: {port: 8089, protocol: http2}
      connectionPool:
        http2: {maxRequests: 9}
    - portMapping: {port: 8090, protocol: grpc}
)";
    const std::string routes =
        route_doc("h", http_spec("      prefix: /\n      port: 8088\n", "a")) +
        route_doc("h2", "  http2Route:\n    match:\n      prefix: /\n      port: 8089\n"
                        "    action:\n      target:\n        virtualService:\n"
                        "          virtualServiceRef: {name: b, namespace: shop}\n") +
        route_doc("g", "  grpcRoute:\n    match:\n      serviceName: pkg.Svc\n      port: 8090\n"
                       "    action:\n      target:\n        virtualService:\n"
                       "          virtualServiceRef: {name: b, namespace: shop}\n");
    auto f = from_yaml(two_services + gateway_doc(listeners) + routes);
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    const auto& ls = f->gw->listeners;
    REQUIRE(ls.size() == 3);
    CHECK(ls[0].port == 8088);
    CHECK(ls[0].proto == protocol::http);
    CHECK(ls[0].display == "gateway listener 8088 (http)");
    REQUIRE(ls[0].tls);
    CHECK(ls[0].tls->mode == "STRICT");
    CHECK(ls[0].tls->certificate.certificate_chain == "/certs/gw.pem");
    REQUIRE(ls[0].tls->validation_trust);
    CHECK(ls[0].tls->validation_trust->certificate_chain == "/certs/ca.pem");
    CHECK(ls[0].tls->validation_sans == std::vector<std::string>{"client.example.com"});
    REQUIRE(ls[0].health_check);
    CHECK(*ls[0].health_check->path == "/healthz");
    REQUIRE(ls[0].connection_pool);
    CHECK(ls[0].connection_pool->max_connections == 5);
    CHECK(*ls[0].connection_pool->max_pending_requests == 7);
    CHECK(ls[1].proto == protocol::http2);
    CHECK(ls[1].connection_pool->max_requests == 9);
    CHECK(ls[2].proto == protocol::grpc);
    CHECK_FALSE(ls[2].tls);
    // Each route sits on its own listener only.
    REQUIRE(ls[0].route_ids.size() == 1);
    CHECK(f->gw->routes[ls[0].route_ids[0]].name == "edge/h");
    REQUIRE(ls[1].route_ids.size() == 1);
    CHECK(f->gw->routes[ls[1].route_ids[0]].name == "edge/h2");
    REQUIRE(ls[2].route_ids.size() == 1);
    CHECK(f->gw->routes[ls[2].route_ids[0]].name == "edge/g");
    CHECK(f->gw->find_listener(8089) == &ls[1]);
    CHECK(f->gw->find_listener(1) == nullptr);
}

TEST_CASE("gateway: evaluation order is priority, exact, regex, longer prefix, hostname, "
          "conditions, input order",
          "[gateway][compile]") {
    const std::string routes =
        route_doc("root", http_spec("      prefix: /\n", "a")) +
        route_doc("api", http_spec("      prefix: /api\n", "a")) +
        route_doc("api-v1", http_spec("      prefix: /api/v1\n", "a")) +
        route_doc("regex", http_spec("      path: {regex: /api/.*}\n", "a")) +
        route_doc("exact", http_spec("      path: {exact: /api/v1/x}\n", "a")) +
        route_doc("root-get", http_spec("      prefix: /\n      method: GET\n", "a")) +
        route_doc("host-suffix", http_spec("      prefix: /\n      hostname: {suffix: .com}\n",
                                           "a")) +
        route_doc("host-long", http_spec("      prefix: /\n      hostname: {suffix: .ex.com}\n",
                                         "a")) +
        route_doc("host-exact",
                  http_spec("      prefix: /\n      hostname: {exact: a.ex.com}\n", "a")) +
        route_doc("urgent", http_spec("      prefix: /\n", "b", "", "  priority: 5\n")) +
        route_doc("root-2", http_spec("      prefix: /\n", "b")) +
        route_doc("explicit-1000", http_spec("      prefix: /zz\n", "b", "", "  priority: 1000\n"));
    auto f = from_yaml(two_services + gateway_doc() + routes);
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    std::vector<std::string> order;
    for (const auto id : f->gw->listeners[0].route_ids) {
        order.push_back(f->gw->routes[id].name.substr(5));  // without "edge/"
    }
    // Unset priority is 1000 (the CRD default): explicit-1000 ties with the unset ones and its
    // 3-character prefix sorts it after /api (4).
    const std::vector<std::string> expected = {
        "urgent", "exact",      "regex",     "api-v1",    "api",      "explicit-1000",
        "host-exact", "host-long", "host-suffix", "root-get", "root", "root-2"};
    CHECK(order == expected);
    CHECK(f->gw->routes[0].effective_priority == 1000);
    CHECK_FALSE(f->gw->routes[0].priority);
}

TEST_CASE("gateway: the outbound snapshot has the targets as backends and backendDefaults TLS "
          "toward every target",
          "[gateway][compile]") {
    const std::string extra = R"(  backendDefaults:
    clientPolicy:
      tls:
        validation:
          trust:
            file: {certificateChain: /certs/ca.pem}
  logging:
    accessLog:
      file: {path: /dev/stdout}
)";
    const std::string y = two_services + service("c") +
                          gateway_doc("    - portMapping: {port: 8088, protocol: http}\n", extra) +
                          route_doc("ra", http_spec("      prefix: /a\n", "a")) +
                          route_doc("rb", http_spec("      prefix: /b\n", "b")) +
                          route_doc("rb2", http_spec("      prefix: /bb\n", "b"));
    auto f = from_yaml(y);
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    const snapshot& out = *f->gw->outbound;
    CHECK(out.gateway_name == std::optional<std::string>("edge/gw"));
    CHECK_FALSE(out.node_name);
    CHECK(out.ingress.empty());
    REQUIRE(out.services.size() == 2);  // a and b; c is no target
    CHECK(out.find_service("a.shop.svc.cluster.local") != nullptr);
    CHECK(out.find_service("b.shop.svc.cluster.local") != nullptr);
    CHECK(out.find_service("c.shop.svc.cluster.local") == nullptr);
    CHECK(out.all_service_names.size() == 3);
    REQUIRE(out.targets.size() == 2);
    for (const auto& t : out.targets) {
        CHECK(t.tls.mode == tls_origination::mode_t::verify);
        CHECK(t.tls.trust_file == "/certs/ca.pem");
        CHECK(t.tls.sans.size() == 1);  // the target's DNS name
    }
    REQUIRE(out.access_log);
    CHECK(out.access_log->path == "/dev/stdout");
}

// ---- matching --------------------------------------------------------------------------------

TEST_CASE("gateway: http matching on prefix, path, hostname, method, headers, query",
          "[gateway][decide]") {
    const std::string routes =
        route_doc("exact", http_spec("      path: {exact: /x/exact}\n", "a")) +
        route_doc("regex", http_spec("      path: {regex: '/r/[0-9]+'}\n", "a")) +
        route_doc("prefix", http_spec("      prefix: /p\n", "a")) +
        route_doc("host", http_spec("      prefix: /h\n      hostname: {exact: Api.Example.com}\n",
                                    "a")) +
        route_doc("suffix",
                  http_spec("      prefix: /h\n      hostname: {suffix: .example.org}\n", "a")) +
        route_doc("method", http_spec("      prefix: /m\n      method: POST\n", "a")) +
        route_doc("query", http_spec("      prefix: /q\n      queryParameters:\n"
                                     "        - name: color\n          match: {exact: blue}\n"
                                     "        - name: debug\n",
                                     "a"));
    auto f = from_yaml(two_services + gateway_doc() + routes);
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    const auto& gw = *f->gw;
    auto route_of = [&](request r) { return send(gw, std::move(r), 8088).gateway_route; };

    CHECK(route_of(get("/x/exact")) == "edge/exact");
    CHECK(route_of(get("/x/exact/")).empty());
    CHECK(route_of(get("/r/123")) == "edge/regex");
    CHECK(route_of(get("/r/12a")).empty());  // anchored
    CHECK(route_of(get("/p")) == "edge/prefix");
    CHECK(route_of(get("/pq/z")) == "edge/prefix");  // plain string prefix
    CHECK(route_of(get("/x/../p")) == "edge/prefix");  // the path is normalised first

    request h = get("/h");
    h.host = "API.example.COM";
    CHECK(route_of(h) == "edge/host");
    h.host = "api.example.com.";  // one trailing dot ignored
    CHECK(route_of(h) == "edge/host");
    h.host = "api.example.com";
    h.port = 8088;  // Host: api.example.com:8088 matches on the name (roadmap #365)
    CHECK(route_of(h) == "edge/host");
    h.host = "www.Example.ORG";
    CHECK(route_of(h) == "edge/suffix");
    h.host = "example.org";  // plain suffix: ".example.org" is not a suffix of it
    CHECK(route_of(h).empty());

    request m = get("/m");
    CHECK(route_of(m).empty());
    m.method = "POST";
    CHECK(route_of(m) == "edge/method");

    CHECK(route_of(get("/q", "color=blue&debug")) == "edge/query");
    CHECK(route_of(get("/q", "debug=1&color=blue")) == "edge/query");
    CHECK(route_of(get("/q", "color=blue")).empty());
    CHECK(route_of(get("/q", "color=red&debug")).empty());

    const chain none = send(gw, get("/nothing"), 8088);
    CHECK(none.gateway_outcome == gateway_decision::outcome_t::no_route);
    CHECK(none.trace.size() == gw.routes.size());
    CHECK(send(gw, get("/p"), 9999).gateway_outcome ==
          gateway_decision::outcome_t::no_listener);
}

TEST_CASE("gateway: the five header kinds, presence and invert", "[gateway][decide]") {
    const std::string routes =
        route_doc("exact", http_spec("      prefix: /\n      headers:\n        - name: x-kind\n"
                                     "          match: {exact: a}\n",
                                     "a", "", "  priority: 1\n")) +
        route_doc("prefix", http_spec("      prefix: /\n      headers:\n        - name: x-kind\n"
                                      "          match: {prefix: pre}\n",
                                      "a", "", "  priority: 2\n")) +
        route_doc("suffix", http_spec("      prefix: /\n      headers:\n        - name: x-kind\n"
                                      "          match: {suffix: fix}\n",
                                      "a", "", "  priority: 3\n")) +
        route_doc("regex", http_spec("      prefix: /\n      headers:\n        - name: x-kind\n"
                                     "          match: {regex: 'r[0-9]+'}\n",
                                     "a", "", "  priority: 4\n")) +
        route_doc("range", http_spec("      prefix: /\n      headers:\n        - name: x-kind\n"
                                     "          match: {range: {start: 10, end: 20}}\n",
                                     "a", "", "  priority: 5\n")) +
        route_doc("inverted", http_spec("      prefix: /\n      headers:\n        - name: x-kind\n"
                                        "          invert: true\n          match: {exact: zzz}\n"
                                        "        - name: x-present\n",
                                        "a", "", "  priority: 6\n"));
    auto f = from_yaml(two_services + gateway_doc() + routes);
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    auto route_of = [&](std::vector<std::pair<std::string, std::string>> headers) {
        request r = get("/");
        r.headers = std::move(headers);
        return send(*f->gw, std::move(r), 8088).gateway_route;
    };
    CHECK(route_of({{"X-Kind", "a"}}) == "edge/exact");
    CHECK(route_of({{"x-kind", "prelude"}}) == "edge/prefix");
    CHECK(route_of({{"x-kind", "suffix"}}) == "edge/suffix");
    CHECK(route_of({{"x-kind", "r42"}}) == "edge/regex");
    CHECK(route_of({{"x-kind", "15"}}) == "edge/range");
    // End is exclusive; 20 is not zzz, but x-present is missing.
    CHECK(route_of({{"x-kind", "20"}}).empty());
    CHECK(route_of({{"x-kind", "20"}, {"x-present", ""}}) == "edge/inverted");
    CHECK(route_of({{"x-kind", "zzz"}, {"x-present", "1"}}).empty());
    CHECK(route_of({{"x-present", "1"}}) == "edge/inverted");  // absent x-kind: NOT (equals) holds

    request r = get("/");
    r.headers = {{"x-kind", "nope"}};
    const chain c = send(*f->gw, r, 8088);
    REQUIRE(c.trace.size() == 6);
    CHECK(c.trace[0].failed_condition == "header x-kind equals \"a\": false");
    CHECK(c.trace[5].failed_condition == "header x-present is present: false");
}

TEST_CASE("gateway: grpc matching on serviceName, hostname and metadata", "[gateway][decide]") {
    const std::string grpc_listener = "    - portMapping: {port: 9111, protocol: grpc}\n";
    auto grpc_route = [](const std::string& match, const std::string& extra = "") {
        return extra + "  grpcRoute:\n    match:\n" + match +
               "    action:\n      target:\n        virtualService:\n"
               "          virtualServiceRef: {name: a, namespace: shop}\n";
    };
    const std::string routes =
        route_doc("meta", grpc_route("      serviceName: pkg.Hello\n      metadata:\n"
                                     "        - name: device\n          match: {exact: iphone}\n",
                                     "  priority: 1\n")) +
        route_doc("svc", grpc_route("      serviceName: pkg.Hello\n", "  priority: 2\n")) +
        route_doc("host", grpc_route("      hostname: {exact: grpc.example.com}\n",
                                     "  priority: 3\n"));
    auto f = from_yaml(two_services + gateway_doc(grpc_listener) + routes);
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    auto call = [&](const std::string& path, const std::string& host,
                    std::vector<std::pair<std::string, std::string>> md = {}) {
        request r;
        r.method = "POST";
        r.path = path;
        r.host = host;
        r.headers = std::move(md);
        r.headers.emplace_back("content-type", "application/grpc");
        return send(*f->gw, r, 9111);
    };
    CHECK(call("/pkg.Hello/SayHello", "x", {{"device", "iphone"}}).gateway_route == "edge/meta");
    CHECK(call("/pkg.Hello/SayHello", "x").gateway_route == "edge/svc");
    CHECK(call("/pkg.Hello2/SayHello", "x").gateway_route.empty());
    CHECK(call("/pkg.Other/Do", "GRPC.example.com").gateway_route == "edge/host");
    const chain c = call("/pkg.Other/Do", "x");
    CHECK(c.gateway_outcome == gateway_decision::outcome_t::no_route);
    REQUIRE(c.trace.size() == 3);
    CHECK(c.trace[0].failed_condition == "path /pkg.Other/Do is not a method of service pkg.Hello");
    // gRPC keeps its path; Host is rewritten as for http.
    const chain ok = call("/pkg.Hello/SayHello", "gw.example.com");
    CHECK(ok.path == "/pkg.Hello/SayHello");
    CHECK(ok.authority == "a.shop.svc.cluster.local");
    CHECK(ok.node == "shop/a");
}

// ---- rewrites: one check per row of docs/gateway.md -------------------------------------------

namespace {
struct rewrite_row {
    const char* id;
    std::string match;     // match lines (indented six)
    std::string rewrite;   // action lines after target (empty: no rewrite block)
    std::string path;      // request path
    std::string query;
    std::string expect_path;
};
}  // namespace

TEST_CASE("gateway: rewrite table (docs/gateway.md)", "[gateway][rewrite]") {
    const std::string disabled = "      rewrite:\n        prefix: {defaultPrefix: DISABLED}\n";
    const std::string enabled = "      rewrite:\n        prefix: {defaultPrefix: ENABLED}\n";
    auto value = [](const std::string& v) {
        return "      rewrite:\n        prefix: {value: " + v + "}\n";
    };
    auto path = [](const std::string& v) {
        return "      rewrite:\n        path: {exact: " + v + "}\n";
    };
    const std::string host_only = "      hostname: {exact: gw.example.com}\n";
    const std::vector<rewrite_row> rows = {
        {"P1", "      prefix: /paths\n", "", "/paths/red", "", "/red"},
        {"P2", "      prefix: /paths\n", "", "/paths", "", "/"},
        {"P3", "      prefix: /paths\n", "", "/paths/", "", "/"},
        {"P4", "      prefix: /paths\n", "", "/pathsX/y", "", "/X/y"},
        {"P5", "      prefix: /paths/\n", "", "/paths/red", "", "/red"},
        {"P6", "      prefix: /\n", "", "/a/b", "", "/a/b"},
        {"P7", "      prefix: /paths\n", enabled, "/paths/red", "", "/red"},
        {"P8", "      prefix: /paths\n", disabled, "/paths/red", "", "/paths/red"},
        {"V1", "      prefix: /test/\n", value("/red/"), "/test/", "", "/red/"},
        {"V2", "      prefix: /test/\n", value("/red/"), "/test/x/y", "", "/red/x/y"},
        {"V3", "      prefix: /test\n", value("/red/"), "/test/x", "", "/red/x"},
        {"V4", "      prefix: /test\n", value("/red/"), "/test", "", "/red/"},
        {"V5", "      prefix: /test\n", value("/red/"), "/testx", "", "/red/x"},
        {"V6", "      prefix: /\n", value("/v2/"), "/a", "", "/v2/a"},
        {"E1", "      path: {exact: /rewrite/path/blue}\n", path("/blue"), "/rewrite/path/blue",
         "", "/blue"},
        {"E2", "      path: {regex: '/a/.*'}\n", path("/b"), "/a/zz", "", "/b"},
        {"E3", "      path: {exact: /a}\n", "", "/a", "", "/a"},
        {"E4", "      path: {regex: '/a/.*'}\n", "", "/a/zz", "", "/a/zz"},
        {"E5", "      prefix: /x\n", path("/y"), "/x/z", "", "/y"},
        {"H1", host_only, "", "/a/b", "", "/a/b"},
        {"H2", host_only, value("/v2/"), "/a/b", "", "/v2/a/b"},
        {"Q1", "      prefix: /paths\n", "", "/paths/red", "x=1&y", "/red"},
        {"Q2", "      path: {exact: /rewrite/path/blue}\n", path("/blue"), "/rewrite/path/blue",
         "color=blue", "/blue"},
    };
    for (const auto& row : rows) {
        INFO("row " << row.id);
        auto f = from_yaml(two_services + gateway_doc() +
                           route_doc("r", http_spec(row.match, "a", row.rewrite)));
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        request r = get(row.path, row.query);
        const chain c = send(*f->gw, r, 8088);
        REQUIRE(c.gateway_route == "edge/r");
        CHECK(c.path == row.expect_path);
        // The query is never rewritten: the outbound request keeps `r.query` (the view's query
        // is the request's), checked through the outbound view below.
        gateway_rewrite rw;
        const request_view in = r.view();
        rewrite_request(f->gw->routes[0], in, rw);
        const request_view out = outbound_request(f->gw->routes[0], in, rw);
        CHECK(out.query == row.query);
        CHECK(out.path == row.expect_path);
        CHECK(rw.path_rewritten == (row.expect_path != r.norm));
    }
}

TEST_CASE("gateway: Host becomes the target's awsName unless defaultTargetHostname is DISABLED",
          "[gateway][rewrite]") {
    const std::string keep =
        "      rewrite:\n        hostname: {defaultTargetHostname: DISABLED}\n";
    const std::string on = "      rewrite:\n        hostname: {defaultTargetHostname: ENABLED}\n";
    for (const std::string& extra : {std::string(), on}) {
        auto f = from_yaml(two_services + gateway_doc() +
                           route_doc("r", http_spec("      prefix: /\n", "b", extra)));
        REQUIRE(f->gw != nullptr);
        request r = get("/x");
        r.host = "Gw.Example.com";
        r.port = 8088;
        const chain c = send(*f->gw, r, 8088);
        CHECK(c.authority == "b.shop.svc.cluster.local");  // no port (Envoy host_rewrite_literal)
        CHECK(c.authority_rewritten);
        CHECK(c.node == "shop/b");
    }
    auto f = from_yaml(two_services + gateway_doc() +
                       route_doc("r", http_spec("      prefix: /\n", "b", keep)));
    REQUIRE(f->gw != nullptr);
    request r = get("/x");
    r.host = "Gw.Example.com";
    r.port = 8088;
    const chain c = send(*f->gw, r, 8088);
    CHECK_FALSE(c.authority_rewritten);
    CHECK(c.authority == "Gw.Example.com:8088");
    // The target is the route's, whatever Host is sent: the outbound step looks up its awsName.
    CHECK(c.outcome == route_decision::outcome_t::routed);
    CHECK(c.service == "b.shop.svc.cluster.local");
    CHECK(c.node == "shop/b");
}

TEST_CASE("gateway: action.target.port picks the provider listener; none with one listener",
          "[gateway][outbound]") {
    const std::string router = R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: multi, namespace: shop}
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
    - portMapping: {port: 8081, protocol: http}
  routes:
    - name: to-a
      httpRoute:
        match: {prefix: /, port: 8080}
        action:
          weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]
    - name: to-b
      httpRoute:
        match: {prefix: /, port: 8081}
        action:
          weightedTargets: [{virtualNodeRef: {name: b}, weight: 1}]
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: multi, namespace: shop}
spec:
  awsName: multi.shop
  provider:
    virtualRouter:
      virtualRouterRef: {name: multi}
)";
    auto target = [](int port) {
        return "  httpRoute:\n    match:\n      prefix: /m" + std::to_string(port) +
               "\n    action:\n      target:\n        virtualService:\n"
               "          virtualServiceRef: {name: multi, namespace: shop}\n        port: " +
               std::to_string(port) + "\n";
    };
    auto f = from_yaml(two_services + router + gateway_doc() + route_doc("r0", target(8080)) +
                       route_doc("r1", target(8081)));
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    const chain c0 = send(*f->gw, get("/m8080/x"), 8088);
    CHECK(c0.route == "to-a");
    CHECK(c0.node == "shop/a");
    CHECK(c0.path == "/x");
    const chain c1 = send(*f->gw, get("/m8081/x"), 8088);
    CHECK(c1.route == "to-b");
    CHECK(c1.node == "shop/b");
}

// ---- the corpus walkthroughs, end to end through routing ---------------------------------------

namespace {
const std::string ingress_v2 = "howto-k8s-http-ingress-v2_v1beta2_manifest.yaml";
std::string variant(const std::string& name) {
    return "howto-k8s-http-ingress-v2_v1beta2_gatewayroutes_" + name + ".yaml";
}
/// The walkthrough's apps answer with their colour; the colour is the virtual node's name.
std::string colour(const chain& c) {
    if (c.outcome != route_decision::outcome_t::routed) {
        return "refused";
    }
    return c.node.substr(c.node.find('/') + 1);
}
}  // namespace

TEST_CASE("gateway corpus: howto-k8s-http-ingress-v2, each GatewayRoute variant with the base "
          "manifest, the README's requests",
          "[gateway][corpus]") {
    auto curl = [](const gateway_snapshot& gw, const std::string& path,
                   const std::string& query = "",
                   std::vector<std::pair<std::string, std::string>> headers = {},
                   const std::string& method = "GET") {
        request r = get(path, query);
        r.method = method;
        r.host = "a1b2.elb.us-west-2.amazonaws.com";  // ${GW_ENDPOINT}
        r.headers = std::move(headers);
        return send(gw, r, 8088);
    };
    SECTION("prefix-match (deploy.sh applies it with the base)") {
        auto f = from_corpus({ingress_v2, variant("prefix-match")});
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        const chain red = curl(*f->gw, "/paths/red");
        CHECK(red.gateway_route == "howto-app/prefix-match");
        CHECK(red.path == "/red");
        CHECK(red.authority == "color-paths.howto-app.svc.cluster.local");
        CHECK(red.route == "color-route-red");
        CHECK(colour(red) == "red");
        CHECK(red.target_port == 8080);
        CHECK(colour(curl(*f->gw, "/paths/blue")) == "blue");
        // color-paths has no /green route: 404 NR from the router, after the gateway matched.
        const chain green = curl(*f->gw, "/paths/green");
        CHECK(green.gateway_route == "howto-app/prefix-match");
        CHECK(green.outcome == route_decision::outcome_t::no_route);
        CHECK(curl(*f->gw, "/other").gateway_outcome == gateway_decision::outcome_t::no_route);
    }
    SECTION("path-match: priority 0 beats the /paths prefix") {
        auto f = from_corpus({ingress_v2, variant("prefix-match"), variant("path-match")});
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        const chain green = curl(*f->gw, "/paths/green");
        CHECK(green.gateway_route == "howto-app/path-match");
        CHECK(green.path == "/paths/green");  // path matches are not rewritten by default
        CHECK(colour(green) == "green");
        CHECK(colour(curl(*f->gw, "/paths/red")) == "red");
        auto alone = from_corpus({ingress_v2, variant("path-match")});
        REQUIRE(alone->gw != nullptr);
        CHECK(colour(curl(*alone->gw, "/paths/green")) == "green");
        CHECK(curl(*alone->gw, "/paths/red").gateway_outcome ==
              gateway_decision::outcome_t::no_route);
    }
    SECTION("header-match") {
        auto f = from_corpus({ingress_v2, variant("prefix-match"), variant("header-match")});
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        const chain yellow = curl(*f->gw, "/", "", {{"color_header", "yellow"}});
        CHECK(yellow.gateway_route == "howto-app/header-match");
        CHECK(colour(yellow) == "yellow");
        CHECK(curl(*f->gw, "/").gateway_outcome == gateway_decision::outcome_t::no_route);
        CHECK(curl(*f->gw, "/", "", {{"color_header", "red"}}).gateway_outcome ==
              gateway_decision::outcome_t::no_route);
        CHECK(colour(curl(*f->gw, "/paths/red", "", {{"color_header", "yellow"}})) == "red");
    }
    SECTION("query-match") {
        auto f = from_corpus({ingress_v2, variant("prefix-match"), variant("query-match")});
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        const chain white = curl(*f->gw, "/query", "color_type=white");
        CHECK(white.gateway_route == "howto-app/query-match");
        CHECK(colour(white) == "white");
        CHECK(curl(*f->gw, "/query", "color_type=blue").gateway_outcome ==
              gateway_decision::outcome_t::no_route);
    }
    SECTION("method-match") {
        auto f = from_corpus({ingress_v2, variant("prefix-match"), variant("method-match")});
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        CHECK(colour(curl(*f->gw, "/anything")) == "white");
        CHECK(curl(*f->gw, "/anything", "", {}, "POST").gateway_outcome ==
              gateway_decision::outcome_t::no_route);
        CHECK(colour(curl(*f->gw, "/paths/blue")) == "blue");  // /paths is longer than /
    }
    SECTION("rewrite-prefix: /test/ becomes /red/") {
        auto f = from_corpus({ingress_v2, variant("prefix-match"), variant("rewrite-prefix")});
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        const chain red = curl(*f->gw, "/test/");
        CHECK(red.gateway_route == "howto-app/rewrite-prefix");
        CHECK(red.path == "/red/");
        CHECK(red.route == "color-route-red");
        CHECK(colour(red) == "red");
    }
    SECTION("rewrite-path: /rewrite/path/blue becomes /blue") {
        auto f = from_corpus({ingress_v2, variant("prefix-match"), variant("rewrite-path")});
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        const chain blue = curl(*f->gw, "/rewrite/path/blue");
        CHECK(blue.gateway_route == "howto-app/rewrite-path");
        CHECK(blue.path == "/blue");
        CHECK(colour(blue) == "blue");
    }
    SECTION("all routes together (gwroute_setup.sh all): every README request still holds") {
        std::vector<std::string> files = {ingress_v2};
        for (const char* v : {"header-match", "method-match", "path-match", "prefix-match",
                              "query-match", "rewrite-path", "rewrite-prefix"}) {
            files.push_back(variant(v));
        }
        auto f = from_corpus(files);
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        CHECK(colour(curl(*f->gw, "/paths/red")) == "red");
        CHECK(colour(curl(*f->gw, "/paths/blue")) == "blue");
        CHECK(colour(curl(*f->gw, "/paths/green")) == "green");
        CHECK(colour(curl(*f->gw, "/", "", {{"color_header", "yellow"}})) == "yellow");
        CHECK(colour(curl(*f->gw, "/query", "color_type=white")) == "white");
        CHECK(colour(curl(*f->gw, "/test/")) == "red");
        CHECK(colour(curl(*f->gw, "/rewrite/path/blue")) == "blue");
    }
}

TEST_CASE("gateway corpus: howto-k8s-ingress-gateway, gateway → router → node, the README's "
          "requests",
          "[gateway][corpus]") {
    auto f = from_corpus({"howto-k8s-ingress-gateway_v1beta2_manifest.yaml"});
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    auto curl = [&](const std::string& path,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
        request r = get(path);
        r.headers = std::move(headers);
        return send(*f->gw, r, 8088);
    };
    CHECK(colour(curl("/paths/red")) == "red");
    CHECK(colour(curl("/paths/blue")) == "blue");
    CHECK(colour(curl("/paths/yellow")) == "yellow");
    CHECK(colour(curl("/paths/green")) == "green");
    CHECK(colour(curl("/paths")) == "white");  // → "/", the router's default route
    const chain blue = curl("/headers", {{"color_header", "blue"}});
    CHECK(blue.gateway_route == "howto-app/gateway-route-headers");
    CHECK(blue.path == "/");
    CHECK(blue.authority == "color-headers.howto-app.svc.cluster.local");
    CHECK(colour(blue) == "blue");
    CHECK(colour(curl("/headers", {{"color_header", "red"}})) == "red");
    CHECK(colour(curl("/headers", {{"color_header", "greenish"}})) == "green");
    CHECK(colour(curl("/headers", {{"color_header", "other"}})) == "yellow");
    CHECK(colour(curl("/headers")) == "white");
}

TEST_CASE("gateway corpus: howto-k8s-grpc-ingress-v2, serviceName Hello", "[gateway][corpus]") {
    auto f = from_corpus({"howto-k8s-grpc-ingress-v2_v1beta2_manifest.yaml"});
    INFO(f->dump());
    REQUIRE(f->gw != nullptr);
    REQUIRE(f->gw->listeners.size() == 1);
    CHECK(f->gw->listeners[0].proto == protocol::grpc);
    request r;
    r.method = "POST";
    r.path = "/Hello/SayHello";
    r.host = "a1b2.elb.us-west-2.amazonaws.com";
    r.port = 80;
    r.headers = {{"content-type", "application/grpc"}};
    const chain c = send(*f->gw, r, 9111);
    CHECK(c.gateway_route == "howto-app/metadata-match");
    CHECK(c.path == "/Hello/SayHello");
    CHECK(c.authority == "greeter.howto-app.svc.cluster.local");
    CHECK(c.outcome == route_decision::outcome_t::routed);
    CHECK(c.node == "howto-app/greeter");
    CHECK(c.target_port == 9111);
    // The README's "Hello2" edit: status 12 (no route) for the same call.
    r.path = "/Hello2/SayHello";
    CHECK(send(*f->gw, r, 9111).gateway_outcome == gateway_decision::outcome_t::no_route);
}

TEST_CASE("gateway corpus: every corpus gateway compiles with its routes attached",
          "[gateway][corpus]") {
    struct item {
        std::vector<std::string> files;
        std::string gateway;
        std::size_t routes;
    };
    const std::vector<item> items = {
        {{"howto-k8s-connection-pools_v1beta2_manifest.yaml"}, "ingress-gw", 1},
        {{"howto-k8s-multi-region_v1beta2_manifest.yaml"}, "ingress-gw", 2},
        {{"howto-k8s-multiple-listeners_manifest.yaml"}, "colors-gw", 2},
        {{"howto-k8s-metrics-extension_deploy_djapp-v1.yaml"}, "ingress-gw", 1},
    };
    for (const auto& it : items) {
        INFO(it.files.front());
        auto f = from_corpus(it.files, it.gateway);
        INFO(f->dump());
        REQUIRE(f->gw != nullptr);
        CHECK(f->gw->routes.size() == it.routes);
    }
    // multiple-listeners: one route per listener, each to its own router port.
    auto f = from_corpus({"howto-k8s-multiple-listeners_manifest.yaml"}, "colors-gw");
    REQUIRE(f->gw != nullptr);
    for (const std::uint16_t port : {8080, 8090}) {
        const chain c = send(*f->gw, get("/"), port);
        INFO(port);
        CHECK(c.gateway_outcome == gateway_decision::outcome_t::matched);
        CHECK(c.outcome == route_decision::outcome_t::routed);
    }
}
