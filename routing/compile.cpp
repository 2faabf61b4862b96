#include "routing/compile.hpp"

#include <algorithm>
#include <map>
#include <unordered_set>

#include <fmt/format.h>

#include "routing/tcp_decide.hpp"
#include "routing/validate.hpp"
#include "routing/yaml_loader.hpp"

namespace outrigger::routing {

namespace {

using namespace std::chrono_literals;

std::string lower(std::string s) {
    for (auto& c : s) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return s;
}

bool in_mesh(const object_meta& meta, const std::string& mesh_name) {
    return meta.mesh_ref && *meta.mesh_ref == mesh_name;
}

/// Retry spec of an explicit policy (spec §10.9).
retry_spec explicit_retry(const retry_policy& p) {
    retry_spec r;
    r.present = true;
    r.max_retries = static_cast<std::uint32_t>(std::max<std::int64_t>(0, p.max_retries));
    if (p.per_retry_timeout) {
        r.per_try_timeout = p.per_retry_timeout->to_ms();
    }
    for (const auto& e : p.http_events) {
        if (e == "server-error") r.events |= retry_spec::server_error;
        else if (e == "gateway-error") r.events |= retry_spec::gateway_error;
        else if (e == "client-error") r.events |= retry_spec::client_error;
        else if (e == "stream-error") r.events |= retry_spec::stream_error;
    }
    for (const auto& e : p.tcp_events) {
        if (e == "connection-error") r.events |= retry_spec::connection_error;
    }
    for (const auto& e : p.grpc_events) {
        if (e == "cancelled") r.events |= retry_spec::grpc_cancelled;
        else if (e == "deadline-exceeded") r.events |= retry_spec::grpc_deadline_exceeded;
        else if (e == "internal") r.events |= retry_spec::grpc_internal;
        else if (e == "resource-exhausted") r.events |= retry_spec::grpc_resource_exhausted;
        else if (e == "unavailable") r.events |= retry_spec::grpc_unavailable;
    }
    return r;
}

/// The hidden App Mesh default policy (DECISIONS §3.9): 2 retries on 503 (gRPC UNAVAILABLE),
/// connect failure and reset before any response byte.
retry_spec default_retry(route_kind kind, bool enabled) {
    retry_spec r;
    if (!enabled) {
        return r;
    }
    r.present = true;
    r.is_default = true;
    r.max_retries = 2;
    r.events = retry_spec::connection_error | retry_spec::reset;
    if (kind == route_kind::grpc) {
        r.events |= retry_spec::grpc_unavailable | retry_spec::status_503;
    } else if (kind != route_kind::tcp) {
        r.events |= retry_spec::status_503;
    }
    return r;
}

route_kind kind_of(protocol p) {
    switch (p) {
        case protocol::http: return route_kind::http;
        case protocol::http2: return route_kind::http2;
        case protocol::grpc: return route_kind::grpc;
        case protocol::tcp: return route_kind::tcp;
    }
    return route_kind::http;
}

const node_listener* listener_for(const virtual_node& n, std::optional<std::int64_t> port) {
    if (port) {
        for (const auto& l : n.listeners) {
            if (l.port_mapping.port == *port) {
                return &l;
            }
        }
        return nullptr;
    }
    return n.listeners.size() == 1 ? &n.listeners.front() : nullptr;
}

const timeout_block* listener_timeout(const node_listener& l) {
    auto it = l.timeouts.find(to_string(l.port_mapping.proto));
    return it == l.timeouts.end() ? nullptr : &it->second;
}

/// Sort key of DECISIONS §3.2.
struct route_order {
    std::int64_t priority;  // unset = 1001
    int path_rank;          // exact 0, regex 1, prefix 2
    std::size_t prefix_len;
    std::size_t conditions;
    std::uint32_t index;
    bool operator<(const route_order& o) const {
        if (priority != o.priority) return priority < o.priority;
        if (path_rank != o.path_rank) return path_rank < o.path_rank;
        if (prefix_len != o.prefix_len) return prefix_len > o.prefix_len;
        if (conditions != o.conditions) return conditions > o.conditions;
        return index < o.index;
    }
};

route_order order_of(const compiled_route& r, std::uint32_t index) {
    route_order o{};
    o.priority = r.priority.value_or(1001);
    o.path_rank = r.path_type == compiled_route::path_kind::exact   ? 0
                  : r.path_type == compiled_route::path_kind::regex ? 1
                                                                     : 2;
    o.prefix_len = r.path_type == compiled_route::path_kind::prefix ? r.path_value.size() : 0;
    o.conditions = r.headers.size() + r.query.size() + (r.method ? 1 : 0) + (r.scheme ? 1 : 0);
    o.index = index;
    return o;
}

class compiler {
public:
    compiler(const mesh_input& in, const mesh_index& index, const resolve_result& which,
             const compile_options& opts)
        : in_(in), index_(index), which_(which), opts_(opts) {}

