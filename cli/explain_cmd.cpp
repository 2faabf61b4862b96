// `outrigger explain --mesh PATH... [--node NODE] [-H 'Name: value']... [--json] METHOD URL`:
// shows, for one request, every step the proxy would take (DECISIONS §1, issue "Foundation" §5).
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <ostream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "routing/compile.hpp"
#include "routing/gateway_compile.hpp"
#include "routing/tcp_decide.hpp"

namespace outrigger::cli {

namespace {

namespace json = boost::json;
using routing::route_decision;

constexpr const char* explain_usage =
    "usage: outrigger explain --mesh PATH [--mesh PATH]... [--node NODE | --gateway GATEWAY]\n"
    "                         [-H 'Name: value']... [--json] [--no-default-retry]\n"
    "                         [--egress-allow PATTERN]... METHOD URL\n"
    "\n"
    "Shows how the proxy would route one request: node, port, virtual service, every route in\n"
    "evaluation order with the first failing condition, the chosen route's targets with their\n"
    "probabilities, timeouts, retry policy, TLS toward each target and the endpoints it would use.\n"
    "URL is absolute (http://HOST[:PORT]/PATH?QUERY). Exit 0 when the request would be routed or\n"
    "passed, 3 when it would be refused, 1 when the mesh is invalid, 2 on a usage error.\n"
    "\n"
    "With --gateway (NAME, NS/NAME or mesh/M/virtualGateway/AWSNAME) the request arrives at that\n"
    "virtual gateway on the listener named by the URL's port (optional with one listener): the\n"
    "gateway routes in evaluation order, the one that matched and the rewritten request come\n"
    "first, then the outbound explanation above for the rewritten request. -H 'Host: NAME' sets\n"
    "the Host matched by hostname rules (default: the URL's HOST[:PORT]).\n"
    "\n"
    "outrigger explain --mesh PATH... [--node NODE] [--json] tcp://HOST:PORT shows a TCP connection\n"
    "instead: the TCP backend (HOST a backend's awsName: as --tcp-listen; else the port alone, as\n"
    "transparent mode), its tcpRoute and weights, endpoints, TLS, idle timeout and connect retries.\n";

std::string ms_text(std::chrono::milliseconds ms) {
    if (ms.count() == 0) {
        return "off";
    }
    if (ms.count() % 1000 == 0) {
        return fmt::format("{}s", ms.count() / 1000);
    }
    return fmt::format("{}ms", ms.count());
}

std::string retry_text(const routing::retry_spec& r) {
    if (!r.present) {
        return "none";
    }
    std::vector<std::string> ev;
    using rs = routing::retry_spec;
    const std::pair<std::uint32_t, const char*> names[] = {
        {rs::server_error, "server-error"},
        {rs::gateway_error, "gateway-error"},
        {rs::client_error, "client-error"},
        {rs::stream_error, "stream-error"},
        {rs::connection_error, "connection-error"},
        {rs::status_503, "503"},
        {rs::reset, "reset"},
        {rs::grpc_cancelled, "cancelled"},
        {rs::grpc_deadline_exceeded, "deadline-exceeded"},
        {rs::grpc_internal, "internal"},
        {rs::grpc_resource_exhausted, "resource-exhausted"},
        {rs::grpc_unavailable, "unavailable"},
    };
    for (const auto& [bit, name] : names) {
        if ((r.events & bit) != 0) {
            ev.emplace_back(name);
        }
    }
    return fmt::format("{}{} retries on {}, per-try timeout {}", r.is_default ? "App Mesh default policy: " : "",
                       r.max_retries, fmt::join(ev, ", "), ms_text(r.per_try_timeout));
}

std::string tls_text(const routing::tls_origination& t) {
    using m = routing::tls_origination::mode_t;
    switch (t.mode) {
        case m::plaintext: return "plaintext (" + t.source + ")";
        case m::no_verify: return "TLS, server certificate NOT verified (" + t.source + ")";
        case m::verify:
            return fmt::format("TLS verified against {} with SAN in [{}]{} ({})", t.trust_file,
                               fmt::join(t.sans, ", "),
                               t.certificate_chain.empty() ? "" : ", client certificate " + t.certificate_chain,
                               t.source);
    }
    return "";
}

std::string endpoints_text(const routing::upstream_target& t) {
    using k = routing::endpoint_source::kind_t;
    switch (t.endpoints.kind) {
        case k::none: return "none (the node has no service discovery)";
        case k::dns:
            return fmt::format("DNS {}:{} ({})", t.endpoints.hostname, t.port,
                               t.endpoints.all_addresses ? "ENDPOINTS: every address, round robin"
                                                         : "LOADBALANCER: first address");
        case k::cloud_map:
            return fmt::format("Cloud Map via DNS {}:{} (every address, round robin)",
                               t.endpoints.hostname, t.port);
    }
    return "";
}

std::string outlier_text(const routing::upstream_target& t) {
    if (!t.outlier) {
        return "none";
    }
    const auto& o = *t.outlier;
    return fmt::format("eject after {} consecutive 5xx/local failures for {} x ejections (max {}), "
                       "sweep every {}, at most {}% of endpoints (at least one)",
                       o.max_server_errors, ms_text(o.base_ejection_duration.to_ms()), "300000ms",
                       ms_text(o.interval.to_ms()), o.max_ejection_percent);
}

std::string health_text(const routing::upstream_target& t) {
    if (!t.health) {
        return "none";
    }
    const auto& h = *t.health;
    const auto port = h.port.value_or(t.port);
    return fmt::format("{} {}port {} every {}ms, timeout {}ms, unhealthy after {}, healthy after {} "
                       "(unhealthy endpoints skipped; none left: 503 UH)",
                       h.protocol,
                       (h.protocol == "http" || h.protocol == "http2") ? "GET " + h.path.value_or("/") + " (200 = healthy) " : "connect ",
                       port, h.interval_ms, h.timeout_ms, h.unhealthy_threshold, h.healthy_threshold);
}

/// "service test.Echo, method Say" for a gRPC :path (/package.Service/Method); empty otherwise.
std::string grpc_call_text(std::string_view path) {
    if (path.size() < 4 || path.front() != '/') {
        return {};
    }
    const auto slash = path.find('/', 1);
    if (slash == std::string_view::npos || slash == 1 || slash + 1 >= path.size() ||
        path.find('/', slash + 1) != std::string_view::npos) {
        return {};
    }
    return fmt::format("service {}, method {}", path.substr(1, slash - 1), path.substr(slash + 1));
}

std::string describe_match(const routing::compiled_route& r) {
    std::vector<std::string> parts;
    if (r.kind == routing::route_kind::grpc) {
        // serviceName/methodName were compiled into a path: say them as the route does.
        const std::string_view v = r.path_value;
        if (r.path_type == routing::compiled_route::path_kind::exact) {
            const auto slash = v.find('/', 1);
            parts.push_back(fmt::format("grpc service {} method {}", v.substr(1, slash - 1), v.substr(slash + 1)));
        } else if (v.size() > 2) {
            parts.push_back(fmt::format("grpc service {} (any method)", v.substr(1, v.size() - 2)));
        } else {
            parts.push_back("grpc (any service)");
        }
        for (const auto& h : r.headers) {
            parts.push_back(std::string(h.invert ? "!" : "") + "metadata " + h.name_lower);
        }
        if (r.port) parts.push_back(fmt::format("port {}", *r.port));
        return fmt::format("{}", fmt::join(parts, ", "));
    }
    switch (r.path_type) {
        case routing::compiled_route::path_kind::prefix:
            if (r.kind != routing::route_kind::tcp) {
                parts.push_back("prefix " + r.path_value);
            }
            break;
        case routing::compiled_route::path_kind::exact: parts.push_back("path " + r.path_value); break;
        case routing::compiled_route::path_kind::regex: parts.push_back("path ~ /" + r.path_value + "/"); break;
    }
    if (r.method) parts.push_back("method " + *r.method);
    if (r.scheme) parts.push_back("scheme " + *r.scheme);
    for (const auto& h : r.headers) parts.push_back(std::string(h.invert ? "!" : "") + "header " + h.name_lower);
    for (const auto& q : r.query) parts.push_back("query " + q.name + (q.exact ? "=" + *q.exact : ""));
    if (r.port) parts.push_back(fmt::format("port {}", *r.port));
    return fmt::format("{}", fmt::join(parts, ", "));
}

const char* outcome_name(route_decision::outcome_t o) {
    switch (o) {
        case route_decision::outcome_t::routed: return "routed";
        case route_decision::outcome_t::unmodelled: return "unmodelled";
        case route_decision::outcome_t::wrong_port: return "wrong_port";
        case route_decision::outcome_t::ambiguous_port: return "ambiguous_port";
        case route_decision::outcome_t::no_route: return "no_route";
        case route_decision::outcome_t::no_provider: return "no_provider";
    }
    return "";
}

struct parsed_request {
    std::string method;
    std::string host;
    std::optional<std::uint16_t> port;
    std::string path;
    std::string query;
    std::vector<std::pair<std::string, std::string>> headers;
};

/// What the outbound half of an explanation concluded.
struct outbound_report {
    int code = 0;  // 0 routed or passed, 3 refused
    std::string verdict;
    json::object json;  // filled when explaining as JSON
};

/// The proxy's outbound step for `rv` on `snap` (a node's egress side, the mesh-wide client, or a
/// gateway's outbound snapshot): decide() with its trace, printed as text to `out` or returned as
/// JSON. `url_text` is the request line's URL as shown.
outbound_report explain_outbound(const routing::snapshot& snap, const routing::request_view& rv,
                                 const std::string& url_text, bool as_json, std::ostream& out) {
    const std::string host(rv.host);
    const std::string method(rv.method);
    const std::string norm(rv.path);
    const std::optional<std::uint16_t> req_port = rv.port;
    std::vector<routing::route_trace_entry> trace;
    const auto d = routing::decide(snap, rv, 0, &trace);

    const std::string node_text =
        snap.node_name ? *snap.node_name
        : snap.gateway_name
            ? fmt::format("(none: the outbound side of gateway {}, the targets of its gateway "
                          "routes are its backends)",
                          *snap.gateway_name)
            : fmt::format("(none: mesh-wide client, every virtual service of mesh {} is a backend)",
                          snap.mesh_name);
    outbound_report rep;
    int& code = rep.code;
    std::string& verdict = rep.verdict;
    switch (d.outcome) {
        case route_decision::outcome_t::routed:
            verdict = fmt::format("routed via {}", d.route ? "route " + d.route->name : "virtual node provider");
            break;
        case route_decision::outcome_t::unmodelled:
        case route_decision::outcome_t::wrong_port: {
            const bool allowed = snap.egress_allowed(host);
            std::string why = d.outcome == route_decision::outcome_t::unmodelled
                                  ? fmt::format("\"{}\" is not a virtual service among this node's backends", host)
                                  : fmt::format("virtual service \"{}\" does not listen on port {}", d.service->aws_name,
                                                *req_port);
            if (allowed) {
                verdict = why + fmt::format("; passed unchanged as unmodelled egress ({})",
                                            snap.allow_all_egress ? "ALLOW_ALL" : "--egress-allow");
            } else {
                const std::string near = snap.closest_service(host);
                verdict = why + "; refused: 404 NR (egress DROP_ALL)" +
                          (near.empty() ? "" : fmt::format("; did you mean \"{}\"?", near));
                code = 3;
            }
            break;
        }
        case route_decision::outcome_t::ambiguous_port: {
            std::vector<std::uint16_t> ports;
            for (const auto& p : d.service->ports) ports.push_back(p.port);
            verdict = fmt::format("refused: 404 NR: the request names no port and {} listens on {}", d.service->aws_name,
                                  fmt::join(ports, ", "));
            code = 3;
            break;
        }
        case route_decision::outcome_t::no_route:
            verdict = fmt::format("refused: 404 NR: no route of {} matches", d.service->provider_name);
            code = 3;
            break;
        case route_decision::outcome_t::no_provider:
            verdict = fmt::format("refused: 503: virtual service {} has no provider", d.service->aws_name);
            code = 3;
            break;
    }

    // A request that is not gRPC on a grpc port is refused before any route (docs/grpc.md).
    bool grpc_request = false;
    for (const auto& h : rv.headers) {
        if (routing::canonical_host(h.name) == "content-type" && h.value.starts_with("application/grpc")) {
            grpc_request = true;
        }
    }
    const bool grpc_port = d.port != nullptr && d.port->proto == routing::protocol::grpc;
    if (grpc_port && !grpc_request &&
        (d.outcome == route_decision::outcome_t::routed || d.outcome == route_decision::outcome_t::no_route)) {
        verdict = fmt::format("refused: 415: virtual service {} listens with protocol grpc on port {} and "
                              "this request is not gRPC (add -H 'content-type: application/grpc')",
                              d.service->aws_name, d.port->port);
        code = 3;
    }

    // Targets of the chosen route (or the node provider's one target).
    struct target_row {
        const routing::upstream_target* t;
        double probability;
        std::int64_t weight;
    };
    std::vector<target_row> rows;
    if (d.route) {
        for (std::size_t i = 0; i < d.route->target_ids.size(); ++i) {
            rows.push_back({&snap.targets[d.route->target_ids[i]],
                            100.0 * static_cast<double>(d.route->weights[i]) /
                                static_cast<double>(d.route->total_weight),
                            d.route->weights[i]});
        }
    } else if (d.target) {
        rows.push_back({d.target, 100.0, 1});
    }

    if (as_json) {
        json::object& o = rep.json;
        o["node"] = snap.node_name ? json::value(*snap.node_name) : json::value(nullptr);
        o["mesh"] = snap.mesh_name;
        o["method"] = method;
        o["host"] = host;
        o["port"] = d.port ? json::value(d.port->port) : (req_port ? json::value(*req_port) : json::value(nullptr));
        o["path"] = norm;
        o["outcome"] = outcome_name(d.outcome);
        o["routed"] = code == 0;
        o["verdict"] = verdict;
        if (d.service) {
            o["virtual_service"] = d.service->aws_name;
            o["provider"] = d.service->provider_name;
        } else {
            o["virtual_service"] = nullptr;
            const std::string near = snap.closest_service(host);
            o["closest_virtual_service"] = near.empty() ? json::value(nullptr) : json::value(near);
        }
        json::array routes;
        for (const auto& e : trace) {
            json::object r;
            r["name"] = e.route->name;
            r["priority"] = e.route->priority ? json::value(*e.route->priority) : json::value(nullptr);
            r["match"] = describe_match(*e.route);
            r["matched"] = e.matched;
            if (!e.matched) r["failed_condition"] = e.failed_condition;
            routes.push_back(std::move(r));
        }
        o["routes"] = std::move(routes);
        o["route"] = d.route ? json::value(d.route->name) : json::value(nullptr);
        json::array targets;
        for (const auto& row : rows) {
            json::object t;
            t["node"] = row.t->node_name;
            t["port"] = row.t->port;
            t["weight"] = row.weight;
            t["probability"] = row.probability;
            t["tls"] = tls_text(row.t->tls);
            t["endpoints"] = endpoints_text(*row.t);
            t["outlier_detection"] = outlier_text(*row.t);
            t["health_check"] = health_text(*row.t);
            targets.push_back(std::move(t));
        }
        o["targets"] = std::move(targets);
        if (d.outcome == route_decision::outcome_t::routed) {
            o["timeout_per_request"] = ms_text(d.per_request_timeout);
            o["retry"] = retry_text(*d.retry);
            if (d.route && d.route->idle_timeout) o["timeout_idle"] = ms_text(*d.route->idle_timeout);
        }
        return rep;
    }

    out << "node:             " << node_text << '\n';
    out << "request:          " << method << ' ' << url_text << '\n';
    out << "port:             "
        << (d.port ? fmt::format("{}{}", d.port->port, req_port ? "" : " (the provider's only listener)")
                   : req_port ? fmt::format("{}", *req_port) : std::string("(none named)"))
        << '\n';
    if (d.service) {
        out << "virtual service:  " << d.service->aws_name << " (" << d.service->name << ")\n";
        out << "provider:         "
            << (d.service->provider == routing::service_entry::provider_t::router   ? "virtualRouter "
                : d.service->provider == routing::service_entry::provider_t::node ? "virtualNode "
                                                                                    : "none ")
            << d.service->provider_name << '\n';
    } else {
        const std::string near = snap.closest_service(host);
        out << "virtual service:  none matches host \"" << host << "\""
            << (near.empty() ? "" : " (closest: \"" + near + "\")") << '\n';
    }
    if (grpc_port) {
        const std::string call = grpc_call_text(norm);
        out << "grpc call:        " << (call.empty() ? "(the path is not /package.Service/Method)" : call) << '\n';
    }
    if (!trace.empty()) {
        out << "routes, in evaluation order:\n";
        std::size_t n = 0;
        for (const auto& e : trace) {
            out << fmt::format("  {}. {:<20} priority {:<6} {:<40} {}\n", ++n, e.route->name,
                               e.route->priority ? fmt::format("{}", *e.route->priority) : "unset",
                               describe_match(*e.route),
                               e.matched ? "MATCHED" : "no: " + e.failed_condition);
        }
    }
    if (!rows.empty()) {
        out << "targets:\n";
        for (const auto& row : rows) {
            out << fmt::format("  {}:{}  weight {}  {:.1f}%\n", row.t->node_name, row.t->port, row.weight,
                               row.probability);
            out << "      endpoints: " << endpoints_text(*row.t) << '\n';
            out << "      tls:       " << tls_text(row.t->tls) << '\n';
            out << "      outlier:   " << outlier_text(*row.t) << '\n';
            out << "      health:    " << health_text(*row.t) << '\n';
        }
    }
    if (d.outcome == route_decision::outcome_t::routed) {
        out << "timeout:          perRequest " << ms_text(d.per_request_timeout)
            << (d.route ? "" : " (virtual-node provider: the target listener's perRequest)")
            << (d.route && d.route->idle_timeout ? ", idle " + ms_text(*d.route->idle_timeout) : "")
            << ", connect 5000ms\n";
        out << "retry:            " << retry_text(*d.retry) << '\n';
    }
    out << "result:           " << verdict << '\n';
    return rep;
}

/// `host[:port]` of a Host header value (`[v6]:port` kept bracketed).
void split_host_port(const std::string& value, std::string& host, std::optional<std::uint16_t>& port) {
    host = value;
    port.reset();
    const auto colon = value.rfind(':');
    if (colon == std::string::npos || value.find(']', colon) != std::string::npos) {
        return;
    }
    const std::string digits = value.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(digits) > 65535) {
        return;
    }
    host = value.substr(0, colon);
    port = static_cast<std::uint16_t>(std::stoul(digits));
}

/// `explain --gateway`: the gateway step (listener, gateway routes in evaluation order, the
/// rewritten request), then explain_outbound on the gateway's outbound snapshot.
int explain_gateway(const routing::load_options& lo, parsed_request req, const std::string& url_text,
                    bool as_json, std::ostream& out, std::ostream& err) {
    routing::mesh_input in;
    routing::diagnostics diags;
    auto gw = routing::load_and_compile_gateway(lo, in, diags);
    if (!gw) {
        print_diagnostics(err, diags, in.files);
        return 1;
    }
    std::vector<std::uint16_t> ports;
    for (const auto& l : gw->listeners) {
        ports.push_back(l.port);
    }
    // The listener the request arrives on is the URL's port; with one listener it may be omitted.
    std::uint16_t listener_port = 0;
    if (req.port) {
        listener_port = *req.port;
    } else if (gw->listeners.size() == 1) {
        listener_port = gw->listeners.front().port;
    } else {
        return usage_error(err, "explain",
                           fmt::format("gateway {} listens on {}: name the listener port in the URL "
                                       "(http://HOST:PORT/PATH)",
                                       gw->gateway_name, fmt::join(ports, ", ")));
    }
    const routing::gateway_listener_entry* listener = gw->find_listener(listener_port);
    if (listener == nullptr) {
        return usage_error(err, "explain",
                           fmt::format("gateway {} has no listener on port {} (ports: {})", gw->gateway_name,
                                       listener_port, fmt::join(ports, ", ")));
    }

    // Host: a -H 'Host: ...' header, else the URL's authority.
    std::string host_header = req.host + (req.port ? fmt::format(":{}", *req.port) : "");
    std::vector<routing::header_view> hv;
    for (const auto& [n, v] : req.headers) {
        if (routing::canonical_host(n) == "host") {
            host_header = v;
            continue;
        }
        hv.push_back({n, v});
    }
    std::optional<std::uint16_t> host_port;
    split_host_port(host_header, req.host, host_port);
    hv.push_back({"host", host_header});
    std::string norm;
    routing::normalize_path(req.path, norm);
    routing::request_view rv;
    rv.method = req.method;
    rv.path = norm;
    rv.query = req.query;
    rv.host = req.host;
    rv.port = host_port;
    rv.headers = hv;

    std::vector<routing::gateway_trace_entry> trace;
    const routing::gateway_decision gd = routing::gateway_decide(*gw, listener_port, rv, &trace);
    routing::gateway_rewrite rw;
    const routing::compiled_gateway_route* r = gd.route;
    if (r != nullptr) {
        routing::rewrite_request(*r, rv, rw);
    }
    const std::string gw_verdict =
        r != nullptr ? fmt::format("gateway route {} -> virtual service {}", r->name, r->target_service)
                     : fmt::format("refused: 404 NR: no gateway route of {} on listener {} matches",
                                   gw->gateway_name, listener_port);
    auto route_text = [](const routing::compiled_gateway_route& g) {
        return g.priority ? fmt::format("{}", *g.priority)
                          : fmt::format("{} (unset)", routing::default_gateway_route_priority);
    };

    std::ostringstream outbound_text;
    outbound_report ob;
    std::string outbound_url;
    if (r != nullptr) {
        const routing::request_view ov = routing::outbound_request(*r, rv, rw);
        outbound_url = fmt::format("http://{}{}{}{}{}", ov.host, ov.port ? fmt::format(":{}", *ov.port) : "",
                                   ov.path, ov.query.empty() ? "" : "?", ov.query);
        ob = explain_outbound(*gw->outbound, ov, outbound_url, as_json, outbound_text);
    }
    const int code = r == nullptr ? 3 : ob.code;

    if (as_json) {
        json::object o;
        o["gateway"] = gw->gateway_name;
        o["mesh"] = gw->mesh_name;
        o["listener_port"] = listener_port;
        o["listener_protocol"] = routing::to_string(listener->proto);
        o["method"] = req.method;
        o["host"] = req.host;
        o["path"] = norm;
        json::array routes;
        for (const auto& e : trace) {
            json::object t;
            t["name"] = e.route->name;
            t["priority"] = e.route->effective_priority;
            t["priority_given"] = e.route->priority.has_value();
            t["match"] = routing::describe_match(*e.route);
            t["matched"] = e.matched;
            if (!e.matched) t["failed_condition"] = e.failed_condition;
            routes.push_back(std::move(t));
        }
        o["gateway_routes"] = std::move(routes);
        o["gateway_route"] = r ? json::value(r->name) : json::value(nullptr);
        if (r != nullptr) {
            json::object w;
            w["target_virtual_service"] = r->target_service;
            w["target_port"] = r->target_port ? json::value(*r->target_port) : json::value(nullptr);
            w["path"] = rw.path;
            w["query"] = std::string(rv.query);
            w["path_rewritten"] = rw.path_rewritten;
            w["path_rule"] = routing::describe_rewrite(*r);
            w["authority"] = rw.authority;
            w["authority_rewritten"] = rw.authority_rewritten;
            o["rewritten"] = std::move(w);
            o["outbound"] = std::move(ob.json);
        } else {
            o["rewritten"] = nullptr;
            o["outbound"] = nullptr;
        }
        o["routed"] = code == 0;
        o["verdict"] = r ? gw_verdict + "; " + ob.verdict : gw_verdict;
        out << json::serialize(o) << '\n';
        return code;
    }

    out << "gateway:          " << gw->gateway_name << " (mesh " << gw->mesh_name << ")\n";
    out << "listener:         " << listener->display << '\n';
    out << "request:          " << req.method << ' ' << url_text << "  (Host: " << host_header << ")\n";
    if (!trace.empty()) {
        out << "gateway routes, in evaluation order:\n";
        std::size_t n = 0;
        for (const auto& e : trace) {
            out << fmt::format("  {}. {:<28} priority {:<12} {:<36} {}\n", ++n, e.route->name, route_text(*e.route),
                               routing::describe_match(*e.route),
                               e.matched ? "MATCHED" : "no: " + e.failed_condition);
        }
    } else {
        out << "gateway routes:   none on this listener\n";
    }
    if (r == nullptr) {
        out << "result:           " << gw_verdict << '\n';
        return code;
    }
    out << "gateway route:    " << r->name << " -> virtual service " << r->target_service << " ("
        << r->target_name << "), port "
        << (r->target_port ? fmt::format("{}", *r->target_port) : std::string("(the provider's only listener)"))
        << '\n';
    out << "rewritten:        " << req.method << ' ' << rw.path << (rv.query.empty() ? "" : "?")
        << rv.query << "  Host: " << rw.authority << '\n';
    out << "                  path: " << (rw.path_rewritten ? routing::describe_rewrite(*r) : "unchanged")
        << "; Host: "
        << (rw.authority_rewritten ? "the target's awsName"
                                   : "kept (defaultTargetHostname DISABLED)")
        << '\n';
    out << "outbound, as a request from the gateway to " << r->target_service << ":\n";
    std::string line;
    std::istringstream lines(outbound_text.str());
    while (std::getline(lines, line)) {
        out << "  " << line << '\n';
    }
    out << "result:           " << gw_verdict << "; " << ob.verdict << '\n';
    return code;
}

// ---- explain tcp://HOST:PORT (issue 17) ---------------------------------------------------
// Kept apart from the HTTP explanation above (and from --gateway): its own parsing and output.

/// How a TCP connection to HOST:PORT is routed (routing/tcp_decide.hpp). HOST naming a backend
/// virtual service is the explicit-mode lookup (`--tcp-listen LOCAL=HOST:PORT`); any other HOST
/// (an address, an external name) is transparent mode, where only the original destination port
/// counts. Exit 0 routed or passed, 3 refused, 1 invalid mesh, 2 usage.
int explain_tcp(const routing::load_options& lo, const std::string& url, bool as_json,
                std::ostream& out, std::ostream& err) {
    using outcome_t = routing::tcp_decision::outcome_t;
    const std::string rest = url.substr(6);  // after "tcp://"
    std::string host;
    std::string port_text;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close != std::string::npos && close + 1 < rest.size() && rest[close + 1] == ':') {
            host = rest.substr(1, close - 1);
            port_text = rest.substr(close + 2);
        }
    } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
        host = rest.substr(0, colon);
        port_text = rest.substr(colon + 1);
    }
    unsigned port = 0;
    const bool port_ok = !port_text.empty() && port_text.size() <= 5 &&
                         port_text.find_first_not_of("0123456789") == std::string::npos &&
                         (port = static_cast<unsigned>(std::stoul(port_text))) > 0 && port <= 65535;
    if (host.empty() || !port_ok) {
        return usage_error(err, "explain", "expected tcp://HOST:PORT with a port 1-65535, got \"" + url + "\"");
    }
    routing::mesh_input in;
    routing::diagnostics diags;
    auto snap = routing::load_and_compile(lo, in, diags);
    if (!snap) {
        print_diagnostics(err, diags, in.files);
        return 1;
    }
    const auto p16 = static_cast<std::uint16_t>(port);
    const routing::service_entry* named = snap->find_service(host);
    const bool explicit_lookup = named != nullptr;
    const routing::tcp_decision d = explicit_lookup ? routing::decide_tcp_service(*snap, host, p16, 0)
                                                    : routing::decide_tcp(*snap, p16, 0);
    const routing::snapshot::tcp_port_owner* owner = snap->find_tcp_port(p16);
    std::vector<std::string> shadowed;
    if (owner != nullptr) {
        for (const auto i : owner->shadowed) {
            shadowed.push_back(snap->services[i].aws_name);
        }
    }
    int code = 0;
    std::string lookup = explicit_lookup
                             ? fmt::format("explicit: virtual service \"{}\" port {} (--tcp-listen "
                                           "LOCALPORT={}:{})", named->aws_name, port, named->aws_name, port)
                             : fmt::format("transparent: original destination port {} (at L4 the "
                                           "host \"{}\" plays no part)", port, host);
    std::string verdict;
    switch (d.outcome) {
        case outcome_t::routed:
            verdict = d.route != nullptr ? "routed via tcpRoute " + d.route->name
                                         : std::string("routed via the virtual node provider");
            break;
        case outcome_t::no_route:
            verdict = fmt::format("refused (NR): {} has no tcpRoute for port {}", d.service->provider_name, port);
            code = 3;
            break;
        case outcome_t::no_provider:
            verdict = fmt::format("refused (UH): virtual service {} has no provider", d.service->aws_name);
            code = 3;
            break;
        case outcome_t::not_tcp:
            if (explicit_lookup) {
                std::vector<std::string> ports;
                for (const auto& sp : named->ports) {
                    ports.push_back(fmt::format("{} ({})", sp.port, routing::to_string(sp.proto)));
                }
                verdict = fmt::format("refused: virtual service {} has no tcp listener on port {} "
                                      "(it listens on {})",
                                      named->aws_name, port, ports.empty() ? "nothing" : fmt::format("{}", fmt::join(ports, ", ")));
                code = 3;
            } else if (snap->allow_all_egress) {
                verdict = fmt::format("no TCP backend owns port {}: unmodelled egress, passed unchanged "
                                      "to {}:{} (ALLOW_ALL; HTTP on the first bytes takes the HTTP path)",
                                      port, host, port);
            } else if (snap->egress_allowed(host)) {
                verdict = fmt::format("no TCP backend owns port {}: passes only as TLS whose SNI is \"{}\" "
                                      "(DROP_ALL, --egress-allow); anything else is refused (NR)",
                                      port, host);
            } else {
                verdict = fmt::format("refused (NR): no TCP backend owns port {}, the mesh egress filter "
                                      "is DROP_ALL and \"{}\" matches no --egress-allow pattern",
                                      port, host);
                code = 3;
            }
            break;
    }
    struct row {
        const routing::upstream_target* t;
        std::int64_t weight;
        double probability;
    };
    std::vector<row> rows;
    if (d.route != nullptr) {
        for (std::size_t i = 0; i < d.route->target_ids.size(); ++i) {
            rows.push_back({&snap->targets[d.route->target_ids[i]], d.route->weights[i],
                            100.0 * static_cast<double>(d.route->weights[i]) /
                                static_cast<double>(d.route->total_weight)});
        }
    } else if (d.target != nullptr) {
        rows.push_back({d.target, 1, 100.0});
    }
    const std::string idle =
        d.outcome != outcome_t::routed ? std::string()
        : d.idle_timeout ? fmt::format("{} ({})", ms_text(*d.idle_timeout),
                                       d.route != nullptr ? "tcpRoute timeout.idle" : "target listener timeout.tcp.idle")
                         : std::string("300s (default: DECISIONS §3.3)");
    const std::string retry = d.retry != nullptr ? "the connect only, never after a byte went upstream: " +
                                                       retry_text(*d.retry)
                                                 : std::string();
    if (as_json) {
        json::object o;
        o["node"] = snap->node_name ? json::value(*snap->node_name) : json::value(nullptr);
        o["mesh"] = snap->mesh_name;
        o["host"] = host;
        o["port"] = port;
        o["lookup"] = explicit_lookup ? "explicit" : "transparent";
        o["routed"] = d.outcome == outcome_t::routed;
        o["verdict"] = verdict;
        o["virtual_service"] = d.service != nullptr ? json::value(d.service->aws_name) : json::value(nullptr);
        o["provider"] = d.service != nullptr ? json::value(d.service->provider_name) : json::value(nullptr);
        o["route"] = d.route != nullptr ? json::value(d.route->name) : json::value(nullptr);
        json::array targets;
        for (const auto& r : rows) {
            json::object t;
            t["node"] = r.t->node_name;
            t["port"] = r.t->port;
            t["weight"] = r.weight;
            t["probability"] = r.probability;
            t["cluster"] = r.t->cluster_name;
            t["endpoints"] = endpoints_text(*r.t);
            t["tls"] = tls_text(r.t->tls);
            t["outlier_detection"] = outlier_text(*r.t);
            t["health_check"] = health_text(*r.t);
            targets.push_back(std::move(t));
        }
        o["targets"] = std::move(targets);
        if (d.outcome == outcome_t::routed) {
            o["timeout_idle"] = idle;
            o["timeout_connect"] = "5000ms";
            o["retry"] = retry;
        }
        json::array sh;
        for (const auto& n : shadowed) {
            sh.push_back(json::value(n));
        }
        o["shadowed"] = std::move(sh);
        out << json::serialize(o) << '\n';
        return code;
    }
    out << "node:             "
        << (snap->node_name ? *snap->node_name
                            : fmt::format("(none: mesh-wide client of mesh {})", snap->mesh_name))
        << '\n';
    out << "connection:       " << url << '\n';
    out << "lookup:           " << lookup << '\n';
    if (d.service != nullptr) {
        out << "virtual service:  " << d.service->aws_name << " (" << d.service->name << ")\n";
        out << "provider:         "
            << (d.service->provider == routing::service_entry::provider_t::router   ? "virtualRouter "
                : d.service->provider == routing::service_entry::provider_t::node ? "virtualNode "
                                                                                    : "none ")
            << d.service->provider_name << '\n';
    }
    if (d.route != nullptr) {
        out << "route:            " << d.route->name << " (tcpRoute: weighted per connection)\n";
    }
    if (!rows.empty()) {
        out << "targets:\n";
        for (const auto& r : rows) {
            out << fmt::format("  {}:{}  weight {}  {:.1f}%\n", r.t->node_name, r.t->port, r.weight, r.probability);
            out << "      endpoints: " << endpoints_text(*r.t) << '\n';
            out << "      tls:       " << tls_text(r.t->tls) << '\n';
            out << "      outlier:   " << outlier_text(*r.t) << " (connect failures)\n";
            out << "      health:    " << health_text(*r.t) << '\n';
        }
    }
    if (d.outcome == outcome_t::routed) {
        out << "timeout:          idle " << idle << ", connect 5000ms\n";
        out << "retry:            " << retry << '\n';
    }
    if (!shadowed.empty() && !explicit_lookup) {
        out << "shadowed:         " << fmt::format("{}", fmt::join(shadowed, ", "))
            << " also listen with tcp on this port; reachable only by --tcp-listen\n";
    }
    out << "result:           " << verdict << '\n';
    return code;
}

}  // namespace

