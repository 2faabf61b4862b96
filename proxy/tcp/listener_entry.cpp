#include "proxy/tcp/listener_entry.hpp"

#include <optional>
#include <utility>

#include "proxy/downstream_session.hpp"
#include "proxy/original_dst.hpp"
#include "proxy/tcp/tcp_session.hpp"
#include "proxy/tcp/transparent_egress.hpp"

namespace outrigger::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

net::awaitable<void> accepted_connection(worker& w, tcp::socket socket, listener_kind kind) {
    const bool transparent = w.config().transparent;
    if (kind == listener_kind::egress) {
        if (transparent) {
            if (const std::optional<tcp::endpoint> od = original_destination(socket)) {
                http_handoff http = [&w](tcp::socket s, boost::beast::flat_buffer initial,
                                         first_bytes_protocol) {
                    // h2 (prior knowledge) is handed on too: the HTTP path decides what it does
                    // with the preface (the HTTP/2 issue adds it there).
                    return run_downstream_session(w, std::move(s), listener_kind::egress,
                                                  std::move(initial));
                };
                return run_transparent_egress(w, std::move(socket), *od, std::move(http));
            }
        }
        return run_downstream_session(w, std::move(socket), kind);
    }
    // Ingress: is the connection for a node listener of protocol tcp?
    const auto& snap = w.snapshot();
    if (snap && !snap->ingress.empty()) {
        std::optional<std::uint16_t> port;
        if (transparent) {
            if (const std::optional<tcp::endpoint> od = original_destination(socket)) {
                port = od->port();
            }
        }
        if (!port && snap->ingress.size() == 1) {
            port = snap->ingress.front().port;
        }
        if (port) {
            if (std::optional<tcp_plan> plan = plan_tcp_ingress(w, *port)) {
                return run_tcp_session(w, std::move(socket), std::move(*plan));
            }
        }
    }
    return run_downstream_session(w, std::move(socket), kind);
}

}  // namespace outrigger::proxy