    std::shared_ptr<const snapshot> run() {
        auto snap = std::make_shared<snapshot>();
        snap_ = snap.get();
        const mesh& m = in_.meshes.at(*which_.mesh);
        snap->mesh_name = m.meta.name;
        mesh_aws_name_ = m.aws_name;
        snap->allow_all_egress = m.egress_filter == "ALLOW_ALL";
        for (const auto& p : opts_.egress_allow) {
            if (p != "none") {
                snap->egress_allow.push_back(lower(p));
            }
        }
        for (const auto& vs : in_.virtual_services) {
            if (in_mesh(vs.meta, m.meta.name)) {
                snap->all_service_names.push_back(vs.aws_name);
            }
        }
        if (which_.node) {
            self_ = &in_.virtual_nodes[*which_.node];
            snap->node_name = object_key(self_->meta.ns, self_->meta.name);
            snap->node_aws_name = self_->aws_name;
            compile_ingress();
            for (const auto& b : self_->backends) {
                if (const auto* vs = index_.service(b.virtual_service)) {
                    add_service(*vs, b.client_policy ? &*b.client_policy
                                     : self_->backend_defaults ? &*self_->backend_defaults
                                                               : nullptr);
                }
            }
            if (self_->logging) {
                access_log_config log;
                log.path = self_->logging->path;
                log.text_format = self_->logging->text_format;
                log.json_format = self_->logging->json_format;
                snap->access_log = std::move(log);
            }
        } else {
            for (const auto& vs : in_.virtual_services) {
                if (in_mesh(vs.meta, m.meta.name)) {
                    add_service(vs, nullptr);
                }
            }
        }
        snap->index_hosts();
        index_tcp_ports(*snap);
        return snap;
    }

    /// The outbound side of `gw` (compile_gateway_outbound).
    std::shared_ptr<snapshot> run_gateway(const virtual_gateway& gw,
                                          const std::vector<const virtual_service*>& targets) {
        auto snap = std::make_shared<snapshot>();
        snap_ = snap.get();
        const mesh& m = in_.meshes.at(*which_.mesh);
        snap->mesh_name = m.meta.name;
        mesh_aws_name_ = m.aws_name;
        snap->allow_all_egress = m.egress_filter == "ALLOW_ALL";
        for (const auto& p : opts_.egress_allow) {
            if (p != "none") {
                snap->egress_allow.push_back(lower(p));
            }
        }
        for (const auto& vs : in_.virtual_services) {
            if (in_mesh(vs.meta, m.meta.name)) {
                snap->all_service_names.push_back(vs.aws_name);
            }
        }
        snap->gateway_name = object_key(gw.meta.ns, gw.meta.name);
        const client_policy* policy = gw.backend_defaults ? &*gw.backend_defaults : nullptr;
        for (const virtual_service* vs : targets) {
            add_service(*vs, policy);
        }
        if (gw.logging) {
            access_log_config log;
            log.path = gw.logging->path;
            log.text_format = gw.logging->text_format;
            log.json_format = gw.logging->json_format;
            snap->access_log = std::move(log);
        }
        snap->index_hosts();
        return snap;
    }

private:
    void compile_ingress() {
        for (const auto& l : self_->listeners) {
            ingress_listener il;
            il.port = static_cast<std::uint16_t>(l.port_mapping.port);
            il.display = fmt::format("the local app on port {}", il.port);
            il.proto = l.port_mapping.proto;
            if (const auto* t = listener_timeout(l)) {
                if (t->per_request) {
                    il.per_request_timeout = t->per_request->to_ms();
                }
                if (t->idle) {
                    il.idle_timeout = t->idle->to_ms();
                }
            }
            il.tls = l.tls;
            il.pool = l.connection_pool;
            snap_->ingress.push_back(std::move(il));
        }
    }

