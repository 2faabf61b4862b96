#include "proxy/outlier_detector.hpp"

#include <algorithm>
#include <functional>

namespace outrigger::proxy {

std::size_t outlier_detector::endpoint_hash::operator()(const endpoint& ep) const noexcept {
    std::size_t h = std::hash<unsigned short>{}(ep.port());
    const auto& a = ep.address();
    if (a.is_v4()) {
        h ^= std::hash<unsigned long>{}(a.to_v4().to_uint()) * 0x9e3779b97f4a7c15ULL;
    } else {
        for (unsigned char b : a.to_v6().to_bytes()) {
            h = h * 131 + b;
        }
    }
    return h;
}

void outlier_detector::maybe_return(host_state& h, const routing::outlier_detection& cfg,
                                    clock_type::time_point now) {
    if (!h.ejected || now < h.returns_at) {
        return;
    }
    h.ejected = false;
    h.consecutive = 0;
    h.returned_at = h.returns_at;
    (void)cfg;
}

bool outlier_detector::is_ejected(const endpoint& ep, const routing::outlier_detection& cfg,
                                  clock_type::time_point now) {
    auto it = hosts_.find(ep);
    if (it == hosts_.end()) {
        return false;
    }
    maybe_return(it->second, cfg, now);
    return it->second.ejected;
}

bool outlier_detector::record(const endpoint& ep, const routing::outlier_detection& cfg,
                              bool failure, std::span<const endpoint> peers,
                              clock_type::time_point now) {
    if (!failure) {
        auto it = hosts_.find(ep);
        if (it != hosts_.end()) {
            maybe_return(it->second, cfg, now);
            it->second.consecutive = 0;
        }
        return false;
    }
    host_state& h = hosts_[ep];
    maybe_return(h, cfg, now);
    if (h.ejected) {
        return false;  // a request that was already in flight when the host was ejected
    }
    ++h.consecutive;
    if (cfg.max_server_errors <= 0 ||
        h.consecutive < static_cast<std::uint64_t>(cfg.max_server_errors)) {
        return false;
    }
    // maxEjectionPercent over the target's endpoints; at least one host may always be ejected.
    std::size_t ejected = 0;
    for (const auto& p : peers) {
        if (p == ep) {
            continue;
        }
        auto it = hosts_.find(p);
        if (it != hosts_.end()) {
            maybe_return(it->second, cfg, now);
            if (it->second.ejected) {
                ++ejected;
            }
        }
    }
    const std::size_t total = std::max<std::size_t>(peers.size(), 1);
    if (ejected > 0 &&
        (ejected + 1) * 100 > static_cast<std::size_t>(std::max<std::int64_t>(cfg.max_ejection_percent, 0)) * total) {
        return false;  // cap reached: keep counting, eject once another host returns
    }
    const auto interval = std::max(cfg.interval.to_ms(), std::chrono::milliseconds(1));
    // Decay: one step per full interval spent un-ejected since the last return.
    if (h.multiplier > 0 && h.returned_at != clock_type::time_point{}) {
        const auto healthy_intervals =
            static_cast<std::uint64_t>((now - h.returned_at) / interval);
        h.multiplier = static_cast<std::uint32_t>(
            healthy_intervals >= h.multiplier ? 0 : h.multiplier - healthy_intervals);
    }
    ++h.multiplier;
    const auto duration = std::min<std::chrono::milliseconds>(
        cfg.base_ejection_duration.to_ms() * h.multiplier, max_ejection_time);
    h.ejected = true;
    h.ejected_at = now;
    // The sweep runs every `interval`: the host returns at the first tick at or after
    // ejected_at + duration.
    const auto ticks = (duration + interval - std::chrono::milliseconds(1)) / interval;
    h.returns_at = now + interval * ticks;
    h.consecutive = 0;
    ++ejections_total_;
    return true;
}

}  // namespace outrigger::proxy
