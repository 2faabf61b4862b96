#include "proxy/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace outrigger::proxy {

namespace {

int open_log(const std::string& path, bool& owns) {
    if (path == "-") {
        owns = false;
        return STDOUT_FILENO;
    }
    owns = true;
    return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

}  // namespace

access_log::access_log(const std::string& path, unsigned workers, std::size_t ring_bytes)
    : path_(path) {
    fd_ = open_log(path_, owns_);
    if (fd_ < 0) {
        return;
    }
    for (unsigned i = 0; i < (workers == 0 ? 1 : workers); ++i) {
        rings_.push_back(std::make_unique<ring>(ring_bytes));
    }
    thread_ = std::thread([this] { run(); });
}

access_log::~access_log() {
    if (thread_.joinable()) {
        {
            std::lock_guard<std::mutex> lk(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    if (owns_ && fd_ >= 0) {
        ::close(fd_);
    }
}

void access_log::append(unsigned w, std::string_view line) {
    if (w >= rings_.size() || line.empty()) {
        return;
    }
    ring& r = *rings_[w];
    const std::uint64_t head = r.head.load(std::memory_order_relaxed);
    const std::uint64_t tail = r.tail.load(std::memory_order_acquire);
    const std::uint64_t used = head - tail;
    if (line.size() > r.capacity - used) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const std::size_t pos = static_cast<std::size_t>(head % r.capacity);
    const std::size_t first = std::min(line.size(), r.capacity - pos);
    std::memcpy(r.data.get() + pos, line.data(), first);
    if (first < line.size()) {
        std::memcpy(r.data.get(), line.data() + first, line.size() - first);
    }
    r.head.store(head + line.size(), std::memory_order_release);
    // Wake the flusher early when the ring is half full, at most once per drain; otherwise it
    // comes by itself within 100 ms. notify_one without the mutex is allowed and cannot block.
    if (used + line.size() > r.capacity / 2 && !wake_pending_.exchange(true, std::memory_order_relaxed)) {
        cv_.notify_one();
    }
}

void access_log::reopen() {
    reopen_requested_.store(true, std::memory_order_relaxed);
    cv_.notify_one();
}

void access_log::flush() {
    if (!thread_.joinable()) {
        return;
    }
    std::unique_lock<std::mutex> lk(mu_);
    const std::uint64_t ticket = ++flush_requests_;
    cv_.notify_one();
    flushed_cv_.wait(lk, [&] { return flush_done_ >= ticket || stop_; });
}

void access_log::write_all(const char* data, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd_, data, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            // Disk full, closed pipe...: the bytes are lost and counted as one dropped chunk;
            // retrying here could stall every worker once its ring fills.
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        data += w;
        n -= static_cast<std::size_t>(w);
    }
}

bool access_log::drain_all() {
    bool wrote = false;
    for (auto& rp : rings_) {
        ring& r = *rp;
        const std::uint64_t tail = r.tail.load(std::memory_order_relaxed);
        const std::uint64_t head = r.head.load(std::memory_order_acquire);
        if (head == tail) {
            continue;
        }
        const std::size_t n = static_cast<std::size_t>(head - tail);
        const std::size_t pos = static_cast<std::size_t>(tail % r.capacity);
        const std::size_t first = std::min(n, r.capacity - pos);
        write_all(r.data.get() + pos, first);
        if (first < n) {
            write_all(r.data.get(), n - first);
        }
        r.tail.store(head, std::memory_order_release);
        wrote = true;
    }
    return wrote;
}

void access_log::do_reopen() {
    if (!owns_) {
        return;  // stdout: nothing to reopen
    }
    bool owns = false;
    const int fd = open_log(path_, owns);
    if (fd < 0) {
        return;  // keep writing to the old descriptor rather than losing every line
    }
    ::close(fd_);
    fd_ = fd;
    reopens_.fetch_add(1, std::memory_order_relaxed);
}

void access_log::run() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
        cv_.wait_for(lk, std::chrono::milliseconds(100));
        const bool stopping = stop_;
        const std::uint64_t ticket = flush_requests_;
        lk.unlock();
        wake_pending_.store(false, std::memory_order_relaxed);
        drain_all();
        if (reopen_requested_.exchange(false, std::memory_order_relaxed)) {
            do_reopen();
        }
        lk.lock();
        flush_done_ = ticket;
        flushed_cv_.notify_all();
        if (stopping) {
            return;
        }
    }
}

}  // namespace outrigger::proxy
