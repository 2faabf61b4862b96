// Field rules of routing/validate.cpp: one small manifest per rule, asserting the field path, the
// line and a fragment of the message of the error (or warning) it produces.

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"
#include "routing/resolve.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

namespace r = outrigger::routing;

namespace {

struct outcome {
    r::mesh_input in;
    r::diagnostics diags;
    std::size_t errors_before_validate = 0;

    [[nodiscard]] std::vector<const r::config_error*> of(r::severity level) const {
        std::vector<const r::config_error*> out;
        for (const auto& e : diags.items()) {
            if (e.level == level) {
                out.push_back(&e);
            }
        }
        return out;
    }

    [[nodiscard]] std::string dump() const {
        std::string s;
        for (const auto& e : diags.items()) {
            s += r::format(e, in.files) + "\n";
        }
        return s;
    }
};

/// load_string + resolve + validate, as `outrigger validate [--node NODE]` does.
outcome diags_for(const std::string& yaml, const std::string& node = "") {
    outcome o;
    r::load_string(yaml, "test.yaml", o.in, o.diags);
    r::resolve_options ro;
    ro.node = node;
    const r::resolve_result rr = r::resolve(o.in, ro, o.diags);
    o.errors_before_validate = o.diags.error_count();
    const r::mesh_index index(o.in);
    r::validate_options vo;
    vo.node = rr.node;
    r::validate(o.in, index, vo, o.diags);
    return o;
}

/// 1-based line of the `nth` occurrence of `needle` in `yaml` (0 when absent).
std::uint32_t line_of(const std::string& yaml, const std::string& needle, int nth = 1) {
    auto pos = yaml.find(needle);
    for (int i = 1; i < nth && pos != std::string::npos; ++i) {
        pos = yaml.find(needle, pos + 1);
    }
    if (pos == std::string::npos) {
        return 0;
    }
    std::uint32_t line = 1;
    for (std::size_t i = 0; i < pos; ++i) {
        if (yaml[i] == '\n') {
            ++line;
        }
    }
    return line;
}

const r::config_error* find(const outcome& o, r::severity level, const std::string& field,
                            const std::string& fragment) {
    for (const auto* e : o.of(level)) {
        if (e->field == field && e->message.find(fragment) != std::string::npos) {
            return e;
        }
    }
    return nullptr;
}

/// Asserts that `yaml` yields exactly `count` errors, one of them at `field`, on the line holding
/// `line_needle`, with `fragment` in its message.
void expect_error_at(const std::string& yaml, const std::string& field,
                     const std::string& fragment, std::uint32_t line, std::size_t count = 1,
                     const std::string& node = "") {
    const outcome o = diags_for(yaml, node);
    INFO(o.dump());
    REQUIRE(o.errors_before_validate == 0);
    CHECK(o.diags.error_count() == count);
    const r::config_error* e = find(o, r::severity::error, field, fragment);
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line);
    CHECK(e->kind != "");
}

void expect_error(const std::string& yaml, const std::string& field, const std::string& fragment,
                  const std::string& line_needle, std::size_t count = 1,
                  const std::string& node = "") {
    expect_error_at(yaml, field, fragment, line_of(yaml, line_needle), count, node);
}

void expect_warning(const std::string& yaml, const std::string& field, const std::string& fragment,
                    const std::string& line_needle, const std::string& node = "") {
    const outcome o = diags_for(yaml, node);
    INFO(o.dump());
    CHECK(o.diags.error_count() == 0);
    const r::config_error* e = find(o, r::severity::warning, field, fragment);
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(yaml, line_needle));
}

void expect_clean(const std::string& yaml, const std::string& node = "") {
    const outcome o = diags_for(yaml, node);
    INFO(o.dump());
    CHECK(o.diags.error_count() == 0);
}

// A mesh with nodes to target: v1, v2 (http 8080), g1 (grpc 9090), multi (http 8080 + 8081),
// client (no listeners, calls nothing), and a service `svc` whose provider router is written by
// each test.
const std::string base = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata:
  name: m
spec:
  namespaceSelector: {}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: v1
  namespace: ns
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  serviceDiscovery: {dns: {hostname: v1.ns.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: v2
  namespace: ns
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  serviceDiscovery: {dns: {hostname: v2.ns.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: g1
  namespace: ns
spec:
  listeners:
    - portMapping: {port: 9090, protocol: grpc}
  serviceDiscovery: {dns: {hostname: g1.ns.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: multi
  namespace: ns
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
    - portMapping: {port: 8081, protocol: http}
  serviceDiscovery: {dns: {hostname: multi.ns.svc.cluster.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: client
  namespace: ns
spec: {}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: svc
  namespace: ns
spec:
  awsName: svc.ns.svc.cluster.local
  provider:
    virtualRouter:
      virtualRouterRef: {name: r}
---
)";

/// A router `r` with one http listener on 8080 and the given routes (indented by 4).
std::string router(const std::string& routes,
                   const std::string& listeners = "    - portMapping: {port: 8080, protocol: "
                                                  "http}\n") {
    return base + R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: r
  namespace: ns
spec:
  listeners:
)" + listeners + "  routes:\n" +
           routes;
}

/// One http route named `name` with `match` (indented by 8) to v1 with weight 1.
std::string http_route(const std::string& match, const std::string& name = "a") {
    return "    - name: " + name + "\n      httpRoute:\n        match:\n" + match +
           "        action:\n          weightedTargets:\n            - virtualNodeRef: {name: v1}\n"
           "              weight: 1\n";
}

const std::string prefix_root = "          prefix: /\n";

}  // namespace

// ---- routers and routes -----------------------------------------------------------------------

TEST_CASE("validate: a correct router is clean", "[validate]") {
    expect_clean(router(http_route(prefix_root)));
}

TEST_CASE("validate: router listener port out of range", "[validate]") {
    const std::string y =
        router(http_route(prefix_root), "    - portMapping: {port: 0, protocol: http}\n");
    // The route has no listener to sit on and the listener port is bad: only the port error, and
    // the route's match.port check finds the single (bad) listener.
    expect_error(y, "spec.listeners[0].portMapping.port", "port 0 is out of range 1-65535",
                 "{port: 0,");
}

TEST_CASE("validate: router needs a listener", "[validate]") {
    const std::string y = router(http_route(prefix_root), "    []\n");
    expect_error(y, "spec.listeners", "at least one listener", "  listeners:\n    []");
}

TEST_CASE("validate: weight out of range", "[validate]") {
    const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 150
)");
    expect_error(y, "spec.routes[0].httpRoute.action.weightedTargets[0].weight",
                 "weight 150 is out of range 0-100", "weight: 150");
}

TEST_CASE("validate: weights summing to zero", "[validate]") {
    const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 0
            - virtualNodeRef: {name: v2}
              weight: 0
)");
    expect_error(y, "spec.routes[0].httpRoute.action.weightedTargets", "sum to 0",
                 "weightedTargets:");
}

TEST_CASE("validate: more than 10 weighted targets", "[validate]") {
    std::string targets;
    for (int i = 0; i < 11; ++i) {
        targets += "            - virtualNodeRef: {name: v1}\n              weight: 1\n";
    }
    const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
)" + targets);
    expect_error(y, "spec.routes[0].httpRoute.action.weightedTargets", "at most 10",
                 "weightedTargets:");
}

TEST_CASE("validate: priority out of range", "[validate]") {
    const std::string y = router(R"(    - name: a
      priority: 1001
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 1
)");
    expect_error(y, "spec.routes[0].priority", "priority 1001 is out of range 0-1000",
                 "priority: 1001");
}

TEST_CASE("validate: route names unique within a router", "[validate]") {
    const std::string y = router(http_route(prefix_root, "same") + http_route(prefix_root, "same"));
    const outcome o = diags_for(y);
    INFO(o.dump());
    CHECK(o.diags.error_count() == 1);
    const auto* e = find(o, r::severity::error, "spec.routes[1].name", "duplicate route name");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "- name: same", 2));
}

