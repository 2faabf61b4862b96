#include "proxy/snapshot_store.hpp"

#include <utility>

namespace outrigger::proxy {

void snapshot_store::publish(snapshot_ptr next) {
    snapshot_ptr old;
    {
        std::lock_guard<std::mutex> lk(mu_);
        old = std::exchange(current_, next);
    }  // `old` is released outside the lock

    for (const auto& s : subscribers_) {
        s(next);
    }
}

}  // namespace outrigger::proxy
