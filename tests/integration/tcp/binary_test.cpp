// End to end through the real `outrigger run` binary (OUTRIGGER_BINARY): the wiring of issue 17.
// - `--tcp-listen` in front of a weighted tcpRoute over two real redis-servers: 1,000 connections
//   split 50/50 within ±5 % (counted by each redis's own INFO), `redis-cli` and `redis-benchmark`
//   through it, the envoy_tcp_* counters on the admin port.
// - Two sidecar processes with mTLS: the client's --tcp-listen originates TLS, the server's
//   inbound tcp listener (the node's only listener, on the ingress port) terminates it in front of
//   redis, and of PostgreSQL with `psql` (skipped when Debian's postgresql is not installed).
// - Usage errors of --tcp-listen.
// Ports: the proxy binds port 0 and prints what it got; redis/postgres take free ports.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include "tests/integration/tcp/tcp_meshes.hpp"
#include "tests/integration/tcp/tcp_support.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/generated_certs.hpp"

using namespace outrigger::test::tcp;
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
    const int st = ::pclose(f);
    out += "\nrc=" + std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return out;
}

/// A temporary mesh file, removed at scope end.
struct mesh_file {
    explicit mesh_file(const std::string& yaml) {
        char tmpl[] = "/tmp/outrigger-tcp-bin-XXXXXX.yaml";
        const int fd = ::mkstemps(tmpl, 5);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size()));
        ::close(fd);
        path = tmpl;
    }
    ~mesh_file() { ::unlink(path.c_str()); }
    mesh_file(const mesh_file&) = delete;
    mesh_file& operator=(const mesh_file&) = delete;
    std::string path;
};

/// `total_connections_received` of the redis at `port`, read over a direct connection (which
/// itself counts as one).
long redis_connections(std::uint16_t port) {
    fd_socket s = connect_to(port);
    s.send_all(std::string("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n"));
    std::string reply;
    char buf[4096];
    const std::regex re("total_connections_received:([0-9]+)");
    std::smatch m;
    while (!std::regex_search(reply, m, re) || reply.find("\r\n", static_cast<std::size_t>(m.position(0))) == std::string::npos) {
        const ssize_t n = s.recv_some(buf, sizeof(buf), 10s);
        REQUIRE(n > 0);
        reply.append(buf, static_cast<std::size_t>(n));
    }
    return std::stol(m[1]);
}

std::string redis_ping(std::uint16_t port) {
    fd_socket s = connect_to(port);
    s.send_all(std::string("*1\r\n$4\r\nPING\r\n"));
    std::string reply;
    char buf[32];
    while (reply.size() < 7) {
        const ssize_t n = s.recv_some(buf, sizeof(buf), 10s);
        if (n <= 0) {
            return reply;
        }
        reply.append(buf, static_cast<std::size_t>(n));
    }
    return reply;
}

const outrigger::test::generated_certs& certs() {
    static const outrigger::test::generated_certs c("outrigger-tcp-bin");
    return c;
}
std::string cert(const std::string& name) { return (certs().dir() / name).string(); }

std::string listener_tls(const std::string& client_san) {
    return "      tls:\n        mode: STRICT\n        certificate:\n          file:\n"
           "            certificateChain: " + cert("server.pem") +
           "\n            privateKey: " + cert("server.key") +
           "\n        validation:\n          trust:\n            file:\n              certificateChain: " +
           cert("ca.pem") + "\n          subjectAlternativeNames:\n            match:\n              exact: [" +
           client_san + "]\n";
}

std::string client_policy() {
    return "  backendDefaults:\n    clientPolicy:\n      tls:\n        certificate:\n          file:\n"
           "            certificateChain: " + cert("client-web.pem") +
           "\n            privateKey: " + cert("client-web.key") +
           "\n        validation:\n          trust:\n            file:\n              certificateChain: " +
           cert("ca.pem") + "\n          subjectAlternativeNames:\n            match:\n              exact: "
           "[a.shop.svc.cluster.local]\n";
}

