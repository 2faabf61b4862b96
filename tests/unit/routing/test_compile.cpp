// compile + decide: route precedence (DECISIONS §3.2), every matcher kind, weighted picks fed
// explicit random values, ports, egress sets, retry/timeout compilation, TLS decision (§10.7).
#include <catch2/catch.hpp>

#include <map>

#include "routing/compile.hpp"
#include "routing/resolve.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

using namespace outrigger::routing;

namespace {

struct compiled {
    mesh_input in;
    diagnostics diags;
    std::shared_ptr<const snapshot> snap;
};

std::unique_ptr<compiled> compile_yaml(const std::string& yaml, const std::string& node = "",
                                       compile_options opts = {}) {
    auto c = std::make_unique<compiled>();
    load_string(yaml, "test.yaml", c->in, c->diags);
    resolve_options ro;
    ro.node = node;
    auto which = resolve(c->in, ro, c->diags);
    mesh_index index(c->in);
    validate_options vo;
    vo.node = which.node;
    validate(c->in, index, vo, c->diags);
    if (!c->diags.has_errors()) {
        c->snap = compile(c->in, index, which, opts);
    }
    return c;
}

std::string errors_of(const compiled& c) {
    std::string s;
    for (const auto& e : c.diags.items()) {
        if (e.level == severity::error) {
            s += format(e, c.in.files) + "\n";
        }
    }
    return s;
}

const std::string mesh_head = R"(
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: shop-mesh}
spec:
  namespaceSelector: {matchLabels: {mesh: shop-mesh}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {mesh: shop-mesh}}
)";

std::string node_yaml(const std::string& name, int port = 9000, const std::string& extra = "") {
    return "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: {name: " + name +
           ", namespace: shop}\nspec:\n  listeners:\n    - portMapping: {port: " + std::to_string(port) +
           ", protocol: http}\n" + extra + "  serviceDiscovery: {dns: {hostname: " + name +
           ".shop.svc.cluster.local}}\n";
}

// spec §11.2 with the nodes.
const std::string catalog = mesh_head + node_yaml("catalog-v1") + node_yaml("catalog-v2") +
                            node_yaml("catalog-mobile") + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: catalog, namespace: shop}
spec:
  listeners:
    - portMapping: {port: 9000, protocol: http}
  routes:
    - name: default
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-v1}
              weight: 1
    - name: beta-testers
      priority: 0
      httpRoute:
        match:
          prefix: /
          headers:
            - name: x-user-group
              match: {exact: beta}
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-v2}
              weight: 1
    - name: mobile-clients
      priority: 10
      httpRoute:
        match:
          prefix: /api/
          headers:
            - name: user-agent
              match: {regex: ".*(Android|iPhone).*"}
            - name: x-internal-test
              invert: true
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-mobile}
              weight: 1
    - name: exact-health
      priority: 20
      httpRoute:
        match:
          path: {exact: /healthz}
          method: GET
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-v1}
              weight: 1
    - name: preview-query
      priority: 30
      httpRoute:
        match:
          prefix: /items
          queryParameters:
            - name: preview
              match: {exact: "true"}
        action:
          weightedTargets:
            - virtualNodeRef: {name: catalog-v2}
              weight: 1
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: catalog, namespace: shop}
spec:
  awsName: catalog.shop.svc.cluster.local
  provider:
    virtualRouter:
      virtualRouterRef: {name: catalog}
)";

struct req_builder {
    std::string method = "GET";
    std::string path = "/";
    std::string query;
    std::string host = "catalog.shop.svc.cluster.local";
    std::optional<std::uint16_t> port;
    std::vector<std::pair<std::string, std::string>> headers;

    route_decision run(const snapshot& s, std::uint32_t random = 0,
                       std::vector<route_trace_entry>* trace = nullptr) {
        hv.clear();
        for (const auto& [n, v] : headers) {
            hv.push_back({n, v});
        }
        request_view r;
        r.method = method;
        normalize_path(path, norm);
        r.path = norm;
        r.query = query;
        r.host = host;
        r.port = port;
        r.headers = hv;
        return decide(s, r, random, trace);
    }
    std::vector<header_view> hv;
    std::string norm;
};

