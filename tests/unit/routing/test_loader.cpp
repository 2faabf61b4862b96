// The YAML loader (yaml_loader.hpp): every kind into the model structs, field positions and paths,
// type errors, required fields, unknown-key warnings, multi-document files, directories, YAML
// syntax errors, and every manifest of the real corpus.

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"
#include "routing/yaml_loader.hpp"
#include "routing/yaml_tree.hpp"

namespace r = outrigger::routing;
namespace fs = std::filesystem;

namespace {

struct loaded {
    r::mesh_input in;
    r::diagnostics diags;

    [[nodiscard]] std::vector<std::string> lines(r::severity level) const {
        std::vector<std::string> out;
        for (const auto& e : diags.items()) {
            if (e.level == level) {
                out.push_back(r::format(e, in.files));
            }
        }
        return out;
    }
    [[nodiscard]] std::vector<std::string> errors() const { return lines(r::severity::error); }
    [[nodiscard]] std::vector<std::string> warnings() const { return lines(r::severity::warning); }
};

loaded load(const std::string& yaml, const std::string& file = "test.yaml") {
    loaded l;
    r::load_string(yaml, file, l.in, l.diags);
    return l;
}

/// `LINE:COL` (1-based) of the first `needle` at or after the first occurrence of `anchor`.
std::string at(const std::string& text, const std::string& anchor, const std::string& needle) {
    const std::size_t a = text.find(anchor);
    REQUIRE(a != std::string::npos);
    const std::size_t p = text.find(needle, a);
    REQUIRE(p != std::string::npos);
    const std::size_t line_start = text.rfind('\n', p == 0 ? 0 : p - 1);
    const std::size_t col = line_start == std::string::npos || p == 0 ? p : p - line_start - 1;
    const auto line =
        std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(p), '\n') + 1;
    return std::to_string(line) + ":" + std::to_string(col + 1);
}

/// `LINE:COL` that object_meta::where gives for `path`.
std::string pos(const r::object_meta& m, const std::string& path) {
    const auto l = m.where(path);
    return std::to_string(l.line) + ":" + std::to_string(l.col);
}

bool recorded(const r::object_meta& m, const std::string& path) {
    return std::any_of(m.field_locs.begin(), m.field_locs.end(), [&](const auto& f) {
        return f.first == path;
    });
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) {
        s += x + "\n";
    }
    return s;
}

// Spec §11.1 canary router plus an http2 route with every match block.
const std::string canary_router = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: checkout
  namespace: shop
  labels: {team: payments}
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  routes:
    - name: canary
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: checkout-v1}
              weight: 90
            - virtualNodeRef: {name: checkout-v2, namespace: other}
              weight: 10
              port: 8080
        retryPolicy:
          maxRetries: 3
          perRetryTimeout: {value: 2000, unit: ms}
          httpRetryEvents: [server-error, gateway-error]
          tcpRetryEvents: [connection-error]
        timeout:
          perRequest: {value: 10, unit: s}
          idle: {value: 60, unit: s}
    - name: legacy
      priority: 5
      http2Route:
        match:
          path: {exact: /old}
          method: POST
          scheme: https
          headers:
            - name: x-user
              match: {range: {start: 1, end: 10}}
              invert: true
            - name: x-present
          queryParameters:
            - name: preview
              match: {exact: "true"}
            - name: debug
          port: 8080
        action:
          weightedTargets:
            - virtualNodeARN: arn:aws:appmesh:us-west-2:111122223333:mesh/m/virtualNode/v1_shop
              weight: 1
    - name: rpc
      grpcRoute:
        match:
          serviceName: shop.Cart
          methodName: Add
          metadata:
            - {name: x-tenant, match: {suffix: -eu}}
            - {name: x-debug, invert: true}
        action:
          weightedTargets: [{virtualNodeRef: {name: cart}, weight: 1}]
        retryPolicy:
          maxRetries: 1
          grpcRetryEvents: [unavailable, deadline-exceeded]
    - name: raw
      tcpRoute:
        match: {port: 5432}
        action:
          weightedTargets: [{virtualNodeRef: {name: db}, weight: 1}]
        timeout: {idle: {value: 0, unit: s}}
)";

}  // namespace

TEST_CASE("loader: a canary router with 90/10 targets and every route kind", "[routing][loader]") {
    const auto l = load(canary_router);
    CHECK(l.diags.items().empty());
    REQUIRE(l.in.virtual_routers.size() == 1);
    REQUIRE(l.in.files == std::vector<std::string>{"test.yaml"});
    const auto& vr = l.in.virtual_routers[0];
    CHECK(vr.meta.kind == "VirtualRouter");
    CHECK(vr.meta.name == "checkout");
    CHECK(vr.meta.ns == "shop");
    CHECK(vr.meta.labels == std::map<std::string, std::string>{{"team", "payments"}});
    CHECK(vr.meta.loc.file == 0);
    CHECK(pos(vr.meta, "") == "2:1");  // the `kind:` line
    REQUIRE(vr.listeners.size() == 1);
    CHECK(vr.listeners[0].port == 8080);
    CHECK(vr.listeners[0].proto == r::protocol::http);
    REQUIRE(vr.routes.size() == 4);

    const auto& canary = vr.routes[0];
    CHECK(canary.name == "canary");
    CHECK(canary.index == 0);
    CHECK(canary.kind == r::route_kind::http);
    CHECK(canary.kinds_given == 1);
    CHECK_FALSE(canary.priority.has_value());
    CHECK(canary.match_given);
    CHECK(canary.match.prefix == "/");
    REQUIRE(canary.targets.size() == 2);
    CHECK(canary.targets[0].node.name == "checkout-v1");
    CHECK(canary.targets[0].node.ns.empty());
    CHECK_FALSE(canary.targets[0].node.ns_given);
    CHECK(canary.targets[0].weight == 90);
    CHECK_FALSE(canary.targets[0].port.has_value());
    CHECK(canary.targets[1].node.name == "checkout-v2");
    CHECK(canary.targets[1].node.ns == "other");
    CHECK(canary.targets[1].node.ns_given);
    CHECK(canary.targets[1].weight == 10);
    CHECK(canary.targets[1].port == 8080);
    REQUIRE(canary.retry.has_value());
    CHECK(canary.retry->max_retries == 3);
    REQUIRE(canary.retry->per_retry_timeout.has_value());
    CHECK(canary.retry->per_retry_timeout->to_ms().count() == 2000);
    CHECK(canary.retry->http_events == std::vector<std::string>{"server-error", "gateway-error"});
    CHECK(canary.retry->tcp_events == std::vector<std::string>{"connection-error"});
    REQUIRE(canary.timeout.per_request.has_value());
    CHECK(canary.timeout.per_request->unit == r::duration::unit_t::s);
    CHECK(canary.timeout.per_request->to_ms().count() == 10000);
    CHECK(canary.timeout.idle->to_ms().count() == 60000);

    const auto& legacy = vr.routes[1];
    CHECK(legacy.index == 1);
    CHECK(legacy.kind == r::route_kind::http2);
    CHECK(legacy.priority == 5);
    CHECK(legacy.match.path_block);
    CHECK(legacy.match.path_exact == "/old");
    CHECK_FALSE(legacy.match.path_regex.has_value());
    CHECK_FALSE(legacy.match.prefix.has_value());
    CHECK(legacy.match.method == "POST");
    CHECK(legacy.match.scheme == "https");
    CHECK(legacy.match.port == 8080);
    REQUIRE(legacy.match.headers.size() == 2);
    CHECK(legacy.match.headers[0].name == "x-user");
    CHECK(legacy.match.headers[0].match.kind == r::string_match::kind_t::range);
    CHECK(legacy.match.headers[0].match.kinds_given == 1);
    CHECK(legacy.match.headers[0].match.range_start == 1);
    CHECK(legacy.match.headers[0].match.range_end == 10);
    CHECK(legacy.match.headers[0].invert);
    CHECK(legacy.match.headers[1].match.kind == r::string_match::kind_t::present);
    CHECK(legacy.match.headers[1].match.kinds_given == 0);
    CHECK_FALSE(legacy.match.headers[1].invert);
    REQUIRE(legacy.match.query.size() == 2);
    CHECK(legacy.match.query[0].name == "preview");
    CHECK(legacy.match.query[0].match_block);
    CHECK(legacy.match.query[0].exact == "true");
    CHECK_FALSE(legacy.match.query[1].match_block);
    CHECK_FALSE(legacy.match.query[1].exact.has_value());
    REQUIRE(legacy.targets.size() == 1);
    CHECK(legacy.targets[0].node.arn ==
          "arn:aws:appmesh:us-west-2:111122223333:mesh/m/virtualNode/v1_shop");
    CHECK(legacy.targets[0].node.name.empty());

    const auto& rpc = vr.routes[2];
    CHECK(rpc.kind == r::route_kind::grpc);
    CHECK(rpc.match.service_name == "shop.Cart");
    CHECK(rpc.match.method_name == "Add");
    REQUIRE(rpc.match.headers.size() == 2);
    CHECK(rpc.match.headers[0].match.kind == r::string_match::kind_t::suffix);
    CHECK(rpc.match.headers[0].match.value == "-eu");
    CHECK(rpc.match.headers[1].invert);
    CHECK(rpc.retry->grpc_events == std::vector<std::string>{"unavailable", "deadline-exceeded"});
    CHECK_FALSE(rpc.retry->per_retry_timeout.has_value());

    const auto& raw = vr.routes[3];
    CHECK(raw.kind == r::route_kind::tcp);
    CHECK(raw.match.port == 5432);
    CHECK(raw.targets[0].node.name == "db");
    CHECK(raw.timeout.idle->value == 0);
    CHECK_FALSE(raw.retry.has_value());

    // Field positions: scalars at their value, blocks at their key, list items at the item.
    CHECK(pos(vr.meta, "metadata.name") == at(canary_router, "name: checkout", "checkout"));
    CHECK(pos(vr.meta, "spec.listeners[0].portMapping.port") ==
          at(canary_router, "portMapping: {port: 8080", "8080"));
    CHECK(pos(vr.meta, "spec.routes[0].httpRoute.action.weightedTargets[1].weight") ==
          at(canary_router, "weight: 10", "10"));
    CHECK(pos(vr.meta, "spec.routes[0].httpRoute.action.weightedTargets[1]") ==
          at(canary_router, "- virtualNodeRef: {name: checkout-v2", "virtualNodeRef"));
    CHECK(pos(vr.meta, "spec.routes[1].http2Route.match") ==
          at(canary_router, "http2Route:\n        match", "match"));
    CHECK(pos(vr.meta, "spec.routes[1].http2Route.match.headers[0].match.range.end") ==
          at(canary_router, "range: {start: 1, end: 10}", "10"));
    CHECK(pos(vr.meta, "spec.routes[2].grpcRoute.retryPolicy.grpcRetryEvents[1]") ==
          at(canary_router, "deadline-exceeded", "deadline-exceeded"));
    CHECK(recorded(vr.meta, "spec.routes[3].tcpRoute.timeout.idle.unit"));
    // Not recorded (no such field): the longest recorded prefix.
    CHECK(pos(vr.meta, "spec.routes[1].http2Route.match.headers[7].name") ==
          at(canary_router, "headers:", "headers"));
}

