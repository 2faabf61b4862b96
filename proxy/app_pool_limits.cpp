#include "proxy/app_pool_limits.hpp"

#include "routing/gateway.hpp"

namespace outrigger::proxy {

app_pool_limits::app_pool_limits(const routing::snapshot* snap) {
    if (snap == nullptr) {
        return;
    }
    // Gateway mode: one slot per gateway listener (its connectionPool, spec §10.12).
    if (snap->gateway != nullptr) {
        for (const auto& l : snap->gateway->listeners) {
            auto c = std::make_unique<pool_counters>();
            c->port = l.port;
            slots_.push_back(std::move(c));
        }
        return;
    }
    for (const auto& l : snap->ingress) {
        auto c = std::make_unique<pool_counters>();
        c->port = l.port;
        slots_.push_back(std::move(c));
    }
}

pool_counters* app_pool_limits::find(std::uint16_t port) const {
    for (const auto& s : slots_) {
        if (s->port == port) {
            return s.get();
        }
    }
    return nullptr;
}

std::uint64_t app_pool_limits::overflows() const {
    std::uint64_t n = 0;
    for (const auto& s : slots_) {
        n += s->overflows.load();
    }
    return n;
}

}  // namespace outrigger::proxy
