#pragma once
// Endpoints of upstream hosts (spec §10.6): DNS names resolved asynchronously with the Asio
// resolver, refreshed every `dns_refresh` (5 s), LOADBALANCER (first address) or ENDPOINTS (all
// addresses, round robin), with `--connect-to` overrides applied first.
//
// Design choice: one registry per worker, resolving on that worker's own io_context. Asio's
// resolver runs getaddrinfo on an internal helper thread, so the worker never blocks, and the
// results stay worker-local (no publication, no locks). The price is one lookup per name per
// worker per refresh interval, which is negligible for a sidecar's handful of names.
// Refresh is lazy: a request that finds stale addresses uses them and starts a background
// refresh; a request that finds none waits for the lookup.
// Several `--connect-to` rules for the same HOST:PORT whose targets are IP literals give a static
// endpoint list (one endpoint per rule, in order): the way to run an ENDPOINTS-mode service with
// several local endpoints on a laptop (bench/fault.sh).
//
// Thread-affinity: worker-local.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/config.hpp"

namespace outrigger::proxy {

class endpoint_registry {
public:
    endpoint_registry(boost::asio::io_context& ioc, const server_config& cfg);
    endpoint_registry(const endpoint_registry&) = delete;
    endpoint_registry& operator=(const endpoint_registry&) = delete;

    /// Picks the endpoint to connect to for `host:port`. Returns an unspecified (port 0)
    /// endpoint when the name has no address (DNS empty or failed): the caller replies 503 UH.
    boost::asio::awaitable<boost::asio::ip::tcp::endpoint> pick(std::string_view host,
                                                                std::uint16_t port,
                                                                bool all_addresses);

    /// All addresses of `host:port` (after --connect-to, resolved as `pick` does) and a rotating
    /// start index for round robin (advanced when `rotate`). The span stays valid until the
    /// caller next suspends (another coroutine of this worker may refresh the entry then).
    struct address_set {
        std::span<const boost::asio::ip::tcp::endpoint> addrs;
        std::size_t start = 0;
    };
    boost::asio::awaitable<address_set> resolve(std::string_view host, std::uint16_t port,
                                                bool rotate);

private:
    struct entry {
        std::string host;  // after --connect-to
        std::uint16_t port = 0;
        std::vector<boost::asio::ip::tcp::endpoint> addrs;
        std::size_t next = 0;
        std::chrono::steady_clock::time_point resolved_at{};
        bool resolving = false;
        bool literal = false;  // IP literal: never resolved
    };

    entry& find_or_create(std::string_view host, std::uint16_t port);
    boost::asio::awaitable<void> refresh(entry& e);

    boost::asio::io_context& ioc_;
    const server_config& cfg_;
    // Key "host:port" as requested (before --connect-to). Entries are only erased when the map
    // is full, and never while being resolved (a refresh holds a reference).
    std::unordered_map<std::string, std::unique_ptr<entry>> entries_;
    std::string key_buf_;  // reused to build lookup keys without allocating
};

}  // namespace outrigger::proxy
