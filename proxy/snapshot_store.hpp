#pragma once
// Holds the current routing snapshot and pushes new ones to every worker (STYLE §2.6). The
// control thread is the only writer; workers read only their own copy, so requests never touch
// the store. Hot reload calls `publish`.
//
// A mutex, not std::atomic<std::shared_ptr>: only the control plane, the admin API and the health
// checker read it (never a request), and libstdc++ 12 implements the atomic with a lock bit and
// fences that ThreadSanitizer cannot follow (it reported a race in the CI TSan stage).
//
// Thread-affinity: `publish` and `current` may be called from any thread.

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "routing/snapshot.hpp"

namespace outrigger::proxy {

class snapshot_store {
public:
    using snapshot_ptr = std::shared_ptr<const routing::snapshot>;
    /// Called once per worker on publish; must post to that worker, never run inline there.
    using subscriber = std::function<void(snapshot_ptr)>;

    explicit snapshot_store(snapshot_ptr initial) : current_(std::move(initial)) {}

    [[nodiscard]] snapshot_ptr current() const {
        std::lock_guard<std::mutex> lk(mu_);
        return current_;
    }
    void subscribe(subscriber s) { subscribers_.push_back(std::move(s)); }
    /// Drops every subscriber (the workers are gone).
    void clear_subscribers() { subscribers_.clear(); }
    /// Stores `next` and hands it to every subscriber (each posts it to its worker).
    void publish(snapshot_ptr next);

private:
    mutable std::mutex mu_;
    snapshot_ptr current_;  // guarded by mu_
    std::vector<subscriber> subscribers_;  // set up before the workers start; then read-only
};

}  // namespace outrigger::proxy
