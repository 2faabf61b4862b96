#pragma once
// The compiled, immutable routing snapshot for one proxy (one VirtualNode, or the mesh-wide client
// of DECISIONS.md §1) and the pure request → decision function the data path calls.
//
// Thread-affinity: immutable after `compile` returns; shared between workers as
// `std::shared_ptr<const snapshot>`. Nothing in here is mutable, lazily computed or does I/O.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "routing/matchers.hpp"
#include "routing/mesh_model.hpp"

namespace outrigger::routing {

struct gateway_snapshot;  // routing/gateway.hpp

// ---------------------------------------------------------------------------------------------
// Request input
// ---------------------------------------------------------------------------------------------

struct header_view {
    std::string_view name;  // any case
    std::string_view value;
};

/// What routing needs to know about one request. The proxy fills it from the parsed head;
/// `path` must already be normalised (see `normalize_path`) and carry no query.
struct request_view {
    std::string_view method;
    std::string_view path;
    std::string_view query;   // without the leading '?'
    std::string_view scheme = "http";
    std::string_view host;    // Host / authority without port, any case, trailing dot allowed
    std::optional<std::uint16_t> port;  // port named by the request (URI or Host), if any
    std::span<const header_view> headers;
};

// ---------------------------------------------------------------------------------------------
// Compiled tables
// ---------------------------------------------------------------------------------------------

/// Retry behaviour of a route or node provider, as bit flags (spec §10.9, DECISIONS §3.9).
struct retry_spec {
    enum event : std::uint32_t {
        server_error = 1u << 0,        // 500,501,502,503,504,505,506,507,508,510,511 + no response
        gateway_error = 1u << 1,       // 502,503,504 + no response
        client_error = 1u << 2,        // 409
        stream_error = 1u << 3,        // refused stream
        connection_error = 1u << 4,    // connect failure
        status_503 = 1u << 5,          // default policy: 503 only
        reset = 1u << 6,               // default policy: reset before any response byte
        grpc_cancelled = 1u << 7,
        grpc_deadline_exceeded = 1u << 8,
        grpc_internal = 1u << 9,
        grpc_resource_exhausted = 1u << 10,
        grpc_unavailable = 1u << 11,
    };
    std::uint32_t events = 0;
    std::uint32_t max_retries = 0;
    std::chrono::milliseconds per_try_timeout{0};  // 0 = no per-try limit
    bool is_default = false;                       // the emulated App Mesh default policy
    bool present = false;                          // false: no retries at all
};

/// How this proxy talks to a target node listener (spec §10.7, DECISIONS §3.5).
struct tls_origination {
    enum class mode_t { plaintext, verify, no_verify };
    mode_t mode = mode_t::plaintext;
    std::string certificate_chain;  // client certificate (file), optional
    std::string private_key;
    std::string trust_file;         // CA bundle (verify mode)
    std::vector<std::string> sans;  // accepted server SANs (verify mode)
    std::string sni;                // target hostname
    std::string source;             // human text: "backend clientPolicy", "listener fallback", ...
};

struct endpoint_source {
    enum class kind_t { dns, cloud_map, none };
    kind_t kind = kind_t::none;
    std::string hostname;    // dns hostname, or `<service>.<namespace>` for Cloud Map
    bool all_addresses = false;  // ENDPOINTS (true) vs LOADBALANCER (false)
};

/// One (target virtual node, listener port) the proxy sends to.
struct upstream_target {
    std::uint32_t id = 0;          // index in snapshot::targets
    std::string node_name;         // namespace/name
    std::string display;           // `virtual node "namespace/name"`, for reply bodies and logs
    std::string node_aws_name;
    std::uint16_t port = 0;
    protocol proto = protocol::http;
    endpoint_source endpoints;
    tls_origination tls;
    std::optional<health_check> health;
    std::optional<outlier_detection> outlier;
    std::string cluster_name;      // Envoy-style name for logs/metrics: `cds_egress_<mesh>_<node>_<proto>_<port>`
};

struct compiled_header_match {
    std::string name_lower;
    string_match::kind_t kind = string_match::kind_t::present;
    std::string value;
    std::int64_t range_start = 0;
    std::int64_t range_end = 0;
    regex_matcher regex;
    bool invert = false;
};

struct compiled_query_match {
    std::string name;
    std::optional<std::string> exact;
};

struct compiled_route {
    std::string name;
    std::string router_name;  // namespace/name
    route_kind kind = route_kind::http;
    std::optional<std::int64_t> priority;
    // match
    enum class path_kind { prefix, exact, regex } path_type = path_kind::prefix;
    std::string path_value;  // prefix or exact path; for grpc the derived prefix/exact path
    regex_matcher path_regex;
    std::optional<std::string> method;
    std::optional<std::string> scheme;
    std::vector<compiled_header_match> headers;
    std::vector<compiled_query_match> query;
    std::optional<std::uint16_t> port;
    // action
    std::vector<std::uint32_t> target_ids;   // into snapshot::targets
    std::vector<std::int64_t> weights;       // as given
    std::vector<std::uint64_t> cumulative;   // running sums of weights
    std::uint64_t total_weight = 0;
    retry_spec retry;
    std::chrono::milliseconds per_request_timeout{15000};  // 0 = off
    std::optional<std::chrono::milliseconds> idle_timeout;
    std::uint32_t id = 0;  // index in snapshot::routes
};

/// A virtual service as seen from this proxy on one port.
struct service_port {
    std::uint16_t port = 0;
    protocol proto = protocol::http;
    std::vector<std::uint32_t> route_ids;  // router provider: routes for this port, in evaluation order
    std::optional<std::uint32_t> node_target;  // node provider: the target
    retry_spec node_retry;                     // node provider: default policy (or none)
    std::chrono::milliseconds node_timeout{15000};  // node provider: listener perRequest
    /// Node provider: the listener's `timeout.<proto>.idle` (tcp: the connection idle timeout).
    std::optional<std::chrono::milliseconds> node_idle;
};

struct service_entry {
    std::string aws_name;
    std::string key;   // canonical_host(aws_name): the Host lookup key
    std::string name;  // namespace/name
    enum class provider_t { none, node, router } provider = provider_t::none;
    std::string provider_name;  // namespace/name of the router or node
    std::vector<service_port> ports;
};

/// A listener of this proxy's own node: inbound traffic to the local app.
struct ingress_listener {
    std::uint16_t port = 0;
    std::string display;  // `the local app on port N`, for reply bodies and logs
    protocol proto = protocol::http;
    std::chrono::milliseconds per_request_timeout{15000};  // 0 = off
    std::optional<std::chrono::milliseconds> idle_timeout;
    std::optional<listener_tls> tls;
    std::optional<connection_pool> pool;
};

struct access_log_config {
    std::string path;
    std::optional<std::string> text_format;
    std::vector<std::pair<std::string, std::string>> json_format;
};

struct compile_options {
    bool default_retry = true;                // --no-default-retry turns it off
    std::vector<std::string> egress_allow = {"*.amazonaws.com"};  // DECISIONS §3.7
};

struct snapshot {
    std::uint64_t generation = 0;
    std::string mesh_name;
    bool allow_all_egress = false;  // ALLOW_ALL vs DROP_ALL
    std::vector<std::string> egress_allow;  // lower-case; "*.suffix" or exact
    std::optional<std::string> node_name;   // namespace/name; empty = mesh-wide client
    std::string node_aws_name;
    /// namespace/name of the VirtualGateway whose outbound side this is (routing/gateway.hpp);
    /// then `node_name` is empty and `services` are the targets of its GatewayRoutes.
    std::optional<std::string> gateway_name;
    /// The gateway whose outbound side this is (set by compile_gateway), null otherwise. Not
    /// owning: the gateway owns this snapshot. The data path holds the snapshot through
    /// `published_snapshot(gw)` (routing/gateway.hpp), which shares the gateway's ownership, so
    /// the pointer is valid for as long as that snapshot pointer is held.
    const gateway_snapshot* gateway = nullptr;