/// The two sidecar processes of the mTLS tests: `server` runs node redis-secure whose only
/// listener (protocol tcp, STRICT) is `app_port`, in front of the app at 127.0.0.1:`app_port`;
/// `client` runs yelb-appserver with --tcp-listen to redis-secure, connected to the server's
/// ingress port. `tcp_port()` is the client's --tcp-listen port.
struct mtls_sidecars {
    explicit mtls_sidecars(std::uint16_t app_port) {
        yelb_options o;
        o.secure_port = app_port;
        o.secure_listener_extra = listener_tls("web.shop.svc.cluster.local");
        o.client_extra = client_policy();
        mesh = std::make_unique<mesh_file>(yelb_mesh(o));
        server = std::make_unique<child_process>(std::vector<std::string>{
            OUTRIGGER_BINARY, "run", "--mesh", mesh->path, "--node", "yelb/redis-secure", "--egress-port",
            "0", "--ingress-port", "0", "--ingress-address", "127.0.0.1", "--admin-port", "0",
            "--workers", "1", "--no-watch", "--drain-time", "0s"});
        ingress = server->wait_for(std::regex("ingress listening on 127\\.0\\.0\\.1:([0-9]+)"), 10s);
        REQUIRE_FALSE(ingress.empty());
        const std::string p = std::to_string(app_port);
        client = std::make_unique<child_process>(std::vector<std::string>{
            OUTRIGGER_BINARY, "run", "--mesh", mesh->path, "--node", "yelb/yelb-appserver",
            "--egress-port", "0", "--ingress-port", "0", "--ingress-address", "127.0.0.1",
            "--admin-port", "0", "--workers", "1", "--no-watch", "--drain-time", "0s", "--tcp-listen",
            "0=redis-secure.yelb.svc.cluster.local:" + p, "--connect-to",
            "redis-secure.yelb.svc.cluster.local:" + p + ":127.0.0.1:" + ingress});
        listen = client->wait_for(std::regex("tcp-listen on 127\\.0\\.0\\.1:([0-9]+) -> "), 10s);
        REQUIRE_FALSE(listen.empty());
    }
    ~mtls_sidecars() {
        CHECK(client->terminate(10s) == 0);
        CHECK(server->terminate(10s) == 0);
    }
    mtls_sidecars(const mtls_sidecars&) = delete;
    mtls_sidecars& operator=(const mtls_sidecars&) = delete;
    [[nodiscard]] std::uint16_t tcp_port() const { return static_cast<std::uint16_t>(std::stoi(listen)); }
    [[nodiscard]] std::uint16_t ingress_port() const { return static_cast<std::uint16_t>(std::stoi(ingress)); }

    std::unique_ptr<mesh_file> mesh;
    std::unique_ptr<child_process> server;
    std::unique_ptr<child_process> client;
    std::string ingress;
    std::string listen;
};

}  // namespace

