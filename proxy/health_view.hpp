#pragma once
// The result of active health checking (spec §10.13) as workers see it: the set of endpoints
// currently unhealthy. Built by the health checker, published to every worker as
// `shared_ptr<const health_view>` (like a routing snapshot), read by the worker without locks.
//
// Thread-affinity: immutable after construction; shared between threads.

#include <algorithm>
#include <cstdint>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace outrigger::proxy {

struct health_view {
    /// Sorted; binary-searched per endpoint choice (only for targets with a healthCheck).
    std::vector<boost::asio::ip::tcp::endpoint> unhealthy;
    std::uint64_t generation = 0;

    [[nodiscard]] bool is_unhealthy(const boost::asio::ip::tcp::endpoint& ep) const {
        return std::binary_search(unhealthy.begin(), unhealthy.end(), ep);
    }
};

}  // namespace outrigger::proxy