std::string routed_node(const route_decision& d) {
    return d.outcome == route_decision::outcome_t::routed ? d.target->node_name : "(not routed)";
}

}  // namespace

TEST_CASE("spec 11.2: header, method, query and path routes with priorities", "[routing][compile]") {
    auto c = compile_yaml(catalog);
    REQUIRE(errors_of(*c).empty());
    REQUIRE(c->snap);
    const snapshot& s = *c->snap;

    req_builder r;
    r.headers = {{"X-User-Group", "beta"}};
    r.path = "/anything";
    CHECK(routed_node(r.run(s)) == "shop/catalog-v2");

    r = {};
    r.path = "/api/items";
    r.headers = {{"user-agent", "Mozilla/5.0 (Linux; Android 13)"}};
    CHECK(routed_node(r.run(s)) == "shop/catalog-mobile");
    r.headers.push_back({"x-internal-test", "1"});
    CHECK(r.run(s).route->name == "default");

    r = {};
    r.path = "/healthz";
    CHECK(r.run(s).route->name == "exact-health");
    r.method = "POST";
    CHECK(r.run(s).route->name == "default");

    r = {};
    r.path = "/items";
    r.query = "a=1&preview=true";
    CHECK(r.run(s).route->name == "preview-query");
    r.query = "preview=false";
    CHECK(r.run(s).route->name == "default");
    r.query = "preview";
    CHECK(r.run(s).route->name == "default");
}

TEST_CASE("route order: priority, then exact > regex > prefix, longer prefix, more conditions, document order",
          "[routing][compile]") {
    auto c = compile_yaml(mesh_head + node_yaml("a") + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners: [{portMapping: {port: 9000, protocol: http}}]
  routes:
    - name: p-short
      httpRoute: {match: {prefix: /a}, action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}}
    - name: p-long
      httpRoute: {match: {prefix: /a/b}, action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}}
    - name: regex
      httpRoute: {match: {path: {regex: "/a/.*"}}, action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}}
    - name: exact
      httpRoute: {match: {path: {exact: /a/b}}, action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}}
    - name: p-long-header
      httpRoute:
        match: {prefix: /a/b, headers: [{name: x}]}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
    - name: prio-5
      priority: 5
      httpRoute: {match: {prefix: /}, action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}}
    - name: prio-1
      priority: 1
      httpRoute: {match: {prefix: /zzz}, action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}}
    - name: p-short-2
      httpRoute: {match: {prefix: /a}, action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: svc, namespace: shop}
spec:
  provider: {virtualRouter: {virtualRouterRef: {name: r}}}
)");
    REQUIRE(errors_of(*c).empty());
    const snapshot& s = *c->snap;
    const auto* svc = s.find_service("svc.shop");
    REQUIRE(svc != nullptr);
    REQUIRE(svc->ports.size() == 1);
    std::vector<std::string> order;
    for (auto id : svc->ports[0].route_ids) {
        order.push_back(s.routes[id].name);
    }
    CHECK(order == std::vector<std::string>{"prio-1", "prio-5", "exact", "regex", "p-long-header", "p-long",
                                            "p-short", "p-short-2"});
    // The trace of a request follows that order and names the first failing condition.
    req_builder r;
    r.host = "svc.shop";
    r.path = "/zzz";
    std::vector<route_trace_entry> trace;
    auto d = r.run(s, 0, &trace);
    REQUIRE(trace.size() == 1);
    CHECK(trace[0].matched);
    CHECK(d.route->name == "prio-1");
    r.path = "/q";
    trace.clear();
    d = r.run(s, 0, &trace);
    CHECK(d.route->name == "prio-5");
    CHECK_FALSE(trace[0].matched);
    CHECK(trace[0].failed_condition == "path /q does not start with /zzz");
}

