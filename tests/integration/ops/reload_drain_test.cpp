// Hot reload under load (the canary weights rewritten 100 times while clients run), a failed
// reload keeping the old snapshot, and the SIGTERM drain of the real binary.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "ops_support.hpp"
#include "proxy/admin_server.hpp"
#include "proxy/control_plane.hpp"
#include "tests/integration/dataplane/meshes.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

extern char** environ;

using namespace outrigger;
using namespace outrigger::test;
namespace fs = std::filesystem;

using outrigger::test::child_process;

namespace {

std::string canary_weights(int w1, int w2) {
    std::string m = canary_mesh();
    m.replace(m.find("weight: 90"), 10, "weight: " + std::to_string(w1));
    m.replace(m.find("weight: 10"), 10, "weight: " + std::to_string(w2));
    return m;
}

std::string make_dir() {
    char tmpl[] = "/tmp/outrigger-reload-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

void write_file(const std::string& path, const std::string& text, bool atomic) {
    if (atomic) {
        const std::string tmp = path + ".tmp";
        {
            std::ofstream f(tmp, std::ios::trunc);
            f << text;
        }
        fs::rename(tmp, path);
    } else {
        std::ofstream f(path, std::ios::trunc);
        f << text;
    }
}

/// The control thread of the test: an io_context on its own thread running the watcher.
struct control_thread {
    boost::asio::io_context ioc{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{
        boost::asio::make_work_guard(ioc)};
    std::thread t{[this] { ioc.run(); }};
    // Unwatched once the thread stopped and before `ioc` goes (the watcher's timer is ioc's).
    proxy::control_plane* watched = nullptr;
    ~control_thread() {
        work.reset();
        ioc.stop();
        t.join();
        if (watched != nullptr) {
            watched->unwatch();
        }
    }
};

}  // namespace

TEST_CASE("ops: reload under load - 100 weight rewrites, no failed request, final split", "[integration][ops][reload]") {
    test_upstream v1([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v1"; });
    test_upstream v2([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v2"; });
    const std::string dir = make_dir();
    const std::string file = dir + "/mesh.yaml";
    write_file(file, canary_weights(90, 10), false);

    proxy_options o;
    o.node = "web";
    o.workers = 2;
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port()),
                    connect_to("checkout-v2.test.local", 8080, v2.port())};
    proxy_under_test px(canary_weights(90, 10), o);
    routing::load_options lo;
    lo.paths = {dir};
    lo.node = "web";
    proxy::control_plane cp(px.server(), lo);
    auto ctl = std::make_unique<control_thread>();
    std::string err;
    REQUIRE(cp.watch(ctl->ioc, std::chrono::milliseconds(200), err));
    ctl->watched = &cp;

    std::atomic<bool> stop{false};
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 2; ++i) {
        clients.emplace_back([&] {
            http_client c(px.egress_port());
            while (!stop.load()) {
                const auto r = c.get("/load", "checkout.shop.svc.cluster.local:8080");
                (r.ok && r.status == 200 ? ok : failed)++;
            }
        });
    }
    // 100 rewrites over ~20 s; every other one in place (a reader may see a half-written file:
    // that reload fails and keeps the old snapshot), the others renamed into place.
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) {
        const int w2 = (i * 37) % 100 + 1;
        write_file(file, canary_weights(101 - w2, w2), i % 2 == 0);
        std::this_thread::sleep_until(t0 + std::chrono::milliseconds(200 * (i + 1)));  // pacing the writer, not synchronisation
    }
    write_file(file, canary_weights(20, 80), true);
    // Wait until the final content is the published one.
    std::vector<std::string> files;
    const std::uint64_t final_hash = proxy::control_plane::hash_inputs({dir}, files);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (cp.current_sources().hash != final_hash && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling with a deadline
    }
    REQUIRE(cp.current_sources().hash == final_hash);
    stop = true;
    for (auto& t : clients) {
        t.join();
    }
    INFO("ok " << ok.load() << " failed " << failed.load());
    CHECK(failed.load() == 0);
    CHECK(ok.load() > 100);
    // Bursts of rewrites coalesce (debounce), more so on a loaded machine: what matters is that
    // reloads happened while traffic flowed, not how many.
    CHECK(px.server().stats().config_reload_success.load() >= 3);

    // The split after the last reload follows 20/80 (fresh connections see the new snapshot).
    int n2 = 0;
    const int total = 500;
    http_client c(px.egress_port());
    for (int i = 0; i < total; ++i) {
        const auto r = c.get("/split", "checkout.shop.svc.cluster.local:8080");
        REQUIRE(r.status == 200);
        n2 += r.body == "v2" ? 1 : 0;
    }
    INFO("v2 share " << n2 << "/" << total);
    CHECK(n2 > total * 70 / 100);
    CHECK(n2 < total * 90 / 100);
    ctl.reset();
    fs::remove_all(dir);
}

TEST_CASE("ops: a replaced snapshot is destroyed on the background thread, not on a worker", "[integration][ops][reload]") {
    // Destroying a large snapshot (10,000 services) takes milliseconds: on a worker that is a
    // pause of every request it serves (bench/reload_pause.sh). The probe reports the thread
    // that drops the last reference. Two workers: each retires its own reference (and the TLS
    // contexts that pin the snapshot too), which must not keep the snapshot alive for ever.
    test_upstream v1([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v1"; });
    test_upstream v2([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v2"; });
    proxy_options o;
    o.node = "web";
    o.workers = 2;
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port()),
                    connect_to("checkout-v2.test.local", 8080, v2.port())};
    struct probe {
        std::shared_ptr<const routing::snapshot> snap;
        std::promise<std::thread::id>* destroyed;
        ~probe() {
            snap.reset();
            destroyed->set_value(std::this_thread::get_id());
        }
    };
    // Declared before the proxy: it must outlive the probe even when a REQUIRE below fails.
    std::promise<std::thread::id> destroyed;
    auto destroyed_on = destroyed.get_future();
    proxy_under_test px(canary_weights(90, 10), o);
    std::string err;
    {
        std::shared_ptr<probe> p(new probe{compile_mesh(canary_weights(80, 20), o), &destroyed});
        const std::shared_ptr<const routing::snapshot> s(p, p->snap.get());
        REQUIRE(px.server().publish(s, err));
    }
    {
        // Every worker pins the probe snapshot for a request (one connection per worker is not
        // guaranteed, so a few connections).
        for (int i = 0; i < 4; ++i) {
            http_client c(px.egress_port());
            CHECK(c.get("/", "checkout.shop.svc.cluster.local:8080").status == 200);
        }
    }
    REQUIRE(px.server().publish(compile_mesh(canary_weights(90, 10), o), err));
    REQUIRE(destroyed_on.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    CHECK(destroyed_on.get() == px.server().background().thread_id());
}

TEST_CASE("ops: a failed reload keeps the old snapshot and counts config_reload_failed", "[integration][ops][reload]") {
    test_upstream v1([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v1"; });
    test_upstream v2([](const http::request<http::string_body>&, upstream_reply& r) { r.res.body() = "v2"; });
    const std::string dir = make_dir();
    const std::string file = dir + "/mesh.yaml";
    write_file(file, canary_weights(1, 0), true);
    proxy_options o;
    o.node = "web";
    o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port()),
                    connect_to("checkout-v2.test.local", 8080, v2.port())};
    proxy_under_test px(canary_weights(1, 0), o);
    routing::load_options lo;
    lo.paths = {file};
    lo.node = "web";
    proxy::control_plane cp(px.server(), lo);
    proxy::admin_server admin(px.server(), &cp, proxy::admin_info{"t", "t"});
    std::string err;
    REQUIRE(admin.start("127.0.0.1", 0, err));
    http_client a(admin.port());

    // Unchanged content: skipped.
    CHECK(a.request(http::verb::post, "/reload", "127.0.0.1").body == "mesh files unchanged\n");
    // Broken: weights summing to 0 → 400 with the error line, old snapshot stays.
    write_file(file, canary_weights(0, 0), true);
    const auto bad = a.request(http::verb::post, "/reload", "127.0.0.1");
    CHECK(bad.status == 400);
    CHECK(bad.body.find("weight") != std::string::npos);
    CHECK(px.server().stats().config_reload_failed.load() == 1);
    CHECK(http_get(px.egress_port(), "checkout.shop.svc.cluster.local:8080", "/").body == "v1");
    std::string perr;
    const auto samples = parse_prometheus(a.get("/stats/prometheus", "127.0.0.1").body, perr);
    REQUIRE(samples);
    CHECK(prom_value(*samples, "envoy_server_config_reload_failed", {}) == 1.0);
    // Fixed: published.
    write_file(file, canary_weights(0, 1), true);
    CHECK(a.request(http::verb::post, "/reload", "127.0.0.1").status == 200);
    CHECK(http_get(px.egress_port(), "checkout.shop.svc.cluster.local:8080", "/").body == "v2");
    fs::remove_all(dir);
}

// ---- drain with the real binary -----------------------------------------------------------

namespace {


/// A port that was free a moment ago (the admin API needs a number; it has no "any port").
std::uint16_t free_port() {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

}  // namespace

TEST_CASE("ops: SIGTERM drains - slow request completes, listeners close, exit 0", "[integration][ops][drain]") {
    std::promise<void> slow_arrived;
    std::atomic<bool> arrived_once{false};
    test_upstream v1([&](const http::request<http::string_body>& req, upstream_reply& r) {
        r.res.body() = "v1";
        if (req.target() == "/slow") {
            r.delay = std::chrono::milliseconds(2500);
            if (!arrived_once.exchange(true)) {
                slow_arrived.set_value();
            }
        }
    });
    const std::string dir = make_dir();
    const std::string file = dir + "/mesh.yaml";
    write_file(file, canary_weights(1, 0), true);
    const std::uint16_t admin_port = free_port();
    child_process px({OUTRIGGER_BINARY, "run", "--mesh", file, "--node", "web", "--egress-port", "0",
                      "--ingress-port", "0", "--ingress-address", "127.0.0.1", "--workers", "2",
                      "--admin-port", std::to_string(admin_port), "--drain-time", "1s", "--connect-to",
                      "checkout-v1.test.local:8080:127.0.0.1:" + std::to_string(v1.port())});
    const std::string port_s =
        px.wait_for(std::regex("egress listening on 127\\.0\\.0\\.1:([0-9]+)"), std::chrono::seconds(10));
    REQUIRE_FALSE(port_s.empty());
    REQUIRE_FALSE(px.wait_for(std::regex("admin listening on 127\\.0\\.0\\.1:([0-9]+)"), std::chrono::seconds(10)).empty());
    const auto port = static_cast<std::uint16_t>(std::stoi(port_s));
    http_client admin(admin_port);
    CHECK(admin.get("/ready", "127.0.0.1").status == 200);

    // An idle keep-alive connection, and a slow request in flight.
    http_client idle(port);
    auto first = idle.get("/", "checkout.shop.svc.cluster.local:8080");
    REQUIRE(first.status == 200);
    CHECK(first.keep_alive);
    auto slow = std::async(std::launch::async, [port] {
        http_client c(port, std::chrono::seconds(20));
        return c.get("/slow", "checkout.shop.svc.cluster.local:8080");
    });
    REQUIRE(slow_arrived.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);

    const auto t_term = std::chrono::steady_clock::now();
    px.signal(SIGTERM);
    // /ready turns 503 (the admin API answers until the process exits).
    bool not_ready = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!not_ready && std::chrono::steady_clock::now() < deadline) {
        http_client a(admin_port, std::chrono::seconds(2));
        not_ready = a.get("/ready", "127.0.0.1").status == 503;
    }
    CHECK(not_ready);
    // The idle keep-alive connection gets `Connection: close` on its next response.
    const auto next = idle.get("/", "checkout.shop.svc.cluster.local:8080");
    CHECK(next.status == 200);
    CHECK_FALSE(next.keep_alive);
    // After the drain time, new connections are refused while the slow request is still running.
    bool refused = false;
    while (!refused && std::chrono::steady_clock::now() < t_term + std::chrono::seconds(10)) {
        boost::asio::io_context ioc;
        boost::asio::ip::tcp::socket s(ioc);
        boost::system::error_code ec;
        s.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
        refused = ec == boost::asio::error::connection_refused;
        if (!refused) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling with a deadline
        }
    }
    CHECK(refused);
    CHECK(std::chrono::steady_clock::now() - t_term >= std::chrono::milliseconds(900));
    const auto r = slow.get();
    CHECK(r.ok);
    CHECK(r.status == 200);
    CHECK(r.body == "v1");
    CHECK(px.wait_exit(std::chrono::seconds(20)) == 0);
    fs::remove_all(dir);
}
