#pragma once
// The admin listener (Envoy's admin API, the parts an App Mesh user's tooling calls), on its own
// thread and io_context so that a slow scrape never touches a worker:
//
//   GET  /ready               200 LIVE when listeners are up and a snapshot is loaded; 503 while
//                             draining, after POST /healthcheck/fail or before start
//   GET  /server_info         JSON: version, state, uptime, node, mesh, generation, options
//   GET  /config_dump         JSON: mesh sources and the compiled snapshot
//   GET  /clusters            Envoy's text form: per target cluster and endpoint, health and counters
//   GET  /stats               Envoy's plain `name: value` form
//   GET  /stats/prometheus    Prometheus text format (also /metrics)
//   POST /healthcheck/fail    /ready → 503 (POST /healthcheck/ok undoes it)
//   POST /drain_listeners     drain and close the listeners (the process keeps running)
//   POST /reload              reload the mesh files now
//
// Mutating endpoints answer 405 to any other method. Requests are small and bounded (8 KiB
// heads, no bodies kept).
//
// Thread-affinity: start/stop from the control thread; handlers run on the admin thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/control_plane.hpp"
#include "proxy/server.hpp"

namespace outrigger::proxy {

struct admin_info {
    std::string version;
    std::string command_line;  // for /server_info
};

class admin_server {
public:
    /// `cp` may be null (no reload: POST /reload answers 501).
    admin_server(server& srv, control_plane* cp, admin_info info);
    ~admin_server();
    admin_server(const admin_server&) = delete;
    admin_server& operator=(const admin_server&) = delete;

    /// Binds `address:port` (port 0: any free port) and starts the admin thread.
    bool start(const std::string& address, std::uint16_t port, std::string& err);
    void stop();
    [[nodiscard]] std::uint16_t port() const { return port_; }

    struct reply {
        unsigned status = 200;
        std::string content_type = "text/plain; charset=UTF-8";
        std::string body;
    };
    /// Answers one request (exposed for tests; runs on the admin thread in production).
    reply handle(std::string_view method, std::string_view target);

private:
    std::string config_dump();
    std::string clusters();
    std::string server_info();

    server& srv_;
    control_plane* cp_;
    admin_info info_;
    std::unique_ptr<boost::asio::io_context> ioc_;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
    std::thread thread_;
    std::uint16_t port_ = 0;
};

}  // namespace outrigger::proxy