namespace {

const std::string full_node = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: ledger
  namespace: shop
spec:
  awsName: ledger_shop
  podSelector:
    matchLabels: {app: ledger}
  listeners:
    - portMapping:
        port: 8443
        protocol: http
      tls:
        mode: STRICT
        certificate:
          file:
            certificateChain: /certs/cert.pem
            privateKey: /certs/key.pem
        validation:
          trust:
            file: {certificateChain: /certs/ca.pem}
          subjectAlternativeNames:
            match:
              exact: [web.shop.svc.cluster.local, "spiffe://shop/web"]
      healthCheck:
        protocol: http
        path: /ping
        port: 8443
        healthyThreshold: 2
        unhealthyThreshold: 3
        intervalMillis: 5000
        timeoutMillis: 2000
      outlierDetection:
        maxServerErrors: 5
        interval: {value: 10, unit: s}
        baseEjectionDuration: {value: 30, unit: s}
        maxEjectionPercent: 50
      connectionPool:
        http:
          maxConnections: 100
          maxPendingRequests: 200
      timeout:
        http:
          perRequest: {value: 30, unit: s}
          idle: {value: 120, unit: s}
        tcp:
          idle: {value: 5, unit: ms}
    - portMapping: {port: 9000, protocol: grpc}
      tls:
        mode: PERMISSIVE
        certificate: {acm: {certificateARN: "arn:aws:acm:us-west-2:111122223333:certificate/abc"}}
      connectionPool:
        grpc: {maxRequests: 10}
      timeout:
        grpc: {perRequest: {value: 1, unit: s}}
        http2: {idle: {value: 2, unit: s}}
    - portMapping: {port: 5432, protocol: tcp}
      tls:
        mode: DISABLED
        certificate: {sds: {secretName: "spiffe://shop/ledger"}}
        validation:
          trust: {sds: {secretName: shop-ca}}
      connectionPool:
        tcp: {maxConnections: 7}
  serviceDiscovery:
    dns:
      hostname: ledger.shop.svc.cluster.local
      responseType: ENDPOINTS
  backends:
    - virtualService:
        virtualServiceRef: {name: payments}
        clientPolicy:
          tls:
            enforce: false
            ports: [443, 8443]
            certificate:
              sds: {secretName: "spiffe://shop/ledger"}
            validation:
              trust:
                acm:
                  certificateAuthorityARNs: ["arn:aws:acm-pca:1", "arn:aws:acm-pca:2"]
              subjectAlternativeNames:
                match: {exact: [payments.shop.svc.cluster.local]}
    - virtualService:
        virtualServiceARN: arn:aws:appmesh:us-west-2:111122223333:mesh/m/virtualService/x.y
  backendGroups:
    - name: "*"
      namespace: shared
    - name: common
  backendDefaults:
    clientPolicy:
      tls:
        certificate:
          file: {certificateChain: /c/chain.pem, privateKey: /c/key.pem}
        validation:
          trust:
            file: {certificateChain: /c/ca.pem}
  logging:
    accessLog:
      file:
        path: /dev/stdout
        format:
          json:
            - {key: start, value: "%START_TIME%"}
            - {key: status, value: "%RESPONSE_CODE%"}
  meshRef: {name: shop-mesh, uid: 1234-abcd}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: colors, namespace: shop}
spec:
  serviceDiscovery:
    awsCloudMap:
      namespaceName: demo.local
      serviceName: colors
      attributes:
        - {key: version, value: v1}
        - {key: zone, value: a}
  logging:
    accessLog:
      file:
        path: /var/log/access.log
        format: {text: "%PROTOCOL%:%DURATION%\n"}
)";

}  // namespace

TEST_CASE("loader: a virtual node with every listener block, TLS client policies and logging",
          "[routing][loader]") {
    const auto l = load(full_node);
    CHECK(join(l.errors()).empty());
    CHECK(join(l.warnings()).empty());
    REQUIRE(l.in.virtual_nodes.size() == 2);
    const auto& vn = l.in.virtual_nodes[0];
    CHECK(vn.meta.name == "ledger");
    CHECK(vn.aws_name == "ledger_shop");
    CHECK(vn.meta.mesh_ref == "shop-mesh");
    REQUIRE(vn.listeners.size() == 3);

    const auto& l0 = vn.listeners[0];
    CHECK(l0.port_mapping.port == 8443);
    CHECK(l0.port_mapping.proto == r::protocol::http);
    REQUIRE(l0.tls.has_value());
    CHECK(l0.tls->mode == "STRICT");
    CHECK(l0.tls->certificate.kind == r::tls_source::kind_t::file);
    CHECK(l0.tls->certificate.kinds_given == 1);
    CHECK(l0.tls->certificate.certificate_chain == "/certs/cert.pem");
    CHECK(l0.tls->certificate.private_key == "/certs/key.pem");
    REQUIRE(l0.tls->validation_trust.has_value());
    CHECK(l0.tls->validation_trust->kind == r::tls_source::kind_t::file);
    CHECK(l0.tls->validation_trust->certificate_chain == "/certs/ca.pem");
    CHECK(l0.tls->validation_sans ==
          std::vector<std::string>{"web.shop.svc.cluster.local", "spiffe://shop/web"});
    REQUIRE(l0.health_check.has_value());
    CHECK(l0.health_check->protocol == "http");
    CHECK(l0.health_check->path == "/ping");
    CHECK(l0.health_check->port == 8443);
    CHECK(l0.health_check->healthy_threshold == 2);
    CHECK(l0.health_check->unhealthy_threshold == 3);
    CHECK(l0.health_check->interval_ms == 5000);
    CHECK(l0.health_check->timeout_ms == 2000);
    REQUIRE(l0.outlier_detection.has_value());
    CHECK(l0.outlier_detection->max_server_errors == 5);
    CHECK(l0.outlier_detection->interval.to_ms().count() == 10000);
    CHECK(l0.outlier_detection->base_ejection_duration.to_ms().count() == 30000);
    CHECK(l0.outlier_detection->max_ejection_percent == 50);
    REQUIRE(l0.connection_pool.has_value());
    CHECK(l0.connection_pool->kind == "http");
    CHECK(l0.connection_pool->kinds_given == 1);
    CHECK(l0.connection_pool->max_connections == 100);
    CHECK(l0.connection_pool->max_pending_requests == 200);
    REQUIRE(l0.timeouts.size() == 2);
    CHECK(l0.timeouts.at("http").per_request->to_ms().count() == 30000);
    CHECK(l0.timeouts.at("http").idle->to_ms().count() == 120000);
    CHECK_FALSE(l0.timeouts.at("tcp").per_request.has_value());
    CHECK(l0.timeouts.at("tcp").idle->to_ms().count() == 5);

    const auto& l1 = vn.listeners[1];
    CHECK(l1.port_mapping.proto == r::protocol::grpc);
    CHECK(l1.tls->mode == "PERMISSIVE");
    CHECK(l1.tls->certificate.kind == r::tls_source::kind_t::acm);
    CHECK(l1.tls->certificate.acm_arns ==
          std::vector<std::string>{"arn:aws:acm:us-west-2:111122223333:certificate/abc"});
    CHECK_FALSE(l1.tls->validation_trust.has_value());
    CHECK(l1.connection_pool->kind == "grpc");
    CHECK(l1.connection_pool->max_requests == 10);
    CHECK(l1.timeouts.at("grpc").per_request->to_ms().count() == 1000);
    CHECK(l1.timeouts.at("http2").idle->to_ms().count() == 2000);
    CHECK_FALSE(l1.health_check.has_value());
    CHECK_FALSE(l1.outlier_detection.has_value());

    const auto& l2 = vn.listeners[2];
    CHECK(l2.port_mapping.proto == r::protocol::tcp);
    CHECK(l2.tls->mode == "DISABLED");
    CHECK(l2.tls->certificate.kind == r::tls_source::kind_t::sds);
    CHECK(l2.tls->certificate.secret_name == "spiffe://shop/ledger");
    CHECK(l2.tls->validation_trust->kind == r::tls_source::kind_t::sds);
    CHECK(l2.tls->validation_trust->secret_name == "shop-ca");
    CHECK(l2.connection_pool->kind == "tcp");
    CHECK(l2.connection_pool->max_connections == 7);

    CHECK(vn.service_discovery.kind == r::service_discovery::kind_t::dns);
    CHECK(vn.service_discovery.kinds_given == 1);
    CHECK(vn.service_discovery.hostname == "ledger.shop.svc.cluster.local");
    CHECK(vn.service_discovery.response_type == "ENDPOINTS");

    REQUIRE(vn.backends.size() == 2);
    CHECK(vn.backends[0].virtual_service.name == "payments");
    REQUIRE(vn.backends[0].client_policy.has_value());
    REQUIRE(vn.backends[0].client_policy->tls.has_value());
    const auto& cp = *vn.backends[0].client_policy->tls;
    CHECK_FALSE(cp.enforce);
    CHECK(cp.ports == std::vector<std::int64_t>{443, 8443});
    REQUIRE(cp.certificate.has_value());
    CHECK(cp.certificate->kind == r::tls_source::kind_t::sds);
    CHECK(cp.validation_trust.kind == r::tls_source::kind_t::acm);
    CHECK(cp.validation_trust.acm_arns ==
          std::vector<std::string>{"arn:aws:acm-pca:1", "arn:aws:acm-pca:2"});
    CHECK(cp.validation_sans == std::vector<std::string>{"payments.shop.svc.cluster.local"});
    CHECK(vn.backends[1].virtual_service.arn ==
          "arn:aws:appmesh:us-west-2:111122223333:mesh/m/virtualService/x.y");
    CHECK_FALSE(vn.backends[1].client_policy.has_value());

    REQUIRE(vn.backend_groups.size() == 2);
    CHECK(vn.backend_groups[0].name == "*");
    CHECK(vn.backend_groups[0].ns == "shared");
    CHECK(vn.backend_groups[0].ns_given);
    CHECK(vn.backend_groups[1].name == "common");
    CHECK_FALSE(vn.backend_groups[1].ns_given);

    REQUIRE(vn.backend_defaults.has_value());
    REQUIRE(vn.backend_defaults->tls.has_value());
    CHECK(vn.backend_defaults->tls->enforce);  // default true
    CHECK(vn.backend_defaults->tls->ports.empty());
    CHECK(vn.backend_defaults->tls->certificate->kind == r::tls_source::kind_t::file);
    CHECK(vn.backend_defaults->tls->certificate->private_key == "/c/key.pem");
    CHECK(vn.backend_defaults->tls->validation_trust.certificate_chain == "/c/ca.pem");

    REQUIRE(vn.logging.has_value());
    CHECK(vn.logging->path == "/dev/stdout");
    CHECK_FALSE(vn.logging->text_format.has_value());
    CHECK(vn.logging->json_format == std::vector<std::pair<std::string, std::string>>{
                                         {"start", "%START_TIME%"}, {"status", "%RESPONSE_CODE%"}});

    const auto& colors = l.in.virtual_nodes[1];
    CHECK(colors.meta.name == "colors");
    CHECK(colors.listeners.empty());
    CHECK(colors.service_discovery.kind == r::service_discovery::kind_t::cloud_map);
    CHECK(colors.service_discovery.namespace_name == "demo.local");
    CHECK(colors.service_discovery.service_name == "colors");
    CHECK(colors.service_discovery.response_type == "LOADBALANCER");  // the default
    CHECK(colors.service_discovery.attributes ==
          std::vector<std::pair<std::string, std::string>>{{"version", "v1"}, {"zone", "a"}});
    REQUIRE(colors.logging.has_value());
    CHECK(colors.logging->text_format == "%PROTOCOL%:%DURATION%\n");
    CHECK_FALSE(colors.meta.mesh_ref.has_value());
    CHECK(std::to_string(colors.meta.loc.line) + ":" + std::to_string(colors.meta.loc.col) ==
          at(full_node, "kind: VirtualNode\nmetadata: {name: colors", "kind"));

    CHECK(pos(vn.meta, "spec.listeners[0].outlierDetection.interval.value") ==
          at(full_node, "interval: {value: 10", "10"));
    CHECK(pos(vn.meta, "spec.backends[0].virtualService.clientPolicy.tls.ports[1]") ==
          at(full_node, "ports: [443, 8443]", "8443"));
    CHECK(pos(vn.meta, "spec.logging.accessLog.file.format.json[1].value") ==
          at(full_node, "\"%RESPONSE_CODE%\"", "\"%RESPONSE_CODE%\""));
}

