#include "tests/support/proxy_under_test.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "routing/compile.hpp"

namespace outrigger::test {

proxy::connect_to_rule connect_to(const std::string& host, std::uint16_t port, std::uint16_t to_port) {
    proxy::connect_to_rule r;
    r.host = host;
    r.port = port;
    r.addr = "127.0.0.1";
    r.addr_port = to_port;
    return r;
}

std::shared_ptr<const routing::snapshot> compile_mesh(const std::string& yaml,
                                                      const proxy_options& opts) {
    char tmpl[] = "/tmp/outrigger-test-XXXXXX.yaml";
    const int fd = ::mkstemps(tmpl, 5);
    if (fd < 0) {
        throw std::runtime_error("mkstemps failed");
    }
    const ssize_t n = ::write(fd, yaml.data(), yaml.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(yaml.size())) {
        ::unlink(tmpl);
        throw std::runtime_error("short write of the mesh file");
    }
    routing::load_options lo;
    lo.paths = {tmpl};
    lo.node = opts.node;
    lo.compile.default_retry = opts.default_retry;
    if (opts.egress_allow) {
        lo.compile.egress_allow = *opts.egress_allow;
    }
    routing::mesh_input in;
    routing::diagnostics diags;
    auto snap = routing::load_and_compile(lo, in, diags);
    ::unlink(tmpl);
    if (!snap) {
        diags.sort_and_dedupe(in.files);
        std::ostringstream os;
        for (const auto& d : diags.items()) {
            os << routing::format(d, in.files) << '\n';
        }
        throw std::runtime_error("invalid test mesh:\n" + os.str());
    }
    return snap;
}

proxy_under_test::proxy_under_test(const std::string& yaml, proxy_options opts) {
    auto snap = compile_mesh(yaml, opts);
    proxy::server_config cfg;
    cfg.egress_port = 0;
    cfg.ingress_port = 0;
    cfg.ingress_address = "127.0.0.1";
    cfg.workers = opts.workers;
    cfg.connect_to = opts.connect_to;
    cfg.app_address = opts.app_address;
    cfg.resolve_override_for_test = opts.resolve;
    cfg.access_log_path = opts.access_log_path;
    cfg.transparent = opts.transparent;
    cfg.health_check_interval_override_for_test = opts.health_check_interval;
    if (opts.downstream_idle) {
        cfg.downstream_idle = *opts.downstream_idle;
    }
    if (opts.tweak) {
        opts.tweak(cfg);
    }
    server_ = std::make_unique<proxy::server>(cfg, snap);
    if (!server_->start()) {
        throw std::runtime_error("proxy did not start: " + server_->error());
    }
}

proxy_under_test::~proxy_under_test() { server_.reset(); }

std::string mesh_header(const std::string& egress) {
    return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    mesh: shop-mesh\n"
           "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata:\n  name: shop-mesh\n"
           "spec:\n  namespaceSelector:\n    matchLabels:\n      mesh: shop-mesh\n"
           "  egressFilter:\n    type: " + egress + "\n";
}

std::string node_yaml(const std::string& name, const std::string& hostname, std::uint16_t port,
                      const std::string& response_type, const std::vector<std::string>& backends,
                      const std::string& listener_extra) {
    std::string y = "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: " +
                    name + "\n  namespace: shop\nspec:\n  podSelector:\n    matchLabels:\n      app: " +
                    name + "\n  listeners:\n    - portMapping:\n        port: " + std::to_string(port) +
                    "\n        protocol: http\n" + listener_extra +
                    "  serviceDiscovery:\n    dns:\n      hostname: " + hostname +
                    "\n      responseType: " + response_type + "\n";
    if (!backends.empty()) {
        y += "  backends:\n";
        for (const auto& b : backends) {
            y += "    - virtualService:\n        virtualServiceRef:\n          name: " + b + "\n";
        }
    }
    return y;
}

}  // namespace outrigger::test
