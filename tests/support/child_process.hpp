#pragma once
// A child process (the real `outrigger` binary in end-to-end tests) with its stdout on a pipe:
// read lines until a regex matches, send signals, wait for the exit status, all with deadlines.
// Killed (SIGKILL) and reaped in the destructor.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

extern char** environ;

namespace outrigger::test {

class child_process {
public:
    explicit child_process(std::vector<std::string> args) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        REQUIRE(::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) == 0);
        posix_spawn_file_actions_destroy(&fa);
        ::close(fds[1]);
        out_ = fds[0];
    }
    ~child_process() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(out_);
    }
    std::string wait_for(const std::regex& re, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            std::smatch m;
            if (std::regex_search(text_, m, re)) {
                return m[1];
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return {};
            }
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                return {};
            }
            char buf[1024];
            const ssize_t n = ::read(out_, buf, sizeof(buf));
            if (n <= 0) {
                return {};
            }
            text_.append(buf, static_cast<std::size_t>(n));
        }
    }
    void signal(int sig) { ::kill(pid_, sig); }
    [[nodiscard]] pid_t pid() const { return pid_; }
    /// SIGTERM, then waits (deadline) for the exit status; -1 on timeout.
    int terminate(std::chrono::milliseconds timeout) {
        signal(SIGTERM);
        return wait_exit(timeout);
    }
    /// Waits (deadline) for the exit status; -1 on timeout.
    int wait_exit(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            pollfd p{out_, POLLIN, 0};
            ::poll(&p, 1, 10);  // bounded wait for the child (no signalfd for children)
            char buf[256];
            if ((p.revents & POLLIN) != 0) {
                (void)::read(out_, buf, sizeof(buf));
            }
        }
        return -1;
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    std::string text_;
};

}  // namespace outrigger::test