TEST_CASE("validate: exactly one route kind", "[validate]") {
    const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 1
      http2Route:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 1
)");
    expect_error(y, "spec.routes[0]", "exactly one of httpRoute, http2Route, grpcRoute, tcpRoute",
                 "- name: a");
}

TEST_CASE("validate: http match needs prefix or path, not both", "[validate]") {
    SECTION("neither") {
        const std::string y = router(http_route("          method: GET\n"));
        expect_error(y, "spec.routes[0].httpRoute.match", "one of prefix or path is required",
                     "        match:");
    }
    SECTION("both") {
        const std::string y =
            router(http_route("          prefix: /\n          path: {exact: /x}\n"));
        expect_error(y, "spec.routes[0].httpRoute.match", "cannot both be given",
                     "        match:");
    }
}

TEST_CASE("validate: prefix must start with a slash", "[validate]") {
    const std::string y = router(http_route("          prefix: api\n"));
    expect_error(y, "spec.routes[0].httpRoute.match.prefix", "must start with '/'", "prefix: api");
}

TEST_CASE("validate: path has exactly one of exact and regex", "[validate]") {
    const std::string y = router(http_route("          path: {exact: /a, regex: /b.*}\n"));
    expect_error(y, "spec.routes[0].httpRoute.match.path", "only one of exact or regex",
                 "path: {exact");
}

TEST_CASE("validate: path exact length", "[validate]") {
    const std::string long_path = "/" + std::string(255, 'a');
    const std::string y = router(http_route("          path: {exact: " + long_path + "}\n"));
    expect_error(y, "spec.routes[0].httpRoute.match.path.exact", "1-255 characters",
                 "path: {exact");
}

TEST_CASE("validate: path regex must compile", "[validate]") {
    const std::string y = router(http_route("          path: {regex: \"/(unclosed\"}\n"));
    expect_error(y, "spec.routes[0].httpRoute.match.path.regex", "does not compile",
                 "path: {regex");
}

