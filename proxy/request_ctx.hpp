#pragma once
// Per-request state shared by the downstream session and the forwarder (Pingora's "one context
// object per request"). Lives on the session coroutine's frame for one request.
//
// Thread-affinity: worker-local.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "proxy/flex_stream.hpp"
#include "proxy/http_head.hpp"
#include "proxy/app_pool_limits.hpp"
#include "routing/snapshot.hpp"
#include "tls/context_factory.hpp"

namespace outrigger::routing {
struct compiled_gateway_route;  // routing/gateway.hpp
}  // namespace outrigger::routing

namespace outrigger::proxy {

class worker;
namespace http2 {
class connection;
struct stream;
}  // namespace http2

/// The HTTP/2 stream a request arrived on (null members: HTTP/1). Its body is read from the
/// stream and the response goes back on it (proxy/http2/h2_connection.hpp).
struct h2_downstream {
    http2::connection* conn = nullptr;
    http2::stream* st = nullptr;
    std::uint64_t body_seen = 0;  // request body bytes taken so far (--max-request-body)
    explicit operator bool() const noexcept { return st != nullptr; }
};

/// Where and how to send one request upstream.
struct upstream_choice {
    enum class kind_t { target, passthrough, app };
    kind_t kind = kind_t::target;
    const routing::upstream_target* target = nullptr;  // kind target
    std::string_view host;        // name to resolve (before --connect-to)
    std::uint16_t port = 0;
    bool all_addresses = false;   // ENDPOINTS vs LOADBALANCER
    const routing::retry_spec* retry = nullptr;  // null: no retries
    std::chrono::milliseconds per_request_timeout{0};  // 0: off
    std::chrono::milliseconds idle_timeout{0};  // route/listener `idle` (stream idle); 0: off
    /// Ingress and gateway listeners: their connectionPool (http: maxConnections and
    /// maxPendingRequests; http2/grpc: maxRequests) and its counters shared by all workers.
    const routing::connection_pool* pool_limit = nullptr;
    pool_counters* limit_counters = nullptr;
    std::string_view what;        // for reply bodies: `node "ns/name"`, `host "x"`, `local app`
    /// TLS origination (null: plaintext). Owned by the worker's pinned `tls_contexts`.
    const tls::client_context* tls = nullptr;
    /// Speak HTTP/2 to it (the target listener's protocol is http2 or grpc).
    bool h2 = false;
};

struct request_ctx {
    worker& w;
    flex_stream& down;
    boost::beast::flat_buffer& down_buf;
    request_head_parser& parser;  // its head(): the request, rewritten for the upstream
    std::vector<char>& replay;  // request body buffer (replay_buffer bytes)
    std::vector<char>& chunk;   // response relay buffer
    std::string& head;          // serialised head of the message being written (http_head.hpp)
    message_head& resp_head;    // the upstream response head (storage reused per connection)

    bool client_keep_alive = true;
    unsigned client_version = 11;
    bool head_request = false;
    bool expect_continue = false;
    upstream_choice up;
    h2_downstream h2;  // set when the request came on an HTTP/2 stream

    // Outcome, for the access log and the session.
    unsigned status = 0;
    std::uint32_t flags = 0;
    std::uint32_t attempts = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    bool close_after = false;        // close the downstream connection after this exchange
    bool response_started = false;   // a response byte went downstream
    boost::asio::ip::tcp::endpoint upstream_ep;
    std::uint32_t ejections = 0;     // endpoints outlier detection ejected during this request
    int grpc_status = -1;            // the gRPC status the client was given (-1: none seen)

    // For metrics and the access log (operations).
    const routing::service_entry* service = nullptr;  // virtual service matched (egress)
    const routing::compiled_route* route = nullptr;    // route matched (egress, router provider)
    const routing::ingress_listener* ingress = nullptr;  // node listener (ingress)
    /// Gateway mode: the GatewayRoute that matched (null otherwise, or when none did).
    const routing::compiled_gateway_route* gateway_route = nullptr;
    /// When set, the forwarder copies the upstream response head here (for %RESP(...)%).
    message_head* response_headers = nullptr;
    /// When the upstream response head arrived (for %RESPONSE_DURATION%); unset if it never did.
    std::optional<std::chrono::steady_clock::time_point> upstream_first_byte;
};

}  // namespace outrigger::proxy