TEST_CASE("binary: --tcp-listen splits redis connections 50/50 over a tcpRoute, redis-cli and "
          "redis-benchmark pass", "[tcp][binary][redis]") {
    redis_server v1;
    redis_server v2;
    mesh_file mesh(yelb_mesh());
    // The admin API has no "any free port" (0 is off): a port that was free a moment ago.
    const std::string admin_port = std::to_string(free_port());
    const std::string p1 = std::to_string(v1.port());
    const std::string p2 = std::to_string(v2.port());
    child_process px({OUTRIGGER_BINARY, "run", "--mesh", mesh.path, "--node", "yelb/yelb-appserver",
                      "--egress-port", "0", "--ingress-port", "0", "--ingress-address", "127.0.0.1",
                      "--admin-port", admin_port, "--workers", "2", "--no-watch", "--drain-time", "0s", "--tcp-listen",
                      "0=redis-server.yelb.svc.cluster.local:6379", "--connect-to",
                      "redis-v1.yelb.svc.cluster.local:6379:127.0.0.1:" + p1, "--connect-to",
                      "redis-v2.yelb.svc.cluster.local:6379:127.0.0.1:" + p2});
    const std::string port = px.wait_for(
        std::regex("tcp-listen on 127\\.0\\.0\\.1:([0-9]+) -> redis-server\\.yelb\\.svc\\.cluster\\.local:6379"),
        10s);
    REQUIRE_FALSE(port.empty());
    const std::string admin = px.wait_for(std::regex("admin listening on 127\\.0\\.0\\.1:([0-9]+)"), 10s);
    REQUIRE_FALSE(admin.empty());
    const auto lport = static_cast<std::uint16_t>(std::stoi(port));

    // 1,000 connections, one PING each; every one is a new weighted pick.
    const long before1 = redis_connections(v1.port());
    const long before2 = redis_connections(v2.port());
    constexpr int n = 1000;
    int pongs = 0;
    for (int i = 0; i < n; ++i) {
        pongs += redis_ping(lport) == "+PONG\r\n" ? 1 : 0;
    }
    CHECK(pongs == n);
    // Each INFO read is one connection of its own: the later one counts the earlier one.
    const long got1 = redis_connections(v1.port()) - before1 - 1;
    const long got2 = redis_connections(v2.port()) - before2 - 1;
    INFO("v1 " << got1 << ", v2 " << got2);
    CHECK(got1 + got2 == n);
    CHECK(got1 >= n / 2 - n / 20);  // ±5 %: 3.2 standard deviations of a fair split
    CHECK(got1 <= n / 2 + n / 20);

    // redis-cli: several commands on one connection reach one backend.
    const std::string cli = run_capture("printf 'SET outrigger-k hello\\nGET outrigger-k\\n' | "
                                        "redis-cli -h 127.0.0.1 -p " + port + " 2>&1");
    INFO(cli);
    CHECK(cli.find("OK\nhello\n") != std::string::npos);
    CHECK(cli.find("rc=0") != std::string::npos);

    // redis-benchmark, small: 50 clients, every reply checked by redis-benchmark itself.
    const std::string bench = run_capture("redis-benchmark -h 127.0.0.1 -p " + port +
                                          " -q -n 2000 -c 50 -t get,set -P 1 2>&1");
    INFO(bench);
    CHECK(bench.find("SET: ") != std::string::npos);
    CHECK(bench.find("GET: ") != std::string::npos);
    CHECK(bench.find("requests per second") != std::string::npos);
    CHECK(bench.find("rc=0") != std::string::npos);

    // The counters: both targets carried connections (their sum is at least the 1,000 PINGs).
    const std::string prom = run_capture("curl -s -m 10 http://127.0.0.1:" + admin + "/stats/prometheus");
    const std::regex total("envoy_tcp_downstream_cx_total\\{envoy_tcp_prefix=\"cds_egress_yelb_redis-(v[12])_yelb_tcp_6379\"\\} ([0-9]+)");
    long sum = 0;
    int members = 0;
    for (auto it = std::sregex_iterator(prom.begin(), prom.end(), total); it != std::sregex_iterator(); ++it) {
        sum += std::stol((*it)[2]);
        ++members;
    }
    INFO(prom.substr(0, 4000));
    CHECK(members == 2);
    CHECK(sum >= n);
    CHECK(prom.find("envoy_tcp_downstream_cx_rx_bytes_total{envoy_tcp_prefix=\"cds_egress_yelb_redis-v1_yelb_tcp_6379\"}") !=
          std::string::npos);
    CHECK(px.terminate(10s) == 0);
}

TEST_CASE("binary: two sidecars carry redis over mTLS into an inbound tcp listener",
          "[tcp][binary][redis][tls]") {
    redis_server app;
    mtls_sidecars sc(app.port());
    CHECK(redis_ping(sc.tcp_port()) == "+PONG\r\n");
    const std::string cli = run_capture("redis-cli -h 127.0.0.1 -p " + std::to_string(sc.tcp_port()) +
                                        " ECHO through-mtls 2>&1");
    INFO(cli);
    CHECK(cli.find("through-mtls") != std::string::npos);
    // STRICT: plaintext straight to the server sidecar's ingress port never reaches redis.
    CHECK(redis_ping(sc.ingress_port()).empty());
}

