#pragma once
// Runtime options of the data path (DECISIONS §1 `run` flags and §3.3 timeouts), filled by
// `cli/run_cmd.cpp` or by tests. Immutable once the server starts; every worker reads it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace outrigger::proxy {

/// `--connect-to HOST:PORT:ADDR:PORT` (curl semantics): wherever discovery says HOST:PORT,
/// connect to ADDR:PORT instead. An empty `host` matches every host, port 0 every port.
struct connect_to_rule {
    std::string host;  // lower-case
    std::uint16_t port = 0;
    std::string addr;
    std::uint16_t addr_port = 0;
};

/// Test hook in front of DNS: returns true and fills `out` to answer `host` itself. Called on
/// worker threads, so it must be thread-safe (tests pass pure functions).
using resolve_hook =
    std::function<bool(std::string_view host, std::vector<boost::asio::ip::address>& out)>;

enum class log_level { error = 0, warn = 1, info = 2, debug = 3 };

/// `--gateway-port LISTENER_PORT=LOCAL_PORT`: bind the gateway listener LISTENER_PORT (a
/// `spec.listeners[].portMapping.port`) on LOCAL_PORT instead (0 = any free port), for local runs
/// and tests. Matching (`match.port`) still uses LISTENER_PORT.
struct gateway_port_rule {
    std::uint16_t listener_port = 0;
    std::uint16_t local_port = 0;
};

/// `--tcp-listen [ADDR:]LOCALPORT=SERVICE:PORT` (DECISIONS §5, issue 17): bind LOCALPORT on ADDR
/// and send every connection to the TCP backend SERVICE on its tcp port PORT
/// (proxy/tcp/tcp_listen.hpp parses and checks it).
struct tcp_listen_spec {
    std::string address = "127.0.0.1";  // ADDR (IPv6 without brackets)
    std::uint16_t local_port = 0;       // LOCALPORT (0: any free port, printed at start)
    std::string service;                // SERVICE
    std::uint16_t port = 0;             // PORT of the service's tcp listener
    std::string text;                   // the flag value as given (for messages)
};

struct server_config {
    std::string egress_address = "127.0.0.1";
    std::uint16_t egress_port = 15001;
    std::string ingress_address = "0.0.0.0";
    std::uint16_t ingress_port = 15000;
    std::string app_address = "127.0.0.1";
    unsigned workers = 1;
    std::vector<connect_to_rule> connect_to;
    log_level level = log_level::warn;
    std::string access_log_path;       // empty: off; "-": stdout
    std::string access_log_format = "envoy";
    bool transparent = false;  // egress: SO_ORIGINAL_DST gives P and the passthrough address
    bool access_log_format_set = false;  // --access-log-format given: overrides the node's format

    // Ingress gateway mode (DECISIONS §5, issue 18): set by `run --gateway` or App Mesh's env
    // naming a virtualGateway. The egress and ingress listeners are not opened then; one listener
    // per gateway listener is, on `gateway_address`.
    std::string gateway;                    // as given (NAME, NS/NAME, mesh/M/virtualGateway/N)
    std::string gateway_address = "0.0.0.0";
    std::vector<gateway_port_rule> gateway_ports;
    /// The port to bind for gateway listener `listener_port` (itself unless remapped).
    [[nodiscard]] std::uint16_t gateway_local_port(std::uint16_t listener_port) const {
        for (const auto& r : gateway_ports) {
            if (r.listener_port == listener_port) {
                return r.local_port;
            }
        }
        return listener_port;
    }

    std::vector<tcp_listen_spec> tcp_listen;  // --tcp-listen, in flag order

    std::chrono::milliseconds downstream_idle{300'000};  // DECISIONS §3.3
    std::chrono::milliseconds upstream_idle{60'000};
    std::chrono::milliseconds connect_timeout{5'000};
    std::chrono::milliseconds dns_refresh{5'000};
    std::size_t header_limit = 60 * 1024;   // bytes of the request head → 431
    std::size_t max_headers = 100;          // header count → 431
    std::size_t replay_buffer = 64 * 1024;  // request body buffered for retries
    std::size_t max_idle_per_endpoint = 256;
    // Hardening (docs/decisions.md "Hardening").
    std::chrono::milliseconds header_timeout{10'000};  // first byte of a head → whole head, else 408
    std::uint64_t max_request_body = 0;                 // bytes; 0 = unlimited; over it → 413
    std::size_t max_connections = 0;                    // downstream connections per process; 0 = unlimited

    resolve_hook resolve_override_for_test;
    /// Test-only scale knob: when > 0 it replaces every healthCheck `intervalMillis` (App Mesh
    /// validation requires >= 5000 ms, too slow for tests). Validation is unchanged; `timeoutMillis`
    /// and the thresholds still come from the mesh. Never set by `outrigger run`.
    std::chrono::milliseconds health_check_interval_override_for_test{0};
};

}  // namespace outrigger::proxy