namespace {

const std::string gateway_yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualGateway
metadata: {name: ingress, namespace: shop}
spec:
  namespaceSelector:
    matchLabels: {gateway: ingress}
  gatewayRouteSelector:
    matchExpressions:
      - {key: tier, operator: In, values: [public, partner]}
      - key: internal
        operator: DoesNotExist
  podSelector: {matchLabels: {app: ingress}}
  listeners:
    - portMapping: {port: 8088, protocol: http}
      tls:
        mode: STRICT
        certificate: {file: {certificateChain: /c.pem, privateKey: /k.pem}}
        validation:
          trust: {acm: {certificateAuthorityARNs: ["arn:aws:acm-pca:ca"]}}
      healthCheck:
        protocol: http
        path: /health
        intervalMillis: 10000
        timeoutMillis: 3000
        unhealthyThreshold: 2
      connectionPool:
        http2: {maxRequests: 64}
  backendDefaults:
    clientPolicy:
      tls:
        validation:
          trust: {file: {certificateChain: /ca.pem}}
  logging:
    accessLog: {file: {path: /dev/stdout}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: books
  namespace: shop
  labels: {tier: public}
spec:
  priority: 10
  httpRoute:
    match:
      prefix: /books/
      hostname: {suffix: .example.com}
      method: GET
      headers:
        - name: x-version
          match: {prefix: v2}
      queryParameters:
        - name: lang
          match: {exact: en}
      port: 8088
    action:
      target:
        virtualService:
          virtualServiceRef: {name: books}
        port: 9080
      rewrite:
        hostname: {defaultTargetHostname: DISABLED}
        prefix: {defaultPrefix: ENABLED, value: /v2/books/}
  virtualGatewayRef: {name: ingress, namespace: shop, uid: abc}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata: {name: status, namespace: shop}
spec:
  http2Route:
    match:
      path: {exact: /status}
      hostname: {exact: www.example.com}
    action:
      target:
        virtualService:
          virtualServiceARN: arn:aws:appmesh:us-west-2:111122223333:mesh/m/virtualService/s
      rewrite:
        path: {exact: /healthz}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata: {name: rpc, namespace: shop}
spec:
  grpcRoute:
    match:
      serviceName: shop.Books
      hostname: {exact: rpc.example.com}
      metadata:
        - {name: x-tenant, match: {exact: acme}}
      port: 8088
    action:
      target: {virtualService: {virtualServiceRef: {name: books-rpc, namespace: rpc}}}
      rewrite: {hostname: {defaultTargetHostname: ENABLED}}
)";

}  // namespace

TEST_CASE("loader: a virtual gateway and gateway routes with matches and rewrites",
          "[routing][loader]") {
    const auto l = load(gateway_yaml);
    CHECK(join(l.errors()).empty());
    CHECK(join(l.warnings()).empty());
    REQUIRE(l.in.virtual_gateways.size() == 1);
    const auto& vg = l.in.virtual_gateways[0];
    REQUIRE(vg.namespace_selector.has_value());
    CHECK(vg.namespace_selector->match_labels.at("gateway") == "ingress");
    REQUIRE(vg.gateway_route_selector.has_value());
    REQUIRE(vg.gateway_route_selector->match_expressions.size() == 2);
    CHECK(vg.gateway_route_selector->match_expressions[0].key == "tier");
    CHECK(vg.gateway_route_selector->match_expressions[0].op == "In");
    CHECK(vg.gateway_route_selector->match_expressions[0].values ==
          std::vector<std::string>{"public", "partner"});
    CHECK(vg.gateway_route_selector->match_expressions[1].op == "DoesNotExist");
    CHECK(vg.gateway_route_selector->matches({{"tier", "public"}}));
    CHECK_FALSE(vg.gateway_route_selector->matches({{"tier", "public"}, {"internal", "y"}}));
    REQUIRE(vg.listeners.size() == 1);
    const auto& gl = vg.listeners[0];
    CHECK(gl.port_mapping.port == 8088);
    CHECK(gl.tls->validation_trust->kind == r::tls_source::kind_t::acm);
    CHECK(gl.tls->validation_trust->acm_arns == std::vector<std::string>{"arn:aws:acm-pca:ca"});
    CHECK(gl.health_check->healthy_threshold == 0);  // optional on gateways: no error
    CHECK(gl.health_check->timeout_ms == 3000);
    CHECK(gl.connection_pool->kind == "http2");
    CHECK(gl.connection_pool->max_requests == 64);
    CHECK(vg.backend_defaults->tls->validation_trust.certificate_chain == "/ca.pem");
    CHECK(vg.logging->path == "/dev/stdout");

    REQUIRE(l.in.gateway_routes.size() == 3);
    const auto& books = l.in.gateway_routes[0];
    CHECK(books.meta.labels.at("tier") == "public");
    CHECK(books.priority == 10);
    CHECK(books.kind == r::route_kind::http);
    CHECK(books.kinds_given == 1);
    CHECK(books.match.prefix == "/books/");
    CHECK(books.match.hostname_suffix == ".example.com");
    CHECK_FALSE(books.match.hostname_exact.has_value());
    CHECK(books.match.method == "GET");
    REQUIRE(books.match.headers.size() == 1);
    CHECK(books.match.headers[0].match.kind == r::string_match::kind_t::prefix);
    CHECK(books.match.headers[0].match.value == "v2");
    CHECK(books.match.query[0].exact == "en");
    CHECK(books.match.port == 8088);
    CHECK(books.target_service.name == "books");
    CHECK(books.target_port == 9080);
    CHECK(books.rewrite_block);
    CHECK(books.rewrite_default_target_hostname == "DISABLED");
    CHECK(books.rewrite_default_prefix == "ENABLED");
    CHECK(books.rewrite_prefix_value == "/v2/books/");
    CHECK_FALSE(books.rewrite_path_exact.has_value());

    const auto& status = l.in.gateway_routes[1];
    CHECK(status.kind == r::route_kind::http2);
    CHECK(status.match.path_block);
    CHECK(status.match.path_exact == "/status");
    CHECK(status.match.hostname_exact == "www.example.com");
    CHECK(status.target_service.arn ==
          "arn:aws:appmesh:us-west-2:111122223333:mesh/m/virtualService/s");
    CHECK(status.rewrite_path_exact == "/healthz");
    CHECK_FALSE(status.target_port.has_value());
    CHECK_FALSE(status.priority.has_value());

    const auto& rpc = l.in.gateway_routes[2];
    CHECK(rpc.kind == r::route_kind::grpc);
    CHECK(rpc.match.service_name == "shop.Books");
    CHECK(rpc.match.hostname_exact == "rpc.example.com");
    CHECK(rpc.match.headers[0].name == "x-tenant");
    CHECK(rpc.match.headers[0].match.value == "acme");
    CHECK(rpc.target_service.ns == "rpc");
    CHECK(rpc.rewrite_default_target_hostname == "ENABLED");
    CHECK(pos(rpc.meta, "spec.grpcRoute.match.metadata[0].match.exact") ==
          at(gateway_yaml, "exact: acme", "acme"));
}

TEST_CASE("loader: meshes, virtual services and backend groups", "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata:
  name: shop-mesh
  namespace: ignored-for-cluster-scoped
spec:
  awsName: shop
  namespaceSelector:
    matchLabels: {mesh: shop-mesh}
    matchExpressions:
      - {key: env, operator: NotIn, values: [dev]}
  egressFilter: {type: ALLOW_ALL}
  meshOwner: "111122223333"
  meshServiceDiscovery: {ipPreference: IPv6_ONLY}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: bare}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: all-namespaces}
spec:
  namespaceSelector: {}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: ledger, namespace: shop}
spec:
  awsName: ledger.shop.svc.cluster.local
  provider:
    virtualNode:
      virtualNodeRef: {name: ledger}
  meshRef: {name: shop-mesh, uid: 42}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: remote, namespace: shop}
spec:
  provider:
    virtualRouter:
      virtualRouterARN: arn:aws:appmesh:us-west-2:111122223333:mesh/m/virtualRouter/r
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: nothing, namespace: shop}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: BackendGroup
metadata: {name: common, namespace: shop}
spec:
  virtualservices:
    - name: ledger
    - {name: payments, namespace: billing}
)";
    const auto l = load(yaml);
    CHECK(l.diags.items().empty());
    REQUIRE(l.in.meshes.size() == 3);
    const auto& m = l.in.meshes[0];
    CHECK(m.meta.kind == "Mesh");
    CHECK(m.meta.name == "shop-mesh");
    CHECK(m.meta.ns.empty());  // cluster-scoped
    CHECK(m.aws_name == "shop");
    REQUIRE(m.namespace_selector.has_value());
    CHECK(m.namespace_selector->match_labels.at("mesh") == "shop-mesh");
    CHECK(m.namespace_selector->match_expressions[0].op == "NotIn");
    CHECK(m.egress_filter == "ALLOW_ALL");
    CHECK(m.ip_preference == "IPv6_ONLY");
    CHECK_FALSE(m.implicit);
    CHECK_FALSE(l.in.meshes[1].namespace_selector.has_value());  // absent: selects nothing
    CHECK(l.in.meshes[1].egress_filter == "DROP_ALL");           // App Mesh default
    REQUIRE(l.in.meshes[2].namespace_selector.has_value());      // {}: selects everything
    CHECK(l.in.meshes[2].namespace_selector->matches({{"any", "thing"}}));

    REQUIRE(l.in.virtual_services.size() == 3);
    const auto& ledger = l.in.virtual_services[0];
    CHECK(ledger.aws_name == "ledger.shop.svc.cluster.local");
    CHECK(ledger.provider == r::virtual_service::provider_t::node);
    CHECK(ledger.providers_given == 1);
    CHECK(ledger.provider_ref.name == "ledger");
    CHECK(ledger.meta.mesh_ref == "shop-mesh");
    const auto& remote = l.in.virtual_services[1];
    CHECK(remote.provider == r::virtual_service::provider_t::router);
    CHECK(remote.provider_ref.arn ==
          "arn:aws:appmesh:us-west-2:111122223333:mesh/m/virtualRouter/r");
    CHECK(l.in.virtual_services[2].provider == r::virtual_service::provider_t::none);
    CHECK(l.in.virtual_services[2].providers_given == 0);

    REQUIRE(l.in.backend_groups.size() == 1);
    const auto& bg = l.in.backend_groups[0];
    CHECK(bg.meta.kind == "BackendGroup");
    REQUIRE(bg.virtual_services.size() == 2);
    CHECK(bg.virtual_services[0].name == "ledger");
    CHECK_FALSE(bg.virtual_services[0].ns_given);
    CHECK(bg.virtual_services[1].ns == "billing");
    CHECK(pos(bg.meta, "spec.virtualservices[1].namespace") ==
          at(yaml, "namespace: billing", "billing"));
}