TEST_CASE("validate: header regex must compile", "[validate]") {
    const std::string y = router(http_route(R"(          prefix: /
          headers:
            - name: x-a
              match: {regex: "[z-a]"}
)"));
    expect_error(y, "spec.routes[0].httpRoute.match.headers[0].match.regex", "does not compile",
                 "match: {regex");
}

TEST_CASE("validate: header names", "[validate]") {
    SECTION("colon") {
        const std::string y = router(http_route(R"(          prefix: /
          headers:
            - name: ":authority"
)"));
        expect_error(y, "spec.routes[0].httpRoute.match.headers[0].name", "contains ':'",
                     "name: \":authority\"");
    }
    SECTION("too long") {
        const std::string y = router(http_route("          prefix: /\n          headers:\n"
                                                "            - name: " +
                                                std::string(51, 'h') + "\n"));
        expect_error(y, "spec.routes[0].httpRoute.match.headers[0].name", "1-50 characters",
                     "name: hhh");
    }
}

TEST_CASE("validate: header match has one kind", "[validate]") {
    const std::string y = router(http_route(R"(          prefix: /
          headers:
            - name: x-a
              match: {exact: a, prefix: b}
)"));
    expect_error(y, "spec.routes[0].httpRoute.match.headers[0].match", "exactly one of exact",
                 "match: {exact: a");
}

TEST_CASE("validate: header range start < end", "[validate]") {
    const std::string y = router(http_route(R"(          prefix: /
          headers:
            - name: x-a
              match:
                range: {start: 10, end: 5}
)"));
    expect_error(y, "spec.routes[0].httpRoute.match.headers[0].match.range",
                 "range start 10 must be less than end 5", "range: {start");
}

TEST_CASE("validate: header match value length", "[validate]") {
    const std::string y = router(http_route(R"(          prefix: /
          headers:
            - name: x-a
              match: {suffix: ""}
)"));
    expect_error(y, "spec.routes[0].httpRoute.match.headers[0].match.suffix", "1-255 characters",
                 "match: {suffix");
}

TEST_CASE("validate: at most 10 headers and query parameters", "[validate]") {
    std::string headers = "          prefix: /\n          headers:\n";
    std::string query = "          prefix: /\n          queryParameters:\n";
    for (int i = 0; i < 11; ++i) {
        headers += "            - name: h" + std::to_string(i) + "\n";
        query += "            - name: q" + std::to_string(i) + "\n";
    }
    expect_error(router(http_route(headers)), "spec.routes[0].httpRoute.match.headers",
                 "at most 10", "          headers:");
    expect_error(router(http_route(query)), "spec.routes[0].httpRoute.match.queryParameters",
                 "at most 10", "          queryParameters:");
}

TEST_CASE("validate: query parameter match needs exact", "[validate]") {
    const std::string y = router(http_route(R"(          prefix: /
          queryParameters:
            - name: q
              match: {}
)"));
    expect_error(y, "spec.routes[0].httpRoute.match.queryParameters[0].match", "needs exact",
                 "match: {}");
}

TEST_CASE("validate: method and scheme", "[validate]") {
    SECTION("method") {
        const std::string y = router(http_route("          prefix: /\n          method: FETCH\n"));
        const outcome o = diags_for(y);
        INFO(o.dump());
        // The loader reports the bad enum; validate does not repeat it.
        CHECK(o.diags.error_count() == 1);
        bool found = false;
        for (const auto* e : o.of(r::severity::error)) {
            found = found || e->field == "spec.routes[0].httpRoute.match.method";
        }
        CHECK(found);
    }
    SECTION("scheme") {
        const std::string y = router(http_route("          prefix: /\n          scheme: ftp\n"));
        expect_error(y, "spec.routes[0].httpRoute.match.scheme", "use http or https",
                     "scheme: ftp");
    }
}

TEST_CASE("validate: match.port range", "[validate]") {
    const std::string y = router(http_route("          prefix: /\n          port: 70000\n"));
    const outcome o = diags_for(y);
    INFO(o.dump());
    REQUIRE(o.errors_before_validate == 0);
    const auto* e = find(o, r::severity::error, "spec.routes[0].httpRoute.match.port",
                         "port 70000 is out of range 1-65535");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "port: 70000"));
    // ... and it is not one of the router's listener ports either.
    CHECK(find(o, r::severity::error, "spec.routes[0].httpRoute.match.port",
               "not a listener port") != nullptr);
}

TEST_CASE("validate: grpc methodName requires serviceName", "[validate]") {
    const std::string y = router(R"(    - name: a
      grpcRoute:
        match:
          methodName: Get
        action:
          weightedTargets:
            - virtualNodeRef: {name: g1}
              weight: 1
)",
                                 "    - portMapping: {port: 9090, protocol: grpc}\n");
    expect_error(y, "spec.routes[0].grpcRoute.match.methodName", "requires serviceName",
                 "methodName: Get");
}

TEST_CASE("validate: grpc metadata rules", "[validate]") {
    const std::string y = router(R"(    - name: a
      grpcRoute:
        match:
          serviceName: pkg.Svc
          metadata:
            - name: x-a
              match:
                range: {start: 3, end: 3}
        action:
          weightedTargets:
            - virtualNodeRef: {name: g1}
              weight: 1
)",
                                 "    - portMapping: {port: 9090, protocol: grpc}\n");
    expect_error(y, "spec.routes[0].grpcRoute.match.metadata[0].match.range",
                 "must be less than end", "range: {start");
}

// ---- retry policy and durations ---------------------------------------------------------------

namespace {
std::string retry_route(const std::string& policy) {
    return router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 1
        retryPolicy:
)" + policy);
}
}  // namespace

TEST_CASE("validate: a correct retry policy is clean", "[validate]") {
    expect_clean(retry_route(R"(          maxRetries: 2
          perRetryTimeout: {value: 0, unit: ms}
          httpRetryEvents: [server-error, gateway-error]
          tcpRetryEvents: [connection-error]
)"));
}

TEST_CASE("validate: retry maxRetries >= 0", "[validate]") {
    expect_error(retry_route(R"(          maxRetries: -1
          perRetryTimeout: {value: 1, unit: s}
          httpRetryEvents: [server-error]
)"),
                 "spec.routes[0].httpRoute.retryPolicy.maxRetries", "must be 0 or more",
                 "maxRetries: -1");
}

TEST_CASE("validate: retry perRetryTimeout required", "[validate]") {
    const std::string y = retry_route(R"(          maxRetries: 1
          httpRetryEvents: [server-error]
)");
    const outcome o = diags_for(y);
    INFO(o.dump());
    REQUIRE(o.errors_before_validate == 0);
    CHECK(o.diags.error_count() == 1);
    const auto* e = find(o, r::severity::error,
                         "spec.routes[0].httpRoute.retryPolicy.perRetryTimeout",
                         "perRetryTimeout is required");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "retryPolicy:"));
}

TEST_CASE("validate: retry needs an event list", "[validate]") {
    expect_error(retry_route(R"(          maxRetries: 1
          perRetryTimeout: {value: 1, unit: s}
)"),
                 "spec.routes[0].httpRoute.retryPolicy", "at least one of httpRetryEvents",
                 "retryPolicy:");
}

TEST_CASE("validate: tcpRetryEvents is exactly [connection-error]", "[validate]") {
    expect_error(retry_route(R"(          maxRetries: 1
          perRetryTimeout: {value: 1, unit: s}
          tcpRetryEvents: [connection-error, connection-error]
)"),
                 "spec.routes[0].httpRoute.retryPolicy.tcpRetryEvents",
                 "exactly [connection-error]", "tcpRetryEvents:");
}

TEST_CASE("validate: httpRetryEvents values", "[validate]") {
    const std::string y = retry_route(R"(          maxRetries: 1
          perRetryTimeout: {value: 1, unit: s}
          httpRetryEvents: [server-error, teapot-error]
)");
    const outcome o = diags_for(y);
    INFO(o.dump());
    CHECK(o.diags.error_count() == 1);  // reported once (by the loader or validate)
    const auto* e = find(o, r::severity::error,
                         "spec.routes[0].httpRoute.retryPolicy.httpRetryEvents[1]",
                         "teapot-error");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "httpRetryEvents:"));
}

