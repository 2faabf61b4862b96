#pragma once
// One low-priority thread for the heavy control-plane work that must not steal CPU from the
// workers (issue 7 item 4, docs/decisions.md "Reload pause"):
//   - `run(f)`: a reload's load + resolve + validate + compile runs here, whatever thread asked
//     for it (admin POST /reload, SIGHUP, inotify);
//   - `retire(p)`: a worker hands over the snapshot (and its ops state and TLS contexts) it has
//     just replaced; the last reference is dropped here, so a 10,000-service snapshot (RE2
//     objects, route tables) is never destroyed on a worker thread.
//
// The thread lowers its own scheduling priority when it starts (nice 19, for this thread only) so
// that, when the whole process is confined to one CPU, a worker that wakes up preempts it at once
// and gets ~98 % of a CPU it has to share with a compile. An unprivileged thread cannot
// raise its priority again, which is why this is a thread of its own and not a temporary
// priority change of the admin or control thread.
//
// A retired object may still be pinned by a request in flight on a worker. It is kept here until
// this thread holds the only reference (checked when something is retired and every
// `sweep_period`), so the final destruction still happens here; at most one sweep period late.
//
// Thread-affinity: `run`, `retire` and `retired_pending` from any thread except this one (`run`
// from this thread would deadlock); constructor/destructor on the owner's thread. The destructor
// drops whatever is still retired on the destroying thread (the workers are gone by then).

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace outrigger::proxy {

class background_executor {
public:
    explicit background_executor(std::chrono::milliseconds sweep_period = std::chrono::milliseconds(100));
    ~background_executor();
    background_executor(const background_executor&) = delete;
    background_executor& operator=(const background_executor&) = delete;

    /// Runs `f` on the background thread and returns its result (exceptions are rethrown here).
    template <class F>
    auto run(F f) -> decltype(f()) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(ioc_, [&task] { task(); });
        return result.get();
    }

    /// Takes over one reference to `p`; the object is destroyed on the background thread once
    /// every other reference is gone. Null is ignored. Never blocks beyond posting a handler.
    void retire(std::shared_ptr<const void> p);

    /// Retired objects not destroyed yet (tests: they wait until this reaches 0).
    [[nodiscard]] std::size_t retired_pending() const;
    /// The background thread's id (tests: objects are destroyed there).
    [[nodiscard]] std::thread::id thread_id() const { return thread_.get_id(); }
    /// What the thread did to its priority ("nice 19", or why it could not).
    [[nodiscard]] std::string priority() const;

private:
    void sweep();
    void arm_timer();

    boost::asio::io_context ioc_{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{ioc_.get_executor()};
    boost::asio::steady_timer timer_{ioc_};
    bool timer_armed_ = false;  // background thread only
    std::chrono::milliseconds period_;
    std::vector<std::shared_ptr<const void>> retired_;  // background thread only
    std::atomic<std::size_t> pending_{0};
    std::promise<std::string> priority_set_;
    std::shared_future<std::string> priority_;
    std::thread thread_;
};

}  // namespace outrigger::proxy
