#include "proxy/tls_rotator.hpp"

#include "proxy/log.hpp"

namespace outrigger::proxy {

tls_rotator::tls_rotator(contexts_ptr initial, publish_fn publish, std::chrono::milliseconds period)
    : current_(std::move(initial)), publish_(std::move(publish)), period_(period) {}

tls_rotator::~tls_rotator() { stop(); }

void tls_rotator::start() {
    timer_.emplace(ioc_);
    arm();
    thread_ = std::thread([this] { ioc_.run(); });
}

void tls_rotator::stop() {
    ioc_.stop();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void tls_rotator::arm() {
    timer_->expires_after(period_);
    // Captures the rotator: its io_context (and so this handler) dies before it does.
    timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec) {
            return;  // cancelled: stopping
        }
        check_now();
        arm();
    });
}

tls_rotator::contexts_ptr tls_rotator::current() const {
    std::lock_guard lock(mu_);
    return current_;
}

tls_rotator::contexts_ptr tls_rotator::contexts_for(const tls_contexts::snapshot_ptr& snap) {
    std::lock_guard lock(mu_);
    if (current_ && current_->snapshot() == snap) {
        return current_;
    }
    auto b = build_tls_contexts(snap, current_.get());
    for (const auto& e : b.new_errors) {
        log(log_level::error, "outrigger: tls: {}", e);
    }
    current_ = std::move(b.contexts);
    return current_;
}

bool tls_rotator::check_now() {
    std::lock_guard lock(mu_);
    if (!current_ || !current_->files_changed()) {
        return false;
    }
    auto b = build_tls_contexts(current_->snapshot(), current_.get());
    for (const auto& e : b.new_errors) {
        log(log_level::error, "outrigger: tls: {}", e);
    }
    if (!b.changed) {
        // Nothing could be rebuilt (errors logged once above); keep the old set, but remember
        // the failures so they are not logged again.
        current_ = std::move(b.contexts);
        return false;
    }
    current_ = std::move(b.contexts);
    log(log_level::info, "outrigger: tls: certificate files changed; new handshakes use them");
    publish_(current_);
    return true;
}

}  // namespace outrigger::proxy
