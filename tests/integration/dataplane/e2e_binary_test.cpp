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
#include "tests/support/child_process.hpp"
#include "tests/support/test_upstream.hpp"

extern char** environ;

using namespace outrigger::test;

using outrigger::test::child_process;

namespace {


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
