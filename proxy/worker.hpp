#pragma once
// One worker: an `io_context{1}` run by one thread, its own SO_REUSEPORT acceptors for the egress
// and ingress listeners, its own snapshot copy, upstream pool, endpoint registry and RNG. A
// connection lives on the worker that accepted it (STYLE §2.3).
//
// Thread-affinity: constructed and bound on the starting thread; afterwards everything except
// `publish`, `stop` and `join` belongs to the worker thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/access_log.hpp"
#include "proxy/config.hpp"
#include "proxy/app_pool_limits.hpp"
#include "proxy/endpoint_registry.hpp"
#include "proxy/health_view.hpp"
#include "proxy/outlier_detector.hpp"
#include "proxy/random.hpp"
#include "proxy/resilience_counters.hpp"
#include "proxy/upstream_pool.hpp"
#include "routing/snapshot.hpp"

namespace outrigger::proxy {

enum class listener_kind { egress, ingress };

class worker {
public:
    worker(unsigned index, const server_config& cfg, std::shared_ptr<const routing::snapshot> snap,
           access_log* log);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    /// Opens, binds (SO_REUSEPORT) and listens. Returns the bound port, or 0 with `error` set.
    std::uint16_t listen(listener_kind kind, const boost::asio::ip::tcp::endpoint& ep,
                         std::string& error);
    /// Starts the accept loops and the worker thread.
    void start();
    /// Stops the io_context (connections are dropped; graceful drain is a later issue).
    void stop();
    void join();
    /// Posts a new snapshot to this worker (safe from any thread).
    void publish(std::shared_ptr<const routing::snapshot> snap);
    /// Posts a new health-check view to this worker (safe from any thread).
    void publish_health(std::shared_ptr<const health_view> view);
    /// Shared ingress pool counters (owned by the server); set before `start`.
    void set_pool_limits(const app_pool_limits* limits) { limits_ = limits; }

    // Worker-thread accessors for sessions.
    [[nodiscard]] boost::asio::io_context& ioc() { return *ioc_; }
    [[nodiscard]] const std::shared_ptr<const routing::snapshot>& snapshot() const { return snap_; }
    [[nodiscard]] const server_config& config() const { return cfg_; }
    [[nodiscard]] upstream_pool& pool() { return pool_; }
    [[nodiscard]] endpoint_registry& endpoints() { return *endpoints_; }
    [[nodiscard]] fast_rng& rng() { return rng_; }
    [[nodiscard]] unsigned index() const { return index_; }
    [[nodiscard]] access_log* log() const { return log_; }
    [[nodiscard]] outlier_detector& outliers() { return outliers_; }
    /// Null until the first health-check result; never null-dereferenced by callers.
    [[nodiscard]] const health_view* health() const { return health_.get(); }
    [[nodiscard]] const app_pool_limits* pool_limits() const { return limits_; }
    [[nodiscard]] resilience_counters& counters() { return counters_; }
    /// Read by the control thread after `join`.
    [[nodiscard]] resilience_counters counters_after_join() const {
        resilience_counters c = counters_;
        c.ejections = outliers_.ejections_total();
        return c;
    }

private:
    void start_sweeper();

    unsigned index_;
    const server_config& cfg_;
    // Declared first so it is destroyed last: sockets below need it alive.
    std::unique_ptr<boost::asio::io_context> ioc_;
    std::shared_ptr<const routing::snapshot> snap_;
    upstream_pool pool_;
    std::unique_ptr<endpoint_registry> endpoints_;
    fast_rng rng_;
    access_log* log_;
    outlier_detector outliers_;
    std::shared_ptr<const health_view> health_;
    const app_pool_limits* limits_ = nullptr;
    resilience_counters counters_;
    std::optional<boost::asio::ip::tcp::acceptor> egress_;
    std::optional<boost::asio::ip::tcp::acceptor> ingress_;
    std::optional<boost::asio::steady_timer> sweeper_;
    std::thread thread_;
};

}  // namespace outrigger::proxy
