#include "proxy/snapshot_store.hpp"

namespace outrigger::proxy {

void snapshot_store::publish(snapshot_ptr next) {
    current_.store(next);
    for (const auto& s : subscribers_) {
        s(next);
    }
}

}  // namespace outrigger::proxy
