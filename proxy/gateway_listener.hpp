#pragma once
// Gateway mode (issue 18; spec §7, §8, §10.15; docs/gateway.md "The data path"): the step a
// request on a VirtualGateway listener takes between its parsed head and the egress path.
//
//   1. the listener's own health check (GET/HEAD of `healthCheck.path`) is answered here;
//   2. the GatewayRoutes of the listener are matched and the route's rewrites computed
//      (routing::route_gateway_request);
//   3. the rewritten request is routed on the gateway's outbound snapshot, which the session
//      then serves exactly as the egress listener serves a decision (proxy/downstream_session.cpp
//      `serve_decision`): router routes, weighted targets, retries, timeouts, outlier detection,
//      backendDefaults client TLS.
//
// The worker's snapshot in gateway mode is the outbound snapshot published by
// routing::published_snapshot (its `gateway` points at the gateway table and is kept alive by
// it), so one pinned pointer gives a request both tables, their TLS contexts and counter slots.
//
// Protocols: every gateway listener is served with the HTTP/1.1 codec for now. `http2` and
// `grpc` listeners are bound too and served as HTTP/1.1 (their routes match HTTP/1.1 requests),
// with a start-up warning (`gateway_protocol_warnings`): the HTTP/2 codec is another issue, and
// once the session detects HTTP/2 on its first bytes a gateway listener gets it like every other
// listener. gRPC clients cannot reach a grpc listener until then.
//
// Thread-affinity: stateless functions; called on the worker that owns the connection.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "routing/gateway.hpp"
#include "routing/snapshot.hpp"

namespace outrigger::proxy {

/// What the gateway step decided for one request.
struct gateway_step {
    enum class kind_t {
        routed,        // a GatewayRoute matched: serve `outbound` (which may itself refuse)
        health_check,  // the listener's healthCheck path: the gateway answers it itself
        no_route,      // no GatewayRoute of the listener matches: 404 NR
        no_listener,   // the listener is not in the current snapshot (a reload removed it): 404 NR
    };
    kind_t kind = kind_t::no_route;
    const routing::gateway_listener_entry* listener = nullptr;
    const routing::compiled_gateway_route* route = nullptr;
    routing::route_decision outbound;  // kind routed
};

/// Matches one request that arrived on gateway listener `listener_port` (the manifest's port).
/// `view` is as for routing::decide (normalised path without query, host without its port);
/// `rw` receives the route's rewrite (kind routed). Pure.
[[nodiscard]] gateway_step gateway_route_request(const routing::gateway_snapshot& gw,
                                                 std::uint16_t listener_port,
                                                 const routing::request_view& view,
                                                 std::uint32_t random, routing::gateway_rewrite& rw);

/// True when `listener` answers `method path` itself: its healthCheck has protocol http or http2
/// and `path` (normalised, no query) is the check's path, for GET and HEAD.
[[nodiscard]] bool is_gateway_health_probe(const routing::gateway_listener_entry& listener,
                                           std::string_view method, std::string_view path);

/// The health-check answer: `200` with body `healthy: gateway listener 8088 (http)` or, while the
/// proxy drains or after POST /healthcheck/fail, `503` `... is draining` / `... failed`.
[[nodiscard]] boost::beast::http::response<boost::beast::http::string_body> make_gateway_health_reply(
    const routing::gateway_listener_entry& listener, bool draining, bool failed, unsigned version,
    bool keep_alive);

/// The origin-form target sent upstream: the rewritten path, then `?query` when the client sent
/// a query (kept unchanged, as Envoy re-appends it after a rewrite).
void gateway_upstream_target(const routing::gateway_rewrite& rw, std::string_view query,
                             bool had_query, std::string& out);

/// The 404 NR sentence when no GatewayRoute matches, naming the gateway, request and listener.
[[nodiscard]] std::string no_gateway_route_sentence(const routing::gateway_snapshot& gw,
                                                    const routing::gateway_listener_entry* listener,
                                                    std::uint16_t listener_port,
                                                    std::string_view method, std::string_view path,
                                                    std::string_view host);

/// `gateway_8088`: the listener's name in metrics (`listener` label) and %LISTENER%.
[[nodiscard]] std::string gateway_listener_label(std::uint16_t listener_port);

/// One line per listener the data path serves differently from the manifest (http2/grpc served
/// as HTTP/1.1, a grpc or differently-ported health check not answered, an http2/grpc
/// connectionPool not enforced), for start-up and reload warnings.
[[nodiscard]] std::vector<std::string> gateway_protocol_warnings(const routing::gateway_snapshot& gw);

}  // namespace outrigger::proxy
