#pragma once
// In-process proxy + scripted upstream for the data-path fuzz targets. Started once per process
// (libFuzzer calls the target many times). Blocking sockets with short deadlines on the fuzzer
// side; the proxy runs its own worker threads.
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio.hpp>

#include "proxy/server.hpp"
#include "routing/compile.hpp"
#include "routing/yaml_loader.hpp"

namespace outrigger::fuzz {

namespace net = boost::asio;
using tcp = net::ip::tcp;

inline const char* mesh_yaml = R"(
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m}
spec: {namespaceSelector: {}, egressFilter: {type: DROP_ALL}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: a, namespace: ns}
spec:
  listeners: [{portMapping: {port: 8080, protocol: http}}]
  serviceDiscovery: {dns: {hostname: a.ns.local}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: ns}
spec:
  listeners: [{portMapping: {port: 8080, protocol: http}}]
  routes:
    - name: hdr
      priority: 0
      httpRoute:
        match: {prefix: /api, headers: [{name: x-v, match: {regex: "a.*b"}}], queryParameters: [{name: q}]}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
    - name: all
      priority: 1
      httpRoute:
        match: {prefix: /}
        action: {weightedTargets: [{virtualNodeRef: {name: a}, weight: 1}]}
      timeout: {perRequest: {value: 2, unit: s}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: svc, namespace: ns}
spec: {provider: {virtualRouter: {virtualRouterRef: {name: r}}}}
)";

/// The upstream answers every connection: reads once, then writes `response()` and closes.
class harness {
public:
    static harness& get() {
        // Never destroyed: the upstream thread and the proxy's workers run until the process
        // exits (libFuzzer ends with exit(), and joining a blocked accept() would hang).
        static harness* h = new harness;
        return *h;
    }

    void set_response(std::string r) {
        std::lock_guard<std::mutex> lock(mu_);
        response_ = std::move(r);
    }

    std::uint16_t egress_port() const { return server_->egress_port(); }

    /// Sends `bytes` to the egress listener, half-closes, and reads until EOF or the deadline.
    static void exchange(std::uint16_t port, const std::string& bytes) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            return;
        }
        timeval tv{0, 300 * 1000};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            std::size_t off = 0;
            while (off < bytes.size()) {
                const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
                if (n <= 0) {
                    break;
                }
                off += static_cast<std::size_t>(n);
            }
            ::shutdown(fd, SHUT_WR);
            char buf[16384];
            while (::recv(fd, buf, sizeof buf, 0) > 0) {
            }
        }
        ::close(fd);
    }

private:
    harness() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
        response_ = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        upstream_ = std::thread([this] { serve(); });
        routing::load_options lo;
        lo.compile.default_retry = false;
        routing::mesh_input in;
        routing::diagnostics diags;
        routing::load_string(mesh_yaml, "fuzz-mesh.yaml", in, diags);
        routing::resolve_options ro;
        const auto which = routing::resolve(in, ro, diags);
        const routing::mesh_index index(in);
        auto snap = routing::compile(in, index, which, lo.compile);
        proxy::server_config cfg;
        cfg.egress_port = 0;
        cfg.ingress_port = 0;
        cfg.ingress_address = "127.0.0.1";
        cfg.workers = 1;
        cfg.level = proxy::log_level::error;
        cfg.downstream_idle = std::chrono::milliseconds(500);
        cfg.connect_to.push_back({"a.ns.local", 8080, "127.0.0.1", acceptor_.local_endpoint().port()});
        server_ = std::make_unique<proxy::server>(cfg, snap);
        if (!server_->start()) {
            std::abort();
        }
    }

    void serve() {
        for (;;) {
            boost::system::error_code ec;
            tcp::socket s(ioc_);
            acceptor_.accept(s, ec);
            if (ec) {
                continue;
            }
            std::string resp;
            {
                std::lock_guard<std::mutex> lock(mu_);
                resp = response_;
            }
            char buf[65536];
            s.non_blocking(false);
            timeval tv{0, 200 * 1000};
            ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            (void)s.read_some(net::buffer(buf), ec);
            net::write(s, net::buffer(resp), ec);
            s.shutdown(tcp::socket::shutdown_both, ec);
            s.close(ec);
        }
    }

    net::io_context ioc_;
    tcp::acceptor acceptor_;
    std::mutex mu_;
    std::string response_;
    std::thread upstream_;
    std::unique_ptr<proxy::server> server_;
};

}  // namespace outrigger::fuzz