TEST_CASE("loader: multi-document files skip Kubernetes kinds and keep Namespace labels",
          "[routing][loader]") {
    const std::string yaml = R"(# leading comment
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    mesh: shop-mesh
    appmesh.k8s.aws/sidecarInjectorWebhook: enabled
---
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: app
          args: ["--weird: yes", {x: y}]
          command:
            - sh
            - -c
            - |
              echo hello
              kind: VirtualNode
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{port: 80, targetPort: 8080}]
  selector: {app: web}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: envoy, namespace: shop}
data:
  envoy.yaml: >
    static_resources: {}
---
apiVersion: example.com/v1
kind: Mesh
metadata: {name: not-app-mesh}
---
apiVersion: v2
kind: Namespace
metadata: {name: not-core}
---
- a list document
---
just a scalar
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: web, namespace: shop}
spec: {awsName: web.shop.svc.cluster.local})";
    const auto l = load(yaml, "multi.yaml");
    CHECK(join(l.errors()).empty());
    CHECK(join(l.warnings()).empty());
    CHECK(l.in.files == std::vector<std::string>{"multi.yaml"});
    REQUIRE(l.in.namespaces.size() == 1);
    CHECK(l.in.namespaces[0].name == "shop");
    CHECK(l.in.namespaces[0].labels ==
          std::map<std::string, std::string>{
              {"mesh", "shop-mesh"}, {"appmesh.k8s.aws/sidecarInjectorWebhook", "enabled"}});
    CHECK(l.in.namespaces[0].loc.line == 4);
    CHECK(l.in.meshes.empty());
    CHECK(l.in.virtual_nodes.empty());
    REQUIRE(l.in.virtual_services.size() == 1);
    CHECK(l.in.virtual_services[0].aws_name == "web.shop.svc.cluster.local");
    CHECK(pos(l.in.virtual_services[0].meta, "") == at(yaml, "kind: VirtualService", "kind"));
}

TEST_CASE("loader: empty input, empty and comment-only documents", "[routing][loader]") {
    for (const std::string yaml : {"", "\n\n", "# nothing\n", "---\n", "---\n---\n...\n", "~\n"}) {
        const auto l = load(yaml);
        CHECK(l.diags.items().empty());
        CHECK(l.in.files.size() == 1);
        CHECK(l.in.virtual_services.empty());
    }
}

TEST_CASE("loader: wrong types and unknown enum values are errors with position and path",
          "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: web, namespace: shop}
spec:
  listeners:
    - portMapping:
        port: abc
        protocol: htp
      tls:
        mode: STRICTLY
        certificate: {file: {certificateChain: /c, privateKey: /k}}
      timeout:
        http:
          perRequest: {value: 1.5, unit: m}
  serviceDiscovery:
    dns: {hostname: web, responseType: ROUND_ROBIN}
  backendDefaults:
    clientPolicy:
      tls:
        enforce: maybe
        ports: [443, https]
        validation: {trust: {file: {certificateChain: /ca}}}
  backends: hello
  logging:
    accessLog:
      file: [a, b]
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  listeners: [{portMapping: {port: 80, protocol: http}}]
  routes:
    - name: x
      httpRoute:
        match:
          prefix: {a: b}
          method: FETCH
          headers:
            - name: h
              invert: sometimes
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: "ten"}]}
        retryPolicy:
          maxRetries: 1
          httpRetryEvents: [server-error, teapot]
          tcpRetryEvents: [connection-refused]
    - name: y
      grpcRoute:
        match: abc
        action: {weightedTargets: [{virtualNodeRef: web, weight: 1}]}
        retryPolicy: {maxRetries: 1, grpcRetryEvents: [unavailable, canceled]}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m}
spec:
  egressFilter: {type: DENY}
)";
    const auto l = load(yaml);
    const auto errors = l.errors();
    const auto line = [&](const std::string& anchor, const std::string& needle,
                          const std::string& rest) {
        return "test.yaml:" + at(yaml, anchor, needle) + ": error: " + rest;
    };
    const std::vector<std::string> expected{
        line("port: abc", "abc",
             "VirtualNode shop/web: spec.listeners[0].portMapping.port: expected an integer, got "
             "\"abc\""),
        line("protocol: htp", "htp",
             "VirtualNode shop/web: spec.listeners[0].portMapping.protocol: unknown protocol "
             "\"htp\" "
             "(expected http, http2, grpc or tcp)"),
        line("mode: STRICTLY", "STRICTLY",
             "VirtualNode shop/web: spec.listeners[0].tls.mode: unknown TLS mode \"STRICTLY\" "
             "(expected STRICT, PERMISSIVE or DISABLED)"),
        line("value: 1.5", "1.5",
             "VirtualNode shop/web: spec.listeners[0].timeout.http.perRequest.value: expected an "
             "integer, got \"1.5\""),
        line("unit: m}", "m}",
             "VirtualNode shop/web: spec.listeners[0].timeout.http.perRequest.unit: unknown "
             "duration "
             "unit \"m\" (expected s or ms)"),
        line("ROUND_ROBIN", "ROUND_ROBIN",
             "VirtualNode shop/web: spec.serviceDiscovery.dns.responseType: unknown response type "
             "\"ROUND_ROBIN\" (expected LOADBALANCER or ENDPOINTS)"),
        line(
            "enforce: maybe", "maybe",
            "VirtualNode shop/web: spec.backendDefaults.clientPolicy.tls.enforce: expected true or "
            "false, got \"maybe\""),
        line("ports: [443, https]", "https",
             "VirtualNode shop/web: spec.backendDefaults.clientPolicy.tls.ports[1]: expected an "
             "integer, got \"https\""),
        line("backends: hello", "hello",
             "VirtualNode shop/web: spec.backends: expected a list, got \"hello\""),
        line("file: [a, b]", "file",
             "VirtualNode shop/web: spec.logging.accessLog.file: expected a map, got a list"),
        line("prefix: {a: b}", "prefix",
             "VirtualRouter shop/r: spec.routes[0].httpRoute.match.prefix: expected a string, got "
             "a map"),
        line(
            "FETCH", "FETCH",
            "VirtualRouter shop/r: spec.routes[0].httpRoute.match.method: unknown method \"FETCH\" "
            "(expected CONNECT, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT or TRACE)"),
        line("sometimes", "sometimes",
             "VirtualRouter shop/r: spec.routes[0].httpRoute.match.headers[0].invert: expected "
             "true or "
             "false, got \"sometimes\""),
        line("weight: \"ten\"", "\"ten\"",
             "VirtualRouter shop/r: spec.routes[0].httpRoute.action.weightedTargets[0].weight: "
             "expected an integer, got \"ten\""),
        line("teapot", "teapot",
             "VirtualRouter shop/r: spec.routes[0].httpRoute.retryPolicy.httpRetryEvents[1]: "
             "unknown "
             "retry event \"teapot\" (expected server-error, gateway-error, client-error or "
             "stream-error)"),
        line(
            "connection-refused", "connection-refused",
            "VirtualRouter shop/r: spec.routes[0].httpRoute.retryPolicy.tcpRetryEvents[0]: unknown "
            "retry event \"connection-refused\" (expected connection-error)"),
        line("match: abc", "abc",
             "VirtualRouter shop/r: spec.routes[1].grpcRoute.match: expected a map, got \"abc\""),
        line("virtualNodeRef: web", "web",
             "VirtualRouter shop/r: "
             "spec.routes[1].grpcRoute.action.weightedTargets[0].virtualNodeRef: "
             "expected a map, got \"web\""),
        line("canceled", "canceled",
             "VirtualRouter shop/r: spec.routes[1].grpcRoute.retryPolicy.grpcRetryEvents[1]: "
             "unknown "
             "retry event \"canceled\" (expected cancelled, deadline-exceeded, internal, "
             "resource-exhausted or unavailable)"),
        line("DENY", "DENY",
             "Mesh m: spec.egressFilter.type: unknown egress filter type \"DENY\" (expected "
             "ALLOW_ALL "
             "or DROP_ALL)"),
    };
    for (const auto& e : expected) {
        INFO(join(errors));
        CHECK(contains(errors, e));
    }
    CHECK(errors.size() == expected.size());
    CHECK(l.warnings().empty());
    // Loading went on: every object is there, with the fields that were right.
    REQUIRE(l.in.virtual_nodes.size() == 1);
    CHECK(l.in.virtual_nodes[0].service_discovery.hostname == "web");
    CHECK(l.in.virtual_nodes[0].backend_defaults->tls->ports == std::vector<std::int64_t>{443});
    REQUIRE(l.in.virtual_routers.size() == 1);
    CHECK(l.in.virtual_routers[0].routes.size() == 2);
    CHECK(l.in.virtual_routers[0].routes[0].retry->http_events ==
          std::vector<std::string>{"server-error"});
    CHECK(l.in.meshes.size() == 1);
}

TEST_CASE("loader: missing required fields are reported at the parent with the field's path",
          "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  namespace: shop
spec:
  listeners:
    - portMapping: {protocol: http}
    - {}
  routes:
    - httpRoute:
        action:
          weightedTargets:
            - virtualNodeRef: {namespace: x}
        retryPolicy:
          perRetryTimeout: {unit: s}
        timeout:
          idle:
            value: 5
)";
    const auto l = load(yaml);
    const auto errors = l.errors();
    const auto line = [&](const std::string& anchor, const std::string& needle,
                          const std::string& rest) {
        return "test.yaml:" + at(yaml, anchor, needle) + ": error: VirtualRouter shop/: " + rest;
    };
    const std::vector<std::string> expected{
        line("metadata:", "metadata", "metadata.name: required field is missing"),
        line("- portMapping: {protocol: http}", "portMapping",
             "spec.listeners[0].portMapping.port: required field is missing"),
        line("- {}", "{}", "spec.listeners[1].portMapping: required field is missing"),
        line("- httpRoute:", "httpRoute", "spec.routes[0].name: required field is missing"),
        line("- virtualNodeRef: {namespace: x}", "virtualNodeRef",
             "spec.routes[0].httpRoute.action.weightedTargets[0].virtualNodeRef.name: required "
             "field "
             "is missing"),
        line(
            "- virtualNodeRef: {namespace: x}", "virtualNodeRef",
            "spec.routes[0].httpRoute.action.weightedTargets[0].weight: required field is missing"),
        line("retryPolicy:", "retryPolicy",
             "spec.routes[0].httpRoute.retryPolicy.maxRetries: required field is missing"),
        line("perRetryTimeout:", "perRetryTimeout",
             "spec.routes[0].httpRoute.retryPolicy.perRetryTimeout.value: required field is "
             "missing"),
        line("idle:", "idle",
             "spec.routes[0].httpRoute.timeout.idle.unit: required field is missing"),
    };
    for (const auto& e : expected) {
        INFO(join(errors));
        CHECK(contains(errors, e));
    }
    CHECK(errors.size() == expected.size());
    REQUIRE(l.in.virtual_routers.size() == 1);
    const auto& route = l.in.virtual_routers[0].routes.at(0);
    CHECK_FALSE(route.match_given);
    CHECK(route.timeout.idle->value == 5);
}

