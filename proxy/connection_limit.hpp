#pragma once
// `--max-connections N`: one counter of open downstream connections per process, shared by the
// workers (an atomic; taken once per connection, never per request). 0 = unlimited.
//
// Thread-affinity: any thread.

#include <atomic>
#include <cstddef>

namespace outrigger::proxy {

class connection_limit {
public:
    explicit connection_limit(std::size_t max) : max_(max) {}
    /// True (and counted) when one more connection fits.
    [[nodiscard]] bool try_acquire() noexcept {
        if (max_ == 0) {
            return true;
        }
        std::size_t cur = active_.load(std::memory_order_relaxed);
        while (cur < max_) {
            if (active_.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed)) {
                return true;
            }
        }
        return false;
    }
    void release() noexcept {
        if (max_ != 0) {
            active_.fetch_sub(1, std::memory_order_relaxed);
        }
    }
    [[nodiscard]] std::size_t max() const noexcept { return max_; }

private:
    std::size_t max_;
    std::atomic<std::size_t> active_{0};
};

}  // namespace outrigger::proxy
