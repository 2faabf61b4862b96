#include "proxy/background_executor.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace outrigger::proxy {

namespace {

/// Lowers the calling thread's priority (Linux: both calls act on the calling thread only).
/// nice 19 rather than SCHED_IDLE: an idle-class thread gets almost no CPU while anything else
/// is runnable (a reload took 46 s instead of 1 s on a busy host), and it may be holding a mutex a
/// worker needs (io_context queue) when it is preempted.
std::string lower_own_priority() {
    const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    if (setpriority(PRIO_PROCESS, tid, 19) == 0) {
        return "nice 19";
    }
    return fmt::format("unchanged ({})", std::strerror(errno));
}

}  // namespace

background_executor::background_executor(std::chrono::milliseconds sweep_period)
    : period_(sweep_period), priority_(priority_set_.get_future().share()) {
    thread_ = std::thread([this] {
        priority_set_.set_value(lower_own_priority());
        ioc_.run();
    });
}

background_executor::~background_executor() {
    guard_.reset();
    boost::asio::post(ioc_, [this] {
        timer_.cancel();
        ioc_.stop();
    });
    thread_.join();
    retired_.clear();  // the workers are gone: nothing else can hold these any more
}

std::string background_executor::priority() const { return priority_.get(); }

std::size_t background_executor::retired_pending() const { return pending_.load(); }

void background_executor::retire(std::shared_ptr<const void> p) {
    if (!p) {
        return;
    }
    pending_.fetch_add(1);
    boost::asio::post(ioc_, [this, p = std::move(p)]() mutable {
        // One entry per object: every worker retires its own reference to the same snapshot, and
        // two entries for one object would keep its use_count above 1 for ever. Dropping the
        // duplicate here never destroys anything (the kept entry still owns the object).
        const bool known = std::any_of(retired_.begin(), retired_.end(), [&](const auto& r) {
            return !r.owner_before(p) && !p.owner_before(r);
        });
        if (known) {
            p.reset();
            pending_.fetch_sub(1);
        } else {
            retired_.push_back(std::move(p));
        }
        sweep();
    });
}

void background_executor::sweep() {
    // use_count() == 1 while we hold a reference means nobody else does, and nobody can get one
    // again (retired objects are reachable only through references that were just dropped).
    // Repeated until nothing more goes: releasing one object (TLS contexts) may leave another
    // (the snapshot they pinned) with this thread as its last owner.
    for (std::size_t before = 0; before != retired_.size();) {
        before = retired_.size();
        std::erase_if(retired_, [this](const std::shared_ptr<const void>& p) {
            if (p.use_count() == 1) {
                pending_.fetch_sub(1);
                return true;
            }
            return false;
        });
    }
    if (!retired_.empty()) {
        arm_timer();
    }
}

void background_executor::arm_timer() {
    if (timer_armed_) {
        return;
    }
    timer_armed_ = true;
    timer_.expires_after(period_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        timer_armed_ = false;
        if (!ec) {
            sweep();
        }
    });
}

}  // namespace outrigger::proxy