TEST_CASE("loader: null values count as absent", "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: web, namespace: shop}
spec:
  awsName: ~
  listeners:
    - portMapping: {port: null, protocol: http}
  backends:
  logging:
)";
    const auto l = load(yaml);
    CHECK(l.errors() == std::vector<std::string>{
                            "test.yaml:" + at(yaml, "port: null", "port") +
                            ": error: VirtualNode shop/web: spec.listeners[0].portMapping.port: "
                            "required field is missing"});
    REQUIRE(l.in.virtual_nodes.size() == 1);
    CHECK(l.in.virtual_nodes[0].aws_name.empty());
    CHECK(l.in.virtual_nodes[0].backends.empty());
    CHECK_FALSE(l.in.virtual_nodes[0].logging.has_value());
}

TEST_CASE("loader: unknown keys are warnings naming the closest known key", "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: web
  namespace: shop
  annotations: {anything: goes}
  resourceVersion: "1"
spec:
  listener:
    - portMapping: {port: 8080, protocol: http}
  serviceDiscovery:
    dns:
      hostname: web
      responseTyp: ENDPOINTS
  frobnicate: true
  backends:
    - virtualService:
        virtualServiceRef: {name: a, namspace: b}
status:
  conditions: [{type: VirtualNodeActive, status: "True"}]
  observedGeneration: 3
specs: {}
)";
    const auto l = load(yaml);
    CHECK(l.errors().empty());
    const auto warnings = l.warnings();
    const auto line = [&](const std::string& anchor, const std::string& needle,
                          const std::string& rest) {
        return "test.yaml:" + at(yaml, anchor, needle) + ": warning: VirtualNode shop/web: " + rest;
    };
    const std::vector<std::string> expected{
        line("listener:", "listener",
             "spec.listener: unknown field \"listener\" (did you mean \"listeners\"?)"),
        line("responseTyp:", "responseTyp",
             "spec.serviceDiscovery.dns.responseTyp: unknown field \"responseTyp\" (did you mean "
             "\"responseType\"?)"),
        line("frobnicate:", "frobnicate", "spec.frobnicate: unknown field \"frobnicate\""),
        line("namspace:", "namspace",
             "spec.backends[0].virtualService.virtualServiceRef.namspace: unknown field "
             "\"namspace\" "
             "(did you mean \"namespace\"?)"),
        line("specs:", "specs", "specs: unknown field \"specs\" (did you mean \"spec\"?)"),
    };
    CHECK(warnings == expected);
    REQUIRE(l.in.virtual_nodes.size() == 1);
    CHECK(l.in.virtual_nodes[0].listeners.empty());
    CHECK(l.in.virtual_nodes[0].service_discovery.hostname == "web");
    CHECK(l.in.virtual_nodes[0].service_discovery.response_type == "LOADBALANCER");
}

TEST_CASE("loader: keys valid for one route kind are unknown in another", "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  routes:
    - name: t
      tcpRoute:
        match: {prefix: /}
        retryPolicy: {maxRetries: 1}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
    - name: h
      httpRoute:
        match: {prefix: /, serviceName: x}
        retryPolicy: {maxRetries: 1, grpcRetryEvents: [internal]}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata: {name: g, namespace: shop}
spec:
  tcpRoute: {}
  grpcRoute:
    match: {serviceName: s, methodName: m}
    action:
      target: {virtualService: {virtualServiceRef: {name: s}}}
      rewrite: {prefix: {defaultPrefix: DISABLED}}
)";
    const auto l = load(yaml);
    CHECK(l.errors().empty());
    std::vector<std::string> fields;
    for (const auto& e : l.diags.items()) {
        fields.push_back(e.field);
    }
    CHECK(fields == std::vector<std::string>{"spec.routes[0].tcpRoute.match.prefix",
                                             "spec.routes[0].tcpRoute.retryPolicy",
                                             "spec.routes[1].httpRoute.match.serviceName",
                                             "spec.routes[1].httpRoute.retryPolicy.grpcRetryEvents",
                                             "spec.tcpRoute", "spec.grpcRoute.match.methodName",
                                             "spec.grpcRoute.action.rewrite.prefix"});
}

TEST_CASE("loader: exactly-one-of counters count what was given", "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: shop}
spec:
  routes:
    - name: both
      httpRoute:
        match:
          prefix: /
          path: {}
          headers: [{name: h, match: {exact: a, prefix: b}}]
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
      tcpRoute:
        action: {weightedTargets: [{virtualNodeRef: {name: b}, weight: "x"}]}
    - name: none
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: shop}
spec:
  provider:
    virtualNode: {virtualNodeRef: {name: n}}
    virtualRouter: {virtualRouterRef: {name: r}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: n, namespace: shop}
spec:
  listeners:
    - portMapping: {port: 80, protocol: http}
      tls:
        mode: STRICT
        certificate:
          file: {certificateChain: /c, privateKey: /k}
          sds: {secretName: s}
      connectionPool:
        http: {maxConnections: 1}
        http2: {maxRequests: 2}
  serviceDiscovery:
    dns: {hostname: n}
    awsCloudMap: {namespaceName: a, serviceName: b}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata: {name: g, namespace: shop}
spec:
  httpRoute:
    match: {prefix: /}
    action:
      target: {virtualService: {virtualServiceRef: {name: s}}}
      rewrite: {}
  http2Route:
    match: {prefix: /}
    action: {target: {virtualService: {virtualServiceRef: {name: s}}}}
)";
    const auto l = load(yaml);
    // The second route kind is still read, so its mistakes are reported.
    REQUIRE(l.errors().size() == 1);
    CHECK(l.errors()[0].find("spec.routes[0].tcpRoute.action.weightedTargets[0].weight") !=
          std::string::npos);
    const auto& routes = l.in.virtual_routers.at(0).routes;
    CHECK(routes[0].kinds_given == 2);
    CHECK(routes[0].kind == r::route_kind::http);
    CHECK(routes[0].targets.at(0).node.name == "a");
    CHECK(routes[0].match.path_block);
    CHECK_FALSE(routes[0].match.path_exact.has_value());
    CHECK(routes[0].match.headers[0].match.kinds_given == 2);
    CHECK(routes[0].match.headers[0].match.kind == r::string_match::kind_t::exact);
    CHECK(routes[0].match.headers[0].match.value == "a");
    CHECK(routes[1].kinds_given == 0);
    CHECK(routes[1].index == 1);

    const auto& vs = l.in.virtual_services.at(0);
    CHECK(vs.providers_given == 2);
    CHECK(vs.provider == r::virtual_service::provider_t::node);
    CHECK(vs.provider_ref.name == "n");

    const auto& node = l.in.virtual_nodes.at(0);
    CHECK(node.listeners[0].tls->certificate.kinds_given == 2);
    CHECK(node.listeners[0].tls->certificate.kind == r::tls_source::kind_t::file);
    CHECK(node.listeners[0].connection_pool->kinds_given == 2);
    CHECK(node.listeners[0].connection_pool->kind == "http");
    CHECK(node.listeners[0].connection_pool->max_connections == 1);
    CHECK(node.service_discovery.kinds_given == 2);
    CHECK(node.service_discovery.kind == r::service_discovery::kind_t::dns);

    const auto& gr = l.in.gateway_routes.at(0);
    CHECK(gr.kinds_given == 2);
    CHECK(gr.kind == r::route_kind::http);
    CHECK(gr.rewrite_block);
}

TEST_CASE("loader: duplicate keys are errors; the first value is kept", "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: shop}
spec:
  awsName: first
  awsName: second
)";
    const auto l = load(yaml);
    CHECK(l.errors() ==
          std::vector<std::string>{
              "test.yaml:" + at(yaml, "awsName: second", "awsName") +
              ": error: VirtualService shop/s: spec.awsName: duplicate field \"awsName\" "
              "(the first one is used)"});
    CHECK(l.in.virtual_services.at(0).aws_name == "first");
}

TEST_CASE("loader: another App Mesh apiVersion is an error naming it", "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta1
kind: VirtualNode
metadata: {name: old, namespace: shop}
spec: {}
)";
    const auto l = load(yaml);
    CHECK(l.errors() == std::vector<std::string>{
                            "test.yaml:1:13: error: VirtualNode shop/old: apiVersion: unsupported "
                            "apiVersion \"appmesh.k8s.aws/v1beta1\" (outrigger reads "
                            "appmesh.k8s.aws/v1beta2)"});
    CHECK(l.in.virtual_nodes.empty());
}

TEST_CASE("loader: YAML syntax errors give file, line and column; other documents still load",
          "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: ok, namespace: shop}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: bad, namespace: shop}
spec:
  awsName: a: b
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: after, namespace: shop}
)";
    const auto l = load(yaml, "broken.yaml");
    CHECK(l.errors() ==
          std::vector<std::string>{"broken.yaml:9:13: error: invalid YAML: illegal map value"});
    REQUIRE(l.in.virtual_services.size() == 2);
    CHECK(l.in.virtual_services[0].meta.name == "ok");
    CHECK(l.in.virtual_services[1].meta.name == "after");

    SECTION("unterminated flow collection") {
        const auto u = load("a: [1, 2\nb: 3\n", "u.yaml");
        REQUIRE(u.errors().size() == 1);
        CHECK(u.errors()[0].rfind("u.yaml:", 0) == 0);
        CHECK(u.errors()[0].find(": error: invalid YAML: ") != std::string::npos);
    }
    SECTION("a stray flow indicator") {
        const auto s =
            load("apiVersion: v1\nkind: Service\n---\napiVersion: v1\n, kind: x\n", "s.yaml");
        CHECK(s.errors() ==
              std::vector<std::string>{"s.yaml:5:1: error: invalid YAML: end of map not found"});
        // yaml-cpp 0.7 would report empty documents forever here; the loader stops.
        const auto t = load("apiVersion: v1\nkind: Service\n---\n, kind: x\n", "t.yaml");
        CHECK(t.errors() ==
              std::vector<std::string>{"t.yaml:4:1: error: invalid YAML: unexpected \",\""});
    }
}

