#pragma once
// Certificate rotation (issue 5, tls/cert_watcher.hpp): the control-thread side. Owns the current
// `tls_contexts`, a 1 s timer on its own control thread that asks `files_changed()` and, when a
// file changed, rebuilds the affected contexts and publishes the new set to every worker. A failed
// rebuild keeps the old context and is logged once (until its message changes).
//
// Reload: `contexts_for(snap)` builds the contexts of a new snapshot (reusing unchanged ones) the
// first time it is asked and returns the same object to every worker subscriber after that.
//
// Thread-affinity: `contexts_for`, `current`, `check_now` may be called from any thread (one mutex,
// control plane only, never taken on the request path). Publishing happens under that mutex, so
// workers receive rotations and reloads in the order they were built.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/tls_contexts.hpp"

namespace outrigger::proxy {

class tls_rotator {
public:
    using contexts_ptr = std::shared_ptr<const tls_contexts>;
    /// Hands a rebuilt set to every worker (must post, never run inline on a worker).
    using publish_fn = std::function<void(const contexts_ptr&)>;

    tls_rotator(contexts_ptr initial, publish_fn publish,
                std::chrono::milliseconds period = std::chrono::seconds(1));
    ~tls_rotator();
    tls_rotator(const tls_rotator&) = delete;
    tls_rotator& operator=(const tls_rotator&) = delete;

    /// Starts the control thread with the periodic check.
    void start();
    void stop();

    [[nodiscard]] contexts_ptr current() const;
    /// The contexts of `snap`: built (and made current) on the first call for it.
    [[nodiscard]] contexts_ptr contexts_for(const tls_contexts::snapshot_ptr& snap);
    /// One rotation step: rebuilds and publishes when a file changed. True when it published.
    bool check_now();

private:
    void arm();

    mutable std::mutex mu_;
    contexts_ptr current_;
    publish_fn publish_;
    std::chrono::milliseconds period_;
    boost::asio::io_context ioc_{1};
    std::optional<boost::asio::steady_timer> timer_;
    std::thread thread_;
};

}  // namespace outrigger::proxy