TEST_CASE("every header matcher kind, with invert", "[routing][compile]") {
    auto route_with = [](const std::string& match) {
        return mesh_head + node_yaml("a") + node_yaml("b") + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners: [{portMapping: {port: 9000, protocol: http}}]
  routes:
    - name: special
      priority: 0
      httpRoute:
        match:
          prefix: /
          headers: [)" + match + R"(]
        action: {weightedTargets: [{virtualNodeRef: {name: b}, weight: 1}]}
    - name: fallback
      priority: 1
      httpRoute: {match: {prefix: /}, action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: svc, namespace: shop}
spec:
  provider: {virtualRouter: {virtualRouterRef: {name: r}}}
)";
    };
    struct row {
        std::string match;
        std::optional<std::string> value;  // nullopt = header absent
        bool special;
    };
    const std::vector<row> rows = {
        {"{name: x-v, match: {exact: abc}}", "abc", true},
        {"{name: x-v, match: {exact: abc}}", "ABC", false},
        {"{name: x-v, match: {exact: abc}}", std::nullopt, false},
        {"{name: x-v, match: {prefix: ab}}", "abc", true},
        {"{name: x-v, match: {prefix: ab}}", "cab", false},
        {"{name: x-v, match: {suffix: bc}}", "abc", true},
        {"{name: x-v, match: {suffix: bc}}", "bca", false},
        {"{name: x-v, match: {regex: \"a.c\"}}", "abc", true},
        {"{name: x-v, match: {regex: \"a.c\"}}", "abcd", false},  // anchored: whole value
        {"{name: x-v, match: {range: {start: 10, end: 20}}}", "10", true},
        {"{name: x-v, match: {range: {start: 10, end: 20}}}", "19", true},
        {"{name: x-v, match: {range: {start: 10, end: 20}}}", "20", false},  // end exclusive
        {"{name: x-v, match: {range: {start: 10, end: 20}}}", "1x", false},
        {"{name: x-v}", "", true},  // presence
        {"{name: x-v}", std::nullopt, false},
        {"{name: x-v, invert: true}", std::nullopt, true},  // inverted presence = absent
        {"{name: x-v, invert: true}", "1", false},
        {"{name: x-v, match: {exact: abc}, invert: true}", "abd", true},
        {"{name: X-V, match: {exact: abc}}", "abc", true},  // names are case-insensitive
    };
    for (const auto& row : rows) {
        CAPTURE(row.match, row.value.value_or("(absent)"));
        auto c = compile_yaml(route_with(row.match));
        REQUIRE(errors_of(*c).empty());
        req_builder r;
        r.host = "svc.shop";
        if (row.value) {
            r.headers = {{"x-v", *row.value}};
        }
        CHECK((r.run(*c->snap).route->name == "special") == row.special);
    }
}

TEST_CASE("repeated headers are matched joined with commas", "[routing][compile]") {
    auto c = compile_yaml(mesh_head + node_yaml("a") + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners: [{portMapping: {port: 9000, protocol: http}}]
  routes:
    - name: joined
      httpRoute:
        match: {prefix: /, headers: [{name: x-v, match: {exact: "a,b"}}]}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: svc, namespace: shop}
spec:
  provider: {virtualRouter: {virtualRouterRef: {name: r}}}
)");
    REQUIRE(errors_of(*c).empty());
    req_builder r;
    r.host = "svc.shop";
    r.headers = {{"x-v", "a"}, {"X-V", "b"}};
    CHECK(r.run(*c->snap).outcome == route_decision::outcome_t::routed);
    r.headers = {{"x-v", "a"}};
    CHECK(r.run(*c->snap).outcome == route_decision::outcome_t::no_route);
}

