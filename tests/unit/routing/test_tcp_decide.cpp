// TCP decisions (routing/tcp_decide.hpp): port → TCP backend (transparent), service:port
// (explicit --tcp-listen), tcpRoute weighted targets fed explicit random values, node providers,
// idle timeouts, the default retry policy, TLS origination toward tcp targets, and the
// one-TCP-backend-per-port rule (owner, shadowed, validate warning). The mesh is shaped like the
// yelb application of the App Mesh walkthroughs (redis behind a router, postgres behind a node).
#include <catch2/catch.hpp>

#include "routing/compile.hpp"
#include "routing/resolve.hpp"
#include "routing/tcp_decide.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

using namespace outrigger::routing;
using namespace std::chrono_literals;

namespace {

struct compiled {
    mesh_input in;
    diagnostics diags;
    std::shared_ptr<const snapshot> snap;
};

std::unique_ptr<compiled> compile_yaml(const std::string& yaml, const std::string& node = "",
                                       compile_options opts = {}) {
    auto c = std::make_unique<compiled>();
    load_string(yaml, "yelb.yaml", c->in, c->diags);
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

std::string lines_of(const compiled& c, severity level) {
    std::string s;
    for (const auto& e : c.diags.items()) {
        if (e.level == level) {
            s += format(e, c.in.files) + "\n";
        }
    }
    return s;
}

std::string node(const std::string& name, const std::string& proto, int port,
                 const std::string& extra_listener = "", const std::string& tail = "") {
    return "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: " + name +
           "\n  namespace: yelb\nspec:\n  podSelector: {matchLabels: {app: " + name +
           "}}\n  listeners:\n    - portMapping: {port: " + std::to_string(port) +
           ", protocol: " + proto + "}\n" + extra_listener +
           "  serviceDiscovery:\n    dns: {hostname: " + name + ".yelb.svc.cluster.local}\n" + tail;
}

std::string service(const std::string& aws_name, const std::string& provider_kind,
                    const std::string& provider) {
    return "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata:\n  name: " +
           aws_name + "\n  namespace: yelb\nspec:\n  awsName: " + aws_name + "\n  provider:\n    " +
           provider_kind + ":\n      " +
           (provider_kind == "virtualRouter" ? "virtualRouterRef" : "virtualNodeRef") +
           ": {name: " + provider + "}\n";
}

const std::string head = R"(
apiVersion: v1
kind: Namespace
metadata: {name: yelb, labels: {mesh: yelb}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: yelb}
spec:
  namespaceSelector: {matchLabels: {mesh: yelb}}
)";

/// redis-server (router, 50/50 v1/v2, idle 30 s), yelb-db (node provider, listener idle 10 min),
/// yelb-ui (http); the app server is the client node.
std::string yelb(const std::string& route_extra = "        timeout:\n          idle: {unit: s, value: 30}\n",
                 const std::string& weights = "50, 50", const std::string& backends_extra = "",
                 const std::string& defaults = "") {
    const auto comma = weights.find(',');
    const std::string w1 = weights.substr(0, comma);
    const std::string w2 = weights.substr(comma + 2);
    return head + node("redis-v1", "tcp", 6379) + node("redis-v2", "tcp", 6379) +
           node("yelb-db", "tcp", 5432,
                "      timeout:\n        tcp:\n          idle: {unit: s, value: 600}\n") +
           node("yelb-ui", "http", 80) +
           node("yelb-appserver", "http", 4567, "",
                "  backends:\n"
                "    - virtualService: {virtualServiceRef: {name: redis-server.yelb.svc.cluster.local}}\n"
                "    - virtualService: {virtualServiceRef: {name: yelb-db.yelb.svc.cluster.local}}\n"
                "    - virtualService: {virtualServiceRef: {name: yelb-ui.yelb.svc.cluster.local}}\n" +
                    backends_extra + defaults) +
           R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: redis-router, namespace: yelb}
spec:
  listeners:
    - portMapping: {port: 6379, protocol: tcp}
  routes:
    - name: redis-split
      tcpRoute:
        action:
          weightedTargets:
            - virtualNodeRef: {name: redis-v1}
              weight: )" + w1 + R"(
            - virtualNodeRef: {name: redis-v2}
              weight: )" + w2 + "\n" + route_extra +
           service("redis-server.yelb.svc.cluster.local", "virtualRouter", "redis-router") +
           service("yelb-db.yelb.svc.cluster.local", "virtualNode", "yelb-db") +
           service("yelb-ui.yelb.svc.cluster.local", "virtualNode", "yelb-ui");
}

}  // namespace

