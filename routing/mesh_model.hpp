#pragma once
// Plain structs that mirror the App Mesh `appmesh.k8s.aws/v1beta2` specs one-to-one
// (spec/appmesh-v1beta2.md §2–§8b). No logic beyond trivial helpers: the loader fills them,
// `resolve_and_validate` applies defaults and checks rules, `compile` builds lookup tables.
//
// Every object keeps where it came from (file, line, column) and the position of every YAML node
// the loader read, keyed by field path (`spec.routes[0].httpRoute.match.prefix`), so that any
// later error can name file:line:col and the field path.
//
// Thread-affinity: built on the control thread; immutable once handed to `compile`.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace outrigger::routing {

/// 1-based line and column; `file` indexes `mesh_input::files`.
struct source_loc {
    std::uint32_t file = 0;
    std::uint32_t line = 0;
    std::uint32_t col = 0;
};

struct duration {
    enum class unit_t { ms, s };
    std::int64_t value = 0;
    unit_t unit = unit_t::ms;
    [[nodiscard]] std::chrono::milliseconds to_ms() const {
        return std::chrono::milliseconds(unit == unit_t::s ? value * 1000 : value);
    }
};

enum class protocol { http, http2, grpc, tcp };

struct port_mapping {
    std::int64_t port = 0;
    protocol proto = protocol::http;
};

/// `xxxRef: {name, namespace}` or `xxxARN: arn:aws:appmesh:...`. After resolution `ns` is always
/// set (defaulted to the containing object's namespace) unless the reference is an ARN that could
/// not be mapped.
struct object_ref {
    std::string name;
    std::string ns;
    std::string arn;  // non-empty when given by ARN
    bool ns_given = false;
};

struct label_selector {
    struct expression {
        std::string key;
        std::string op;  // In, NotIn, Exists, DoesNotExist
        std::vector<std::string> values;
    };
    std::map<std::string, std::string> match_labels;
    std::vector<expression> match_expressions;
    [[nodiscard]] bool matches(const std::map<std::string, std::string>& labels) const;
};

/// HeaderMatchMethod / GRPCRouteMetadataMatchMethod (§2.4). `kind == present` when `match` is absent.
struct string_match {
    enum class kind_t { present, exact, prefix, suffix, regex, range };
    kind_t kind = kind_t::present;
    std::string value;
    std::int64_t range_start = 0;
    std::int64_t range_end = 0;
    int kinds_given = 0;  // > 1 is a validation error (union)
};

struct header_match {
    std::string name;
    string_match match;
    bool invert = false;
};

struct query_match {
    std::string name;
    std::optional<std::string> exact;  // absent = parameter present
    bool match_block = false;          // `match:` given (then `exact` is required)
};

enum class route_kind { http, http2, grpc, tcp };

/// Union of the match blocks of http/http2/grpc/tcp routes and of gateway routes; the kind decides
/// which members are meaningful.
struct route_match {
    std::optional<std::string> prefix;
    std::optional<std::string> path_exact;
    std::optional<std::string> path_regex;
    bool path_block = false;
    std::optional<std::string> method;
    std::optional<std::string> scheme;
    std::vector<header_match> headers;  // grpc: metadata
    std::vector<query_match> query;
    std::optional<std::int64_t> port;
    // grpc
    std::optional<std::string> service_name;
    std::optional<std::string> method_name;
    // gateway routes
    std::optional<std::string> hostname_exact;
    std::optional<std::string> hostname_suffix;
};

struct weighted_target {
    object_ref node;
    std::int64_t weight = 0;
    std::optional<std::int64_t> port;
};

struct retry_policy {
    std::int64_t max_retries = 0;
    std::optional<duration> per_retry_timeout;
    std::vector<std::string> http_events;
    std::vector<std::string> tcp_events;
    std::vector<std::string> grpc_events;
};

struct timeout_block {
    std::optional<duration> per_request;
    std::optional<duration> idle;
};

struct route {
    std::string name;
    std::optional<std::int64_t> priority;
    route_kind kind = route_kind::http;
    int kinds_given = 0;  // exactly one of httpRoute/http2Route/grpcRoute/tcpRoute
    route_match match;
    bool match_given = false;
    std::vector<weighted_target> targets;
    std::optional<retry_policy> retry;
    timeout_block timeout;
    std::uint32_t index = 0;  // position in the router's `routes` list
};

/// A certificate or trust source (§2.5): one of file / sds / acm.
struct tls_source {
    enum class kind_t { none, file, sds, acm };
    kind_t kind = kind_t::none;
    int kinds_given = 0;
    std::string certificate_chain;  // file
    std::string private_key;        // file (certificates only)
    std::string secret_name;        // sds
    std::vector<std::string> acm_arns;  // acm (certificateARN or certificateAuthorityARNs)
};

struct listener_tls {
    std::string mode;  // STRICT, PERMISSIVE, DISABLED
    tls_source certificate;
    std::optional<tls_source> validation_trust;
    std::vector<std::string> validation_sans;
};

struct client_tls_policy {
    bool enforce = true;
    std::vector<std::int64_t> ports;
    std::optional<tls_source> certificate;
    tls_source validation_trust;
    std::vector<std::string> validation_sans;
};

struct client_policy {
    std::optional<client_tls_policy> tls;
};

struct health_check {
    std::string protocol;
    std::optional<std::int64_t> port;
    std::optional<std::string> path;
    std::int64_t interval_ms = 0;
    std::int64_t timeout_ms = 0;
    std::int64_t healthy_threshold = 0;
    std::int64_t unhealthy_threshold = 0;
};