TEST_CASE("loader: anchors, aliases, block scalars, tabs and CRLF are read like everything else",
          "[routing][loader]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: web, namespace: shop}
spec:
  listeners:
    - portMapping: &pm {port: 8080, protocol: http}
    - portMapping: *pm
  logging:
    accessLog:
      file:
        path: /dev/stdout
        format:
          text: |
            %START_TIME% %PROTOCOL%
  backends:
    - virtualService:
        virtualServiceRef: {name: 'it''s',	namespace: "tab\tbed"}
)";
    const auto l = load(yaml);
    CHECK(l.diags.items().empty());
    REQUIRE(l.in.virtual_nodes.size() == 1);
    const auto& vn = l.in.virtual_nodes[0];
    REQUIRE(vn.listeners.size() == 2);
    CHECK(vn.listeners[1].port_mapping.port == 8080);
    CHECK(vn.logging->text_format == "%START_TIME% %PROTOCOL%\n");
    CHECK(vn.backends.at(0).virtual_service.name == "it's");
    CHECK(vn.backends.at(0).virtual_service.ns == "tab\tbed");
    CHECK(pos(vn.meta, "spec.listeners[1].portMapping") ==
          at(yaml, "- portMapping: *pm", "portMapping"));

    // The canary router with CRLF line ends loads to the same objects at the same positions.
    std::string crlf;
    for (const char c : canary_router) {
        if (c == '\n') {
            crlf += '\r';
        }
        crlf += c;
    }
    const auto lf_loaded = load(canary_router);
    const auto crlf_loaded = load(crlf);
    CHECK(crlf_loaded.diags.items().empty());
    REQUIRE(crlf_loaded.in.virtual_routers.size() == 1);
    const auto& a = lf_loaded.in.virtual_routers[0];
    const auto& b = crlf_loaded.in.virtual_routers[0];
    CHECK(b.routes.size() == a.routes.size());
    CHECK(b.routes[1].match.query[0].exact == "true");
    REQUIRE(a.meta.field_locs.size() == b.meta.field_locs.size());
    for (std::size_t i = 0; i < a.meta.field_locs.size(); ++i) {
        CHECK(a.meta.field_locs[i].first == b.meta.field_locs[i].first);
        CHECK(a.meta.field_locs[i].second.line == b.meta.field_locs[i].second.line);
        CHECK(a.meta.field_locs[i].second.col == b.meta.field_locs[i].second.col);
    }
}

TEST_CASE("loader: flow and block styles give the same objects and paths", "[routing][loader]") {
    const std::string block = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: r
  namespace: shop
spec:
  listeners:
  - portMapping:
      port: 8080
      protocol: http2
  routes:
  - name: a
    http2Route:
      match:
        prefix: /a   # comment
        headers:
        - name: "x-q"
          match:
            regex: '.*(a|b).*'
      action:
        weightedTargets:
        - virtualNodeRef:
            name: n
          weight: 3
)";
    const std::string flow =
        "{apiVersion: appmesh.k8s.aws/v1beta2, kind: VirtualRouter, metadata: {name: r, namespace: "
        "shop},\n spec: {listeners: [{portMapping: {port: 8080, protocol: http2}}], routes: "
        "[{name: a,"
        " http2Route: {match: {prefix: /a, headers: [{name: \"x-q\", match: {regex: "
        "'.*(a|b).*'}}]},"
        "\n action: {weightedTargets: [{virtualNodeRef: {name: n}, weight: 3}]}}}]}}\n";
    const auto b = load(block);
    const auto f = load(flow);
    CHECK(b.diags.items().empty());
    CHECK(f.diags.items().empty());
    REQUIRE(b.in.virtual_routers.size() == 1);
    REQUIRE(f.in.virtual_routers.size() == 1);
    const auto& rb = b.in.virtual_routers[0];
    const auto& rf = f.in.virtual_routers[0];
    CHECK(rb.listeners[0].proto == r::protocol::http2);
    CHECK(rf.listeners[0].proto == r::protocol::http2);
    CHECK(rb.routes[0].match.prefix == "/a");
    CHECK(rf.routes[0].match.prefix == "/a");
    CHECK(rb.routes[0].match.headers[0].match.value == ".*(a|b).*");
    CHECK(rf.routes[0].match.headers[0].match.value == ".*(a|b).*");
    CHECK(rf.routes[0].targets[0].weight == 3);
    std::vector<std::string> pb;
    std::vector<std::string> pf;
    for (const auto& x : rb.meta.field_locs) {
        pb.push_back(x.first);
    }
    for (const auto& x : rf.meta.field_locs) {
        pf.push_back(x.first);
    }
    CHECK(pb == pf);
    CHECK(pos(rb.meta, "spec.routes[0].http2Route.action.weightedTargets[0].weight") ==
          at(block, "weight: 3", "3"));
    CHECK(pos(rf.meta, "spec.routes[0].http2Route.action.weightedTargets[0].weight") ==
          at(flow, "weight: 3", "3"));
}

namespace {

/// A fresh directory under the system temp dir, removed at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::random_device rd;
        path = fs::temp_directory_path() / ("outrigger-loader-" + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    void write(const std::string& rel, const std::string& text) const {
        fs::create_directories((path / rel).parent_path());
        std::ofstream(path / rel) << text;
    }
};

std::string service_doc(const std::string& name) {
    return "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata: {name: " + name +
           ", namespace: shop}\n";
}

}  // namespace

TEST_CASE("loader: directories are read recursively in sorted order, .yaml and .yml only",
          "[routing][loader]") {
    temp_dir dir;
    dir.write("b.yaml", service_doc("b"));
    dir.write("a.yml", "# first\n" + service_doc("a"));
    dir.write("sub/c.yaml", service_doc("c") + "---\n" + service_doc("c2"));
    dir.write("sub/deeper/d.yaml", service_doc("d"));
    dir.write("notes.txt", "not: [yaml");
    dir.write("e.json", "{}");
    const std::string root = dir.path.string();
    dir.write("single.yaml", service_doc("single"));

    loaded l;
    r::load_paths({root + "/sub", root + "/b.yaml"}, l.in, l.diags);
    CHECK(l.diags.items().empty());
    CHECK(l.in.files == std::vector<std::string>{root + "/sub/c.yaml", root + "/sub/deeper/d.yaml",
                                                 root + "/b.yaml"});

    loaded all;
    r::load_paths({root}, all.in, all.diags);
    CHECK(all.diags.items().empty());
    CHECK(all.in.files == std::vector<std::string>{root + "/a.yml", root + "/b.yaml",
                                                   root + "/single.yaml", root + "/sub/c.yaml",
                                                   root + "/sub/deeper/d.yaml"});
    std::vector<std::string> names;
    for (const auto& vs : all.in.virtual_services) {
        names.push_back(vs.meta.name + "@" + all.in.files.at(vs.meta.loc.file) + ":" +
                        std::to_string(vs.meta.loc.line));
    }
    CHECK(names == std::vector<std::string>{
                       "a@" + root + "/a.yml:3", "b@" + root + "/b.yaml:2",
                       "single@" + root + "/single.yaml:2", "c@" + root + "/sub/c.yaml:2",
                       "c2@" + root + "/sub/c.yaml:6", "d@" + root + "/sub/deeper/d.yaml:2"});
    // Every recorded position points into the file of its object.
    for (const auto& vs : all.in.virtual_services) {
        for (const auto& [path, loc] : vs.meta.field_locs) {
            CHECK(loc.file == vs.meta.loc.file);
        }
    }
}

TEST_CASE("loader: unreadable paths are errors naming the path", "[routing][loader]") {
    temp_dir dir;
    const std::string missing = (dir.path / "nope.yaml").string();
    loaded l;
    r::load_paths({missing}, l.in, l.diags);
    CHECK(l.errors() == std::vector<std::string>{
                            missing + ": error: cannot read file: No such file or directory"});
    REQUIRE(l.in.files.size() == 1);
    CHECK(l.in.files[0] == missing);
}

TEST_CASE("loader: load_string appends; positions index the right file", "[routing][loader]") {
    loaded l;
    r::load_string(service_doc("one"), "one.yaml", l.in, l.diags);
    r::load_string("\n\n" + service_doc("two") + "spec: {awsName: [x]}\n", "two.yaml", l.in,
                   l.diags);
    CHECK(l.in.files == std::vector<std::string>{"one.yaml", "two.yaml"});
    REQUIRE(l.in.virtual_services.size() == 2);
    CHECK(l.in.virtual_services[1].meta.loc.file == 1);
    CHECK(l.errors() == std::vector<std::string>{"two.yaml:6:8: error: VirtualService shop/two: "
                                                 "spec.awsName: expected a string, got a list"});
}

TEST_CASE("loader: every corpus manifest loads without loader errors",
          "[routing][loader][corpus]") {
    const std::string corpus = OUTRIGGER_CORPUS_DIR;
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(corpus)) {
        if (e.path().extension() == ".yaml") {
            files.push_back(e.path().string());
        }
    }
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() == 37);
    std::vector<std::string> warnings;
    for (const auto& f : files) {
        loaded l;
        r::load_paths({f}, l.in, l.diags);
        INFO(f);
        CHECK(join(l.errors()).empty());
        for (const auto& w : l.warnings()) {
            warnings.push_back(w.substr(corpus.size() + 1));
        }
    }
    // The walkthrough's `mode: STRICT` in a client policy is not a ClientPolicyTLS field (CRD and
    // spec §6.5); every other key of the corpus is known.
    CHECK(warnings ==
          std::vector<std::string>{
              "howto-k8s-mtls-sds-based_v1beta2_manifest.yaml:47:9: warning: VirtualNode "
              "howto-app/front: spec.backendDefaults.clientPolicy.tls.mode: unknown field "
              "\"mode\""});

    loaded all;
    r::load_paths({corpus}, all.in, all.diags);
    CHECK(all.in.files == files);
    CHECK(all.in.meshes.size() == 30);
    CHECK(all.in.namespaces.size() == 26);
    CHECK(all.in.virtual_services.size() == 47);
    CHECK(all.in.virtual_routers.size() == 30);
    CHECK(all.in.virtual_nodes.size() == 100);
    CHECK(all.in.virtual_gateways.size() == 11);
    CHECK(all.in.gateway_routes.size() == 20);
    CHECK(all.in.backend_groups.empty());
}

TEST_CASE("loader: corpus fields land in the model", "[routing][loader][corpus]") {
    const std::string corpus = OUTRIGGER_CORPUS_DIR;
    const auto load_file = [&](const std::string& name) {
        loaded l;
        r::load_paths({corpus + "/" + name}, l.in, l.diags);
        return l;
    };
    const auto find_node = [](const loaded& l, const std::string& name) {
        const auto it =
            std::find_if(l.in.virtual_nodes.begin(), l.in.virtual_nodes.end(), [&](const auto& n) {
                return n.meta.name == name;
            });
        REQUIRE(it != l.in.virtual_nodes.end());
        return *it;
    };

    const auto logging = load_file("howto-k8s-envoy-logging-custom-format_manifest.yaml");
    bool json_seen = false;
    for (const auto& vn : logging.in.virtual_nodes) {
        json_seen = json_seen || (vn.logging && !vn.logging->json_format.empty());
    }
    CHECK(json_seen);

    const auto pools = load_file("howto-k8s-connection-pools_v1beta2_manifest.yaml");
    bool pool_seen = false;
    for (const auto& vn : pools.in.virtual_nodes) {
        for (const auto& li : vn.listeners) {
            if (li.connection_pool) {
                pool_seen = true;
                CHECK(li.connection_pool->kind == "http");
                CHECK(li.connection_pool->max_pending_requests.has_value());
            }
        }
    }
    CHECK(pool_seen);

    const auto outlier = load_file("howto-k8s-outlier-detection_v1beta2_manifest.yaml");
    bool outlier_seen = false;
    for (const auto& vn : outlier.in.virtual_nodes) {
        for (const auto& li : vn.listeners) {
            outlier_seen = outlier_seen || li.outlier_detection.has_value();
        }
    }
    CHECK(outlier_seen);

    const auto cloudmap = load_file("howto-k8s-cloudmap_v1beta2_manifest.yaml");
    bool cloudmap_seen = false;
    for (const auto& vn : cloudmap.in.virtual_nodes) {
        cloudmap_seen =
            cloudmap_seen || vn.service_discovery.kind == r::service_discovery::kind_t::cloud_map;
    }
    CHECK(cloudmap_seen);

    const auto rewrite =
        load_file("howto-k8s-http-ingress-v2_v1beta2_gatewayroutes_rewrite-prefix.yaml");
    REQUIRE(rewrite.in.gateway_routes.size() == 1);
    CHECK(rewrite.in.gateway_routes[0].rewrite_block);
    CHECK(rewrite.in.gateway_routes[0].rewrite_prefix_value.has_value());

    const auto sds = load_file("howto-k8s-mtls-sds-based_v1beta2_manifest.yaml");
    const auto front = find_node(sds, "front");
    REQUIRE(front.backend_defaults.has_value());
    CHECK(front.backend_defaults->tls->certificate->kind == r::tls_source::kind_t::sds);
    CHECK(front.backend_defaults->tls->validation_trust.secret_name == "example.org");
    CHECK(front.backend_defaults->tls->validation_sans ==
          std::vector<std::string>{"spiffe://example.org/blue", "spiffe://example.org/red",
                                   "spiffe://example.org/green"});
}

