#pragma once
// Active health checks (spec §10.13), run off the workers' hot path: one thread with its own
// io_context probes every endpoint of every target whose node listener has a `healthCheck`
// (http/http2: `GET path`, healthy = 200; tcp, grpc: connect succeeds), counts consecutive
// failures/successes against `unhealthyThreshold`/`healthyThreshold`, and publishes the set of
// unhealthy endpoints to the workers as an immutable `health_view` (posted to each worker, so the
// request path reads a worker-local pointer and takes no lock).
//
// Endpoints start healthy (no warming phase: a proxy that starts while its backends are fine
// must not answer 503 until the first round is done). The checker re-reads the current routing
// snapshot every round, so reloads add and remove probe jobs. Probes use the checker's own
// endpoint registry (same DNS, `--connect-to` and test hooks as the workers).
//
// Thread-affinity: `start`, `stop` and `subscribe` on the control thread; everything else runs
// on the checker thread.

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "proxy/config.hpp"
#include "proxy/health_view.hpp"
#include "proxy/snapshot_store.hpp"

namespace outrigger::proxy {

class health_checker {
public:
    using view_ptr = std::shared_ptr<const health_view>;
    /// Called on the checker thread with every new view; must post to its worker.
    using subscriber = std::function<void(view_ptr)>;

    health_checker(const server_config& cfg, snapshot_store& store);
    ~health_checker();
    health_checker(const health_checker&) = delete;
    health_checker& operator=(const health_checker&) = delete;

    void subscribe(subscriber s);
    /// Starts the checker thread (a no-op loop when no target has a health check).
    void start();
    void stop();

    /// Probes sent and state changes so far (for the exit log line; read after `stop`).
    [[nodiscard]] std::uint64_t probes() const;
    [[nodiscard]] std::uint64_t transitions() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    std::thread thread_;
};

}  // namespace outrigger::proxy
