#include "routing/gateway.hpp"

#include <fmt/format.h>

namespace outrigger::routing {

namespace {

constexpr char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// `host` lower-cased and without one trailing dot equals `lower` (already canonical).
bool host_equals(std::string_view host, std::string_view lower) {
    if (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    if (host.size() != lower.size()) {
        return false;
    }
    for (std::size_t i = 0; i < host.size(); ++i) {
        if (ascii_lower(host[i]) != lower[i]) {
            return false;
        }
    }
    return true;
}

/// `host` (any case, one trailing dot ignored) ends with `lower_suffix`.
bool host_ends_with(std::string_view host, std::string_view lower_suffix) {
    if (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    if (host.size() < lower_suffix.size()) {
        return false;
    }
    return host_equals(host.substr(host.size() - lower_suffix.size()), lower_suffix);
}

/// Evaluates one route; on failure writes the first failing condition into `why` (if non-null).
bool route_matches(const compiled_gateway_route& r, std::uint16_t listener_port,
                   const request_view& req, std::string* why, std::string& scratch) {
    if (r.port && *r.port != listener_port) {
        if (why) *why = fmt::format("listener port {} is not {}", listener_port, *r.port);
        return false;
    }
    switch (r.path_type) {
        case compiled_gateway_route::path_kind::prefix:
            if (!req.path.starts_with(r.path_value)) {
                if (why) {
                    *why = r.kind == route_kind::grpc
                               ? fmt::format("path {} is not a method of service {}", req.path,
                                             r.service_name.value_or("?"))
                               : fmt::format("path {} does not start with {}", req.path,
                                             r.path_value);
                }
                return false;
            }
            break;
        case compiled_gateway_route::path_kind::exact:
            if (req.path != r.path_value) {
                if (why) *why = fmt::format("path {} is not {}", req.path, r.path_value);
                return false;
            }
            break;
        case compiled_gateway_route::path_kind::regex:
            if (!r.path_regex.full_match(req.path)) {
                if (why) *why = fmt::format("path {} does not match /{}/", req.path, r.path_value);
                return false;
            }
            break;
    }
    switch (r.host_type) {
        case compiled_gateway_route::host_kind::any:
            break;
        case compiled_gateway_route::host_kind::exact:
            if (!host_equals(req.host, r.host_value)) {
                if (why) *why = fmt::format("hostname {} is not {}", req.host, r.host_value);
                return false;
            }
            break;
        case compiled_gateway_route::host_kind::suffix:
            if (!host_ends_with(req.host, r.host_value)) {
                if (why) {
                    *why = fmt::format("hostname {} does not end with {}", req.host, r.host_value);
                }
                return false;
            }
            break;
    }
    if (r.method && req.method != *r.method) {
        if (why) *why = fmt::format("method {} is not {}", req.method, *r.method);
        return false;
    }
    for (const auto& h : r.headers) {
        if (!header_matches(h, header_value(req, h.name_lower, scratch))) {
            if (why) {
                std::string d = describe(h);
                if (r.kind == route_kind::grpc) {
                    d.replace(0, 6, "metadata");  // "header x ..." → "metadata x ..."
                }
                *why = fmt::format("{}: false", d);
            }
            return false;
        }
    }
    for (const auto& q : r.query) {
        auto v = query_value(req.query, q.name);
        if (!v) {
            if (why) *why = fmt::format("query parameter {} is absent", q.name);
            return false;
        }
        if (q.exact && *v != *q.exact) {
            if (why) {
                *why = fmt::format("query parameter {}={} is not \"{}\"", q.name, *v, *q.exact);
            }
            return false;
        }
    }
    return true;
}

}  // namespace

const gateway_listener_entry* gateway_snapshot::find_listener(std::uint16_t port) const {
    for (const auto& l : listeners) {
        if (l.port == port) {
            return &l;
        }
    }
    return nullptr;
}

std::shared_ptr<const snapshot> published_snapshot(std::shared_ptr<const gateway_snapshot> gw) {
    if (!gw || !gw->outbound) {
        return nullptr;
    }
    const snapshot* outbound = gw->outbound.get();
    return std::shared_ptr<const snapshot>(std::move(gw), outbound);
}

gateway_decision gateway_decide(const gateway_snapshot& gw, std::uint16_t listener_port,
                                const request_view& req, std::vector<gateway_trace_entry>* trace) {
    gateway_decision d;
    d.listener = gw.find_listener(listener_port);
    if (d.listener == nullptr) {
        d.outcome = gateway_decision::outcome_t::no_listener;
        return d;
    }
    std::string scratch;
    for (const std::uint32_t id : d.listener->route_ids) {
        const compiled_gateway_route& r = gw.routes[id];
        std::string why;
        const bool ok = route_matches(r, listener_port, req, trace ? &why : nullptr, scratch);
        if (trace) {
            trace->push_back(gateway_trace_entry{&r, ok, std::move(why)});
        }
        if (ok) {
            d.route = &r;
            d.outcome = gateway_decision::outcome_t::matched;
            return d;
        }
    }
    d.outcome = gateway_decision::outcome_t::no_route;
    return d;
}

void rewrite_request(const compiled_gateway_route& route, const request_view& req,
                     gateway_rewrite& out) {
    switch (route.rewrite) {
        case compiled_gateway_route::path_rewrite::none:
            out.path.assign(req.path);
            break;
        case compiled_gateway_route::path_rewrite::exact:
            out.path.assign(route.rewrite_value);
            break;
        case compiled_gateway_route::path_rewrite::prefix: {
            // The matched prefix is replaced; the rest of the path follows, with the slash at the
            // join merged (Envoy prefix_rewrite, then App Mesh's merge_slashes on the outbound
            // hop): `/paths` + `/paths/red` → `/` + `/red` → `/red`.
            std::string joined = route.rewrite_value;
            joined.append(req.path.substr(std::min(route.path_value.size(), req.path.size())));
            normalize_path(joined, out.path);
            break;
        }
    }
    out.path_rewritten = out.path != req.path;
    if (route.rewrite_hostname) {
        out.authority.assign(route.target_service);
        out.authority_rewritten = true;
    } else {
        out.authority.assign(req.host);
        if (req.port) {
            fmt::format_to(std::back_inserter(out.authority), ":{}", *req.port);
        }
        out.authority_rewritten = false;
    }
}

request_view outbound_request(const compiled_gateway_route& route, const request_view& req,
                              const gateway_rewrite& rw) {
    request_view v = req;
    v.path = rw.path;
    v.host = route.target_service;
    v.port = route.target_port;
    return v;
}

gateway_result route_gateway_request(const gateway_snapshot& gw, std::uint16_t listener_port,
                                     const request_view& req, std::uint32_t random,
                                     gateway_rewrite& rw,
                                     std::vector<gateway_trace_entry>* gateway_trace,
                                     std::vector<route_trace_entry>* route_trace) {
    gateway_result res;
    res.gateway = gateway_decide(gw, listener_port, req, gateway_trace);
    if (res.gateway.outcome != gateway_decision::outcome_t::matched) {
        return res;
    }
    rewrite_request(*res.gateway.route, req, rw);
    res.outbound =
        decide(*gw.outbound, outbound_request(*res.gateway.route, req, rw), random, route_trace);
    return res;
}

std::string describe_match(const compiled_gateway_route& r) {
    std::vector<std::string> parts;
    if (r.kind == route_kind::grpc) {
        if (r.service_name) {
            parts.push_back("serviceName " + *r.service_name);
        }
    } else {
        switch (r.path_type) {
            case compiled_gateway_route::path_kind::prefix:
                parts.push_back("prefix " + r.path_value);
                break;
            case compiled_gateway_route::path_kind::exact:
                parts.push_back("path " + r.path_value);
                break;
            case compiled_gateway_route::path_kind::regex:
                parts.push_back("path ~ /" + r.path_value + "/");
                break;
        }
    }
    switch (r.host_type) {
        case compiled_gateway_route::host_kind::any:
            break;
        case compiled_gateway_route::host_kind::exact:
            parts.push_back("hostname " + r.host_value);
            break;
        case compiled_gateway_route::host_kind::suffix:
            parts.push_back("hostname *" + r.host_value);
            break;
    }
    if (r.method) {
        parts.push_back("method " + *r.method);
    }
    const char* what = r.kind == route_kind::grpc ? "metadata " : "header ";
    for (const auto& h : r.headers) {
        parts.push_back(std::string(h.invert ? "!" : "") + what + h.name_lower);
    }
    for (const auto& q : r.query) {
        parts.push_back("query " + q.name + (q.exact ? "=" + *q.exact : ""));
    }
    if (r.port) {
        parts.push_back(fmt::format("port {}", *r.port));
    }
    return fmt::format("{}", fmt::join(parts, ", "));
}

std::string describe_rewrite(const compiled_gateway_route& r) {
    switch (r.rewrite) {
        case compiled_gateway_route::path_rewrite::none:
            return "path unchanged";
        case compiled_gateway_route::path_rewrite::prefix:
            return fmt::format("prefix {} -> {}", r.path_value, r.rewrite_value);
        case compiled_gateway_route::path_rewrite::exact:
            return fmt::format("path -> {}", r.rewrite_value);
    }
    return "";
}

}  // namespace outrigger::routing
