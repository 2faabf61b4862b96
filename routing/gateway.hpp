#pragma once
// The compiled, immutable table of one VirtualGateway (spec §7, §8, §10.15) and the pure
// functions the data path calls for each request that arrives on a gateway listener:
//
//   gateway_decide()    which attached GatewayRoute matches (priority, then longest prefix);
//   rewrite_request()   the path and Host rewrites of that route (table in docs/gateway.md);
//   outbound_request()  the request_view fed to routing::decide() on the gateway's outbound
//                       snapshot: the request then continues exactly as an outbound request to
//                       the target virtual service on action.target.port (router routes,
//                       weighted targets, retries, timeouts, backendDefaults client TLS).
//   route_gateway_request() does the three steps and decide() in one call.
//
// The outbound snapshot is a normal `snapshot` (routing/snapshot.hpp) compiled with every target
// virtual service of the attached routes as a backend and the gateway's
// `backendDefaults.clientPolicy` toward every target, so the egress path serves it unchanged.
//
// Thread-affinity: immutable after compile_gateway (routing/gateway_compile.hpp) returns; shared
// between workers as `std::shared_ptr<const gateway_snapshot>`. No I/O, nothing mutable.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routing/matchers.hpp"
#include "routing/mesh_model.hpp"
#include "routing/snapshot.hpp"

namespace outrigger::routing {

/// GatewayRoute priority when `spec.priority` is unset (the CRD's documented default, spec §8).
inline constexpr std::int64_t default_gateway_route_priority = 1000;

/// One attached GatewayRoute, ready to match.
struct compiled_gateway_route {
    std::string name;      // namespace/name
    std::string aws_name;
    route_kind kind = route_kind::http;  // http, http2 or grpc
    std::optional<std::int64_t> priority;  // as given
    std::int64_t effective_priority = default_gateway_route_priority;

    // -- match --------------------------------------------------------------------------------
    /// http: prefix (a route with only a hostname match is prefix "/"), path exact or regex.
    /// grpc: prefix "/SERVICE/" for serviceName, "/" without one.
    enum class path_kind { prefix, exact, regex } path_type = path_kind::prefix;
    std::string path_value;  // the prefix or exact path (the regex pattern for regex)
    regex_matcher path_regex;
    enum class host_kind { any, exact, suffix } host_type = host_kind::any;
    std::string host_value;  // lower-case, no trailing dot
    std::optional<std::string> method;
    std::vector<compiled_header_match> headers;  // grpc: metadata
    std::vector<compiled_query_match> query;
    std::optional<std::uint16_t> port;  // match.port: the gateway listener port
    std::optional<std::string> service_name;  // grpc serviceName, for display

    // -- action -------------------------------------------------------------------------------
    std::string target_service;  // the target virtual service's awsName
    std::string target_name;     // its namespace/name
    std::optional<std::uint16_t> target_port;  // action.target.port, if given
    bool rewrite_hostname = true;  // Host → target awsName unless defaultTargetHostname DISABLED
    /// none: the path is sent unchanged; prefix: the matched prefix is replaced by
    /// `rewrite_value` ("/" for the default rewrite); exact: the path becomes `rewrite_value`.
    enum class path_rewrite { none, prefix, exact } rewrite = path_rewrite::none;
    std::string rewrite_value;

    std::uint32_t id = 0;     // index in gateway_snapshot::routes
    std::uint32_t index = 0;  // position in the input (the last tie-break)
};

/// A listener of the gateway: one port the data path binds (possibly remapped by
/// `--gateway-port LISTENER_PORT=LOCAL_PORT`; matching always uses the listener port).
struct gateway_listener_entry {
    std::uint16_t port = 0;
    protocol proto = protocol::http;
    std::string display;  // `gateway listener 8088 (http)`, for reply bodies and logs
    std::optional<listener_tls> tls;
    std::optional<routing::health_check> health_check;
    std::optional<routing::connection_pool> connection_pool;
    std::vector<std::uint32_t> route_ids;  // routes on this listener, in evaluation order
};

struct gateway_snapshot {
    std::uint64_t generation = 0;
    std::string mesh_name;
    std::string gateway_name;  // namespace/name
    std::string gateway_aws_name;
    std::vector<gateway_listener_entry> listeners;
    std::vector<compiled_gateway_route> routes;  // every attached route, by id
    /// The outbound side (never null): targets of the routes as backends, the gateway's
    /// backendDefaults.clientPolicy toward every target, its logging as `access_log`.
    std::shared_ptr<const snapshot> outbound;

