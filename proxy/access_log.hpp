#pragma once
// The access-log sink: one bounded single-producer/single-consumer byte ring per worker and one
// background flusher thread that writes the rings to the file.
//
// Why a flusher thread (and not a non-blocking fd written by the workers): a regular file cannot
// be made non-blocking (O_NONBLOCK is ignored for files), so a slow disk, NFS or a full pipe on
// /dev/stdout would stall a worker inside write(2). With the flusher, a worker only copies the
// line into its own ring (no lock, no syscall); the flusher drains every ring at least every
// 100 ms (sooner when a ring is half full) and does the blocking write. When a ring is full the
// line is dropped and counted (`dropped()`, exported as `access_log_dropped`) instead of
// blocking: losing log lines under disk pressure beats adding latency to every request.
//
// `reopen()` (SIGUSR1) makes the flusher close and reopen the path, for logrotate's
// rename-then-signal rotation. "-" writes to the process's stdout; "/dev/stdout" works as a path.
//
// Thread-affinity: `append(worker, ...)` only from that worker's thread (single producer per
// ring); everything else from any thread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace outrigger::proxy {

class access_log {
public:
    /// Opens `path` ("-" = stdout) with one ring of `ring_bytes` per worker and starts the
    /// flusher. Check `ok()`.
    access_log(const std::string& path, unsigned workers, std::size_t ring_bytes = 1 << 20);
    ~access_log();
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    [[nodiscard]] bool ok() const { return fd_ >= 0; }
    [[nodiscard]] const std::string& path() const { return path_; }
    /// Copies one line into worker `w`'s ring; drops it (counted) when the ring is full.
    void append(unsigned w, std::string_view line);
    /// Asks the flusher to reopen the file (log rotation).
    void reopen();
    /// Blocks until everything appended before the call is written (tests, shutdown).
    void flush();

    [[nodiscard]] std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t reopens() const { return reopens_.load(std::memory_order_relaxed); }

private:
    struct ring {
        explicit ring(std::size_t cap) : data(new char[cap]), capacity(cap) {}
        std::unique_ptr<char[]> data;
        std::size_t capacity;
        alignas(64) std::atomic<std::uint64_t> head{0};  // written by the worker
        alignas(64) std::atomic<std::uint64_t> tail{0};  // written by the flusher
    };

    void run();
    bool drain_all();  // true when something was written
    void write_all(const char* data, std::size_t n);
    void do_reopen();

    std::string path_;
    int fd_ = -1;
    bool owns_ = false;
    std::vector<std::unique_ptr<ring>> rings_;
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> reopens_{0};
    std::atomic<bool> reopen_requested_{false};
    std::atomic<bool> wake_pending_{false};

    std::mutex mu_;  // flusher coordination only (never taken by `append`)
    std::condition_variable cv_;
    std::condition_variable flushed_cv_;
    bool stop_ = false;
    std::uint64_t flush_requests_ = 0;
    std::uint64_t flush_done_ = 0;
    std::thread thread_;
};

}  // namespace outrigger::proxy
