#pragma once
// Helpers of the TCP tests: blocking loopback sockets with a deadline on every wait, a byte
// pattern whose order can be checked, RSS, free ports, and a real `redis-server` child process.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <spawn.h>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

extern char** environ;

namespace outrigger::test::tcp {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// A plain blocking socket fd (RAII) with deadline-bounded helpers.
class fd_socket {
public:
    fd_socket() = default;
    explicit fd_socket(int fd) : fd_(fd) {}
    fd_socket(fd_socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    fd_socket& operator=(fd_socket&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = o.fd_;
            o.fd_ = -1;
        }
        return *this;
    }
    ~fd_socket() { close(); }
    fd_socket(const fd_socket&) = delete;
    fd_socket& operator=(const fd_socket&) = delete;

    [[nodiscard]] int fd() const { return fd_; }
    [[nodiscard]] bool valid() const { return fd_ >= 0; }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    /// Closes with SO_LINGER 0: the peer sees a reset.
    void reset() {
        linger l{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close();
    }
    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

    /// Waits up to `timeout` for `events`; true when ready.
    [[nodiscard]] bool wait(short events, std::chrono::milliseconds timeout) const {
        pollfd p{fd_, events, 0};
        return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
    }
    /// Sends everything or fails the test (deadline per wait).
    void send_all(const void* data, std::size_t n, std::chrono::milliseconds timeout = 10s) const {
        const char* p = static_cast<const char*>(data);
        while (n > 0) {
            REQUIRE(wait(POLLOUT, timeout));
            const ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            REQUIRE(w > 0);
            p += w;
            n -= static_cast<std::size_t>(w);
        }
    }
    void send_all(const std::string& s) const { send_all(s.data(), s.size()); }
    /// One recv within the deadline: >0 bytes, 0 = EOF, -1 = error (errno), -2 = timeout.
    ssize_t recv_some(void* buf, std::size_t cap, std::chrono::milliseconds timeout = 10s) const {
        if (!wait(POLLIN, timeout)) {
            return -2;
        }
        return ::recv(fd_, buf, cap, 0);
    }
    /// Reads exactly `n` bytes (fails the test on EOF, error or timeout).
    std::string recv_exact(std::size_t n, std::chrono::milliseconds timeout = 10s) const {
        std::string out;
        char buf[4096];
        while (out.size() < n) {
            const ssize_t r = recv_some(buf, std::min(sizeof(buf), n - out.size()), timeout);
            REQUIRE(r > 0);
            out.append(buf, static_cast<std::size_t>(r));
        }
        return out;
    }
    /// Reads until EOF; returns the bytes, or nullopt on error/timeout (errno kept in `err`).
    std::optional<std::string> recv_until_eof(std::chrono::milliseconds timeout, int* err = nullptr) const {
        std::string out;
        char buf[4096];
        const auto deadline = clock_type::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
            if (left.count() <= 0) {
                return std::nullopt;
            }
            const ssize_t r = recv_some(buf, sizeof(buf), left);
            if (r == 0) {
                return out;
            }
            if (r < 0) {
                if (err != nullptr) {
                    *err = r == -2 ? ETIMEDOUT : errno;
                }
                return std::nullopt;
            }
            out.append(buf, static_cast<std::size_t>(r));
        }
    }

private:
    int fd_ = -1;
};

/// A listening socket on 127.0.0.1:0.
class fd_listener {
public:
    fd_listener() {
        fd_ = fd_socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(fd_.valid());
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_.fd(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
        REQUIRE(::listen(fd_.fd(), 1024) == 0);
        socklen_t len = sizeof(a);
        REQUIRE(::getsockname(fd_.fd(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] int fd() const { return fd_.fd(); }
    /// Accepts one connection within the deadline (fails the test otherwise).
    fd_socket accept(std::chrono::milliseconds timeout = 10s) const {
        REQUIRE(fd_.wait(POLLIN, timeout));
        const int c = ::accept4(fd_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
        REQUIRE(c >= 0);
        return fd_socket(c);
    }

private:
    fd_socket fd_;
    std::uint16_t port_ = 0;
};

/// A blocking connect to 127.0.0.1:`port` (fails the test on error).
inline fd_socket connect_to(std::uint16_t port) {
    fd_socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(s.valid());
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    int one = 1;
    ::setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return s;
}

/// A port that was free a moment ago: bound to 0, read back, closed. Whoever binds it next may
/// lose a race with another process: callers retry (redis_server does).
inline std::uint16_t free_port() {
    fd_listener l;
    return l.port();
}

/// Deterministic byte stream: byte i of stream `seed` (order and loss are checkable).
inline unsigned char pattern_byte(std::uint64_t i, unsigned seed) {
    std::uint64_t z = i / 8 + 0x9e3779b97f4a7c15ULL * (seed + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<unsigned char>((z ^ (z >> 31)) >> ((i % 8) * 8));
}
inline void fill_pattern(char* out, std::size_t n, std::uint64_t offset, unsigned seed) {
    for (std::size_t k = 0; k < n; ++k) {
        out[k] = static_cast<char>(pattern_byte(offset + k, seed));
    }
}

/// Bounds blocking calls the test cannot give a deadline to (sync TLS reads): after `timeout` it
/// shuts the sockets down, which ends any read or write on them with an error.
class deadline_guard {
public:
    deadline_guard(std::vector<int> fds, std::chrono::milliseconds timeout) : fds_(std::move(fds)) {
        thread_ = std::thread([this, timeout] {
            std::unique_lock<std::mutex> lk(mu_);
            if (!cv_.wait_for(lk, timeout, [this] { return done_; })) {
                for (const int fd : fds_) {
                    ::shutdown(fd, SHUT_RDWR);
                }
            }
        });
    }
    ~deadline_guard() {
        {
            std::lock_guard<std::mutex> lk(mu_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    deadline_guard(const deadline_guard&) = delete;
    deadline_guard& operator=(const deadline_guard&) = delete;

private:
    std::vector<int> fds_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

/// Resident set size of this process in KiB.
inline long rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

/// A real `redis-server` (Debian) on a loopback port: no persistence, no protected mode.
/// The port is taken from `free_port()`; if redis cannot bind it (another process took it in
/// between), it is restarted on a new port, up to 5 times.
class redis_server {
public:
    redis_server() {
        for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
            port_ = free_port();
            if (start()) {
                return;
            }
        }
        FAIL("redis-server did not start (is Debian's redis-server installed? scripts/setup.sh)");
    }
    ~redis_server() { stop(); }
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;
    [[nodiscard]] std::uint16_t port() const { return port_; }
    /// SIGKILL and reap: the port refuses connections afterwards.
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

private:
    bool start() {
        std::vector<std::string> args = {"/usr/bin/redis-server", "--port", std::to_string(port_),
                                         "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                         "--protected-mode", "no", "--loglevel", "warning",
                                         "--daemonize", "no"};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        pid_t pid = -1;
        const int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            return false;
        }
        pid_ = pid;
        // Ready when a PING gets +PONG (deadline 10 s); gone when the child exited (bind failed).
        const auto deadline = clock_type::now() + 10s;
        while (clock_type::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            fd_socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(port_);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::connect(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
                s.send_all(std::string("PING\r\n"));
                char buf[16];
                if (s.recv_some(buf, sizeof(buf), 2s) > 0 && std::memcmp(buf, "+PONG", 5) == 0) {
                    return true;
                }
            }
            pollfd none{-1, 0, 0};
            ::poll(&none, 0, 20);  // bounded back-off while redis starts (not a synchronisation)
        }
        stop();
        return false;
    }

    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace outrigger::test::tcp
