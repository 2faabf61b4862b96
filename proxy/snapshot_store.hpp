#pragma once
// Holds the current routing snapshot and pushes new ones to every worker (STYLE §2.6). The
// control thread is the only writer; workers read only their own copy, so requests never touch
// the atomic. Hot reload (a later issue) calls `publish`.
//
// Thread-affinity: `publish` and `current` may be called from any thread.

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "routing/snapshot.hpp"

namespace outrigger::proxy {

class snapshot_store {
public:
    using snapshot_ptr = std::shared_ptr<const routing::snapshot>;
    /// Called once per worker on publish; must post to that worker, never run inline there.
    using subscriber = std::function<void(snapshot_ptr)>;

    explicit snapshot_store(snapshot_ptr initial) : current_(std::move(initial)) {}

    [[nodiscard]] snapshot_ptr current() const { return current_.load(); }
    void subscribe(subscriber s) { subscribers_.push_back(std::move(s)); }
    /// Drops every subscriber (the workers are gone).
    void clear_subscribers() { subscribers_.clear(); }
    /// Stores `next` and hands it to every subscriber (each posts it to its worker).
    void publish(snapshot_ptr next);

private:
    std::atomic<snapshot_ptr> current_;
    std::vector<subscriber> subscribers_;  // set up before the workers start; then read-only
};

}  // namespace outrigger::proxy
