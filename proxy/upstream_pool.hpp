#pragma once
// Per-worker pool of idle HTTP/1.1 upstream connections, keyed by endpoint address and TLS
// identity: `tls_identity` is the `tls::client_context::id()` the connection was made with (0 =
// plaintext). One context exists per distinct (mode, SNI, client cert, trust, SANs), and a
// rotated context gets a new id, so a pooled connection is only reused by requests that would
// have made the same handshake (STYLE §2.7). A connection is exclusively owned while in use and
// returns only after a complete keep-alive response; anything else closes it (STYLE §2.7).
//
// Thread-affinity: worker-local.

#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "proxy/flex_stream.hpp"
#include "proxy/app_pool_limits.hpp"

namespace outrigger::proxy {

struct upstream_connection {
    explicit upstream_connection(const boost::asio::any_io_executor& ex) : stream(ex) {}
    flex_stream stream;
    boost::beast::flat_buffer buffer;
    boost::asio::ip::tcp::endpoint peer;
    std::uint64_t tls_identity = 0;  // client context id, 0 = plaintext
    bool tls_session_saved = false;  // session offered to the worker's cache (after first read)
    std::chrono::steady_clock::time_point idle_since{};
    std::uint32_t requests = 0;  // requests sent on this connection so far
    open_slot limit_slot;        // ingress maxConnections accounting (empty when unlimited)
};

class upstream_pool {
public:
    upstream_pool(std::chrono::milliseconds idle_timeout, std::size_t max_idle_per_endpoint)
        : idle_timeout_(idle_timeout), max_idle_(max_idle_per_endpoint) {}
    upstream_pool(const upstream_pool&) = delete;
    upstream_pool& operator=(const upstream_pool&) = delete;

    /// An idle connection to `peer` (most recently used first), or null. Expired ones are closed.
    [[nodiscard]] std::unique_ptr<upstream_connection> acquire(
        const boost::asio::ip::tcp::endpoint& peer, std::uint64_t tls_identity = 0);
    /// Returns a connection after a complete keep-alive exchange.
    void release(std::unique_ptr<upstream_connection>&& conn);
    /// Closes connections idle for longer than the idle timeout.
    void sweep();
    void clear() { idle_.clear(); }

    [[nodiscard]] std::size_t idle_count() const;

private:
    struct pool_key {
        boost::asio::ip::tcp::endpoint peer;
        std::uint64_t tls_identity = 0;
        bool operator==(const pool_key&) const = default;
    };
    struct endpoint_hash {
        std::size_t operator()(const pool_key& k) const noexcept;
    };
    std::chrono::milliseconds idle_timeout_;
    std::size_t max_idle_;
    std::unordered_map<pool_key, std::vector<std::unique_ptr<upstream_connection>>, endpoint_hash>
        idle_;
};

}  // namespace outrigger::proxy
