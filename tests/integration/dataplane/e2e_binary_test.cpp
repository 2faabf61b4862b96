// End to end: the real `outrigger` binary (OUTRIGGER_BINARY) with curl as the client. Ports are
// picked by the proxy (port 0) and read from its start-up line.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "meshes.hpp"
#include "tests/support/test_upstream.hpp"

extern char** environ;

using namespace outrigger::test;

namespace {

/// A child process with its stdout on a pipe; killed (SIGTERM) and reaped in the destructor.
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
    /// Reads stdout until `re` matches (deadline); returns the match's first group.
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
    /// SIGTERM, then waits (deadline) for the exit status; -1 on timeout.
    int terminate(std::chrono::milliseconds timeout) {
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            pollfd p{out_, POLLIN, 0};
            ::poll(&p, 1, 10);  // bounded wait for the child to exit (no signalfd for children)
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

std::string run_capture(const std::string& cmd) {
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f != nullptr);
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
        out.append(buf, n);
    }
    ::pclose(f);
    return out;
}

}  // namespace

TEST_CASE("e2e: the outrigger binary proxies curl requests with the canary mesh", "[integration][e2e]") {
    REQUIRE(::access("/usr/bin/curl", X_OK) == 0);
    test_upstream v1([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v1\n"; });
    test_upstream v2([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v2\n"; });
    char tmpl[] = "/tmp/outrigger-e2e-XXXXXX.yaml";
    const int fd = ::mkstemps(tmpl, 5);
    REQUIRE(fd >= 0);
    const std::string yaml = canary_mesh();
    REQUIRE(::write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size()));
    ::close(fd);

    child_process px({OUTRIGGER_BINARY, "run", "--mesh", tmpl, "--node", "web", "--egress-port", "0",
                      "--ingress-port", "0", "--ingress-address", "127.0.0.1", "--workers", "2",
                      "--connect-to",
                      "checkout-v1.test.local:8080:127.0.0.1:" + std::to_string(v1.port()),
                      "--connect-to",
                      "checkout-v2.test.local:8080:127.0.0.1:" + std::to_string(v2.port())});
    const std::string port =
        px.wait_for(std::regex("egress listening on 127\\.0\\.0\\.1:([0-9]+)"), std::chrono::seconds(10));
    REQUIRE_FALSE(port.empty());

    // HTTP_PROXY style (absolute-form) through curl -x, 20 requests on one curl invocation.
    std::string urls;
    for (int i = 0; i < 20; ++i) {
        urls += " http://checkout.shop.svc.cluster.local:8080/e2e";
    }
    const std::string out = run_capture("curl -s -m 10 -x http://127.0.0.1:" + port + urls);
    int n1 = 0;
    int n2 = 0;
    for (std::size_t pos = 0; (pos = out.find('v', pos)) != std::string::npos; ++pos) {
        if (out.compare(pos, 3, "v1\n") == 0) {
            ++n1;
        } else if (out.compare(pos, 3, "v2\n") == 0) {
            ++n2;
        }
    }
    CHECK(n1 + n2 == 20);
    CHECK(v1.requests() + v2.requests() == 20);

    // Origin-form with a Host header; and an unknown host gets the NR reply.
    const std::string nr = run_capture("curl -s -m 10 -w ' %{http_code}' -H 'Host: checkout.shop.svc.cluster.locl:8080' http://127.0.0.1:" + port + "/");
    INFO(nr);
    CHECK(nr.find("did you mean \"checkout.shop.svc.cluster.local\"?) [NR]") != std::string::npos);
    CHECK(nr.find(" 404") != std::string::npos);

    CHECK(px.terminate(std::chrono::seconds(10)) == 0);
    ::unlink(tmpl);
}

TEST_CASE("e2e: usage errors exit 2 and a port in use exits 1", "[integration][e2e]") {
    const std::string bin = OUTRIGGER_BINARY;
    const std::string unknown = run_capture(bin + " run --bogus 2>&1; echo \"rc=$?\"");
    CHECK(unknown.find("unknown flag \"--bogus\"") != std::string::npos);
    CHECK(unknown.find("rc=2") != std::string::npos);
    const std::string transparent =
        run_capture(bin + " run --mesh /nonexistent-mesh --transparent 2>&1; echo \"rc=$?\"");
    // --transparent is accepted: what stops this run is the missing mesh (exit 1).
    CHECK(transparent.find("not yet supported") == std::string::npos);
    CHECK(transparent.find("unknown flag") == std::string::npos);
    CHECK(transparent.find("rc=1") != std::string::npos);

    test_upstream busy;  // holds a port on 127.0.0.1 without SO_REUSEPORT
    const std::string mesh = std::string(OUTRIGGER_SOURCE_DIR) + "/examples/canary/mesh.yaml";
    const std::string in_use = run_capture(bin + " run --mesh " + mesh + " --egress-port " +
                                           std::to_string(busy.port()) + " 2>&1; echo \"rc=$?\"");
    CHECK(in_use.find("cannot listen on 127.0.0.1:" + std::to_string(busy.port())) != std::string::npos);
    CHECK(in_use.find("rc=1") != std::string::npos);
}
