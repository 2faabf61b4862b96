#include "proxy/upstream_pool.hpp"

#include <algorithm>
#include <functional>

namespace outrigger::proxy {

std::size_t upstream_pool::endpoint_hash::operator()(const pool_key& k) const noexcept {
    const auto& ep = k.peer;
    std::size_t h = std::hash<unsigned short>{}(ep.port()) ^ (k.tls_identity * 0xff51afd7ed558ccdULL);
    const auto& a = ep.address();
    if (a.is_v4()) {
        h ^= std::hash<unsigned long>{}(a.to_v4().to_uint()) * 0x9e3779b97f4a7c15ULL;
    } else {
        const auto bytes = a.to_v6().to_bytes();
        for (unsigned char b : bytes) {
            h = h * 131 + b;
        }
    }
    return h;
}

std::unique_ptr<upstream_connection> upstream_pool::acquire(
    const boost::asio::ip::tcp::endpoint& peer, std::uint64_t tls_identity) {
    auto it = idle_.find(pool_key{peer, tls_identity});
    if (it == idle_.end()) {
        return nullptr;
    }
    auto& list = it->second;
    const auto now = std::chrono::steady_clock::now();
    while (!list.empty()) {
        auto conn = std::move(list.back());
        list.pop_back();
        if (now - conn->idle_since < idle_timeout_ && conn->stream.socket().is_open()) {
            return conn;
        }
        // expired: dropped (closed by its destructor)
    }
    return nullptr;
}

void upstream_pool::release(std::unique_ptr<upstream_connection>&& conn) {
    auto& list = idle_[pool_key{conn->peer, conn->tls_identity}];
    if (list.size() >= max_idle_) {
        return;  // over the per-endpoint cap: close it
    }
    conn->idle_since = std::chrono::steady_clock::now();
    conn->stream.expires_never();
    list.push_back(std::move(conn));
}

void upstream_pool::sweep() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& [peer, list] : idle_) {
        std::erase_if(list, [&](const std::unique_ptr<upstream_connection>& c) {
            return now - c->idle_since >= idle_timeout_;
        });
    }
}

std::size_t upstream_pool::idle_count() const {
    std::size_t n = 0;
    for (const auto& [peer, list] : idle_) {
        n += list.size();
    }
    return n;
}

}  // namespace outrigger::proxy