int explain_command(const args_t& args, std::ostream& out, std::ostream& err) {
    routing::load_options lo;
    parsed_request req;
    bool as_json = false;
    std::vector<std::string> positional;
    std::vector<std::string> allow;
    bool allow_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](const char* flag) -> std::optional<std::string> {
            if (i + 1 >= args.size()) {
                usage_error(err, "explain", std::string(flag) + " needs a value");
                return std::nullopt;
            }
            return args[++i];
        };
        if (a == "--help" || a == "-h") {
            out << explain_usage;
            return 0;
        } else if (a == "--mesh") {
            auto v = value("--mesh");
            if (!v) return 2;
            lo.paths.push_back(*v);
        } else if (a == "--node") {
            auto v = value("--node");
            if (!v) return 2;
            lo.node = *v;
        } else if (a == "--gateway") {
            auto v = value("--gateway");
            if (!v) return 2;
            lo.gateway = *v;
        } else if (a == "-H" || a == "--header") {
            auto v = value("-H");
            if (!v) return 2;
            auto colon = v->find(':');
            if (colon == std::string::npos || colon == 0) {
                return usage_error(err, "explain", "-H takes 'Name: value', got \"" + *v + "\"");
            }
            std::string val = v->substr(colon + 1);
            while (!val.empty() && (val.front() == ' ' || val.front() == '\t')) val.erase(0, 1);
            req.headers.emplace_back(v->substr(0, colon), val);
        } else if (a == "--json") {
            as_json = true;
        } else if (a == "--no-default-retry") {
            lo.compile.default_retry = false;
        } else if (a == "--egress-allow") {
            auto v = value("--egress-allow");
            if (!v) return 2;
            allow_given = true;
            allow.push_back(*v);
        } else if (a.starts_with("-") && a.size() > 1) {
            return usage_error(err, "explain",
                               unknown_flag_message(a, {"--mesh", "--node", "--gateway", "--header", "--json",
                                                        "--no-default-retry", "--egress-allow", "--help"}));
        } else {
            positional.push_back(a);
        }
    }
    if (allow_given) {
        lo.compile.egress_allow = allow;
    }
    if (lo.paths.empty()) {
        if (const char* env = std::getenv("OUTRIGGER_MESH"); env != nullptr && *env != '\0') {
            std::string s = env;
            for (std::size_t start = 0; start <= s.size();) {
                auto end = s.find(':', start);
                if (end == std::string::npos) end = s.size();
                if (end > start) lo.paths.push_back(s.substr(start, end - start));
                start = end + 1;
            }
        }
    }
    if (lo.paths.empty()) {
        return usage_error(err, "explain", "--mesh PATH is required");
    }
    if (!lo.node.empty() && !lo.gateway.empty()) {
        return usage_error(err, "explain", "--node and --gateway exclude each other: a proxy is one or the other");
    }
    if (positional.size() == 1 && positional[0].starts_with("tcp://") && lo.gateway.empty()) {
        return explain_tcp(lo, positional[0], as_json, out, err);
    }
    if (positional.size() != 2) {
        return usage_error(err, "explain", "expected METHOD URL (or tcp://HOST:PORT)");
    }
    req.method = positional[0];
    {
        auto u = boost::urls::parse_uri(positional[1]);
        if (!u || !u->has_authority() || u->host().empty()) {
            return usage_error(err, "explain",
                               "URL must be absolute, like http://HOST[:PORT]/PATH, got \"" +
                                   positional[1] + "\"");
        }
        req.host = u->host();
        if (u->has_port()) {
            req.port = u->port_number();
        }
        req.path = u->encoded_path().empty() ? "/" : std::string(u->encoded_path());
        req.query = u->encoded_query();
    }
    if (!lo.gateway.empty()) {
        return explain_gateway(lo, req, positional[1], as_json, out, err);
    }

    routing::mesh_input in;
    routing::diagnostics diags;
    auto snap = routing::load_and_compile(lo, in, diags);
    if (!snap) {
        print_diagnostics(err, diags, in.files);
        return 1;
    }

    std::vector<routing::header_view> hv;
    for (const auto& [n, v] : req.headers) {
        hv.push_back({n, v});
    }
    std::string host_header = req.host + (req.port ? fmt::format(":{}", *req.port) : "");
    hv.push_back({"host", host_header});
    std::string norm;
    routing::normalize_path(req.path, norm);
    routing::request_view rv;
    rv.method = req.method;
    rv.path = norm;
    rv.query = req.query;
    rv.host = req.host;
    rv.port = req.port;
    rv.headers = hv;
    const outbound_report rep = explain_outbound(*snap, rv, positional[1], as_json, out);
    if (as_json) {
        out << json::serialize(rep.json) << '\n';
    }
    return rep.code;
}

}  // namespace outrigger::cli
