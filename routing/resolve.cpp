#include "routing/resolve.hpp"

#include "routing/snapshot.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace outrigger::routing {

std::string object_key(const std::string& ns, const std::string& name) {
    std::string k;
    k.reserve(ns.size() + name.size() + 1);
    k.append(ns).append(1, '/').append(name);
    return k;
}

namespace {

template <typename T, typename Map>
const T* lookup(const Map& m, const std::string& ns, const std::string& name) {
    auto it = m.find(object_key(ns, name));
    return it == m.end() ? nullptr : it->second;
}

std::string where_text(const mesh_input& in, source_loc loc) {
    const std::string& file = loc.file < in.files.size() ? in.files[loc.file] : std::string("?");
    return fmt::format("{}:{}:{}", file, loc.line, loc.col);
}

/// `arn:aws:appmesh:<region>:<account>:mesh/<mesh>/<kind>/<awsName>` → {mesh, kind, awsName}.
struct arn_parts {
    std::string mesh;
    std::string kind;
    std::string aws_name;
};

std::optional<arn_parts> parse_resource_path(std::string_view s) {
    // "mesh/<mesh>/<kind>/<name>" (App Mesh's APPMESH_VIRTUAL_NODE_NAME form) or a full ARN.
    if (s.starts_with("arn:")) {
        auto pos = s.find(":mesh/");
        if (pos == std::string_view::npos) {
            return std::nullopt;
        }
        s.remove_prefix(pos + 1);
    }
    if (!s.starts_with("mesh/")) {
        return std::nullopt;
    }
    s.remove_prefix(5);
    auto a = s.find('/');
    if (a == std::string_view::npos) {
        return std::nullopt;
    }
    auto b = s.find('/', a + 1);
    if (b == std::string_view::npos) {
        return std::nullopt;
    }
    arn_parts p;
    p.mesh = std::string(s.substr(0, a));
    p.kind = std::string(s.substr(a + 1, b - a - 1));
    p.aws_name = std::string(s.substr(b + 1));
    if (p.mesh.empty() || p.kind.empty() || p.aws_name.empty()) {
        return std::nullopt;
    }
    return p;
}

template <typename T>
void default_meta(T& obj, const char* default_ns) {
    if (obj.meta.ns.empty() && default_ns != nullptr) {
        obj.meta.ns = default_ns;
    }
}

void default_ref(object_ref& r, const std::string& ns) {
    if (r.ns.empty()) {
        r.ns = ns;
    }
}

/// Resolves an ARN reference to the object of `kind` whose awsName matches.
template <typename T>
void resolve_arn(object_ref& r, const std::vector<T>& objects, const char* arn_kind,
                 const object_meta& owner, const std::string& field, diagnostics& diags) {
    if (r.arn.empty()) {
        return;
    }
    auto parts = parse_resource_path(r.arn);
    if (!parts || parts->kind != arn_kind) {
        diags.error(owner, field,
                    fmt::format("\"{}\" is not an App Mesh {} ARN "
                                "(arn:aws:appmesh:REGION:ACCOUNT:mesh/MESH/{}/NAME)",
                                r.arn, arn_kind, arn_kind));
        return;
    }
    for (const auto& o : objects) {
        if (o.aws_name == parts->aws_name) {
            r.name = o.meta.name;
            r.ns = o.meta.ns;
            return;
        }
    }
    diags.error(owner, field,
                fmt::format("ARN names {} \"{}\", which is not among the loaded manifests; "
                            "add its manifest or use a {}Ref",
                            arn_kind, parts->aws_name, arn_kind));
}

template <typename T>
void check_duplicates(const std::vector<T>& objects, const mesh_input& in, diagnostics& diags) {
    std::unordered_map<std::string, const T*> seen;
    for (const auto& o : objects) {
        auto [it, inserted] = seen.emplace(object_key(o.meta.ns, o.meta.name), &o);
        if (!inserted) {
            diags.error(o.meta, "metadata.name",
                        fmt::format("{} \"{}\" is defined twice: also at {}", o.meta.kind,
                                    o.meta.name, where_text(in, it->second->meta.loc)));
        }
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// mesh_index
// ---------------------------------------------------------------------------------------------

mesh_index::mesh_index(const mesh_input& in) : in_(in) {
    auto fill = [](auto& map, const auto& objects) {
        map.reserve(objects.size());
        for (const auto& o : objects) {
            map.emplace(object_key(o.meta.ns, o.meta.name), &o);  // first definition wins
        }
    };
    fill(nodes_, in.virtual_nodes);
    fill(services_, in.virtual_services);
    fill(routers_, in.virtual_routers);
    fill(gateways_, in.virtual_gateways);
    fill(groups_, in.backend_groups);
}

const virtual_node* mesh_index::node(const object_ref& r) const {
    return lookup<virtual_node>(nodes_, r.ns, r.name);
}
const virtual_service* mesh_index::service(const object_ref& r) const {
    return lookup<virtual_service>(services_, r.ns, r.name);
}
const virtual_router* mesh_index::router(const object_ref& r) const {
    return lookup<virtual_router>(routers_, r.ns, r.name);
}
const virtual_gateway* mesh_index::gateway(const object_ref& r) const {
    return lookup<virtual_gateway>(gateways_, r.ns, r.name);
}
const backend_group* mesh_index::group(const object_ref& r) const {
    return lookup<backend_group>(groups_, r.ns, r.name);
}
const virtual_node* mesh_index::node(const std::string& ns, const std::string& name) const {
    return lookup<virtual_node>(nodes_, ns, name);
}
const virtual_service* mesh_index::service(const std::string& ns, const std::string& name) const {
    return lookup<virtual_service>(services_, ns, name);
}
const virtual_router* mesh_index::router(const std::string& ns, const std::string& name) const {
    return lookup<virtual_router>(routers_, ns, name);
}

// ---------------------------------------------------------------------------------------------
// node selection
// ---------------------------------------------------------------------------------------------

std::optional<std::size_t> find_node(const mesh_input& in, const std::string& spec,
                                     std::string& error) {
    std::vector<std::size_t> hits;
    if (auto parts = parse_resource_path(spec)) {
        if (parts->kind != "virtualNode") {
            error = fmt::format("\"{}\" does not name a virtualNode", spec);
            return std::nullopt;
        }
        for (std::size_t i = 0; i < in.virtual_nodes.size(); ++i) {
            const auto& n = in.virtual_nodes[i];
            const bool mesh_ok = !n.meta.mesh_ref || *n.meta.mesh_ref == parts->mesh;
            if (mesh_ok && (n.aws_name == parts->aws_name || n.meta.name == parts->aws_name)) {
                hits.push_back(i);
            }
        }
    } else if (auto slash = spec.find('/'); slash != std::string::npos) {
        const std::string ns = spec.substr(0, slash);
        const std::string name = spec.substr(slash + 1);
        for (std::size_t i = 0; i < in.virtual_nodes.size(); ++i) {
            const auto& n = in.virtual_nodes[i];
            if (n.meta.ns == ns && n.meta.name == name) {
                hits.push_back(i);
            }
        }
    } else {
        for (std::size_t i = 0; i < in.virtual_nodes.size(); ++i) {
            const auto& n = in.virtual_nodes[i];
            if (n.meta.name == spec || n.aws_name == spec) {
                hits.push_back(i);
            }
        }
    }
    if (hits.size() == 1) {
        return hits.front();
    }
    if (hits.empty()) {
        std::vector<std::string> names;
        names.reserve(in.virtual_nodes.size());
        for (const auto& n : in.virtual_nodes) {
            names.push_back(n.meta.name);
        }
        const std::string near = closest(spec, names);
        error = fmt::format("no VirtualNode \"{}\" in the input{}", spec,
                            near.empty() ? std::string{} : fmt::format(" (did you mean \"{}\"?)", near));
        return std::nullopt;
    }
    std::string list;
    for (auto i : hits) {
        const auto& n = in.virtual_nodes[i];
        list += (list.empty() ? "" : ", ") + object_key(n.meta.ns, n.meta.name);
    }
    error = fmt::format("VirtualNode \"{}\" is ambiguous ({}): use NAMESPACE/NAME", spec, list);
    return std::nullopt;
}

bool names_virtual_gateway(const std::string& spec) {
    const auto parts = parse_resource_path(spec);
    return parts && parts->kind == "virtualGateway";
}

std::optional<std::size_t> find_gateway(const mesh_input& in, const std::string& spec,
                                        std::string& error) {
    std::vector<std::size_t> hits;
    const auto& gws = in.virtual_gateways;
    if (auto parts = parse_resource_path(spec)) {
        if (parts->kind != "virtualGateway") {
            error = fmt::format("\"{}\" does not name a virtualGateway", spec);
            return std::nullopt;
        }
        for (std::size_t i = 0; i < gws.size(); ++i) {
            const auto& g = gws[i];
            const bool mesh_ok = !g.meta.mesh_ref || *g.meta.mesh_ref == parts->mesh;
            if (mesh_ok && (g.aws_name == parts->aws_name || g.meta.name == parts->aws_name)) {
                hits.push_back(i);
            }
        }
    } else if (auto slash = spec.find('/'); slash != std::string::npos) {
        const std::string ns = spec.substr(0, slash);
        const std::string name = spec.substr(slash + 1);
        for (std::size_t i = 0; i < gws.size(); ++i) {
            if (gws[i].meta.ns == ns && gws[i].meta.name == name) {
                hits.push_back(i);
            }
        }
    } else {
        for (std::size_t i = 0; i < gws.size(); ++i) {
            if (gws[i].meta.name == spec || gws[i].aws_name == spec) {
                hits.push_back(i);
            }
        }
    }
    if (hits.size() == 1) {
        return hits.front();
    }
    std::vector<std::string> keys;
    std::vector<std::string> names;
    for (const auto& g : gws) {
        keys.push_back(object_key(g.meta.ns, g.meta.name));
        names.push_back(g.meta.name);
    }
    if (hits.empty()) {
        if (gws.empty()) {
            error = fmt::format("no VirtualGateway \"{}\": the input defines no VirtualGateway",
                                spec);
            return std::nullopt;
        }
        const std::string near = closest(spec, names);
        error = fmt::format("no VirtualGateway \"{}\"{}; the input has: {}", spec,
                            near.empty() ? std::string{}
                                         : fmt::format(" (did you mean \"{}\"?)", near),
                            fmt::join(keys, ", "));
        return std::nullopt;
    }
    std::vector<std::string> list;
    for (auto i : hits) {
        list.push_back(object_key(gws[i].meta.ns, gws[i].meta.name));
    }
    error = fmt::format("VirtualGateway \"{}\" is ambiguous ({}): use NAMESPACE/NAME", spec,
                        fmt::join(list, ", "));
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// resolve
// ---------------------------------------------------------------------------------------------

namespace {

void apply_defaults(mesh_input& in) {
    for (auto& m : in.meshes) {
        if (m.aws_name.empty()) {
            m.aws_name = m.meta.name;
        }
    }
    for (auto& vs : in.virtual_services) {
        default_meta(vs, "default");
        if (vs.aws_name.empty()) {
            vs.aws_name = vs.meta.name + "." + vs.meta.ns;
        }
        default_ref(vs.provider_ref, vs.meta.ns);
    }
    auto underscore = [](auto& o) {
        default_meta(o, "default");
        if (o.aws_name.empty()) {
            o.aws_name = o.meta.name + "_" + o.meta.ns;
        }
    };
    for (auto& r : in.virtual_routers) {
        underscore(r);
        for (auto& rt : r.routes) {
            for (auto& t : rt.targets) {
                default_ref(t.node, r.meta.ns);
            }
        }
    }
    for (auto& n : in.virtual_nodes) {
        underscore(n);
        for (auto& b : n.backends) {
            default_ref(b.virtual_service, n.meta.ns);
        }
        for (auto& g : n.backend_groups) {
            default_ref(g, n.meta.ns);
        }
    }
    for (auto& g : in.virtual_gateways) {
        underscore(g);
    }
    for (auto& gr : in.gateway_routes) {
        underscore(gr);
        default_ref(gr.target_service, gr.meta.ns);
        if (gr.virtual_gateway_ref) {
            default_ref(*gr.virtual_gateway_ref, gr.meta.ns);
        }
    }
    for (auto& bg : in.backend_groups) {
        default_meta(bg, "default");
        for (auto& r : bg.virtual_services) {
            default_ref(r, bg.meta.ns);
        }
    }
}

void resolve_arns(mesh_input& in, diagnostics& diags) {
    for (auto& vs : in.virtual_services) {
        if (vs.provider == virtual_service::provider_t::node) {
            resolve_arn(vs.provider_ref, in.virtual_nodes, "virtualNode", vs.meta,
                        "spec.provider.virtualNode.virtualNodeARN", diags);
        } else if (vs.provider == virtual_service::provider_t::router) {
            resolve_arn(vs.provider_ref, in.virtual_routers, "virtualRouter", vs.meta,
                        "spec.provider.virtualRouter.virtualRouterARN", diags);
        }
    }
    for (auto& r : in.virtual_routers) {
        for (std::size_t i = 0; i < r.routes.size(); ++i) {
            auto& rt = r.routes[i];
            for (std::size_t j = 0; j < rt.targets.size(); ++j) {
                resolve_arn(rt.targets[j].node, in.virtual_nodes, "virtualNode", r.meta,
                            fmt::format("spec.routes[{}].{}Route.action.weightedTargets[{}]."
                                        "virtualNodeARN",
                                        i, to_string(rt.kind), j),
                            diags);
            }
        }
    }
    for (auto& n : in.virtual_nodes) {
        for (std::size_t i = 0; i < n.backends.size(); ++i) {
            resolve_arn(n.backends[i].virtual_service, in.virtual_services, "virtualService", n.meta,
                        fmt::format("spec.backends[{}].virtualService.virtualServiceARN", i), diags);
        }
    }
    for (auto& gr : in.gateway_routes) {
        resolve_arn(gr.target_service, in.virtual_services, "virtualService", gr.meta,
                    fmt::format("spec.{}Route.action.target.virtualService.virtualServiceARN",
                                to_string(gr.kind)),
                    diags);
    }
}

const namespace_doc* find_namespace(const mesh_input& in, const std::string& ns) {
    for (const auto& d : in.namespaces) {
        if (d.name == ns) {
            return &d;
        }
    }
    return nullptr;
}

/// Assigns every namespaced object to a mesh (object_meta::mesh_ref = mesh name).
void assign_meshes(mesh_input& in, diagnostics& diags) {
    if (in.meshes.empty()) {
        mesh m;
        m.meta.kind = "Mesh";
        m.meta.name = "default";
        m.aws_name = "default";
        m.implicit = true;
        // Take the name from the objects' meshRef when they agree on one.
        for (const auto& vs : in.virtual_services) {
            if (vs.meta.mesh_ref) {
                m.meta.name = m.aws_name = *vs.meta.mesh_ref;
                break;
            }
        }
        in.meshes.push_back(std::move(m));
        source_loc loc{0, 1, 1};
        // No App Mesh object at all is the loader's error ("no App Mesh object found"), not this.
        const bool nothing = in.virtual_services.empty() && in.virtual_routers.empty() &&
                             in.virtual_nodes.empty() && in.virtual_gateways.empty() &&
                             in.gateway_routes.empty() && in.backend_groups.empty();
        if (!nothing) {
            diags.warning_at(loc, fmt::format("the input holds no Mesh: using an implicit mesh "
                                              "\"{}\" with App Mesh defaults (egressFilter "
                                              "DROP_ALL)",
                                              in.meshes.back().meta.name));
        }
    }
    // One mesh (possibly defined twice, which is reported as a duplicate) owns everything.
    const bool single = std::all_of(in.meshes.begin(), in.meshes.end(), [&](const mesh& m) {
        return m.meta.name == in.meshes.front().meta.name;
    });
    auto assign = [&](object_meta& meta) {
        if (single) {
            if (meta.mesh_ref && *meta.mesh_ref != in.meshes[0].meta.name && !in.meshes[0].implicit) {
                diags.error(meta, "spec.meshRef",
                            fmt::format("meshRef names mesh \"{}\", but the input defines only "
                                        "mesh \"{}\"",
                                        *meta.mesh_ref, in.meshes[0].meta.name));
            }
            meta.mesh_ref = in.meshes[0].meta.name;
            return;
        }
        if (meta.mesh_ref) {
            for (const auto& m : in.meshes) {
                if (m.meta.name == *meta.mesh_ref) {
                    return;
                }
            }
            diags.error(meta, "spec.meshRef",
                        fmt::format("meshRef names mesh \"{}\", which is not in the input",
                                    *meta.mesh_ref));
            return;
        }
        const namespace_doc* nsd = find_namespace(in, meta.ns);
        static const std::map<std::string, std::string> no_labels;
        const auto& labels = nsd != nullptr ? nsd->labels : no_labels;
        std::vector<const mesh*> hits;
        for (const auto& m : in.meshes) {
            // A Mesh defined twice is reported once as a duplicate, and counts once here.
            const bool seen = std::any_of(hits.begin(), hits.end(), [&](const mesh* h) {
                return h->meta.name == m.meta.name;
            });
            if (!seen && m.namespace_selector && m.namespace_selector->matches(labels)) {
                hits.push_back(&m);
            }
        }
        if (hits.size() == 1) {
            meta.mesh_ref = hits.front()->meta.name;
        } else if (hits.empty()) {
            diags.error(meta, "metadata.namespace",
                        fmt::format("namespace \"{}\" is selected by no Mesh's namespaceSelector{}",
                                    meta.ns,
                                    nsd == nullptr ? " (and no Namespace document gives its labels)"
                                                   : ""));
        } else {
            diags.error(meta, "metadata.namespace",
                        fmt::format("namespace \"{}\" is selected by {} meshes (\"{}\" and \"{}\"); "
                                    "each namespace must belong to exactly one Mesh",
                                    meta.ns, hits.size(), hits[0]->meta.name, hits[1]->meta.name));
        }
    };
    for (auto& o : in.virtual_services) assign(o.meta);
    for (auto& o : in.virtual_routers) assign(o.meta);
    for (auto& o : in.virtual_nodes) assign(o.meta);
    for (auto& o : in.virtual_gateways) assign(o.meta);
    for (auto& o : in.gateway_routes) assign(o.meta);
    for (auto& o : in.backend_groups) assign(o.meta);
}

void expand_backend_groups(mesh_input& in, const mesh_index& index, diagnostics& diags) {
    for (auto& n : in.virtual_nodes) {
        std::set<std::string> have;
        for (const auto& b : n.backends) {
            have.insert(object_key(b.virtual_service.ns, b.virtual_service.name));
        }
        auto add = [&](const virtual_service& vs) {
            if (vs.meta.mesh_ref != n.meta.mesh_ref) {
                return;
            }
            if (have.insert(object_key(vs.meta.ns, vs.meta.name)).second) {
                backend b;
                b.virtual_service.name = vs.meta.name;
                b.virtual_service.ns = vs.meta.ns;
                b.virtual_service.ns_given = true;
                n.backends.push_back(std::move(b));
            }
        };
        for (std::size_t i = 0; i < n.backend_groups.size(); ++i) {
            const auto& g = n.backend_groups[i];
            if (g.name == "*") {
                for (const auto& vs : in.virtual_services) {
                    if (vs.meta.ns == g.ns) {
                        add(vs);
                    }
                }
                continue;
            }
            const backend_group* bg = index.group(g);
            if (bg == nullptr) {
                diags.error(n.meta, fmt::format("spec.backendGroups[{}].name", i),
                            fmt::format("BackendGroup \"{}\" is not in the input", object_key(g.ns, g.name)));
                continue;
            }
            for (const auto& ref : bg->virtual_services) {
                if (const virtual_service* vs = index.service(ref)) {
                    add(*vs);
                }
            }
        }
    }
}

template <typename T>
std::vector<std::string> names_in_ns(const std::vector<T>& objects) {
    std::vector<std::string> names;
    names.reserve(objects.size());
    for (const auto& o : objects) {
        names.push_back(o.meta.name);
    }
    return names;
}

std::string missing(const char* kind, const object_ref& r, const std::vector<std::string>& names) {
    const std::string near = closest(r.name, names);
    return fmt::format("{} \"{}\" is not in the input{}", kind, object_key(r.ns, r.name),
                       near.empty() ? std::string{} : fmt::format(" (did you mean \"{}\"?)", near));
}

void check_references(const mesh_input& in, const mesh_index& index, diagnostics& diags) {
    const auto node_names = names_in_ns(in.virtual_nodes);
    const auto service_names = names_in_ns(in.virtual_services);
    const auto router_names = names_in_ns(in.virtual_routers);
    auto same_mesh = [&](const object_meta& a, const object_meta& b, const std::string& field) {
        if (a.mesh_ref && b.mesh_ref && *a.mesh_ref != *b.mesh_ref) {
            diags.error(a, field,
                        fmt::format("references {} \"{}\" of mesh \"{}\", but this object belongs "
                                    "to mesh \"{}\"",
                                    b.kind, object_key(b.ns, b.name), *b.mesh_ref, *a.mesh_ref));
        }
    };
    for (const auto& vs : in.virtual_services) {
        if (vs.provider == virtual_service::provider_t::node && vs.provider_ref.arn.empty()) {
            const std::string f = "spec.provider.virtualNode.virtualNodeRef.name";
            if (const auto* n = index.node(vs.provider_ref)) {
                same_mesh(vs.meta, n->meta, f);
            } else {
                diags.error(vs.meta, f, missing("VirtualNode", vs.provider_ref, node_names));
            }
        } else if (vs.provider == virtual_service::provider_t::router && vs.provider_ref.arn.empty()) {
            const std::string f = "spec.provider.virtualRouter.virtualRouterRef.name";
            if (const auto* r = index.router(vs.provider_ref)) {
                same_mesh(vs.meta, r->meta, f);
            } else {
                diags.error(vs.meta, f, missing("VirtualRouter", vs.provider_ref, router_names));
            }
        }
    }
    for (const auto& r : in.virtual_routers) {
        for (std::size_t i = 0; i < r.routes.size(); ++i) {
            const auto& rt = r.routes[i];
            for (std::size_t j = 0; j < rt.targets.size(); ++j) {
                const auto& t = rt.targets[j];
                if (!t.node.arn.empty()) {
                    continue;
                }
                const std::string f = fmt::format(
                    "spec.routes[{}].{}Route.action.weightedTargets[{}].virtualNodeRef.name", i,
                    to_string(rt.kind), j);
                if (const auto* n = index.node(t.node)) {
                    same_mesh(r.meta, n->meta, f);
                } else {
                    diags.error(r.meta, f, missing("VirtualNode", t.node, node_names));
                }
            }
        }
    }
    for (const auto& n : in.virtual_nodes) {
        std::set<std::string> seen;
        for (std::size_t i = 0; i < n.backends.size(); ++i) {
            const auto& ref = n.backends[i].virtual_service;
            if (!ref.arn.empty()) {
                continue;
            }
            const std::string f =
                fmt::format("spec.backends[{}].virtualService.virtualServiceRef.name", i);
            if (const auto* vs = index.service(ref)) {
                same_mesh(n.meta, vs->meta, f);
            } else {
                diags.error(n.meta, f, missing("VirtualService", ref, service_names));
            }
        }
    }
    for (const auto& gr : in.gateway_routes) {
        const auto& ref = gr.target_service;
        if (!ref.arn.empty() || ref.name.empty()) {
            continue;
        }
        const std::string f = fmt::format(
            "spec.{}Route.action.target.virtualService.virtualServiceRef.name", to_string(gr.kind));
        if (const auto* vs = index.service(ref)) {
            same_mesh(gr.meta, vs->meta, f);
        } else {
            diags.error(gr.meta, f, missing("VirtualService", ref, service_names));
        }
    }
    for (const auto& bg : in.backend_groups) {
        for (std::size_t i = 0; i < bg.virtual_services.size(); ++i) {
            const auto& ref = bg.virtual_services[i];
            if (index.service(ref) == nullptr) {
                diags.error(bg.meta, fmt::format("spec.virtualservices[{}].name", i),
                            missing("VirtualService", ref, service_names));
            }
        }
    }
}

/// Two virtual services of one mesh with the same awsName cannot be told apart by Host.
void check_aws_names(const mesh_input& in, diagnostics& diags) {
    std::unordered_map<std::string, const virtual_service*> seen;
    std::set<std::string> objects;
    for (const auto& vs : in.virtual_services) {
        if (!objects.insert(object_key(vs.meta.ns, vs.meta.name)).second) {
            continue;  // a duplicate definition, already reported
        }
        std::string key = vs.meta.mesh_ref.value_or("") + "|" + canonical_host(vs.aws_name);
        auto [it, inserted] = seen.emplace(std::move(key), &vs);
        if (!inserted) {
            diags.error(vs.meta, "spec.awsName",
                        fmt::format("awsName \"{}\" is also the name of VirtualService \"{}\" ({}); "
                                    "a Host can select only one",
                                    vs.aws_name, object_key(it->second->meta.ns, it->second->meta.name),
                                    where_text(in, it->second->meta.loc)));
        }
    }
}

}  // namespace

resolve_result resolve(mesh_input& in, const resolve_options& opts, diagnostics& diags) {
    resolve_result result;
    apply_defaults(in);
    check_duplicates(in.meshes, in, diags);
    check_duplicates(in.virtual_services, in, diags);
    check_duplicates(in.virtual_routers, in, diags);
    check_duplicates(in.virtual_nodes, in, diags);
    check_duplicates(in.virtual_gateways, in, diags);
    check_duplicates(in.gateway_routes, in, diags);
    check_duplicates(in.backend_groups, in, diags);
    resolve_arns(in, diags);
    assign_meshes(in, diags);
    {
        const mesh_index index(in);
        expand_backend_groups(in, index, diags);
    }
    {
        const mesh_index index(in);
        check_references(in, index, diags);
    }
    check_aws_names(in, diags);

    if (!opts.node.empty()) {
        std::string error;
        result.node = find_node(in, opts.node, error);
        if (!result.node) {
            diags.error_at(source_loc{no_file, 0, 0}, "--node: " + error);
        }
    }
    if (!opts.gateway.empty()) {
        std::string error;
        result.gateway = find_gateway(in, opts.gateway, error);
        if (!result.gateway) {
            diags.error_at(source_loc{no_file, 0, 0}, "--gateway: " + error);
        }
    }
    const object_meta* self = result.node      ? &in.virtual_nodes[*result.node].meta
                              : result.gateway ? &in.virtual_gateways[*result.gateway].meta
                                               : nullptr;
    if (self != nullptr) {
        for (std::size_t i = 0; i < in.meshes.size(); ++i) {
            if (self->mesh_ref && in.meshes[i].meta.name == *self->mesh_ref) {
                result.mesh = i;
            }
        }
    } else if (!in.meshes.empty() && std::all_of(in.meshes.begin(), in.meshes.end(), [&](const mesh& m) {
                   return m.meta.name == in.meshes.front().meta.name;
               })) {
        result.mesh = 0;
    }
    return result;
}

}  // namespace outrigger::routing
