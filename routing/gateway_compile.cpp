#include "routing/gateway_compile.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "routing/gateway_membership.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

namespace outrigger::routing {

namespace {

route_kind kind_of(protocol p) {
    switch (p) {
        case protocol::http: return route_kind::http;
        case protocol::http2: return route_kind::http2;
        case protocol::grpc: return route_kind::grpc;
        case protocol::tcp: return route_kind::tcp;
    }
    return route_kind::http;
}

compiled_gateway_route compile_route(const gateway_route& gr, const virtual_service* target,
                                     std::uint32_t index) {
    compiled_gateway_route c;
    c.name = object_key(gr.meta.ns, gr.meta.name);
    c.aws_name = gr.aws_name;
    c.kind = gr.kind;
    c.priority = gr.priority;
    c.effective_priority = gr.priority.value_or(default_gateway_route_priority);
    c.index = index;
    const route_match& m = gr.match;
    if (gr.kind == route_kind::grpc) {
        // gRPC requests are POST /SERVICE/METHOD: a service name is a path prefix.
        c.service_name = m.service_name;
        c.path_value = m.service_name ? fmt::format("/{}/", *m.service_name) : std::string("/");
    } else if (m.path_exact) {
        c.path_type = compiled_gateway_route::path_kind::exact;
        c.path_value = *m.path_exact;
    } else if (m.path_regex) {
        c.path_type = compiled_gateway_route::path_kind::regex;
        c.path_value = *m.path_regex;
        c.path_regex = regex_matcher(*m.path_regex);
    } else {
        c.path_value = m.prefix.value_or("/");  // hostname-only routes match every path
    }
    if (m.hostname_exact) {
        c.host_type = compiled_gateway_route::host_kind::exact;
        c.host_value = canonical_host(*m.hostname_exact);
    } else if (m.hostname_suffix) {
        c.host_type = compiled_gateway_route::host_kind::suffix;
        c.host_value = canonical_host(*m.hostname_suffix);
    }
    c.method = m.method;
    for (const auto& h : m.headers) {
        c.headers.push_back(compile_header_match(h));
    }
    for (const auto& q : m.query) {
        c.query.push_back(compiled_query_match{q.name, q.exact});
    }
    if (m.port) {
        c.port = static_cast<std::uint16_t>(*m.port);
    }

    if (target != nullptr) {
        c.target_service = target->aws_name;
        c.target_name = object_key(target->meta.ns, target->meta.name);
    }
    if (gr.target_port) {
        c.target_port = static_cast<std::uint16_t>(*gr.target_port);
    }
    c.rewrite_hostname = gr.rewrite_default_target_hostname.value_or("ENABLED") != "DISABLED";
    if (gr.kind != route_kind::grpc) {
        if (gr.rewrite_path_exact) {
            c.rewrite = compiled_gateway_route::path_rewrite::exact;
            c.rewrite_value = *gr.rewrite_path_exact;
        } else if (c.path_type == compiled_gateway_route::path_kind::prefix) {
            if (gr.rewrite_prefix_value) {
                c.rewrite = compiled_gateway_route::path_rewrite::prefix;
                c.rewrite_value = *gr.rewrite_prefix_value;
            } else if (gr.rewrite_default_prefix.value_or("ENABLED") != "DISABLED") {
                c.rewrite = compiled_gateway_route::path_rewrite::prefix;
                c.rewrite_value.assign(1, '/');  // (not = "/": g++ 12 -Wrestrict false positive)
            }
            if (c.rewrite == compiled_gateway_route::path_rewrite::prefix &&
                c.rewrite_value == c.path_value) {
                c.rewrite = compiled_gateway_route::path_rewrite::none;  // `/` → `/`
                c.rewrite_value.clear();
            }
        }
    }
    return c;
}

/// Sort key of the evaluation order (gateway_compile.hpp).
auto order_key(const compiled_gateway_route& r) {
    const int path_rank = r.path_type == compiled_gateway_route::path_kind::exact   ? 0
                          : r.path_type == compiled_gateway_route::path_kind::regex ? 1
                                                                                     : 2;
    const std::size_t prefix_len =
        r.path_type == compiled_gateway_route::path_kind::prefix ? r.path_value.size() : 0;
    const int host_rank = r.host_type == compiled_gateway_route::host_kind::exact    ? 0
                          : r.host_type == compiled_gateway_route::host_kind::suffix ? 1
                                                                                      : 2;
    const std::size_t conditions = r.headers.size() + r.query.size() + (r.method ? 1 : 0);
    // Negated lengths and counts sort "more first" ascending.
    return std::make_tuple(r.effective_priority, path_rank, -static_cast<std::int64_t>(prefix_len),
                           host_rank, -static_cast<std::int64_t>(r.host_value.size()),
                           -static_cast<std::int64_t>(conditions), r.index);
}

}  // namespace

std::shared_ptr<const gateway_snapshot> compile_gateway(const mesh_input& in,
                                                        const mesh_index& index,
                                                        const resolve_result& which,
                                                        const compile_options& opts) {
    if (!which.gateway || !which.mesh) {
        return nullptr;
    }
    const virtual_gateway& gw = in.virtual_gateways.at(*which.gateway);
    auto out = std::make_shared<gateway_snapshot>();
    out->mesh_name = in.meshes.at(*which.mesh).meta.name;
    out->gateway_name = object_key(gw.meta.ns, gw.meta.name);
    out->gateway_aws_name = gw.aws_name;

    std::vector<const virtual_service*> targets;
    std::uint32_t position = 0;
    for (const auto& gr : in.gateway_routes) {
        const std::uint32_t input_index = position++;
        if (gateway_of(in, index, gr).gateway != &gw) {
            continue;
        }
        const virtual_service* vs = index.service(gr.target_service);
        compiled_gateway_route c = compile_route(gr, vs, input_index);
        c.id = static_cast<std::uint32_t>(out->routes.size());
        out->routes.push_back(std::move(c));
        if (vs != nullptr && std::find(targets.begin(), targets.end(), vs) == targets.end()) {
            targets.push_back(vs);
        }
    }

    for (const auto& l : gw.listeners) {
        gateway_listener_entry e;
        e.port = static_cast<std::uint16_t>(l.port_mapping.port);
        e.proto = l.port_mapping.proto;
        e.display = fmt::format("gateway listener {} ({})", e.port, to_string(e.proto));
        e.tls = l.tls;
        e.health_check = l.health_check;
        e.connection_pool = l.connection_pool;
        std::vector<const compiled_gateway_route*> on;
        for (const auto& r : out->routes) {
            if (r.kind == kind_of(e.proto) && (!r.port || *r.port == e.port)) {
                on.push_back(&r);
            }
        }
        std::stable_sort(on.begin(), on.end(), [](const auto* a, const auto* b) {
            return order_key(*a) < order_key(*b);
        });
        for (const auto* r : on) {
            e.route_ids.push_back(r->id);
        }
        out->listeners.push_back(std::move(e));
    }

    auto outbound = compile_gateway_outbound(in, index, *which.mesh, gw, targets, opts);
    if (outbound) {
        outbound->gateway = out.get();  // see snapshot::gateway (the gateway owns it)
    }
    out->outbound = std::move(outbound);
    return out;
}

std::shared_ptr<const gateway_snapshot> load_and_compile_gateway(const load_options& opts,
                                                                 mesh_input& in,
                                                                 diagnostics& diags) {
    load_paths(opts.paths, in, diags);
    resolve_options ro;
    ro.gateway = opts.gateway;
    const resolve_result which = resolve(in, ro, diags);
    const mesh_index index(in);
    validate_options vo;
    vo.gateway = which.gateway;
    validate(in, index, vo, diags);
    if (opts.gateway.empty()) {
        diags.error_at(source_loc{no_file, 0, 0}, "--gateway: no gateway named");
    }
    diags.sort_and_dedupe(in.files);
    if (diags.has_errors()) {
        return nullptr;
    }
    return compile_gateway(in, index, which, opts.compile);
}

}  // namespace outrigger::routing