TEST_CASE("binary: psql through two sidecars with mTLS into an inbound tcp listener",
          "[tcp][binary][postgres][tls]") {
    const std::string bin = "/usr/lib/postgresql/15/bin/";
    if (::access((bin + "initdb").c_str(), X_OK) != 0 || ::access("/usr/bin/psql", X_OK) != 0 ||
        ::getpwnam("postgres") == nullptr) {
        WARN("PostgreSQL 15 (Debian postgresql) not installed: skipped (scripts/setup.sh installs it)");
        return;
    }
    char tmpl[] = "/tmp/outrigger-pg-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    REQUIRE(::chmod(dir.c_str(), 0777) == 0);  // initdb runs as postgres (it refuses root)
    const std::string as_pg = ::getuid() == 0 ? "runuser -u postgres -- " : "";
    const std::string init = run_capture(as_pg + bin + "initdb -D " + dir + "/data -A trust -U postgres "
                                         "--no-sync --no-instructions 2>&1");
    INFO(init);
    REQUIRE(init.find("rc=0") != std::string::npos);
    std::uint16_t pg_port = 0;
    std::string started;
    for (int attempt = 0; attempt < 5; ++attempt) {
        pg_port = free_port();
        started = run_capture(as_pg + bin + "pg_ctl -D " + dir + "/data -w -t 20 -l " + dir + "/log -o '-k " +
                              dir + " -p " + std::to_string(pg_port) +
                              " -c listen_addresses=127.0.0.1 -c fsync=off' start 2>&1");
        if (started.find("rc=0") != std::string::npos) {
            break;
        }
    }
    INFO(started);
    REQUIRE(started.find("rc=0") != std::string::npos);
    struct pg_stop {
        std::string cmd, dir;
        ~pg_stop() {
            (void)std::system(cmd.c_str());
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);  // best effort
        }
    } stop{as_pg + bin + "pg_ctl -D " + dir + "/data -m immediate stop >/dev/null 2>&1", dir};
    {
        mtls_sidecars sc(pg_port);
        const std::string out = run_capture(
            "psql -h 127.0.0.1 -p " + std::to_string(sc.tcp_port()) +
            " -U postgres -At -c 'CREATE TABLE t (v text)' -c \"INSERT INTO t VALUES ('through-mtls')\" "
            "-c 'SELECT v FROM t' 2>&1");
        INFO(out);
        CHECK(out.find("through-mtls\n") != std::string::npos);
        CHECK(out.find("rc=0") != std::string::npos);
        // STRICT: psql straight to the server sidecar (plaintext) is refused before postgres.
        const std::string direct = run_capture("PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p " +
                                               std::to_string(sc.ingress_port()) +
                                               " -U postgres -At -c 'SELECT 1' 2>&1");
        INFO(direct);
        CHECK(direct.find("rc=0") == std::string::npos);
    }
}

TEST_CASE("binary: --tcp-listen usage errors exit 2 with one sentence", "[tcp][binary]") {
    mesh_file mesh(yelb_mesh());
    const std::string base = std::string(OUTRIGGER_BINARY) + " run --mesh " + mesh.path +
                             " --node yelb/yelb-appserver --admin-port 0 --egress-port 0 --ingress-port 0 ";
    const std::string bad = run_capture(base + "--tcp-listen 6379 2>&1");
    CHECK(bad.find("expected [ADDR:]LOCALPORT=SERVICE:PORT") != std::string::npos);
    CHECK(bad.find("rc=2") != std::string::npos);
    const std::string unknown = run_capture(base + "--tcp-listen 0=redis-servr.yelb.svc.cluster.local:6379 2>&1");
    INFO(unknown);
    CHECK(unknown.find("is not a virtual service among this node's backends") != std::string::npos);
    CHECK(unknown.find("did you mean \"redis-server.yelb.svc.cluster.local\"") != std::string::npos);
    CHECK(unknown.find("rc=2") != std::string::npos);
    const std::string port = run_capture(base + "--tcp-listen 0=redis-server.yelb.svc.cluster.local:6380 2>&1");
    INFO(port);
    CHECK(port.find("has no tcp listener on port 6380") != std::string::npos);
    CHECK(port.find("rc=2") != std::string::npos);
}