TEST_CASE("decide_tcp: the original destination port names the TCP backend", "[routing][tcp]") {
    auto c = compile_yaml(yelb(), "yelb-appserver");
    REQUIRE(lines_of(*c, severity::error) == "");
    const snapshot& s = *c->snap;

    SECTION("router provider: tcpRoute, weighted per connection, idle timeout, default retry") {
        const auto d = decide_tcp(s, 6379, 0);
        REQUIRE(d.outcome == tcp_decision::outcome_t::routed);
        CHECK(d.service->aws_name == "redis-server.yelb.svc.cluster.local");
        REQUIRE(d.route != nullptr);
        CHECK(d.route->name == "redis-split");
        CHECK(d.target->node_name == "yelb/redis-v1");
        CHECK(d.target->port == 6379);
        CHECK(d.target->proto == protocol::tcp);
        CHECK(d.target->cluster_name == "cds_egress_yelb_redis-v1_yelb_tcp_6379");
        CHECK(d.target->endpoints.hostname == "redis-v1.yelb.svc.cluster.local");
        REQUIRE(d.idle_timeout.has_value());
        CHECK(*d.idle_timeout == 30s);
        REQUIRE(d.retry != nullptr);
        CHECK(d.retry->present);
        CHECK(d.retry->is_default);
        CHECK(d.retry->max_retries == 2);
        CHECK((d.retry->events & retry_spec::connection_error) != 0);
        CHECK((d.retry->events & retry_spec::status_503) == 0);  // no HTTP status at L4
    }
    SECTION("the random number splits 50/50 exactly at the half") {
        CHECK(decide_tcp(s, 6379, 0x7fffffffu).target->node_name == "yelb/redis-v1");
        CHECK(decide_tcp(s, 6379, 0x80000000u).target->node_name == "yelb/redis-v2");
        CHECK(decide_tcp(s, 6379, 0xffffffffu).target->node_name == "yelb/redis-v2");
        CHECK(decide_tcp(s, 6379, 0xffffffffu).target_index == 1);
    }
    SECTION("node provider: the target listener, its timeout.tcp.idle") {
        const auto d = decide_tcp(s, 5432, 12345);
        REQUIRE(d.outcome == tcp_decision::outcome_t::routed);
        CHECK(d.service->aws_name == "yelb-db.yelb.svc.cluster.local");
        CHECK(d.route == nullptr);
        CHECK(d.target->node_name == "yelb/yelb-db");
        REQUIRE(d.idle_timeout.has_value());
        CHECK(*d.idle_timeout == 600s);
        REQUIRE(d.retry != nullptr);
        CHECK(d.retry->is_default);
    }
    SECTION("an http port and an unknown port are not TCP backends") {
        CHECK(decide_tcp(s, 80, 0).outcome == tcp_decision::outcome_t::not_tcp);
        CHECK(decide_tcp(s, 4567, 0).outcome == tcp_decision::outcome_t::not_tcp);
        CHECK(decide_tcp(s, 9999, 0).outcome == tcp_decision::outcome_t::not_tcp);
        CHECK(decide_tcp(s, 9999, 0).service == nullptr);
    }
    SECTION("the port table holds exactly the tcp ports, sorted") {
        REQUIRE(s.tcp_ports.size() == 2);
        CHECK(s.tcp_ports[0].port == 5432);
        CHECK(s.tcp_ports[1].port == 6379);
        CHECK(s.tcp_ports[1].shadowed.empty());
        CHECK(s.find_tcp_port(6379) != nullptr);
        CHECK(s.find_tcp_port(6380) == nullptr);
        CHECK(s.l7_ports == std::vector<std::uint16_t>{80});  // yelb-ui; 4567 is the client itself
        CHECK(s.is_l7_port(80));
        CHECK_FALSE(s.is_l7_port(6379));
    }
}

