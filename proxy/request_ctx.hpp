#pragma once
// Per-request state shared by the downstream session and the forwarder (Pingora's "one context
// object per request"). Lives on the session coroutine's frame for one request.
//
// Thread-affinity: worker-local.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "proxy/app_pool_limits.hpp"
#include "routing/snapshot.hpp"

namespace outrigger::proxy {

class worker;

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
    /// Ingress only: the listener's http connection pool limits and their shared counters.
    const routing::connection_pool* pool_limit = nullptr;
    pool_counters* limit_counters = nullptr;
    std::string_view what;        // for reply bodies: `node "ns/name"`, `host "x"`, `local app`
};

struct request_ctx {
    worker& w;
    boost::beast::tcp_stream& down;
    boost::beast::flat_buffer& down_buf;
    boost::beast::http::request_parser<boost::beast::http::buffer_body>& parser;
    std::vector<char>& replay;  // request body buffer (replay_buffer bytes)
    std::vector<char>& chunk;   // response relay buffer

    bool client_keep_alive = true;
    unsigned client_version = 11;
    bool head_request = false;
    bool expect_continue = false;
    upstream_choice up;

    // Outcome, for the access log and the session.
    unsigned status = 0;
    std::uint32_t flags = 0;
    std::uint32_t attempts = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    bool close_after = false;        // close the downstream connection after this exchange
    bool response_started = false;   // a response byte went downstream
    boost::asio::ip::tcp::endpoint upstream_ep;
};

}  // namespace outrigger::proxy
