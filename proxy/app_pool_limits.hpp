#pragma once
// Connection pool limits of this node's own listeners toward the local app (spec §10.12, http
// `maxConnections` / `maxPendingRequests`): Envoy's circuit breaker counters for the ingress
// cluster of each listener port.
//
// Design choice: the counters are shared by all workers, as Envoy's are (a limit of 10
// connections means 10 for the proxy, not 10 per worker). They are plain atomics in a table
// whose shape is fixed at start-up (one slot per ingress listener port of the initial snapshot;
// a reload that adds a port gets no limit until restart, like listener ports themselves). No
// lock is taken: a request does one fetch_add/fetch_sub per connection it opens.
//
// Thread-affinity: the table is immutable after construction; the counters are atomics.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "routing/snapshot.hpp"

namespace outrigger::proxy {

struct pool_counters {
    std::uint16_t port = 0;
    std::atomic<std::int64_t> open{0};     // connections to the app, in use or idle in a pool
    std::atomic<std::int64_t> pending{0};  // requests waiting for a connection
    std::atomic<std::int64_t> active{0};   // requests in flight (http2/grpc `maxRequests`)
    std::atomic<std::uint64_t> overflows{0};
};

/// Holds one slot of `open`; releasing it (destruction) decrements the counter. Lives inside the
/// upstream connection, so a connection closed anywhere (error, idle sweep, pool cap) frees it.
class open_slot {
public:
    open_slot() = default;
    explicit open_slot(pool_counters* c) : c_(c) {}
    open_slot(open_slot&& o) noexcept : c_(o.c_) { o.c_ = nullptr; }
    open_slot& operator=(open_slot&& o) noexcept {
        if (this != &o) {
            reset();
            c_ = o.c_;
            o.c_ = nullptr;
        }
        return *this;
    }
    open_slot(const open_slot&) = delete;
    open_slot& operator=(const open_slot&) = delete;
    ~open_slot() { reset(); }
    void reset() {
        if (c_ != nullptr) {
            c_->open.fetch_sub(1, std::memory_order_relaxed);
            c_ = nullptr;
        }
    }
    [[nodiscard]] pool_counters* counters() const { return c_; }

private:
    pool_counters* c_ = nullptr;
};

/// Holds one in-flight request of an http2/grpc pool (`maxRequests`, spec §10.12): admitted
/// when fewer than `max` are in flight, else the caller answers 503 UO at once (no queue, as
/// Envoy's max_requests circuit breaker). Released by destruction.
class request_slot {
public:
    request_slot() = default;
    request_slot(const request_slot&) = delete;
    request_slot& operator=(const request_slot&) = delete;
    ~request_slot() {
        if (c_ != nullptr) {
            c_->active.fetch_sub(1, std::memory_order_relaxed);
        }
    }
    /// Takes a slot of `c` if fewer than `max` are taken; false (and an overflow counted) if not.
    bool admit(pool_counters& c, std::int64_t max) {
        if (c.active.fetch_add(1, std::memory_order_relaxed) < max) {
            c_ = &c;
            return true;
        }
        c.active.fetch_sub(1, std::memory_order_relaxed);
        c.overflows.fetch_add(1, std::memory_order_relaxed);
        return false;
    }

private:
    pool_counters* c_ = nullptr;
};

class app_pool_limits {
public:
    explicit app_pool_limits(const routing::snapshot* snap);
    app_pool_limits(const app_pool_limits&) = delete;
    app_pool_limits& operator=(const app_pool_limits&) = delete;

    /// The counters of ingress listener `port`, or null.
    [[nodiscard]] pool_counters* find(std::uint16_t port) const;
    [[nodiscard]] std::uint64_t overflows() const;

private:
    std::vector<std::unique_ptr<pool_counters>> slots_;
};

}  // namespace outrigger::proxy
