#pragma once
// One worker: an io_context run by one thread (hint UNSAFE_IO), its own SO_REUSEPORT acceptors for the egress
// and ingress listeners, its own snapshot copy, upstream pool, endpoint registry and RNG. A
// connection lives on the worker that accepted it (STYLE §2.3).
//
// Thread-affinity: constructed and bound on the starting thread; afterwards everything except
// `publish`, `stop` and `join` belongs to the worker thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/access_log.hpp"
#include "proxy/access_log_format.hpp"
#include "proxy/config.hpp"
#include "proxy/metrics.hpp"
#include "proxy/app_pool_limits.hpp"
#include "proxy/buffer_cache.hpp"
#include "proxy/background_executor.hpp"
#include "proxy/connection_limit.hpp"
#include "proxy/endpoint_registry.hpp"
#include "proxy/health_view.hpp"
#include "proxy/outlier_detector.hpp"
#include "proxy/random.hpp"
#include "proxy/tls_contexts.hpp"
#include "proxy/resilience_counters.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/http2/h2_client_pool.hpp"
#include "routing/snapshot.hpp"
#include "tls/session_cache.hpp"

namespace outrigger::proxy {

/// `gateway`: a VirtualGateway listener (gateway mode, proxy/gateway_listener.hpp); each one is
/// its own acceptor, tagged with the manifest's listener port.
enum class listener_kind { egress, ingress, gateway };

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
    /// A `--tcp-listen` acceptor for `cfg.tcp_listen[spec_index]` (SO_REUSEPORT, as `listen`).
    std::uint16_t listen_tcp(std::size_t spec_index, const boost::asio::ip::tcp::endpoint& ep,
                             std::string& error);
    /// Gateway mode: opens the acceptor of gateway listener `listener_port` (the manifest's
    /// port, used for matching) on `ep`, as `listen` does. Returns the bound port or 0.
    std::uint16_t listen_gateway(std::uint16_t listener_port, const boost::asio::ip::tcp::endpoint& ep,
                                 std::string& error);
    /// Starts the accept loops and the worker thread.
    void start();
    /// Stops the io_context (connections are dropped; graceful drain is a later issue).
    void stop();
    void join();
    /// Posts TLS contexts *and* the snapshot they were built for, set together in one handler so
    /// a request never sees a snapshot with another snapshot's contexts (safe from any thread).
    void publish_tls(std::shared_ptr<const tls_contexts> tls);

    /// What the operations layer derives from one snapshot: counter slots and the compiled
    /// access-log format. Published together with the snapshot and pinned with it per request.
    struct ops_state {
        std::shared_ptr<const stats_map> stats;
        std::shared_ptr<const log_format> format;  // null: access log off
    };
    /// Attaches the metrics and the first ops state (before `start`).
    void attach_ops(metrics* m, std::shared_ptr<const ops_state> ops);
    /// Snapshot, counter slots and TLS contexts in one handler, so a request never sees a
    /// snapshot with another snapshot's contexts (safe from any thread). A changed snapshot
    /// closes the worker's idle pooled upstream connections.
    void publish(std::shared_ptr<const routing::snapshot> snap, std::shared_ptr<const ops_state> ops,
                 std::shared_ptr<const tls_contexts> tls);
    /// Drain: every later response carries `Connection: close` (safe from any thread).
    void set_draining() { draining_.store(true, std::memory_order_relaxed); }
    [[nodiscard]] bool draining() const { return draining_.load(std::memory_order_relaxed); }
    /// Posts the closing of every acceptor (safe from any thread).
    /// POST /healthcheck/fail: gateway listeners answer their healthCheck path with 503.
    void set_health_failed() { health_failed_.store(true, std::memory_order_relaxed); }
    [[nodiscard]] bool health_failed() const { return health_failed_.load(std::memory_order_relaxed); }
    void close_listeners();