    std::vector<service_entry> services;     // backends of this node only
    std::vector<compiled_route> routes;
    std::vector<upstream_target> targets;
    std::vector<ingress_listener> ingress;
    std::optional<access_log_config> access_log;
    std::vector<std::string> all_service_names;  // every VS awsName in the mesh (for "did you mean")

    /// awsName (lower-case, no trailing dot) → index into `services`: an open-addressing table
    /// (linear probing, load ≤ 1/2) so a lookup costs one probe line plus the service itself —
    /// with 10,000 services the decision is bound by cache misses, not by compute.
    struct host_slot {
        std::uint64_t hash = 0;
        std::uint32_t service = 0;
        bool used = false;
    };
    std::vector<host_slot> host_table;  // size is a power of two
    /// Builds `host_table` from `services[i].key`; called once by compile.
    void index_hosts();
    [[nodiscard]] static std::uint64_t hash_host(std::string_view lower_host);

    [[nodiscard]] const service_entry* find_service(std::string_view host) const;
    [[nodiscard]] const ingress_listener* find_ingress(std::uint16_t port) const;
    /// True when unmodelled egress to `host` may pass (ALLOW_ALL, or an allow-list pattern).
    [[nodiscard]] bool egress_allowed(std::string_view host) const;
    /// The virtual service name closest to `host`, for 404 bodies; empty if none is close.
    [[nodiscard]] std::string closest_service(std::string_view host) const;