TEST_CASE("validate: durations are not negative", "[validate]") {
    SECTION("perRetryTimeout") {
        expect_error(retry_route(R"(          maxRetries: 1
          perRetryTimeout: {value: -1, unit: s}
          httpRetryEvents: [server-error]
)"),
                     "spec.routes[0].httpRoute.retryPolicy.perRetryTimeout.value", "negative",
                     "perRetryTimeout:");
    }
    SECTION("route timeout") {
        const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 1
        timeout:
          perRequest: {value: -5, unit: s}
)");
        expect_error(y, "spec.routes[0].httpRoute.timeout.perRequest.value", "negative",
                     "perRequest:");
    }
}

// ---- ports and protocols between routers and nodes --------------------------------------------

TEST_CASE("validate: multi-listener router needs match.port", "[validate]") {
    const std::string listeners = "    - portMapping: {port: 8080, protocol: http}\n"
                                  "    - portMapping: {port: 8081, protocol: http}\n";
    SECTION("missing") {
        expect_error(router(http_route(prefix_root), listeners),
                     "spec.routes[0].httpRoute.match.port", "match.port is required",
                     "        match:");
    }
    SECTION("not a listener port") {
        expect_error(router(http_route("          prefix: /\n          port: 9999\n"), listeners),
                     "spec.routes[0].httpRoute.match.port", "9999 is not a listener port",
                     "port: 9999");
    }
    SECTION("given") {
        expect_clean(router(http_route("          prefix: /\n          port: 8081\n"), listeners));
    }
}

TEST_CASE("validate: route kind matches the router listener", "[validate]") {
    const std::string y = router(R"(    - name: a
      http2Route:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 1
)");
    // http2 route on the http router listener; also http2 toward the http target listener.
    const outcome o = diags_for(y);
    INFO(o.dump());
    CHECK(o.diags.error_count() == 2);
    const auto* e = find(o, r::severity::error, "spec.routes[0].http2Route",
                         "must match the router listener protocol");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "http2Route:"));
    CHECK(find(o, r::severity::error, "spec.routes[0].http2Route.action.weightedTargets[0]",
               "must match the target listener protocol") != nullptr);
}

TEST_CASE("validate: route kind matches the target node listener", "[validate]") {
    const std::string y = router(R"(    - name: a
      grpcRoute:
        match: {serviceName: pkg.Svc}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 1
)",
                                 "    - portMapping: {port: 9090, protocol: grpc}\n");
    expect_error(y, "spec.routes[0].grpcRoute.action.weightedTargets[0]",
                 "must match the target listener protocol", "- virtualNodeRef: {name: v1}");
}

TEST_CASE("validate: multi-listener target needs a port", "[validate]") {
    SECTION("missing") {
        const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: multi}
              weight: 1
)");
        expect_error(y, "spec.routes[0].httpRoute.action.weightedTargets[0].port",
                     "target port is required", "- virtualNodeRef: {name: multi}");
    }
    SECTION("wrong") {
        const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: multi}
              weight: 1
              port: 7777
)");
        expect_error(y, "spec.routes[0].httpRoute.action.weightedTargets[0].port",
                     "7777 is not a listener port of node ns/multi", "port: 7777");
    }
    SECTION("given") {
        expect_clean(router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: multi}
              weight: 1
              port: 8081
)"));
    }
}

TEST_CASE("validate: target node without listeners", "[validate]") {
    const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: client}
              weight: 1
)");
    expect_error(y, "spec.routes[0].httpRoute.action.weightedTargets[0]", "has no listeners",
                 "- virtualNodeRef: {name: client}");
}

TEST_CASE("validate: target port range", "[validate]") {
    const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: v1}
              weight: 1
              port: 0
)");
    const outcome o = diags_for(y);
    INFO(o.dump());
    const auto* e = find(o, r::severity::error,
                         "spec.routes[0].httpRoute.action.weightedTargets[0].port",
                         "port 0 is out of range");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "port: 0"));
}

// ---- virtual nodes ----------------------------------------------------------------------------

namespace {
/// `base` with router `r`, plus a VirtualNode `n` in namespace ns whose spec is `spec` (indented
/// by 2).
std::string node(const std::string& spec) {
    return router(http_route(prefix_root)) +
           "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: n\n"
                  "  namespace: ns\nspec:\n" +
           spec;
}

/// A node `n` with one http 8080 listener that has `extra` (indented by 6) and DNS discovery.
std::string listener_node(const std::string& extra) {
    return node("  listeners:\n    - portMapping: {port: 8080, protocol: http}\n" + extra +
                "  serviceDiscovery: {dns: {hostname: n.ns.svc.cluster.local}}\n");
}
}  // namespace

TEST_CASE("validate: node listener port", "[validate]") {
    const std::string y = node("  listeners:\n    - portMapping: {port: 65536, protocol: http}\n"
                               "  serviceDiscovery: {dns: {hostname: n.ns}}\n");
    expect_error(y, "spec.listeners[0].portMapping.port", "65536 is out of range", "port: 65536");
}

TEST_CASE("validate: listeners need serviceDiscovery", "[validate]") {
    const std::string y = node("  listeners:\n    - portMapping: {port: 8080, protocol: http}\n");
    const outcome o = diags_for(y);
    INFO(o.dump());
    REQUIRE(o.errors_before_validate == 0);
    CHECK(o.diags.error_count() == 1);
    const auto* e =
        find(o, r::severity::error, "spec.serviceDiscovery", "serviceDiscovery is required");
    REQUIRE(e != nullptr);
    // No such field: the error points at the node (or its spec).
    CHECK(e->loc.line >= line_of(y, "name: n\n") - 1);
}

TEST_CASE("validate: serviceDiscovery has one kind", "[validate]") {
    const std::string y = node(R"(  listeners:
    - portMapping: {port: 8080, protocol: http}
  serviceDiscovery:
    dns: {hostname: n.ns}
    awsCloudMap: {namespaceName: demo.local, serviceName: n}
)");
    const outcome o = diags_for(y);
    INFO(o.dump());
    REQUIRE(find(o, r::severity::error, "spec.serviceDiscovery",
                 "exactly one of dns or awsCloudMap") != nullptr);
}

