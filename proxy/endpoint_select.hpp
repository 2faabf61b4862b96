#pragma once
// Endpoint choice of one attempt (STYLE §2.4 / §2.5): round robin from a rotating start, skipping
// endpoints that are unhealthy (active health checks) or ejected (outlier detection), and
// preferring one that this request has not tried yet. Pure; the predicates carry the state.
//
// Thread-affinity: stateless.

#include <cstddef>
#include <optional>

namespace outrigger::proxy {

/// Index in [0, n) of the endpoint to use, or nullopt when no endpoint is usable (503 UH).
/// Scans from `start % n`; the first usable and untried index wins, else the first usable one.
template <class Usable, class Tried>
[[nodiscard]] std::optional<std::size_t> select_endpoint(std::size_t n, std::size_t start,
                                                         Usable&& usable, Tried&& tried) {
    std::optional<std::size_t> fallback;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t j = (start + i) % n;
        if (!usable(j)) {
            continue;
        }
        if (!tried(j)) {
            return j;
        }
        if (!fallback) {
            fallback = j;
        }
    }
    return fallback;
}

}  // namespace outrigger::proxy