    // ---- TCP backends by port (routing/tcp_decide.hpp) ----
    struct tcp_port_owner {
        std::uint16_t port = 0;
        std::uint32_t service = 0;            // index into `services`: the backend that owns it
        std::vector<std::uint32_t> shadowed;  // other tcp backends on the same port (unreachable
                                              // by port alone; validate warns)
    };
    std::vector<tcp_port_owner> tcp_ports;  // sorted by port; built by index_tcp_ports
    /// Ports some backend's provider listens on with http, http2 or grpc (sorted, unique).
    std::vector<std::uint16_t> l7_ports;
    /// The TCP backend that owns `port`, or null.
    [[nodiscard]] const tcp_port_owner* find_tcp_port(std::uint16_t port) const;
    /// True when some backend listens on `port` with an HTTP protocol (first bytes expected
    /// from the client there: transparent egress waits longer for them, proxy/tcp/sniff.hpp).
    [[nodiscard]] bool is_l7_port(std::uint16_t port) const;
};

// ---------------------------------------------------------------------------------------------
// Decision
// ---------------------------------------------------------------------------------------------

struct route_trace_entry {
    const compiled_route* route = nullptr;
    bool matched = false;
    std::string failed_condition;  // first failing condition, when not matched
};

struct route_decision {
    enum class outcome_t {
        routed,          // target chosen
        unmodelled,      // host is not a backend of this node: egress filter decides
        wrong_port,      // host known, but not on the requested port (egress filter decides)
        ambiguous_port,  // no port given and the provider has several listeners: 404
        no_route,        // router had no matching route: 404 NR
        no_provider,     // virtual service without provider: 503
    };
    outcome_t outcome = outcome_t::unmodelled;
    const service_entry* service = nullptr;
    const service_port* port = nullptr;
    const compiled_route* route = nullptr;   // null for node providers
    const upstream_target* target = nullptr;
    /// Effective retry and timeout for the request (route's, or node provider's).
    const retry_spec* retry = nullptr;
    std::chrono::milliseconds per_request_timeout{15000};
};

/// Routes one request. Pure: `random` is the only source of randomness (a uniform 32-bit value).
/// When `trace` is non-null every evaluated route is appended with its result (for `explain`).
[[nodiscard]] route_decision decide(const snapshot& snap, const request_view& req,
                                    std::uint32_t random,
                                    std::vector<route_trace_entry>* trace = nullptr);

/// Value of header `name_lower` (comma-joined when repeated, Envoy semantics); nullopt if absent.
/// `joined` is scratch storage used only for repeated headers. Shared by router and gateway
/// routes, as are the three functions below.
[[nodiscard]] std::optional<std::string_view> header_value(const request_view& req,
                                                           std::string_view name_lower,
                                                           std::string& joined);

/// Value of query parameter `name` (first occurrence; raw, not percent-decoded); "present" means
/// the name appears, with or without `=`.
[[nodiscard]] std::optional<std::string_view> query_value(std::string_view query,
                                                          std::string_view name);

/// One header (or gRPC metadata) test of spec §2.4, `invert` applied; `value` from header_value.
[[nodiscard]] bool header_matches(const compiled_header_match& m,
                                  std::optional<std::string_view> value);

/// `header x-user equals "a"` / `header x NOT (is present)`: the test, for explain traces.
[[nodiscard]] std::string describe(const compiled_header_match& m);

/// Picks an index into `cumulative` for `random` (uniform over [0, 2^32)). `total` > 0.
[[nodiscard]] std::size_t pick_weighted(std::span<const std::uint64_t> cumulative,
                                        std::uint64_t total, std::uint32_t random);

/// Envoy `normalize_path` + `merge_slashes`: removes dot segments and merges "//" (RFC 3986).
/// Writes into `out` (reused buffer). The input must not contain the query.
void normalize_path(std::string_view path, std::string& out);

/// Lower-cases, strips one trailing dot.
[[nodiscard]] std::string canonical_host(std::string_view host);

}  // namespace outrigger::routing
