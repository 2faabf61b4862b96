#pragma once
// Counters and histograms per listener, virtual service, route, target cluster and endpoint,
// kept per worker and summed on scrape (STYLE §3.5).
//
// Layout: every family (listener, vhost, route, cluster, endpoint) names its members by a key
// (their labels). The control thread turns a snapshot into a `stats_map` of slot indices when it
// publishes (names → slots, under `mu_`); workers then bump `stat_slot`s by index, never by name.
// A slot keeps its identity across reloads as long as its name does, so counters survive a reload.
// Endpoints appear at run time (DNS): a worker resolves an endpoint's slot once under the mutex
// and caches it in its own map.
//
// Storage per worker and family is a segmented array (chunk k holds 64·2^k slots) whose chunks are
// allocated before any index into them is handed out and never move, so the admin thread can read
// while workers write. Each counter is a std::atomic<uint64_t> written only by its worker with
// relaxed load+store (no lock prefix, uncontended) and read with relaxed loads by the admin thread.
//
// Thread-affinity: `slot()`/`map_for()`/`endpoint_slot()`/`render_*()` from any thread (mutex);
// `at()` from the owning worker.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "routing/snapshot.hpp"

namespace outrigger::proxy {

/// `tcp`: one member per TCP proxy stat prefix (a tcp target cluster, a tcp ingress listener,
/// TCP passthrough), Envoy's `tcp.<stat_prefix>.*` (proxy/tcp/tcp_session.hpp).
/// `gateway_route`: one member per GatewayRoute of the gateway being run (gateway mode).
enum class stat_family : std::uint8_t { listener = 0, vhost, route, cluster, endpoint, tcp, gateway_route };
inline constexpr std::size_t stat_family_count = 7;

/// Upper bounds (milliseconds) of the request-duration histogram: Envoy's default buckets.
inline constexpr std::array<double, 19> duration_buckets_ms = {
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
    1800000, 3600000};
inline constexpr std::size_t max_flags = 16;

/// One member's counters on one worker. Only that worker writes.
struct stat_slot {
    using counter = std::atomic<std::uint64_t>;
    counter rq_total{0};
    std::array<counter, 5> rq_xx{};  // 1xx..5xx
    std::array<counter, max_flags> flags{};  // by response-flag bit
    counter rq_retry{0};
    counter rq_timeout{0};
    counter ejections{0};          // bumped by outlier detection (resilience)
    counter rq_pending_overflow{0};
    counter rq_active{0};          // gauge: inc/dec on the same worker
    counter cx_total{0};           // listeners
    counter cx_active{0};          // listeners (gauge)
    counter cx_rx_bytes{0};        // tcp: bytes received from downstream
    counter cx_tx_bytes{0};        // tcp: bytes sent to downstream
    std::array<counter, duration_buckets_ms.size() + 1> rq_time{};  // non-cumulative, +Inf last
    counter rq_time_sum_us{0};

    static void inc(counter& c, std::uint64_t n = 1) {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    static void dec(counter& c) { c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed); }
    /// Counts one finished request: total, status class, flags, retries, timeout, duration.
    void record(unsigned status, std::uint32_t flag_bits, std::uint32_t attempts,
                std::chrono::microseconds duration);
};

/// Slot indices of one snapshot's members (index = position in the snapshot's vectors).
struct stats_map {
    std::vector<std::uint32_t> services;  // snapshot::services
    std::vector<std::uint32_t> routes;    // snapshot::routes
    std::vector<std::uint32_t> targets;   // snapshot::targets (cluster family)
    std::vector<std::uint32_t> ingress;   // snapshot::ingress (cluster family: the local app)
    std::uint32_t passthrough = 0;        // cluster family: unmodelled egress
    std::uint32_t listener_egress = 0;    // listener family
    std::uint32_t listener_ingress = 0;
    // tcp family (UINT32_MAX where the member is not tcp).
    std::vector<std::uint32_t> tcp_targets;  // snapshot::targets with protocol tcp
    std::vector<std::uint32_t> tcp_ingress;  // snapshot::ingress listeners with protocol tcp
    std::uint32_t tcp_passthrough = 0;       // TLS by SNI and opaque TCP (transparent egress)
    // Gateway mode (snapshot::gateway set): listener family `gateway_<listener port>` per
    // gateway listener, and the gateway_route family per route (by compiled_gateway_route::id).
    std::vector<std::pair<std::uint16_t, std::uint32_t>> listener_gateway;  // (listener port, slot)
    std::vector<std::uint32_t> gateway_routes;  // gateway_snapshot::routes
    /// The listener slot of gateway listener `port`; UINT32_MAX when this map has none.
    [[nodiscard]] std::uint32_t gateway_listener_slot(std::uint16_t port) const {
        for (const auto& [p, slot] : listener_gateway) {
            if (p == port) {
                return slot;
            }
        }
        return UINT32_MAX;
    }
};

class metrics {
public:
    explicit metrics(unsigned workers);
    ~metrics();
    metrics(const metrics&) = delete;
    metrics& operator=(const metrics&) = delete;