struct outlier_detection {
    std::int64_t max_server_errors = 0;
    duration interval;
    duration base_ejection_duration;
    std::int64_t max_ejection_percent = 0;
};

struct connection_pool {
    std::string kind;  // tcp, http, http2, grpc (the one given)
    int kinds_given = 0;
    std::int64_t max_connections = 0;
    std::optional<std::int64_t> max_pending_requests;
    std::int64_t max_requests = 0;
};

struct node_listener {
    routing::port_mapping port_mapping;
    std::optional<listener_tls> tls;
    std::optional<routing::health_check> health_check;
    std::optional<routing::outlier_detection> outlier_detection;
    std::optional<routing::connection_pool> connection_pool;
    /// `timeout.http|http2|grpc|tcp` as given, keyed by protocol name.
    std::map<std::string, timeout_block> timeouts;
};

struct service_discovery {
    enum class kind_t { none, dns, cloud_map };
    kind_t kind = kind_t::none;
    int kinds_given = 0;
    std::string hostname;                     // dns
    std::string response_type = "LOADBALANCER";  // dns
    std::string namespace_name;               // cloud map
    std::string service_name;                 // cloud map
    std::vector<std::pair<std::string, std::string>> attributes;
};

struct backend {
    object_ref virtual_service;
    std::optional<routing::client_policy> client_policy;
};

struct access_log {
    std::string path;
    std::optional<std::string> text_format;
    std::vector<std::pair<std::string, std::string>> json_format;
};

/// Common metadata and the source map of every object.
struct object_meta {
    std::string kind;  // "VirtualNode", ...
    std::string name;
    std::string ns;    // empty for Mesh
    std::map<std::string, std::string> labels;
    source_loc loc;    // the document's `kind:` line
    /// Field path → position, in load order. Paths look like `spec.routes[0].name`.
    std::vector<std::pair<std::string, source_loc>> field_locs;
    std::optional<std::string> mesh_ref;  // spec.meshRef.name, if given

    /// Position of `path`, or of its longest recorded prefix, or of the object itself.
    [[nodiscard]] source_loc where(const std::string& path) const;
};

struct mesh {
    object_meta meta;
    std::string aws_name;
    std::optional<label_selector> namespace_selector;
    std::string egress_filter = "DROP_ALL";
    std::string ip_preference;
    bool implicit = false;  // made up because the input held no Mesh (DECISIONS §3.11)
};

struct virtual_service {
    object_meta meta;
    std::string aws_name;
    enum class provider_t { none, node, router };
    provider_t provider = provider_t::none;
    int providers_given = 0;
    object_ref provider_ref;
};

struct virtual_router {
    object_meta meta;
    std::string aws_name;
    std::vector<port_mapping> listeners;
    std::vector<route> routes;
};

struct virtual_node {
    object_meta meta;
    std::string aws_name;
    /// Which pods run as this node (absent: none; `{}`: every pod of the namespace). Only
    /// `outrigger inject` reads it; the proxy is told its node explicitly.
    std::optional<label_selector> pod_selector;
    std::vector<node_listener> listeners;
    routing::service_discovery service_discovery;
    std::vector<backend> backends;
    std::vector<object_ref> backend_groups;
    std::optional<client_policy> backend_defaults;
    std::optional<access_log> logging;
};

struct gateway_listener {
    routing::port_mapping port_mapping;
    std::optional<listener_tls> tls;
    std::optional<routing::health_check> health_check;
    std::optional<routing::connection_pool> connection_pool;
};

struct virtual_gateway {
    object_meta meta;
    std::string aws_name;
    std::optional<label_selector> namespace_selector;
    std::optional<label_selector> gateway_route_selector;
    std::vector<gateway_listener> listeners;
    std::optional<client_policy> backend_defaults;
    std::optional<access_log> logging;
};

struct gateway_route {
    object_meta meta;
    std::string aws_name;
    std::optional<std::int64_t> priority;
    route_kind kind = route_kind::http;
    int kinds_given = 0;
    route_match match;
    object_ref target_service;
    std::optional<std::int64_t> target_port;
    /// `spec.virtualGatewayRef` as written by the admission webhook (manifests exported from a
    /// cluster carry it); when given it names the gateway instead of the selectors (§8).
    std::optional<object_ref> virtual_gateway_ref;
    // rewrite
    bool rewrite_block = false;
    std::optional<std::string> rewrite_default_target_hostname;  // ENABLED / DISABLED
    std::optional<std::string> rewrite_default_prefix;           // ENABLED / DISABLED
    std::optional<std::string> rewrite_prefix_value;
    std::optional<std::string> rewrite_path_exact;
};

struct backend_group {
    object_meta meta;
    std::vector<object_ref> virtual_services;
};

struct namespace_doc {
    std::string name;
    std::map<std::string, std::string> labels;
    source_loc loc;
};

/// Everything read from the input paths.
struct mesh_input {
    std::vector<std::string> files;  // indexed by source_loc::file
    std::vector<mesh> meshes;
    std::vector<namespace_doc> namespaces;
    std::vector<virtual_service> virtual_services;
    std::vector<virtual_router> virtual_routers;
    std::vector<virtual_node> virtual_nodes;
    std::vector<virtual_gateway> virtual_gateways;
    std::vector<gateway_route> gateway_routes;
    std::vector<backend_group> backend_groups;
};

[[nodiscard]] const char* to_string(protocol p);
[[nodiscard]] const char* to_string(route_kind k);

}  // namespace outrigger::routing