TEST_CASE("path regex, scheme and port matchers; paths are normalised", "[routing][compile]") {
    auto c = compile_yaml(mesh_head + node_yaml("a", 9000) + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners:
    - portMapping: {port: 9000, protocol: http}
    - portMapping: {port: 9001, protocol: http}
  routes:
    - name: on-9000
      httpRoute:
        match: {path: {regex: "/v[0-9]+/items"}, port: 9000}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
    - name: on-9001-https
      httpRoute:
        match: {prefix: /, scheme: https, port: 9001}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: svc, namespace: shop}
spec:
  provider: {virtualRouter: {virtualRouterRef: {name: r}}}
)");
    REQUIRE(errors_of(*c).empty());
    req_builder r;
    r.host = "SVC.shop.";  // case-insensitive, one trailing dot ignored
    r.port = 9000;
    r.path = "/v2//x/../items";
    CHECK(r.run(*c->snap).route->name == "on-9000");
    r.path = "/v2/items/";
    CHECK(r.run(*c->snap).outcome == route_decision::outcome_t::no_route);
    r.port = 9001;
    CHECK(r.run(*c->snap).outcome == route_decision::outcome_t::no_route);  // scheme http
    r.port = 9002;
    CHECK(r.run(*c->snap).outcome == route_decision::outcome_t::wrong_port);
    r.port.reset();
    CHECK(r.run(*c->snap).outcome == route_decision::outcome_t::ambiguous_port);
}

TEST_CASE("weighted picks use the random value given", "[routing][compile]") {
    const std::uint64_t cum[] = {90, 100};
    CHECK(pick_weighted(cum, 100, 0) == 0);
    CHECK(pick_weighted(cum, 100, static_cast<std::uint32_t>(0.899 * 4294967296.0)) == 0);
    CHECK(pick_weighted(cum, 100, static_cast<std::uint32_t>(0.901 * 4294967296.0)) == 1);
    CHECK(pick_weighted(cum, 100, 0xFFFFFFFFu) == 1);
    const std::uint64_t single[] = {1};
    CHECK(pick_weighted(single, 1, 12345) == 0);
    // 100 and 1 → ≈99/1 (relative weights).
    const std::uint64_t rel[] = {100, 101};
    CHECK(pick_weighted(rel, 101, static_cast<std::uint32_t>(0.98 * 4294967296.0)) == 0);
    CHECK(pick_weighted(rel, 101, static_cast<std::uint32_t>(0.995 * 4294967296.0)) == 1);

    // Over a uniform sweep the canary gets exactly its share.
    std::map<std::size_t, int> tally;
    for (std::uint64_t i = 0; i < 1000; ++i) {
        // Midpoints of 1000 equal slices of the 32-bit range.
        ++tally[pick_weighted(cum, 100, static_cast<std::uint32_t>(((2 * i + 1) << 31) / 1000))];
    }
    CHECK(tally[0] == 900);
    CHECK(tally[1] == 100);
}

TEST_CASE("the canary example compiles to a 90/10 weight table; weight 0 is never chosen",
          "[routing][compile]") {
    auto c = compile_yaml(mesh_head + node_yaml("v1", 8080) + node_yaml("v2", 8080) + node_yaml("v3", 8080) + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners: [{portMapping: {port: 8080, protocol: http}}]
  routes:
    - name: canary
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - {virtualNodeRef: {name: v1}, weight: 90}
            - {virtualNodeRef: {name: v3}, weight: 0}
            - {virtualNodeRef: {name: v2}, weight: 10}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: svc, namespace: shop}
spec:
  provider: {virtualRouter: {virtualRouterRef: {name: r}}}
)");
    REQUIRE(errors_of(*c).empty());
    const auto& route = c->snap->routes.at(0);
    CHECK(route.cumulative == std::vector<std::uint64_t>{90, 100});
    CHECK(route.total_weight == 100);
    req_builder r;
    r.host = "svc.shop";
    CHECK(routed_node(r.run(*c->snap, 0)) == "shop/v1");
    CHECK(routed_node(r.run(*c->snap, 0xFFFFFFFFu)) == "shop/v2");
}

TEST_CASE("backends of a node, unmodelled egress and the allow list", "[routing][compile]") {
    const std::string yaml = mesh_head + node_yaml("a", 8080) + node_yaml("b", 8080) +
                             node_yaml("web", 8080, "") + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: sa, namespace: shop}
spec:
  provider: {virtualNode: {virtualNodeRef: {name: a}}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: sb, namespace: shop}