    // Worker-thread accessors for the operations layer.
    [[nodiscard]] const std::shared_ptr<const ops_state>& ops() const { return ops_; }
    [[nodiscard]] metrics* stats() const { return metrics_; }
    /// Slot of `ep` within cluster slot `cluster`, cached per worker (mutex only on a miss).
    std::uint32_t endpoint_slot(std::uint32_t cluster, const boost::asio::ip::tcp::endpoint& ep);
    /// Posts a new health-check view to this worker (safe from any thread).
    void publish_health(std::shared_ptr<const health_view> view);
    /// Shared ingress pool counters (owned by the server); set before `start`.
    void set_pool_limits(const app_pool_limits* limits) { limits_ = limits; }
    /// `--max-connections`: the process-wide counter (owned by the server; before `start`).
    void set_connection_limit(connection_limit* l) { conn_limit_ = l; }
    [[nodiscard]] connection_limit* conn_limit() const { return conn_limit_; }
    /// Where replaced snapshots, ops states and TLS contexts are released (owned by the server;
    /// set before `start`). Null (unit tests): they are released on the worker thread.
    void set_reclaimer(background_executor* b) { reclaimer_ = b; }

    // Worker-thread accessors for sessions.
    [[nodiscard]] boost::asio::io_context& ioc() { return *ioc_; }
    [[nodiscard]] const std::shared_ptr<const routing::snapshot>& snapshot() const { return snap_; }
    /// TLS contexts of `snapshot()` (null when the server runs without them, e.g. unit tests).
    [[nodiscard]] const std::shared_ptr<const tls_contexts>& tls() const { return tls_; }
    [[nodiscard]] tls::session_cache& tls_sessions() { return tls_sessions_; }
    [[nodiscard]] const server_config& config() const { return cfg_; }
    [[nodiscard]] upstream_pool& pool() { return pool_; }
    /// Per-request buffers kept while their connections are idle (proxy/buffer_cache.hpp).
    [[nodiscard]] buffer_cache& buffers() { return buffers_; }
    /// HTTP/2 upstream connections (shared by concurrent requests; proxy/http2/h2_client_pool.hpp).
    [[nodiscard]] http2::client_pool& h2_pool() { return h2_pool_; }
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
    std::uint16_t bind_acceptor(std::optional<boost::asio::ip::tcp::acceptor>& slot,
                                const boost::asio::ip::tcp::endpoint& ep, std::string& error);
    /// Stores `next` in `slot` and hands the replaced object to the reclaimer (worker thread),
    /// or drops it here without one. Nothing happens when both are the same object.
    template <class T>
    void replace(std::shared_ptr<const T>& slot, std::shared_ptr<const T> next);

    unsigned index_;
    const server_config& cfg_;
    // Declared first so it is destroyed last: sockets below need it alive.
    std::unique_ptr<boost::asio::io_context> ioc_;
    std::shared_ptr<const routing::snapshot> snap_;
    std::shared_ptr<const tls_contexts> tls_;
    tls::session_cache tls_sessions_;  // client-side resumption toward upstreams
    upstream_pool pool_;
    buffer_cache buffers_;
    http2::client_pool h2_pool_;
    std::unique_ptr<endpoint_registry> endpoints_;
    fast_rng rng_;
    access_log* log_;
    outlier_detector outliers_;
    std::shared_ptr<const health_view> health_;
    const app_pool_limits* limits_ = nullptr;
    connection_limit* conn_limit_ = nullptr;
    background_executor* reclaimer_ = nullptr;
    resilience_counters counters_;
    std::optional<boost::asio::ip::tcp::acceptor> egress_;
    std::optional<boost::asio::ip::tcp::acceptor> ingress_;
    struct tcp_listen_acceptor {
        std::size_t spec_index = 0;  // into cfg_.tcp_listen
        std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    };
    std::vector<tcp_listen_acceptor> tcp_listen_;  // --tcp-listen
    struct gateway_acceptor {
        std::uint16_t listener_port = 0;
        std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    };
    std::vector<gateway_acceptor> gateways_;
    std::optional<boost::asio::steady_timer> sweeper_;
    metrics* metrics_ = nullptr;
    std::shared_ptr<const ops_state> ops_;
    std::atomic<bool> draining_{false};
    std::atomic<bool> health_failed_{false};
    struct endpoint_key {
        std::uint32_t cluster = 0;
        boost::asio::ip::tcp::endpoint ep;
        bool operator==(const endpoint_key&) const = default;
    };
    struct endpoint_key_hash {
        std::size_t operator()(const endpoint_key& k) const noexcept;
    };
    std::unordered_map<endpoint_key, std::uint32_t, endpoint_key_hash> endpoint_slots_;
    std::thread thread_;
};

}  // namespace outrigger::proxy
