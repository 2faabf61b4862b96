#pragma once
// Certificate rotation: notices that a file a TLS context was built from has changed on disk.
//
// How rotation works end to end (the proxy's side is a few lines):
//   1. `make_server_context` / `make_client_context` record a `cert_watcher` over every file they
//      read, *before* reading them (so a rewrite racing the build is seen on the next check).
//   2. The control thread calls `ctx->watcher().changed()` every second (and on reload). It costs
//      one stat() per file.
//   3. When it returns true, the control thread builds a new context from the same config. On
//      success it publishes the new `shared_ptr<const ...>` (e.g. in the next snapshot); on
//      failure (a half-written file, a key that no longer matches) it keeps the old one, logs the
//      message once and tries again on the next tick — the old watcher still says "changed".
//   4. New handshakes use the newly published context. Live connections keep working on the old
//      one: every SSL holds its own reference on its SSL_CTX (SSL_new up-refs it), and everything
//      the handshake callbacks need (accepted SANs, ALPN) is owned by the SSL_CTX itself through
//      ex_data, not by the C++ wrapper. So dropping the last `shared_ptr` to the old wrapper while
//      streams are alive is safe; the SSL_CTX is freed when its last SSL is.
//
// A change is any difference in existence, inode, device, size, mtime or ctime (nanoseconds), so
// in-place rewrites, rename-over and Kubernetes' `..data` symlink swap are all seen (stat follows
// symlinks).
//
// Thread-affinity: immutable after construction; `changed()` is const and may be called from any
// thread.

#include <cstdint>
#include <string>
#include <vector>

namespace outrigger::tls {

class cert_watcher {
public:
    cert_watcher() = default;
    /// Records the current state of `files` (missing files are recorded as missing).
    explicit cert_watcher(std::vector<std::string> files);

    /// True when any file differs from the recorded state.
    [[nodiscard]] bool changed() const;
    /// The files that differ (for the log line), in the order given.
    [[nodiscard]] std::vector<std::string> changed_files() const;
    [[nodiscard]] const std::vector<std::string>& files() const { return files_; }

    struct stamp {
        bool exists = false;
        std::uint64_t dev = 0;
        std::uint64_t ino = 0;
        std::int64_t size = 0;
        std::int64_t mtime_ns = 0;
        std::int64_t ctime_ns = 0;
        bool operator==(const stamp&) const = default;
    };
    [[nodiscard]] static stamp stat_file(const std::string& path);

private:
    std::vector<std::string> files_;
    std::vector<stamp> stamps_;
};

}  // namespace outrigger::tls