spec:
  provider: {virtualNode: {virtualNodeRef: {name: b}}}
)";
    // web has no backends: with --node web nothing is modelled.
    auto mesh_wide = compile_yaml(yaml);
    REQUIRE(errors_of(*mesh_wide).empty());
    CHECK(mesh_wide->snap->find_service("sa.shop") != nullptr);
    CHECK(mesh_wide->snap->find_service("sb.shop") != nullptr);
    CHECK_FALSE(mesh_wide->snap->node_name.has_value());

    auto as_web = compile_yaml(yaml, "web");
    REQUIRE(errors_of(*as_web).empty());
    CHECK(as_web->snap->find_service("sa.shop") == nullptr);
    CHECK(as_web->snap->closest_service("sa.shp") == "sa.shop");
    CHECK(as_web->snap->closest_service("sa") == "sa.shop");  // a short name of the awsName
    CHECK(as_web->snap->closest_service("zzzzzzzz.example") == "");
    CHECK(as_web->snap->node_name == "shop/web");
    CHECK_FALSE(as_web->snap->allow_all_egress);
    CHECK(as_web->snap->egress_allowed("sts.us-west-2.amazonaws.com"));
    CHECK_FALSE(as_web->snap->egress_allowed("amazonaws.com.evil.example"));
    CHECK_FALSE(as_web->snap->egress_allowed("example.com"));

    compile_options none;
    none.egress_allow = {"none"};
    auto cleared = compile_yaml(yaml, "web", none);
    CHECK_FALSE(cleared->snap->egress_allowed("s3.amazonaws.com"));
    compile_options exact;
    exact.egress_allow = {"api.example.com", "*.corp.example"};
    auto listed = compile_yaml(yaml, "web", exact);
    CHECK(listed->snap->egress_allowed("API.example.com"));
    CHECK(listed->snap->egress_allowed("x.corp.example"));
    CHECK_FALSE(listed->snap->egress_allowed("corp.example"));
}

TEST_CASE("node provider: one target, default retry policy and listener timeout", "[routing][compile]") {
    auto c = compile_yaml(mesh_head + node_yaml("a", 7000, R"(      timeout:
        http:
          perRequest: {value: 30, unit: s}
)") + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: sa, namespace: shop}
spec:
  provider: {virtualNode: {virtualNodeRef: {name: a}}}
)");
    REQUIRE(errors_of(*c).empty());
    req_builder r;
    r.host = "sa.shop";
    auto d = r.run(*c->snap);
    REQUIRE(d.outcome == route_decision::outcome_t::routed);
    CHECK(d.route == nullptr);
    CHECK(d.target->port == 7000);
    CHECK(d.target->endpoints.hostname == "a.shop.svc.cluster.local");
    CHECK_FALSE(d.target->endpoints.all_addresses);
    CHECK(d.per_request_timeout == std::chrono::seconds(30));
    CHECK(d.retry->is_default);
    CHECK(d.retry->max_retries == 2);
    CHECK((d.retry->events & retry_spec::status_503) != 0);

    compile_options off;
    off.default_retry = false;
    auto c2 = compile_yaml(mesh_head + node_yaml("a", 7000) + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: sa, namespace: shop}
spec:
  provider: {virtualNode: {virtualNodeRef: {name: a}}}
)", "", off);
    auto d2 = r.run(*c2->snap);
    CHECK_FALSE(d2.retry->present);
    CHECK(d2.per_request_timeout == std::chrono::seconds(15));
}

TEST_CASE("explicit retry policy and route timeouts compile to flags and durations", "[routing][compile]") {
    auto c = compile_yaml(mesh_head + node_yaml("a", 7000) + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners: [{portMapping: {port: 7000, protocol: http}}]
  routes:
    - name: all
      httpRoute:
        match: {prefix: /}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
        retryPolicy:
          maxRetries: 3
          perRetryTimeout: {value: 2000, unit: ms}
          httpRetryEvents: [server-error, client-error]
          tcpRetryEvents: [connection-error]
        timeout:
          perRequest: {value: 10, unit: s}
          idle: {value: 0, unit: s}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: shop}
spec:
  provider: {virtualRouter: {virtualRouterRef: {name: r}}}
)");
    REQUIRE(errors_of(*c).empty());
    const auto& rt = c->snap->routes.at(0);
    CHECK(rt.retry.present);
    CHECK_FALSE(rt.retry.is_default);
    CHECK(rt.retry.max_retries == 3);
    CHECK(rt.retry.per_try_timeout == std::chrono::milliseconds(2000));
    CHECK(rt.retry.events == (retry_spec::server_error | retry_spec::client_error | retry_spec::connection_error));
    CHECK(rt.per_request_timeout == std::chrono::seconds(10));
    REQUIRE(rt.idle_timeout.has_value());
    CHECK(rt.idle_timeout->count() == 0);
}