    [[nodiscard]] const gateway_listener_entry* find_listener(std::uint16_t port) const;
};

/// What the data path publishes in gateway mode: the outbound snapshot (`gw->outbound`, whose
/// `gateway` points back at `gw`) sharing ownership of the whole gateway (aliasing constructor),
/// so holding the snapshot keeps `snapshot::gateway` alive. Null for a null `gw`.
[[nodiscard]] std::shared_ptr<const snapshot> published_snapshot(
    std::shared_ptr<const gateway_snapshot> gw);

// ---------------------------------------------------------------------------------------------
// Per request
// ---------------------------------------------------------------------------------------------

struct gateway_trace_entry {
    const compiled_gateway_route* route = nullptr;
    bool matched = false;
    std::string failed_condition;  // first failing condition, when not matched
};

struct gateway_decision {
    enum class outcome_t {
        matched,      // `route` matched
        no_listener,  // the listener port is not one of the gateway's (a data-path bug)
        no_route,     // no attached route matches: 404 NR
    };
    outcome_t outcome = outcome_t::no_route;
    const gateway_listener_entry* listener = nullptr;
    const compiled_gateway_route* route = nullptr;
};

/// Matches one request that arrived on gateway listener `listener_port`. `req` is as for
/// routing::decide: path normalised without query, `host` without its port (a Host with a port is
/// matched on the name alone: App Mesh roadmap #365, docs/gateway.md). Pure; when `trace` is
/// non-null every evaluated route is appended with its result.
[[nodiscard]] gateway_decision gateway_decide(const gateway_snapshot& gw,
                                              std::uint16_t listener_port,
                                              const request_view& req,
                                              std::vector<gateway_trace_entry>* trace = nullptr);

/// The request as the matched route rewrites it. The caller owns it (reuse it per request); the
/// view returned by outbound_request() points into it.
struct gateway_rewrite {
    std::string path;       // path sent upstream: normalised, no query (the query is kept as is)
    std::string authority;  // Host / :authority sent upstream
    bool path_rewritten = false;
    /// False: the client's Host is sent unchanged (defaultTargetHostname DISABLED); `authority`
    /// then holds it as `host[:port]`, for explain.
    bool authority_rewritten = false;
};

/// Applies `route`'s rewrites (docs/gateway.md "Rewrites") to `req`, into `out`.
void rewrite_request(const compiled_gateway_route& route, const request_view& req,
                     gateway_rewrite& out);

/// The outbound request: `req` with the rewritten path, host = the target virtual service's
/// awsName and port = action.target.port (none: the provider's single listener, DECISIONS §2).
/// The target is fixed by the route, so it is looked up by awsName even when the Host header
/// sent upstream is the client's (defaultTargetHostname DISABLED). Points into `req` and `rw`.
[[nodiscard]] request_view outbound_request(const compiled_gateway_route& route,
                                            const request_view& req, const gateway_rewrite& rw);

struct gateway_result {
    gateway_decision gateway;
    /// routing::decide() on gw.outbound for the rewritten request; meaningful only when
    /// gateway.outcome == matched.
    route_decision outbound;
};

/// gateway_decide → rewrite_request (into `rw`) → decide(*gw.outbound, outbound_request(...)).
/// `random` as for decide. Traces are appended when non-null.
[[nodiscard]] gateway_result route_gateway_request(
    const gateway_snapshot& gw, std::uint16_t listener_port, const request_view& req,
    std::uint32_t random, gateway_rewrite& rw,
    std::vector<gateway_trace_entry>* gateway_trace = nullptr,
    std::vector<route_trace_entry>* route_trace = nullptr);

/// `prefix /paths`, `path /a`, `path ~ /re/`, `hostname *.example.com`, `method GET`, ...: the
/// route's match, for explain.
[[nodiscard]] std::string describe_match(const compiled_gateway_route& route);

/// `prefix /paths -> /`, `path -> /blue`, `none`: the route's path rewrite, for explain.
[[nodiscard]] std::string describe_rewrite(const compiled_gateway_route& route);

}  // namespace outrigger::routing
