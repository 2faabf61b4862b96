#pragma once
// Small helpers for tests that drive real peers through a shell: run a command and capture its
// standard output, and pick a port no one listens on right now (for peers that cannot report the
// port they bound: nghttpd, a gRPC server taking its port as an argument); a scratch directory
// for the files a test hands its peers.

#include <stdlib.h>

#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

namespace outrigger::test {

/// A fresh directory under /tmp, removed with everything in it when the test ends.
struct scratch_tree {
    std::filesystem::path path;
    scratch_tree() {
        char tmpl[] = "/tmp/outrigger-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    scratch_tree(const scratch_tree&) = delete;
    scratch_tree& operator=(const scratch_tree&) = delete;
    ~scratch_tree() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);  // best effort: a leftover temp dir is harmless
    }
    std::filesystem::path write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
        return path / name;
    }
};

/// The whole file ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// The command's standard output (stderr too if the command says `2>&1`).
inline std::string capture_stdout(const std::string& cmd) {
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

/// A loopback port that was free a moment ago: bound to 0, read back, closed.
inline std::uint16_t free_loopback_port() {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

}  // namespace outrigger::test