TEST_CASE("decide_tcp_service: explicit mode names the service and its port", "[routing][tcp]") {
    auto c = compile_yaml(yelb(), "yelb-appserver");
    REQUIRE(lines_of(*c, severity::error) == "");
    const snapshot& s = *c->snap;
    const auto d = decide_tcp_service(s, "Redis-Server.yelb.svc.cluster.local.", 6379, 0xffffffffu);
    REQUIRE(d.outcome == tcp_decision::outcome_t::routed);
    CHECK(d.target->node_name == "yelb/redis-v2");

    const auto wrong_port = decide_tcp_service(s, "redis-server.yelb.svc.cluster.local", 6380, 0);
    CHECK(wrong_port.outcome == tcp_decision::outcome_t::not_tcp);
    CHECK(wrong_port.service != nullptr);

    const auto http = decide_tcp_service(s, "yelb-ui.yelb.svc.cluster.local", 80, 0);
    CHECK(http.outcome == tcp_decision::outcome_t::not_tcp);
    REQUIRE(http.port != nullptr);
    CHECK(http.port->proto == protocol::http);

    const auto unknown = decide_tcp_service(s, "redis", 6379, 0);  // short names never match
    CHECK(unknown.outcome == tcp_decision::outcome_t::not_tcp);
    CHECK(unknown.service == nullptr);
}

TEST_CASE("decide_tcp: relative weights and weight 0", "[routing][tcp]") {
    SECTION("1:3 puts the first quarter of the random range on v1") {
        auto c = compile_yaml(yelb("", "1, 3"), "yelb-appserver");
        REQUIRE(lines_of(*c, severity::error) == "");
        CHECK(decide_tcp(*c->snap, 6379, 0x3fffffffu).target->node_name == "yelb/redis-v1");
        CHECK(decide_tcp(*c->snap, 6379, 0x40000000u).target->node_name == "yelb/redis-v2");
        // No idle timeout on the route: the caller's default applies.
        CHECK_FALSE(decide_tcp(*c->snap, 6379, 0).idle_timeout.has_value());
    }
    SECTION("weight 0 is never chosen") {
        auto c = compile_yaml(yelb("", "0, 1"), "yelb-appserver");
        REQUIRE(lines_of(*c, severity::error) == "");
        for (const std::uint32_t r : {0u, 1u, 0x80000000u, 0xffffffffu}) {
            CHECK(decide_tcp(*c->snap, 6379, r).target->node_name == "yelb/redis-v2");
        }
    }
    SECTION("idle 0 means off, kept as 0") {
        auto c = compile_yaml(yelb("        timeout:\n          idle: {unit: ms, value: 0}\n"), "yelb-appserver");
        REQUIRE(lines_of(*c, severity::error) == "");
        const auto d = decide_tcp(*c->snap, 6379, 0);
        REQUIRE(d.idle_timeout.has_value());
        CHECK(d.idle_timeout->count() == 0);
    }
}

TEST_CASE("decide_tcp: --no-default-retry leaves the connect without retries", "[routing][tcp]") {
    compile_options o;
    o.default_retry = false;
    auto c = compile_yaml(yelb(), "yelb-appserver", o);
    REQUIRE(lines_of(*c, severity::error) == "");
    for (const std::uint16_t p : {std::uint16_t{6379}, std::uint16_t{5432}}) {
        const auto d = decide_tcp(*c->snap, p, 0);
        REQUIRE(d.retry != nullptr);
        CHECK_FALSE(d.retry->present);
    }
}