TEST_CASE("TLS origination follows spec 10.7", "[routing][compile]") {
    const std::string server_tls = R"(      tls:
        mode: STRICT
        certificate:
          file: {certificateChain: /certs/a.pem, privateKey: /certs/a.key}
)";
    const std::string base = mesh_head + node_yaml("a", 8443, server_tls) + R"(
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: sa, namespace: shop}
spec:
  provider: {virtualNode: {virtualNodeRef: {name: a}}}
)";
    auto client = [](const std::string& policy) {
        return "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: {name: web, namespace: "
               "shop}\nspec:\n  listeners: [{portMapping: {port: 8080, protocol: http}}]\n  serviceDiscovery: "
               "{dns: {hostname: web.shop}}\n  backends:\n    - virtualService:\n        virtualServiceRef: "
               "{name: sa}\n" +
               policy;
    };
    using mode = tls_origination::mode_t;
    SECTION("no policy: listener fallback without verification") {
        auto c = compile_yaml(base + client(""), "web");
        REQUIRE(errors_of(*c).empty());
        CHECK(c->snap->targets.at(0).tls.mode == mode::no_verify);
        CHECK(c->snap->targets.at(0).tls.sni == "a.shop.svc.cluster.local");
    }
    SECTION("enforced policy verifies; SANs default to the service discovery name") {
        auto c = compile_yaml(base + client(R"(  backendDefaults:
    clientPolicy:
      tls:
        certificate: {file: {certificateChain: /c/web.pem, privateKey: /c/web.key}}
        validation:
          trust: {file: {certificateChain: /c/ca.pem}}
)"),
                              "web");
        REQUIRE(errors_of(*c).empty());
        const auto& t = c->snap->targets.at(0).tls;
        CHECK(t.mode == mode::verify);
        CHECK(t.trust_file == "/c/ca.pem");
        CHECK(t.sans == std::vector<std::string>{"a.shop.svc.cluster.local"});
        CHECK(t.certificate_chain == "/c/web.pem");
    }
    SECTION("policy for other ports, or not enforced, falls back to the listener") {
        auto c = compile_yaml(base + client(R"(  backendDefaults:
    clientPolicy:
      tls:
        ports: [9999]
        validation:
          trust: {file: {certificateChain: /c/ca.pem}}
)"),
                              "web");
        REQUIRE(errors_of(*c).empty());
        CHECK(c->snap->targets.at(0).tls.mode == mode::no_verify);
        auto c2 = compile_yaml(base + client(R"(  backendDefaults:
    clientPolicy:
      tls:
        enforce: false
        validation:
          trust: {file: {certificateChain: /c/ca.pem}}
)"),
                               "web");
        REQUIRE(errors_of(*c2).empty());
        CHECK(c2->snap->targets.at(0).tls.mode == mode::no_verify);
    }
}

TEST_CASE("normalize_path removes dot segments and merges slashes", "[routing][compile]") {
    std::string out;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/", "/"},           {"/a/b", "/a/b"},     {"//a///b", "/a/b"}, {"/a/./b", "/a/b"},
        {"/a/../b", "/b"},    {"/../a", "/a"},      {"/a/b/..", "/a/"},  {"/a/b/.", "/a/b/"},
        {"/a/", "/a/"},       {"", "/"},            {"/a/.b", "/a/.b"},  {"/a/..b", "/a/..b"},
    };
    for (const auto& [in, want] : cases) {
        CAPTURE(in);
        normalize_path(in, out);
        CHECK(out == want);
    }
}
