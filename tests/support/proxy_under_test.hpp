#pragma once
// The proxy in-process: compiles a mesh YAML string (written to a temp file) and starts N workers
// on port 0 for both listeners. Throws std::runtime_error with every diagnostic when the mesh
// is invalid or a listener cannot be bound.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/config.hpp"
#include "proxy/server.hpp"
#include "routing/snapshot.hpp"

namespace outrigger::test {

struct proxy_options {
    unsigned workers = 1;
    std::string node;  // empty: mesh-wide client
    std::vector<proxy::connect_to_rule> connect_to;
    std::optional<std::vector<std::string>> egress_allow;  // unset: default list
    bool default_retry = true;
    std::string app_address = "127.0.0.1";
    proxy::resolve_hook resolve;
    std::optional<std::chrono::milliseconds> downstream_idle;
    std::string access_log_path;  // empty: off
    bool transparent = false;     // --transparent (SO_ORIGINAL_DST on the egress listener)
    /// server_config::health_check_interval_override_for_test (0: the mesh's intervals).
    std::chrono::milliseconds health_check_interval{0};
    /// Last word on the server configuration (hardening limits and timeouts).
    std::function<void(proxy::server_config&)> tweak;
};

/// Compiles `yaml` (through a temp file) with the routing options of `opts`; throws with every
/// diagnostic when the mesh is invalid.
std::shared_ptr<const routing::snapshot> compile_mesh(const std::string& yaml,
                                                      const proxy_options& opts);

/// `HOST:PORT` → 127.0.0.1:`to_port`.
proxy::connect_to_rule connect_to(const std::string& host, std::uint16_t port, std::uint16_t to_port);

class proxy_under_test {
public:
    explicit proxy_under_test(const std::string& yaml, proxy_options opts = {});
    ~proxy_under_test();
    proxy_under_test(const proxy_under_test&) = delete;
    proxy_under_test& operator=(const proxy_under_test&) = delete;

    [[nodiscard]] std::uint16_t egress_port() const { return server_->egress_port(); }
    [[nodiscard]] std::uint16_t ingress_port() const { return server_->ingress_port(); }
    [[nodiscard]] proxy::server& server() { return *server_; }

private:
    std::unique_ptr<proxy::server> server_;
};

/// A Namespace `shop` (label mesh: shop-mesh) and the Mesh `shop-mesh` with the given egress type.
std::string mesh_header(const std::string& egress = "DROP_ALL");
/// A VirtualNode in `shop` with one http listener and DNS discovery.
std::string node_yaml(const std::string& name, const std::string& hostname, std::uint16_t port,
                      const std::string& response_type = "LOADBALANCER",
                      const std::vector<std::string>& backends = {},
                      const std::string& listener_extra = {});

}  // namespace outrigger::test
