#pragma once
// Active health checks (spec §10.13), run off the workers' hot path: one thread with its own
// io_context probes every endpoint of every target whose node listener has a `healthCheck`,
// counts consecutive failures/successes against `unhealthyThreshold`/`healthyThreshold`, and
// publishes the set of unhealthy endpoints to the workers as an immutable `health_view` (posted
// to each worker, so the request path reads a worker-local pointer and takes no lock).
//
// Probes, by `healthCheck.protocol`, each on a fresh connection bounded by `timeoutMillis`:
//   http   `GET path` over HTTP/1.1, healthy = 200;
//   http2  `GET path` over HTTP/2 (h2c, or h2 by ALPN under TLS), healthy = :status 200;
//   grpc   the unary call grpc.health.v1.Health/Check with HealthCheckRequest{service: ""}
//          (proxy/grpc_health.hpp), healthy = grpc-status 0 and status SERVING; NOT_SERVING,
//          UNKNOWN, any other grpc-status, a reset or a timeout is a failure;
//   tcp    the connect succeeds.
// The HTTP/2 probes use the data path's own driver (proxy/http2/h2_connection.hpp, client role)
// on the checker's io_context. http, http2 and grpc probes originate TLS exactly where the
// workers do toward the target (client policy or listener fallback, spec §10.7), with the
// workers' client context (`tls_source`, read each round); tcp probes never handshake.
//
// Endpoints start healthy (no warming phase: a proxy that starts while its backends are fine
// must not answer 503 until the first round is done). The checker re-reads the current routing
// snapshot every round, so reloads add and remove probe jobs. Probes use the checker's own
// endpoint registry (same DNS, `--connect-to` and test hooks as the workers).
//
// Thread-affinity: `start`, `stop` and `subscribe` on the control thread; everything else runs
// on the checker thread (which calls `tls_source` there: it must be thread-safe).

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "proxy/config.hpp"
#include "proxy/health_view.hpp"
#include "proxy/snapshot_store.hpp"
#include "proxy/tls_contexts.hpp"

namespace outrigger::proxy {

class health_checker {
public:
    using view_ptr = std::shared_ptr<const health_view>;
    /// Called on the checker thread with every new view; must post to its worker.
    using subscriber = std::function<void(view_ptr)>;
    /// The workers' current TLS contexts (tls_rotator::current); empty: probes never use TLS.
    using tls_source = std::function<std::shared_ptr<const tls_contexts>()>;

    health_checker(const server_config& cfg, snapshot_store& store, tls_source tls = {});
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
