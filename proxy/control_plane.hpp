#pragma once
// Hot reload and graceful drain (the control side of operations).
//
// `reload()` loads, resolves, validates and compiles the mesh files on the calling thread (the
// control thread: signal handler, file watcher, or the admin thread for POST /reload — never a
// worker), then publishes the snapshot atomically through `server::publish`. Requests in flight
// keep the snapshot they pinned. Inputs whose bytes did not change (hash of every file's path and
// content, taken *before* loading so a write racing the load triggers another reload) are
// skipped. A failed reload keeps the old snapshot, logs each of its errors once (the same broken
// content is not reported again) and bumps `config_reload_failed`. Reloads are serialised by a
// mutex, so overlapping triggers cannot publish out of order.
//
// `watch()` follows the mesh paths with inotify and reloads once the events have been quiet for
// the debounce interval. It watches each path's parent directory, every directory the loader
// walks, and the real directory of every file it reads, re-resolved before each reload: that sees
// edits in place, files added or removed, editors' rename-into-place, and kubelet's ConfigMap and
// Secret volume updates (new `..<timestamp>` directory, `..data` symlink renamed over, old
// directory removed), for `--mesh DIR` and `--mesh DIR/mesh.yaml` alike.
//
// `drain()` is the SIGTERM sequence: /ready turns 503 and responses carry `Connection: close`;
// after `drain_time` the listeners close; once no request is in flight (bounded by
// `max_inflight_wait`) `done` runs.
//
// Thread-affinity: `reload` from any thread; `watch`/`drain` bind to the given io_context, whose
// thread runs their handlers.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "proxy/server.hpp"
#include "routing/compile.hpp"
#include "routing/gateway.hpp"

namespace outrigger::proxy {

class control_plane {
public:
    control_plane(server& srv, routing::load_options lo);
    ~control_plane();
    control_plane(const control_plane&) = delete;
    control_plane& operator=(const control_plane&) = delete;

    struct reload_result {
        enum class outcome_t { published, unchanged, failed } outcome = outcome_t::failed;
        std::string message;  // one line per error for failures
    };
    reload_result reload();

    /// Starts watching the mesh paths. False with `err` when inotify is unavailable.
    bool watch(boost::asio::io_context& ioc, std::chrono::milliseconds debounce, std::string& err);
    /// Stops watching. Call before the io_context given to `watch` is destroyed: the watcher's
    /// descriptor and timer belong to it (found by UBSan: destroying them afterwards is UB).
    void unwatch();

    void drain(boost::asio::io_context& ioc, std::chrono::milliseconds drain_time,
               std::function<void()> done,
               std::chrono::milliseconds max_inflight_wait = std::chrono::minutes(5));

    /// Mesh files of the last successful load and the hash of their content.
    struct sources {
        std::vector<std::string> files;
        std::uint64_t hash = 0;
        std::uint64_t reloads = 0;
        std::string last_error;
    };
    [[nodiscard]] sources current_sources() const;

    /// The files `paths` stand for (routing::list_inputs: what the loader reads) and the hash of
    /// their names and bytes. Unreadable entries hash as such (the load reports them).
    static std::uint64_t hash_inputs(const std::vector<std::string>& paths, std::vector<std::string>& files);

private:
    struct watcher;
    /// Gateway mode: warns about listeners a reload added (bound only at start) and protocols
    /// served as HTTP/1.1.
    void warn_gateway_changes(const routing::gateway_snapshot& gw) const;

    server& srv_;
    routing::load_options lo_;
    mutable std::mutex mu_;
    std::uint64_t hash_ = 0;
    std::uint64_t failed_hash_ = 0;  // content whose errors were already logged
    std::vector<std::string> files_;
    std::uint64_t reloads_ = 0;
    std::string last_error_;
    std::shared_ptr<watcher> watcher_;
};

}  // namespace outrigger::proxy
