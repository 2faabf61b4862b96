// Hot reload from a Kubernetes ConfigMap volume: kubelet's atomic-writer update sequence (new
// `..<timestamp>` directory, `..data_tmp` symlink renamed over `..data`, user-visible symlinks
// added and removed, old directory removed), keys added and removed, and edits in place through
// the symlinks, for `--mesh DIR` and `--mesh DIR/mesh.yaml`. Clients send requests through the
// proxy the whole time: no request may fail, and each update's routing must take effect (the
// canary weights flip between 100/0 and 0/100, so every answer says which snapshot served it).
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "proxy/control_plane.hpp"
#include "routing/compile.hpp"
#include "tests/integration/dataplane/meshes.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proxy_under_test.hpp"
#include "tests/support/test_upstream.hpp"

using namespace outrigger;
using namespace outrigger::test;
namespace fs = std::filesystem;

namespace {

const std::string checkout_host = "checkout.shop.svc.cluster.local:8080";

std::string with_weights(std::string m, int w1, int w2) {
    // v2's first: "weight: 100" would contain "weight: 10".
    m.replace(m.find("weight: 10\n"), 10, "weight: " + std::to_string(w2));
    m.replace(m.find("weight: 90\n"), 10, "weight: " + std::to_string(w1));
    return m;
}

/// The canary mesh with all traffic on v1 (`to_v2` false) or on v2.
std::string canary_all(bool to_v2) {
    return with_weights(canary_mesh(), to_v2 ? 0 : 100, to_v2 ? 100 : 0);
}

/// The canary mesh as two ConfigMap keys: the VirtualRouter on its own, the rest.
struct split_mesh {
    std::string base;
    std::string router;
};
split_mesh canary_split(bool to_v2) {
    const std::string all = canary_all(to_v2);
    const std::size_t begin = all.find("---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter");
    REQUIRE(begin != std::string::npos);
    const std::size_t end = all.find("---\n", begin + 4);
    REQUIRE(end != std::string::npos);
    return {all.substr(0, begin) + all.substr(end), all.substr(begin, end - begin)};
}

std::string make_dir() {
    char tmpl[] = "/tmp/outrigger-configmap-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

/// kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go, Write), step by step.
class kubelet_volume {
public:
    explicit kubelet_volume(std::string dir) : dir_(std::move(dir)) {}

    void write(const std::map<std::string, std::string>& payload) {
        // (5) A new timestamped directory: `..2006_01_02_15_04_05.<random>`.
        std::array<char, 64> stamp{};
        const std::time_t now = std::time(nullptr);
        std::tm tm{};
        ::gmtime_r(&now, &tm);
        std::strftime(stamp.data(), stamp.size(), "..%Y_%m_%d_%H_%M_%S.", &tm);
        std::string tmpl = dir_ + "/" + stamp.data() + "XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        const std::string ts_name = fs::path(tmpl).filename().string();
        // (6) The payload into it.
        for (const auto& [key, text] : payload) {
            std::ofstream f(tmpl + "/" + key);
            f << text;
            REQUIRE(f.good());
        }
        // (7) `..data_tmp -> ..<timestamp>`, (8) renamed over `..data` (atomic).
        fs::create_directory_symlink(ts_name, dir_ + "/..data_tmp");
        fs::rename(dir_ + "/..data_tmp", dir_ + "/..data");
        // (9) User-visible symlinks for new keys, (10) removed for dropped ones.
        for (const auto& [key, text] : payload) {
            if (!fs::is_symlink(fs::symlink_status(dir_ + "/" + key))) {
                fs::create_symlink("..data/" + key, dir_ + "/" + key);
            }
        }
        for (const auto& key : keys_) {
            if (payload.count(key) == 0) {
                fs::remove(dir_ + "/" + key);
            }
        }
        // (11) The old timestamped directory goes.
        if (!old_ts_.empty()) {
            fs::remove_all(dir_ + "/" + old_ts_);
        }
        old_ts_ = ts_name;
        keys_.clear();
        for (const auto& [key, text] : payload) {
            keys_.insert(key);
        }
    }

private:
    std::string dir_;
    std::string old_ts_;
    std::set<std::string> keys_;
};

/// Clients for the whole test: one on a kept-alive connection, one opening a connection per
/// request. Every answer must be a 200 from v1 or v2.
class load {
public:
    explicit load(std::uint16_t port) : port_(port) {
        threads_.emplace_back([this] {
            http_client c(port_);
            while (!stop_.load()) {
                count(c.get("/load", checkout_host));
            }
        });
        threads_.emplace_back([this] {
            while (!stop_.load()) {
                count(http_get(port_, checkout_host, "/load"));
            }
        });
    }
    ~load() { finish(); }
    load(const load&) = delete;
    load& operator=(const load&) = delete;

    void finish() {
        stop_ = true;
        for (auto& t : threads_) {
            if (t.joinable()) {
                t.join();
            }
        }
    }
    [[nodiscard]] int ok() const { return ok_.load(); }
    [[nodiscard]] int failed() const { return failed_.load(); }
    [[nodiscard]] std::string first_failure() const {
        std::lock_guard<std::mutex> lk(mu_);
        return first_failure_;
    }

private:
    void count(const client_response& r) {
        if (r.ok && r.status == 200 && (r.body == "v1" || r.body == "v2")) {
            ++ok_;
            return;
        }
        ++failed_;
        std::lock_guard<std::mutex> lk(mu_);
        if (first_failure_.empty()) {
            first_failure_ = std::to_string(r.status) + " " + r.error + " " + r.body;
        }
    }

    std::uint16_t port_;
    std::atomic<bool> stop_{false};
    std::atomic<int> ok_{0};
    std::atomic<int> failed_{0};
    mutable std::mutex mu_;
    std::string first_failure_;
    std::vector<std::thread> threads_;
};

/// True once 10 fresh requests in a row are answered by `backend` (deadline 20 s).
bool served_by(std::uint16_t port, const std::string& backend) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int streak = 0;
    client_response last;
    while (std::chrono::steady_clock::now() < deadline) {
        last = http_get(port, checkout_host, "/probe");
        if (last.ok && last.status == 200 && last.body == backend) {
            if (++streak == 10) {
                return true;
            }
            continue;
        }
        streak = 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling with a deadline
    }
    WARN("never served by " << backend << "; last answer: " << last.status << " " << last.error
                            << " " << last.body);
    return false;
}

/// The control thread of the test: an io_context on its own thread running the watcher.
struct control_thread {
    boost::asio::io_context ioc{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{
        boost::asio::make_work_guard(ioc)};
    std::thread t{[this] { ioc.run(); }};
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

struct backends {
    test_upstream v1{[](const http::request<http::string_body>&, upstream_reply& r) {
        r.res.body() = "v1";
    }};
    test_upstream v2{[](const http::request<http::string_body>&, upstream_reply& r) {
        r.res.body() = "v2";
    }};
    proxy_options options() const {
        proxy_options o;
        o.node = "web";
        o.workers = 2;
        o.connect_to = {connect_to("checkout-v1.test.local", 8080, v1.port()),
                        connect_to("checkout-v2.test.local", 8080, v2.port())};
        return o;
    }
};

/// The mesh `paths` stand for loads and compiles without an error (no object "defined twice"
/// through `..data` and the timestamped directory).
void require_loads(const std::vector<std::string>& paths) {
    routing::load_options lo;
    lo.paths = paths;
    lo.node = "web";
    routing::mesh_input in;
    routing::diagnostics diags;
    const auto snap = routing::load_and_compile(lo, in, diags);
    std::string all;
    for (const auto& d : diags.items()) {
        all += routing::format(d, in.files) + "\n";
    }
    INFO(all);
    REQUIRE(snap != nullptr);
    CHECK(diags.items().empty());
}

}  // namespace

TEST_CASE("ops: --mesh DIR of a ConfigMap volume reloads on kubelet's updates, key changes and "
          "edits, under load",
          "[integration][ops][reload][configmap]") {
    backends b;
    const std::string dir = make_dir();
    kubelet_volume vol(dir);
    const auto v1 = canary_split(false);
    vol.write({{"mesh.yaml", v1.base}, {"router.yaml", v1.router}});
    require_loads({dir});

    proxy_under_test px(canary_all(false), b.options());
    routing::load_options lo;
    lo.paths = {dir};
    lo.node = "web";
    proxy::control_plane cp(px.server(), lo);
    auto ctl = std::make_unique<control_thread>();
    std::string err;
    REQUIRE(cp.watch(ctl->ioc, std::chrono::milliseconds(200), err));
    ctl->watched = &cp;
    REQUIRE(served_by(px.egress_port(), "v1"));

    load clients(px.egress_port());
    // 1. kubelet's update: the same keys, the router now sends everything to v2.
    const auto v2 = canary_split(true);
    vol.write({{"mesh.yaml", v2.base}, {"router.yaml", v2.router}});
    CHECK(served_by(px.egress_port(), "v2"));
    // 2. A key removed and another added in one update (router.yaml -> canary-router.yaml).
    vol.write({{"mesh.yaml", v1.base}, {"canary-router.yaml", v1.router}});
    CHECK(served_by(px.egress_port(), "v1"));
    CHECK_FALSE(fs::exists(dir + "/router.yaml"));
    // 3. An edit in place through the user-visible symlink (the file in ..<timestamp>).
    {
        std::ofstream f(dir + "/canary-router.yaml", std::ios::trunc);
        f << v2.router;
    }
    CHECK(served_by(px.egress_port(), "v2"));
    // 4. A key added on its own: a Deployment next to the mesh changes nothing, and a second
    //    update after it still reloads.
    vol.write({{"mesh.yaml", v1.base},
               {"canary-router.yaml", v1.router},
               {"app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"}});
    CHECK(served_by(px.egress_port(), "v1"));
    clients.finish();
    INFO("ok " << clients.ok() << " failed " << clients.failed() << " first failure "
               << clients.first_failure());
    CHECK(clients.failed() == 0);
    CHECK(clients.ok() > 50);
    CHECK(px.server().stats().config_reload_success.load() >= 4);
    // What the watcher hashes is what the loader reads: the user-visible names only.
    CHECK(cp.current_sources().files ==
          std::vector<std::string>{dir + "/app.yaml", dir + "/canary-router.yaml",
                                   dir + "/mesh.yaml"});
    ctl.reset();
    fs::remove_all(dir);
}

TEST_CASE("ops: --mesh DIR/mesh.yaml through ..data reloads on kubelet's updates and edits, "
          "under load",
          "[integration][ops][reload][configmap]") {
    backends b;
    const std::string dir = make_dir();
    kubelet_volume vol(dir);
    vol.write({{"mesh.yaml", canary_all(false)}});
    const std::string file = dir + "/mesh.yaml";
    require_loads({file});

    proxy_under_test px(canary_all(false), b.options());
    routing::load_options lo;
    lo.paths = {file};
    lo.node = "web";
    proxy::control_plane cp(px.server(), lo);
    auto ctl = std::make_unique<control_thread>();
    std::string err;
    REQUIRE(cp.watch(ctl->ioc, std::chrono::milliseconds(200), err));
    ctl->watched = &cp;
    REQUIRE(served_by(px.egress_port(), "v1"));

    load clients(px.egress_port());
    // The symlink's target directory is replaced by each update: three in a row.
    vol.write({{"mesh.yaml", canary_all(true)}});
    CHECK(served_by(px.egress_port(), "v2"));
    vol.write({{"mesh.yaml", canary_all(false)}});
    CHECK(served_by(px.egress_port(), "v1"));
    // Another key of the ConfigMap is none of this proxy's business, even broken.
    vol.write({{"mesh.yaml", canary_all(true)}, {"notes.yaml", "not: [yaml"}});
    CHECK(served_by(px.egress_port(), "v2"));
    // An edit in place through the symlink.
    {
        std::ofstream f(file, std::ios::trunc);
        f << canary_all(false);
    }
    CHECK(served_by(px.egress_port(), "v1"));
    clients.finish();
    INFO("ok " << clients.ok() << " failed " << clients.failed() << " first failure "
               << clients.first_failure());
    CHECK(clients.failed() == 0);
    CHECK(clients.ok() > 50);
    CHECK(px.server().stats().config_reload_success.load() >= 4);
    ctl.reset();
    fs::remove_all(dir);
}

TEST_CASE("ops: outrigger run --mesh DIR starts on a ConfigMap volume and follows kubelet's "
          "update, under load",
          "[integration][ops][reload][configmap]") {
    backends b;
    const std::string dir = make_dir();
    kubelet_volume vol(dir);
    const auto v1 = canary_split(false);
    vol.write({{"mesh.yaml", v1.base}, {"router.yaml", v1.router}});
    child_process px({OUTRIGGER_BINARY, "run", "--mesh", dir, "--node", "web", "--egress-port",
                      "0", "--ingress-port", "0", "--ingress-address", "127.0.0.1", "--admin-port",
                      "0", "--workers", "2", "--drain-time", "1s", "--connect-to",
                      "checkout-v1.test.local:8080:127.0.0.1:" + std::to_string(b.v1.port()),
                      "--connect-to",
                      "checkout-v2.test.local:8080:127.0.0.1:" + std::to_string(b.v2.port())});
    const std::string port_s = px.wait_for(
        std::regex("egress listening on 127\\.0\\.0\\.1:([0-9]+)"), std::chrono::seconds(10));
    REQUIRE_FALSE(port_s.empty());
    const auto port = static_cast<std::uint16_t>(std::stoi(port_s));
    REQUIRE(served_by(port, "v1"));
    {
        load clients(port);
        const auto v2 = canary_split(true);
        vol.write({{"mesh.yaml", v2.base}, {"router.yaml", v2.router}});
        CHECK(served_by(port, "v2"));
        clients.finish();
        INFO("ok " << clients.ok() << " failed " << clients.failed() << " first failure "
                   << clients.first_failure());
        CHECK(clients.failed() == 0);
        CHECK(clients.ok() > 10);
    }
    CHECK(px.terminate(std::chrono::seconds(20)) == 0);
    fs::remove_all(dir);
}
