#pragma once
// Per-worker pool of idle HTTP/1.1 upstream connections, keyed by endpoint address (TLS identity
// joins the key when TLS origination lands). A connection is exclusively owned while in use and
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

#include "proxy/app_pool_limits.hpp"

namespace outrigger::proxy {

struct upstream_connection {
    explicit upstream_connection(const boost::asio::any_io_executor& ex) : stream(ex) {}
    boost::beast::tcp_stream stream;
    boost::beast::flat_buffer buffer;
    boost::asio::ip::tcp::endpoint peer;
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
        const boost::asio::ip::tcp::endpoint& peer);
    /// Returns a connection after a complete keep-alive exchange.
    void release(std::unique_ptr<upstream_connection>&& conn);
    /// Closes connections idle for longer than the idle timeout.
    void sweep();
    void clear() { idle_.clear(); }

    [[nodiscard]] std::size_t idle_count() const;

private:
    struct endpoint_hash {
        std::size_t operator()(const boost::asio::ip::tcp::endpoint& ep) const noexcept;
    };
    std::chrono::milliseconds idle_timeout_;
    std::size_t max_idle_;
    std::unordered_map<boost::asio::ip::tcp::endpoint,
                       std::vector<std::unique_ptr<upstream_connection>>, endpoint_hash>
        idle_;
};

}  // namespace outrigger::proxy