    /// Slot for a member named by its labels (created on first use, in every worker).
    std::uint32_t slot(stat_family f, const std::vector<std::pair<std::string, std::string>>& labels);
    /// Resolves every member of `snap` to its slot.
    std::shared_ptr<const stats_map> map_for(const routing::snapshot& snap);
    /// Endpoint slot of `endpoint` ("addr:port") in cluster slot `cluster` (worker, on a cache miss).
    std::uint32_t endpoint_slot(std::uint32_t cluster, const std::string& endpoint);

    [[nodiscard]] stat_slot& at(unsigned worker, stat_family f, std::uint32_t idx) {
        return arrays_[worker * stat_family_count + static_cast<std::size_t>(f)]->at(idx);
    }

    // Process-wide counters (control/admin thread).
    std::atomic<std::uint64_t> config_reload_success{0};
    std::atomic<std::uint64_t> config_reload_failed{0};
    std::atomic<std::uint64_t> config_reload_skipped{0};
    std::atomic<std::uint64_t> access_log_dropped_base{0};  // filled from the sink on scrape

    /// Prometheus text exposition format (version 0.0.4).
    [[nodiscard]] std::string render_prometheus(const std::vector<std::pair<std::string, double>>& gauges) const;
    /// Envoy's /stats plain text: `name: value` per line, sorted.
    [[nodiscard]] std::string render_envoy(const std::vector<std::pair<std::string, double>>& gauges) const;

    /// Sum over workers of one counter of one member (tests, /clusters).
    struct totals {
        std::uint64_t rq_total = 0, rq_retry = 0, rq_timeout = 0, ejections = 0, overflow = 0,
                      rq_active = 0, cx_total = 0, cx_active = 0, rq_time_sum_us = 0,
                      cx_rx_bytes = 0, cx_tx_bytes = 0;
        std::array<std::uint64_t, 5> rq_xx{};
        std::array<std::uint64_t, max_flags> flags{};
        std::array<std::uint64_t, duration_buckets_ms.size() + 1> rq_time{};
    };
    struct member {
        stat_family family;
        std::vector<std::pair<std::string, std::string>> labels;
        std::uint32_t parent = UINT32_MAX;  // endpoint: its cluster slot
        totals t;
    };
    /// Every member with its summed counters.
    [[nodiscard]] std::vector<member> collect() const;

private:
    class slot_array {
    public:
        slot_array();
        ~slot_array();
        void ensure(std::size_t n);  // under metrics::mu_
        [[nodiscard]] stat_slot& at(std::uint32_t i);
    private:
        static constexpr std::size_t max_chunks = 24;
        std::array<std::atomic<stat_slot*>, max_chunks> chunks_{};
    };
    struct family_names {
        std::map<std::string, std::uint32_t> by_key;
        std::vector<std::vector<std::pair<std::string, std::string>>> labels;
        std::vector<std::uint32_t> parent;
    };

    std::uint32_t slot_locked(stat_family f, const std::vector<std::pair<std::string, std::string>>& labels,
                              std::uint32_t parent);

    unsigned workers_;
    std::vector<std::unique_ptr<slot_array>> arrays_;  // [worker * families + family]
    mutable std::mutex mu_;
    std::array<family_names, stat_family_count> names_;
};

}  // namespace outrigger::proxy