TEST_CASE("validate: Cloud Map is a warning", "[validate]") {
    const std::string y = node(R"(  listeners:
    - portMapping: {port: 8080, protocol: http}
  serviceDiscovery:
    awsCloudMap: {namespaceName: demo.local, serviceName: n}
)");
    expect_warning(y, "spec.serviceDiscovery.awsCloudMap", "resolved through DNS as n.demo.local",
                   "awsCloudMap:");
    expect_warning(y, "spec.serviceDiscovery.awsCloudMap", "resolved through DNS as n.demo.local",
                   "awsCloudMap:", "ns/n");
}

TEST_CASE("validate: duplicate backends", "[validate]") {
    const std::string y = router(http_route(prefix_root)) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: n
  namespace: ns
spec:
  backends:
    - virtualService:
        virtualServiceRef: {name: svc}
    - virtualService:
        virtualServiceRef: {name: svc, namespace: ns}
)";
    const outcome o = diags_for(y);
    INFO(o.dump());
    REQUIRE(o.errors_before_validate == 0);
    CHECK(o.diags.error_count() == 1);
    const auto* e = find(o, r::severity::error, "spec.backends[1].virtualService",
                         "duplicate backend ns/svc (also backends[0])");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "{name: svc, namespace: ns}") - 1);
}

TEST_CASE("validate: health check ranges", "[validate]") {
    const std::string y = listener_node(R"(      healthCheck:
        protocol: tcp
        path: /ping
        port: 0
        intervalMillis: 1000
        timeoutMillis: 60001
        healthyThreshold: 1
        unhealthyThreshold: 11
)");
    const outcome o = diags_for(y);
    INFO(o.dump());
    REQUIRE(o.errors_before_validate == 0);
    CHECK(o.diags.error_count() == 5);
    const std::string hc = "spec.listeners[0].healthCheck";
    // App Mesh ignores the path of tcp/grpc checks: a warning.
    const auto* w = find(o, r::severity::warning, hc + ".path", "path is ignored");
    REQUIRE(w != nullptr);
    CHECK(w->loc.line == line_of(y, "path: /ping"));
    struct want {
        std::string field;
        std::string fragment;
        std::string needle;
    };
    for (const want& w : {want{hc + ".port", "port 0 is out of range", "port: 0"},
                          want{hc + ".intervalMillis", "1000 is out of range 5000-300000",
                               "intervalMillis"},
                          want{hc + ".timeoutMillis", "60001 is out of range 2000-60000",
                               "timeoutMillis"},
                          want{hc + ".healthyThreshold", "1 is out of range 2-10",
                               "healthyThreshold"},
                          want{hc + ".unhealthyThreshold", "11 is out of range 2-10",
                               "unhealthyThreshold"}}) {
        const auto* e = find(o, r::severity::error, w.field, w.fragment);
        INFO(w.field);
        REQUIRE(e != nullptr);
        CHECK(e->loc.line == line_of(y, w.needle));
    }
}

TEST_CASE("validate: outlier detection", "[validate]") {
    const std::string y = listener_node(R"(      outlierDetection:
        maxServerErrors: 0
        interval: {value: 0, unit: s}
        baseEjectionDuration: {value: 0, unit: ms}
        maxEjectionPercent: 101
)");
    const outcome o = diags_for(y);
    INFO(o.dump());
    REQUIRE(o.errors_before_validate == 0);
    CHECK(o.diags.error_count() == 4);
    const std::string od = "spec.listeners[0].outlierDetection";
    const auto* e = find(o, r::severity::error, od + ".maxServerErrors", "must be 1 or more");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "maxServerErrors"));
    e = find(o, r::severity::error, od + ".interval.value", "interval of 0 is not allowed");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "interval:"));
    e = find(o, r::severity::error, od + ".baseEjectionDuration.value",
             "baseEjectionDuration of 0 is not allowed");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "baseEjectionDuration:"));
    e = find(o, r::severity::error, od + ".maxEjectionPercent", "101 is out of range 0-100");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "maxEjectionPercent"));
}

TEST_CASE("validate: connection pool", "[validate]") {
    SECTION("one kind") {
        const std::string y = listener_node(R"(      connectionPool:
        http: {maxConnections: 1}
        tcp: {maxConnections: 1}
)");
        expect_error(y, "spec.listeners[0].connectionPool", "only one connection pool kind",
                     "      connectionPool:");
    }
    SECTION("kind matches the listener protocol") {
        const std::string y = listener_node(R"(      connectionPool:
        http2: {maxRequests: 5}
)");
        expect_error(y, "spec.listeners[0].connectionPool.http2",
                     "must match the listener protocol", "http2: {maxRequests");
    }
    SECTION("limits >= 1") {
        const std::string y = listener_node(R"(      connectionPool:
        http: {maxConnections: 0, maxPendingRequests: 0}
)");
        const outcome o = diags_for(y);
        INFO(o.dump());
        CHECK(o.diags.error_count() == 2);
        CHECK(find(o, r::severity::error, "spec.listeners[0].connectionPool.http.maxConnections",
                   "must be 1 or more") != nullptr);
        CHECK(find(o, r::severity::error,
                   "spec.listeners[0].connectionPool.http.maxPendingRequests",
                   "must be 1 or more") != nullptr);
    }
}

TEST_CASE("validate: listener timeouts", "[validate]") {
    const std::string y = listener_node(R"(      timeout:
        http:
          idle: {value: -1, unit: s}
)");
    expect_error(y, "spec.listeners[0].timeout.http.idle.value", "negative", "idle:");
}

