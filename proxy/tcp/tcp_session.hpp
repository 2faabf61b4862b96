#pragma once
// One TCP connection through the proxy (issue 17 items 1–3 and 6), from accept to the access-log
// line: the caller decides where it goes (a `tcp_plan`, built by one of the `plan_tcp_*`
// functions below), `run_tcp_session` does the rest:
//   --max-connections slot → refusal (egress filter / no route) → connectionPool.tcp
//   .maxConnections (UO) → inbound TLS termination (STRICT / PERMISSIVE by first bytes, client
//   certificate and SAN checks by the listener's context) → endpoint choice (round robin, skipping
//   unhealthy and ejected endpoints, untried first) → connect with a deadline → client TLS
//   origination (SNI, SAN validation, client certificate, session resumption) → connect retries
//   (tcpRetryEvents connection-error / the default policy; only before any byte went upstream,
//   with Envoy's backoff) → outlier verdict on the connect → the tunnel (proxy/tcp/tunnel.hpp) →
//   one access-log line and the tcp counters.
//
// Response flags (Envoy's): NR refused (egress filter, no tcpRoute), UH no usable endpoint, UF
// connect/TLS failure after retries (+URX when retries were made), UO over maxConnections or
// --max-connections, UC upstream reset, SI idle timeout, DPE inbound TLS handshake refused.
//
// Thread-affinity: the worker that accepted the socket. The plan pins the snapshot, TLS contexts
// and ops state its pointers point into.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/app_pool_limits.hpp"
#include "proxy/tls_contexts.hpp"
#include "proxy/worker.hpp"
#include "routing/snapshot.hpp"
#include "routing/tcp_decide.hpp"
#include "tls/context_factory.hpp"

namespace outrigger::proxy {

/// Everything decided about one TCP connection before it runs.
struct tcp_plan {
    enum class kind_t {
        target,       // a mesh target (tcpRoute or node provider): its service discovery
        passthrough,  // unmodelled egress: `address` (the original destination), unchanged
        app,          // an inbound tcp listener: the local app at `host:port`
        refuse,       // refused before connecting: logged with `refuse_flags`, counted, closed
    };
    kind_t kind = kind_t::refuse;

    // Where.
    const routing::upstream_target* target = nullptr;  // target
    std::string host;                                  // target: discovery name; app: address
    std::uint16_t port = 0;
    bool all_addresses = false;                        // ENDPOINTS vs LOADBALANCER
    boost::asio::ip::tcp::endpoint address;            // passthrough

    // How.
    const routing::retry_spec* retry = nullptr;        // connect retries; null = none
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds idle_timeout{0};         // 0 = off
    std::int64_t max_connections = 0;                  // connectionPool.tcp; 0 = unlimited
    pool_counters* limit = nullptr;                    // its counter (shared by the workers)
    const tls::client_context* upstream_tls = nullptr; // TLS origination; null = plaintext
    std::string upstream_tls_error;                    // origination wanted, no context: UF
    const tls::server_context* downstream_tls = nullptr;  // inbound termination; null = none
    bool downstream_plaintext_ok = true;               // with downstream_tls: PERMISSIVE

    /// Bytes already read from downstream (the sniffer's): sent upstream before anything else.
    boost::beast::flat_buffer initial;

    // Refusal.
    std::uint32_t refuse_flags = 0;
    std::string refuse_reason;  // logged at info

    // What the log line and the counters say.
    std::string_view listener = "egress";                  // %LISTENER%
    std::string cluster;                                   // %UPSTREAM_CLUSTER%
    const routing::service_entry* service = nullptr;       // %VIRTUAL_SERVICE%
    const routing::compiled_route* route = nullptr;        // %ROUTE_NAME%
    std::string sni;                                       // %REQUESTED_SERVER_NAME%
    std::optional<boost::asio::ip::tcp::endpoint> original_destination;  // %DOWNSTREAM_LOCAL_ADDRESS%
    std::string what;                                      // diagnostics: `virtual node "ns/n"`
    std::uint32_t tcp_slot = UINT32_MAX;                   // metrics tcp family

    // Keep-alive of what the pointers above point into.
    std::shared_ptr<const routing::snapshot> snapshot;
    std::shared_ptr<const tls_contexts> tls;
    std::shared_ptr<const worker::ops_state> ops;
};

/// A routed TCP decision (`routing::decide_tcp` / `decide_tcp_service` on `*w.snapshot()`, with no
/// suspension in between: the plan pins that snapshot, into which `d` points) as a plan; a decision that is not `routed` becomes a refusal (NR no route / UH no provider /
/// NR not a TCP backend). Idle timeout: the decision's, else `cfg.downstream_idle` (300 s).
[[nodiscard]] tcp_plan plan_tcp_target(worker& w, const routing::tcp_decision& d);

/// Unmodelled egress to `destination` (transparent mode: the original destination), e.g. TLS
/// passed through by SNI or opaque TCP. `sni` is logged. Idle: `cfg.downstream_idle`.
[[nodiscard]] tcp_plan plan_tcp_passthrough(worker& w, const boost::asio::ip::tcp::endpoint& destination,
                                            std::string sni);

/// A connection refused before connecting (flags NR/UH/…, one sentence for the info log).
[[nodiscard]] tcp_plan plan_tcp_refusal(worker& w, std::uint32_t flags, std::string reason);

/// Inbound: this node's listener on `port` when its protocol is tcp (else nullopt): the local app
/// at `--app-address:port`, the listener's tls (STRICT / PERMISSIVE), `connectionPool.tcp
/// .maxConnections` and `timeout.tcp.idle` (unset: `cfg.downstream_idle`). No retries, no outlier
/// detection (spec §10.8).
[[nodiscard]] std::optional<tcp_plan> plan_tcp_ingress(worker& w, std::uint16_t port);

/// Runs one TCP connection to its end (see the header comment). Never throws; closes `down`.
[[nodiscard]] boost::asio::awaitable<void> run_tcp_session(worker& w,
                                                           boost::asio::ip::tcp::socket down,
                                                           tcp_plan plan);

}  // namespace outrigger::proxy