// ---- Kubernetes lists (kubectl get -o yaml), controller fields, inputs without App Mesh objects

namespace {

// What `kubectl get meshes,virtualnodes,... -A -o yaml` writes: one List whose items carry the
// fields the API server and the App Mesh controller add.
const std::string exported_list = R"(apiVersion: v1
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    labels:
      mesh: shop-mesh
    name: shop
    resourceVersion: "77"
    uid: 0a9d1f3e-1111-4c4f-9a57-3a1f0d7f2b11
  spec:
    finalizers: [kubernetes]
  status:
    phase: Active
- apiVersion: appmesh.k8s.aws/v1beta2
  kind: Mesh
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"appmesh.k8s.aws/v1beta2","kind":"Mesh","metadata":{"annotations":{},"name":"shop-mesh"},"spec":{"namespaceSelector":{"matchLabels":{"mesh":"shop-mesh"}}}}
    creationTimestamp: "2026-12-02T06:09:58Z"
    finalizers:
    - finalizers.appmesh.k8s.aws/mesh-members
    - finalizers.appmesh.k8s.aws/aws-resources
    generation: 1
    managedFields:
    - apiVersion: appmesh.k8s.aws/v1beta2
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:annotations:
            .: {}
            f:kubectl.kubernetes.io/last-applied-configuration: {}
        f:spec:
          .: {}
          f:namespaceSelector:
            .: {}
            f:matchLabels:
              .: {}
              f:mesh: {}
      manager: kubectl-client-side-apply
      operation: Update
      time: "2026-12-02T06:09:58Z"
    - apiVersion: appmesh.k8s.aws/v1beta2
      fieldsType: FieldsV1
      fieldsV1:
        f:status:
          f:conditions: {}
          f:meshARN: {}
      manager: controller
      operation: Update
      subresource: status
      time: "2026-12-02T06:10:01Z"
    name: shop-mesh
    resourceVersion: "123456"
    selfLink: /apis/appmesh.k8s.aws/v1beta2/meshes/shop-mesh
    uid: 5f1c0d57-0f0a-4a4f-8f5e-1f0e9b1f2c33
  spec:
    awsName: shop-mesh
    namespaceSelector:
      matchLabels:
        mesh: shop-mesh
  status:
    conditions:
    - lastTransitionTime: "2026-12-02T06:10:01Z"
      status: "True"
      type: MeshActive
    meshARN: arn:aws:appmesh:us-west-2:111122223333:mesh/shop-mesh
    observedGeneration: 1
- apiVersion: appmesh.k8s.aws/v1beta2
  kind: VirtualNode
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"appmesh.k8s.aws/v1beta2","kind":"VirtualNode"}'
      team: payments
    creationTimestamp: "2026-12-02T06:09:58Z"
    deletionGracePeriodSeconds: 0
    deletionTimestamp: "2026-12-02T07:00:00Z"
    finalizers: [finalizers.appmesh.k8s.aws/aws-resources]
    generateName: web-
    generation: 3
    name: web
    namespace: shop
    ownerReferences:
    - apiVersion: apps/v1
      kind: Deployment
      name: web
      uid: 9a9a9a9a-0000-4c4f-9a57-3a1f0d7f2b11
    resourceVersion: "123457"
    uid: 0b3c6a8e-8d2c-4c4f-9a57-3a1f0d7f2b11
  spec:
    awsName: web_shop
    listeners:
    - portMapping:
        port: 8080
        protocol: http
    meshRef:
      name: shop-mesh
      uid: 5f1c0d57-0f0a-4a4f-8f5e-1f0e9b1f2c33
    podSelector:
      matchLabels:
        app: web
    serviceDiscovery:
      dns:
        hostname: web.shop.svc.cluster.local
  status:
    conditions:
    - lastTransitionTime: "2026-12-02T06:10:01Z"
      status: "True"
      type: VirtualNodeActive
    observedGeneration: 3
    virtualNodeARN: arn:aws:appmesh:us-west-2:111122223333:mesh/shop-mesh/virtualNode/web_shop
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop, uid: x}
  spec: {replicas: 2}
- apiVersion: appmesh.k8s.aws/v1beta2
  kind: VirtualService
  metadata: {name: web, namespace: shop, uid: 1, resourceVersion: "9", generation: 1}
  spec:
    awsName: web.shop.svc.cluster.local
    meshRef: {name: shop-mesh, uid: 5f1c0d57-0f0a-4a4f-8f5e-1f0e9b1f2c33}
    provider:
      virtualNode:
        virtualNodeRef: {name: web}
  status: {observedGeneration: 1, virtualServiceARN: "arn:aws:appmesh:..."}
kind: List
metadata:
  resourceVersion: ""
  continue: ""
  selfLink: ""
)";

}  // namespace

TEST_CASE("loader: kind: List items load like documents, with the controller's fields silent",
          "[routing][loader][list]") {
    const auto l = load(exported_list, "export.yaml");
    CHECK(join(l.errors()).empty());
    CHECK(join(l.warnings()).empty());
    REQUIRE(l.in.meshes.size() == 1);
    REQUIRE(l.in.virtual_nodes.size() == 1);
    REQUIRE(l.in.virtual_services.size() == 1);
    REQUIRE(l.in.namespaces.size() == 1);
    CHECK(l.in.namespaces[0].name == "shop");
    CHECK(l.in.namespaces[0].labels == std::map<std::string, std::string>{{"mesh", "shop-mesh"}});
    CHECK(l.in.meshes[0].meta.name == "shop-mesh");
    CHECK(l.in.meshes[0].namespace_selector.has_value());
    const auto& vn = l.in.virtual_nodes[0];
    CHECK(vn.meta.name == "web");
    CHECK(vn.meta.ns == "shop");
    CHECK(vn.meta.mesh_ref == std::optional<std::string>("shop-mesh"));
    CHECK(vn.aws_name == "web_shop");
    REQUIRE(vn.listeners.size() == 1);
    CHECK(vn.listeners[0].port_mapping.port == 8080);
    CHECK(vn.service_discovery.hostname == "web.shop.svc.cluster.local");
    // Positions are the item's own.
    CHECK(pos(vn.meta, "") == at(exported_list, "kind: VirtualNode", "kind"));
    CHECK(pos(vn.meta, "spec.listeners[0].portMapping.port") ==
          at(exported_list, "kind: VirtualNode", "8080"));
    CHECK(pos(l.in.virtual_services[0].meta, "spec.awsName") ==
          at(exported_list, "kind: VirtualService", "web.shop.svc.cluster.local"));
}

TEST_CASE("loader: errors inside List items name the item's file, line and column",
          "[routing][loader][list]") {
    const std::string yaml = R"(apiVersion: v1
kind: List
items:
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualRouter
    metadata: {name: r, namespace: shop, uid: abc}
    spec:
      listeners:
        - portMapping: {port: eighty, protocol: http}
      routs: []
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualService
    metadata:
      name: s
      namespace: shop
    spec:
      provider:
        virtualRouter: {virtualRouterRef: {name: [r]}}
    status: {whatever: [1, 2]}
)";
    const auto l = load(yaml, "list.yaml");
    CHECK(l.errors() ==
          std::vector<std::string>{
              "list.yaml:" + at(yaml, "port:", "eighty") +
                  ": error: VirtualRouter shop/r: spec.listeners[0].portMapping.port: expected an "
                  "integer, got \"eighty\"",
              "list.yaml:" + at(yaml, "virtualRouterRef", "name") +
                  ": error: VirtualService shop/s: "
                  "spec.provider.virtualRouter.virtualRouterRef.name: expected a string, got a "
                  "list"});
    CHECK(l.warnings() == std::vector<std::string>{
                              "list.yaml:" + at(yaml, "routs", "routs") +
                              ": warning: VirtualRouter shop/r: spec.routs: unknown field "
                              "\"routs\" (did you mean \"routes\"?)"});
}

TEST_CASE("loader: typed lists, items without kind, nested and empty lists",
          "[routing][loader][list]") {
    // The API server's own list answers (kubectl get --raw) leave kind and apiVersion out of the
    // items of built-in kinds: the list's kind says what they are.
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNodeList
metadata: {resourceVersion: "5", continue: ""}
items:
  - metadata: {name: a, namespace: shop}
    spec: {listeners: [{portMapping: {port: 80, protocol: http}}]}
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualNode
    metadata: {name: b, namespace: shop}
---
apiVersion: v1
kind: NamespaceList
items:
  - metadata: {name: shop, labels: {mesh: m}}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: List
    items:
      - apiVersion: appmesh.k8s.aws/v1beta2
        kind: VirtualService
        metadata: {name: deep, namespace: shop}
  - apiVersion: apps/v1
    kind: DeploymentList
    items:
      - metadata: {name: web}
  - just a string
---
apiVersion: v1
kind: List
items: []
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: MeshList
items:
)";
    const auto l = load(yaml);
    CHECK(join(l.errors()).empty());
    CHECK(join(l.warnings()).empty());
    REQUIRE(l.in.virtual_nodes.size() == 2);
    CHECK(l.in.virtual_nodes[0].meta.name == "a");
    CHECK(l.in.virtual_nodes[0].meta.kind == "VirtualNode");
    CHECK(pos(l.in.virtual_nodes[0].meta, "") == at(yaml, "items:", "metadata"));
    CHECK(l.in.virtual_nodes[0].listeners.size() == 1);
    CHECK(l.in.virtual_nodes[1].meta.name == "b");
    REQUIRE(l.in.namespaces.size() == 1);
    CHECK(l.in.namespaces[0].labels == std::map<std::string, std::string>{{"mesh", "m"}});
    REQUIRE(l.in.virtual_services.size() == 1);
    CHECK(l.in.virtual_services[0].meta.name == "deep");
    CHECK(l.in.meshes.empty());
}