TEST_CASE("validate: listener tls", "[validate]") {
    SECTION("mode value") {
        const std::string y = listener_node(R"(      tls:
        mode: strict
        certificate:
          file: {certificateChain: /c.pem, privateKey: /k.pem}
)");
        const outcome o = diags_for(y);
        INFO(o.dump());
        // Reported once, by the loader (bad enum) or by validate.
        CHECK(o.diags.error_count() == 1);
        CHECK(o.diags.items().front().field == "spec.listeners[0].tls.mode");
    }
    SECTION("certificate required") {
        const std::string y = listener_node(R"(      tls:
        mode: DISABLED
)");
        // No certificate key: the error points at the tls block.
        expect_error(y, "spec.listeners[0].tls.certificate", "certificate is required",
                     "      tls:");
    }
    SECTION("one source") {
        const std::string y = listener_node(R"(      tls:
        mode: STRICT
        certificate:
          file: {certificateChain: /c.pem, privateKey: /k.pem}
          sds: {secretName: x}
)");
        expect_error(y, "spec.listeners[0].tls.certificate", "exactly one of acm, file, sds",
                     "        certificate:");
    }
    SECTION("file needs both parts") {
        const std::string y = listener_node(R"(      tls:
        mode: STRICT
        certificate:
          file: {certificateChain: /c.pem, privateKey: ""}
)");
        expect_error(y, "spec.listeners[0].tls.certificate.file.privateKey", "it is empty",
                     "file: {certificateChain");
    }
    SECTION("file without privateKey is reported once") {
        const std::string y = listener_node(R"(      tls:
        mode: STRICT
        certificate:
          file: {certificateChain: /c.pem}
)");
        const outcome o = diags_for(y);
        INFO(o.dump());
        CHECK(o.diags.error_count() == 1);
        CHECK(find(o, r::severity::error, "spec.listeners[0].tls.certificate.file.privateKey",
                   "") != nullptr);
    }
}

TEST_CASE("validate: client policy ports", "[validate]") {
    const std::string y = node(R"(  backendDefaults:
    clientPolicy:
      tls:
        ports: [0]
        validation:
          trust:
            file: {certificateChain: /ca.pem}
)");
    expect_error(y, "spec.backendDefaults.clientPolicy.tls.ports[0]", "port 0 is out of range",
                 "ports: [0]");
}

// ---- AWS-only sources (DECISIONS §3.10) -------------------------------------------------------

namespace {
const std::string acm_listener = listener_node(R"(      tls:
        mode: STRICT
        certificate:
          acm:
            certificateARN: arn:aws:acm:us-west-2:1:certificate/abc
)");
const std::string sds_client = node(R"(  backendDefaults:
    clientPolicy:
      tls:
        certificate:
          sds: {secretName: "spiffe://example.org/n"}
        validation:
          trust:
            sds: {secretName: example.org}
)");
}  // namespace

TEST_CASE("validate: ACM certificate of the node being run is an error", "[validate][aws]") {
    expect_error(acm_listener, "spec.listeners[0].tls.certificate.acm.certificateARN",
                 "ACM certificates need AWS (certificateARN "
                 "arn:aws:acm:us-west-2:1:certificate/abc)",
                 "certificateARN", 1, "ns/n");
    const outcome o = diags_for(acm_listener, "ns/n");
    const auto* e = find(o, r::severity::error,
                         "spec.listeners[0].tls.certificate.acm.certificateARN",
                         "use tls.certificate.file {certificateChain, privateKey}");
    CHECK(e != nullptr);
}

TEST_CASE("validate: ACM is a warning without --node, nothing for other nodes", "[validate][aws]") {
    expect_warning(acm_listener, "spec.listeners[0].tls.certificate.acm.certificateARN",
                   "ACM certificates need AWS", "certificateARN");
    const outcome o = diags_for(acm_listener, "ns/v1");
    INFO(o.dump());
    CHECK(o.diags.error_count() == 0);
    CHECK(find(o, r::severity::warning, "spec.listeners[0].tls.certificate.acm.certificateARN",
               "ACM") == nullptr);
}

TEST_CASE("validate: SDS sources of the node being run are errors", "[validate][aws]") {
    const outcome o = diags_for(sds_client, "n");
    INFO(o.dump());
    REQUIRE(o.errors_before_validate == 0);
    CHECK(o.diags.error_count() == 2);
    const auto* e = find(o, r::severity::error,
                         "spec.backendDefaults.clientPolicy.tls.certificate.sds.secretName",
                         "SDS secret \"spiffe://example.org/n\" needs an SDS agent");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(sds_client, "sds: {secretName: \"spiffe"));
    e = find(o, r::severity::error,
             "spec.backendDefaults.clientPolicy.tls.validation.trust.sds.secretName",
             "use validation.trust.file.certificateChain instead");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(sds_client, "sds: {secretName: example.org}"));

    const outcome all = diags_for(sds_client);
    CHECK(all.diags.error_count() == 0);
    CHECK(all.of(r::severity::warning).size() >= 2);
}

TEST_CASE("validate: ACM trust in a backend client policy", "[validate][aws]") {
    const std::string y = router(http_route(prefix_root)) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: n
  namespace: ns
spec:
  backends:
    - virtualService:
        virtualServiceRef: {name: svc}
        clientPolicy:
          tls:
            validation:
              trust:
                acm:
                  certificateAuthorityARNs: [arn:aws:acm-pca:us-west-2:1:certificate-authority/x]
)";
    expect_error(y,
                 "spec.backends[0].virtualService.clientPolicy.tls.validation.trust.acm."
                 "certificateAuthorityARNs",
                 "ACM certificate authorities need AWS", "certificateAuthorityARNs", 1, "ns/n");
}

// ---- TLS originated without verification (DECISIONS §3.5) -------------------------------------

namespace {
std::string tls_target(const std::string& client_extra) {
    return base + R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: secure
  namespace: ns
spec:
  listeners:
    - portMapping: {port: 8443, protocol: http}
      tls:
        mode: STRICT
        certificate:
          file: {certificateChain: /c.pem, privateKey: /k.pem}
  serviceDiscovery: {dns: {hostname: secure.ns}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: secure
  namespace: ns
spec:
  provider:
    virtualNode:
      virtualNodeRef: {name: secure}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: caller
  namespace: ns
spec:
  backends:
    - virtualService:
        virtualServiceRef: {name: secure}
)" + client_extra + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: r
  namespace: ns
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  routes:
)" + http_route(prefix_root);
}
}  // namespace