    void add_service(const virtual_service& vs, const client_policy* policy) {
        const std::string key = canonical_host(vs.aws_name);
        if (!host_keys_.insert(key).second) {
            return;  // reported by resolve (duplicate awsName)
        }
        service_entry se;
        se.aws_name = vs.aws_name;
        se.key = key;
        se.name = object_key(vs.meta.ns, vs.meta.name);
        se.provider_name = object_key(vs.provider_ref.ns, vs.provider_ref.name);
        if (vs.provider == virtual_service::provider_t::router) {
            if (const auto* r = index_.router(vs.provider_ref)) {
                se.provider = service_entry::provider_t::router;
                add_router_ports(se, *r, policy);
            }
        } else if (vs.provider == virtual_service::provider_t::node) {
            if (const auto* n = index_.node(vs.provider_ref)) {
                se.provider = service_entry::provider_t::node;
                for (const auto& l : n->listeners) {
                    service_port sp;
                    sp.port = static_cast<std::uint16_t>(l.port_mapping.port);
                    sp.proto = l.port_mapping.proto;
                    sp.node_target = target_for(*n, l, policy);
                    sp.node_retry = default_retry(kind_of(sp.proto), opts_.default_retry);
                    if (const auto* t = listener_timeout(l); t && t->per_request) {
                        sp.node_timeout = t->per_request->to_ms();
                    }
                    if (const auto* t = listener_timeout(l); t && t->idle) {
                        sp.node_idle = t->idle->to_ms();
                    }
                    se.ports.push_back(std::move(sp));
                }
            }
        }
        snap_->services.push_back(std::move(se));
    }

