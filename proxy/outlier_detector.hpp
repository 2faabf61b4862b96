#pragma once
// Outlier detection (spec §10.11): Envoy's consecutive-5xx algorithm, enforced by this (client)
// proxy per endpoint of a target node listener, with that listener's `outlierDetection`.
//
// Design choice: one detector per worker (see docs/decisions.md "Outlier detection per worker").
// A shared detector would converge faster (N workers see N times the failures) but needs either
// locks or cross-thread event posting on every response. Per worker, a dead endpoint is still
// ejected after `maxServerErrors` failures *per worker*; every one of those requests is a
// candidate for a retry on another host, so the client sees the difference only as a few more
// retries. Sidecars run 1–2 workers.
//
// The interval sweep is evaluated lazily: an ejected endpoint returns at the first sweep tick
// (multiples of `interval` since it was ejected) at or after its ejection time has elapsed,
// which is exactly when a timer-driven sweep would return it, without a timer per worker. The
// multiplier decays by one per full interval the endpoint stayed un-ejected (Envoy ≥ 1.22).
//
// Thread-affinity: worker-local. Time is passed in, so the class is unit-testable.

#include <chrono>
#include <cstdint>
#include <span>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>

#include "routing/mesh_model.hpp"

namespace outrigger::proxy {

class outlier_detector {
public:
    using clock_type = std::chrono::steady_clock;
    using endpoint = boost::asio::ip::tcp::endpoint;
    static constexpr std::chrono::milliseconds max_ejection_time{300'000};  // Envoy default

    /// Records the outcome of one attempt on `ep`. `failure` = 5xx response or a local failure
    /// (connect failure, reset, timeout). `peers` are all endpoints of the target (for the
    /// maxEjectionPercent cap). Returns true when this outcome ejected `ep`.
    bool record(const endpoint& ep, const routing::outlier_detection& cfg, bool failure,
                std::span<const endpoint> peers, clock_type::time_point now);

    /// True when `ep` is ejected at `now` (returns it first if its time is over).
    [[nodiscard]] bool is_ejected(const endpoint& ep, const routing::outlier_detection& cfg,
                                  clock_type::time_point now);

    [[nodiscard]] std::uint64_t ejections_total() const { return ejections_total_; }
    /// Forgets everything (tests, reload of a target's configuration).
    void clear() { hosts_.clear(); }

private:
    struct host_state {
        std::uint32_t consecutive = 0;
        std::uint32_t multiplier = 0;  // ejections, decayed while healthy
        bool ejected = false;
        clock_type::time_point ejected_at{};
        clock_type::time_point returns_at{};
        clock_type::time_point returned_at{};  // last return (decay reference)
    };
    struct endpoint_hash {
        std::size_t operator()(const endpoint& ep) const noexcept;
    };
    void maybe_return(host_state& h, const routing::outlier_detection& cfg,
                      clock_type::time_point now);

    std::unordered_map<endpoint, host_state, endpoint_hash> hosts_;
    std::uint64_t ejections_total_ = 0;
};

}  // namespace outrigger::proxy