TEST_CASE("validate: TLS to a file-certificate listener without a client policy warns",
          "[validate][tls]") {
    const std::string y = tls_target("");
    expect_warning(y, "spec.backends[0].virtualService", "without verifying the server certificate",
                   "- virtualService:\n        virtualServiceRef: {name: secure}");
    expect_warning(y, "spec.backends[0].virtualService", "node ns/secure port 8443",
                   "- virtualService:\n        virtualServiceRef: {name: secure}", "caller");
}

TEST_CASE("validate: an applying client policy silences the TLS warning", "[validate][tls]") {
    const std::string y = tls_target(R"(  backendDefaults:
    clientPolicy:
      tls:
        validation:
          trust:
            file: {certificateChain: /ca.pem}
)");
    const outcome o = diags_for(y);
    INFO(o.dump());
    CHECK(o.diags.error_count() == 0);
    CHECK(find(o, r::severity::warning, "spec.backends[0].virtualService", "without verifying") ==
          nullptr);
}

TEST_CASE("validate: a client policy for other ports does not apply", "[validate][tls]") {
    const std::string y = tls_target(R"(  backendDefaults:
    clientPolicy:
      tls:
        ports: [9443]
        validation:
          trust:
            file: {certificateChain: /ca.pem}
)");
    expect_warning(y, "spec.backends[0].virtualService", "without verifying",
                   "- virtualService:\n        virtualServiceRef: {name: secure}");
}

// ---- services, meshes, gateways ---------------------------------------------------------------

TEST_CASE("validate: virtual service with two providers", "[validate]") {
    const std::string y = router(http_route(prefix_root)) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: two
  namespace: ns
spec:
  provider:
    virtualNode:
      virtualNodeRef: {name: v1}
    virtualRouter:
      virtualRouterRef: {name: r}
)";
    const outcome o = diags_for(y);
    INFO(o.dump());
    const auto* e = find(o, r::severity::error, "spec.provider",
                         "exactly one of virtualNode or virtualRouter");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line >= line_of(y, "kind: VirtualService\nmetadata:\n  name: two"));
}

TEST_CASE("validate: mesh ipPreference", "[validate]") {
    const std::string y = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata:
  name: m
spec:
  meshServiceDiscovery:
    ipPreference: IPv4_PREFERRED
)";
    expect_error(y, "spec.meshServiceDiscovery.ipPreference", "use IPv4_ONLY or IPv6_ONLY",
                 "ipPreference");
}

namespace {
/// A gateway `gw` selecting every namespace, plus `route_spec` as the spec of GatewayRoute `gr`.
std::string gateway(const std::string& route_spec,
                    const std::string& listeners = "    - portMapping: {port: 8088, protocol: "
                                                   "http}\n") {
    return router(http_route(prefix_root)) + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualGateway
metadata:
  name: gw
  namespace: ns
spec:
  namespaceSelector: {}
  listeners:
)" + listeners + R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: gr
  namespace: ns
spec:
)" + route_spec;
}

std::string http_gateway_route(const std::string& match, const std::string& action_extra = "") {
    return "  httpRoute:\n    match:\n" + match +
           "    action:\n      target:\n        virtualService:\n"
           "          virtualServiceRef: {name: svc}\n" +
           action_extra;
}
}  // namespace

TEST_CASE("validate: a correct gateway route is clean", "[validate][gateway]") {
    expect_clean(gateway(http_gateway_route("      prefix: /shop/\n",
                                            "      rewrite:\n        prefix: {value: /}\n")));
}

TEST_CASE("validate: gateway listener protocol", "[validate][gateway]") {
    const std::string y = gateway(http_gateway_route("      prefix: /\n"),
                                  "    - portMapping: {port: 8088, protocol: tcp}\n");
    const outcome o = diags_for(y);
    INFO(o.dump());
    const auto* e = find(o, r::severity::error, "spec.listeners[0].portMapping.protocol",
                         "tcp listeners are not allowed");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "{port: 8088, protocol: tcp}"));
}

TEST_CASE("validate: gateway route match rules", "[validate][gateway]") {
    SECTION("prefix starts with /") {
        const std::string y = gateway(http_gateway_route("      prefix: shop\n"));
        expect_error(y, "spec.httpRoute.match.prefix", "must start with '/'", "prefix: shop");
    }
    SECTION("reserved prefix") {
        const std::string y = gateway(http_gateway_route("      prefix: /aws-appmesh/x\n"));
        expect_error(y, "spec.httpRoute.match.prefix", "is reserved", "prefix: /aws-appmesh");
    }
    SECTION("not prefix and path") {
        const std::string y =
            gateway(http_gateway_route("      prefix: /\n      path: {exact: /a}\n"));
        expect_error_at(y, "spec.httpRoute.match", "cannot both be given",
                        line_of(y, "    match:", 2));
    }
    SECTION("one of prefix, path, hostname") {
        const std::string y = gateway(http_gateway_route("      method: GET\n"));
        expect_error_at(y, "spec.httpRoute.match", "at least one of prefix, path or hostname",
                        line_of(y, "    match:", 2));
    }
    SECTION("hostname only is fine") {
        expect_clean(gateway(http_gateway_route("      hostname: {exact: a.example.com}\n")));
    }
    SECTION("hostname exact or suffix") {
        const std::string y = gateway(
            http_gateway_route("      hostname: {exact: a.example.com, suffix: .example.com}\n"));
        expect_error(y, "spec.httpRoute.match.hostname", "only one of exact or suffix",
                     "hostname: {exact");
    }
    SECTION("grpc needs serviceName or hostname") {
        const std::string y = gateway(R"(  grpcRoute:
    match:
      metadata:
        - name: x-a
    action:
      target:
        virtualService:
          virtualServiceRef: {name: svc}
)",
                                      "    - portMapping: {port: 8088, protocol: grpc}\n");
        const outcome o = diags_for(y);
        INFO(o.dump());
        const auto* e = find(o, r::severity::error, "spec.grpcRoute.match",
                             "at least one of serviceName or hostname");
        REQUIRE(e != nullptr);
    }
    SECTION("priority") {
        const std::string y =
            gateway("  priority: 2000\n" + http_gateway_route("      prefix: /\n"));
        expect_error(y, "spec.priority", "2000 is out of range 0-1000", "priority: 2000");
    }
}

