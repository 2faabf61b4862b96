#include "proxy/gateway_listener.hpp"

#include <fmt/format.h>

namespace outrigger::proxy {

namespace http = boost::beast::http;

namespace {

bool answers_health(const routing::gateway_listener_entry& l) {
    return l.health_check && l.health_check->path &&
           (l.health_check->protocol == "http" || l.health_check->protocol == "http2");
}

}  // namespace

gateway_step gateway_route_request(const routing::gateway_snapshot& gw, std::uint16_t listener_port,
                                   const routing::request_view& view, std::uint32_t random,
                                   routing::gateway_rewrite& rw) {
    gateway_step step;
    step.listener = gw.find_listener(listener_port);
    if (step.listener == nullptr) {
        step.kind = gateway_step::kind_t::no_listener;
        return step;
    }
    if (is_gateway_health_probe(*step.listener, view.method, view.path)) {
        step.kind = gateway_step::kind_t::health_check;
        return step;
    }
    const routing::gateway_result r = routing::route_gateway_request(gw, listener_port, view, random, rw);
    using outcome = routing::gateway_decision::outcome_t;
    switch (r.gateway.outcome) {
    case outcome::matched:
        step.kind = gateway_step::kind_t::routed;
        step.route = r.gateway.route;
        step.outbound = r.outbound;
        break;
    case outcome::no_listener:
        step.kind = gateway_step::kind_t::no_listener;
        break;
    case outcome::no_route:
        step.kind = gateway_step::kind_t::no_route;
        break;
    }
    return step;
}

bool is_gateway_health_probe(const routing::gateway_listener_entry& listener, std::string_view method,
                             std::string_view path) {
    return answers_health(listener) && (method == "GET" || method == "HEAD") &&
           path == *listener.health_check->path;
}

http::response<http::string_body> make_gateway_health_reply(
    const routing::gateway_listener_entry& listener, bool draining, bool failed, unsigned version,
    bool keep_alive) {
    const bool healthy = !draining && !failed;
    http::response<http::string_body> res{healthy ? http::status::ok : http::status::service_unavailable,
                                          version == 10 ? 10u : 11u};
    res.set(http::field::content_type, "text/plain");
    res.set(http::field::cache_control, "no-cache");
    if (healthy) {
        res.body() = fmt::format("healthy: {}\n", listener.display);
    } else if (draining) {
        res.body() = fmt::format("unhealthy: {} is draining\n", listener.display);
    } else {
        res.body() = fmt::format("unhealthy: {}: health check failed (POST /healthcheck/fail)\n",
                                 listener.display);
    }
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

void gateway_upstream_target(const routing::gateway_rewrite& rw, std::string_view query,
                             bool had_query, std::string& out) {
    out.assign(rw.path.empty() ? std::string_view("/") : std::string_view(rw.path));
    if (had_query) {
        out.push_back('?');
        out.append(query);
    }
}

std::string no_gateway_route_sentence(const routing::gateway_snapshot& gw,
                                      const routing::gateway_listener_entry* listener,
                                      std::uint16_t listener_port, std::string_view method,
                                      std::string_view path, std::string_view host) {
    if (listener == nullptr) {
        return fmt::format("virtual gateway \"{}\" no longer has a listener on port {} (the mesh "
                           "was reloaded without it; restart to close the port)",
                           gw.gateway_name, listener_port);
    }
    const std::string_view p = path.substr(0, 200);
    if (host.empty()) {
        return fmt::format("no gateway route of virtual gateway \"{}\" matches {} {} on {}",
                           gw.gateway_name, method, p, listener->display);
    }
    return fmt::format("no gateway route of virtual gateway \"{}\" matches {} {} (host \"{}\") on {}",
                       gw.gateway_name, method, p, host.substr(0, 200), listener->display);
}

std::string gateway_listener_label(std::uint16_t listener_port) {
    return fmt::format("gateway_{}", listener_port);
}

std::vector<std::string> gateway_protocol_warnings(const routing::gateway_snapshot& gw) {
    std::vector<std::string> out;
    for (const auto& l : gw.listeners) {
        if (l.health_check) {
            const auto& hc = *l.health_check;
            if (hc.protocol == "grpc") {
                out.push_back(fmt::format("{}: healthCheck protocol grpc is not answered yet (it "
                                          "needs HTTP/2); a TCP connect to the port succeeds",
                                          l.display));
            } else if (hc.port && *hc.port != l.port && answers_health(l)) {
                out.push_back(fmt::format("{}: healthCheck.port {} is not a separate port: the "
                                          "check path is answered on the listener's own port",
                                          l.display, *hc.port));
            }
        }
    }
    return out;
}

}  // namespace outrigger::proxy
