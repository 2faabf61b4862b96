#pragma once
// The data plane: N workers sharing the egress and ingress ports through SO_REUSEPORT, and the
// snapshot store that feeds them. Port 0 is resolved by the first worker; the others bind the
// port it got.
//
// Thread-affinity: control thread (the one that calls start/stop).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/access_log.hpp"
#include "proxy/access_log_format.hpp"
#include "proxy/config.hpp"
#include "proxy/metrics.hpp"
#include "proxy/app_pool_limits.hpp"
#include "proxy/background_executor.hpp"
#include "proxy/config.hpp"
#include "proxy/health_checker.hpp"
#include "proxy/resilience_counters.hpp"
#include "proxy/snapshot_store.hpp"
#include "proxy/tls_rotator.hpp"
#include "proxy/worker.hpp"

namespace outrigger::proxy {

class server {
public:
    server(server_config cfg, std::shared_ptr<const routing::snapshot> snap);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Binds every listener and starts the workers. False with `error()` set (one line) when a
    /// listener cannot be bound (e.g. the port is in use) or the access log cannot be opened.
    [[nodiscard]] bool start();
    void stop();

    [[nodiscard]] std::uint16_t egress_port() const { return egress_port_; }
    [[nodiscard]] std::uint16_t ingress_port() const { return ingress_port_; }
    /// The bound port of each `cfg.tcp_listen` entry (same order), after `start`.
    [[nodiscard]] const std::vector<std::uint16_t>& tcp_listen_ports() const { return tcp_listen_ports_; }
    [[nodiscard]] const std::string& error() const { return error_; }
    [[nodiscard]] const server_config& config() const { return cfg_; }
    [[nodiscard]] snapshot_store& store() { return store_; }
    /// Certificate rotation (null before start): tests call `check_now()` instead of waiting.
    [[nodiscard]] tls_rotator* tls_rotation() { return rotator_.get(); }

    // ---- operations (admin, reload, drain); any thread -------------------------------------
    /// Compiles the ops state of `snap` (counter slots, access-log format) and publishes both to
    /// every worker. False with `err` set when the node's access-log format does not parse; then
    /// nothing is published.
    bool publish(std::shared_ptr<const routing::snapshot> snap, std::string& err);
    /// The two halves of `publish`: `prepare_ops` does the costly part (counter slots for every
    /// member: ~14 ms at 10,000 services) and may run on the low-priority background thread;
    /// `publish_prepared` swaps in the result (short). Null from `prepare_ops` (with `err`) when
    /// the access-log format does not parse.
    std::shared_ptr<const worker::ops_state> prepare_ops(const routing::snapshot& snap, std::string& err) {
        return make_ops(snap, err);
    }
    void publish_prepared(std::shared_ptr<const routing::snapshot> snap,
                          std::shared_ptr<const worker::ops_state> ops);
    /// Number of snapshots published since start (the first one is 1).
    [[nodiscard]] std::uint64_t generation() const { return generation_.load(); }
    [[nodiscard]] metrics& stats() { return *metrics_; }
    /// The low-priority thread that compiles reloads and releases replaced snapshots.
    [[nodiscard]] background_executor& background() { return *background_; }
    [[nodiscard]] access_log* log() { return log_.get(); }
    /// /ready: listeners up, snapshot loaded, not draining, health check not failed.
    [[nodiscard]] bool ready() const;
    [[nodiscard]] bool draining() const { return draining_.load(); }
    /// POST /healthcheck/fail: /ready answers 503 from now on (traffic keeps flowing).
    void fail_healthcheck() { healthcheck_failed_.store(true); }
    [[nodiscard]] bool healthcheck_failed() const { return healthcheck_failed_.load(); }
    /// Starts draining: /ready 503, every later response carries `Connection: close`.
    void begin_drain();
    /// Closes every listener (new connections are refused); established ones continue.
    void close_listeners();
    [[nodiscard]] bool listeners_closed() const { return listeners_closed_.load(); }
    /// Requests in flight on every worker (summed gauges).
    [[nodiscard]] std::uint64_t active_requests();
    [[nodiscard]] std::chrono::steady_clock::time_point started_at() const { return started_at_; }
    /// Gauges added to the metrics output (draining, live, generation, access log drops).
    [[nodiscard]] std::vector<std::pair<std::string, double>> server_gauges();
    /// Sum of the workers' resilience counters; filled by `stop` (zero before).
    [[nodiscard]] const resilience_counters& resilience_totals() const { return totals_; }
    /// Health-check probes sent so far.
    [[nodiscard]] std::uint64_t health_probes() const;

private:
    std::shared_ptr<const worker::ops_state> make_ops(const routing::snapshot& snap, std::string& err);
    std::shared_ptr<const worker::ops_state> ops_for(const snapshot_store::snapshot_ptr& s);

    server_config cfg_;
    snapshot_store store_;
    std::unique_ptr<metrics> metrics_;
    std::unique_ptr<access_log> log_;
    std::mutex ops_mu_;  // the last (snapshot, ops state) pair, for the store's subscribers
    snapshot_store::snapshot_ptr ops_snap_;
    std::shared_ptr<const worker::ops_state> ops_;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<bool> draining_{false};
    std::atomic<bool> healthcheck_failed_{false};
    std::atomic<bool> listeners_closed_{false};
    std::atomic<bool> running_{false};
    std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
    std::unique_ptr<app_pool_limits> limits_;
    // Before workers_: destroyed after them, since their publish handlers retire into it.
    std::unique_ptr<background_executor> background_ = std::make_unique<background_executor>();
    std::unique_ptr<connection_limit> conn_limit_;  // --max-connections, shared by the workers
    std::unique_ptr<health_checker> health_;
    resilience_counters totals_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::unique_ptr<tls_rotator> rotator_;  // after workers_: destroyed first, it posts to them
    std::uint16_t egress_port_ = 0;
    std::uint16_t ingress_port_ = 0;
    std::vector<std::uint16_t> tcp_listen_ports_;
    std::string error_;
    bool started_ = false;
};

}  // namespace outrigger::proxy