TEST_CASE("validate: gateway route rewrite rules", "[validate][gateway]") {
    SECTION("empty rewrite block") {
        const std::string y =
            gateway(http_gateway_route("      prefix: /a/\n", "      rewrite: {}\n"));
        expect_error(y, "spec.httpRoute.action.rewrite", "at least one of prefix, path or hostname",
                     "rewrite: {}");
    }
    SECTION("prefix value starts and ends with /") {
        const std::string y = gateway(
            http_gateway_route("      prefix: /a/\n",
                               "      rewrite:\n        prefix: {value: /b}\n"));
        expect_error(y, "spec.httpRoute.action.rewrite.prefix.value", "must start and end with '/'",
                     "prefix: {value: /b}");
    }
    SECTION("value not with defaultPrefix") {
        const std::string y = gateway(http_gateway_route(
            "      prefix: /a/\n",
            "      rewrite:\n        prefix: {value: /b/, defaultPrefix: DISABLED}\n"));
        expect_error(y, "spec.httpRoute.action.rewrite.prefix",
                     "only one of defaultPrefix or value", "prefix: {value: /b/");
    }
    SECTION("path rewrite not with prefix rewrite") {
        const std::string y = gateway(http_gateway_route(
            "      path: {exact: /a}\n",
            "      rewrite:\n        prefix: {defaultPrefix: DISABLED}\n"
            "        path: {exact: /b}\n"));
        expect_error(y, "spec.httpRoute.action.rewrite.path", "cannot be combined",
                     "path: {exact: /b}");
    }
}

TEST_CASE("validate: gateway route target port", "[validate][gateway]") {
    // svc's router gets two listeners; the route must name one of them.
    std::string y = gateway(http_gateway_route("      prefix: /\n"));
    const std::string one =
        "  listeners:\n    - portMapping: {port: 8080, protocol: http}\n  routes:";
    const std::string two = "  listeners:\n    - portMapping: {port: 8080, protocol: http}\n"
                            "    - portMapping: {port: 8081, protocol: http}\n  routes:";
    y.replace(y.find(one), one.size(), two);
    // The router's own route now needs match.port as well: give it one.
    const std::string m = "        match:\n          prefix: /\n";
    y.replace(y.find(m), m.size(), m + "          port: 8080\n");
    // No port key: the error points at the target block.
    expect_error(y, "spec.httpRoute.action.target.port", "target port is required",
                 "      target:");
}

TEST_CASE("validate: multi-listener gateway needs match.port", "[validate][gateway]") {
    const std::string y = gateway(http_gateway_route("      prefix: /\n"),
                                  "    - portMapping: {port: 8088, protocol: http}\n"
                                  "    - portMapping: {port: 8089, protocol: http}\n");
    expect_error_at(y, "spec.httpRoute.match.port", "match.port is required",
                    line_of(y, "    match:", 2));
}

TEST_CASE("validate: ACM on a gateway warns without --node", "[validate][gateway][aws]") {
    const std::string y = gateway(http_gateway_route("      prefix: /\n"),
                                  R"(    - portMapping: {port: 8088, protocol: http}
      tls:
        mode: STRICT
        certificate:
          acm: {certificateARN: "arn:aws:acm:us-west-2:1:certificate/g"}
)");
    expect_warning(y, "spec.listeners[0].tls.certificate.acm.certificateARN", "ACM certificates",
                   "acm: {certificateARN");
}

TEST_CASE("validate: access log format is text or json", "[validate]") {
    const std::string y = node(R"(  logging:
    accessLog:
      file:
        path: /dev/stdout
        format: {text: "%PROTOCOL%", json: [{key: a, value: b}]}
)");
    expect_error(y, "spec.logging.accessLog.file.format", "only one of text or json",
                 "format: {text");
}

TEST_CASE("validate: grpcRetryEvents values", "[validate]") {
    const std::string y = router(R"(    - name: a
      grpcRoute:
        match: {serviceName: pkg.Svc}
        action:
          weightedTargets:
            - virtualNodeRef: {name: g1}
              weight: 1
        retryPolicy:
          maxRetries: 1
          perRetryTimeout: {value: 1, unit: s}
          grpcRetryEvents: [unavailable, not-found]
)",
                                 "    - portMapping: {port: 9090, protocol: grpc}\n");
    // The loader rejects the value (an enum); validate keeps the same rule without repeating it.
    const outcome o = diags_for(y);
    INFO(o.dump());
    CHECK(o.diags.error_count() == 1);
    const auto* e = find(o, r::severity::error,
                         "spec.routes[0].grpcRoute.retryPolicy.grpcRetryEvents[1]", "not-found");
    REQUIRE(e != nullptr);
    CHECK(e->loc.line == line_of(y, "grpcRetryEvents:"));
}

TEST_CASE("validate: dangling target is left to resolve", "[validate]") {
    const std::string y = router(R"(    - name: a
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: nowhere}
              weight: 1
)");
    const outcome o = diags_for(y);
    INFO(o.dump());
    CHECK(o.errors_before_validate == 1);
    CHECK(o.diags.error_count() == 1);  // validate adds nothing about the missing node
}

TEST_CASE("validate: tcp routes on tcp listeners", "[validate]") {
    std::string y = router(R"(    - name: a
      tcpRoute:
        action:
          weightedTargets:
            - virtualNodeRef: {name: t1}
              weight: 1
)",
                           "    - portMapping: {port: 5432, protocol: tcp}\n");
    y += R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: t1
  namespace: ns
spec:
  listeners:
    - portMapping: {port: 5432, protocol: tcp}
      connectionPool:
        tcp: {maxConnections: 10}
  serviceDiscovery: {dns: {hostname: t1.ns}}
)";
    expect_clean(y);
}
