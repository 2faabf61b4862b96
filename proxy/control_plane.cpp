#include "proxy/control_plane.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <cstring>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "proxy/gateway_listener.hpp"
#include "proxy/log.hpp"
#include "routing/gateway_compile.hpp"
#include "routing/yaml_loader.hpp"

namespace outrigger::proxy {

namespace fs = std::filesystem;
namespace net = boost::asio;

namespace {

void fnv(std::uint64_t& h, std::string_view s) {
    for (const char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
}

}  // namespace

std::uint64_t control_plane::hash_inputs(const std::vector<std::string>& paths,
                                         std::vector<std::string>& files) {
    // Exactly the files the loader reads (hidden entries skipped, symlinks followed, each real
    // file once), so that what is hashed is what is loaded.
    files = routing::list_inputs(paths).files;
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const auto& f : files) {
        fnv(h, f);
        fnv(h, std::string_view("\0", 1));
        std::ifstream in(f, std::ios::binary);
        if (!in) {
            fnv(h, "<unreadable>");
            continue;
        }
        std::array<char, 16 * 1024> buf;
        while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
            fnv(h, std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
        }
        fnv(h, std::string_view("\0", 1));
    }
    return h;
}

control_plane::control_plane(server& srv, routing::load_options lo) : srv_(srv), lo_(std::move(lo)) {
    // The server was started with a snapshot of (nearly) this content; remember its hash so an
    // unchanged reload is skipped.
    hash_ = hash_inputs(lo_.paths, files_);
}

control_plane::~control_plane() = default;

control_plane::reload_result control_plane::reload() {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<std::string> files;
    // Hashing reads and mixes every byte of the mesh (9 MB for 10,000 services, ~10 ms of CPU):
    // on the background thread too (see the compile below).
    const std::uint64_t h = srv_.background().run([&] { return hash_inputs(lo_.paths, files); });
    reload_result r;
    if (h == hash_) {
        srv_.stats().config_reload_skipped.fetch_add(1);
        r.outcome = reload_result::outcome_t::unchanged;
        r.message = "mesh files unchanged";
        return r;
    }
    if (h == failed_hash_) {
        // Same broken content as last time: its errors were logged already.
        srv_.stats().config_reload_failed.fetch_add(1);
        r.outcome = reload_result::outcome_t::failed;
        r.message = last_error_;
        return r;
    }
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    routing::mesh_input in;
    routing::diagnostics diags;
    // Load + compile (about 1 s of CPU for 10,000 services) runs on the server's low-priority
    // background thread, whoever asked: on the admin or control thread it would time-slice with
    // the workers when the process is confined to few CPUs. Only the swap itself (posting to the
    // workers) stays on this thread (docs/decisions.md "Reload pause").
    // Gateway mode: the gateway's table, published as its outbound snapshot (routing/gateway.hpp).
    auto snap = srv_.background().run([&] {
        return lo_.gateway.empty()
                   ? routing::load_and_compile(lo_, in, diags)
                   : routing::published_snapshot(routing::load_and_compile_gateway(lo_, in, diags));
    });
    diags.sort_and_dedupe(in.files);
    const auto t1 = clock::now();
    std::string publish_err;
    // The counter slots of every member (the costly half of publishing) are made on the
    // background thread too; the registry's lock is taken per slot, never for the whole mesh.
    std::shared_ptr<const worker::ops_state> ops;
    if (snap) {
        ops = srv_.background().run([&] { return srv_.prepare_ops(*snap, publish_err); });
    }
    if (snap && ops) {
        srv_.publish_prepared(snap, std::move(ops));
    } else if (snap) {
        snap = nullptr;
        routing::config_error e;
        e.loc.file = routing::no_file;
        e.message = publish_err;
        diags.add(std::move(e));
    }
    if (!snap) {
        std::string msg;
        for (const auto& d : diags.items()) {
            if (d.level == routing::severity::error) {
                msg += routing::format(d, in.files);
                msg.push_back('\n');
            }
        }
        if (msg.empty()) {
            msg = "reload failed\n";
        }
        log(log_level::error, "outrigger: reload failed, keeping the current snapshot:\n{}",
            std::string_view(msg).substr(0, msg.size() - 1));
        srv_.stats().config_reload_failed.fetch_add(1);
        failed_hash_ = h;
        last_error_ = msg;
        r.outcome = reload_result::outcome_t::failed;
        r.message = std::move(msg);
        return r;
    }
    hash_ = h;
    failed_hash_ = 0;
    files_ = std::move(files);
    ++reloads_;
    last_error_.clear();
    srv_.stats().config_reload_success.fetch_add(1);
    const auto ms = [](clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    log(log_level::info, "outrigger: reloaded the mesh (generation {}): load+compile {:.0f} ms, publish {:.0f} ms",
        srv_.generation(), ms(t1 - t0), ms(clock::now() - t1));
    if (snap->gateway != nullptr) {
        warn_gateway_changes(*snap->gateway);
    }
    r.outcome = reload_result::outcome_t::published;
    r.message = fmt::format("published generation {}", srv_.generation());
    return r;
}

void control_plane::warn_gateway_changes(const routing::gateway_snapshot& gw) const {
    // Listeners are bound at start: a reload changes routes, targets, TLS and health checks, but
    // a listener it adds is not served until restart (one it removes answers 404).
    for (const auto& l : gw.listeners) {
        const auto& bound = srv_.gateway_bindings();
        if (std::none_of(bound.begin(), bound.end(),
                         [&](const server::gateway_binding& b) { return b.listener_port == l.port; })) {
            log(log_level::warn, "outrigger: reload: {} is new: it is not served until restart",
                l.display);
        }
    }
    for (const auto& w : gateway_protocol_warnings(gw)) {
        log(log_level::warn, "outrigger: gateway: {}", w);
    }
}

control_plane::sources control_plane::current_sources() const {
    std::lock_guard<std::mutex> lk(mu_);
    return {files_, hash_, reloads_, last_error_};
}

// ---- inotify ---------------------------------------------------------------------------------

struct control_plane::watcher : std::enable_shared_from_this<watcher> {
    watcher(net::io_context& ioc, int fd, control_plane& cp, std::chrono::milliseconds d)
        : stream(ioc, fd), timer(ioc), owner(cp), debounce(d) {}
    net::posix::stream_descriptor stream;
    net::steady_timer timer;
    control_plane& owner;
    std::chrono::milliseconds debounce;
    std::optional<std::chrono::steady_clock::time_point> burst_start;
    std::array<char, 16 * 1024> buf{};

    /// Watches every directory whose entries can change what is loaded: each path's parent (a
    /// file or directory replaced by rename, a symlink re-pointed), every directory walked, and
    /// the real directory of every file read. The last one is what sees kubelet's ConfigMap
    /// updates of `DIR/mesh.yaml -> ..data/mesh.yaml`: the symlink's target directory is
    /// replaced, so a watch on the path itself (which inotify resolves once) would go stale.
    /// Called again before each reload: new directories (kubelet's `..<timestamp>`) get
    /// watched; the kernel drops the watches of removed ones.
    void add_watches() {
        constexpr std::uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                       IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_MODIFY |
                                       IN_ATTRIB;
        const int fd = stream.native_handle();
        std::set<std::string> dirs;
        const auto parent_of = [](const fs::path& p) {
            fs::path parent = p.parent_path();
            return parent.empty() ? std::string(".") : parent.string();
        };
        for (const auto& p : owner.lo_.paths) {
            dirs.insert(parent_of(fs::path(p)));
        }
        const routing::input_files inputs = routing::list_inputs(owner.lo_.paths);
        dirs.insert(inputs.directories.begin(), inputs.directories.end());
        for (const auto& f : inputs.files) {
            std::error_code ec;
            const fs::path real = fs::canonical(f, ec);
            if (!ec) {
                dirs.insert(parent_of(real));
            }
        }
        for (const auto& d : dirs) {
            (void)inotify_add_watch(fd, d.c_str(), mask);  // a directory that went away: no watch
        }
    }

    void read() {
        stream.async_read_some(net::buffer(buf), [self = shared_from_this()](
                                                     const boost::system::error_code& ec, std::size_t) {
            if (ec) {
                return;  // closed (shutdown) or broken: stop watching
            }
            // Any event restarts the quiet period, but a burst of edits never delays a reload by
            // more than 5 debounce intervals after its first event (no starvation under
            // continuous writes). The hash decides whether anything changed.
            const auto now = std::chrono::steady_clock::now();
            if (!self->burst_start) {
                self->burst_start = now;
            }
            self->timer.expires_at(std::min(now + self->debounce, *self->burst_start + 5 * self->debounce));
            self->timer.async_wait([self](const boost::system::error_code& tec) {
                if (tec) {
                    return;  // restarted by a newer event
                }
                self->burst_start.reset();
                self->add_watches();  // new subdirectories
                (void)self->owner.reload();
            });
            self->read();
        });
    }
};

bool control_plane::watch(net::io_context& ioc, std::chrono::milliseconds debounce, std::string& err) {
    const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        err = fmt::format("inotify_init1: {}", std::strerror(errno));
        return false;
    }
    watcher_ = std::make_shared<watcher>(ioc, fd, *this, debounce);
    watcher_->add_watches();
    watcher_->read();
    return true;
}

// ---- drain -----------------------------------------------------------------------------------

void control_plane::unwatch() {
    // Pending handlers may still hold the watcher; they release it when the io_context is
    // destroyed, which is still alive here.
    watcher_.reset();
}

void control_plane::drain(net::io_context& ioc, std::chrono::milliseconds drain_time,
                          std::function<void()> done, std::chrono::milliseconds max_inflight_wait) {
    srv_.begin_drain();
    log(log_level::info, "outrigger: draining: listeners close in {} ms", drain_time.count());
    auto timer = std::make_shared<net::steady_timer>(ioc, drain_time);
    const auto give_up = std::chrono::steady_clock::now() + drain_time + max_inflight_wait;
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [this, timer, give_up, done, poll_weak = std::weak_ptr<std::function<void()>>(poll)]() {
        if (srv_.active_requests() == 0 || std::chrono::steady_clock::now() >= give_up) {
            done();
            return;
        }
        timer->expires_after(std::chrono::milliseconds(20));
        // The pending handler owns the poll function until it runs (no cycle: the function
        // only keeps a weak reference to itself).
        timer->async_wait([p = poll_weak.lock()](const boost::system::error_code& ec) {
            if (p && !ec) {
                (*p)();
            }
        });
    };
    timer->async_wait([this, poll](const boost::system::error_code& ec) {
        if (ec) {
            return;
        }
        srv_.close_listeners();
        log(log_level::info, "outrigger: draining: listeners closed, waiting for requests in flight");
        (*poll)();
    });
}

}  // namespace outrigger::proxy