    void add_router_ports(service_entry& se, const virtual_router& r, const client_policy* policy) {
        // Compile each route once per router (shared by all its ports).
        std::vector<std::uint32_t> ids;
        ids.reserve(r.routes.size());
        for (const auto& rt : r.routes) {
            ids.push_back(compile_route(r, rt, policy));
        }
        for (const auto& l : r.listeners) {
            service_port sp;
            sp.port = static_cast<std::uint16_t>(l.port);
            sp.proto = l.proto;
            std::vector<std::pair<route_order, std::uint32_t>> ordered;
            for (std::size_t i = 0; i < r.routes.size(); ++i) {
                const auto& rt = r.routes[i];
                if (r.listeners.size() > 1 && rt.match.port && *rt.match.port != l.port) {
                    continue;
                }
                if (kind_of(l.proto) != rt.kind) {
                    continue;  // validation reports the mismatch
                }
                ordered.emplace_back(order_of(snap_->routes[ids[i]], static_cast<std::uint32_t>(i)),
                                     ids[i]);
            }
            std::stable_sort(ordered.begin(), ordered.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
            for (const auto& [o, id] : ordered) {
                sp.route_ids.push_back(id);
            }
            se.ports.push_back(std::move(sp));
        }
    }

    std::uint32_t compile_route(const virtual_router& r, const route& rt, const client_policy* policy) {
        compiled_route c;
        c.name = rt.name;
        c.router_name = object_key(r.meta.ns, r.meta.name);
        c.kind = rt.kind;
        c.priority = rt.priority;
        const auto& m = rt.match;
        if (rt.kind == route_kind::grpc) {
            if (m.service_name && m.method_name) {
                c.path_type = compiled_route::path_kind::exact;
                c.path_value = "/" + *m.service_name + "/" + *m.method_name;
            } else if (m.service_name) {
                c.path_value = "/" + *m.service_name + "/";
            } else {
                c.path_value = "/";
            }
        } else if (rt.kind == route_kind::tcp) {
            c.path_value.clear();
        } else if (m.path_exact) {
            c.path_type = compiled_route::path_kind::exact;
            c.path_value = *m.path_exact;
        } else if (m.path_regex) {
            c.path_type = compiled_route::path_kind::regex;
            c.path_value = *m.path_regex;
            c.path_regex = regex_matcher(*m.path_regex);
        } else {
            c.path_value = m.prefix.value_or("/");
        }
        c.method = m.method;
        c.scheme = m.scheme;
        for (const auto& h : m.headers) {
            c.headers.push_back(compile_header_match(h));
        }
        for (const auto& q : m.query) {
            c.query.push_back(compiled_query_match{q.name, q.exact});
        }
        if (m.port) {
            c.port = static_cast<std::uint16_t>(*m.port);
        }
        for (const auto& t : rt.targets) {
            const auto* n = index_.node(t.node);
            if (n == nullptr || t.weight <= 0) {
                continue;  // weight 0 = never chosen; dangling refs reported by resolve
            }
            const node_listener* l = listener_for(*n, t.port);
            if (l == nullptr) {
                continue;  // reported by validate
            }
            c.target_ids.push_back(target_for(*n, *l, policy));
            c.weights.push_back(t.weight);
            c.total_weight += static_cast<std::uint64_t>(t.weight);
            c.cumulative.push_back(c.total_weight);
        }
        c.retry = rt.retry ? explicit_retry(*rt.retry) : default_retry(rt.kind, opts_.default_retry);
        if (rt.timeout.per_request) {
            c.per_request_timeout = rt.timeout.per_request->to_ms();
        }
        if (rt.timeout.idle) {
            c.idle_timeout = rt.timeout.idle->to_ms();
        }
        c.id = static_cast<std::uint32_t>(snap_->routes.size());
        snap_->routes.push_back(std::move(c));
        return snap_->routes.back().id;
    }

    /// spec §10.7 and DECISIONS §3.5.
    tls_origination tls_for(const virtual_node& n, const node_listener& l, const std::string& sni,
                            const client_policy* policy) const {
        tls_origination t;
        t.sni = sni;
        const auto port = l.port_mapping.port;
        if (policy && policy->tls && policy->tls->enforce &&
            (policy->tls->ports.empty() ||
             std::find(policy->tls->ports.begin(), policy->tls->ports.end(), port) !=
                 policy->tls->ports.end())) {
            const auto& p = *policy->tls;
            t.mode = tls_origination::mode_t::verify;
            t.trust_file = p.validation_trust.certificate_chain;
            t.sans = p.validation_sans;
            if (t.sans.empty()) {
                t.sans.push_back(n.service_discovery.kind == service_discovery::kind_t::cloud_map
                                     ? n.service_discovery.service_name + "." +
                                           n.service_discovery.namespace_name
                                     : n.service_discovery.hostname);
            }
            if (p.certificate && p.certificate->kind == tls_source::kind_t::file) {
                t.certificate_chain = p.certificate->certificate_chain;
                t.private_key = p.certificate->private_key;
            }
            t.source = "client policy";
            return t;
        }
        if (l.tls && (l.tls->mode == "STRICT" || l.tls->mode == "PERMISSIVE")) {
            t.mode = tls_origination::mode_t::no_verify;
            t.source = fmt::format("target listener tls.mode {} (no client policy applies: "
                                   "TLS without verification, as App Mesh)",
                                   l.tls->mode);
            return t;
        }
        t.source = "no client policy and no listener TLS";
        return t;
    }

    std::uint32_t target_for(const virtual_node& n, const node_listener& l, const client_policy* policy) {
        upstream_target t;
        t.node_name = object_key(n.meta.ns, n.meta.name);
        t.display = fmt::format("virtual node \"{}\"", t.node_name);
        t.node_aws_name = n.aws_name;
        t.port = static_cast<std::uint16_t>(l.port_mapping.port);
        t.proto = l.port_mapping.proto;
        const auto& sd = n.service_discovery;
        if (sd.kind == service_discovery::kind_t::dns) {
            t.endpoints.kind = endpoint_source::kind_t::dns;
            t.endpoints.hostname = sd.hostname;
            t.endpoints.all_addresses = sd.response_type == "ENDPOINTS";
        } else if (sd.kind == service_discovery::kind_t::cloud_map) {
            t.endpoints.kind = endpoint_source::kind_t::cloud_map;
            t.endpoints.hostname = sd.service_name + "." + sd.namespace_name;
            t.endpoints.all_addresses = true;
        }
        t.tls = tls_for(n, l, t.endpoints.hostname, policy);
        t.health = l.health_check;
        t.outlier = l.outlier_detection;
        t.cluster_name = fmt::format("cds_egress_{}_{}_{}_{}", mesh_aws_name_, n.aws_name,
                                     to_string(t.proto), t.port);
        // Deduplicate identical targets (same node, port and TLS).
        const std::string key = fmt::format("{}|{}|{}|{}|{}|{}|{}", t.node_name, t.port,
                                            static_cast<int>(t.tls.mode), t.tls.trust_file,
                                            fmt::join(t.tls.sans, ","), t.tls.certificate_chain,
                                            t.tls.private_key);
        auto [it, inserted] = target_keys_.emplace(key, static_cast<std::uint32_t>(snap_->targets.size()));
        if (inserted) {
            t.id = it->second;
            snap_->targets.push_back(std::move(t));
        }
        return it->second;
    }

    const mesh_input& in_;
    const mesh_index& index_;
    const resolve_result& which_;
    const compile_options& opts_;
    snapshot* snap_ = nullptr;
    const virtual_node* self_ = nullptr;
    std::string mesh_aws_name_;
    std::unordered_map<std::string, std::uint32_t> target_keys_;
    std::unordered_set<std::string> host_keys_;
};

}  // namespace

compiled_header_match compile_header_match(const header_match& h) {
    compiled_header_match ch;
    ch.name_lower = lower(h.name);
    ch.kind = h.match.kind;
    ch.value = h.match.value;
    ch.range_start = h.match.range_start;
    ch.range_end = h.match.range_end;
    if (ch.kind == string_match::kind_t::regex) {
        ch.regex = regex_matcher(h.match.value);
    }
    ch.invert = h.invert;
    return ch;
}

std::shared_ptr<snapshot> compile_gateway_outbound(
    const mesh_input& in, const mesh_index& index, std::size_t mesh, const virtual_gateway& gateway,
    const std::vector<const virtual_service*>& targets, const compile_options& opts) {
    resolve_result which;
    which.mesh = mesh;
    return compiler(in, index, which, opts).run_gateway(gateway, targets);
}

std::shared_ptr<const snapshot> compile(const mesh_input& in, const mesh_index& index,
                                        const resolve_result& which, const compile_options& opts) {
    if (!which.mesh) {
        return nullptr;
    }
    return compiler(in, index, which, opts).run();
}

std::shared_ptr<const snapshot> load_and_compile(const load_options& opts, mesh_input& in,
                                                 diagnostics& diags) {
    load_paths(opts.paths, in, diags);
    resolve_options ro;
    ro.node = opts.node;
    const resolve_result which = resolve(in, ro, diags);
    const mesh_index index(in);
    validate_options vo;
    vo.node = which.node;
    validate(in, index, vo, diags);
    if (!which.mesh && !diags.has_errors()) {
        diags.error_at(source_loc{no_file, 0, 0},
                       fmt::format("the input defines {} meshes: pick one with --node",
                                   in.meshes.size()));
    }
    diags.sort_and_dedupe(in.files);
    if (diags.has_errors()) {
        return nullptr;
    }
    return compile(in, index, which, opts.compile);
}

}  // namespace outrigger::routing