TEST_CASE("loader: App Mesh documents of unknown kinds and malformed lists are errors",
          "[routing][loader][list]") {
    const std::string yaml = R"(apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNod
metadata: {name: web, namespace: shop}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Gizmo
metadata: {name: g, namespace: shop}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNodList
items: []
---
apiVersion: v1
kind: List
items: {not: a list}
---
apiVersion: example.com/v1
kind: Gizmo
metadata: {name: other-group-is-skipped}
)";
    const auto l = load(yaml);
    CHECK(l.errors() ==
          std::vector<std::string>{
              "test.yaml:" + at(yaml, "kind: VirtualNod", "VirtualNod") +
                  ": error: VirtualNod shop/web: kind: unknown App Mesh kind \"VirtualNod\" (did "
                  "you mean \"VirtualNode\"?)",
              "test.yaml:" + at(yaml, "kind: Gizmo", "Gizmo") +
                  ": error: Gizmo shop/g: kind: unknown App Mesh kind \"Gizmo\" (the kinds are "
                  "Mesh, VirtualService, VirtualRouter, VirtualNode, VirtualGateway, GatewayRoute "
                  "and BackendGroup)",
              "test.yaml:" + at(yaml, "kind: VirtualNodList", "kind") +
                  ": error: unknown App Mesh kind \"VirtualNodList\" (did you mean "
                  "\"VirtualNodeList\"?)",
              "test.yaml:" + at(yaml, "items: {not", "{") +
                  ": error: List: items: expected a list, got a map"});
}

TEST_CASE("loader: an input without any App Mesh object is an error naming the paths",
          "[routing][loader][empty]") {
    temp_dir dir;
    const std::string root = dir.path.string();
    const auto errors_of = [](const std::vector<std::string>& paths) {
        loaded l;
        r::load_paths(paths, l.in, l.diags);
        CHECK(l.warnings().empty());
        return l.errors();
    };
    fs::create_directories(dir.path / "empty");
    CHECK(errors_of({root + "/empty"}) ==
          std::vector<std::string>{"error: no App Mesh object found in " + root +
                                   "/empty: no *.yaml or *.yml file in it"});
    // ConfigMap keys without a .yaml name are not read, and the error says so.
    dir.write("keys/mesh", service_doc("s"));
    dir.write("keys/README.md", "hi");
    CHECK(errors_of({root + "/keys"}) ==
          std::vector<std::string>{"error: no App Mesh object found in " + root +
                                   "/keys: no *.yaml or *.yml file in it (not read: README.md "
                                   "and mesh)"});
    const std::string tail =
        "; App Mesh objects have apiVersion appmesh.k8s.aws/v1beta2 and kind Mesh, "
        "VirtualService, VirtualRouter, VirtualNode, VirtualGateway or GatewayRoute";
    dir.write("deploy/app.yaml",
              "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n---\n"
              "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n---\n"
              "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n");
    dir.write("deploy/ns.yml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
    CHECK(errors_of({root + "/deploy"}) ==
          std::vector<std::string>{"error: no App Mesh object found in " + root +
                                   "/deploy (2 files read, holding 2 Deployment, 1 Namespace and "
                                   "1 Service)" + tail});
    dir.write("list.yaml",
              "apiVersion: v1\nkind: List\nitems: []\nmetadata: {resourceVersion: \"\"}\n");
    dir.write("nothing.yaml", "# only a comment\n---\n");
    CHECK(errors_of({root + "/list.yaml", root + "/nothing.yaml"}) ==
          std::vector<std::string>{"error: no App Mesh object found in " + root +
                                   "/list.yaml and " + root +
                                   "/nothing.yaml (2 files read, holding 1 empty List)" + tail});
    CHECK(errors_of({root + "/nothing.yaml"}) ==
          std::vector<std::string>{"error: no App Mesh object found in " + root +
                                   "/nothing.yaml (1 file read, holding no YAML document)"});
    // Another error already explains an empty result: no second one.
    dir.write("broken.yaml", "kind: [unterminated\n");
    const auto broken = errors_of({root + "/broken.yaml"});
    REQUIRE(broken.size() == 1);
    CHECK(broken[0].find("invalid YAML") != std::string::npos);
    // One App Mesh object anywhere is enough (no Mesh: the implicit mesh of DECISIONS §3.11).
    dir.write("deploy/svc.yaml", service_doc("s"));
    CHECK(errors_of({root + "/deploy"}).empty());
    // load_string, the building block, never reports it.
    CHECK(load("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n")
              .diags.items()
              .empty());
}

TEST_CASE("loader: directories skip dot entries, follow symlinks and read each file once",
          "[routing][loader][configmap]") {
    temp_dir dir;
    const std::string root = dir.path.string();
    // kubelet's atomic-writer layout of a ConfigMap volume.
    const std::string ts = "..2026_12_02_06_09_58.985711734";
    dir.write("cm/" + ts + "/mesh.yaml", service_doc("a"));
    dir.write("cm/" + ts + "/more.yml", service_doc("b"));
    fs::create_directory_symlink(ts, dir.path / "cm/..data");
    fs::create_symlink("..data/mesh.yaml", dir.path / "cm/mesh.yaml");
    fs::create_symlink("..data/more.yml", dir.path / "cm/more.yml");
    // Editor and VCS leftovers.
    dir.write("cm/.mesh.yaml.swp", "garbage: [");
    dir.write("cm/.#mesh.yaml", "garbage: [");
    dir.write("cm/.git/config.yaml", service_doc("git"));
    // A dangling symlink (a key kubelet is removing) is skipped, as a non-YAML name is.
    fs::create_symlink("..data/gone.yaml", dir.path / "cm/gone.yaml");

    loaded l;
    r::load_paths({root + "/cm"}, l.in, l.diags);
    CHECK(join(l.errors()).empty());
    CHECK(l.in.files == std::vector<std::string>{root + "/cm/mesh.yaml", root + "/cm/more.yml"});
    REQUIRE(l.in.virtual_services.size() == 2);

    // The same file by several paths (a file twice, the directory and a file in it, the file
    // through ..data, a symlinked directory) is read once, where it is first reached.
    fs::create_directory_symlink(dir.path / "cm", dir.path / "alias");
    loaded twice;
    r::load_paths({root + "/cm/mesh.yaml", root + "/cm/mesh.yaml", root + "/cm",
                   root + "/cm/..data/more.yml", root + "/alias"},
                  twice.in, twice.diags);
    CHECK(join(twice.errors()).empty());
    CHECK(twice.in.files ==
          std::vector<std::string>{root + "/cm/mesh.yaml", root + "/cm/more.yml"});
    CHECK(twice.in.virtual_services.size() == 2);

    // Symlinked directories are followed; a loop ends.
    dir.write("real/sub/c.yaml", service_doc("c"));
    fs::create_directory_symlink(dir.path / "real/sub", dir.path / "tree-link");
    fs::create_directory_symlink(dir.path / "real", dir.path / "real/sub/loop");
    loaded linked;
    r::load_paths({root + "/tree-link"}, linked.in, linked.diags);
    CHECK(join(linked.errors()).empty());
    CHECK(linked.in.files == std::vector<std::string>{root + "/tree-link/c.yaml"});

    // An explicit path is read whatever its name.
    dir.write(".hidden.yaml", service_doc("h"));
    loaded hidden;
    r::load_paths({root + "/.hidden.yaml"}, hidden.in, hidden.diags);
    CHECK(hidden.in.virtual_services.size() == 1);

    // list_inputs is what the reload watcher and hash use.
    const auto inputs = r::list_inputs({root + "/cm"});
    CHECK(inputs.files == l.in.files);
    CHECK(inputs.directories == std::vector<std::string>{root + "/cm"});
}

TEST_CASE("loader: the fast YAML path agrees with yaml-cpp (regressions of the differential "
          "fuzzer)",
          "[routing][loader][fastpath]") {
    namespace yt = r::yaml_tree;
    // Empty values: yaml-cpp places them at the token after them (found by the mutation run
    // that preceded fuzz_yaml_fast_path); at the end of the text, column 0 of the last line.
    const std::vector<std::string> agree = {
        "a:\n", "a:", "a:   \n", "a: # c\n", "a:\n# c\nb: 1\n", "a:\n  \nb: 1\n", "- \n",
        "-\n- x\n", "- a:\n", "x:\n  - \n", "a:\n---\n", "x:\n  a:\n  b: 1\n", "{a: }",
        "{a: , b: 1}", "x: 1\na:", "- a\n-",
    };
    for (const auto& text : agree) {
        INFO(text);
        const auto res = yt::differential_check(text);
        CHECK(res.fast_accepted);
        CHECK(res.difference.empty());
    }
    // A last line of spaces or a comment without a line break: yaml-cpp's position of an empty
    // value before it depends on the indentation; the fast parser leaves such texts to it.
    for (const std::string text : {"x:\n  a:\n ", "x:\n  - a\n  - \n  ", "x:\n  a:\n# "}) {
        INFO(text);
        const auto res = yt::differential_check(text);
        CHECK_FALSE(res.fast_accepted);
    }
    // Control characters (yaml-cpp stops reading at a NUL: found by fuzz_yaml_fast_path),
    // malformed UTF-8 (yaml-cpp's decoder replaces it) and non-printable code points are left to
    // yaml-cpp.
    for (const std::string& text :
         {std::string("apiVersion: app\0\0mesh\nkind: Mesh\n", 30), std::string("a: \x01b\n"),
          std::string("a: \xff\n"), std::string("a: \xc0\xaf\n"), std::string("a: \xc2\x85" "b\n"),
          std::string("a: \xe2\x80\xa8" "b\n"), std::string("a: b\x7f\n")}) {
        INFO(text);
        const auto res = yt::differential_check(text);
        CHECK_FALSE(res.fast_accepted);
        CHECK(res.difference.empty());
    }
    CHECK(yt::differential_check("name: caf\xc3\xa9 \xe2\x9c\x93\n").fast_accepted);
    // Implicit keys longer than 1024 characters are a yaml-cpp error (found by
    // fuzz_yaml_fast_path): the fast parser leaves long keys to it.
    const std::string long_key(1025, 'k');
    for (const std::string& text :
         {long_key + ": v\n", "x:\n  \"" + long_key + "\": v\n", "- {" + long_key + ": v}\n"}) {
        const auto res = yt::differential_check(text);
        CHECK_FALSE(res.fast_accepted);
        CHECK(res.difference.empty());
        CHECK(load(text).errors().size() == 1);  // invalid YAML, from yaml-cpp
    }
    CHECK(yt::differential_check(std::string(900, 'k') + ": v\n").fast_accepted);
    // The corpus, read whole: accepted by the fast parser where it can, identical trees.
    std::size_t accepted = 0;
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(OUTRIGGER_CORPUS_DIR)) {
        if (e.path().extension() != ".yaml") {
            continue;
        }
        std::ifstream f(e.path());
        const std::string text((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
        const auto res = yt::differential_check(text);
        INFO(e.path().string());
        CHECK(res.difference.empty());
        accepted += res.fast_accepted ? 1 : 0;
        ++files;
    }
    CHECK(files == 37);
    CHECK(accepted > 0);
    const auto list = yt::differential_check(exported_list);
    CHECK_FALSE(list.fast_accepted);  // the last-applied annotation is a block scalar
}