TEST_CASE("decide_tcp: one TCP backend per port, the first owns it", "[routing][tcp]") {
    // A second cache on 6379 (node provider): shadowed in transparent mode, reachable by name.
    const std::string yaml =
        yelb("", "50, 50",
             "    - virtualService: {virtualServiceRef: {name: cache2.yelb.svc.cluster.local}}\n") +
        node("cache2", "tcp", 6379) + service("cache2.yelb.svc.cluster.local", "virtualNode", "cache2");
    auto c = compile_yaml(yaml, "yelb-appserver");
    REQUIRE(lines_of(*c, severity::error) == "");
    const std::string warnings = lines_of(*c, severity::warning);
    CHECK_THAT(warnings, Catch::Contains("VirtualNode yelb/yelb-appserver: spec.backends[3].virtualService"));
    CHECK_THAT(warnings, Catch::Contains("redis-server.yelb.svc.cluster.local and "
                                         "cache2.yelb.svc.cluster.local both listen with protocol "
                                         "tcp on port 6379"));
    const snapshot& s = *c->snap;
    const auto* owner = s.find_tcp_port(6379);
    REQUIRE(owner != nullptr);
    CHECK(s.services[owner->service].aws_name == "redis-server.yelb.svc.cluster.local");
    REQUIRE(owner->shadowed.size() == 1);
    CHECK(s.services[owner->shadowed[0]].aws_name == "cache2.yelb.svc.cluster.local");
    CHECK(decide_tcp(s, 6379, 0).service->aws_name == "redis-server.yelb.svc.cluster.local");
    const auto named = decide_tcp_service(s, "cache2.yelb.svc.cluster.local", 6379, 0);
    REQUIRE(named.outcome == tcp_decision::outcome_t::routed);
    CHECK(named.target->node_name == "yelb/cache2");

    // Validating without --node checks every node: the same warning, once.
    auto all = compile_yaml(yaml);
    CHECK_THAT(lines_of(*all, severity::warning), Catch::Contains("both listen with protocol tcp"));
}

TEST_CASE("decide_tcp: TLS origination toward a tcp target comes from the client policy",
          "[routing][tcp][tls]") {
    const std::string defaults =
        "  backendDefaults:\n    clientPolicy:\n      tls:\n"
        "        certificate: {file: {certificateChain: /c/app.pem, privateKey: /c/app.key}}\n"
        "        validation:\n          trust: {file: {certificateChain: /c/ca.pem}}\n";
    auto c = compile_yaml(yelb("", "50, 50", "", defaults), "yelb-appserver");
    REQUIRE(lines_of(*c, severity::error) == "");
    const auto d = decide_tcp(*c->snap, 6379, 0);
    REQUIRE(d.outcome == tcp_decision::outcome_t::routed);
    const auto& t = d.target->tls;
    CHECK(t.mode == tls_origination::mode_t::verify);
    CHECK(t.sni == "redis-v1.yelb.svc.cluster.local");
    CHECK(t.sans == std::vector<std::string>{"redis-v1.yelb.svc.cluster.local"});
    CHECK(t.certificate_chain == "/c/app.pem");
    CHECK(t.trust_file == "/c/ca.pem");
}

TEST_CASE("decide_tcp: a router with an http and a tcp listener keeps them apart", "[routing][tcp]") {
    // Two router listeners need match.port on each route (validate); the tcp port only sees the
    // tcpRoute, the http port never becomes a TCP backend.
    const std::string yaml = head + node("mixed-v1", "tcp", 7000) + node("web-v1", "http", 8080) +
                             node("client", "http", 1,  "",
                                  "  backends:\n    - virtualService: {virtualServiceRef: {name: "
                                  "mixed.yelb.svc.cluster.local}}\n") +
                             R"(---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: mixed, namespace: yelb}
spec:
  listeners:
    - portMapping: {port: 7000, protocol: tcp}
    - portMapping: {port: 8080, protocol: http}
  routes:
    - name: raw
      tcpRoute:
        match: {port: 7000}
        action:
          weightedTargets:
            - {virtualNodeRef: {name: mixed-v1}, weight: 1}
    - name: web
      httpRoute:
        match: {prefix: /, port: 8080}
        action:
          weightedTargets:
            - {virtualNodeRef: {name: web-v1}, weight: 1}
)" + service("mixed.yelb.svc.cluster.local", "virtualRouter", "mixed");
    auto c = compile_yaml(yaml, "client");
    REQUIRE(lines_of(*c, severity::error) == "");
    const auto d = decide_tcp(*c->snap, 7000, 0);
    REQUIRE(d.outcome == tcp_decision::outcome_t::routed);
    CHECK(d.route->name == "raw");
    CHECK(d.target->node_name == "yelb/mixed-v1");
    CHECK(decide_tcp(*c->snap, 8080, 0).outcome == tcp_decision::outcome_t::not_tcp);
}
